#!/usr/bin/env bash
# The cheapest decisive check before a CycleQD run on a real LLM: do SmolLM2-135M-Instruct's
# experts stay small moves from the base, and does a task-arithmetic merge of two keep both
# skills? Fine-tunes one expert per skill (coding, os, db) with `cycleqd finetune`, prints the
# relative task-vector norms and cosines (`cycleqd similarity`), merges pairs of experts by task
# arithmetic (`cycleqd merge`) and scores everything on the test split (`cycleqd eval`).
# Every stage is skipped when its output exists, so a stopped run continues.
#
#   bash scripts/smollm2_mergeability.sh [OUT]      (default OUT: smollm2-mergeability)
#
# Settings (environment): STEPS (120), LR (2e-5), BATCH (8), TRAIN (600 problems per skill),
# TEST (24 problems per skill), LAMBDAS ("0.5 1.0"), PAIRS ("db:os db:coding os:coding").
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-smollm2-mergeability}"
steps="${STEPS:-120}"
lr="${LR:-2e-5}"
batch="${BATCH:-8}"
train="${TRAIN:-600}"
test="${TEST:-24}"
lambdas="${LAMBDAS:-0.5 1.0}"
pairs="${PAIRS:-db:os db:coding os:coding}"
bin="${CYCLEQD:-$here/target/release/cycleqd}"
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first (or set CYCLEQD)" >&2; exit 1; }
eval "$(bash "$here/scripts/fetch-test-models.sh")"
mkdir -p "$out"
cd "$out"

# The generators' per-skill problem streams, as the demo uses them (seed 0).
declare -A offset=([coding]=0 [os]=4294967296 [db]=8589934592)
tasks=()
for skill in coding os db; do
  tasks+=(--task "gen-$skill:split=test,difficulty=mixed,count=$test,seed=${offset[$skill]}")
done

[ -d base ] || "$bin" convert "$CYCLEQD_SMOLLM2_GGUF" base
for skill in coding os db; do
  if [ ! -d "expert-$skill" ]; then
    "$bin" finetune base --out "expert-$skill" --resume \
      --task "gen-$skill:split=train,difficulty=mixed,count=$train,seed=${offset[$skill]}" \
      --steps "$steps" --batch-size "$batch" --lr "$lr" --checkpoint-every 40
  fi
done

score() {
  [ -f "eval/$1/scores.json" ] || "$bin" eval "$1" "${tasks[@]}" --cache eval-cache --out "eval/$1" >/dev/null
  python3 - "$1" "eval/$1/scores.json" <<'EOF'
import json, sys
scores = json.load(open(sys.argv[2]))["scores"]
cells = " | ".join(f"{v:.3f}" for _, v in sorted(scores.items(), key=lambda kv: ["coding", "os", "db"].index(kv[0].split(":")[0][4:])))
print(f"| {sys.argv[1]} | {cells} |")
EOF
}

echo "== task vectors (relative norms, cosine) and spectrum similarity"
for pair in db:os db:coding os:coding; do
  a="${pair%%:*}"; b="${pair##*:}"
  echo "-- expert-$a vs expert-$b"
  "$bin" similarity "expert-$a" "expert-$b" --base base
done

for pair in $pairs; do
  a="${pair%%:*}"; b="${pair##*:}"
  for lambda in $lambdas; do
    name="ta-$a-$b-$lambda"
    if [ ! -d "$name" ]; then
      cat > "$name.yml" <<EOF
merge_method: task_arithmetic
base_model: base
models:
  - model: expert-$a
    parameters: {weight: 1.0}
  - model: expert-$b
    parameters: {weight: 1.0}
parameters: {lambda: $lambda}
dtype: float32
EOF
      "$bin" merge "$name.yml" "$name"
    fi
  done
done

echo "== test split, $test problems per skill"
echo "| model | coding | os | db |"
echo "|---|---:|---:|---:|"
score base
for skill in coding os db; do score "expert-$skill"; done
for pair in $pairs; do
  a="${pair%%:*}"; b="${pair##*:}"
  for lambda in $lambdas; do score "ta-$a-$b-$lambda"; done
done
