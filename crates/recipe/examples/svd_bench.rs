//! Benchmark on a real model: SmolLM2-135M (from its GGUF) with two synthetic experts.
//! Times the basis build (SVD only, and end to end with hashing and the cache), checks how
//! exactly experts rebuild, times materializing one child, and measures recipe sizes.
//!
//! cargo run --release -p cycleqd-recipe --example svd_bench -- GGUF WORK_DIR [--rank R]...
//! Writes WORK_DIR/{base,expert0,expert1} (bf16) on first use; `scripts/svd_bench_torch.py`
//! times torch.linalg.svd on the same matrices.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cycleqd_recipe::{
    write_perturbed_expert, Ancestors, BasisOptions, BasisSet, CrossoverWeights, Genome,
    Materializer, Par, Perturbation, Precision, Recipe, TensorRole, ThinSvd,
};
use cycleqd_weights::gguf::{GgufFile, LlamaGguf};
use cycleqd_weights::{task_vector_tensor, DType, HfModel, ModelWriter, TensorMeta, TensorSource};
use rayon::prelude::*;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [gguf, work, rest @ ..] = &args[..] else {
        return Err("usage: svd_bench GGUF WORK_DIR [--precision | --rank R...]".into());
    };
    let precision_only = rest == ["--precision"];
    let rest = if precision_only { &[] } else { rest };
    let ranks: Vec<usize> = rest
        .chunks(2)
        .map(|p| match p {
            [flag, r] if flag == "--rank" => r.parse().map_err(|e| format!("--rank {r}: {e}")),
            _ => Err(format!("unexpected arguments {p:?}")),
        })
        .collect::<Result<_, _>>()?;
    let work = PathBuf::from(work);
    println!("threads: {}", rayon::current_num_threads());
    let base_dir = work.join("base");
    if !base_dir.exists() {
        convert(Path::new(gguf), &base_dir)?;
    }
    let base = HfModel::open(&base_dir)?;
    let experts: Vec<HfModel> = (0..2)
        .map(|i| {
            let dir = work.join(format!("expert{i}"));
            if !dir.exists() {
                write_perturbed_expert(
                    &base,
                    &base.config().raw,
                    &dir,
                    100 + i,
                    &Perturbation::default(),
                    None,
                )?;
            }
            Ok(HfModel::open(&dir)?)
        })
        .collect::<Result<_, Error>>()?;
    let sources: Vec<&dyn TensorSource> = experts.iter().map(|e| e as &dyn TensorSource).collect();
    if precision_only {
        return precision(&base, &experts[0]);
    }
    svd_only(&base, &sources)?;

    let cache = work.join("cache");
    if cache.exists() {
        std::fs::remove_dir_all(&cache)?;
    }
    let t = Clock::start();
    let basis = BasisSet::open_or_build(
        &cache,
        &base,
        &base.config().raw,
        &sources,
        &BasisOptions::default(),
        &|_| {},
    )?;
    println!(
        "basis build, end to end (hash, task vectors, SVD, write cache): {}",
        t.show()
    );
    let t = Clock::start();
    let basis_again = BasisSet::open(&cache, &base, &sources, &BasisOptions::default(), &|_| {})?;
    println!("basis reopen from cache (hashing 3 models): {}", t.show());
    drop(basis_again);
    for (k, e) in basis.experts().iter().enumerate() {
        let m = e.manifest();
        let worst = m
            .matrices
            .iter()
            .map(|r| r.rebuild_error)
            .fold(0.0, f64::max);
        println!(
            "expert {k}: build {:.2} s, max matrix rebuild error {worst:.2e}",
            m.build_seconds
        );
    }
    materialize(&base, &experts, &basis, &work)?;
    for rank in ranks {
        truncated(&base, &sources, &work, rank)?;
    }
    Ok(())
}

/// GGUF -> Hugging Face folder in bf16.
fn convert(gguf: &Path, out: &Path) -> Result<(), Error> {
    let t = Clock::start();
    let llama = LlamaGguf::from_file(GgufFile::open(gguf)?)?;
    let metas: Vec<TensorMeta> = llama
        .tensors()
        .iter()
        .map(|e| TensorMeta {
            name: e.hf_name.clone(),
            shape: e.shape.clone(),
            dtype: DType::BF16,
        })
        .collect();
    let writer = ModelWriter::create(out, &metas, 2_000_000_000)?;
    metas.par_iter().try_for_each(|m| -> Result<(), Error> {
        writer.write_f32(&m.name, &llama.read_f32(&m.name)?)?;
        Ok(())
    })?;
    writer.finish(&llama.config_json(), &[])?;
    println!("converted {} in {}", gguf.display(), t.show());
    Ok(())
}

