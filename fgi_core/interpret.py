"""Interpretability: how predictions, gaze and lesion descriptions hang together, image by image.

The paper claims that the framework keeps the segmentation, the clinicians' gaze and the VLM's
description of the lesion correlated, which is what keeps it interpretable. This module
*measures* those links; :mod:`fgi_core.widgets` shows them; ``notebooks/06_interpretability``
puts both to work on a run folder.

Three groups of measurements, each per image, then summarised over a dataset with bootstrap
confidence intervals (:func:`summary_table`, :func:`compare_sources`):

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
   :mod:`fgi_core.explain.measures`). Chance-corrected agreement over a dataset:
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

The scores and statistics themselves live in :mod:`fgi_core.metrics` (CC, NSS, AUC, Dice,
bootstrap intervals, the paired bootstrap, kappa) and the Boundary rule in
:mod:`fgi_core.explain.measures`; this module re-exports them under the names it always had.
The tables and dicts made here keep their ``ci_low`` / ``ci_high`` keys (notebook 06 and
:mod:`fgi_core.widgets` read them): they are :mod:`fgi_core.metrics`' ``low`` / ``high``
(:func:`_legacy_keys`).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .explain.measures import boundary_class, boundary_measures
from .metrics.overlap import dice
from .metrics.saliency import auc, cc, fixation_map, nss, separation_auc
from .metrics.statistics import DEFAULT_LEVEL, DEFAULT_N_BOOT, bootstrap_interval, cohen_kappa, paired_bootstrap
from .metrics.statistics import summarise  # noqa: F401 - the one summarise, under its old name here too

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
    "summary_table",
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
# cc, nss, auc, fixation_map: fgi_core.metrics.saliency (imported above).


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


# boundary_measures, boundary_class: fgi_core.explain.measures (imported above), the rule the describer uses.


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


# cohen_kappa: fgi_core.metrics.statistics (imported above).


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
def _legacy_keys(interval: Mapping[str, Any]) -> dict[str, Any]:
    """``low`` / ``high`` of :mod:`fgi_core.metrics` as the ``ci_low`` / ``ci_high`` of this
    module's tables and dicts (what notebook 06 and :mod:`fgi_core.widgets` read)."""
    names = {"low": "ci_low", "high": "ci_high"}
    return {names.get(k, k): v for k, v in interval.items()}


def bootstrap_ci(values: Iterable[Any], n_boot: int = DEFAULT_N_BOOT, level: float = DEFAULT_LEVEL, seed: int = 0) -> dict[str, float]:
    """:func:`fgi_core.metrics.bootstrap_interval` with this module's key names.

    NaN and None are left out (``n`` counts what is left); booleans count as 0 / 1 (so the mean
    is a rate); the same call gives the same interval.

    Returns:
        ``n``, ``mean``, ``ci_low``, ``ci_high``, ``std`` (sample std); all NaN but n when n = 0.
        With n = 1 the interval is the single value.

    Raises:
        ValueError: ``level`` not in (0, 1) or ``n_boot`` < 1.
    """
    return _legacy_keys(bootstrap_interval(values, n_boot, level=level, seed=seed))


def summary_table(frame: pd.DataFrame, columns: Sequence[str] | None = None, n_boot: int = DEFAULT_N_BOOT,
                  level: float = DEFAULT_LEVEL, seed: int = 0) -> pd.DataFrame:
    """:func:`fgi_core.metrics.summarise` with a bootstrap interval, as a table.

    Args:
        frame: per-image values (e.g. :func:`measure`).
        columns: default: every numeric or boolean column.

    Returns:
        DataFrame indexed by column name with ``n``, ``mean``, ``ci_low``, ``ci_high``, ``std``.

    Raises:
        KeyError: a column that ``frame`` lacks (named).
    """
    rows = summarise(frame, columns, n_boot, level=level, seed=seed)
    table = pd.DataFrame.from_dict({c: _legacy_keys(r) for c, r in rows.items()}, orient="index")
    return table.reindex(columns=["n", "mean", "ci_low", "ci_high", "std"])


def _numbers(series: pd.Series) -> np.ndarray:
    """A column as float64, None and non-numbers as NaN (booleans as 0 / 1)."""
    return pd.to_numeric(series.astype(object).where(series.notna()), errors="coerce").astype(float).to_numpy()


def compare_sources(
    frame: pd.DataFrame,
    metrics: Sequence[str],
    a: str = "student",
    b: str = "teacher",
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    tolerance: float = 1e-9,
) -> pd.DataFrame:
    """Paired comparison of two sources' per-image metrics (columns ``<a>_<m>`` and ``<b>_<m>``).

    The difference is ``a - b`` (:func:`fgi_core.metrics.paired_bootstrap`): with the defaults,
    student minus teacher.

    Returns:
        DataFrame indexed by metric: ``n`` (images with both values), ``<a>``, ``<b>`` (means),
        ``diff`` (mean of a - b), ``ci_low``, ``ci_high`` (paired bootstrap CI of the difference),
        ``differs`` (fraction of images where the two values differ by more than ``tolerance``).

    Raises:
        KeyError: a missing column (named).
    """
    rows = {}
    for m in metrics:
        ca, cb = f"{a}_{m}", f"{b}_{m}"
        missing = [c for c in (ca, cb) if c not in frame.columns]
        if missing:
            raise KeyError(f"column(s) {missing} are not in the table")
        x, y = _numbers(frame[ca]), _numbers(frame[cb])
        ok = np.isfinite(x) & np.isfinite(y)
        d = paired_bootstrap(x, y, n_boot, level=level, seed=seed)
        rows[m] = {"n": d["n"], a: float(x[ok].mean()) if ok.any() else float("nan"),
                   b: float(y[ok].mean()) if ok.any() else float("nan"), "diff": d["mean"], "ci_low": d["low"],
                   "ci_high": d["high"], "differs": float((np.abs(x[ok] - y[ok]) > tolerance).mean()) if ok.any() else float("nan")}
    return pd.DataFrame.from_dict(rows, orient="index")


