#!/usr/bin/env bash
# The project's first GPU run, in one call. Make the bundle first, here: bash benchmarks/gpu_pack.sh
#
# On the GPU machine, through the device tool's `run` (one call, the bundle as a carried path):
#     command: bash benchmarks/gpu_check.sh     carry: ["gpu_bundle"]     timeout_s: 570
# It installs what that Python lacks from gpu_bundle/wheels (no network there; --no-index --no-deps) and the project
# (-e .), then runs, on CUDA, within 465 s (--deadline-s): b) the paper profile's step times and peak memory, fp32 and
# bf16; d) resume == uninterrupted; a) `fgi run` of notebooks 01-06 (quick, synthetic); c) a time-boxed paper-schedule
# run on real Kvasir-SEG from the bundle, Dice on val. Every part records its status in
# benchmarks/results/gpu_check.json (written after each part), the output goes to benchmarks/results/gpu_check.log,
# and where $OUT is set (the device tool) both are copied there with gpu_check_runs.tar.gz (status.json, summaries,
# logs, curves and executed notebooks of the runs).
#
# A dry run here (CPU, tiny widths, about a minute; results in gpu_work/):
#     bash benchmarks/gpu_pack.sh --tiny && bash benchmarks/gpu_check.sh --device cpu --tiny
# Extra arguments go to `gpu_check.py check` (--parts b c, --kvasir-budget-s 180, --notebooks 01 02 ...).
# GPU_CHECK_OUT / GPU_CHECK_LOG move the JSON / the log.
set -u -o pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1
case " $* " in
    *" --tiny "*) JSON=${GPU_CHECK_OUT:-gpu_work/gpu_check.json}; LOG=${GPU_CHECK_LOG:-gpu_work/gpu_check.log} ;;
    *) JSON=${GPU_CHECK_OUT:-benchmarks/results/gpu_check.json}; LOG=${GPU_CHECK_LOG:-benchmarks/results/gpu_check.log} ;;
esac
mkdir -p "$(dirname "$JSON")" "$(dirname "$LOG")"
"$PY" benchmarks/gpu_check.py check --out "$JSON" "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    cp "$JSON" "$LOG" "$OUT"/ 2>/dev/null
    if [ -d gpu_work ]; then
        small=(--exclude='*.pt' --exclude='*.npz' --exclude='gaze' --exclude='explain' --exclude='site' --exclude='kvasir_fixation.csv')
        tar czf "$OUT/gpu_check_runs.tar.gz" -C gpu_work "${small[@]}" runs parts 2>/dev/null
        if [ "$(stat -c %s "$OUT/gpu_check_runs.tar.gz" 2>/dev/null || echo 0)" -gt 15000000 ]; then
            tar czf "$OUT/gpu_check_runs.tar.gz" -C gpu_work "${small[@]}" --exclude='*.ipynb' runs parts 2>/dev/null
        fi
    fi
fi
exit "$rc"