/// f32 against f64 SVDs of a few of expert 0's task-vector matrices, one thread each.
fn precision(base: &HfModel, expert: &HfModel) -> Result<(), Error> {
    for name in [
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.self_attn.k_proj.weight",
        "model.layers.0.mlp.gate_proj.weight",
        "model.layers.0.mlp.down_proj.weight",
        "model.embed_tokens.weight",
    ] {
        let meta = base.meta(name).ok_or_else(|| format!("no tensor {name}"))?;
        let (m, n) = (meta.shape[0], meta.shape[1]);
        let tau = task_vector_tensor(base, expert, name)?;
        let mut row = format!("{name} {m}x{n}:");
        for p in [Precision::F32, Precision::F64] {
            let t = Instant::now();
            let svd = ThinSvd::compute_in(name, &tau, m, n, Par::Seq, p)?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            row += &format!(" {p:?} {:.2e} in {ms:.0} ms;", svd.relative_error(&tau));
        }
        println!("{row}");
    }
    Ok(())
}

/// The SVDs alone, on task-vector matrices already in memory (what torch is timed on):
/// rayon across matrices with faer sequential inside, then one matrix at a time with faer's
/// own rayon parallelism inside.
fn svd_only(base: &HfModel, experts: &[&dyn TensorSource]) -> Result<(), Error> {
    let mut matrices = Vec::new();
    for expert in experts {
        for m in base.metas().iter().filter(|m| m.shape.len() == 2) {
            matrices.push((
                m.name.clone(),
                m.shape[0],
                m.shape[1],
                task_vector_tensor(base, *expert, &m.name)?,
            ));
        }
    }
    matrices.sort_by_key(|(_, m, n, _)| std::cmp::Reverse(m * n * m.min(n)));
    let count = matrices.len();
    let t = Clock::start();
    let across: Vec<(usize, ThinSvd)> = matrices
        .iter()
        .enumerate()
        .par_bridge()
        .map(|(i, (name, m, n, v))| {
            Ok((i, ThinSvd::compute_measured(name, v, *m, *n, Par::Seq)?.0))
        })
        .collect::<Result<_, cycleqd_recipe::RecipeError>>()?;
    let across_s = t.show();
    let t = Clock::start();
    for (name, m, n, v) in &matrices {
        ThinSvd::compute_measured(name, v, *m, *n, Par::rayon(0))?;
    }
    let inside_s = t.show();
    let worst = across
        .iter()
        .map(|(i, svd)| {
            let (_, m, n, v) = &matrices[*i];
            let mut back = vec![0f32; m * n];
            svd.add_scaled_product(&vec![1.0; svd.rank()], &mut back);
            rel_err(&back, v)
        })
        .fold(0.0, f64::max);
    println!(
        "SVD only, {count} matrices of 2 experts: {across_s} parallel across matrices, \
         {inside_s} parallel inside each SVD; max rel. reconstruction error {worst:.2e}"
    );
    #[cfg(feature = "cuda")]
    {
        let gpu = cycleqd_recipe::GpuSvd::new(0)?;
        let (name, m, n, v) = &matrices[matrices.len() - 1];
        gpu.compute(name, v, *m, *n)?;
        let t = Clock::start();
        let results = matrices
            .iter()
            .map(|(name, m, n, v)| gpu.compute(name, v, *m, *n))
            .collect::<Result<Vec<_>, _>>()?;
        let timing = t.show();
        let worst = matrices
            .iter()
            .zip(&results)
            .map(|((_, _, _, v), svd)| svd.relative_error(v))
            .fold(0.0, f64::max);
        println!("SVD only on the GPU (cuSOLVER Xgesvd, one matrix at a time, transfers included): {timing}; max rel. reconstruction error {worst:.2e}");
    }
    Ok(())
}

