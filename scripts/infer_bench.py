#!/usr/bin/env python3
"""Transformers' side of scripts/infer_bench.sh: greedy `generate` on a JSONL of prompts.

Usage: infer_bench.py MODEL_DIR PROMPTS.jsonl --batch-size 64 --max-new-tokens 128 --threads 2
Prints one JSON line: generated tokens (up to and including EOS, padding excluded), seconds of
generation (tokenization and loading excluded) and tokens per second.
"""

import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("prompts")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    prompts = [json.loads(line)["prompt"] for line in open(args.prompts) if line.strip()]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    tokens = 0
    seconds = 0.0
    for start in range(0, len(prompts), args.batch_size):
        batch = tokenizer(prompts[start : start + args.batch_size], return_tensors="pt", padding=True)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=args.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        seconds += time.perf_counter() - t0
        for row in out[:, batch["input_ids"].shape[1] :].tolist():
            n = 0
            for t in row:
                n += 1
                if t in eos:
                    break
            tokens += n
    print(json.dumps({"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
