//! The decoder computation: projections, RMS norm, grouped-query attention with RoPE, SwiGLU MLP.

use std::collections::HashMap;

use candle_core::{DType, Tensor, D};

use super::kv_cache::{KvCache, LayerSlot};
use super::mask::SlotLayout;
use super::rope::{Rope, RopeTables};
use super::weights::{LayerWeights, Linear, Weights};
use super::{host, host_attention};
use crate::config::ArchConfig;
use crate::error::Result;

/// What one forward pass shares across layers.
pub(crate) struct Pass {
    rope: RopeTables,
    layout: SlotLayout,
    /// Empty when a host cache serves attention, which needs no masks.
    masks: HashMap<Option<usize>, Option<Tensor>>,
    /// Use composed ops that autograd can go through (training) instead of fused kernels.
    differentiable: bool,
    /// Run projections and the MLP through the host kernels (f32 on the CPU, no autograd).
    host: bool,
}

impl Pass {
    pub(crate) fn new(
        config: &ArchConfig,
        rope: &Rope,
        layout: &SlotLayout,
        ids: &Tensor,
        differentiable: bool,
        host_cache: bool,
        dtype: DType,
    ) -> Result<Self> {
        let device = ids.device();
        let tables = rope.tables(
            &layout.positions(),
            layout.starts.len(),
            layout.t,
            device,
            dtype,
        )?;
        let mut masks = HashMap::new();
        for window in &config.sliding_windows {
            if !host_cache && !masks.contains_key(window) {
                masks.insert(*window, layout.mask(*window, device, dtype)?);
            }
        }
        Ok(Self {
            rope: tables,
            layout: layout.clone(),
            masks,
            differentiable,
            host: !differentiable && device.is_cpu() && dtype == DType::F32,
        })
    }
}

/// `a @ b`; bf16 on the CPU goes through f32 since candle's CPU matmul has no bf16 kernel.
fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dtype() == DType::BF16 && a.device().is_cpu() {
        let out = a.to_dtype(DType::F32)?.matmul(&b.to_dtype(DType::F32)?)?;
        return Ok(out.to_dtype(DType::BF16)?);
    }
    Ok(a.matmul(b)?)
}

fn linear(x: &Tensor, l: &Linear, pass: &Pass) -> Result<Tensor> {
    let mut dims = x.dims().to_vec();
    let inp = dims.pop().unwrap_or(1);
    let rows = dims.iter().product::<usize>();
    let x = x.reshape((rows, inp))?;
    let y = if pass.host {
        host::linear(&x, &l.weight)?
    } else {
        matmul(&x, &l.weight.t()?)?
    };
    let y = match &l.bias {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    dims.push(l.weight.dim(0)?);
    Ok(y.reshape(dims)?)
}

fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64, differentiable: bool) -> Result<Tensor> {
    if differentiable || x.dtype() != DType::F32 {
        return Ok(candle_nn::ops::rms_norm_slow(x, weight, eps as f32)?);
    }
    Ok(candle_nn::ops::rms_norm(
        &x.contiguous()?,
        weight,
        eps as f32,
    )?)
}

fn softmax(x: &Tensor, differentiable: bool) -> Result<Tensor> {
    if differentiable {
        return Ok(candle_nn::ops::softmax(x, D::Minus1)?);
    }
    Ok(candle_nn::ops::softmax_last_dim(x)?)
}

/// Runs the decoder over `ids` `(b, t)`, filling `cache` when given; returns the hidden states
/// after the final norm, `(b, t, hidden)`.
pub(crate) fn decoder(
    config: &ArchConfig,
    weights: &Weights,
    ids: &Tensor,
    pass: &Pass,
    mut cache: Option<&mut KvCache>,
) -> Result<Tensor> {
    let (b, t) = ids.dims2()?;
    let mut x = weights
        .embed
        .index_select(&ids.flatten_all()?, 0)?
        .reshape((b, t, config.hidden_size))?;
    for (l, layer) in weights.layers.iter().enumerate() {
        let layer_cache = cache.as_deref_mut().map(|c| c.layer(l));
        let window = config.sliding_windows[l];
        x = decoder_layer(config, layer, &x, pass, window, layer_cache)?;
    }
    rms_norm(&x, &weights.norm, config.rms_norm_eps, pass.differentiable)
}

