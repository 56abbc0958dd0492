"""Whole-run tables: every per-image measurement of an :class:`~fgi_core.interpret.Inspection`
(the notebook's ``per_image.csv``) and every image's attention rows (``attention.csv``)."""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from ..metrics.overlap import dice
from ..metrics.saliency import auc
from .attention import attention_rows
from .descriptions import description_consistency
from .gaze import gaze_agreement
from .inspection import Inspection, ImageRecord

__all__ = ["SOURCES", "GAZE_METRICS", "DESCRIPTION_METRICS", "measure", "attention_table"]

#: The prediction sources of a run, in table order.
SOURCES = ("teacher", "student")
#: Per-source columns of :func:`measure` that the summaries report.
GAZE_METRICS = ("cc", "nss", "auc_pred")
DESCRIPTION_METRICS = ("location_match", "location_distance", "area_match", "area_distance", "boundary_match")


def _source_row(record: ImageRecord, source: str, threshold: float) -> dict[str, Any]:
    """The ``<source>_*`` columns of :func:`measure` for one image (S x S maps)."""
    p = record.prob[source]
    g = gaze_agreement(record.heatmap, p, record.points, None, threshold)
    row: dict[str, Any] = {f"{source}_cc": g["cc"], f"{source}_nss": g["nss"], f"{source}_auc_pred": g["auc_pred"]}
    if record.gt is not None:
        row[f"{source}_dice_gt"] = dice(p >= threshold, record.gt)
    for k, v in description_consistency(record.fields, p, record.image, threshold).items():
        row[f"{source}_{k}"] = v
    return row


def measure(inspection: Inspection, threshold: float = 0.5, sources: Sequence[str] | None = None) -> pd.DataFrame:
    """Every per-image measurement, one row per image (the notebook's ``per_image.csv``).

    Returns:
        DataFrame indexed by ``id`` (N rows) with ``status``, the described
        ``described_location`` / ``described_area`` / ``described_boundary``, ``auc_gt`` (gaze vs
        truth, network-free), then for each source ``<source>_cc``, ``_nss``, ``_auc_pred``,
        ``_dice_gt`` (when there is ground truth), ``_location``, ``_location_match``,
        ``_location_distance``, ``_area_fraction``, ``_area``, ``_area_match``,
        ``_area_distance``, ``_edge_strength`` (boundary sharpness), ``_edge_width``,
        ``_solidity``, ``_boundary``, ``_boundary_match``; and ``dice_teacher_student``
        (agreement of the two predicted regions) when both are present.
    """
    sources = list(sources) if sources is not None else inspection.sources
    rows = {}
    for r in inspection:
        f = r.fields or {}
        row: dict[str, Any] = {"status": r.status, "described_location": f.get("Location"), "described_area": f.get("Area Percentage"),
                               "described_boundary": f.get("Boundary"),
                               "auc_gt": auc(r.heatmap, r.gt) if r.gt is not None else float("nan")}
        for s in sources:
            row.update(_source_row(r, s, threshold))
        if "teacher" in sources and "student" in sources:
            row["dice_teacher_student"] = dice(r.prob["teacher"] >= threshold, r.prob["student"] >= threshold)
        rows[r.id] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "id"
    return frame


def attention_table(inspection: Inspection, source: str = "teacher") -> pd.DataFrame:
    """:func:`~fgi_core.interpret.attention_rows` of every image.

    Returns:
        DataFrame with one row per (image, stage, field): ``id``, ``stage``, ``field``,
        ``tokens``, ``share``, ``cc_prob`` (against the ``source``'s prediction),
        ``cc_heatmap``; empty when the run's teacher has no attention (no fusion).
    """
    rows = []
    for r in inspection:
        attn = inspection.attention(r.id, cache=False)
        if attn is None or not r.token_spans:
            continue
        for row in attention_rows(attn, r.token_spans, r.prob.get(source), r.heatmap):
            rows.append({"id": r.id, **row})
    return pd.DataFrame(rows, columns=["id", "stage", "field", "tokens", "share", "cc_prob", "cc_heatmap"])
