"""Refinement: sharpen a gaze heatmap along the image's edges.

Methods (``refine(..., method=...)``):

* ``"crf"``: the reference. A fully connected CRF (Kraehenbuehl & Koltun 2011, via the
  ``pydensecrf`` module of the ``pydensecrf2`` package): two labels, unary ``-log [1-h, h]``,
  one bilateral pairwise term (sxy 80, srgb 13, compat 1), 10 mean-field iterations; the soft
  foreground marginal is kept. Parameters as in GazeMedSeg's and the FGI authors' notebooks.
* ``"meanfield"``: the same dense CRF in numpy (:mod:`fgi_core.gaze.meanfield`, a vectorised
  port of pydensecrf's permutohedral lattice): equal to ``"crf"`` to ~1e-8 and 2-4x faster on
  one core. The fallback when ``pydensecrf`` is not installed.
* ``"guided"``: a guided filter (He et al., TPAMI 2013) of the heatmap with the image's
  luminance as guide. Cheap, but on real Kvasir-SEG it is no better than no refinement (docs/results.md);
  kept as a baseline.
* ``"none"``: the heatmap unchanged (for ablations).
* ``"auto"``: ``"crf"`` when ``pydensecrf`` imports, else ``"meanfield"``.

Every output of the gaze stage records the method actually used (:func:`resolve_refine_method`)
and its parameters (:func:`refine_params`).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from ..registry import look_up_option

__all__ = ["refine", "resolve_refine_method", "refine_params", "crf_available", "REFINE_METHODS", "DEFAULT_PARAMS"]

REFINE_METHODS = ("auto", "crf", "meanfield", "guided", "none")
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "crf": {"sxy": 80.0, "srgb": 13.0, "compat": 1.0, "iterations": 10, "clip": 1e-5},
    "meanfield": {"sxy": 80.0, "srgb": 13.0, "compat": 1.0, "iterations": 10, "clip": 1e-5},
    "guided": {"radius_fraction": 0.04, "eps": 1e-3},
    "none": {},
}


@lru_cache(maxsize=1)
def crf_available() -> bool:
    """True when the dense CRF (module ``pydensecrf``, package ``pydensecrf2``) imports."""
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_refine_method(method: str = "auto") -> str:
    """The concrete method ``method`` means here (``auto`` -> ``crf`` or ``meanfield``).

    Raises:
        ValueError: unknown method, naming the allowed ones.
        ImportError: ``crf`` asked for explicitly but ``pydensecrf`` is missing.
    """
    look_up_option(method, REFINE_METHODS, "refinement method")
    if method == "auto":
        return "crf" if crf_available() else "meanfield"
    if method == "crf" and not crf_available():
        raise ImportError(
            "refinement method 'crf' needs the dense CRF module 'pydensecrf': "
            "pip install pydensecrf2 (builds from source with gcc, ~35 s), or use method='meanfield' "
            "(the same CRF in numpy)"
        )
    return method


def refine_params(method: str = "auto", **overrides: Any) -> dict[str, Any]:
    """The parameters :func:`refine` uses for ``method`` (after ``auto`` is resolved)."""
    concrete = resolve_refine_method(method)
    params = dict(DEFAULT_PARAMS[concrete])
    for key in overrides:
        look_up_option(key, params, f"parameter of refinement '{concrete}'")
    params.update(overrides)
    return params


def refine(image_rgb_uint8: np.ndarray, heatmap: np.ndarray, method: str = "crf", **params: Any) -> np.ndarray:
    """Refine a heatmap with the image.

    Args:
        image_rgb_uint8: uint8 H x W x 3 RGB image (MRI: min-max to 8 bits, 3 channels; see
            :func:`fgi_core.data.to_rgb_uint8`).
        heatmap: float H x W in [0, 1] (from :func:`fgi_core.gaze.heatmap`).
        method: ``crf`` (default), ``meanfield``, ``guided``, ``none`` or ``auto``; see the
            module docstring.
        **params: override the method's parameters (:data:`DEFAULT_PARAMS`), e.g. ``sxy=60``.

    Returns:
        float32 H x W in [0, 1]: the refined foreground probability.

    Raises:
        ValueError: shapes disagree, the image is not uint8 RGB, the heatmap is outside
            [0, 1], or the method / a parameter is unknown.
        ImportError: ``method="crf"`` without ``pydensecrf``.
    """
    image = np.asarray(image_rgb_uint8)
    heat = np.asarray(heatmap, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 H x W x 3 RGB, got {image.dtype} {image.shape}")
    if heat.shape != image.shape[:2]:
        raise ValueError(f"heatmap shape {heat.shape} does not match image shape {image.shape[:2]}")
    if not np.isfinite(heat).all() or heat.min() < 0 or heat.max() > 1:
        raise ValueError(f"heatmap values must be finite and in [0, 1], got [{heat.min()}, {heat.max()}]")
    concrete = resolve_refine_method(method)
    p = refine_params(concrete, **params)
    if concrete == "none":
        return heat.copy()
    if concrete == "guided":
        return _guided(image, heat, **p)
    if concrete == "meanfield":
        from .meanfield import dense_crf_numpy

        return dense_crf_numpy(image, heat, **p)
    return _dense_crf(image, heat, **p)


def _dense_crf(image: np.ndarray, heat: np.ndarray, sxy: float, srgb: float, compat: float, iterations: int, clip: float) -> np.ndarray:
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    h, w = heat.shape
    probs = np.stack([1.0 - heat, heat]).astype(np.float32)
    crf = dcrf.DenseCRF2D(w, h, 2)
    crf.setUnaryEnergy(unary_from_softmax(probs, clip=clip))
    crf.addPairwiseBilateral(sxy=sxy, srgb=srgb, rgbim=np.ascontiguousarray(image), compat=compat)
    q = np.asarray(crf.inference(int(iterations)), dtype=np.float32)
    return np.clip(q[1].reshape(h, w), 0.0, 1.0)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, ddepth=-1, ksize=(2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def _guided(image: np.ndarray, heat: np.ndarray, radius_fraction: float, eps: float) -> np.ndarray:
    guide = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    r = max(1, int(round(radius_fraction * max(heat.shape))))
    mean_i, mean_p = _box(guide, r), _box(heat, r)
    cov_ip = _box(guide * heat, r) - mean_i * mean_p
    var_i = _box(guide * guide, r) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    out = _box(a, r) * guide + _box(b, r)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
