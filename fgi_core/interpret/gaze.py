"""Gaze vs prediction: how one image's gaze agrees with one predicted probability map.

The scores themselves (CC, NSS, AUC, fixation maps) live in :mod:`fgi_core.metrics.saliency`;
this module applies them to a (heatmap, fixations, prediction, ground truth) quadruple.
"""
from __future__ import annotations

import numpy as np

from ..metrics.saliency import auc, cc, fixation_map, nss

__all__ = ["gaze_agreement"]


def gaze_agreement(
    heatmap: np.ndarray,
    prob: np.ndarray,
    points: np.ndarray | None = None,
    gt: np.ndarray | None = None,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Agreement of one image's gaze with one predicted probability map.

    Args:
        heatmap: float H x W gaze heatmap in [0, 1].
        prob: float H x W predicted foreground probability.
        points: N x 3 fixations (x, y normalised; duration) for NSS; None or empty gives NaN.
        gt: bool H x W ground truth (for ``auc_gt``), or None.
        threshold: the predicted region is ``prob >= threshold``.

    Returns:
        ``cc`` (heatmap vs prob), ``nss`` (prob at the fixations), ``auc_pred`` (heatmap as a score
        for the predicted region), ``auc_gt`` (heatmap as a score for the ground truth; NaN
        without one). NaN where undefined (constant maps, an empty or full region).

    Raises:
        ValueError: ``heatmap`` and ``prob`` of different shapes (both named).
    """
    heatmap, prob = np.asarray(heatmap), np.asarray(prob)
    if heatmap.shape != prob.shape:
        raise ValueError(f"heatmap {heatmap.shape} and prob {prob.shape} must have the same shape")
    h, w = prob.shape
    out = {"cc": cc(heatmap, prob), "nss": float("nan"), "auc_pred": auc(heatmap, prob >= threshold), "auc_gt": float("nan")}
    if points is not None and len(points):
        out["nss"] = nss(prob, fixation_map(points, h, w))
    if gt is not None:
        out["auc_gt"] = auc(heatmap, np.asarray(gt, bool))
    return out
