"""Interpretability: how predictions, gaze and lesion descriptions hang together, image by image.

The paper claims that the framework keeps the segmentation, the clinicians' gaze and the VLM's
description of the lesion correlated, which is what keeps it interpretable. This module
*measures* those links; :mod:`fgi_core.widgets` shows them; ``notebooks/06_interpretability``
puts both to work on a run folder.

Three groups of measurements, each per image, then summarised over a dataset with bootstrap
confidence intervals (:func:`summarise`, :func:`compare_sources`):

1. **Gaze vs prediction** (:func:`gaze_agreement`), for a predicted probability map p:

   * ``cc``: Pearson correlation coefficient between the gaze heatmap and p (:func:`cc`);
   * ``nss``: normalised scanpath saliency of p at the fixations (:func:`nss`): the mean of the
     z-scored p over the fixated pixels; 0 = chance, > 0 = the network is more confident where
     the clinicians looked;
   * ``auc_pred``: ROC AUC of the heatmap as a score for the predicted region ``p >= t``
     (:func:`auc`); 0.5 = chance, 1 = every predicted pixel was looked at more than every other;
   * ``auc_gt`` (network-free): the same AUC against the ground truth.

2. **Description vs prediction** (:func:`description_consistency`): the described Location
   against the 3 x 3 grid cell of the predicted region's centroid (match and Chebyshev cell
   distance); the described Area Percentage against the predicted area (match and bin
   distance); the described Boundary against a *measured* boundary class of the predicted region
   (:func:`boundary_measures`, :func:`boundary_class`: the image's edge strength and width along
   the predicted contour and the region's solidity, with the describer's rules and cut-offs,
   ``fgi_core.explain.backends.DESCRIBER_THRESHOLDS``). Chance-corrected agreement over a dataset:
   :func:`cohen_kappa`.

3. **The teacher's cross-attention** (:func:`teacher_attention`, :func:`token_map`,
   :func:`field_map`, :func:`attention_rows`): at each of the four encoder stages, every pixel's
   attention weights over the text tokens (they sum to 1 over the real tokens; mean over heads).
   A token's map is its weight at every pixel; a field's map is the sum over the field's tokens
   (the share of the pixel's attention that goes to the field; token spans come from the
   explanation cache, ``explain/embeddings_index.json``).

Everything is computed at the networks' input size S x S (the profile's ``image_size``): the
predictions are made there, and the gaze maps, masks and image are resized to it (area
interpolation for images and soft maps, nearest for masks); fixations are normalised
coordinates, so they map to any size.

Ground truth is read here only to *score* (``auc_gt``, Dice), after training; nothing here feeds
a loss or an explainer.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "cc",
    "nss",
    "auc",
    "fixation_map",
    "cell_of",
    "cell_distance",
    "area_bin_distance",
    "boundary_measures",
    "boundary_class",
    "gaze_agreement",
    "description_consistency",
    "cohen_kappa",
    "teacher_attention",
    "token_map",
    "field_map",
    "attention_rows",
    "bootstrap_ci",
    "summarise",
    "compare_sources",
    "summary_by_source",
    "ci_strings",
    "separation_auc",
    "dataset_summary",
    "attention_records",
    "json_ready",
    "GAZE_METRICS",
    "DESCRIPTION_METRICS",
    "ImageRecord",
    "Inspection",
    "load_inspection",
    "measure",
    "attention_table",
    "attention_summary",
    "STAGES",
    "SOURCES",
]

STAGES = (1, 2, 3, 4)
SOURCES = ("teacher", "student")
#: Per-source columns of :func:`measure` that the summaries report.
GAZE_METRICS = ("cc", "nss", "auc_pred")
DESCRIPTION_METRICS = ("location_match", "location_distance", "area_match", "area_distance", "boundary_match")


# ==============================================================================================
# Map agreement: CC, NSS, AUC
# ==============================================================================================
def _pair(a: Any, b: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
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
    x, y = _pair(a, b, ("a", "b"))
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
    s, w = _pair(saliency, fixation_map, ("saliency", "fixation_map"))
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

    s, t = _pair(saliency, target, ("saliency", "target"))
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
    from .config import look_up_option

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
        rows = np.minimum(np.floor(p[:, 1] * height).astype(int), height - 1)
        cols = np.minimum(np.floor(p[:, 0] * width).astype(int), width - 1)
        np.add.at(out, (rows, cols), 1.0 if weight == "count" else p[:, 2])
    return out


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
        points: N x 3 fixations (for NSS); None or empty gives NaN.
        gt: bool H x W ground truth (for ``auc_gt``), or None.
        threshold: the predicted region is ``prob >= threshold``.

    Returns:
        ``cc`` (heatmap vs prob), ``nss`` (prob at the fixations), ``auc_pred`` (heatmap as a score
        for the predicted region), ``auc_gt`` (heatmap as a score for the ground truth; NaN
        without one). NaN where undefined (constant maps, an empty or full region).
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


# ==============================================================================================
# Description vs prediction
# ==============================================================================================
def _cells() -> dict[str, tuple[int, int]]:
    from .explain.schema import GRID_COLS, GRID_ROWS

    return {("center" if r == c == "center" else f"{r}-{c}"): (i, j) for i, r in enumerate(GRID_ROWS) for j, c in enumerate(GRID_COLS)}


def cell_of(region: np.ndarray) -> str | None:
    """The Location cell (3 x 3 grid) of a region's centroid; None for an empty region.

    Pixel centres are at ``(col + 0.5) / W, (row + 0.5) / H`` (as
    :func:`fgi_core.explain.agreement.mask_centroid_cell`).
    """
    from .explain.agreement import mask_centroid_cell

    return mask_centroid_cell(np.asarray(region, bool))


def cell_distance(a: str | None, b: str | None) -> float:
    """Chebyshev distance between two Location cells on the 3 x 3 grid (0, 1 or 2; NaN if either is None).

    Raises:
        ValueError: an unknown cell name (the allowed ones are listed).

    Example:
        >>> cell_distance("upper-left", "center"), cell_distance("upper-left", "lower-right")
        (1.0, 2.0)
    """
    if a is None or b is None:
        return float("nan")
    cells = _cells()
    for name in (a, b):
        if name not in cells:
            raise ValueError(f"unknown Location cell {name!r}; allowed: {', '.join(cells)}")
    (ra, ca), (rb, cb) = cells[a], cells[b]
    return float(max(abs(ra - rb), abs(ca - cb)))


def area_bin_distance(a: str | None, b: str | None) -> float:
    """How many Area Percentage bins apart two bins are (NaN if either is None).

    Example:
        >>> area_bin_distance("<5%", "15-30%")
        2.0
    """
    from .explain.schema import AREA_BINS

    if a is None or b is None:
        return float("nan")
    for name in (a, b):
        if name not in AREA_BINS:
            raise ValueError(f"unknown Area Percentage bin {name!r}; allowed: {', '.join(AREA_BINS)}")
    return float(abs(AREA_BINS.index(a) - AREA_BINS.index(b)))


def boundary_measures(region: np.ndarray, image: np.ndarray) -> dict[str, float]:
    """How sharply the image delimits ``region`` along its contour (the describer's measurements).

    The same definitions as the describer's Boundary field (``DescriberExplainer``): on the grey
    image, lightly smoothed (Gaussian sigma 1 px), the Sobel gradient magnitude (grey levels per
    pixel) is taken at the region's contour pixels, each as the largest value within
    ``r = max(1, round(1.5 % of the short side))`` px; ``g_edge`` is their median.

    * ``edge_strength`` = g_edge / max(median gradient of the image, 0.5): the **boundary
      sharpness** used by the notebook (how much stronger the image edge is along the contour
      than elsewhere);
    * ``edge_width`` = (step / g_edge) / short side, the ramp width relative to the image, where
      step is the difference of the median grey levels in the rings k..2k px inside and outside
      the contour, ``k = max(2, round(4 % of the short side))``;
    * ``solidity`` = area / area of the convex hull (of the pixel squares).

    Args:
        region: bool H x W (e.g. the predicted region).
        image: uint8 H x W x 3 RGB (or H x W grey) of the same size.

    Returns:
        the three numbers; all NaN for an empty region.

    Raises:
        ValueError: the shapes differ.
    """
    import cv2

    region = np.asarray(region, bool)
    image = np.asarray(image)
    if image.shape[:2] != region.shape:
        raise ValueError(f"region {region.shape} and image {image.shape} must have the same height and width")
    nan = {"edge_strength": float("nan"), "edge_width": float("nan"), "solidity": float("nan")}
    if not region.any():
        return nan
    image = image.astype(np.uint8, copy=False)
    grey = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image).astype(np.float32)
    from .explain.backends import DESCRIBER_THRESHOLDS, edge_measures  # the describer's own measurement

    e = edge_measures(grey, region, DESCRIBER_THRESHOLDS["gradient_floor"])
    return {"edge_strength": e["edge_strength"], "edge_width": e["edge_width"], "solidity": e["solidity"]}


def boundary_class(measures: Mapping[str, float], thresholds: Mapping[str, float] | None = None) -> str | None:
    """The Boundary word for :func:`boundary_measures`, by the describer's rules.

    ``irregular`` when solidity < 0.80; else ``well-defined`` when edge_strength >= 3 and
    edge_width <= 0.05; else ``ill-defined``. None when the measures are NaN (empty region).
    Cut-offs: ``thresholds`` (default ``DESCRIBER_THRESHOLDS``: ``irregular_solidity``,
    ``edge_strength_min``, ``edge_width_max``).
    """
    from .explain.backends import DESCRIBER_THRESHOLDS

    t = {**DESCRIBER_THRESHOLDS, **(thresholds or {})}
    solidity = measures.get("solidity", float("nan"))
    if solidity is None or not np.isfinite(solidity):
        return None
    if solidity < t["irregular_solidity"]:
        return "irregular"
    if measures["edge_strength"] >= t["edge_strength_min"] and measures["edge_width"] <= t["edge_width_max"]:
        return "well-defined"
    return "ill-defined"


def description_consistency(
    fields: Mapping[str, str] | None,
    prob: np.ndarray,
    image: np.ndarray | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """One description against one prediction.

    Args:
        fields: the explanation's six fields, or None (an invalid explanation: every comparison
            is NaN / None).
        prob: float H x W foreground probability; the predicted region is ``prob >= threshold``.
        image: uint8 H x W x 3 for the boundary measurements (None: no Boundary comparison).
        threshold: see ``prob``.

    Returns:
        ``location`` (the predicted region's cell), ``location_match`` (bool, NaN without a
        description or region), ``location_distance`` (0-2 cells); ``area_fraction``,
        ``area`` (its bin), ``area_match``, ``area_distance`` (bins); ``edge_strength``
        (the boundary sharpness), ``edge_width``, ``solidity``, ``boundary`` (measured class),
        ``boundary_match``.
    """
    from .explain.schema import area_bin

    prob = np.asarray(prob, dtype=np.float64)
    region = prob >= threshold
    fraction = float(region.mean())
    loc = cell_of(region)
    out: dict[str, Any] = {"location": loc, "area_fraction": fraction, "area": area_bin(fraction)}
    f = dict(fields) if fields else {}
    described_loc, described_area, described_boundary = f.get("Location"), f.get("Area Percentage"), f.get("Boundary")

    def match(a, b):
        return float("nan") if a is None or b is None else bool(a == b)

    out["location_match"] = match(described_loc, loc)
    out["location_distance"] = cell_distance(described_loc, loc)
    out["area_match"] = match(described_area, out["area"])
    out["area_distance"] = area_bin_distance(described_area, out["area"])
    if image is not None:
        m = boundary_measures(region, image)
        out.update(m)
        out["boundary"] = boundary_class(m)
        out["boundary_match"] = match(described_boundary, out["boundary"])
    return out


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's kappa of two label sequences (pairs where either is None or NaN are left out).

    kappa = (p_o - p_e) / (1 - p_e), p_o the observed agreement, p_e the agreement expected from
    the two marginal distributions. NaN when no pair is left or when p_e = 1 (one label only).

    Example:
        >>> cohen_kappa(["x", "x", "y", "y"], ["x", "y", "y", "y"])
        0.5
    """
    def ok(v):
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    pairs = [(x, y) for x, y in zip(a, b) if ok(x) and ok(y)]
    if len(a) != len(b):
        raise ValueError(f"a and b must have the same length; got {len(a)} and {len(b)}")
    if not pairs:
        return float("nan")
    n = len(pairs)
    labels = sorted({p for pair in pairs for p in pair}, key=str)
    p_o = sum(x == y for x, y in pairs) / n
    p_e = sum((sum(x == l for x, _ in pairs) / n) * (sum(y == l for _, y in pairs) / n) for l in labels)
    if p_e >= 1.0:
        return float("nan")
    return float((p_o - p_e) / (1.0 - p_e))


