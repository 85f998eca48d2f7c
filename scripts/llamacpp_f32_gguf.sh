#!/usr/bin/env bash
# Writes an f32 GGUF of a Hugging Face folder with llama.cpp's own converter, for the llama.cpp
# rows of scripts/infer_bench.sh. The converter comes from the llama-cpp-python sdist on PyPI
# (the same version as the installed `llama_cpp`), its Python deps from PyPI.
# Usage: bash scripts/llamacpp_f32_gguf.sh MODEL_DIR OUT.gguf
set -euo pipefail
model="$1"
out="$2"
[ -f "$out" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip install --quiet --disable-pip-version-check sentencepiece >&2
python3 - "$work" <<'PY'
import json, sys, tarfile, urllib.request
import llama_cpp
version = llama_cpp.__version__
index = urllib.request.Request("https://pypi.org/simple/llama-cpp-python/",
                               headers={"Accept": "application/vnd.pypi.simple.v1+json"})
files = json.load(urllib.request.urlopen(index))["files"]
sdist = next(f["url"] for f in files if f["filename"] == f"llama_cpp_python-{version}.tar.gz"
             or f["filename"] == f"llama-cpp-python-{version}.tar.gz")
path = f"{sys.argv[1]}/sdist.tar.gz"
urllib.request.urlretrieve(sdist, path)
with tarfile.open(path) as tar:
    keep = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name and
            any(part in m.name for part in ("convert_hf_to_gguf.py", "/gguf-py/", "/conversion/"))]
    tar.extractall(sys.argv[1], members=keep, filter="data")
PY
src=$(find "$work" -type d -path '*vendor/llama.cpp' | head -n 1)
PYTHONPATH="$src/gguf-py" python3 "$src/convert_hf_to_gguf.py" "$model" --outtype f32 --outfile "$out" >&2
