"""Segmentation metrics on boolean masks, per image and per method (``fgi evaluate``).

The scores are defined in :mod:`fgi_core.metrics`: overlap (Dice, IoU, precision, recall:
:mod:`fgi_core.metrics.overlap`), boundary distances (HD95 and ASD as MONAI defines them, in
pixels unless a ``spacing`` is given: :mod:`fgi_core.metrics.surface`), summaries and the paired
bootstrap (:mod:`fgi_core.metrics.statistics`). This module scores whole methods over a dataset:
:func:`score_image`, :func:`evaluate_predictor`, :func:`evaluate_methods`, :func:`format_table`.

Conventions for empty sets (:mod:`fgi_core.metrics.overlap`, :mod:`fgi_core.metrics.surface`):

* overlap: when both prediction and ground truth are empty, Dice, IoU, precision and recall
  are 1 (nothing to find, nothing found); when only one is empty they are 0;
* distances: when both are empty HD95 = ASD = 0; when only one is empty they are undefined
  and returned as NaN. Summaries average over the defined values and report how many images
  were undefined (``hd95_undefined``), so a method that misses lesions cannot look better on
  distances by dropping its failures silently: its Dice shows the failure.

Predictions are scored at each image's original size (:func:`resize_probability` first).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from .metrics.overlap import as_masks, overlap_scores
from .metrics.statistics import paired_bootstrap, summarise
from .metrics.surface import asd, hd95

__all__ = ["score_image", "resize_probability", "METRICS", "evaluate_predictor", "evaluate_methods", "format_table"]

#: The per-image metrics of :func:`score_image`, in table order.
METRICS = ("dice", "iou", "hd95", "asd", "precision", "recall")


def score_image(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float] | None = None) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one boolean H x W prediction against its mask."""
    p, g = as_masks(pred, gt)
    return {**overlap_scores(p, g), "hd95": hd95(p, g, spacing), "asd": asd(p, g, spacing)}


def resize_probability(probability: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float H' x W' probability map resized (bilinear) to ``size`` = (H, W).

    Resizing the probability, then thresholding, gives smoother full-size masks than resizing a
    thresholded mask with nearest neighbour; the scores are taken at the original size.
    """
    import cv2

    h, w = size
    prob = np.asarray(probability, np.float32)
    if prob.shape == (h, w):
        return prob
    return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


# ----------------------------------------------------------------------------------------------
# Whole methods over a dataset: per-image scores, summary, table (``fgi evaluate``)
# ----------------------------------------------------------------------------------------------
def evaluate_predictor(predictor, dataset, ids: Sequence[str], threshold: float = 0.5, batch_size: int = 8,
                       progress: bool = False, desc: str = "") -> list[dict]:
    """Score one :class:`fgi_core.predict.Predictor` on ``ids`` of ``dataset``, at original size.

    Returns:
        one row per image: ``{"id", "height", "width", *METRICS}``.

    Raises:
        ValueError: an image has no ground-truth mask.
    """
    from .progress import tqdm

    rows = []
    bar = tqdm(total=len(ids), desc=desc or predictor.kind, disable=not progress, leave=False)
    for image_id, prob in predictor.iter_probabilities(dataset, ids, batch_size):
        gt = dataset.mask(image_id)
        if gt is None:
            raise ValueError(f"image {image_id!r} of {dataset.name} has no ground-truth mask to score against")
        rows.append({"id": image_id, "height": gt.shape[0], "width": gt.shape[1], **score_image(prob >= threshold, gt > 0)})
        bar.update(1)
    bar.close()
    return rows


def format_table(summary: Mapping[str, Mapping[str, Mapping[str, float]]], metrics: Sequence[str] = ("dice", "iou", "hd95", "asd")) -> str:
    """A Markdown table: one row per method, ``mean ± std`` per metric (HD95/ASD in pixels)."""
    head = "| method | n | " + " | ".join(m.upper() if m in ("hd95", "asd") else m.capitalize() if m != "iou" else "IoU" for m in metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 2)]
    for name, s in summary.items():
        cells = []
        for m in metrics:
            v = s[m]
            fmt = "{:.3f} ± {:.3f}" if m in ("dice", "iou", "precision", "recall") else "{:.1f} ± {:.1f}"
            cell = fmt.format(v["mean"], v["std"]) if math.isfinite(v["mean"]) else "n/a"
            if v.get("undefined"):
                cell += f" ({v['undefined']} undef.)"
            cells.append(cell)
        n = max(s[m]["n"] + s[m]["undefined"] for m in metrics)
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evaluate_methods(predictors: Mapping[str, object], dataset, ids: Sequence[str], out_dir, threshold: float = 0.5,
                     reference: str | None = None, progress: bool = True, extra: Mapping | None = None) -> dict:
    """Score several predictors on the same images and write ``out_dir``'s evaluation files.

    Writes (atomically): ``per_image.csv`` (method, id, size, every metric), ``summary.json``
    (per method: mean / std / n / undefined of every metric; paired Dice differences against
    ``reference`` with bootstrap intervals; dataset, ids, threshold, checkpoints) and
    ``table.md``.

    Args:
        predictors: ``{method name: Predictor}``.
        reference: a method name to compare the others with, image by image (Dice).

    Returns:
        the summary dict.
    """
    import pandas as pd
    from pathlib import Path

    from .io import atomic_path, atomic_write_text, write_json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = list(ids)
    frames, summary = [], {}
    for name, predictor in predictors.items():
        rows = evaluate_predictor(predictor, dataset, ids, threshold, progress=progress, desc=name)
        frames.append(pd.DataFrame(rows).assign(method=name))
        summary[name] = summarise(rows, METRICS)
    table = pd.concat(frames, ignore_index=True)[["method", "id", "height", "width", *METRICS]]
    with atomic_path(out_dir / "per_image.csv") as tmp:
        table.to_csv(tmp, index=False)
    paired = {}
    if reference is not None and reference in summary:
        ref = table[table.method == reference].set_index("id")["dice"]
        for name in summary:
            if name != reference:
                other = table[table.method == name].set_index("id")["dice"].reindex(ref.index)
                paired[f"{reference} - {name}"] = paired_bootstrap(ref.to_numpy(), other.to_numpy())
    result = {
        "dataset": getattr(dataset, "name", str(dataset)), "n_images": len(ids), "threshold": threshold,
        "methods": summary, "paired_dice": paired,
        "checkpoints": {n: str(getattr(p, "checkpoint", "")) for n, p in predictors.items()}, **(extra or {}),
    }
    write_json(out_dir / "summary.json", result)
    text = format_table(summary)
    if paired:
        text += "\nPaired per-image Dice differences (mean, 95 % bootstrap interval, share of images won):\n\n"
        text += "\n".join(f"- {k}: {v['mean']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}], wins {v['wins']:.0%}" for k, v in paired.items()) + "\n"
    atomic_write_text(out_dir / "table.md", text)
    return result
