#!/usr/bin/env bash
# The evaluation queue end to end against a private redis-server on 127.0.0.1 (started here,
# stopped after): a CycleQD run evaluated by `cycleqd worker` processes must leave the same
# journal, archives, picks and results as the same run evaluated in-process, although on
# the way
#   - a worker whose models differ (it lacks the run's base) refuses a job, which another
#     worker then does;
#   - garbage on the jobs stream is set aside (dead-letter stream, with reasons);
#   - one of three workers is killed with SIGKILL in the middle of a job (its job is
#     re-delivered after the lease);
#   - redis-server is killed with SIGKILL and restarted on its append-only file;
#   - the evolve process is killed with SIGKILL and the run resumed (it re-attaches to its
#     outstanding jobs);
# and a CMA-ES run evaluated by one worker at a time equals the in-process one, although its
# first worker is stopped by Ctrl-C in the middle of a job (it finishes the job first).
#
#   bash scripts/queue_test.sh CYCLEQD_BIN DEMO_OUT [GENERATIONS]
#
# DEMO_OUT is the output of `cycleqd demo --quick` (its models, basis and CycleQD run).
set -euo pipefail

scripts=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
demo=$(realpath "$2")
generations=${3:-12}
reference="$demo/runs/cycleqd"
work=$(mktemp -d)
eval "$(bash "$scripts/redis_start.sh")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  bash "$scripts/redis_start.sh" --stop
  rm -rf "$work"
}
trap cleanup EXIT
# QUEUE_TEST_KEEP=DIR keeps the logs there.
keep_logs() { if [ -n "${QUEUE_TEST_KEEP:-}" ]; then mkdir -p "$QUEUE_TEST_KEEP"; cp "$work"/*.log "$QUEUE_TEST_KEEP"/; fi; }
url="${CYCLEQD_REDIS_URL%/*}/7"
cli() { redis-cli -u "$url" --no-auth-warning "$@"; }

fail() {
  keep_logs
  echo "queue test: $*" >&2
  for log in "$work"/*.log; do echo "--- $log" >&2; tail -n 30 "$log" >&2; done
  exit 1
}

# `config REFERENCE OUT QUEUE GENERATIONS`: the REFERENCE run's config with 3 jobs in flight,
# its own folder and evaluation cache (so every score is computed again), evaluated on
# QUEUE unless empty, with GENERATIONS unless empty.
config() {
  local queue=() generations=()
  if [ -n "$3" ]; then queue=(-e "/^\[evaluation\]/a queue = \"$3\""); fi
  if [ -n "$4" ]; then generations=(-e "s|^generations = .*|generations = $4|"); fi
  sed -e "s|^out = .*|out = \"$2\"|" \
      -e "s|^cache = .*|cache = \"$2-cache\"|" \
      -e "s|^in_flight = .*|in_flight = 3|" \
      "${generations[@]}" "${queue[@]}" "$1/run.toml"
}

# `wait_for WHAT SECONDS TEST...`: waits until the command succeeds.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq 1 $((seconds * 10))); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  fail "timed out waiting for $what"
}
results_at_least() { [ -f "$1/qd/journal.jsonl" ] && [ "$(wc -l < "$1/qd/journal.jsonl")" -ge $(($2 + 1)) ]; }
in_job() { tail -n 1 "$work/$1.log" | grep -q "took job"; }

# The in-process run.
config "$reference" "$work/local" "" "$generations" > "$work/local.toml"
"$bin" evolve "$work/local.toml" > "$work/local-run.log" 2>&1 || fail "the local run failed"

# The queued run.
config "$reference" "$work/queued" "$url" "$generations" > "$work/queued.toml"
grep -q "^queue = " "$work/queued.toml"
# A worker that has an expert but not the run's base: it must refuse.
expert=$(sed -n 's/^expert = "\(.*\)"$/\1/p' "$reference/run.toml" | sed -n 1p)
"$bin" worker --queue "$url" --name odd --models "$expert" --cache "$work/odd-cache" \
  --lease-secs 3 > "$work/odd.log" 2>&1 &
pids+=($!)
odd=$!
wait_for "the odd worker" 60 grep -q "waiting for jobs" "$work/odd.log"
cli XADD cycleqd:eval:jobs '*' job '{"schema":1,' > /dev/null
cli XADD cycleqd:eval:jobs '*' task celery.ping args '[]' > /dev/null
"$bin" evolve "$work/queued.toml" > "$work/queued-run.log" 2>&1 &
pids+=($!)
run=$!
wait_for "the odd worker's refusal" 300 grep -q "refused job" "$work/odd.log"
kill -INT "$odd"
wait "$odd" || fail "the odd worker did not stop cleanly on SIGINT"
for w in 1 2 3; do
  "$bin" worker --queue "$url" --name "w$w" --models "$demo/models" "$demo/basis" \
    --cache "$work/w$w-cache" --lease-secs 3 > "$work/w$w.log" 2>&1 &
  pids+=($!)
  eval "w${w}_pid=$!"
done
wait_for "3 results" 600 results_at_least "$work/queued" 3
wait_for "worker w1 in a job" 300 in_job w1
kill -9 "$w1_pid"
wait "$w1_pid" 2>/dev/null || true
echo "queue test: killed worker w1 in a job" >&2
wait_for "6 results" 600 results_at_least "$work/queued" 6
bash "$scripts/redis_start.sh" --restart
echo "queue test: restarted redis-server (SIGKILL, then the AOF)" >&2
wait_for "9 results" 600 results_at_least "$work/queued" 9
kill -9 "$run"
wait "$run" 2>/dev/null || true
echo "queue test: killed the run; resuming" >&2
"$bin" evolve --resume "$work/queued" > "$work/resumed-run.log" 2>&1 || fail "the resumed run failed"

for f in qd/journal.jsonl archives.json picks.json results.json; do
  cmp "$work/local/$f" "$work/queued/$f" || fail "$f differs between the local and the queued run"
done
grep -q "no model folder under" "$work/odd.log" || fail "the odd worker's refusal does not say why"
grep -q "refused by odd" "$work/queued-run.log" || fail "the run did not report the refusal"
# (grep reads the files itself: with pipefail, `cat | grep -q` fails when grep stops early.)
grep -q "(re-delivered)" "$work/w2.log" "$work/w3.log" ||
  fail "no worker took the killed worker's job again"
[ "$(cli XLEN cycleqd:eval:dead)" -ge 2 ] || fail "the garbage was not set aside"
cli XRANGE cycleqd:eval:dead - + > "$work/dead.txt"
grep -q "is not JSON" "$work/dead.txt" || fail "no reason for the garbage"
grep -q "set aside entry" "$work"/*.log || fail "no worker logged the garbage"
for w in 2 3; do
  pid_var="w${w}_pid"
  kill -INT "${!pid_var}"
  wait "${!pid_var}" || fail "worker w$w did not stop cleanly on SIGINT"
  grep -q "stopped after" "$work/w$w.log" || fail "worker w$w did not say it stopped"
done

# A CMA-ES run on one worker at a time (a new database: a fresh queue) equals the demo's
# in-process run of the same config. The first worker gets Ctrl-C in the middle of a job:
# it finishes that job, then stops; a second one takes over.
url="${CYCLEQD_REDIS_URL%/*}/8"
config "$demo/runs/cma-es" "$work/cma-es" "$url" "" > "$work/cma-es.toml"
solo() {
  "$bin" worker --queue "$url" --name "$1" --models "$demo/models" "$demo/basis" \
    --cache "$work/$1-cache" > "$work/$1.log" 2>&1 &
  pids+=($!)
}
solo solo1
solo1=$!
"$bin" evolve "$work/cma-es.toml" > "$work/cma-es-run.log" 2>&1 &
pids+=($!)
cma=$!
done_at_least() { [ "$(grep -c "done in" "$work/$1.log")" -ge "$2" ]; }
wait_for "3 CMA-ES evaluations" 600 done_at_least solo1 3
wait_for "worker solo1 in a job" 300 in_job solo1
taken=$(tail -n 1 "$work/solo1.log" | sed -n 's/.*took job \([0-9a-f]*\).*/\1/p')
kill -INT "$solo1"
wait "$solo1" || fail "worker solo1 did not stop cleanly on SIGINT"
tail -n 2 "$work/solo1.log" | sed -n 1p | grep -q "job $taken done in" ||
  fail "worker solo1 did not finish job $taken before stopping on SIGINT"
solo solo2
solo2=$!
wait "$cma" || fail "the queued CMA-ES run failed"
for f in search/evaluations.jsonl search/population.json search/state.json search/stats.csv picks.json results.json; do
  cmp "$demo/runs/cma-es/$f" "$work/cma-es/$f" || fail "$f differs between the local and the queued CMA-ES run"
done
kill -INT "$solo2"
wait "$solo2" || fail "worker solo2 did not stop cleanly on SIGINT"
[ "$(cat "$work/solo1.log" "$work/solo2.log" | grep -c "done in")" -ge 19 ] ||
  fail "the workers did not do the CMA-ES run's evaluations"

keep_logs
echo "queue test: the queued run (1 refusing worker, 3 workers, one killed, redis restarted, run killed and resumed) equals the local run; a CMA-ES run on one worker at a time (the first stopped by Ctrl-C after its job) equals the local one"