fn materialize(
    base: &HfModel,
    experts: &[HfModel],
    basis: &BasisSet,
    work: &Path,
) -> Result<(), Error> {
    let materializer = Materializer::new(base, basis);
    let expert0 = Recipe::expert(basis, 0)?;
    let expert1 = Recipe::expert(basis, 1)?;
    let mut child = Recipe::crossover(
        &expert0,
        &expert1,
        CrossoverWeights {
            w1: 1.004,
            w2: 0.991,
        },
    )?;
    child.mutate_svd_expert(basis.layout(), 0, 2026, 0.1)?;
    println!(
        "recipe bytes: expert {}, crossover+mutation child {} ({} coefficients per expert); \
         the model in bf16: {} bytes",
        expert0.encoded_len(),
        child.encoded_len(),
        basis.layout().coefficients_per_expert(),
        base.parameter_count() * 2
    );
    let t = Clock::start();
    let weights = materializer.materialize(&Genome::from(expert0), &Ancestors::new())?;
    println!("materialize expert 0 in memory: {}", t.show());
    let mut worst_tau: f64 = 0.0;
    let mut worst_theta: f64 = 0.0;
    for m in base.metas() {
        let expert = experts[0].read_f32(&m.name)?;
        let base_values = base.read_f32(&m.name)?;
        let tau: Vec<f32> = expert
            .iter()
            .zip(&base_values)
            .map(|(e, b)| e - b)
            .collect();
        let rebuilt: Vec<f32> = weights[&m.name]
            .data
            .iter()
            .zip(&base_values)
            .map(|(w, b)| w - b)
            .collect();
        worst_tau = worst_tau.max(rel_err(&rebuilt, &tau));
        worst_theta = worst_theta.max(rel_err(&weights[&m.name].data, &expert));
    }
    println!("expert 0 rebuilt: max rel. error per tensor {worst_tau:.2e} on the task vector, {worst_theta:.2e} on the weights");
    let genome = Genome::from(child);
    let t = Clock::start();
    materializer.materialize(&genome, &Ancestors::new())?;
    println!("materialize one child in memory: {}", t.show());
    let out = work.join("child");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    let t = Clock::start();
    materializer.write(
        &genome,
        &Ancestors::new(),
        &out,
        &base.config().raw,
        &[],
        None,
        2_000_000_000,
        &|_| {},
    )?;
    println!("materialize one child to a bf16 HF folder: {}", t.show());
    Ok(())
}

fn truncated(
    base: &HfModel,
    experts: &[&dyn TensorSource],
    work: &Path,
    rank: usize,
) -> Result<(), Error> {
    let cache = work.join(format!("cache-r{rank}"));
    if cache.exists() {
        std::fs::remove_dir_all(&cache)?;
    }
    let options = BasisOptions {
        rank_limit: Some(rank),
        ..BasisOptions::default()
    };
    let t = Clock::start();
    let basis =
        BasisSet::open_or_build(&cache, base, &base.config().raw, experts, &options, &|_| {})?;
    let build = t.show();
    let m = basis.experts()[0].manifest();
    let truncation: Vec<f64> = m.matrices.iter().map(|r| r.truncation_error).collect();
    let mean = truncation.iter().sum::<f64>() / truncation.len() as f64;
    let max = truncation.iter().copied().fold(0.0, f64::max);
    let rebuild = m
        .matrices
        .iter()
        .map(|r| r.rebuild_error)
        .fold(0.0, f64::max);
    let matrices = basis
        .layout()
        .entries
        .iter()
        .filter(|e| matches!(e.role, TensorRole::Matrix { .. }))
        .count();
    let mut child = Recipe::expert(&basis, 0)?;
    child.mutate_svd_expert(basis.layout(), 0, 1, 0.1)?;
    let materializer = Materializer::new(base, &basis);
    let t = Clock::start();
    materializer.materialize(&Genome::from(child.clone()), &Ancestors::new())?;
    println!(
        "rank {rank}: build {build}; truncation error over {matrices} matrices mean {mean:.3} max {max:.3}; \
         rebuild error with residual max {rebuild:.2e}; mutated recipe {} bytes; materialize {}",
        child.encoded_len(),
        t.show()
    );
    Ok(())
}

/// Seconds of CPU this process has used (user + system), from /proc: with other work on the
/// machine, wall time alone overstates what the benchmark needs.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A stopwatch over wall and CPU time.
struct Clock(Instant, f64);

impl Clock {
    fn start() -> Self {
        Clock(Instant::now(), cpu_seconds())
    }

    fn wall(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }

    /// "W s wall, C s CPU".
    fn show(&self) -> String {
        format!(
            "{:.2} s wall, {:.2} s CPU",
            self.wall(),
            cpu_seconds() - self.1
        )
    }
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}
