"""Benchmark the gaze stage on real Kvasir-SEG at original image sizes.

    python benchmarks/bench_gaze.py [--limit N] [--workers 2] [--skip-stage] [--refine crf guided none]

1. Heatmap: ``method="separable"`` (ours) against ``method="reference"`` (the full 768 x 768
   scipy filter of the reference recipe), per image: median times, the median of per-image
   speed ratios, and the maximum absolute difference over all pixels of all images.
2. Refinement, per image: the dense CRF (sxy 80, srgb 13, compat 1, 10 iterations) by
   pydensecrf (``crf``) and by our numpy port (``meanfield``), their largest difference, and
   the guided filter: median seconds, and peak Python-side memory of the CRF call.
3. The whole stage (``run_gaze_stage``) over every image, once per refinement method: wall time,
   and Dice / precision / recall of M_hc and M_bc against ground truth.
4. With ``--reference-stage``: the reference pipeline as the authors' notebooks run it (full
   scipy heatmap, heatmap saved as JPEG and read back, CRF, CRF map saved as JPEG and read
   back, thresholds on the decoded JPEG), serially: its wall time beside ours, and what the JPEG
   round trips do to the pseudo-masks.

Writes ``benchmarks/results/gaze.json`` and prints tables. Needs ../shared/realdata (or
``--realdata``).
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

from fgi_core.config import shared_realdata
from fgi_core.data import create_dataset
from fgi_core.gaze import heatmap, points_for, read_fixations, refine, run_gaze_stage


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _jpeg_round_trip(soft: np.ndarray) -> np.ndarray:
    """Save a [0, 1] map as an 8-bit JPEG and read it back, as the reference notebooks do."""
    ok, buf = cv2.imencode(".jpg", (soft * 255).astype(np.uint8))
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255


def reference_stage(ds, frame, ids) -> dict:
    """The authors' way, serially: scipy heatmap, JPEG, CRF, JPEG, thresholds (> t, on decoded JPEG)."""
    from fgi_core.metrics import overlap_scores

    scores = {f"{lvl}_{k}": [] for lvl in ("hc", "bc") for k in ("dice", "precision", "recall")}
    t0 = time.perf_counter()
    for image_id in ids:
        image = ds.image(image_id)
        heat = _jpeg_round_trip(heatmap(points_for(frame, image_id), *image.shape[:2], method="reference").astype(np.float16).astype(np.float32))
        refined = _jpeg_round_trip(refine(image, heat, method="crf"))
        gt = ds.mask(image_id)
        for lvl, t in (("hc", 0.5), ("bc", 0.3)):
            for k, v in overlap_scores(refined > t, gt).items():
                if k != "iou":
                    scores[f"{lvl}_{k}"].append(v)
    return {"wall_s": time.perf_counter() - t0, "workers": 0, **{k: float(np.mean(v)) for k, v in scores.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=shared_realdata())
    ap.add_argument("--limit", type=int, default=None, help="first N images of the 800 (default: all)")
    ap.add_argument("--micro-limit", type=int, default=100, help="images for the per-image timings (default 100)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--refine", nargs="*", default=["crf", "meanfield", "guided", "none"], help="methods for the whole-stage runs")
    ap.add_argument("--skip-stage", action="store_true", help="only the per-image timings")
    ap.add_argument("--reference-stage", action="store_true", help="also time the reference pipeline (serial, JPEG round trips)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gaze.json")
    args = ap.parse_args()
    if args.realdata is None:
        raise SystemExit("real data not found: pass --realdata (folder with kvasir-seg/ and gazemedseg/)")

    ds = create_dataset("kvasir", root=args.realdata / "kvasir-seg", gaze_csv=args.realdata / "gazemedseg" / "kvasir_fixation.csv")
    ids = ds.ids[: args.limit] if args.limit else ds.ids
    frame, _ = read_fixations(ds.gaze_csv(), image_ids=ids)
    results: dict = {"machine": platform.platform(), "images": len(ids)}

    # 1-2. per image, at original size
    micro = ids[: args.micro_limit]
    heatmap(points_for(frame, micro[0]), 64, 64)  # warm the cached response matrix (once per sigma)
    t_fast, t_ref, ratios, max_diff, t_crf, t_guided, mem_crf = [], [], [], 0.0, [], [], []
    t_mf, mf_ratios, mf_diff = [], [], 0.0
    for image_id in micro:
        pts, image = points_for(frame, image_id), ds.image(image_id)
        h, w = image.shape[:2]
        fast, tf = timed(heatmap, pts, h, w)
        ref, tr = timed(heatmap, pts, h, w, method="reference")
        t_fast.append(tf), t_ref.append(tr), ratios.append(tr / tf)
        max_diff = max(max_diff, float(np.abs(fast - ref).max()))
        tracemalloc.start()
        crf, tc = timed(refine, image, fast, method="crf")
        mem_crf.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
        mf, tm = timed(refine, image, fast, method="meanfield")
        t_mf.append(tm), mf_ratios.append(tc / tm)
        mf_diff = max(mf_diff, float(np.abs(mf - crf).max()))
        _, tg = timed(refine, image, fast, method="guided")
        t_crf.append(tc), t_guided.append(tg)
    results["heatmap"] = {
        "images": len(micro),
        "separable_ms_median": 1e3 * float(np.median(t_fast)),
        "reference_ms_median": 1e3 * float(np.median(t_ref)),
        "speed_ratio_median": float(np.median(ratios)),
        "max_abs_difference": max_diff,
    }
    results["refine"] = {
        "images": len(micro),
        "crf_s_median": float(np.median(t_crf)),
        "crf_peak_python_mib_median": float(np.median(mem_crf)),
        "guided_s_median": float(np.median(t_guided)),
        "meanfield_s_median": float(np.median(t_mf)),
        "meanfield_speed_ratio_median": float(np.median(mf_ratios)),
        "meanfield_max_abs_difference_to_crf": mf_diff,
    }
    hm, rf = results["heatmap"], results["refine"]
    print(f"heatmap ({hm['images']} images, original sizes): separable {hm['separable_ms_median']:.2f} ms, "
          f"reference {hm['reference_ms_median']:.1f} ms, median ratio {hm['speed_ratio_median']:.0f}x, "
          f"max |diff| {hm['max_abs_difference']:.1e}")
    print(f"refine: dense CRF {rf['crf_s_median']:.3f} s/image, numpy port {rf['meanfield_s_median']:.3f} s/image "
          f"(median ratio {rf['meanfield_speed_ratio_median']:.1f}x, max |diff| {rf['meanfield_max_abs_difference_to_crf']:.1e}), "
          f"guided filter {rf['guided_s_median'] * 1e3:.1f} ms/image")

    # 3. the whole stage
    if not args.skip_stage:
        results["stage"] = {}
        for method in args.refine:
            with tempfile.TemporaryDirectory() as tmp:
                res = run_gaze_stage(ds, tmp, ids=ids, refine_method=method, workers=args.workers, progress=False)
            m = res.summary["mean"]
            results["stage"][method] = {
                "wall_s": res.seconds["wall"], "workers": args.workers,
                **{f"{lvl}_{k}": m[f"refined_{lvl}_{k}"] for lvl in ("hc", "bc") for k in ("dice", "precision", "recall")},
            }
            r = results["stage"][method]
            print(f"stage [{method}] {len(ids)} images in {r['wall_s']:.0f} s with {args.workers} workers | "
                  f"M_hc Dice {r['hc_dice']:.3f} P {r['hc_precision']:.3f} R {r['hc_recall']:.3f} | "
                  f"M_bc Dice {r['bc_dice']:.3f} P {r['bc_precision']:.3f} R {r['bc_recall']:.3f}")
    if args.reference_stage:
        results["reference_stage"] = reference_stage(ds, frame, ids)
        r = results["reference_stage"]
        print(f"reference pipeline (serial, JPEG round trips) {len(ids)} images in {r['wall_s']:.0f} s | "
              f"M_hc Dice {r['hc_dice']:.3f} P {r['hc_precision']:.3f} R {r['hc_recall']:.3f} | "
              f"M_bc Dice {r['bc_dice']:.3f} P {r['bc_precision']:.3f} R {r['bc_recall']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
