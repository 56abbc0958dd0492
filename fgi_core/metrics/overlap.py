"""Overlap of a predicted mask with a reference mask: Dice, IoU, precision, recall.

The one home of these scores: evaluation (:mod:`fgi_core.evaluate`), the gaze stage's quality
tables, interpretability (:mod:`fgi_core.interpret`) and validation during training
(:func:`dice_per_image`, batched on the tensors' device) all call them.

Empty-set convention, stated once for the project: when both prediction and reference are
empty, Dice, IoU, precision and recall are 1 (nothing to find, nothing found); when only one is
empty they are 0.
"""
from __future__ import annotations

import numpy as np

__all__ = ["as_masks", "dice", "iou", "precision", "recall", "overlap_scores", "dice_per_image"]


def as_masks(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``gt`` as boolean arrays of one shape (non-zero = in the mask).

    Raises:
        ValueError: the shapes differ (both named).
    """
    p, g = np.asarray(pred).astype(bool), np.asarray(gt).astype(bool)
    if p.shape != g.shape:
        raise ValueError(f"prediction shape {p.shape} does not match ground-truth shape {g.shape}")
    return p, g


def _ratio(num: int, den: int) -> float:
    return 1.0 if den == 0 else num / den


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """2|P n G| / (|P| + |G|) on boolean H x W masks; 1.0 when both are empty.

    Example:
        >>> dice([[1, 1, 0]], [[1, 0, 0]]), dice([[0, 0]], [[0, 0]])
        (0.6666666666666666, 1.0)
    """
    p, g = as_masks(pred, gt)
    return _ratio(2 * int(np.count_nonzero(p & g)), int(np.count_nonzero(p)) + int(np.count_nonzero(g)))


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """|P n G| / |P u G|; 1.0 when both are empty."""
    p, g = as_masks(pred, gt)
    return _ratio(int(np.count_nonzero(p & g)), int(np.count_nonzero(p | g)))


def precision(pred: np.ndarray, gt: np.ndarray) -> float:
    """|P n G| / |P|: how much of the prediction is lesion. 1.0 if both empty, 0.0 if only G is."""
    p, g = as_masks(pred, gt)
    if not p.any():
        return 1.0 if not g.any() else 0.0
    return int(np.count_nonzero(p & g)) / int(np.count_nonzero(p))


def recall(pred: np.ndarray, gt: np.ndarray) -> float:
    """|P n G| / |G|: how much of the lesion is found. 1.0 if both empty, 0.0 if only P is."""
    p, g = as_masks(pred, gt)
    if not g.any():
        return 1.0 if not p.any() else 0.0
    return int(np.count_nonzero(p & g)) / int(np.count_nonzero(g))


def overlap_scores(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """``{"dice", "iou", "precision", "recall"}`` of one prediction."""
    return {"dice": dice(pred, gt), "iou": iou(pred, gt), "precision": precision(pred, gt), "recall": recall(pred, gt)}


def dice_per_image(pred, gt):
    """Dice of each image of a batch, on the tensors' device (no host synchronisation).

    Args:
        pred, gt: bool ``B x H x W`` (or ``B x ...``) torch tensors.

    Returns:
        float32 ``(B,)``: ``2|P n G| / (|P| + |G|)`` per image, 1 where both are empty (the
        convention of :func:`dice`).

    Raises:
        ValueError: the shapes differ (both named).

    Example:
        >>> import torch
        >>> p = torch.tensor([[[True, True]], [[False, False]]]); g = torch.tensor([[[True, False]], [[False, False]]])
        >>> dice_per_image(p, g).tolist()
        [0.6666666865348816, 1.0]
    """
    import torch

    if tuple(pred.shape) != tuple(gt.shape):
        raise ValueError(f"prediction shape {tuple(pred.shape)} does not match ground-truth shape {tuple(gt.shape)}")
    pred, gt = pred.bool(), gt.bool()
    inter = (pred & gt).flatten(1).sum(1).float()
    total = (pred.flatten(1).sum(1) + gt.flatten(1).sum(1)).float()
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))
