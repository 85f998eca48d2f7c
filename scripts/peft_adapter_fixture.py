#!/usr/bin/env python3
"""Builds the PEFT LoRA adapter fixture, and checks that PEFT loads an adapter folder.

Build (developers, not CI; CI reads only the committed fixture):

    python3 scripts/peft_adapter_fixture.py build

writes crates/merge/tests/fixtures/golden/peft/:
    base/              a tiny random LlamaForCausalLM from transformers (config.json +
                       model.safetensors, f32)
    adapter/           a PEFT LoRA on it (r=4, lora_alpha=8, q/v/down projections), with
                       random nonzero lora_B so the update is not zero; saved by save_pretrained
    merged.safetensors merge_and_unload()'s value of every adapted tensor
    manifest.json      versions, seed, rank, alpha, target modules

Check (called by the Rust tests when `import peft` works):

    python3 scripts/peft_adapter_fixture.py check ADAPTER_DIR BASE_DIR EXPECTED.safetensors

loads BASE_DIR with transformers, applies ADAPTER_DIR with PeftModel.from_pretrained,
merges, and compares every tensor of EXPECTED to the merged model (1e-5 relative); exits 1
with the differing tensor named otherwise.
"""

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "merge" / "tests" / "fixtures" / "golden" / "peft"
SEED = 20250607
RANK, ALPHA = 4, 8
TARGETS = ["q_proj", "v_proj", "down_proj"]


def build():
    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    base = LlamaForCausalLM(config).to(torch.float32)
    base_dir = OUT / "base"
    base.save_pretrained(base_dir, safe_serialization=True)
    # Keep the fixture to the files the Rust side reads.
    for extra in ["generation_config.json"]:
        (base_dir / extra).unlink(missing_ok=True)

    lora = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=TARGETS, lora_dropout=0.0,
                      task_type="CAUSAL_LM")
    model = get_peft_model(base, lora)
    # PEFT starts lora_B at zero (the update is then zero); make it random so the merged
    # weights differ from the base and the test means something.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * 0.1)
    # The base path is written relative to the adapter, as a user's local base would be.
    model.peft_config["default"].base_model_name_or_path = "../base"
    model.save_pretrained(OUT / "adapter")
    (OUT / "adapter" / "README.md").unlink()  # the model card; nothing reads it
    adapted = sorted({n.split(".base_layer")[0].replace("base_model.model.", "") + ".weight"
                      for n, _ in model.named_parameters() if ".base_layer." in n})
    merged = model.merge_and_unload().state_dict()
    save_file({k: merged[k].contiguous() for k in adapted}, OUT / "merged.safetensors",
              metadata={"format": "pt"})
    manifest = {
        "seed": SEED, "rank": RANK, "alpha": ALPHA, "target_modules": TARGETS,
        "adapted": adapted, "peft": peft.__version__, "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {OUT}: {len(adapted)} adapted tensors")


def check(adapter_dir, base_dir, expected_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM

    base = LlamaForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter_dir)
    merged = model.merge_and_unload().state_dict()
    expected = load_file(expected_path)
    if not expected:
        sys.exit("no tensors to compare")
    for name, want in expected.items():
        got = merged[name]
        scale = want.abs().max().item() or 1.0
        err = (got - want).abs().max().item() / scale
        if err > 1e-5:
            sys.exit(f"tensor {name}: PEFT's merge differs by {err:.3g} (relative)")
    print(f"PEFT loaded {adapter_dir}: {len(expected)} merged tensors match")


if __name__ == "__main__":
    if sys.argv[1:2] == ["build"]:
        build()
    elif sys.argv[1:2] == ["check"] and len(sys.argv) == 5:
        check(*sys.argv[2:])
    else:
        sys.exit(__doc__)
