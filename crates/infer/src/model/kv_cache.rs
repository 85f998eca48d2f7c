//! Keys and values of past slots, preallocated per layer so that each step writes in place.

use candle_core::{DType, Device, Tensor};

use crate::error::{InferError, Result};

/// Where one layer's `(rows, kv_heads, capacity, head_dim)` keys and values live.
#[derive(Debug)]
enum Store {
    /// Tensors on the model's device, for the devices and dtypes the host kernel does not serve.
    Tensors { k: Tensor, v: Tensor },
    /// Plain f32 buffers on the CPU, which [`super::host_attention`] reads and writes in place.
    Host { k: Vec<f32>, v: Vec<f32> },
}

/// One layer's cache and how many slots are filled.
#[derive(Debug)]
pub(crate) struct LayerCache {
    store: Store,
    len: usize,
}

/// One layer's host buffers as the attention kernel sees them.
pub(crate) struct HostLayer<'a> {
    pub(crate) k: &'a mut [f32],
    pub(crate) v: &'a mut [f32],
    /// The buffer row of each batch row.
    pub(crate) rows: &'a [usize],
    pub(crate) capacity: usize,
    pub(crate) len: &'a mut usize,
}

/// One layer of a [`KvCache`], with the batch rows it serves.
pub(crate) struct LayerSlot<'a> {
    layer: &'a mut LayerCache,
    rows: &'a [usize],
    capacity: usize,
}

impl<'a> LayerSlot<'a> {
    /// The host buffers, when the cache keeps them on the CPU in f32.
    pub(crate) fn host(self) -> std::result::Result<HostLayer<'a>, Self> {
        match &mut self.layer.store {
            Store::Host { .. } => {}
            Store::Tensors { .. } => return Err(self),
        }
        let LayerCache { store, len } = self.layer;
        let Store::Host { k, v } = store else {
            unreachable!("matched above")
        };
        Ok(HostLayer {
            k,
            v,
            rows: self.rows,
            capacity: self.capacity,
            len,
        })
    }

    /// Writes `k`, `v` of shape `(b, kv_heads, t, head_dim)` after the filled slots and returns
    /// views of everything filled so far (tensor caches only).
    pub(crate) fn append(self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let layer = self.layer;
        let Store::Tensors { k: ck, v: cv } = &layer.store else {
            return Err(InferError::Invalid(
                "a host key/value cache has no tensor view".into(),
            ));
        };
        let t = k.dim(2)?;
        if layer.len + t > self.capacity {
            return Err(InferError::Invalid(format!(
                "key/value cache holds {} slots, {t} more do not fit after {}",
                self.capacity, layer.len
            )));
        }
        ck.slice_set(&k.contiguous()?, 2, layer.len)?;
        cv.slice_set(&v.contiguous()?, 2, layer.len)?;
        layer.len += t;
        Ok((ck.narrow(2, 0, layer.len)?, cv.narrow(2, 0, layer.len)?))
    }
}

/// The caches of all layers of one batch.
#[derive(Debug)]
pub(crate) struct KvCache {
    layers: Vec<LayerCache>,
    /// The buffer row of each batch row: rows that finish leave this map, not the buffers, so
    /// a host cache never copies itself to shrink the batch.
    rows: Vec<usize>,
    /// Rows the buffers hold.
    buffer_rows: usize,
    kv_heads: usize,
    capacity: usize,
    head_dim: usize,
}

impl KvCache {
    /// Empty caches for `layers` layers of `b` rows and `capacity` slots; host buffers for f32
    /// on the CPU.
    pub(crate) fn new(
        layers: usize,
        b: usize,
        kv_heads: usize,
        capacity: usize,
        head_dim: usize,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let host = device.is_cpu() && dtype == DType::F32;
        let layers = (0..layers)
            .map(|_| {
                let store = if host {
                    let n = b * kv_heads * capacity * head_dim;
                    Store::Host {
                        k: vec![0.0; n],
                        v: vec![0.0; n],
                    }
                } else {
                    let shape = (b, kv_heads, capacity, head_dim);
                    Store::Tensors {
                        k: Tensor::zeros(shape, dtype, device)?,
                        v: Tensor::zeros(shape, dtype, device)?,
                    }
                };
                Ok(LayerCache { store, len: 0 })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            rows: (0..b).collect(),
            buffer_rows: b,
            kv_heads,
            capacity,
            head_dim,
        })
    }

