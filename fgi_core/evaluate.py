"""Overlap metrics on boolean masks. (Distances, tables and ``fgi evaluate`` arrive with issue 5.)

Conventions for empty sets, stated once: when both prediction and ground truth are empty, Dice,
IoU, precision and recall are 1 (nothing to find, nothing found); when only one is empty they
are 0 (precision of an empty prediction against a non-empty truth is 0, and so on).
"""
from __future__ import annotations

import numpy as np

__all__ = ["dice", "iou", "precision", "recall", "overlap_scores"]


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
