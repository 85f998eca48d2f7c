#!/usr/bin/env bash
# Times `cycleqd convert` of SmolLM2-135M-Instruct (Q4_1 GGUF) to a Hugging Face folder:
# wall time and peak RSS, for each output dtype, 3 runs each.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/fetch-test-models.sh)"
cargo build --release -p cycleqd --quiet
bin="${CARGO_TARGET_DIR:-target}/release/cycleqd"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for dtype in f32 bf16; do
  for run in 1 2 3; do
    /usr/bin/time -f "dtype=$dtype run=$run wall=%es peak_rss=%MKB" \
      "$bin" convert "$CYCLEQD_SMOLLM2_GGUF" "$out/$dtype-$run" --dtype "$dtype" 2>&1 | grep wall=
  done
done