def summary_by_source(frame: pd.DataFrame, metrics: Sequence[str], sources: Sequence[str] = SOURCES, n_boot: int = DEFAULT_N_BOOT,
                      level: float = DEFAULT_LEVEL, seed: int = 0) -> dict[str, pd.DataFrame]:
    """:func:`summary_table` of the columns ``<source>_<metric>``, per source, indexed by metric."""
    out = {}
    for src in sources:
        table = summary_table(frame, [f"{src}_{m}" for m in metrics], n_boot, level, seed)
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


# separation_auc: fgi_core.metrics.saliency (imported above).


def dataset_summary(
    per_image: pd.DataFrame,
    attention: pd.DataFrame | None = None,
    sources: Sequence[str] = SOURCES,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_LEVEL,
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
        (:func:`compare_sources` of all of those, student minus teacher, as records) and
        ``dice_teacher_student``;
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
        cmp = compare_sources(per_image, metrics, "student", "teacher", n_boot, level, seed)
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
    from .train import load_training_data

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
    teacher, student, activations, teacher_from = _networks(run_dir, profile, data, which, device)
    probs = _probabilities(teacher, student, activations, data, device, batch_size)
    records, inputs, params = _image_records(dataset, run_dir, ids, data, probs, size)
    info = {"run_dir": str(run_dir), "teacher": teacher_from, "student": f"student/checkpoints/{which}.pt",
            "image_size": size, "images": len(ids), "ground_truth": data.gt is not None,
            "fusion": bool(getattr(teacher, "use_fusion", False)), "gaze_source": params.get("gaze_source")}
    return Inspection(records, teacher=teacher, inputs=inputs, info=info)


def _networks(run_dir: Path, profile, data, which: str, device: str):
    """The run's teacher (after distillation, else stage 1's) and student in ``eval()`` on ``device``,
    how each output is read, and where the teacher came from."""
    from .io import read_json
    from .models.readout import stored_activation
    from .train import build_student, build_teacher, load_networks

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
    activations = {
        "student": stored_activation(state, "student", run_dir / "student"),
        "teacher": (stored_activation(state, "teacher", run_dir / "student") if "teacher" in state["networks"]
                    else stored_activation(load_networks(run_dir / "teacher", {}, which), "teacher", run_dir / "teacher")),
    }
    return teacher, student, activations, teacher_from


def _probabilities(teacher, student, activations: Mapping[str, str], data, device: str, batch_size: int) -> dict[str, np.ndarray]:
    """Both networks' foreground probabilities of every image of ``data``: N x S x S each."""
    import torch

    from .models.readout import foreground_probability

    probs = {"teacher": [], "student": []}
    n = len(data)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            index = torch.arange(start, min(start + batch_size, n))
            b = data.batch(index, device)
            t = teacher(b["image"], b["text"], b["text_mask"])["logits"].float()
            s = student(b["image"])["logits"].float()
            probs["teacher"].append(foreground_probability(t, activations["teacher"]).cpu().numpy())
            probs["student"].append(foreground_probability(s, activations["student"]).cpu().numpy())
    return {k: np.concatenate(v) for k, v in probs.items()}


def _image_records(dataset, run_dir: Path, ids: list[str], data, probs: Mapping[str, np.ndarray], size: int):
    """An :class:`ImageRecord` per id (maps resized to ``size``), the teacher's inputs per id, and
    the gaze stage's parameters."""
    import cv2

    from .explain import load_explanations
    from .explain.pipeline import text_for
    from .gaze import load_gaze_maps, points_for, read_fixations
    from .io import read_json

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
    return records, inputs, params


# ==============================================================================================
# Whole-run tables
# ==============================================================================================
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
                row[f"{s}_dice_gt"] = dice(p >= threshold, r.gt)
            for k, v in description_consistency(r.fields, p, r.image, threshold).items():
                row[f"{s}_{k}"] = v
        if "teacher" in sources and "student" in sources:
            row["dice_teacher_student"] = dice(r.prob["teacher"] >= threshold, r.prob["student"] >= threshold)
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


def attention_summary(table: pd.DataFrame, n_boot: int = DEFAULT_N_BOOT, level: float = DEFAULT_LEVEL, seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap CI of ``share``, ``cc_prob`` and ``cc_heatmap`` per (stage, field).

    Returns:
        DataFrame indexed by (stage, field) with ``n`` (images), and ``<metric>``,
        ``<metric>_low``, ``<metric>_high`` for each metric (NaN values left out of each).
    """
    out = {}
    for (stage, name), g in table.groupby(["stage", "field"], sort=False):
        row: dict[str, float] = {"n": int(g["id"].nunique()) if "id" in g else len(g)}
        for m in ("share", "cc_prob", "cc_heatmap"):
            ci = bootstrap_interval(g[m].tolist(), n_boot, level=level, seed=seed)
            row.update({m: ci["mean"], f"{m}_low": ci["low"], f"{m}_high": ci["high"]})
        out[(stage, name)] = row
    frame = pd.DataFrame.from_dict(out, orient="index")
    if len(frame):
        frame.index = pd.MultiIndex.from_tuples(frame.index, names=["stage", "field"])
    return frame
