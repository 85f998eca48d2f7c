//! One training step's arithmetic: the decoder's forward pass over packed sequences, keeping
//! what the backward needs, the loss on completion tokens only, and the hand-written backward.

use rayon::prelude::*;

use super::attention::{self, Heads, Packing};
use super::kernels::{self, RopeTable};
use super::lora::{AdapterT, LayerAdapters};
use super::matmul::{matmul, MatMut, MatRef, Threads};
use super::params::{LayerT, LinearT, ModelT};
use crate::config::ArchConfig;
use crate::vector_math;

/// Completion positions whose logits are computed together: bounds the `(rows, vocab)` buffer.
const LOGIT_ROWS: usize = 128;

/// A batch of sequences packed row after row, without padding.
pub(crate) struct Batch {
    /// Input token of each row.
    pub(crate) tokens: Vec<u32>,
    /// Position of each row within its sequence.
    pub(crate) positions: Vec<u32>,
    /// Rows per sequence.
    pub(crate) lengths: Vec<usize>,
    /// `(row, next token)` for every row whose prediction counts.
    pub(crate) targets: Vec<(usize, u32)>,
}

impl Batch {
    /// Packs `(prompt, completion)` pairs: row `i` of a sequence predicts its token `i + 1`,
    /// counted when that token belongs to the completion.
    pub(crate) fn pack<'a>(pairs: impl IntoIterator<Item = (&'a [u32], &'a [u32])>) -> Self {
        let mut batch = Batch {
            tokens: Vec::new(),
            positions: Vec::new(),
            lengths: Vec::new(),
            targets: Vec::new(),
        };
        for (prompt, completion) in pairs {
            let seq: Vec<u32> = prompt.iter().chain(completion).copied().collect();
            let first = batch.tokens.len();
            for i in 0..seq.len() - 1 {
                batch.tokens.push(seq[i]);
                batch.positions.push(i as u32);
                if i + 1 >= prompt.len() {
                    batch.targets.push((first + i, seq[i + 1]));
                }
            }
            batch.lengths.push(seq.len() - 1);
        }
        batch
    }

    fn rows(&self) -> usize {
        self.tokens.len()
    }
}

/// The adapters of every layer, and where their gradients go.
pub(crate) struct Adapters<'a, 'g> {
    pub(crate) layers: Vec<LayerAdapters<&'a [f32]>>,
    /// Each adapted projection's `[W | s·B]` ([`super::lora::ExtendedWeights`]).
    pub(crate) extended: Vec<[Option<&'a [f32]>; 7]>,
    pub(crate) grads: Option<Vec<LayerAdapters<&'g mut [f32]>>>,
    pub(crate) rank: usize,
    pub(crate) scale: f32,
}

// Indices into the adapters of a layer, in `LORA_MODULES` order.
const Q: usize = 0;
const K: usize = 1;
const V: usize = 2;
const O: usize = 3;
const GATE: usize = 4;
const UP: usize = 5;
const DOWN: usize = 6;

/// The model a step runs: its architecture, weights and rotary tables.
pub(crate) struct Model<'a> {
    pub(crate) config: &'a ArchConfig,
    pub(crate) params: &'a ModelT<&'a [f32]>,
    pub(crate) rope: &'a RopeTable,
}

/// The input of an RMS norm and each row's `1 / rms`.
struct NormInput {
    x: Vec<f32>,
    rstd: Vec<f32>,
}

/// What the forward pass keeps of one layer for the backward.
struct LayerActs {
    x: Vec<f32>,
    rstd1: Vec<f32>,
    h1: Vec<f32>,
    /// Q and K before their per-head norm (Qwen3).
    q_pre: Option<NormInput>,
    k_pre: Option<NormInput>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    probs: Vec<f32>,
    attn: Vec<f32>,
    x_mid: Vec<f32>,
    rstd2: Vec<f32>,
    h2: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    act: Vec<f32>,
    /// `x Aᵀ` of each adapted projection.
    lora_u: [Option<Vec<f32>>; 7],
}

