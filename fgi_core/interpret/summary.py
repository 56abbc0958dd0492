"""A run's dataset-level figures in one JSON-ready dict (the notebook's ``summary.json``), and the
attention summaries it holds."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..metrics.saliency import separation_auc
from ..metrics.statistics import DEFAULT_LEVEL, DEFAULT_N_BOOT, bootstrap_interval, cohen_kappa
from .compare import compare_sources
from .tables import DESCRIPTION_METRICS, GAZE_METRICS, SOURCES

__all__ = ["attention_summary", "attention_records", "dataset_summary", "json_ready"]

#: Described field -> (column of the described word, per-source column of the measured word) in
#: :func:`~fgi_core.interpret.measure`'s table.
DESCRIBED = {"Location": ("described_location", "location"), "Area Percentage": ("described_area", "area"),
             "Boundary": ("described_boundary", "boundary")}


def attention_summary(table: pd.DataFrame, n_boot: int = DEFAULT_N_BOOT, level: float = DEFAULT_LEVEL, seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap CI of ``share``, ``cc_prob`` and ``cc_heatmap`` per (stage, field).

    Args:
        table: :func:`~fgi_core.interpret.attention_table` output, one row per (image, stage, field).

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


def attention_records(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`attention_summary` as a list of plain dicts (``stage``, ``field``, ``n``, ``share``, ...)."""
    return [{"stage": int(st), "field": f, **{k: (int(v) if k == "n" else float(v)) for k, v in row.items()}}
            for (st, f), row in summary.iterrows()]


def _described_well(described: Sequence[Any]) -> list[bool | None]:
    """Per image: was the Boundary described ``well-defined`` (None where not described)."""
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v == "well-defined" for v in described]


def _teacher_vs_student(per_image: pd.DataFrame, with_gt: list[str], n_boot: int, level: float, seed: int) -> dict[str, Any]:
    """:func:`~fgi_core.interpret.compare_sources` (student minus teacher) of every reported metric, as records."""
    metrics = list(GAZE_METRICS) + list(DESCRIPTION_METRICS) + (["dice_gt"] if len(with_gt) == 2 else [])
    cmp = compare_sources(per_image, metrics, "student", "teacher", n_boot, level, seed)
    return {m: {k: (float(v) if k != "n" else int(v)) for k, v in row.items()} for m, row in cmp.iterrows()}


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
        per_image: :func:`~fgi_core.interpret.measure` output, N rows.
        attention: :func:`~fgi_core.interpret.attention_table` output (or None / empty).
        sources: prediction sources to report.

    Returns:
        ``images``; ``gaze``: per source, per metric of :data:`GAZE_METRICS`, the
        :func:`~fgi_core.metrics.bootstrap_interval` dict; ``auc_gt`` (heatmap vs truth);
        ``description``: likewise for :data:`DESCRIPTION_METRICS`; ``kappa``: per source, Cohen's
        kappa of the described vs the predicted Location, Area Percentage and Boundary;
        ``boundary_auc``: per source, :func:`~fgi_core.metrics.separation_auc` of the boundary
        sharpness for images described ``well-defined``; ``dice_gt`` (per source, when there is
        ground truth); ``teacher_vs_student`` (:func:`~fgi_core.interpret.compare_sources` of all
        of those, student minus teacher, as records) and ``dice_teacher_student``;
        ``attention``: per stage and field, the mean share and CCs with their CIs.
    """
    def ci(column: str) -> dict[str, float]:
        return bootstrap_interval(per_image[column].tolist(), n_boot, level=level, seed=seed)

    out: dict[str, Any] = {"images": int(len(per_image)), "level": level, "n_boot": n_boot, "seed": seed, "sources": list(sources)}
    out["gaze"] = {s: {m: ci(f"{s}_{m}") for m in GAZE_METRICS} for s in sources}
    out["auc_gt"] = ci("auc_gt") if "auc_gt" in per_image else None
    out["description"] = {s: {m: ci(f"{s}_{m}") for m in DESCRIPTION_METRICS} for s in sources}
    out["kappa"] = {s: {f: cohen_kappa(per_image[d].tolist(), per_image[f"{s}_{p}"].tolist()) for f, (d, p) in DESCRIBED.items()}
                    for s in sources}
    well = _described_well(per_image["described_boundary"])
    out["boundary_auc"] = {s: separation_auc(per_image[f"{s}_edge_strength"].tolist(), well) for s in sources}
    with_gt = [s for s in sources if f"{s}_dice_gt" in per_image]
    out["dice_gt"] = {s: ci(f"{s}_dice_gt") for s in with_gt}
    if "teacher" in sources and "student" in sources:
        out["teacher_vs_student"] = _teacher_vs_student(per_image, with_gt, n_boot, level, seed)
        out["dice_teacher_student"] = ci("dice_teacher_student")
    has_attention = attention is not None and len(attention)
    out["attention"] = attention_records(attention_summary(attention, n_boot, level, seed)) if has_attention else []
    return out


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
