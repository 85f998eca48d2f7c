#!/usr/bin/env bash
# Kills an `evolve` run with SIGKILL mid-run, resumes it, and checks that its archives (or,
# for the CMA-ES and NSGA-II merge-weight searches, its population, optimiser state and
# statistics) and results equal those of an uninterrupted run of the same config and seed.
#
#   bash scripts/evolve_kill_resume.sh CYCLEQD_BIN REFERENCE_RUN_DIR [KILL_AFTER_GENERATIONS]
#
# REFERENCE_RUN_DIR is a finished run (e.g. demo-quick-out/runs/cycleqd, runs/cma-es or
# runs/nsga2 from `cycleqd demo --quick`). The killed run gets its own folder and its own evaluation cache,
# so every score it uses is computed again, before and after the kill (without a `cache`
# line the cache defaults to the run's own folder, which is fresh too).
set -euo pipefail

bin=$1
reference=$(realpath "$2")
kill_after=${3:-12}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run="$work/killed"
sed -e "s|^out = .*|out = \"$run\"|" \
    -e "s|^cache = .*|cache = \"$work/eval-cache\"|" \
    "$reference/run.toml" > "$work/run.toml"

"$bin" evolve "$work/run.toml" > "$work/first.log" 2>&1 &
pid=$!
if grep -q '^method = "\(cma-es\|nsga2\)"' "$work/run.toml"; then
    # One line per evaluation.
    journal="$run/search/evaluations.jsonl"
    header=0
    compared=(search/population.json search/state.json search/stats.csv results.json picks.json)
else
    # The seeds' line, then one line per generation.
    journal="$run/qd/journal.jsonl"
    header=1
    compared=(archives.json results.json picks.json)
fi
# Wait until the journal holds KILL_AFTER results (or the run ends first).
while kill -0 "$pid" 2>/dev/null; do
    lines=0
    [ -f "$journal" ] && lines=$(wc -l < "$journal")
    if [ "$lines" -ge $((kill_after + header)) ]; then
        kill -9 "$pid"
        break
    fi
    sleep 0.2
done
{ wait "$pid"; } 2>/dev/null && status=0 || status=$?
if [ "$status" -ne 137 ]; then
    echo "the run ended with status $status before it could be killed:" >&2
    tail -n 20 "$work/first.log" >&2
    exit 1
fi
done_before=$(wc -l < "$journal")
echo "killed with SIGKILL after $((done_before - header)) journaled results"

"$bin" evolve --resume "$run" > "$work/resumed.log" 2>&1 || {
    tail -n 20 "$work/resumed.log" >&2
    exit 1
}
grep "resumed:" "$work/resumed.log" || true

for file in "${compared[@]}"; do
    if ! cmp -s "$reference/$file" "$run/$file"; then
        echo "FAIL: $file of the resumed run differs from the uninterrupted run's" >&2
        diff <(head -c 4000 "$reference/$file") <(head -c 4000 "$run/$file") >&2 || true
        exit 1
    fi
done
echo "PASS: the resumed run's ${compared[*]} equal the uninterrupted run's"
