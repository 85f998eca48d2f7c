#!/usr/bin/env bash
# SFT throughput of SmolLM2-135M-Instruct, cycleqd vs transformers + torch, side by side in one
# run: the same 8 examples of 100 tokens (50 prompt, 50 completion), batch 8, f32, AdamW,
# $THREADS threads (default 2). Rows: cycleqd full fine-tune, cycleqd LoRA (r 8, all seven
# projections), cycleqd through candle's autograd (the trainer before the CPU backward),
# torch full, torch + peft LoRA. Needs transformers 5, torch and peft from PyPI.
# Usage: bash scripts/sft_bench.sh   (STEPS=N for more timed steps; the first is a warm-up)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/fetch-test-models.sh)"
threads="${THREADS:-2}"
steps="${STEPS:-4}"
work="${CYCLEQD_BENCH_DIR:-${TMPDIR:-/tmp}/cycleqd-sft-bench}"
mkdir -p "$work"
cargo build --release -p cycleqd --bin cycleqd >&2
cargo build --release -p cycleqd-infer --example sft_bench >&2
target="${CARGO_TARGET_DIR:-target}/release"
model="$work/smollm2-135m"
[ -f "$model/config.json" ] || "$target/cycleqd" convert "$CYCLEQD_SMOLLM2_GGUF" "$model" >&2
# Text to cut the examples from: the project's own docs (real prose, tokenized by the model).
cat README.md docs/*.md > "$work/text.txt"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(uptime | sed 's/.*load/load/')"
echo "machine: $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/Model name: *//'), threads used: $threads"
bench() {
  RAYON_NUM_THREADS="$threads" "$target/examples/sft_bench" "$model" "$work/text.txt" \
    --steps "$steps" --batch 8 --len 100 --dump "$work/examples.jsonl" "$@" 2>"$work/log-$2.txt"
}
bench --mode full
bench --mode lora
bench --mode autograd
python3 scripts/sft_bench_torch.py "$model" "$work/examples.jsonl" --batch 8 --steps "$steps" \
  --threads "$threads" 2>/dev/null | tee "$work/log-torch-full.txt" | tail -n 1
python3 scripts/sft_bench_torch.py "$model" "$work/examples.jsonl" --batch 8 --steps "$steps" \
  --threads "$threads" --lora 2>/dev/null | tee "$work/log-torch-lora.txt" | tail -n 1
echo "per-step losses (cycleqd full vs torch full, same examples and schedule):"
paste <(grep -o 'loss [0-9.]*' "$work/log-full.txt") <(grep -o 'loss [0-9.]*' "$work/log-torch-full.txt")
echo "after: $(uptime | sed 's/.*load/load/')"
