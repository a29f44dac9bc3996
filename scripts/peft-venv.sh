#!/usr/bin/env bash
# Builds the Python virtualenv of Hugging Face PEFT + transformers + torch (CPU use)
# that engine/train's reference test and `graft bench train` compare against.
# Only pypi.org is reachable, so torch comes as the PyPI wheel (with its CUDA
# runtime wheels, unused on CPU). The venv is cached; its path is printed.
set -euo pipefail
TORCH=2.5.1 TRANSFORMERS=4.46.3 PEFT=0.13.2 SAFETENSORS=0.4.5 NUMPY=1.26.4
VENV="${GRAFT_PEFT_VENV:-$HOME/.cache/graft/peft-torch$TORCH-tf$TRANSFORMERS-peft$PEFT}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import torch, transformers, peft, safetensors' 2>/dev/null; then
  echo "$VENV"; exit 0
fi
rm -rf "$VENV.tmp"
python3 -m venv "$VENV.tmp"
"$VENV.tmp/bin/pip" install --no-cache-dir -q "torch==$TORCH" "transformers==$TRANSFORMERS" \
  "peft==$PEFT" "safetensors==$SAFETENSORS" "numpy==$NUMPY" >&2
"$VENV.tmp/bin/python" -c 'import torch, transformers, peft, safetensors' >&2
rm -rf "$VENV"; mv "$VENV.tmp" "$VENV"
# venv scripts hold absolute paths; the interpreter itself still works after the move.
echo "$VENV"