# ==============================================================================================
# The teacher's cross-attention
# ==============================================================================================
def teacher_attention(teacher, image, text, text_mask=None) -> list[np.ndarray]:
    """The teacher's attention over the text tokens at each encoder stage, for ONE image.

    Args:
        teacher: an :class:`~fgi_core.models.FGITeacher` with fusion (put in ``eval()`` here).
        image: ``C x S x S`` normalised image (tensor or array).
        text: ``L x D`` token embeddings (tensor or array).
        text_mask: ``L`` bool, True on real tokens (None = all real); padded tokens are dropped.

    Returns:
        four float32 arrays ``L_real x (S/2^s) x (S/2^s)`` for s = 1..4: the weights averaged over
        heads; at every pixel they sum to 1 over the tokens.

    Raises:
        ValueError: a teacher without fusion, wrong shapes (from the model's own checks).
    """
    import torch

    if not getattr(teacher, "use_fusion", False):
        raise ValueError("this teacher has no text fusion (fusion=False): it has no attention to show")
    image = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).float()
    text = torch.as_tensor(np.asarray(text) if not isinstance(text, torch.Tensor) else text).float()
    if image.dim() != 3 or text.dim() != 2:
        raise ValueError(f"image must be C x S x S and text L x D for one image; got {tuple(image.shape)} and {tuple(text.shape)}")
    if text_mask is not None:
        keep = torch.as_tensor(np.asarray(text_mask) if not isinstance(text_mask, torch.Tensor) else text_mask).bool()
        if keep.shape != text.shape[:1]:
            raise ValueError(f"text_mask must have L = {text.shape[0]} entries; got shape {tuple(keep.shape)}")
        text = text[keep.to(text.device)]
    device = next(teacher.parameters()).device
    teacher.eval()
    with torch.no_grad():
        out = teacher(image[None].to(device), text[None].to(device), None, return_attention=True)
    h, w = image.shape[-2:]
    maps = []
    for s, a in enumerate(out["attention"], start=1):
        a = a[0].float().mean(0)  # heads -> (h_s * w_s) x L
        hs, ws = h // 2 ** s, w // 2 ** s
        maps.append(a.transpose(0, 1).reshape(-1, hs, ws).cpu().numpy().astype(np.float32))
    return maps