/// Mean cross-entropy over `batch`'s counted rows; when `grads` (or the adapters' gradients)
/// are given, adds the loss's gradients to them.
pub(crate) fn loss_and_grads(
    model: &Model<'_>,
    mut grads: Option<&mut ModelT<&mut [f32]>>,
    mut adapters: Option<&mut Adapters<'_, '_>>,
    batch: &Batch,
) -> f64 {
    let config = model.config;
    let p = model.params;
    let (n, h) = (batch.rows(), config.hidden_size);
    let packing = Packing::new(&batch.lengths, config.num_attention_heads);
    let mut x = vec![0f32; n * h];
    x.par_chunks_mut(h)
        .zip(batch.tokens.par_iter())
        .for_each(|(row, &t)| row.copy_from_slice(&p.embed[t as usize * h..][..h]));
    let mut acts = Vec::with_capacity(config.num_hidden_layers);
    for (l, layer) in p.layers.iter().enumerate() {
        let lora = adapters.as_deref().map(|a| (&a.layers[l], a.rank, a.scale));
        let (out, saved) = layer_forward(model, l, layer, lora, &packing, batch, x);
        acts.push(saved);
        x = out;
    }
    let mut hf = vec![0f32; n * h];
    let mut rstd_f = vec![0f32; n];
    kernels::rms_norm(&x, p.norm, config.rms_norm_eps, &mut hf, &mut rstd_f);
    let head = p.lm_head.unwrap_or(p.embed);
    let want_grads = grads.is_some() || adapters.as_ref().is_some_and(|a| a.grads.is_some());
    if !want_grads {
        return lm_head_loss(&hf, h, head, &batch.targets, None, None);
    }
    let mut dhf = vec![0f32; n * h];
    let head_grad = grads.as_deref_mut().map(|g| match &mut g.lm_head {
        Some(head) => &mut **head,
        None => &mut *g.embed,
    });
    let loss = lm_head_loss(&hf, h, head, &batch.targets, Some(&mut dhf), head_grad);
    let mut dx = vec![0f32; n * h];
    kernels::rms_norm_backward(
        &dhf,
        &x,
        p.norm,
        &rstd_f,
        &mut dx,
        grads.as_deref_mut().map(|g| &mut *g.norm),
    );
    drop(dhf);
    for (l, saved) in acts.into_iter().enumerate().rev() {
        // Below the first layer only the embedding learns, and only in a full fine-tune.
        let input_grad = l > 0 || grads.is_some();
        let layer_grads = grads.as_deref_mut().map(|g| &mut g.layers[l]);
        let lora = adapters.as_deref_mut().map(|a| {
            let grads = a.grads.as_mut().map(|g| &mut g[l]);
            (&a.layers[l], grads, &a.extended[l], a.rank, a.scale)
        });
        dx = layer_backward(
            model,
            l,
            &p.layers[l],
            layer_grads,
            lora,
            &packing,
            batch,
            saved,
            dx,
            input_grad,
        );
    }
    if let Some(g) = grads {
        let embed = &mut *g.embed;
        for (row, &t) in dx.chunks(h).zip(&batch.tokens) {
            for (e, d) in embed[t as usize * h..][..h].iter_mut().zip(row) {
                *e += d;
            }
        }
    }
    loss
}

type LayerLora<'x, 'a> = (&'x LayerAdapters<&'a [f32]>, usize, f32);

