"""Agreement of a map with another map, with fixations or with a region: CC, NSS, AUC.

The saliency measures of interpretability (:mod:`fgi_core.interpret`): how a predicted
probability map lines up with the clinicians' gaze heatmap (:func:`cc`), with the fixations
themselves (:func:`nss` on a :func:`fixation_map`), and how well a map scores a region
(:func:`auc`); :func:`separation_auc` is the same AUC across items instead of pixels.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["cc", "nss", "auc", "fixation_map", "separation_auc"]


def _maps(a: Any, b: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape; got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError(f"{names[0]} and {names[1]} are empty (shape {a.shape})")
    for x, n in ((a, names[0]), (b, names[1])):
        if not np.isfinite(x).all():
            raise ValueError(f"{n} has {int((~np.isfinite(x)).sum())} NaN or infinite value(s)")
    return a.ravel(), b.ravel()


def cc(a: Any, b: Any) -> float:
    """Pearson correlation coefficient of two maps (any equal shapes, e.g. H x W).

    Returns:
        a float in [-1, 1]; NaN when either map is constant (its correlation is undefined).

    Raises:
        ValueError: different shapes (both named), empty maps, NaN or infinite values.

    Example:
        >>> cc([0, 1, 2, 3], [0, 2, 4, 6]), cc([0, 1, 2, 3], [3, 2, 1, 0])
        (1.0, -1.0)
    """
    x, y = _maps(a, b, ("a", "b"))
    x, y = x - x.mean(), y - y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    if den == 0.0:
        return float("nan")
    return float(np.clip(float(x @ y) / den, -1.0, 1.0))


def nss(saliency: Any, fixation_map: Any) -> float:
    """Normalised scanpath saliency: the z-scored ``saliency`` averaged over the fixations.

    ``z = (s - mean(s)) / std(s)`` over all pixels (population std); NSS = ``sum(w * z) / sum(w)``
    with ``w = fixation_map`` (non-negative). A binary fixation map gives the classic NSS (mean of
    z at the fixated pixels); a count map (:func:`fixation_map`) weighs a pixel fixated twice
    twice. 0 = chance level; positive = the saliency is higher where people looked.

    Args:
        saliency: H x W map (e.g. a predicted probability map).
        fixation_map: H x W non-negative weights (e.g. :func:`fixation_map` of the fixations).

    Returns:
        a float; NaN when the saliency is constant.

    Raises:
        ValueError: shapes differ, a negative weight, no fixation (all weights 0), NaN values.

    Example:
        >>> round(nss([0.0, 0.0, 0.0, 1.0], [0, 0, 0, 1]), 6)  # z = (-1/sqrt(3), ..., sqrt(3))
        1.732051
    """
    s, w = _maps(saliency, fixation_map, ("saliency", "fixation_map"))
    if (w < 0).any():
        raise ValueError("fixation_map must be non-negative (weights per pixel)")
    total = float(w.sum())
    if total <= 0:
        raise ValueError("fixation_map has no fixation (all weights are 0)")
    sd = float(s.std())
    if sd == 0.0:
        return float("nan")
    return float((w @ ((s - s.mean()) / sd)) / total)


def auc(saliency: Any, target: Any) -> float:
    """ROC AUC of ``saliency`` as a score for the binary ``target`` (any equal shapes).

    The probability that a random target pixel scores higher than a random non-target pixel,
    ties counted half (Mann-Whitney U / (n_pos n_neg), from average ranks).

    Returns:
        a float in [0, 1]; 0.5 = chance; NaN when ``target`` is all True or all False.

    Raises:
        ValueError: shapes differ, NaN values.

    Example:
        >>> auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        0.75
    """
    from scipy.stats import rankdata

    s, t = _maps(saliency, target, ("saliency", "target"))
    pos = t > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks for ties
    u = float(ranks[pos].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def fixation_map(points: Any, height: int, width: int, weight: str = "count") -> np.ndarray:
    """Fixations as a pixel map: float32 ``height x width``.

    Each fixation adds to pixel ``(min(floor(y*H), H-1), min(floor(x*W), W-1))`` (the heatmap's
    convention): 1 with ``weight="count"``, its duration in ms with ``weight="duration"``.

    Args:
        points: N x 3 fixations (x, y normalised to [0, 1] from the top-left; duration ms).

    Raises:
        ValueError: points not N x 3, a coordinate outside [0, 1], an unknown ``weight``.
    """
    from ..registry import look_up_option

    weight = look_up_option(weight, ("count", "duration"), "weight")
    p = np.asarray(points, dtype=np.float64)
    if p.size == 0:
        p = np.zeros((0, 3))
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must be N x 3 (x, y, duration); got shape {p.shape}")
    if len(p) and (not np.isfinite(p).all() or p[:, :2].min() < 0 or p[:, :2].max() > 1):
        raise ValueError("fixation coordinates must be finite and normalised to [0, 1]")
    out = np.zeros((int(height), int(width)), np.float32)
    if len(p):
        from ..gaze.coords import pixel_indices

        rows, cols = pixel_indices(p[:, 0], p[:, 1], int(height), int(width))
        np.add.at(out, (rows, cols), 1.0 if weight == "count" else p[:, 2])
    return out


def separation_auc(scores: Sequence[Any], positive: Sequence[Any]) -> float:
    """AUC of ``scores`` for telling ``positive`` items (True) from the others, across items.

    Items whose score is NaN / None, or whose label is None / NaN, are left out; NaN when either
    group is then empty. Used over images: does the measured boundary sharpness rank the images
    described ``well-defined`` above the others?

    Example:
        >>> separation_auc([3.0, 1.0, None, 2.0], [True, False, True, False])
        1.0
    """
    pairs = [(float(s), bool(p)) for s, p in zip(scores, positive)
             if s is not None and p is not None and np.isfinite(float(s)) and not (isinstance(p, float) and math.isnan(p))]
    if not pairs:
        return float("nan")
    s, p = zip(*pairs)
    return auc(np.array(s), np.array(p))
