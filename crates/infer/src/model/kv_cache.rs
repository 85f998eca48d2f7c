//! Keys and values of past slots, preallocated per layer so that each step writes in place.

use candle_core::{DType, Device, Tensor};

use crate::error::{InferError, Result};

/// One layer's cache: `(b, kv_heads, capacity, head_dim)` buffers and how many slots are filled.
#[derive(Debug)]
pub(crate) struct LayerCache {
    k: Tensor,
    v: Tensor,
    len: usize,
}

impl LayerCache {
    /// Writes `k`, `v` of shape `(b, kv_heads, t, head_dim)` after the filled slots and returns
    /// views of everything filled so far.
    pub(crate) fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let t = k.dim(2)?;
        let capacity = self.k.dim(2)?;
        if self.len + t > capacity {
            return Err(InferError::Invalid(format!(
                "key/value cache holds {capacity} slots, {} more do not fit after {}",
                t, self.len
            )));
        }
        self.k.slice_set(&k.contiguous()?, 2, self.len)?;
        self.v.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len += t;
        Ok((
            self.k.narrow(2, 0, self.len)?,
            self.v.narrow(2, 0, self.len)?,
        ))
    }
}

/// The caches of all layers of one batch.
#[derive(Debug)]
pub(crate) struct KvCache {
    pub(crate) layers: Vec<LayerCache>,
}

impl KvCache {
    /// Empty caches for `layers` layers of `b` rows and `capacity` slots.
    pub(crate) fn new(
        layers: usize,
        b: usize,
        kv_heads: usize,
        capacity: usize,
        head_dim: usize,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let layers = (0..layers)
            .map(|_| {
                Ok(LayerCache {
                    k: Tensor::zeros((b, kv_heads, capacity, head_dim), dtype, device)?,
                    v: Tensor::zeros((b, kv_heads, capacity, head_dim), dtype, device)?,
                    len: 0,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    /// Views of the filled slots of every layer, `(b, kv_heads, len, head_dim)`.
    pub(crate) fn filled(&self) -> Result<Vec<(Tensor, Tensor)>> {
        self.layers
            .iter()
            .map(|l| Ok((l.k.narrow(2, 0, l.len)?, l.v.narrow(2, 0, l.len)?)))
            .collect()
    }

    /// Filled slots.
    pub(crate) fn len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.len)
    }

    /// Writes one row's keys and values, `(1, kv_heads, t, head_dim)` per layer, into row `row`
    /// at slots `start..start + t`. Used to place separately prefilled prompts into a batch.
    pub(crate) fn place_row(
        &mut self,
        row: usize,
        start: usize,
        rows: &[(Tensor, Tensor)],
    ) -> Result<()> {
        for (layer, (k, v)) in self.layers.iter_mut().zip(rows) {
            for (dst, src) in [(&layer.k, k), (&layer.v, v)] {
                let t = src.dim(2)?;
                let target = dst.narrow(0, row, 1)?;
                // `slice_set` needs a contiguous destination: write the row's slot block of
                // each head through a (1, heads * capacity, head_dim) view of it.
                let (_, heads, capacity, d) = target.dims4()?;
                let flat = dst.reshape((dst.dim(0)? * heads * capacity, d))?;
                for h in 0..heads {
                    let block = src.narrow(1, h, 1)?.reshape((t, d))?;
                    flat.slice_set(&block, 0, (row * heads + h) * capacity + start)?;
                }
            }
        }
        Ok(())
    }

    /// Marks `len` slots as filled (after [`Self::place_row`] wrote them all).
    pub(crate) fn set_len(&mut self, len: usize) {
        for layer in &mut self.layers {
            layer.len = len;
        }
    }

    /// Keeps only `rows`, in that order (drops finished sequences from the batch).
    pub(crate) fn keep_rows(&mut self, rows: &Tensor) -> Result<()> {
        for layer in &mut self.layers {
            layer.k = layer.k.index_select(rows, 0)?;
            layer.v = layer.v.index_select(rows, 0)?;
        }
        Ok(())
    }
}
