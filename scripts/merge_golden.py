#!/usr/bin/env python3
"""Builds the golden fixtures of `cycleqd merge`: tiny random Llama-shaped models, and
mergekit's output for every method mergekit has, on configs that exercise per-model weights,
densities, filters, gradients and slices.

Run by developers, not CI (CI reads only the committed fixtures):

    pip install mergekit==0.1.5
    python3 scripts/merge_golden.py

Writes crates/merge/tests/fixtures/golden/:
    models/{base,expert1,expert2,expert3,other}/   config.json + model.safetensors (f32)
    models/*_bf16/                                  the same models rounded to bf16
    cases/NAME.yaml                                 the mergekit config (paths relative to golden/)
    expected/NAME.safetensors                       mergekit's merged tensors
    expected/NAME.config.json                       mergekit's output config (slice cases)
    manifest.json                                   mergekit version, seed, and the case list

Experts are the base plus Gaussian noise (so task vectors are small and signs disagree);
`other` is an independent model (so SLERP takes its spherical branch). Every method added
after the first set has an f32 case and a `_bf16` twin: the bf16 models in, computed in f32
(`dtype: float32`, as cycleqd always computes), written as bf16 (`out_dtype: bfloat16`).
"""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "crates" / "merge" / "tests" / "fixtures" / "golden"
MERGEKIT_VERSION = "0.1.5"
SEED = 20250101

SHAPE = dict(vocab=64, hidden=32, intermediate=48, layers=2, heads=4, kv_heads=2)


def config_json():
    s = SHAPE
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": s["vocab"],
        "hidden_size": s["hidden"],
        "intermediate_size": s["intermediate"],
        "num_hidden_layers": s["layers"],
        "num_attention_heads": s["heads"],
        "num_key_value_heads": s["kv_heads"],
        "head_dim": s["hidden"] // s["heads"],
        "hidden_act": "silu",
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "attention_bias": False,
        "mlp_bias": False,
        "torch_dtype": "float32",
    }