fn layer_forward(
    model: &Model<'_>,
    l: usize,
    w: &LayerT<&[f32]>,
    lora: Option<LayerLora<'_, '_>>,
    packing: &Packing,
    batch: &Batch,
    x: Vec<f32>,
) -> (Vec<f32>, LayerActs) {
    let config = model.config;
    let (n, h, i) = (batch.rows(), config.hidden_size, config.intermediate_size);
    let d = config.head_dim;
    let qw = config.num_attention_heads * d;
    let eps = config.rms_norm_eps;
    let adapter = |m: usize| lora.and_then(|(ad, r, s)| ad[m].as_ref().map(|a| (a, r, s)));
    let mut rstd1 = vec![0f32; n];
    let mut h1 = vec![0f32; n * h];
    kernels::rms_norm(&x, w.input_norm, eps, &mut h1, &mut rstd1);
    let mut lora_u: [Option<Vec<f32>>; 7] = Default::default();
    let (q_lin, u) = linear_forward(&h1, n, h, &w.q, adapter(Q));
    lora_u[Q] = u;
    let (k_lin, u) = linear_forward(&h1, n, h, &w.k, adapter(K));
    lora_u[K] = u;
    let (v, u) = linear_forward(&h1, n, h, &w.v, adapter(V));
    lora_u[V] = u;
    let (mut q, q_pre) = head_norm(q_lin, w.q_norm, d, eps);
    let (mut k, k_pre) = head_norm(k_lin, w.k_norm, d, eps);
    model.rope.rotate(&mut q, &batch.positions, false);
    model.rope.rotate(&mut k, &batch.positions, false);
    let shape = heads(config, l);
    let mut probs = vec![0f32; packing.prob_len];
    let mut attn = vec![0f32; n * qw];
    attention::forward(shape, packing, &q, &k, &v, &mut probs, &mut attn);
    let (o, u) = linear_forward(&attn, n, qw, &w.o, adapter(O));
    lora_u[O] = u;
    let mut x_mid = o;
    x_mid
        .par_chunks_mut(h)
        .zip(x.par_chunks(h))
        .for_each(|(m, x)| m.iter_mut().zip(x).for_each(|(m, x)| *m += x));
    let mut rstd2 = vec![0f32; n];
    let mut h2 = vec![0f32; n * h];
    kernels::rms_norm(&x_mid, w.post_norm, eps, &mut h2, &mut rstd2);
    let (gate, u) = linear_forward(&h2, n, h, &w.gate, adapter(GATE));
    lora_u[GATE] = u;
    let (up, u) = linear_forward(&h2, n, h, &w.up, adapter(UP));
    lora_u[UP] = u;
    let mut act = vec![0f32; n * i];
    vector_math::swiglu(&gate, &up, &mut act);
    let (mut out, u) = linear_forward(&act, n, i, &w.down, adapter(DOWN));
    lora_u[DOWN] = u;
    out.par_chunks_mut(h)
        .zip(x_mid.par_chunks(h))
        .for_each(|(o, m)| o.iter_mut().zip(m).for_each(|(o, m)| *o += m));
    let saved = LayerActs {
        x,
        rstd1,
        h1,
        q_pre,
        k_pre,
        q,
        k,
        v,
        probs,
        attn,
        x_mid,
        rstd2,
        h2,
        gate,
        up,
        act,
        lora_u,
    };
    (out, saved)
}

/// The attention shape of layer `l`.
fn heads(config: &ArchConfig, l: usize) -> Heads {
    Heads {
        heads: config.num_attention_heads,
        kv_heads: config.num_key_value_heads,
        head_dim: config.head_dim,
        window: config.sliding_windows[l],
    }
}

/// Qwen3's RMS norm over each head of `x`: the normed values, and `x` with each head's
/// `1 / rms` for the backward. Without a norm, `x` itself.
fn head_norm(
    x: Vec<f32>,
    norm: Option<&[f32]>,
    d: usize,
    eps: f64,
) -> (Vec<f32>, Option<NormInput>) {
    match norm {
        Some(norm) => {
            let mut out = vec![0f32; x.len()];
            let mut rstd = vec![0f32; x.len() / d];
            kernels::rms_norm(&x, norm, eps, &mut out, &mut rstd);
            (out, Some(NormInput { x, rstd }))
        }
        None => (x, None),
    }
}

type Adapter<'x, 'a> = (&'x AdapterT<&'a [f32]>, usize, f32);

/// `y = x Wᵀ + b + s · (x Aᵀ) Bᵀ` for `n` rows of width `inp`; also returns `x Aᵀ` when
/// adapted.
fn linear_forward(
    x: &[f32],
    n: usize,
    inp: usize,
    lin: &LinearT<&[f32]>,
    adapter: Option<Adapter<'_, '_>>,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let out = lin.w.len() / inp;
    let mut y = vec![0f32; n * out];
    let xm = MatRef::rows(x, n, inp);
    matmul(
        MatMut::rows(&mut y, n, out),
        xm,
        MatRef::rows(lin.w, out, inp).t(),
        1.0,
        false,
        Threads::All,
    );
    if let Some(b) = lin.b {
        kernels::add_bias(&mut y, b);
    }
    let u = adapter.map(|(ad, r, scale)| {
        let mut u = vec![0f32; n * r];
        matmul(
            MatMut::rows(&mut u, n, r),
            xm,
            MatRef::rows(ad.a, r, inp).t(),
            1.0,
            false,
            Threads::All,
        );
        matmul(
            MatMut::rows(&mut y, n, out),
            MatRef::rows(&u, n, r),
            MatRef::rows(ad.b, out, r).t(),
            scale,
            true,
            Threads::All,
        );
        u
    });
    (y, u)
}

