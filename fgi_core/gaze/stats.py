"""Summary statistics of fixation sequences, to compare simulated gaze with recorded gaze."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd


__all__ = ["fraction_inside", "summarise_gaze", "compare_gaze_statistics"]


def fraction_inside(points: np.ndarray, mask: np.ndarray, weighted: bool = False) -> float:
    """Fraction of fixations (or of fixation time, if ``weighted``) on ``mask`` pixels.

    A fixation at normalised (x, y) falls on pixel ``(min(floor(y*H), H-1), min(floor(x*W), W-1))``.
    """
    from .coords import share_inside

    return share_inside(points, mask, weighted)


def summarise_gaze(points_by_id: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
    """Dataset-level statistics of fixation sequences.

    Args:
        points_by_id: image id -> N x 3 (x, y, duration ms).
        masks: image id -> bool H x W lesion mask; adds the fraction-inside statistics.

    Returns:
        dict: images, count_{min,median,mean,max}, duration_{p05,median,p95}_ms and, with masks,
        fraction_inside_{mean,median,p05} and fraction_inside_weighted_mean.
    """
    counts = np.array([len(p) for p in points_by_id.values()])
    durations = np.concatenate([p[:, 2] for p in points_by_id.values()])
    out = {
        "images": float(len(counts)),
        "count_min": float(counts.min()),
        "count_median": float(np.median(counts)),
        "count_mean": float(counts.mean()),
        "count_max": float(counts.max()),
        "duration_p05_ms": float(np.percentile(durations, 5)),
        "duration_median_ms": float(np.median(durations)),
        "duration_p95_ms": float(np.percentile(durations, 95)),
    }
    if masks is not None:
        ids = [i for i in points_by_id if i in masks]
        inside = np.array([fraction_inside(points_by_id[i], masks[i]) for i in ids])
        weighted = np.array([fraction_inside(points_by_id[i], masks[i], weighted=True) for i in ids])
        out.update(
            fraction_inside_mean=float(inside.mean()),
            fraction_inside_median=float(np.median(inside)),
            fraction_inside_p05=float(np.percentile(inside, 5)),
            fraction_inside_weighted_mean=float(weighted.mean()),
        )
    return out


def compare_gaze_statistics(
    recorded: Mapping[str, np.ndarray], simulated: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """Side-by-side table (rows = statistics, columns ``recorded`` / ``simulated``)."""
    return pd.DataFrame({"recorded": summarise_gaze(recorded, masks), "simulated": summarise_gaze(simulated, masks)})
