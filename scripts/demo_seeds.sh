#!/usr/bin/env bash
# The README's results table: the full demo for seeds 0, 1 and 2, then mean and spread.
#
#   bash scripts/demo_seeds.sh [OUT_ROOT] [SEEDS...]     (default: demo-seeds, 0 1 2)
#
# Each seed's demo lives in OUT_ROOT/seed-S, its log in OUT_ROOT/seed-S.log (cached: rerunning
# only reads results back, logged to OUT_ROOT/seed-S.rerun.log);
# the combined table is written to OUT_ROOT/table.md and printed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-demo-seeds}
shift || true
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
cargo build --release --locked -p cycleqd
bin="${CARGO_TARGET_DIR:-target}/release/cycleqd"
mkdir -p "$root"
files=()
for seed in "${seeds[@]}"; do
    # A finished seed's log holds its timings (scripts/demo_times.py reads them): a rerun,
    # which only reads results back, logs beside it instead of over it.
    log="$root/seed-$seed.log"
    [ -f "$root/seed-$seed/demo-results.json" ] && log="$root/seed-$seed.rerun.log"
    start=$(date +%s)
    "$bin" demo --seed "$seed" --out "$root/seed-$seed" > "$log" 2>&1 || {
        tail -n 20 "$log" >&2
        exit 1
    }
    echo "seed $seed: $(( $(date +%s) - start )) s (log: $log)"
    files+=("$root/seed-$seed/demo-results.json")
done
python3 scripts/demo_table.py "${files[@]}" | tee "$root/table.md"