type AdapterGrad<'x, 'a, 'g> = (
    &'x AdapterT<&'a [f32]>,
    Option<&'x mut AdapterT<&'g mut [f32]>>,
    // `x Aᵀ` saved by the forward.
    &'x [f32],
    // `[W | s·B]`.
    &'x [f32],
    usize,
    f32,
);

#[allow(clippy::too_many_arguments)]
/// Backward of [`linear_forward`]: `dx (+)= dy W (+ s · dy B A)` when `dx` is given; weight,
/// bias and adapter gradients added where given.
fn linear_backward(
    dy: &[f32],
    x: &[f32],
    n: usize,
    inp: usize,
    lin: &LinearT<&[f32]>,
    grad: Option<&mut LinearT<&mut [f32]>>,
    adapter: Option<AdapterGrad<'_, '_, '_>>,
    dx: Option<&mut [f32]>,
    accumulate: bool,
) {
    let out = lin.w.len() / inp;
    let dym = MatRef::rows(dy, n, out);
    match (adapter, dx) {
        (Some(adapter), dx) => adapter_backward(dy, x, inp, adapter, dx, accumulate),
        (None, Some(dx)) => matmul(
            MatMut::rows(dx, n, inp),
            dym,
            MatRef::rows(lin.w, out, inp),
            1.0,
            accumulate,
            Threads::All,
        ),
        (None, None) => {}
    }
    if let Some(g) = grad {
        matmul(
            MatMut::rows(g.w, out, inp),
            dym.t(),
            MatRef::rows(x, n, inp),
            1.0,
            true,
            Threads::All,
        );
        if let Some(db) = g.b.as_deref_mut() {
            kernels::bias_backward(dy, db);
        }
    }
}

/// The adapted part of [`linear_backward`]: `∂u = s · dy B` (with `dx (+)= dy W + ∂u A` when
/// `dx` is given) from one product with `[W | s·B]`, then the adapter's gradients.
fn adapter_backward(
    dy: &[f32],
    x: &[f32],
    inp: usize,
    (ad, ad_grad, u, extended, r, scale): AdapterGrad<'_, '_, '_>,
    dx: Option<&mut [f32]>,
    accumulate: bool,
) {
    let n = x.len() / inp;
    let out = dy.len() / n;
    let wide = inp + r;
    let dym = MatRef::rows(dy, n, out);
    let (first, cols) = if dx.is_some() { (0, wide) } else { (inp, r) };
    let mut t = vec![0f32; n * cols];
    matmul(
        MatMut::rows(&mut t, n, cols),
        dym,
        MatRef::strided(extended, first, out, cols, wide, 1),
        1.0,
        false,
        Threads::All,
    );
    // `∂u` is the last `r` columns of `t`.
    let dum = MatRef::strided(&t, cols - r, n, r, cols, 1);
    if let Some(g) = ad_grad {
        // ∂B = s · dyᵀ u, computed as its transpose: the product with `r` rows packs its
        // operands about three times faster than the one with `r` columns.
        let mut gbt = vec![0f32; r * out];
        matmul(
            MatMut::rows(&mut gbt, r, out),
            MatRef::rows(u, n, r).t(),
            dym,
            scale,
            false,
            Threads::All,
        );
        for (o, row) in g.b.chunks_exact_mut(r).enumerate() {
            for (k, b) in row.iter_mut().enumerate() {
                *b += gbt[k * out + o];
            }
        }
        matmul(
            MatMut::rows(g.a, r, inp),
            dum.t(),
            MatRef::rows(x, n, inp),
            1.0,
            true,
            Threads::All,
        );
    }
    if let Some(dx) = dx {
        kernels::add_low_rank(dx, &t, ad.a, r, accumulate);
    }
}

type LayerLoraGrad<'x, 'a, 'g> = (
    &'x LayerAdapters<&'a [f32]>,
    Option<&'x mut LayerAdapters<&'g mut [f32]>>,
    &'x [Option<&'a [f32]>; 7],
    usize,
    f32,
);

