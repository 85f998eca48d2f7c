#!/usr/bin/env python3
"""Torch's side of scripts/sft_bench.sh: the same SFT steps in transformers + torch.

Usage: sft_bench_torch.py MODEL_DIR EXAMPLES.jsonl --batch 8 --steps 4 --threads 2 [--lora]
EXAMPLES.jsonl holds token ids ({"prompt": [...], "completion": [...]}) written by
`sft_bench --dump`; every step trains on the first BATCH of them, as sft_bench does. Each step: forward, cross-entropy on completion tokens only (labels -100
on the prompt), backward, AdamW (lr 1e-5 with cosine decay, no weight decay), as a user of transformers writes
it; f32. With --lora, peft adapters (r 8, alpha 16, q/k/v/o/gate/up/down) and AdamW over
them. The first step is a warm-up and not timed. Prints one JSON line.
"""

import argparse
import json
import math
import resource
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("examples")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lora", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    examples = [json.loads(line) for line in open(args.examples) if line.strip()]
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    if args.lora:
        from peft import LoraConfig, get_peft_model

        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)
    # The schedule sft_bench trains with: cosine decay from the first step (no warmup).
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / args.steps, 1.0))))
    timed_tokens, timed_seconds = 0, 0.0
    for step in range(args.steps):
        batch = examples[: args.batch]
        longest = max(len(e["prompt"]) + len(e["completion"]) for e in batch)
        ids, labels, mask = [], [], []
        for e in batch:
            seq = e["prompt"] + e["completion"]
            pad = longest - len(seq)
            ids.append(seq + [0] * pad)
            labels.append([-100] * len(e["prompt"]) + e["completion"] + [-100] * pad)
            mask.append([1] * len(seq) + [0] * pad)
        t0 = time.perf_counter()
        out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), labels=torch.tensor(labels))
        out.loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - t0
        tokens = sum(len(e["prompt"]) + len(e["completion"]) for e in batch)
        print(f"torch step {step} loss {out.loss.item():.4f} {tokens} tokens {seconds:.2f} s", flush=True)
        if step > 0:
            timed_tokens += tokens
            timed_seconds += seconds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": "torch-lora" if args.lora else "torch-full", "tokens_per_s": round(timed_tokens / timed_seconds, 1),
                      "s_per_step": round(timed_seconds / (args.steps - 1), 2), "peak_rss_mib": round(peak),
                      "torch": torch.__version__, "threads": args.threads}))


if __name__ == "__main__":
    main()
