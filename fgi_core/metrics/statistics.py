"""Summaries over images: mean, spread, bootstrap intervals, paired differences, agreement.

The one home of the project's statistics, with one set of conventions:

* **missing values**: None, NaN and infinities are left out and counted (``undefined``);
  booleans count as 0 / 1, so the mean of a match column is a rate;
* **spread**: ``std`` is the sample standard deviation (``ddof=1``); 0.0 for a single value,
  NaN for none;
* **bootstrap**: percentile intervals from :data:`DEFAULT_N_BOOT` resamples of the images,
  drawn with ``numpy.random.default_rng(seed)`` (the same call gives the same interval), at
  ``level`` 0.95; the keys are always ``mean``, ``low``, ``high`` (and ``n``);
* **paired differences** are ``a - b``, image by image (:func:`paired_bootstrap`).

Example:
    >>> from fgi_core.metrics import paired_bootstrap, summarise
    >>> summarise([{"dice": 0.8}, {"dice": 0.6}])["dice"]["mean"]
    0.7
    >>> r = paired_bootstrap([0.9, 0.8, 0.7], [0.8, 0.7, 0.7])
    >>> round(r["mean"], 3), r["n"], round(r["wins"], 3)
    (0.067, 3, 0.667)
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["DEFAULT_N_BOOT", "DEFAULT_LEVEL", "finite_values", "spread", "bootstrap_interval", "paired_bootstrap",
           "summarise", "cohen_kappa"]

#: Bootstrap resamples of every interval the project reports (unless a caller asks otherwise).
DEFAULT_N_BOOT = 10_000
#: Confidence level of every interval.
DEFAULT_LEVEL = 0.95


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(float(v)))


def finite_values(values: Iterable[Any]) -> np.ndarray:
    """float64 array of ``values`` without None, NaN and infinities (booleans as 0 / 1)."""
    x = np.array([float(v) for v in values if not _missing(v)], np.float64)
    return x[np.isfinite(x)]


def spread(x: np.ndarray, ddof: int = 1) -> float:
    """Standard deviation of ``x`` (sample, ``ddof=1``, by default); 0.0 for a single value, NaN for none."""
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return float("nan")
    return float(x.std(ddof=ddof)) if x.size > ddof else 0.0


def _check(n_boot: int, level: float) -> None:
    if not 0.0 < level < 1.0 or int(n_boot) < 1:
        raise ValueError(f"level must be in (0, 1) and n_boot >= 1; got level={level}, n_boot={n_boot}")


def _bootstrap_bounds(x: np.ndarray, n_boot: int, level: float, seed: int) -> tuple[float, float]:
    """Percentile bounds of the mean of ``x`` (non-empty) over ``n_boot`` resamples."""
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(int(n_boot), x.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def bootstrap_interval(values: Iterable[Any], n_boot: int = DEFAULT_N_BOOT, *, level: float = DEFAULT_LEVEL,
                       seed: int = 0, ddof: int = 1) -> dict[str, float]:
    """The mean of ``values`` with a percentile bootstrap confidence interval.

    Missing values are left out (module conventions); ``n`` counts what is left.

    Returns:
        ``{"n", "mean", "low", "high", "std"}``; all NaN but ``n`` when ``n`` is 0. With one
        value the interval is that value.

    Raises:
        ValueError: ``level`` not in (0, 1) or ``n_boot`` < 1.
    """
    _check(n_boot, level)
    x = finite_values(values)
    if x.size == 0:
        return {"n": 0, "mean": float("nan"), "low": float("nan"), "high": float("nan"), "std": float("nan")}
    low, high = _bootstrap_bounds(x, n_boot, level, seed)
    return {"n": int(x.size), "mean": float(x.mean()), "low": low, "high": high, "std": spread(x, ddof)}


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = DEFAULT_N_BOOT, *,
                     level: float = DEFAULT_LEVEL, seed: int = 0) -> dict[str, float]:
    """Mean of the per-image differences ``a - b`` with a percentile-bootstrap interval.

    Args:
        a, b: the same images' scores under two methods (same order, same length); pairs where
            either is missing (None, NaN) are left out.
        n_boot: bootstrap resamples of the images; ``seed``: their generator's seed.

    Returns:
        ``{"mean", "low", "high", "n", "wins"}``: the mean difference, the interval's bounds, the
        number of pairs, and the share of them where ``a > b``; NaN (and ``n`` 0) without pairs.

    Raises:
        ValueError: ``a`` and ``b`` are not 1-D of one length; ``level`` / ``n_boot`` out of range.
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired scores need two 1-D arrays of the same length, got {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    d = x[keep] - y[keep]
    interval = bootstrap_interval(d, n_boot, level=level, seed=seed)
    return {"mean": interval["mean"], "low": interval["low"], "high": interval["high"], "n": interval["n"],
            "wins": float((d > 0).mean()) if d.size else float("nan")}


def _columns(table) -> tuple[dict[str, list], list[str]]:
    """Column name -> values of a DataFrame or of an iterable of row mappings, and the numeric columns."""
    import pandas as pd

    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(list(table))
    numeric = []
    for c in frame.columns:
        present = [v for v in frame[c].tolist() if not _missing(v)]
        if pd.api.types.is_numeric_dtype(frame[c]) or (present and all(
                isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) for v in present)):
            numeric.append(c)
    return {c: frame[c].tolist() for c in frame.columns}, numeric


def summarise(table, columns: Sequence[str] | None = None, n_boot: int = 0, *, level: float = DEFAULT_LEVEL,
              seed: int = 0, ddof: int = 1) -> dict[str, dict[str, float]]:
    """Mean, spread and count of each column over images, missing values left out and counted.

    Args:
        table: a DataFrame, or rows as mappings (e.g. :func:`fgi_core.evaluate.score_image`
            results).
        columns: what to summarise (default: every numeric or boolean column).
        n_boot: > 0 adds a bootstrap interval of the mean (:func:`bootstrap_interval`) from
            that many resamples (e.g. :data:`DEFAULT_N_BOOT`); 0 (default) leaves it out.

    Returns:
        ``{column: {"mean", "std", "n", "undefined"}}`` (+ ``"low"``, ``"high"`` with
        ``n_boot``); ``undefined`` counts the rows where the column was missing (e.g. HD95 with
        exactly one empty mask).

    Raises:
        KeyError: a column the table lacks (named, with those it has).
    """
    values, numeric = _columns(table)
    columns = numeric if columns is None else list(columns)
    missing = [c for c in columns if c not in values]
    if missing:
        raise KeyError(f"columns {missing} are not in the table (it has {list(values)})")
    out = {}
    for c in columns:
        x = finite_values(values[c])
        row = {"mean": float(x.mean()) if x.size else math.nan, "std": spread(x, ddof), "n": int(x.size),
               "undefined": len(values[c]) - int(x.size)}
        if n_boot:
            interval = bootstrap_interval(x, n_boot, level=level, seed=seed)
            row.update(low=interval["low"], high=interval["high"])
        out[c] = row
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