/// Backward of one layer: takes `∂loss/∂output`, returns `∂loss/∂input` (empty unless
/// `input_grad`).
#[allow(clippy::too_many_arguments)]
fn layer_backward(
    model: &Model<'_>,
    l: usize,
    w: &LayerT<&[f32]>,
    mut grads: Option<&mut LayerT<&mut [f32]>>,
    mut lora: Option<LayerLoraGrad<'_, '_, '_>>,
    packing: &Packing,
    batch: &Batch,
    s: LayerActs,
    d_out: Vec<f32>,
    input_grad: bool,
) -> Vec<f32> {
    let config = model.config;
    let (n, h, i) = (batch.rows(), config.hidden_size, config.intermediate_size);
    let d = config.head_dim;
    let (qw, kw) = (
        config.num_attention_heads * d,
        config.num_key_value_heads * d,
    );
    // The adapter of module `m` with its gradient slot and saved `x Aᵀ`.
    macro_rules! adapter {
        ($m:expr) => {
            match lora.as_mut() {
                Some((ad, g, ext, r, scale)) => ad[$m].as_ref().map(|a| {
                    let grad = g.as_deref_mut().and_then(|g| g[$m].as_mut());
                    let u = s.lora_u[$m].as_deref().expect("saved with the adapter");
                    let ext = ext[$m].expect("extended with the adapter");
                    (a, grad, u, ext, *r, *scale)
                }),
                None => None,
            }
        };
    }
    macro_rules! grad {
        ($field:ident) => {
            grads.as_deref_mut().map(|g| &mut g.$field)
        };
    }
    // MLP: out = x_mid + down(swiglu(gate(h2), up(h2))).
    let mut d_act = vec![0f32; n * i];
    linear_backward(
        &d_out,
        &s.act,
        n,
        i,
        &w.down,
        grad!(down),
        adapter!(DOWN),
        Some(&mut d_act),
        false,
    );
    drop(s.act);
    let (mut d_gate, mut d_up) = (s.gate, s.up);
    kernels::swiglu_backward(&d_act, &mut d_gate, &mut d_up);
    drop(d_act);
    let mut dh2 = vec![0f32; n * h];
    linear_backward(
        &d_gate,
        &s.h2,
        n,
        h,
        &w.gate,
        grad!(gate),
        adapter!(GATE),
        Some(&mut dh2),
        false,
    );
    linear_backward(
        &d_up,
        &s.h2,
        n,
        h,
        &w.up,
        grad!(up),
        adapter!(UP),
        Some(&mut dh2),
        true,
    );
    drop((d_gate, d_up));
    let mut dx_mid = d_out;
    kernels::rms_norm_backward(
        &dh2,
        &s.x_mid,
        w.post_norm,
        &s.rstd2,
        &mut dx_mid,
        grads.as_deref_mut().map(|g| &mut *g.post_norm),
    );
    drop(dh2);
    // Attention: x_mid = x + o(attention(rope(q(h1)), rope(k(h1)), v(h1))).
    let mut d_attn = vec![0f32; n * qw];
    linear_backward(
        &dx_mid,
        &s.attn,
        n,
        qw,
        &w.o,
        grad!(o),
        adapter!(O),
        Some(&mut d_attn),
        false,
    );
    let (mut dq, mut dk, mut dv) = (vec![0f32; n * qw], vec![0f32; n * kw], vec![0f32; n * kw]);
    attention::backward(
        heads(config, l),
        packing,
        &s.q,
        &s.k,
        &s.v,
        &s.probs,
        &d_attn,
        &mut dq,
        &mut dk,
        &mut dv,
    );
    drop(d_attn);
    model.rope.rotate(&mut dq, &batch.positions, true);
    model.rope.rotate(&mut dk, &batch.positions, true);
    let head_norm_backward =
        |dy: Vec<f32>, saved: Option<NormInput>, norm: Option<&[f32]>, dw: Option<&mut [f32]>| {
            match (saved, norm) {
                (Some(NormInput { x: pre, rstd }), Some(norm)) => {
                    let mut dx = vec![0f32; dy.len()];
                    kernels::rms_norm_backward(&dy, &pre, norm, &rstd, &mut dx, dw);
                    dx
                }
                _ => dy,
            }
        };
    let dq = head_norm_backward(
        dq,
        s.q_pre,
        w.q_norm,
        grads.as_deref_mut().and_then(|g| g.q_norm.as_deref_mut()),
    );
    let dk = head_norm_backward(
        dk,
        s.k_pre,
        w.k_norm,
        grads.as_deref_mut().and_then(|g| g.k_norm.as_deref_mut()),
    );
    let mut dh1 = vec![0f32; n * h];
    linear_backward(
        &dq,
        &s.h1,
        n,
        h,
        &w.q,
        grad!(q),
        adapter!(Q),
        input_grad.then_some(&mut dh1[..]),
        false,
    );
    linear_backward(
        &dk,
        &s.h1,
        n,
        h,
        &w.k,
        grad!(k),
        adapter!(K),
        input_grad.then_some(&mut dh1[..]),
        true,
    );
    linear_backward(
        &dv,
        &s.h1,
        n,
        h,
        &w.v,
        grad!(v),
        adapter!(V),
        input_grad.then_some(&mut dh1[..]),
        true,
    );
    if !input_grad {
        return Vec::new();
    }
    let mut dx = dx_mid;
    kernels::rms_norm_backward(
        &dh1,
        &s.x,
        w.input_norm,
        &s.rstd1,
        &mut dx,
        grads.map(|g| &mut *g.input_norm),
    );
    dx
}

