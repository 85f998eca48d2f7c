#!/usr/bin/env python3
"""Writes crates/weights/tests/fixtures/gguf/quant_golden.json: random but valid ggml blocks of
every type the Rust GGUF reader dequantizes, with the f32 values gguf-py (llama.cpp's Python
package, `gguf.quants.dequantize`) gives for them.

Blocks are random bytes whose f16 scale fields are overwritten with finite values (normal,
negative, zero and subnormal ones), so every bit pattern of the quantized fields is exercised.
Q8_K is absent because gguf-py has no dequantizer for it; the Rust unit tests cover it.

Needs: pip install gguf numpy   (written against gguf 0.19.0)
Run:   python3 scripts/gguf_quant_fixture.py [OUT.json]
"""

import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf.quants import dequantize

OUT = Path(__file__).resolve().parent.parent / "crates/weights/tests/fixtures/gguf/quant_golden.json"

# Byte offsets of the f16 scale fields inside one block, from ggml's block structs.
F16_FIELDS = {
    "Q4_0": [0],
    "Q4_1": [0, 2],
    "Q5_0": [0],
    "Q5_1": [0, 2],
    "Q8_0": [0],
    "Q2_K": [80, 82],
    "Q3_K": [108],
    "Q4_K": [0, 2],
    "Q5_K": [0, 2],
    "Q6_K": [208],
}
PLAIN = ["F32", "F16", "BF16"]
BLOCKS_32 = 4  # blocks for the 32-element types
BLOCKS_K = 3  # blocks for the 256-element k-quants
PLAIN_ELEMENTS = 64


def scale_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite f16 scales: mostly random magnitudes and signs, plus 0 and a subnormal."""
    values = (rng.standard_normal(n) * np.exp2(rng.integers(-12, 2, n))).astype(np.float16)
    values[0] = np.float16(0.0)
    if n > 1:
        values[1] = np.uint16(0x0003).view(np.float16)  # subnormal
    return values


def quant_case(rng: np.random.Generator, name: str) -> dict:
    qtype = GGMLQuantizationType[name]
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n_blocks = BLOCKS_K if block_size == 256 else BLOCKS_32
    blocks = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    offsets = F16_FIELDS[name]
    scales = scale_values(rng, n_blocks * len(offsets)).reshape(n_blocks, len(offsets))
    for b in range(n_blocks):
        for k, at in enumerate(offsets):
            blocks[b, at : at + 2] = np.frombuffer(scales[b, k].tobytes(), dtype=np.uint8)
    data = blocks.reshape(-1)
    expected = dequantize(data, qtype).astype(np.float32).reshape(-1)
    assert expected.size == n_blocks * block_size and np.isfinite(expected).all()
    return case(name, qtype, data, expected)


def plain_case(rng: np.random.Generator, name: str) -> dict:
    qtype = GGMLQuantizationType[name]
    values = (rng.standard_normal(PLAIN_ELEMENTS) * 3).astype(np.float32)
    if name == "F32":
        data = values.view(np.uint8)
    elif name == "F16":
        data = values.astype(np.float16).view(np.uint8)
    else:  # BF16: the top half of random f32s
        data = (values.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    expected = dequantize(data, qtype).astype(np.float32).reshape(-1)
    return case(name, qtype, data, expected)


def case(name: str, qtype: GGMLQuantizationType, data: np.ndarray, expected: np.ndarray) -> dict:
    return {
        "type": name,
        "type_id": int(qtype),
        "data_hex": data.tobytes().hex(),
        "expected_f32_le_hex": expected.astype("<f4").tobytes().hex(),
    }


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    rng = np.random.default_rng(20240611)
    cases = [plain_case(rng, name) for name in PLAIN] + [quant_case(rng, name) for name in F16_FIELDS]
    fixture = {
        "generator": f"scripts/gguf_quant_fixture.py with gguf {version('gguf')}, numpy {np.__version__}",
        "cases": cases,
    }
    out.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