fn decoder_layer(
    config: &ArchConfig,
    w: &LayerWeights,
    x: &Tensor,
    pass: &Pass,
    window: Option<usize>,
    cache: Option<LayerSlot<'_>>,
) -> Result<Tensor> {
    let eps = config.rms_norm_eps;
    let h = rms_norm(x, &w.input_norm, eps, pass.differentiable)?;
    let x = (x + attention(config, w, &h, pass, window, cache)?)?;
    let h = rms_norm(&x, &w.post_norm, eps, pass.differentiable)?;
    let gate = linear(&h, &w.gate, pass)?;
    let up = linear(&h, &w.up, pass)?;
    let act = if pass.host {
        host::silu_mul(&gate, &up)?
    } else {
        (gate.silu()? * up)?
    };
    let mlp = linear(&act, &w.down, pass)?;
    Ok((x + mlp)?)
}

fn attention(
    config: &ArchConfig,
    w: &LayerWeights,
    x: &Tensor,
    pass: &Pass,
    window: Option<usize>,
    cache: Option<LayerSlot<'_>>,
) -> Result<Tensor> {
    let (b, t, _) = x.dims3()?;
    let (heads, kv_heads, d) = (
        config.num_attention_heads,
        config.num_key_value_heads,
        config.head_dim,
    );
    let split = |y: Tensor, n: usize| -> Result<Tensor> {
        Ok(y.reshape((b, t, n, d))?.transpose(1, 2)?.contiguous()?)
    };
    let mut q = split(linear(x, &w.q, pass)?, heads)?;
    let mut k = split(linear(x, &w.k, pass)?, kv_heads)?;
    let v = split(linear(x, &w.v, pass)?, kv_heads)?;
    if let (Some(qn), Some(kn)) = (&w.q_norm, &w.k_norm) {
        q = rms_norm(&q, qn, config.rms_norm_eps, pass.differentiable)?;
        k = rms_norm(&k, kn, config.rms_norm_eps, pass.differentiable)?;
    }
    let q = pass.rope.apply(&q, pass.differentiable)?;
    let k = pass.rope.apply(&k, pass.differentiable)?;
    let (k, v) = match cache.map(LayerSlot::host) {
        Some(Ok(host)) => {
            let out = host_attention::attend(&q, &k, &v, &pass.layout, window, host)?;
            let out = out.transpose(1, 2)?.reshape((b, t, heads * d))?;
            return linear(&out, &w.o, pass);
        }
        Some(Err(tensors)) => tensors.append(&k, &v)?,
        None => (k, v),
    };
    let mask = pass.masks.get(&window).and_then(Option::as_ref);
    let total = k.dim(2)?;
    let group = heads / kv_heads;
    // Query heads sharing a key/value head are stacked along the query axis, so grouped-query
    // attention needs no copy of the keys and values.
    let q = (q * (1.0 / (d as f64).sqrt()))?.reshape((b, kv_heads, group * t, d))?;
    let scores = matmul(&q, &k.t()?)?;
    let scores = match mask {
        Some(mask) => scores
            .reshape((b, kv_heads, group, t, total))?
            .broadcast_add(&mask.unsqueeze(1)?)?
            .reshape((b, kv_heads, group * t, total))?,
        None => scores,
    };
    let probs = if scores.dtype() == DType::F32 {
        softmax(&scores, pass.differentiable)?
    } else {
        softmax(&scores.to_dtype(DType::F32)?, pass.differentiable)?.to_dtype(scores.dtype())?
    };
    let out = matmul(&probs, &v)?
        .reshape((b, heads, t, d))?
        .transpose(1, 2)?
        .reshape((b, t, heads * d))?;
    linear(&out, &w.o, pass)
}