/// Mean cross-entropy of the next-token predictions at `targets`' rows of the final hidden
/// states `hf` (rows of width `h`), computing logits for those rows only, a block at a time.
/// With `dhf`, adds `∂loss/∂hf`; with `dhead`, `∂loss/∂head`.
fn lm_head_loss(
    hf: &[f32],
    h: usize,
    head: &[f32],
    targets: &[(usize, u32)],
    mut dhf: Option<&mut [f32]>,
    mut dhead: Option<&mut [f32]>,
) -> f64 {
    let vocab = head.len() / h;
    let count = targets.len() as f32;
    let mut total = 0f64;
    let mut rows = vec![0f32; LOGIT_ROWS.min(targets.len()) * h];
    let mut logits = vec![0f32; LOGIT_ROWS.min(targets.len()) * vocab];
    for block in targets.chunks(LOGIT_ROWS) {
        let c = block.len();
        let rows = &mut rows[..c * h];
        for (dst, &(row, _)) in rows.chunks_mut(h).zip(block) {
            dst.copy_from_slice(&hf[row * h..][..h]);
        }
        let logits = &mut logits[..c * vocab];
        matmul(
            MatMut::rows(logits, c, vocab),
            MatRef::rows(rows, c, h),
            MatRef::rows(head, vocab, h).t(),
            1.0,
            false,
            Threads::All,
        );
        let want_grad = dhf.is_some() || dhead.is_some();
        // Per-row losses collected in order and summed in order: a parallel sum's order
        // would vary from run to run.
        let losses: Vec<f64> = logits
            .par_chunks_mut(vocab)
            .zip(block.par_iter())
            .map(|(z, &(_, target))| {
                // Exponentials in f32 (each is at most 1), their sum in f64.
                let max = vector_math::max(z);
                let target_logit = z[target as usize];
                let sum = vector_math::exp_shifted_sum(z, max);
                let loss = (max - target_logit) as f64 + sum.ln();
                if want_grad {
                    let inv = (1.0 / (sum * count as f64)) as f32;
                    for v in z.iter_mut() {
                        *v *= inv;
                    }
                    z[target as usize] -= 1.0 / count;
                }
                loss
            })
            .collect();
        total += losses.iter().sum::<f64>();
        if let Some(dhf) = dhf.as_deref_mut() {
            let mut d_rows = vec![0f32; c * h];
            matmul(
                MatMut::rows(&mut d_rows, c, h),
                MatRef::rows(logits, c, vocab),
                MatRef::rows(head, vocab, h),
                1.0,
                false,
                Threads::All,
            );
            for (src, &(row, _)) in d_rows.chunks(h).zip(block) {
                for (d, s) in dhf[row * h..][..h].iter_mut().zip(src) {
                    *d += s;
                }
            }
        }
        if let Some(dhead) = dhead.as_deref_mut() {
            matmul(
                MatMut::rows(dhead, vocab, h),
                MatRef::rows(logits, c, vocab).t(),
                MatRef::rows(rows, c, h),
                1.0,
                true,
                Threads::All,
            );
        }
    }
    total / count as f64
}
