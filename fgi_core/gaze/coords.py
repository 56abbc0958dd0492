"""The one rule that puts a fixation on a pixel, and "the share of gaze inside a mask".

A fixation at normalised ``(x, y)`` (from the top-left, in [0, 1]) falls on pixel
``(row, col) = (min(floor(y * H), H - 1), min(floor(x * W), W - 1))`` of an ``H x W`` grid: x = 0
is column 0 and x = 1 the last column (the authors' notebooks index ``round(x * 768) - 1``, which
sends x = 0 to the last column; docs/fidelity.md). The heatmap's canvas, the saliency metrics,
the gaze statistics and the describer all place fixations with :func:`pixel_indices`.

Example:
    >>> import numpy as np
    >>> pixel_indices(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.25, 1.0]), 4, 8)
    (array([0, 1, 3]), array([0, 4, 7]))
    >>> share_inside(np.array([[0.1, 0.1, 100.0], [0.9, 0.9, 300.0]]), np.eye(2, dtype=bool), weighted=True)
    1.0
"""
from __future__ import annotations

import numpy as np

__all__ = ["pixel_indices", "share_inside"]


def pixel_indices(x: np.ndarray, y: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (int64 arrays) of fixations at normalised ``x``, ``y`` on a ``height x width`` grid."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rows = np.clip(np.floor(y * height), 0, height - 1).astype(np.int64)
    cols = np.clip(np.floor(x * width), 0, width - 1).astype(np.int64)
    return rows, cols


def share_inside(points: np.ndarray, mask: np.ndarray, weighted: bool = False) -> float:
    """Share of fixations (or, ``weighted``, of fixation time) on ``mask`` pixels.

    Args:
        points: N x 2 (x, y) or N x 3 (x, y, duration) normalised fixations.
        mask: H x W, non-zero = inside.
        weighted: weight each fixation by its duration (needs N x 3).
    """
    points = np.asarray(points, dtype=np.float64)
    mask = np.asarray(mask).astype(bool)
    rows, cols = pixel_indices(points[:, 0], points[:, 1], *mask.shape)
    inside = mask[rows, cols]
    if weighted:
        return float((inside * points[:, 2]).sum() / points[:, 2].sum())
    return float(inside.mean())
