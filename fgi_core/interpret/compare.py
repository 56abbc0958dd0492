"""Dataset-level statistics of the per-image tables: bootstrap intervals, and teacher vs student.

Every number comes from :mod:`fgi_core.metrics.statistics`, the one home of the project's
statistics: :func:`~fgi_core.metrics.bootstrap_interval` for a mean,
:func:`~fgi_core.metrics.paired_bootstrap` for a paired difference ``a - b`` (student minus
teacher by default), with its default number of resamples
(:data:`~fgi_core.metrics.DEFAULT_N_BOOT`) and level.

Keys: the rows and dicts made here carry the statistics' own keys and nothing else (``n``,
``mean``, ``low``, ``high``; ``wins`` for a paired difference), so one interval reads the same
wherever it comes from.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..metrics.statistics import DEFAULT_LEVEL, DEFAULT_N_BOOT, paired_bootstrap, summarise
from .tables import SOURCES

__all__ = ["summary_table", "compare_sources", "summary_by_source", "ci_strings"]


def summary_table(frame: pd.DataFrame, columns: Sequence[str] | None = None, n_boot: int = DEFAULT_N_BOOT,
                  level: float = DEFAULT_LEVEL, seed: int = 0) -> pd.DataFrame:
    """:func:`fgi_core.metrics.summarise` with a bootstrap interval, as a table.

    Args:
        frame: per-image values, N rows (e.g. :func:`~fgi_core.interpret.measure`).
        columns: default: every numeric or boolean column.

    Returns:
        DataFrame indexed by column name with ``n``, ``mean``, ``low``, ``high``, ``std``.

    Raises:
        KeyError: a column that ``frame`` lacks (named).
    """
    rows = summarise(frame, columns, n_boot, level=level, seed=seed)
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.reindex(columns=["n", "mean", "low", "high", "std"])


def _numbers(series: pd.Series) -> np.ndarray:
    """A column as float64, None and non-numbers as NaN (booleans as 0 / 1)."""
    return pd.to_numeric(series.astype(object).where(series.notna()), errors="coerce").astype(float).to_numpy()


#: The keys of a :func:`compare_sources` row besides the two sources' means.
COMPARE_KEYS = ("n", "mean", "low", "high", "wins", "differs")


def _paired_row(x: np.ndarray, y: np.ndarray, a: str, b: str, n_boot: int, level: float, seed: int,
                tolerance: float) -> dict[str, Any]:
    """One :func:`compare_sources` row of the paired values ``x`` (source ``a``) and ``y`` (``b``), N each."""
    ok = np.isfinite(x) & np.isfinite(y)
    d = paired_bootstrap(x, y, n_boot, level=level, seed=seed)
    nan = float("nan")
    return {"n": d["n"], a: float(x[ok].mean()) if ok.any() else nan, b: float(y[ok].mean()) if ok.any() else nan,
            "mean": d["mean"], "low": d["low"], "high": d["high"], "wins": d["wins"],
            "differs": float((np.abs(x[ok] - y[ok]) > tolerance).mean()) if ok.any() else nan}


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
    """Paired comparison of two sources' per-image metrics (columns ``<a>_<m>`` and ``<b>_<m>``, N rows).

    The difference is ``a - b``, image by image (:func:`fgi_core.metrics.paired_bootstrap`, the
    one paired bootstrap): with the defaults, student minus teacher.

    Returns:
        DataFrame indexed by metric: ``n`` (images with both values), ``<a>``, ``<b>`` (means),
        ``mean`` (mean of a - b), ``low``, ``high`` (paired bootstrap CI of the difference),
        ``wins`` (share of those images where a > b), ``differs`` (share where the two values
        differ by more than ``tolerance``).

    Raises:
        KeyError: a missing column (named).
        ValueError: a source named like one of the row's keys.
    """
    clash = [s for s in (a, b) if s in COMPARE_KEYS]
    if clash:
        raise ValueError(f"source names {clash} clash with the row's keys ({', '.join(COMPARE_KEYS)}): rename the columns")
    rows = {}
    for m in metrics:
        ca, cb = f"{a}_{m}", f"{b}_{m}"
        missing = [c for c in (ca, cb) if c not in frame.columns]
        if missing:
            raise KeyError(f"column(s) {missing} are not in the table")
        rows[m] = _paired_row(_numbers(frame[ca]), _numbers(frame[cb]), a, b, n_boot, level, seed, tolerance)
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
    """``"mean [low, high] (n)"`` strings, one column per table (e.g. per source), for display.

    Each table has ``n``, ``mean``, ``low`` and ``high`` columns, one row per metric.
    """
    cols = {}
    for name, t in tables.items():
        cols[name] = {m: (f"{r['mean']:.{digits}f} [{r['low']:.{digits}f}, {r['high']:.{digits}f}] (n={int(r['n'])})"
                          if r["n"] else "n/a") for m, r in t.iterrows()}
    return pd.DataFrame(cols)
