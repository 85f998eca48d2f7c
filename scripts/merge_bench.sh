#!/usr/bin/env bash
# Benchmark: `cycleqd merge` against mergekit's `mergekit-yaml` (PyPI mergekit 0.1.5), one after
# the other on the same machine, over random 1.1B-parameter Llama models in bf16
# (TinyLlama-1.1B's shape): task_arithmetic and ties over a base and two experts, della and
# sce over a base and three experts (4 x 1.1B). Reports wall time and peak RSS from
# /usr/bin/time -v; every run starts with the inputs in the page cache.
#
#   pip install mergekit==0.1.5
#   bash scripts/merge_bench.sh            # models and outputs under /tmp/merge-bench
#
# Env: MERGE_BENCH_DIR (default /tmp/merge-bench), MERGE_BENCH_KEEP=1 keeps the models
# (about 2.2 GB each) for another run; MERGE_BENCH_METHODS (default "task_arithmetic ties";
# any of task_arithmetic ties della sce).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${MERGE_BENCH_DIR:-/tmp/merge-bench}"
methods="${MERGE_BENCH_METHODS:-task_arithmetic ties}"
target="${CARGO_TARGET_DIR:-target}"
command -v mergekit-yaml >/dev/null || { echo "mergekit-yaml not found: pip install mergekit==0.1.5" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found: apt-get install time" >&2; exit 1; }

cargo build --release --quiet -p cycleqd
cargo build --release --quiet -p cycleqd-merge --example random_llama
mkdir -p "$dir"
models="base:1 e1:2 e2:3"
case " $methods " in *" della "*|*" sce "*) models="$models e3:4" ;; esac
for spec in $models; do
  name=${spec%%:*}
  [ -f "$dir/$name/config.json" ] || "$target/release/examples/random_llama" "$dir/$name" "${spec##*:}" tinyllama-1.1b bf16
done

cat > "$dir/task_arithmetic.yaml" <<YAML
models:
  - model: $dir/e1
    parameters: {weight: 0.6}
  - model: $dir/e2
    parameters: {weight: 0.4}
base_model: $dir/base
merge_method: task_arithmetic
dtype: bfloat16
YAML
cat > "$dir/ties.yaml" <<YAML
models:
  - model: $dir/e1
    parameters: {weight: 0.6, density: 0.5}
  - model: $dir/e2
    parameters: {weight: 0.4, density: 0.5}
base_model: $dir/base
merge_method: ties
parameters: {normalize: true}
dtype: bfloat16
YAML

cat > "$dir/della.yaml" <<YAML
models:
  - model: $dir/e1
    parameters: {weight: 0.5, density: 0.5, epsilon: 0.1}
  - model: $dir/e2
    parameters: {weight: 0.3, density: 0.5, epsilon: 0.1}
  - model: $dir/e3
    parameters: {weight: 0.2, density: 0.5, epsilon: 0.1}
base_model: $dir/base
merge_method: della
parameters: {normalize: true, lambda: 1.0}
dtype: bfloat16
YAML
cat > "$dir/sce.yaml" <<YAML
models:
  - model: $dir/e1
  - model: $dir/e2
  - model: $dir/e3
base_model: $dir/base
merge_method: sce
parameters: {select_topk: 0.5}
dtype: bfloat16
YAML

# Runs a command under /usr/bin/time -v; prints "seconds max_rss_kib".
measure() {
  local log="$dir/time.log"
  /usr/bin/time -v "$@" >"$dir/run.out" 2>"$log" || { cat "$dir/run.out" "$log" >&2; exit 1; }
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}' | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  rss=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
  echo "$wall $rss"
}

echo "date: $(date -u +%Y-%m-%dT%H:%MZ); nproc: $(nproc); $(lscpu | grep 'Model name' | sed 's/  */ /g')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %-10s %10s %14s\n' method tool wall_s peak_rss_MiB
for method in $methods; do
  for tool in cycleqd mergekit; do
    rm -rf "$dir/out"
    sync
    # Both tools start with the inputs in the page cache, whichever ran before.
    for spec in $models; do cat "$dir/${spec%%:*}"/*.safetensors >/dev/null; done
    if [ "$tool" = cycleqd ]; then
      read -r wall rss < <(measure "$target/release/cycleqd" merge "$dir/$method.yaml" "$dir/out")
    else
      read -r wall rss < <(measure mergekit-yaml "$dir/$method.yaml" "$dir/out" --copy-tokenizer --no-write-model-card)
    fi
    printf '%-16s %-10s %10.1f %14.0f\n' "$method" "$tool" "$wall" "$((rss / 1024))"
  done
done
rm -rf "$dir/out"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "${MERGE_BENCH_KEEP:-}" ]; then rm -rf "$dir"; fi