def token_map(stage_attention: np.ndarray, token: int) -> np.ndarray:
    """One token's attention map ``h x w`` from a stage's ``L x h x w`` weights.

    Raises:
        IndexError: a token outside 0..L-1 (names L).
    """
    a = np.asarray(stage_attention)
    if not 0 <= int(token) < a.shape[0]:
        raise IndexError(f"token {token} is outside 0..{a.shape[0] - 1} (the text has {a.shape[0]} tokens)")
    return a[int(token)]


def field_map(stage_attention: np.ndarray, span: Sequence[int]) -> np.ndarray:
    """A field's attention map ``h x w``: the sum of the weights of its tokens ``[start, end)``.

    With weights summing to 1 over the tokens at every pixel, the value is the share of that
    pixel's attention that goes to the field. An empty span gives zeros.

    Raises:
        IndexError: a span outside the ``L`` tokens.
    """
    a = np.asarray(stage_attention)
    start, end = int(span[0]), int(span[1])
    if not 0 <= start <= end <= a.shape[0]:
        raise IndexError(f"span ({start}, {end}) is outside the {a.shape[0]} tokens")
    return a[start:end].sum(axis=0)


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    a = np.asarray(a, np.float32)
    if a.shape == tuple(shape):
        return a
    interp = cv2.INTER_LINEAR if a.shape[0] < shape[0] else cv2.INTER_AREA
    return cv2.resize(a, (shape[1], shape[0]), interpolation=interp)


