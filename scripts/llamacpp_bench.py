#!/usr/bin/env python3
"""llama.cpp's side of the single-stream generation benchmark (scripts/infer_bench.sh).

Usage: llamacpp_bench.py MODEL.gguf PROMPTS.jsonl --count 8 --max-new-tokens 128 --threads 2
Greedy completion of the first COUNT prompts one after another through llama-cpp-python (the
PyPI source build of llama.cpp), as its users call it. Prints one JSON line: generated tokens,
seconds (prompt processing included, loading excluded) and tokens per second.
"""

import argparse
import json
import time

from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("prompts")
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    prompts = [json.loads(line)["prompt"] for line in open(args.prompts) if line.strip()][: args.count]
    llm = Llama(model_path=args.model, n_ctx=512, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    tokens, seconds = 0, 0.0
    for prompt in prompts:
        t0 = time.perf_counter()
        out = llm.create_completion(prompt, max_tokens=args.max_new_tokens, temperature=0.0, top_k=1)
        seconds += time.perf_counter() - t0
        tokens += out["usage"]["completion_tokens"]
    import llama_cpp
    print(json.dumps({"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds, "llama_cpp_python": llama_cpp.__version__}))


if __name__ == "__main__":
    main()
