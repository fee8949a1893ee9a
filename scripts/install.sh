#!/usr/bin/env bash
# Create .venv and install axialsr into it (editable, with the test, blockwise and napari extras).
# torch: when no torch is importable in the venv, install ${AXIALSR_TORCH_SPEC:-torch==2.13.0} first
# (the CPU build these machines carry); set AXIALSR_TORCH_SPEC to choose another (e.g. a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q "${AXIALSR_TORCH_SPEC:-torch==2.13.0}"
fi
.venv/bin/python -m pip install -q -e ".[dev,blocks,napari]"
echo "axialsr installed in .venv (torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'))"
