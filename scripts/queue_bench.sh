#!/usr/bin/env bash
# Wall time of the quick demo's CycleQD run (its config, a fresh evaluation cache, 2 jobs in
# flight) evaluated by WORKERS `cycleqd worker` processes on this machine, through a private
# redis-server. Prints one line: workers, seconds.
#
#   bash scripts/queue_bench.sh CYCLEQD_BIN DEMO_OUT WORKERS     (0: in-process, no queue)
set -euo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
demo=$(realpath "$2")
workers=$3
work=$(mktemp -d)
eval "$(bash "$scripts/redis_start.sh")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  bash "$scripts/redis_start.sh" --stop
  rm -rf "$work"
}
trap cleanup EXIT
sed -e "s|^out = .*|out = \"$work/run\"|" \
    -e "s|^cache = .*|cache = \"$work/run-cache\"|" \
    -e "s|^in_flight = .*|in_flight = 2|" \
    "$demo/runs/cycleqd/run.toml" > "$work/run.toml"
if [ "$workers" -gt 0 ]; then
  sed -i "/^\[evaluation\]/a queue = \"$CYCLEQD_REDIS_URL\"" "$work/run.toml"
fi
for w in $(seq 1 "$workers"); do  # none when 0
  "$bin" worker --queue "$CYCLEQD_REDIS_URL" --name "w$w" --models "$demo/models" "$demo/basis" \
    --cache "$work/w$w-cache" > "$work/w$w.log" 2>&1 &
  pids+=($!)
done
start=$(date +%s.%N)
"$bin" evolve "$work/run.toml" > "$work/run.log" 2>&1
end=$(date +%s.%N)
echo "$workers workers: $(python3 -c "print(f'{$end - $start:.1f}')") s"
