"""Boundary distances between two masks: HD95 and ASD.

HD95 is the 95th percentile of the symmetric surface distance, as MONAI's
``compute_hausdorff_distance(percentile=95)``; ASD the mean symmetric surface distance, as
MONAI's ``compute_average_surface_distance(symmetric=True)``; in pixels unless a ``spacing`` is
given. Boundaries are the pixels a 4-connected erosion removes, as in MONAI; distances are
Euclidean. The tests check agreement with MONAI.

Empty-set convention: when both masks are empty HD95 = ASD = 0; when only one is empty they are
undefined and returned as NaN (summaries count them: :func:`fgi_core.metrics.summarise`).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .overlap import as_masks

__all__ = ["boundary_pixels", "surface_distances", "hd95", "asd"]


def boundary_pixels(mask: np.ndarray) -> np.ndarray:
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

    p, g = as_masks(pred, gt)
    if not p.any() or not g.any():
        raise ValueError("surface distances need two non-empty masks (see the module's empty-set convention)")
    ep, eg = boundary_pixels(p), boundary_pixels(g)
    to_g = distance_transform_edt(~eg, sampling=spacing)
    to_p = distance_transform_edt(~ep, sampling=spacing)
    return to_g[ep], to_p[eg]


def _distance(pred, gt, spacing, reduce) -> float:
    p, g = as_masks(pred, gt)
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
