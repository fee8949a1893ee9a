#!/usr/bin/env bash
# The full quality benchmark on a 2-core machine: two lanes of cases, one process (one torch thread) each,
# lane by lane: the peer CARE (its own venv) then every method of ours, per case.
#   bash benchmarks/run_quality.sh core       # pass 1: interpolations, INR, lateral (and with the l2 projection), INR over lateral, CARE
#   bash benchmarks/run_quality.sh diffusion  # pass 2 (merged): slice-wise, INR+SDS, conditional SDS
# CORE_METHODS overrides pass 1's methods of ours (CARE always runs in pass 1).
set -uo pipefail
cd "$(dirname "$0")/.."
PASS=${1:-core}
CARE_PY=${CARE_PY:-benchmarks/cache/peers/care-venv/bin/python}
PY=${PY:-.venv/bin/python}
LOGS=benchmarks/cache/logs
mkdir -p "$LOGS"
"$PY" benchmarks/quality.py --export-peer-inputs
lane() {
    for case in "$@"; do
        if [ "$PASS" = core ]; then
            OMP_NUM_THREADS=1 "$CARE_PY" benchmarks/peers/care.py --case "$case" > "$LOGS/care_$case.log" 2>&1
            OMP_NUM_THREADS=1 "$PY" benchmarks/quality.py --cases "$case" \
                --methods "${CORE_METHODS:-nearest,linear,cubic,inr,lateral,lateral-l2,inr-lateral},care" > "$LOGS/quality_core_$case.log" 2>&1
        else
            OMP_NUM_THREADS=1 "$PY" benchmarks/quality.py --cases "$case" --merge \
                --methods slicewise-xz,slicewise-yz,inr-sds,inr-lateral+csds > "$LOGS/quality_diffusion_$case.log" 2>&1
        fi
    done
}
# the x10 case is 2.5x deeper than the others: its lane has one case fewer
lane em_x10_average em_x4_average fluo_x4_average &
lane em_x8_average em_x6.4_average fluo_x8_average ${EXTRA_CASES:-fluoaxial_x4_average} &
wait
"$PY" benchmarks/quality.py --assemble-only
