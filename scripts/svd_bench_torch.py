#!/usr/bin/env python3
"""Times torch.linalg.svd(full_matrices=False) on the task-vector matrices the Rust benchmark
decomposes: every 2-D tensor of (expert - base) in f32, read from the same safetensors folders.

    python3 scripts/svd_bench_torch.py WORK_DIR [--threads 2] [--device cpu|cuda]

WORK_DIR is the folder `cargo run --release -p cycleqd-recipe --example svd_bench` filled
(base/, expert0/, expert1/). Prints the time of all SVDs (matrices already in memory, as in the
Rust "SVD only" line) and the worst relative reconstruction error.
"""
import argparse
import json
import pathlib
import time

import torch
from safetensors import safe_open


def tensors(folder: pathlib.Path) -> dict:
    index = folder / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    out = {}
    for name in files:
        with safe_open(str(folder / name), framework="pt") as f:
            for key in f.keys():
                out[key] = f.get_tensor(key)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=pathlib.Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--experts", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = tensors(args.work / "base")
    matrices = []
    for k in range(args.experts):
        expert = tensors(args.work / f"expert{k}")
        for name, b in base.items():
            if b.dim() == 2:
                matrices.append(expert[name].float() - b.float())
    matrices = [m.to(args.device) for m in matrices]
    # One small warm-up call: loads the LAPACK / cuSOLVER kernels.
    torch.linalg.svd(matrices[-1], full_matrices=False)
    if args.device != "cpu":
        torch.cuda.synchronize()
    start, cpu = time.perf_counter(), time.process_time()
    results = [torch.linalg.svd(m, full_matrices=False) for m in matrices]
    if args.device != "cpu":
        torch.cuda.synchronize()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    worst = 0.0
    for m, (u, s, vh) in zip(matrices, results):
        err = (torch.linalg.norm((u * s) @ vh - m) / torch.linalg.norm(m)).item()
        worst = max(worst, err)
    print(
        f"torch {torch.__version__} linalg.svd, {len(matrices)} matrices, device {args.device}, "
        f"{torch.get_num_threads()} threads: {elapsed:.2f} s wall, {cpu:.2f} s CPU; max rel. reconstruction error {worst:.2e}"
    )


if __name__ == "__main__":
    main()