    /// Layer `l` with the current batch rows.
    pub(crate) fn layer(&mut self, l: usize) -> LayerSlot<'_> {
        LayerSlot {
            layer: &mut self.layers[l],
            rows: &self.rows,
            capacity: self.capacity,
        }
    }

    /// Whether the buffers are host f32 (served by the host attention kernel).
    pub(crate) fn is_host(&self) -> bool {
        self.layers
            .first()
            .is_some_and(|l| matches!(l.store, Store::Host { .. }))
    }

    /// Filled slots.
    pub(crate) fn len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.len)
    }

    /// Writes the filled slots of `src`, a one-row tensor cache of the same model, into batch
    /// row `row` at slots `start..`. Used to place separately prefilled prompts into a batch.
    pub(crate) fn place_row(&mut self, row: usize, start: usize, src: &KvCache) -> Result<()> {
        let (heads, d, capacity) = (self.kv_heads, self.head_dim, self.capacity);
        for (layer, from) in self.layers.iter_mut().zip(&src.layers) {
            let (Store::Tensors { k, v }, Store::Tensors { k: sk, v: sv }) =
                (&layer.store, &from.store)
            else {
                return Err(InferError::Invalid(
                    "rows are placed only between tensor caches".into(),
                ));
            };
            let t = from.len;
            if start + t > capacity {
                return Err(InferError::Invalid(format!(
                    "{t} slots from {start} do not fit a cache of {capacity}"
                )));
            }
            for (dst, src) in [(k, sk), (v, sv)] {
                // `slice_set` needs a contiguous destination: write the row's slot block of
                // each head through a (rows * heads * capacity, head_dim) view of it.
                let flat = dst.reshape((dst.dim(0)? * heads * capacity, d))?;
                for h in 0..heads {
                    let block = src.narrow(1, h, 1)?.narrow(2, 0, t)?.reshape((t, d))?;
                    flat.slice_set(&block, 0, (row * heads + h) * capacity + start)?;
                }
            }
        }
        Ok(())
    }

    /// Points the batch at buffer rows `rows` of a fresh host cache, so that a group of prompts
    /// is prefilled straight into its rows.
    pub(crate) fn set_rows(&mut self, rows: std::ops::Range<usize>) -> Result<()> {
        if !self.is_host() || rows.end > self.buffer_rows {
            return Err(InferError::Invalid(format!(
                "cannot select rows {rows:?} of a {}-row cache",
                self.buffer_rows
            )));
        }
        self.rows = rows.collect();
        Ok(())
    }

    /// Marks `len` slots as filled (after [`Self::place_row`] wrote them all).
    pub(crate) fn set_len(&mut self, len: usize) {
        for layer in &mut self.layers {
            layer.len = len;
        }
    }

    /// Copies the `len` slots from `starts[0]` of buffer row 0 of a host cache into every other
    /// buffer row `i` at `starts[i]`: a prompt prefix shared by the batch, computed once.
    pub(crate) fn share_prefix(&mut self, starts: &[usize], len: usize) -> Result<()> {
        let (heads, d, capacity) = (self.kv_heads, self.head_dim, self.capacity);
        if starts.len() != self.buffer_rows || starts.iter().any(|&s| s + len > capacity) {
            return Err(InferError::Invalid(format!(
                "cannot share {len} slots among {} rows of {} from {starts:?}",
                self.buffer_rows, capacity
            )));
        }
        for layer in &mut self.layers {
            let Store::Host { k, v } = &mut layer.store else {
                return Err(InferError::Invalid(
                    "only host caches share prefixes".into(),
                ));
            };
            for buf in [k, v] {
                for h in 0..heads {
                    let from = (h * capacity + starts[0]) * d;
                    for (row, &start) in starts.iter().enumerate().skip(1) {
                        let to = ((row * heads + h) * capacity + start) * d;
                        buf.copy_within(from..from + len * d, to);
                    }
                }
            }
        }
        Ok(())
    }

    /// Keeps only the batch rows at `positions`, in that order (drops finished sequences). A host
    /// cache only forgets the rows; tensor caches copy the kept rows, since their attention reads
    /// the batch as one tensor.
    pub(crate) fn keep_rows(&mut self, positions: &[usize], device: &Device) -> Result<()> {
        if let Some(&bad) = positions.iter().find(|&&p| p >= self.rows.len()) {
            return Err(InferError::Invalid(format!(
                "row {bad} is not in a batch of {}",
                self.rows.len()
            )));
        }
        if self.is_host() {
            self.rows = positions.iter().map(|&p| self.rows[p]).collect();
            return Ok(());
        }
        let index: Vec<u32> = positions.iter().map(|&p| p as u32).collect();
        let index = Tensor::new(index.as_slice(), device)?;
        for layer in &mut self.layers {
            if let Store::Tensors { k, v } = &mut layer.store {
                *k = k.index_select(&index, 0)?;
                *v = v.index_select(&index, 0)?;
            }
        }
        self.rows = (0..positions.len()).collect();
        self.buffer_rows = positions.len();
        Ok(())
    }
}
