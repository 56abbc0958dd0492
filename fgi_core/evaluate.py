"""Segmentation metrics on boolean masks, per image and per method.

Overlap: Dice, IoU, precision, recall. Boundary distances: HD95 (the 95th percentile of the
symmetric surface distance, as MONAI's ``compute_hausdorff_distance(percentile=95)``) and ASD
(the mean symmetric surface distance, as MONAI's ``compute_average_surface_distance(symmetric=True)``),
in pixels unless a ``spacing`` is given. Boundaries are the pixels a 4-connected erosion
removes, as in MONAI; distances are Euclidean. The tests check agreement with MONAI.

Conventions for empty sets, stated once:

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
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "dice", "iou", "precision", "recall", "overlap_scores", "surface_distances", "hd95", "asd",
    "score_image", "resize_probability", "summarise", "paired_difference", "METRICS",
    "evaluate_predictor", "evaluate_methods", "format_table",
]

#: The per-image metrics of :func:`score_image`, in table order.
METRICS = ("dice", "iou", "hd95", "asd", "precision", "recall")


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, g = np.asarray(pred).astype(bool), np.asarray(gt).astype(bool)
    if p.shape != g.shape:
        raise ValueError(f"prediction shape {p.shape} does not match ground-truth shape {g.shape}")
    return p, g


def _ratio(num: int, den: int) -> float:
    return 1.0 if den == 0 else num / den


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """2|P n G| / (|P| + |G|) on boolean H x W masks; 1.0 when both are empty."""
    p, g = _pair(pred, gt)
    return _ratio(2 * int(np.count_nonzero(p & g)), int(np.count_nonzero(p)) + int(np.count_nonzero(g)))


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """|P n G| / |P u G|; 1.0 when both are empty."""
    p, g = _pair(pred, gt)
    return _ratio(int(np.count_nonzero(p & g)), int(np.count_nonzero(p | g)))


def precision(pred: np.ndarray, gt: np.ndarray) -> float:
    """|P n G| / |P|: how much of the prediction is lesion. 1.0 if both empty, 0.0 if only G is."""
    p, g = _pair(pred, gt)
    if not p.any():
        return 1.0 if not g.any() else 0.0
    return int(np.count_nonzero(p & g)) / int(np.count_nonzero(p))


def recall(pred: np.ndarray, gt: np.ndarray) -> float:
    """|P n G| / |G|: how much of the lesion is found. 1.0 if both empty, 0.0 if only P is."""
    p, g = _pair(pred, gt)
    if not g.any():
        return 1.0 if not p.any() else 0.0
    return int(np.count_nonzero(p & g)) / int(np.count_nonzero(g))


def overlap_scores(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """``{"dice", "iou", "precision", "recall"}`` of one prediction."""
    return {"dice": dice(pred, gt), "iou": iou(pred, gt), "precision": precision(pred, gt), "recall": recall(pred, gt)}


# ----------------------------------------------------------------------------------------------
# Boundary distances
# ----------------------------------------------------------------------------------------------
def _edges(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels: the mask minus its 4-connected erosion (outside the image counts as 0)."""
    from scipy.ndimage import binary_erosion

    return mask ^ binary_erosion(mask)


def surface_distances(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each boundary pixel of ``pred`` to the boundary of ``gt``, and back.

    Args:
        pred, gt: boolean H x W masks, both non-empty.
        spacing: pixel size (row, column); None = 1 pixel.

    Returns:
        (d_pred_to_gt, d_gt_to_pred): float64 arrays, one value per boundary pixel.
    """
    from scipy.ndimage import distance_transform_edt

    p, g = _pair(pred, gt)
    if not p.any() or not g.any():
        raise ValueError("surface distances need two non-empty masks (see the module's empty-set convention)")
    ep, eg = _edges(p), _edges(g)
    to_g = distance_transform_edt(~eg, sampling=spacing)
    to_p = distance_transform_edt(~ep, sampling=spacing)
    return to_g[ep], to_p[eg]


def _distance(pred, gt, spacing, reduce) -> float:
    p, g = _pair(pred, gt)
    if not p.any() and not g.any():
        return 0.0
    if not p.any() or not g.any():
        return math.nan
    return float(reduce(*surface_distances(p, g, spacing)))


def hd95(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float] | None = None) -> float:
    """95th-percentile symmetric Hausdorff distance: max of the two directed 95th percentiles.

    0.0 when both masks are empty; NaN when only one is (undefined).
    """
    return _distance(pred, gt, spacing, lambda a, b: max(np.percentile(a, 95), np.percentile(b, 95)))


def asd(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float] | None = None) -> float:
    """Average symmetric surface distance: the mean over both boundaries' distances.

    0.0 when both masks are empty; NaN when only one is (undefined).
    """
    return _distance(pred, gt, spacing, lambda a, b: np.concatenate([a, b]).mean())


def score_image(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float] | None = None) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one boolean H x W prediction against its mask."""
    p, g = _pair(pred, gt)
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
# Summaries
# ----------------------------------------------------------------------------------------------
def summarise(rows: Iterable[Mapping[str, float]], metrics: Sequence[str] = METRICS) -> dict[str, dict[str, float]]:
    """Mean and (sample) std of each metric over images, NaNs left out and counted.

    Returns:
        ``{metric: {"mean", "std", "n", "undefined"}}``; ``undefined`` is the number of images
        where the metric was NaN (HD95 / ASD with exactly one empty mask).
    """
    rows = list(rows)
    out = {}
    for m in metrics:
        values = np.array([r[m] for r in rows], np.float64)
        defined = values[np.isfinite(values)]
        out[m] = {
            "mean": float(defined.mean()) if defined.size else math.nan,
            "std": float(defined.std(ddof=1)) if defined.size > 1 else 0.0,
            "n": int(defined.size),
            "undefined": int(values.size - defined.size),
        }
    return out


def paired_difference(a: Sequence[float], b: Sequence[float], n_boot: int = 10_000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Mean of the per-image differences ``a - b`` with a percentile-bootstrap confidence interval.

    Args:
        a, b: the same images' scores under two methods (same order, same length).
        n_boot: bootstrap resamples of the images; seed: their generator's seed.

    Returns:
        ``{"mean", "low", "high", "n", "wins"}``: mean difference, the interval's bounds, the
        number of images, and the share of images where ``a > b``.
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired scores need two 1-D arrays of the same length, got {x.shape} and {y.shape}")
    d = x - y
    if d.size == 0:
        raise ValueError("paired_difference of no images")
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return {"mean": float(d.mean()), "low": float(np.percentile(boots, tail)), "high": float(np.percentile(boots, 100 - tail)),
            "n": int(d.size), "wins": float((d > 0).mean())}


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
    from tqdm.auto import tqdm

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
        summary[name] = summarise(rows)
    table = pd.concat(frames, ignore_index=True)[["method", "id", "height", "width", *METRICS]]
    with atomic_path(out_dir / "per_image.csv") as tmp:
        table.to_csv(tmp, index=False)
    paired = {}
    if reference is not None and reference in summary:
        ref = table[table.method == reference].set_index("id")["dice"]
        for name in summary:
            if name != reference:
                other = table[table.method == name].set_index("id")["dice"].reindex(ref.index)
                paired[f"{reference} - {name}"] = paired_difference(ref.to_numpy(), other.to_numpy())
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
