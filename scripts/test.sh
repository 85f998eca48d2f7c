#!/usr/bin/env bash
# The project's whole test command: formatting, lints, and every test (numeric work in release).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/fetch-test-models.sh)"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --release --locked