def attention_rows(
    attention: Sequence[np.ndarray],
    spans: Mapping[str, Sequence[int]],
    prob: np.ndarray | None = None,
    heatmap: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Per stage and field: the attention share and how its map lines up with the prediction / gaze.

    Args:
        attention: the four ``L x h_s x w_s`` arrays of :func:`teacher_attention`.
        spans: field -> token span ``(start, end)``.
        prob, heatmap: H x W maps (the field maps are resized to their size, bilinear).

    Returns:
        one dict per (stage, field): ``stage``, ``field``, ``tokens`` (span length), ``share``
        (mean over pixels of the field map = the average share of attention the field receives),
        ``cc_prob`` (CC of the field map with ``prob``), ``cc_heatmap`` (with ``heatmap``).
    """
    rows = []
    for s, a in enumerate(attention, start=1):
        for name, span in spans.items():
            fm = field_map(a, span)
            row = {"stage": s, "field": name, "tokens": int(span[1]) - int(span[0]), "share": float(fm.mean())}
            if prob is not None:
                row["cc_prob"] = cc(_resize(fm, np.shape(prob)), prob)
            if heatmap is not None:
                row["cc_heatmap"] = cc(_resize(fm, np.shape(heatmap)), heatmap)
            rows.append(row)
    return rows


# ==============================================================================================
# Dataset-level summaries
# ==============================================================================================
def bootstrap_ci(values: Iterable[Any], n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """The mean of ``values`` with a percentile bootstrap confidence interval.

    NaN and None are left out (``n`` counts what is left); booleans count as 0 / 1 (so the mean
    is a rate). Resamples are drawn with ``numpy.random.default_rng(seed)``: the same call gives
    the same interval.

    Returns:
        ``n``, ``mean``, ``ci_low``, ``ci_high``, ``std`` (population); all NaN but n when n = 0.
        With n = 1 the interval is the single value.

    Raises:
        ValueError: ``level`` not in (0, 1) or ``n_boot`` < 1.
    """
    if not 0.0 < level < 1.0 or int(n_boot) < 1:
        raise ValueError(f"level must be in (0, 1) and n_boot >= 1; got level={level}, n_boot={n_boot}")
    x = np.array([float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "std": float("nan")}
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(int(n_boot), n))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return {"n": n, "mean": float(x.mean()), "ci_low": float(low), "ci_high": float(high), "std": float(x.std())}


def summarise(frame: pd.DataFrame, columns: Sequence[str] | None = None, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap CI (:func:`bootstrap_ci`) of each numeric or boolean column.

    Returns:
        DataFrame indexed by column name with ``n``, ``mean``, ``ci_low``, ``ci_high``, ``std``.

    Raises:
        KeyError: a column that ``frame`` lacks (named).
    """
    if columns is None:
        columns = [c for c in frame.columns if _numeric(frame[c])]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the table (it has {list(frame.columns)})")
    rows = {c: bootstrap_ci(frame[c].tolist(), n_boot, level, seed) for c in columns}
    return pd.DataFrame.from_dict(rows, orient="index")[["n", "mean", "ci_low", "ci_high", "std"]]


def _numeric(series: pd.Series) -> bool:
    values = [v for v in series.tolist() if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return bool(values) and all(isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) for v in values)


def compare_sources(
    frame: pd.DataFrame,
    metrics: Sequence[str],
    a: str = "teacher",
    b: str = "student",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    tolerance: float = 1e-9,
) -> pd.DataFrame:
    """Paired comparison of two sources' per-image metrics (columns ``<a>_<m>`` and ``<b>_<m>``).

    Returns:
        DataFrame indexed by metric: ``n`` (images with both values), ``<a>``, ``<b>`` (means),
        ``diff`` (mean of b - a), ``ci_low``, ``ci_high`` (paired bootstrap CI of the difference),
        ``differs`` (fraction of images where the two values differ by more than ``tolerance``).

    Raises:
        KeyError: a missing column (named).
    """
    rows = {}
    for m in metrics:
        ca, cb = f"{a}_{m}", f"{b}_{m}"
        for c in (ca, cb):
            if c not in frame.columns:
                raise KeyError(f"column {c!r} is not in the table")
        x = pd.to_numeric(frame[ca].astype(object).where(frame[ca].notna()), errors="coerce").astype(float).to_numpy()
        y = pd.to_numeric(frame[cb].astype(object).where(frame[cb].notna()), errors="coerce").astype(float).to_numpy()
        ok = np.isfinite(x) & np.isfinite(y)
        d = bootstrap_ci((y[ok] - x[ok]).tolist(), n_boot, level, seed)
        rows[m] = {"n": int(ok.sum()), a: float(x[ok].mean()) if ok.any() else float("nan"),
                   b: float(y[ok].mean()) if ok.any() else float("nan"), "diff": d["mean"], "ci_low": d["ci_low"],
                   "ci_high": d["ci_high"], "differs": float((np.abs(y[ok] - x[ok]) > tolerance).mean()) if ok.any() else float("nan")}
    return pd.DataFrame.from_dict(rows, orient="index")


def summary_by_source(frame: pd.DataFrame, metrics: Sequence[str], sources: Sequence[str] = SOURCES, n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0) -> dict[str, pd.DataFrame]:
    """:func:`summarise` of the columns ``<source>_<metric>``, per source, indexed by metric."""
    out = {}
    for src in sources:
        table = summarise(frame, [f"{src}_{m}" for m in metrics], n_boot, level, seed)
        table.index = list(metrics)
        out[src] = table
    return out


def ci_strings(tables: Mapping[str, pd.DataFrame], digits: int = 2) -> pd.DataFrame:
    """``"mean [low, high] (n)"`` strings, one column per table (e.g. per source), for display."""
    cols = {}
    for name, t in tables.items():
        cols[name] = {m: (f"{r['mean']:.{digits}f} [{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}] (n={int(r['n'])})"
                          if r["n"] else "n/a") for m, r in t.iterrows()}
    return pd.DataFrame(cols)


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


def dataset_summary(
    per_image: pd.DataFrame,
    attention: pd.DataFrame | None = None,
    sources: Sequence[str] = SOURCES,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Every dataset-level figure of a run, as a JSON-ready dict (the notebook's ``summary.json``).

    Args:
        per_image: :func:`measure` output.
        attention: :func:`attention_table` output (or None / empty).
        sources: prediction sources to report.

    Returns:
        ``images``; ``gaze``: per source, per metric of :data:`GAZE_METRICS`, the
        :func:`bootstrap_ci` dict; ``auc_gt`` (heatmap vs truth); ``description``: likewise for
        :data:`DESCRIPTION_METRICS`; ``kappa``: per source, Cohen's kappa of the described vs the
        predicted Location, Area Percentage and Boundary; ``boundary_auc``: per source,
        :func:`separation_auc` of the boundary sharpness for images described ``well-defined``;
        ``dice_gt`` (per source, when there is ground truth); ``teacher_vs_student``
        (:func:`compare_sources` of all of those, as records) and ``dice_teacher_student``;
        ``attention``: per stage and field, the mean share and CCs with their CIs.
    """
    def ci(values):
        return bootstrap_ci(values, n_boot, level, seed)

    out: dict[str, Any] = {"images": int(len(per_image)), "level": level, "n_boot": n_boot, "seed": seed, "sources": list(sources)}
    out["gaze"] = {s: {m: ci(per_image[f"{s}_{m}"].tolist()) for m in GAZE_METRICS} for s in sources}
    out["auc_gt"] = ci(per_image["auc_gt"].tolist()) if "auc_gt" in per_image else None
    out["description"] = {s: {m: ci(per_image[f"{s}_{m}"].tolist()) for m in DESCRIPTION_METRICS} for s in sources}
    described = {"Location": ("described_location", "location"), "Area Percentage": ("described_area", "area"),
                 "Boundary": ("described_boundary", "boundary")}
    out["kappa"] = {s: {f: cohen_kappa(per_image[d].tolist(), per_image[f"{s}_{p}"].tolist()) for f, (d, p) in described.items()}
                    for s in sources}
    well = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v == "well-defined" for v in per_image["described_boundary"]]
    out["boundary_auc"] = {s: separation_auc(per_image[f"{s}_edge_strength"].tolist(), well) for s in sources}
    with_gt = [s for s in sources if f"{s}_dice_gt" in per_image]
    out["dice_gt"] = {s: ci(per_image[f"{s}_dice_gt"].tolist()) for s in with_gt}
    if "teacher" in sources and "student" in sources:
        metrics = list(GAZE_METRICS) + list(DESCRIPTION_METRICS) + (["dice_gt"] if len(with_gt) == 2 else [])
        cmp = compare_sources(per_image, metrics, "teacher", "student", n_boot, level, seed)
        out["teacher_vs_student"] = {m: {k: (float(v) if k != "n" else int(v)) for k, v in row.items()} for m, row in cmp.iterrows()}
        out["dice_teacher_student"] = ci(per_image["dice_teacher_student"].tolist())
    has_attention = attention is not None and len(attention)
    out["attention"] = attention_records(attention_summary(attention, n_boot, level, seed)) if has_attention else []
    return out


def attention_records(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`attention_summary` as a list of plain dicts (``stage``, ``field``, ``n``, ``share``, ...)."""
    return [{"stage": int(st), "field": f, **{k: (int(v) if k == "n" else float(v)) for k, v in row.items()}}
            for (st, f), row in summary.iterrows()]


def json_ready(obj: Any) -> Any:
    """A copy of ``obj`` that strict JSON can hold: NaN and infinities become None, numpy
    scalars and arrays plain Python (for ``summary.json``)."""
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# ==============================================================================================
# A run's images, predictions and descriptions, in memory
# ==============================================================================================
@dataclass
class ImageRecord:
    """What the measurements and the inspector need of one image, all at S x S.

    Attributes:
        id: image id.
        image: uint8 S x S x 3 RGB (for display and the boundary measurements).
        points: N x 3 fixations (x, y normalised; duration ms) in fixation order.
        heatmap, refined: float32 S x S gaze maps in [0, 1].
        m_hc, m_bc: uint8 S x S pseudo-masks {0, 1}.
        gt: bool S x S ground truth, or None.
        prob: source (``teacher``, ``student``) -> float32 S x S foreground probability.
        fields: the explanation's fields (None when invalid); status its parse status.
        token_spans: field -> token span ``(start, end)`` in the encoded text.
        tokens: one label per token of the encoded text (e.g. ``"[CLS]"``, ``"upper"``).
        attention: the teacher's four ``L x h_s x w_s`` attention arrays, when computed.
    """

    id: str
    image: np.ndarray
    points: np.ndarray
    heatmap: np.ndarray
    refined: np.ndarray
    m_hc: np.ndarray
    m_bc: np.ndarray
    gt: np.ndarray | None = None
    prob: dict[str, np.ndarray] = field(default_factory=dict)
    fields: dict[str, str] | None = None
    status: str = "ok"
    token_spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    attention: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        s = np.shape(self.image)[:2]
        for name in ("heatmap", "refined", "m_hc", "m_bc", "gt"):
            v = getattr(self, name)
            if v is not None and np.shape(v) != s:
                raise ValueError(f"image {self.id!r}: {name} has shape {np.shape(v)}, the image {s}")
        for name, v in self.prob.items():
            if np.shape(v) != s:
                raise ValueError(f"image {self.id!r}: prob[{name!r}] has shape {np.shape(v)}, the image {s}")


class Inspection:
    """The images of a run, ready to measure and to browse.

    Args:
        records: id -> :class:`ImageRecord` (order kept).
        teacher: the teacher network, to compute attention on demand (None: only the
            ``attention`` already in the records).
        inputs: id -> ``(image C x S x S, text L x D, text_mask L)`` tensors for the teacher.
        info: what was loaded (run folder, checkpoints, sizes).
        cache: how many images' attention to keep in memory.
    """

    def __init__(self, records: Mapping[str, ImageRecord] | Sequence[ImageRecord], teacher=None,
                 inputs: Mapping[str, tuple] | None = None, info: dict[str, Any] | None = None, cache: int = 16):
        items = records.values() if isinstance(records, Mapping) else records
        self.records: dict[str, ImageRecord] = {r.id: r for r in items}
        if not self.records:
            raise ValueError("an Inspection needs at least one image")
        self.teacher, self.inputs, self.info = teacher, dict(inputs or {}), dict(info or {})
        self._cache: OrderedDict[str, list[np.ndarray]] = OrderedDict()
        self._cache_size = int(cache)

    @property
    def ids(self) -> list[str]:
        return list(self.records)

    @property
    def sources(self) -> list[str]:
        """Prediction sources present in every record (``teacher``, ``student``)."""
        first = next(iter(self.records.values()))
        return [s for s in first.prob if all(s in r.prob for r in self.records.values())]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str | int) -> ImageRecord:
        if isinstance(key, (int, np.integer)):
            return self.records[self.ids[int(key)]]
        if key not in self.records:
            raise KeyError(f"image {key!r} is not in this inspection ({len(self)} images, e.g. {self.ids[:3]})")
        return self.records[key]

    def __iter__(self):
        return iter(self.records.values())

    def attention(self, image_id: str, cache: bool = True) -> list[np.ndarray] | None:
        """The teacher's attention maps of ``image_id`` (:func:`teacher_attention`), or None.

        None when the record has none and there is no teacher with fusion to compute them.
        """
        record = self[image_id]
        if record.attention is not None:
            return record.attention
        if image_id in self._cache:
            self._cache.move_to_end(image_id)
            return self._cache[image_id]
        if self.teacher is None or not getattr(self.teacher, "use_fusion", False) or image_id not in self.inputs:
            return None
        maps = teacher_attention(self.teacher, *self.inputs[image_id])
        if cache:
            self._cache[image_id] = maps
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return maps


def _token_labels(explain_dir: Path, texts: Mapping[str, str]) -> dict[str, list[str]]:
    """Token strings of each text with the run's tokenizer (empty lists when it cannot be loaded)."""
    from .io import read_json

    try:
        from transformers import AutoTokenizer

        from .explain.hub import quiet_loading

        encoder = read_json(explain_dir / "manifest.json")["encoder"]
        with quiet_loading(False):
            tok = AutoTokenizer.from_pretrained(encoder["path"], local_files_only=True)
        out = {}
        for i, t in texts.items():
            ids = tok(t, truncation=True, max_length=int(encoder.get("max_length", 128)))["input_ids"]
            out[i] = tok.convert_ids_to_tokens(ids)
        return out
    except Exception:  # labels are a convenience: "#k" is used instead
        return {i: [] for i in texts}


def load_inspection(
    dataset,
    run_dir: str | Path,
    profile,
    ids: Sequence[str],
    device: str = "cpu",
    which: str = "best",
    batch_size: int = 8,
) -> Inspection:
    """Load images, gaze, descriptions and both networks' predictions of a run folder.

    The teacher is the one after distillation (``student/checkpoints``, where the teacher was
    trained jointly with the student), as in notebook 04's results; without it, an error names
    notebook 04.

    Args:
        dataset: the run's :class:`~fgi_core.data.SegmentationDataset`.
        run_dir: the run folder (with ``gaze/``, ``explain/``, ``student/``).
        profile: the run's :class:`~fgi_core.config.Profile` (network widths, input size S).
        ids: images to load (they must have gaze maps and explanations).
        device: torch device for the forward passes.
        which: ``best`` or ``last`` checkpoint.
        batch_size: images per forward pass.

    Raises:
        FileNotFoundError: a stage's outputs are missing (names the notebook that makes them).
        KeyError: an id without gaze maps or text (named).
    """
    import cv2
    import torch

    from .explain import load_explanations
    from .explain.pipeline import text_for
    from .gaze import load_gaze_maps, points_for, read_fixations
    from .io import read_json
    from .train import build_student, build_teacher, load_networks, load_training_data

    run_dir = Path(run_dir)
    ids = list(ids)
    if not ids:
        raise ValueError("no images to inspect (ids is empty)")
    for needed, notebook in (("gaze/manifest.json", "01_gaze_preprocessing"), ("explain/manifest.json", "02_vlm_explanation"),
                             (f"student/checkpoints/{which}.pt", "04_distillation")):
        if not (run_dir / needed).is_file():
            raise FileNotFoundError(f"{run_dir / needed} is missing: run notebooks/{notebook}.ipynb for this run first")
    size = int(profile.image_size)
    try:
        data = load_training_data(dataset, run_dir, ids, size, pseudo_masks=True, text=True, ground_truth=True)
    except ValueError:  # no ground truth for some image: measure without it
        data = load_training_data(dataset, run_dir, ids, size, pseudo_masks=True, text=True, ground_truth=False)
    summary_path = run_dir / "student" / "summary.json"
    config = read_json(summary_path).get("config", {}) if summary_path.is_file() else {}
    in_channels = int(data.images.shape[1])
    teacher = build_teacher(profile, in_channels, int(data.text_dim), fusion=bool(config.get("fusion", True)))
    student = build_student(profile, in_channels)
    state = load_networks(run_dir / "student", {"teacher": teacher, "student": student}, which)
    teacher_from = f"student/checkpoints/{which}.pt (after distillation)"
    if "teacher" not in state["networks"]:
        load_networks(run_dir / "teacher", {"teacher": teacher}, which)
        teacher_from = f"teacher/checkpoints/{which}.pt (stage 1)"
    teacher.to(device).eval()
    student.to(device).eval()
    from .models.readout import foreground_probability, stored_activation

    student_act = stored_activation(state, "student", run_dir / "student")
    teacher_act = (stored_activation(state, "teacher", run_dir / "student") if "teacher" in state["networks"]
                   else stored_activation(load_networks(run_dir / "teacher", {}, which), "teacher", run_dir / "teacher"))
    probs = {"teacher": [], "student": []}
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            index = torch.arange(start, min(start + batch_size, len(ids)))
            b = data.batch(index, device)
            t = teacher(b["image"], b["text"], b["text_mask"])["logits"].float()
            s = student(b["image"])["logits"].float()
            probs["teacher"].append(foreground_probability(t, teacher_act).cpu().numpy())
            probs["student"].append(foreground_probability(s, student_act).cpu().numpy())
    probs = {k: np.concatenate(v) for k, v in probs.items()}

    params = read_json(run_dir / "gaze" / "params.json")
    frame, _ = read_fixations(params["gaze_csv"], image_ids=ids)
    explanations = load_explanations(run_dir)
    index = read_json(run_dir / "explain" / "embeddings_index.json").get("images", {})
    texts = {i: text_for(explanations[i])[0] for i in ids if i in explanations}
    labels = _token_labels(run_dir / "explain", texts)

    def fit(a, nearest=False):
        interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
        return cv2.resize(a, (size, size), interpolation=interp)

    records, inputs = [], {}
    for k, i in enumerate(ids):
        if i not in explanations:
            raise KeyError(f"image {i!r} has no explanation in {run_dir / 'explain'}: rerun notebooks/02_vlm_explanation.ipynb")
        e = explanations[i]
        maps = load_gaze_maps(run_dir, i)
        length = int(index.get(i, {}).get("length", int(data.text_mask[k].sum())))
        spans = {f: (int(s[0]), int(s[1])) for f, s in index.get(i, {}).get("token_spans", {}).items()}
        tokens = labels.get(i) or []
        if len(tokens) != length:
            tokens = [f"#{t}" for t in range(length)]
        records.append(ImageRecord(
            id=i, image=fit(dataset.image_rgb(i)), points=points_for(frame, i),
            heatmap=fit(maps["heatmap"]).astype(np.float32), refined=fit(maps["refined"]).astype(np.float32),
            m_hc=fit(maps["m_hc"], True), m_bc=fit(maps["m_bc"], True),
            gt=None if data.gt is None else data.gt[k].numpy().astype(bool),
            prob={"teacher": probs["teacher"][k], "student": probs["student"][k]},
            fields=e.fields, status=e.status, token_spans=spans, tokens=tokens,
        ))
        inputs[i] = (data.images[k], data.text[k], data.text_mask[k])
    info = {"run_dir": str(run_dir), "teacher": teacher_from, "student": f"student/checkpoints/{which}.pt",
            "image_size": size, "images": len(ids), "ground_truth": data.gt is not None,
            "fusion": bool(getattr(teacher, "use_fusion", False)), "gaze_source": params.get("gaze_source")}
    return Inspection(records, teacher=teacher, inputs=inputs, info=info)


# ==============================================================================================
# Whole-run tables
# ==============================================================================================
def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum() + b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def measure(inspection: Inspection, threshold: float = 0.5, sources: Sequence[str] | None = None) -> pd.DataFrame:
    """Every per-image measurement, one row per image (the notebook's ``per_image.csv``).

    Columns: ``status``, the described ``described_location`` / ``described_area`` /
    ``described_boundary``, ``auc_gt`` (gaze vs truth, network-free), then for each source
    ``<source>_cc``, ``_nss``, ``_auc_pred``, ``_dice_gt`` (when there is ground truth),
    ``_location``, ``_location_match``, ``_location_distance``, ``_area_fraction``, ``_area``,
    ``_area_match``, ``_area_distance``, ``_edge_strength`` (boundary sharpness),
    ``_edge_width``, ``_solidity``, ``_boundary``, ``_boundary_match``; and
    ``dice_teacher_student`` (agreement of the two predicted regions) when both are present.
    """
    sources = list(sources) if sources is not None else inspection.sources
    rows = {}
    for r in inspection:
        f = r.fields or {}
        row: dict[str, Any] = {"status": r.status, "described_location": f.get("Location"), "described_area": f.get("Area Percentage"),
                               "described_boundary": f.get("Boundary"),
                               "auc_gt": auc(r.heatmap, r.gt) if r.gt is not None else float("nan")}
        for s in sources:
            p = r.prob[s]
            g = gaze_agreement(r.heatmap, p, r.points, None, threshold)
            row.update({f"{s}_cc": g["cc"], f"{s}_nss": g["nss"], f"{s}_auc_pred": g["auc_pred"]})
            if r.gt is not None:
                row[f"{s}_dice_gt"] = _dice(p >= threshold, r.gt)
            for k, v in description_consistency(r.fields, p, r.image, threshold).items():
                row[f"{s}_{k}"] = v
        if "teacher" in sources and "student" in sources:
            row["dice_teacher_student"] = _dice(r.prob["teacher"] >= threshold, r.prob["student"] >= threshold)
        rows[r.id] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "id"
    return frame


def attention_table(inspection: Inspection, source: str = "teacher") -> pd.DataFrame:
    """:func:`attention_rows` of every image (columns ``id``, ``stage``, ``field``, ``tokens``,
    ``share``, ``cc_prob`` against the ``source``'s prediction, ``cc_heatmap``); empty when the
    run's teacher has no attention (no fusion)."""
    rows = []
    for r in inspection:
        attn = inspection.attention(r.id, cache=False)
        if attn is None or not r.token_spans:
            continue
        for row in attention_rows(attn, r.token_spans, r.prob.get(source), r.heatmap):
            rows.append({"id": r.id, **row})
    return pd.DataFrame(rows, columns=["id", "stage", "field", "tokens", "share", "cc_prob", "cc_heatmap"])


def attention_summary(table: pd.DataFrame, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap CI of ``share``, ``cc_prob`` and ``cc_heatmap`` per (stage, field).

    Returns:
        DataFrame indexed by (stage, field) with ``n`` (images), and ``<metric>``,
        ``<metric>_low``, ``<metric>_high`` for each metric (NaN values left out of each).
    """
    out = {}
    for (stage, name), g in table.groupby(["stage", "field"], sort=False):
        row: dict[str, float] = {"n": int(g["id"].nunique()) if "id" in g else len(g)}
        for m in ("share", "cc_prob", "cc_heatmap"):
            ci = bootstrap_ci(g[m].tolist(), n_boot, level, seed)
            row.update({m: ci["mean"], f"{m}_low": ci["ci_low"], f"{m}_high": ci["ci_high"]})
        out[(stage, name)] = row
    frame = pd.DataFrame.from_dict(out, orient="index")
    if len(frame):
        frame.index = pd.MultiIndex.from_tuples(frame.index, names=["stage", "field"])
    return frame