def tensor_shapes():
    s = SHAPE
    h, i = s["hidden"], s["intermediate"]
    kv = s["kv_heads"] * (h // s["heads"])
    shapes = {"model.embed_tokens.weight": (s["vocab"], h)}
    for layer in range(s["layers"]):
        p = f"model.layers.{layer}"
        shapes.update({
            f"{p}.input_layernorm.weight": (h,),
            f"{p}.self_attn.q_proj.weight": (h, h),
            f"{p}.self_attn.k_proj.weight": (kv, h),
            f"{p}.self_attn.v_proj.weight": (kv, h),
            f"{p}.self_attn.o_proj.weight": (h, h),
            f"{p}.post_attention_layernorm.weight": (h,),
            f"{p}.mlp.gate_proj.weight": (i, h),
            f"{p}.mlp.up_proj.weight": (i, h),
            f"{p}.mlp.down_proj.weight": (h, i),
        })
    shapes["model.norm.weight"] = (h,)
    shapes["lm_head.weight"] = (s["vocab"], h)
    return shapes


def random_model(gen):
    out = {}
    for name, shape in tensor_shapes().items():
        if len(shape) == 1:
            out[name] = 1.0 + (torch.rand(shape, generator=gen) - 0.5) * 0.2
        else:
            bound = shape[1] ** -0.5
            out[name] = (torch.rand(shape, generator=gen) * 2 - 1) * bound
    return out


def write_model(name, tensors, dtype=torch.float32):
    d = GOLDEN / "models" / name
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(dtype).contiguous() for k, v in tensors.items()}, d / "model.safetensors", metadata={"format": "pt"})
    config = config_json()
    config["torch_dtype"] = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[dtype]
    (d / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def models_block(entries):
    """entries: list of (model, parameters-yaml-lines or None)."""
    lines = ["models:"]
    for model, params in entries:
        lines.append(f"  - model: models/{model}")
        if params:
            lines.append("    parameters:")
            lines.extend("      " + l for l in params)
    return "\n".join(lines)


def slices_block(slices):
    """slices: list of lists of (model, [start, end], parameters-flow-mapping or None)."""
    lines = ["slices:"]
    for sources in slices:
        lines.append("  - sources:")
        for model, (start, end), params in sources:
            lines.append(f"      - model: models/{model}")
            lines.append(f"        layer_range: [{start}, {end}]")
            if params:
                lines.append(f"        parameters: {params}")
    return "\n".join(lines)


def bf16_twin(text):
    """The same case on the bf16 models, computed in f32 and written as bf16."""
    for model in ("base", "expert1", "expert2", "expert3", "other"):
        text = text.replace(f"models/{model}\n", f"models/{model}_bf16\n")
    return text.replace("dtype: float32\n", "dtype: float32\nout_dtype: bfloat16\n")


# The methods added after the first set: each case also gets a bf16 twin (NAME_bf16).
NEW_CASES = {
    # Depth up-scaling / frankenmerge: 4 output layers from 2-layer models, a layer repeated,
    # scales (a gradient too) per source.
    "passthrough": slices_block([
        [("expert1", [0, 2], "{scale: [1.0, 0.5]}")],
        [("base", [1, 2], "{scale: 0.5}")],
        [("expert2", [0, 1], None)],
    ]) + "\nmerge_method: passthrough\ndtype: float32\n",
    "della_full_density": models_block([
        ("expert1", ["weight: 1.0"]),
        ("expert2", ["weight: 0.6"]),
        ("expert3", ["weight: 0.3"]),
    ]) + "\nbase_model: models/base\nmerge_method: della\ndtype: float32\n",
    "della_linear_single": models_block([
        ("expert1", ["weight: 1.0", "density: 0.5", "epsilon: 0.3"]),
    ]) + "\nbase_model: models/base\nmerge_method: della_linear\ndtype: float32\n",
    "della": models_block([
        ("expert1", ["weight: 1.0", "density: 0.4"]),
        ("expert2", ["weight: 0.7", "density: 0.6", "epsilon: 0.2"]),
        ("expert3", ["weight: 0.5", "density: 0.5"]),
    ]) + "\nbase_model: models/base\nmerge_method: della\nparameters:\n  lambda: 1.1\ndtype: float32\n",
    "sce": models_block([
        ("expert1", None), ("expert2", None), ("expert3", None),
    ]) + "\nbase_model: models/base\nmerge_method: sce\nparameters:\n  select_topk: 0.5\ndtype: float32\n",
    "sce_all": models_block([
        ("expert1", None), ("expert2", None),
    ]) + "\nbase_model: models/base\nmerge_method: sce\nparameters:\n  int8_mask: true\ndtype: float32\n",
    "nuslerp": models_block([
        ("expert1", ["weight: 0.3"]),
        ("expert2", ["weight: [0.5, 0.9]"]),
    ]) + "\nbase_model: models/base\nmerge_method: nuslerp\ndtype: float32\n",
    "nuslerp_rows": models_block([
        ("expert1", ["weight: 0.6"]),
        ("other", ["weight: 0.4"]),
    ]) + "\nmerge_method: nuslerp\nparameters:\n  nuslerp_flatten: false\ndtype: float32\n",
    "nuslerp_columns": models_block([
        ("expert1", ["weight: 0.6"]),
        ("other", ["weight: 0.4"]),
    ]) + "\nmerge_method: nuslerp\nparameters:\n  nuslerp_flatten: false\n  nuslerp_row_wise: true\ndtype: float32\n",
    "multislerp": models_block([
        ("expert1", ["weight: 0.5"]),
        ("expert2", ["weight: 0.3"]),
        ("expert3", ["weight: [0.2, 0.6]"]),
    ]) + "\nbase_model: models/base\nmerge_method: multislerp\ndtype: float32\n",
    "multislerp_no_base": models_block([
        ("expert1", ["weight: 1.0"]),
        ("other", ["weight: 2.0"]),
        ("expert2", ["weight: 1.0"]),
    ]) + "\nmerge_method: multislerp\nparameters:\n  normalize_weights: false\ndtype: float32\n",
    # The base is one more input of the Karcher mean (mergekit ignores its role).
    "karcher": models_block([
        ("expert1", None), ("expert2", None), ("other", None),
    ]) + "\nbase_model: models/base\nmerge_method: karcher\nparameters:\n  max_iter: 20\n  tol: 1.0e-6\ndtype: float32\n",
    "nearswap": models_block([
        ("expert1", None),
    ]) + "\nbase_model: models/base\nmerge_method: nearswap\nparameters:\n  t:\n    - filter: mlp\n      value: [0.005, 0.02]\n    - value: 0.01\ndtype: float32\n",
    "arcee_fusion": models_block([
        ("expert1", None),
    ]) + "\nbase_model: models/base\nmerge_method: arcee_fusion\ndtype: float32\n",
    "ram": models_block([
        ("expert1", None), ("expert2", None), ("expert3", None),
    ]) + "\nbase_model: models/base\nmerge_method: ram\nparameters:\n  epsilon: 0.015\ndtype: float32\n",
    "ramplus_tl": models_block([
        ("expert1", None), ("expert2", None), ("expert3", None),
    ]) + "\nbase_model: models/base\nmerge_method: ramplus_tl\nparameters:\n  epsilon: 0.02\n  r: 0.5\n  alpha: 0.3\ndtype: float32\n",
}

# Each case: name -> YAML. Paths are relative to the golden folder (mergekit runs from there).
CASES = {
    "linear": models_block([
        ("expert1", ["weight: [0.2, 0.8]"]),
        ("expert2", ["weight:", "  - filter: self_attn", "    value: 0.7", "  - value: 0.3"]),
        ("expert3", ["weight: 0.5"]),
    ]) + "\nmerge_method: linear\ndtype: float32\n",
    "linear_base_unnormalized": models_block([
        ("expert1", ["weight: 0.5"]),
        ("expert2", ["weight: -0.25"]),
    ]) + "\nbase_model: models/base\nmerge_method: linear\nparameters:\n  weight: 1.0\n  normalize: false\ndtype: float32\n",
    "linear_bf16_out": models_block([
        ("expert1", ["weight: 0.6"]),
        ("expert2", ["weight: 0.4"]),
    ]) + "\nmerge_method: linear\ndtype: float32\nout_dtype: bfloat16\n",
    "task_arithmetic": models_block([
        ("expert1", ["weight: 0.5"]),
        ("expert2", ["weight: [0.3, 0.9]"]),
        ("expert3", ["weight: 0.7"]),
    ]) + "\nbase_model: models/base\nmerge_method: task_arithmetic\nparameters:\n  lambda: 0.8\ndtype: float32\n",
    "task_arithmetic_normalized": models_block([
        ("base", None),
        ("expert1", ["weight: 1.0"]),
        ("expert2", ["weight: 3.0"]),
    ]) + "\nbase_model: models/base\nmerge_method: task_arithmetic\nparameters:\n  normalize: true\ndtype: float32\n",
    "ties": models_block([
        ("expert1", ["density: 0.5", "weight: 1.0"]),
        ("expert2", ["density: [1, 0.3]", "weight: 0.6"]),
        ("expert3", ["density: 0.7", "weight:", "  - filter: mlp", "    value: [0.2, 0.8]", "  - value: 0.4"]),
    ]) + "\nbase_model: models/base\nmerge_method: ties\nparameters:\n  int8_mask: true\ndtype: float32\n",
    "ties_rescaled": models_block([
        ("expert1", ["density: 0.4", "weight: 0.9"]),
        ("expert2", ["density: 0.6", "weight: 0.5"]),
    ]) + "\nbase_model: models/base\nmerge_method: ties\nparameters:\n  normalize: false\n  rescale: true\n  lambda: 1.2\ndtype: float32\n",
    "ties_slices": (
        "slices:\n"
        "  - sources:\n"
        "      - model: models/base\n        layer_range: [0, 1]\n"
        "      - model: models/expert1\n        layer_range: [0, 1]\n        parameters: {weight: 1.0, density: 0.3}\n"
        "      - model: models/expert2\n        layer_range: [0, 1]\n        parameters: {weight: 0.5, density: 0.8}\n"
        "    parameters:\n      normalize: false\n"
        "  - sources:\n"
        "      - model: models/base\n        layer_range: [1, 2]\n"
        "      - model: models/expert1\n        layer_range: [1, 2]\n        parameters: {weight: 0.2, density: 0.9}\n"
        "      - model: models/expert2\n        layer_range: [1, 2]\n        parameters: {weight: 0.8}\n"
        "base_model: models/base\nmerge_method: ties\nparameters:\n  density: 0.5\ndtype: float32\n"
    ),
    "breadcrumbs": models_block([
        ("expert1", ["density: 0.8", "gamma: 0.05", "weight: 0.6"]),
        ("expert2", ["density: 0.6", "weight: 0.4"]),
        ("expert3", ["density: 0.9", "gamma: 0.2", "weight: 0.5"]),
    ]) + "\nbase_model: models/base\nmerge_method: breadcrumbs\ndtype: float32\n",
    "breadcrumbs_ties": models_block([
        ("expert1", ["density: 0.7", "gamma: 0.1", "weight: 1.0"]),
        ("expert2", ["density: 0.5", "weight: 0.7"]),
        ("expert3", ["density: 0.9", "weight: 0.3"]),
    ]) + "\nbase_model: models/base\nmerge_method: breadcrumbs_ties\nparameters:\n  normalize: true\ndtype: float32\n",
    "dare_linear_full_density": models_block([
        ("expert1", ["weight: 0.5"]),
        ("expert2", ["weight: 0.3"]),
        ("expert3", ["weight: 0.2"]),
    ]) + "\nbase_model: models/base\nmerge_method: dare_linear\ndtype: float32\n",
    "dare_ties_full_density": models_block([
        ("expert1", ["weight: 0.5", "density: 1.0"]),
        ("expert2", ["weight: 0.3", "density: 1.0"]),
        ("expert3", ["weight: 0.2", "density: 1.0"]),
    ]) + "\nbase_model: models/base\nmerge_method: dare_ties\ndtype: float32\n",
    "dare_linear_single": models_block([
        ("expert1", ["weight: 1.0", "density: 0.3"]),
    ]) + "\nbase_model: models/base\nmerge_method: dare_linear\ndtype: float32\n",
    "dare_linear_single_unrescaled": models_block([
        ("expert1", ["weight: 1.0", "density: 0.6"]),
    ]) + "\nbase_model: models/base\nmerge_method: dare_linear\nparameters:\n  rescale: false\ndtype: float32\n",
    "dare_ties_random": models_block([
        ("expert1", ["weight: 1.0", "density: 0.5"]),
        ("expert2", ["weight: 1.0", "density: 0.5"]),
        ("expert3", ["weight: 1.0", "density: 0.5"]),
    ]) + "\nbase_model: models/base\nmerge_method: dare_ties\ndtype: float32\n",
    "slerp": (
        "slices:\n"
        "  - sources:\n"
        "      - model: models/base\n        layer_range: [0, 2]\n"
        "      - model: models/other\n        layer_range: [0, 2]\n"
        "merge_method: slerp\nbase_model: models/base\n"
        "parameters:\n  t:\n"
        "    - filter: self_attn\n      value: [0, 0.5, 0.3, 0.7, 1]\n"
        "    - filter: mlp\n      value: [1, 0.5, 0.7, 0.3, 0]\n"
        "    - value: 0.5\n"
        "dtype: float32\n"
    ),
    "model_stock": models_block([
        ("expert1", None), ("expert2", None), ("expert3", None),
    ]) + "\nbase_model: models/base\nmerge_method: model_stock\ndtype: float32\n",
    "model_stock_filter_wise": models_block([
        ("expert1", None), ("expert2", None), ("expert3", None),
    ]) + "\nbase_model: models/base\nmerge_method: model_stock\nparameters:\n  filter_wise: true\ndtype: float32\n",
}
for _name, _text in NEW_CASES.items():
    CASES[_name] = _text
    CASES[_name + "_bf16"] = bf16_twin(_text)


def main():
    import mergekit
    from importlib.metadata import version
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions
    import yaml

    if version("mergekit") != MERGEKIT_VERSION:
        sys.exit(f"expected mergekit {MERGEKIT_VERSION}, found {version('mergekit')}")
    # Only what this script writes: golden/peft/ is scripts/peft_adapter_fixture.py's.
    for part in ("models", "cases", "expected"):
        if (GOLDEN / part).exists():
            shutil.rmtree(GOLDEN / part)
    gen = torch.Generator().manual_seed(SEED)
    base = random_model(gen)
    models = {"base": base}
    for i in (1, 2, 3):
        models[f"expert{i}"] = {k: v + torch.randn(v.shape, generator=gen) * 0.02 for k, v in base.items()}
    models["other"] = random_model(gen)
    for name, tensors in models.items():
        write_model(name, tensors)
        write_model(f"{name}_bf16", tensors, torch.bfloat16)
    (GOLDEN / "cases").mkdir(parents=True)
    (GOLDEN / "expected").mkdir(parents=True)
    cwd = os.getcwd()
    os.chdir(GOLDEN)
    try:
        for name, text in CASES.items():
            (GOLDEN / "cases" / f"{name}.yaml").write_text(text)
            config = MergeConfiguration.model_validate(yaml.safe_load(text))
            with tempfile.TemporaryDirectory() as out:
                run_merge(config, out, MergeOptions(random_seed=SEED, copy_tokenizer=False, write_model_card=False, quiet=True))
                shutil.copy(Path(out) / "model.safetensors", GOLDEN / "expected" / f"{name}.safetensors")
                if text.startswith("slices:"):
                    shutil.copy(Path(out) / "config.json", GOLDEN / "expected" / f"{name}.config.json")
            print(f"{name}: ok")
    finally:
        os.chdir(cwd)
    manifest = {"mergekit": MERGEKIT_VERSION, "torch": torch.__version__, "seed": SEED, "cases": sorted(CASES)}
    (GOLDEN / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
