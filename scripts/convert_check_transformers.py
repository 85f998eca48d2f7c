"""Loads a folder written by `cycleqd convert` with Hugging Face transformers and checks it.

Run by a developer (not CI), after `pip install torch "transformers>=5,<6"`:

    cycleqd convert "$CYCLEQD_SMOLLM2_GGUF" /tmp/smol-hf --dtype f32
    python3 scripts/convert_check_transformers.py /tmp/smol-hf

It loads the tokenizer and the model, checks that every tensor transformers built equals the
file's tensor (no missing or unexpected keys), and prints a greedy chat answer.
"""
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer
import glob


def main(folder: str) -> None:
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    on_disk = {}
    for shard in sorted(glob.glob(f"{folder}/*.safetensors")):
        on_disk.update(load_file(shard))
    state = model.state_dict()
    for name, tensor in on_disk.items():
        assert name in state, f"{name} not used by transformers"
        assert torch.equal(state[name], tensor.float()), f"{name} differs"
    print(f"{len(on_disk)} tensors loaded unchanged by {type(model).__name__}")
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    if not isinstance(ids, torch.Tensor):
        ids = ids["input_ids"]
    out = model.generate(ids, max_new_tokens=24, do_sample=False)
    print(repr(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)))


if __name__ == "__main__":
    main(sys.argv[1])
