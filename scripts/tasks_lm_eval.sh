#!/usr/bin/env bash
# Runs lm-evaluation-harness on a Hugging Face model folder and prints its scores as one
# JSON object on standard output ({"TASK": {"METRIC,FILTER": value, ...}, ...}); everything
# lm-eval itself prints goes to standard error. For cycleqd's external tasks:
#   bash scripts/tasks_lm_eval.sh MODEL_DIR TASKS [more lm_eval arguments...]
# TASKS is lm-eval's comma-separated task list. $LM_EVAL overrides the lm_eval command.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 MODEL_DIR TASKS [lm_eval arguments...]" >&2
  exit 2
fi
model="$1"
tasks="$2"
shift 2
[ -f "$model/config.json" ] || { echo "$model is not a Hugging Face model folder (no config.json)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"${LM_EVAL:-lm_eval}" --model hf --model_args "pretrained=$model,dtype=auto" \
  --tasks "$tasks" --batch_size auto --output_path "$out" "$@" >&2
results=$(find "$out" -name 'results*.json' -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
[ -n "$results" ] || { echo "lm_eval wrote no results*.json under $out" >&2; exit 1; }
python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["results"]))' "$results"
