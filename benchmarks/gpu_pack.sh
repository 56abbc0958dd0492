#!/usr/bin/env bash
# Fill gpu_bundle/ (git-ignored) for benchmarks/gpu_check.sh: run HERE, on a CPU machine with network.
#
#   bash benchmarks/gpu_pack.sh           # the full bundle: wheels, real Kvasir-SEG at 224 px with stage 1-2, text encoder
#   bash benchmarks/gpu_pack.sh --tiny    # a few images and the project's wheel only (what tests/test_gpu_scripts.py runs)
#
# What goes in and why: benchmarks/gpu_check.py's docstring. The bundle must stay under 55 MB (the device machine takes
# 64 MiB with the working tree): the script exits 2 when it is not. Stage 1-2 run once into runs/kvasir/gpu-pack/
# (a few minutes on 2 cores; reused by later packs). Extra arguments go to `gpu_check.py pack` (--out DIR, --max-mb N, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1
exec "$PY" benchmarks/gpu_check.py pack "$@"
