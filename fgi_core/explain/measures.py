"""The measurements behind the Boundary field: edge strength, ramp width, solidity, the class.

One home for the rule that both sides use: the describer (:class:`fgi_core.explain.describer.
DescriberExplainer`) writes the Boundary word of a gaze region with it, and interpretability
(:func:`fgi_core.interpret.description_consistency`, with :func:`boundary_measures` and
:func:`boundary_class`) measures a *predicted* region the same way, so that the two can be
compared.

The rule (cut-offs :data:`BOUNDARY_THRESHOLDS`): ``irregular`` when the region's solidity (area /
convex-hull area) is under 0.80; otherwise ``well-defined`` when the image edge along the
region's contour is both *strong* (``edge_strength`` >= 3) and *sharp* (``edge_width`` <= 0.05
of the image's short side); else ``ill-defined``. :func:`edge_measures` says how each number is
measured.

Example:
    >>> import numpy as np
    >>> image = np.zeros((64, 64), np.uint8); image[16:48, 16:48] = 200     # a sharp square
    >>> m = boundary_measures(image > 0, image)
    >>> boundary_class(m)
    'well-defined'
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["BOUNDARY_THRESHOLDS", "grey_image", "solidity", "edge_measures", "boundary_measures", "boundary_class",
           "BOUNDARY_CLASSES"]

#: Cut-offs of the Boundary rule (the describer records them with its other thresholds).
BOUNDARY_THRESHOLDS: dict[str, float] = {
    "irregular_solidity": 0.80,     # area(R) / area(convex hull of R) below this -> irregular
    "edge_strength_min": 3.0,       # contour gradient / image's median gradient at least this ...
    "edge_width_max": 0.05,         # ... and ramp width / image short side at most this -> well-defined
    "gradient_floor": 0.5,          # grey levels per pixel; floor of the median gradient
}
#: The words the rule can give, in the schema's vocabulary.
BOUNDARY_CLASSES = ("well-defined", "ill-defined", "irregular")


def grey_image(image: np.ndarray) -> np.ndarray:
    """float32 H x W grey levels of a uint8 RGB (H x W x 3) or grey (H x W) image."""
    import cv2

    image = np.asarray(image).astype(np.uint8, copy=False)
    return (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image).astype(np.float32)


def solidity(mask: np.ndarray) -> float:
    """Area / convex-hull area of the pixel squares of ``mask`` (1 for a pixel or a line; NaN if empty)."""
    import cv2

    area = float(mask.sum())
    if area == 0:
        return float("nan")
    ys, xs = np.nonzero(mask)
    pts = np.stack([xs, ys], axis=1).astype(np.int32)
    # pixel squares: hull of the pixel corners, so a single pixel / a line has solidity 1
    corners = np.concatenate([pts, pts + [1, 0], pts + [0, 1], pts + [1, 1]])
    hull = cv2.convexHull(corners)
    hull_area = float(cv2.contourArea(hull))
    return float(min(1.0, area / hull_area)) if hull_area > 0 else 1.0


def edge_measures(grey: np.ndarray, region: np.ndarray, gradient_floor: float = BOUNDARY_THRESHOLDS["gradient_floor"]) -> dict[str, float]:
    """How sharp the edge of ``region`` is in ``grey`` (float32 H x W).

    ``edge_gradient``: median over the contour of the local maximum (within 1.5 % of the short
    side) of the Gaussian-smoothed (sigma 1) Sobel magnitude; ``image_median_gradient``: the
    image's median magnitude, at least ``gradient_floor``; ``edge_strength`` = their ratio;
    ``edge_step``: |median grey in a band 4-8 % of the short side inside - the same outside|;
    ``edge_width_px`` = step / edge gradient (pixels), ``edge_width`` = that / short side;
    ``solidity`` = area / convex-hull area of the pixel squares. ``region``: non-empty bool H x W.
    """
    import cv2

    short = min(region.shape)
    grey_s = cv2.GaussianBlur(grey, (0, 0), 1.0)
    gx = cv2.Sobel(grey_s, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(grey_s, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    mag = np.hypot(gx, gy)
    r8 = region.astype(np.uint8)
    contour = region & ~cv2.erode(r8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE).astype(bool)
    reach = max(1, int(round(0.015 * short)))
    local_max = cv2.dilate(mag, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    g_edge = float(np.median(local_max[contour])) if contour.any() else 0.0
    g_image = max(float(np.median(mag)), gradient_floor)
    k = max(2, int(round(0.04 * short)))
    d_in = cv2.distanceTransform(np.pad(r8, 1, constant_values=1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    d_out = cv2.distanceTransform(1 - r8, cv2.DIST_L2, 3)
    inner = region & (d_in >= k) & (d_in <= 2 * k)
    if not inner.any():
        inner = region & (d_in >= max(1.0, d_in[region].max() / 2))
    outer = (~region) & (d_out >= k) & (d_out <= 2 * k)
    if not outer.any():
        outer = ~region
    step = abs(float(np.median(grey[inner])) - float(np.median(grey[outer]))) if outer.any() and inner.any() else 0.0
    width_px = step / g_edge if g_edge > 1e-6 else float("inf")
    return {"edge_gradient": g_edge, "image_median_gradient": g_image, "edge_strength": g_edge / g_image,
            "edge_step": step, "edge_width_px": width_px, "edge_width": width_px / short, "solidity": solidity(region)}


def boundary_measures(region: np.ndarray, image: np.ndarray, thresholds: Mapping[str, float] | None = None) -> dict[str, float]:
    """``edge_strength``, ``edge_width`` and ``solidity`` of ``region`` in ``image`` (:func:`edge_measures`).

    Args:
        region: bool H x W.
        image: uint8 H x W x 3 RGB (or H x W grey) of the same size.
        thresholds: overrides of :data:`BOUNDARY_THRESHOLDS` (``gradient_floor`` is used here).

    Returns:
        the three numbers; all NaN for an empty region.

    Raises:
        ValueError: the shapes differ.
    """
    region = np.asarray(region, bool)
    image = np.asarray(image)
    if image.shape[:2] != region.shape:
        raise ValueError(f"region {region.shape} and image {image.shape} must have the same height and width")
    if not region.any():
        return {"edge_strength": float("nan"), "edge_width": float("nan"), "solidity": float("nan")}
    t = {**BOUNDARY_THRESHOLDS, **(thresholds or {})}
    e = edge_measures(grey_image(image), region, t["gradient_floor"])
    return {"edge_strength": e["edge_strength"], "edge_width": e["edge_width"], "solidity": e["solidity"]}


def boundary_class(measures: Mapping[str, Any], thresholds: Mapping[str, float] | None = None) -> str | None:
    """The Boundary word for ``measures`` (``edge_strength``, ``edge_width``, ``solidity``).

    ``irregular`` when solidity < 0.80; else ``well-defined`` when edge_strength >= 3 and
    edge_width <= 0.05; else ``ill-defined``. None when the solidity is missing or NaN (an empty
    region). Cut-offs: ``thresholds`` over :data:`BOUNDARY_THRESHOLDS` (``irregular_solidity``,
    ``edge_strength_min``, ``edge_width_max``).
    """
    t = {**BOUNDARY_THRESHOLDS, **(thresholds or {})}
    value = measures.get("solidity", float("nan"))
    if value is None or not np.isfinite(value):
        return None
    if value < t["irregular_solidity"]:
        return "irregular"
    if measures["edge_strength"] >= t["edge_strength_min"] and measures["edge_width"] <= t["edge_width_max"]:
        return "well-defined"
    return "ill-defined"
