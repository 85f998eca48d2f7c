#!/usr/bin/env bash
# Kills an `evolve` run with SIGKILL mid-run, resumes it, and checks that its archives and
# results equal those of an uninterrupted run of the same config and seed.
#
#   bash scripts/evolve_kill_resume.sh CYCLEQD_BIN REFERENCE_RUN_DIR [KILL_AFTER_GENERATIONS]
#
# REFERENCE_RUN_DIR is a finished run (e.g. demo-quick-out/runs/cycleqd from
# `cycleqd demo --quick`). The killed run gets its own folder and its own evaluation cache,
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
journal="$run/qd/journal.jsonl"
# Wait until the journal holds the seeds and KILL_AFTER results (or the run ends first).
while kill -0 "$pid" 2>/dev/null; do
    lines=0
    [ -f "$journal" ] && lines=$(wc -l < "$journal")
    if [ "$lines" -ge $((kill_after + 1)) ]; then
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
echo "killed with SIGKILL after $((done_before - 1)) journaled generations"

"$bin" evolve --resume "$run" > "$work/resumed.log" 2>&1 || {
    tail -n 20 "$work/resumed.log" >&2
    exit 1
}
grep "resumed:" "$work/resumed.log" || true

for file in archives.json results.json picks.json; do
    if ! cmp -s "$reference/$file" "$run/$file"; then
        echo "FAIL: $file of the resumed run differs from the uninterrupted run's" >&2
        diff <(head -c 4000 "$reference/$file") <(head -c 4000 "$run/$file") >&2 || true
        exit 1
    fi
done
echo "PASS: the resumed run's archives, picks and results equal the uninterrupted run's"
