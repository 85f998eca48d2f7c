#!/usr/bin/env python3
"""Runs `cycleqd merge` on every golden case and loads each output with Hugging Face
transformers: the model must load with no missing or unexpected weights, with the layer count
its config.json states, hold exactly the tensors cycleqd wrote, and run a forward pass to
finite logits. Also prints the largest difference from mergekit's output per case.

Run by developers (not CI), after building the binary and `pip install "transformers>=5,<6"`:

    cargo build --release -p cycleqd
    python3 scripts/merge_check_transformers.py [--cycleqd target/release/cycleqd]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "crates" / "merge" / "tests" / "fixtures" / "golden"


def check(cycleqd, case, work):
    out = Path(work) / case
    run = subprocess.run(
        [cycleqd, "merge", f"cases/{case}.yaml", str(out)],
        cwd=GOLDEN, capture_output=True, text=True,
    )
    if run.returncode != 0:
        return f"cycleqd merge failed: {run.stderr.strip()}"
    ours = {}
    for shard in sorted(out.glob("*.safetensors")):
        ours.update(load_file(shard))
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    problems = [f"{k}: {v}" for k, v in info.items() if v]
    if problems:
        return "; ".join(problems)
    layers = json.loads((out / "config.json").read_text())["num_hidden_layers"]
    if len(model.model.layers) != layers:
        return f"{len(model.model.layers)} layers built, config says {layers}"
    state = model.state_dict()
    for name, tensor in ours.items():
        if not torch.equal(state[name].to(tensor.dtype), tensor):
            return f"{name} differs from what cycleqd wrote"
    with torch.no_grad():
        logits = model(torch.tensor([[1, 5, 9, 2]])).logits
    if not torch.isfinite(logits).all():
        return "non-finite logits"
    theirs = load_file(GOLDEN / "expected" / f"{case}.safetensors")
    diff = max((ours[k].float() - theirs[k].float()).abs().max().item() for k in theirs)
    return f"ok ({layers} layers, {ours[next(iter(ours))].dtype}, max |cycleqd - mergekit| {diff:.3g})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycleqd", default=str(ROOT / "target" / "release" / "cycleqd"))
    args = parser.parse_args()
    cases = json.loads((GOLDEN / "manifest.json").read_text())["cases"]
    failed = 0
    with tempfile.TemporaryDirectory() as work:
        for case in cases:
            result = check(str(Path(args.cycleqd).resolve()), case, work)
            failed += not result.startswith("ok")
            print(f"{case}: {result}")
    print(f"{len(cases) - failed} of {len(cases)} outputs load in transformers")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
