#!/usr/bin/env bash
# The README's results tables: a demo for several seeds, then mean and spread.
#
#   bash scripts/demo_seeds.sh [OUT_ROOT] [SEEDS...]     (default: demo-seeds, 0 1 2)
#       the tiny demo, in full, per seed: OUT_ROOT/seed-S (models and searches)
#   bash scripts/demo_seeds.sh --base smollm2 [OUT_ROOT] [SEEDS...]
#                                                   (default: demo-smollm2-seeds, 0 1)
#       the SmolLM2 demo: its models and problems are built once (seed 0) in OUT_ROOT and
#       each SEED is a search seed (`cycleqd demo --search-seed`): the spread is the
#       searches' own; seed S's tables are in OUT_ROOT (S = 0) or OUT_ROOT/search-seed-S
#
# Logs go to OUT_ROOT/seed-S.log (cached: rerunning only reads results back, logged to
# OUT_ROOT/seed-S.rerun.log); the combined table is written to OUT_ROOT/table.md and printed.
set -euo pipefail
cd "$(dirname "$0")/.."
base=tiny
if [ "${1:-}" = "--base" ]; then
    base=$2
    shift 2
fi
case $base in
    tiny) root=${1:-demo-seeds} ;;
    smollm2) root=${1:-demo-smollm2-seeds} ;;
    *) echo "unknown --base $base: expected tiny or smollm2" >&2; exit 2 ;;
esac
shift || true
seeds=("$@")
if [ ${#seeds[@]} -eq 0 ]; then
    if [ "$base" = tiny ]; then seeds=(0 1 2); else seeds=(0 1); fi
fi
cargo build --release --locked -p cycleqd
bin="${CARGO_TARGET_DIR:-target}/release/cycleqd"
mkdir -p "$root"
files=()
for seed in "${seeds[@]}"; do
    if [ "$base" = tiny ]; then
        dir="$root/seed-$seed"
        args=(--seed "$seed" --out "$dir")
    else
        dir="$root"
        [ "$seed" = 0 ] || dir="$root/search-seed-$seed"
        args=(--base smollm2 --search-seed "$seed" --out "$root")
    fi
    # A finished seed's log holds its timings (scripts/demo_times.py reads them): a rerun,
    # which only reads results back, logs beside it instead of over it.
    log="$root/seed-$seed.log"
    [ -f "$dir/demo-results.json" ] && log="$root/seed-$seed.rerun.log"
    start=$(date +%s)
    "$bin" demo "${args[@]}" > "$log" 2>&1 || {
        tail -n 20 "$log" >&2
        exit 1
    }
    echo "seed $seed: $(( $(date +%s) - start )) s (log: $log)"
    files+=("$dir/demo-results.json")
done
python3 scripts/demo_table.py "${files[@]}" | tee "$root/table.md"
