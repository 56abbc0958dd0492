"""How descriptions agree with the gaze and with the ground truth (evaluation only).

Ground-truth masks are read here to *score* descriptions, after they were made; nothing here
feeds an explainer.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .records import Explanation
from .schema import VOCABULARY, area_bin, location_cell

__all__ = ["mask_centroid_cell", "gaze_centroid_cell", "description_agreement", "summarise_agreement"]


def mask_centroid_cell(mask: np.ndarray) -> str | None:
    """3 x 3 grid cell of a mask's centroid (None for an empty mask)."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    h, w = mask.shape
    return location_cell((xs.mean() + 0.5) / w, (ys.mean() + 0.5) / h)


def gaze_centroid_cell(points: np.ndarray) -> str:
    """3 x 3 grid cell of the duration-weighted fixation centroid (points N x 3: x, y, ms)."""
    w = points[:, 2] / points[:, 2].sum()
    return location_cell(float(w @ points[:, 0]), float(w @ points[:, 1]))


def description_agreement(
    explanations: Mapping[str, Explanation],
    ids: Iterable[str],
    masks: Mapping[str, np.ndarray] | None = None,
    points: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per image: described Location / Area Percentage beside what the gaze and the truth say.

    Returns:
        DataFrame indexed by id with columns ``status``, ``location``, ``area``, and where given
        ``gaze_location`` / ``location_matches_gaze``, ``true_location`` / ``location_correct``,
        ``true_area_fraction`` / ``true_area`` / ``area_correct``. Invalid explanations have NaN
        in the description columns and count as not correct.
    """
    rows = {}
    for i in ids:
        e = explanations[i]
        f = e.fields or {}
        row = {"status": e.status, "location": f.get("Location"), "area": f.get("Area Percentage")}
        if points is not None and i in points:
            row["gaze_location"] = gaze_centroid_cell(points[i])
            row["location_matches_gaze"] = row["location"] == row["gaze_location"]
        if masks is not None and i in masks and masks[i] is not None:
            gt = np.asarray(masks[i], bool)
            row["true_location"] = mask_centroid_cell(gt)
            row["location_correct"] = row["location"] == row["true_location"]
            row["true_area_fraction"] = float(gt.mean())
            row["true_area"] = area_bin(float(gt.mean()))
            row["area_correct"] = row["area"] == row["true_area"]
        rows[i] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "id"
    return frame


def summarise_agreement(frame: pd.DataFrame) -> dict[str, float]:
    """Accuracies (fractions of images) of the agreement table, with the image counts."""
    out: dict[str, float] = {"images": float(len(frame))}
    for col in ("location_matches_gaze", "location_correct", "area_correct"):
        if col in frame:
            out[col] = float(frame[col].astype(bool).mean())
    if "area_correct" in frame:
        order = list(VOCABULARY["endoscopy"]["Area Percentage"])  # the bins are the same for every modality
        rank = {b: k for k, b in enumerate(order)}
        diff = [abs(rank[a] - rank[t]) for a, t in zip(frame["area"], frame["true_area"]) if a in rank and t in rank]
        out["area_within_one_bin"] = float(np.mean([d <= 1 for d in diff])) if diff else float("nan")
    return out
