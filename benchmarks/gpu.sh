#!/usr/bin/env bash
# The device check, one prepared script for the GPU machine (under 8 minutes):
#   bash benchmarks/gpu.sh OUT_DIR
# That machine has python3 with torch, tifffile, h5py, scikit-image, typer, tqdm and safetensors, but not
# diffusers, zarr or dask: bring them as wheels in .whl/ (see the device tool's README) and carry `.whl`.
# It runs the CUDA tests (tests marked gpu: CUDA gives the CPU's results for the same seed) and
# benchmarks/gpu_speed.py (steps/s per prior preset, lateral voxels/s, INR iterations/s, one end-to-end run
# with its PSNR next to the CPU's), writing everything to OUT_DIR.
set -uo pipefail
OUT=${1:?usage: bash benchmarks/gpu.sh OUT_DIR}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD/src
else
    export PYTHONPATH=$PWD/src
fi
export PYTHONUNBUFFERED=1
(nvidia-smi || true) > "$OUT/nvidia-smi.txt" 2>&1
python3 -m pytest tests/test_gpu.py -q -p no:cacheprovider -p no:xvfb 2>&1 | tee "$OUT/gpu_tests.log"
timeout 420 python3 benchmarks/gpu_speed.py --out "$OUT" --device cuda 2>&1 | tee "$OUT/gpu_speed.log"
