#!/usr/bin/env bash
# The peer CARE-isotropic (CSBDeep) in its own venv: benchmarks/cache/peers/care-venv. Not a dependency of
# axialsr. csbdeep 0.8.2 runs on tensorflow-cpu 2.15 (its Keras 2) with numpy < 2; Keras 3 does not work.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=cache/peers/care-venv
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q "tensorflow-cpu==2.15.*" "csbdeep==0.8.2" "numpy<2"
"$VENV/bin/python" -c "import csbdeep, tensorflow as tf; print('csbdeep', csbdeep.__version__, 'tensorflow', tf.__version__)"
