#!/usr/bin/env bash
# Create .venv-saelens: SAELens (the community's SAE trainer) for benchmarks/train_teachers.py.
#
# SAELens is an optional extra of this project, kept out of the main .venv because it pins its own
# transformers / transformer-lens stack.  torch is installed first from the CPU wheel index and
# then held at that version while sae-lens resolves its dependencies (a constraints file), so the
# study's teachers are trained with the same torch as the main environment.
#
# Usage:  bash benchmarks/setup_saelens.sh [VENV_DIR]      (default: .venv-saelens at the repo root)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-saelens}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu \
  || "$VENV/bin/python" -m pip install "torch==${TORCH_VERSION}"
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
"$VENV/bin/python" -c "import torch; print('torch==' + torch.__version__)" > "$CONSTRAINTS"
"$VENV/bin/python" -m pip install -c "$CONSTRAINTS" sae-lens pytest
# check that torch was left alone
"$VENV/bin/python" - <<PYEOF
import torch, sae_lens
want = "${TORCH_VERSION}"
assert torch.__version__.split("+")[0] == want, f"torch moved to {torch.__version__}, expected {want}"
print(f"ok: sae_lens {sae_lens.__version__}, torch {torch.__version__} in ${VENV}")
PYEOF
