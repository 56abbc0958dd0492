"""Gaze heatmaps: fixations -> a smooth attention map in [0, 1] at the image's size.

The reference recipe (docs/method.md §1.2; GazeMedSeg's notebooks):

1. a 768 x 768 canvas; each fixation adds its duration at pixel
   ``(row, col) = (min(floor(y * 768), 767), min(floor(x * 768), 767))``;
2. ``scipy.ndimage.gaussian_filter(canvas, 70, mode="reflect", truncate=4)``;
3. min-max normalisation to [0, 1];
4. ``cv2.resize(..., (W, H), interpolation=cv2.INTER_CUBIC)``.

Because the canvas is square and then resized, sigma is a fraction of each side: ``70/768 * W``
along x and ``70/768 * H`` along y on the image.

Why the fast method is exact: a Gaussian filter is separable and linear, and the canvas is a sum
of N weighted deltas. The response of a delta at column ``c`` is column ``c`` of the matrix
``K = gaussian_filter1d(eye(768), sigma, mode="reflect")`` (boundary handling included), so the
filtered canvas is ``K[:, rows] @ diag(durations) @ K[:, cols].T``: a 768 x N by N x 768 product
(N <= 100 fixations) instead of two 561-tap convolutions over 590k pixels. ``K`` is computed once
per sigma and cached. Steps 3-4 are the reference's own. The reference itself stays available as
``method="reference"`` for tests and benchmarks.

Example:
    >>> import numpy as np
    >>> from fgi_core.gaze import heatmap
    >>> h = heatmap(np.array([[0.5, 0.5, 300.0]]), height=120, width=160)
    >>> h.shape, h.dtype, float(h.max())
    ((120, 160), dtype('float32'), 1.0)
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from scipy import ndimage

from ..registry import look_up_option

__all__ = ["heatmap", "canvas_indices", "CANVAS", "DEFAULT_SIGMA"]

CANVAS = 768
DEFAULT_SIGMA = 70 / 768
TRUNCATE = 4.0
METHODS = ("separable", "reference")


def canvas_indices(xy: np.ndarray, canvas: int = CANVAS) -> np.ndarray:
    """Normalised (x, y) -> integer (row, col) on the canvas: ``min(floor(v * canvas), canvas - 1)``.

    Args:
        xy: N x 2 array of x, y in [0, 1] (x along the width, from the top-left).

    Returns:
        N x 2 int64 array of (row, col). Unlike the authors' ``round(v*768) - 1``, x = 0 maps
        to column 0, not to the last column.
    """
    from .coords import pixel_indices

    xy = np.asarray(xy, dtype=np.float64)
    rows, cols = pixel_indices(xy[:, 0], xy[:, 1], canvas, canvas)
    return np.stack([rows, cols], axis=1)


@lru_cache(maxsize=8)
def _response_matrix(canvas: int, sigma_px: float) -> np.ndarray:
    """``K[:, j]`` = 1-D reflect-mode Gaussian response to a unit delta at index j (canvas x canvas)."""
    k = ndimage.gaussian_filter1d(np.eye(canvas), sigma_px, axis=0, mode="reflect", truncate=TRUNCATE)
    k.setflags(write=False)
    return k


def _check_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be N x 3 (x, y, duration_ms), got shape {pts.shape}")
    if len(pts) == 0:
        raise ValueError("points is empty: a heatmap needs at least one fixation")
    if not np.isfinite(pts).all():
        raise ValueError("points contain NaN or infinite values")
    bad_xy = (pts[:, :2] < 0) | (pts[:, :2] > 1)
    if bad_xy.any():
        i = int(np.argwhere(bad_xy.any(axis=1))[0, 0])
        raise ValueError(f"fixation {i}: x, y = {pts[i, 0]}, {pts[i, 1]} outside [0, 1] (normalised coordinates)")
    if (pts[:, 2] <= 0).any():
        i = int(np.argwhere(pts[:, 2] <= 0)[0, 0])
        raise ValueError(f"fixation {i}: duration {pts[i, 2]} ms is not positive")
    return pts


def heatmap(
    points: np.ndarray,
    height: int,
    width: int,
    sigma: float | tuple[float, float] = DEFAULT_SIGMA,
    method: str = "separable",
    canvas: int = CANVAS,
) -> np.ndarray:
    """Duration-weighted gaze heatmap by the reference recipe.

    Args:
        points: N x 3 array of fixations: x, y normalised to [0, 1] from the top-left (x along
            the width), duration in ms (> 0).
        height, width: output size in pixels (the image's original size).
        sigma: Gaussian sigma as a fraction of the side (70/768 for Kvasir-SEG and ISIC,
            50/768 for NCI-ISBI); a pair gives (along y, along x) separately.
        method: ``"separable"`` (default, exact factorised form, fast) or ``"reference"``
            (the full 768 x 768 scipy filter, for tests and benchmarks).
        canvas: side of the square canvas the recipe draws on.

    Returns:
        float32 H x W array in [0, 1] (maximum 1 up to the bicubic resize).

    Raises:
        ValueError: for malformed points (shape, NaN, coordinates outside [0, 1], durations
            <= 0), a non-positive size, or an unknown method.
    """
    look_up_option(method, METHODS, "heatmap method")
    pts = _check_points(points)
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"heatmap size must be positive, got height={height}, width={width}")
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else sigma
    if sy <= 0 or sx <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    rc = canvas_indices(pts[:, :2], canvas)

    if method == "reference":
        grid = np.zeros((canvas, canvas), dtype=np.float32)
        np.add.at(grid, (rc[:, 0], rc[:, 1]), pts[:, 2].astype(np.float32))
        filtered = ndimage.gaussian_filter(grid, (sy * canvas, sx * canvas), mode="reflect", truncate=TRUNCATE)
        filtered = filtered.astype(np.float64)
    else:
        k_rows = _response_matrix(canvas, float(sy * canvas))[:, rc[:, 0]]  # canvas x N
        k_cols = _response_matrix(canvas, float(sx * canvas))[:, rc[:, 1]]  # canvas x N
        filtered = (k_rows * pts[:, 2]) @ k_cols.T  # canvas x canvas

    lo, hi = filtered.min(), filtered.max()
    if hi <= lo:
        raise ValueError("heatmap is constant before normalisation (sigma far larger than the canvas?)")
    normalised = ((filtered - lo) / (hi - lo)).astype(np.float32)
    if (int(height), int(width)) != (canvas, canvas):
        normalised = cv2.resize(normalised, (int(width), int(height)), interpolation=cv2.INTER_CUBIC)
    # Bicubic interpolation can overshoot by ~1e-6 on these smooth maps; keep the [0, 1] contract.
    return np.clip(normalised, 0.0, 1.0, out=normalised)
