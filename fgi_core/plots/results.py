"""Tables beside the figures: the real-data results shipped in ``benchmarks/results/``, this
run's numbers beside them (the notebooks' "You should see" notes), and options as a table.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["shipped_results", "dig", "expectations", "options_table", "real_table", "real_paired"]


def shipped_results(name: str, root: str | Path | None = None) -> dict | None:
    """``benchmarks/results/<name>.json`` of the checkout (real-data results), or None.

    Args:
        name: the file's stem, e.g. ``"kvasir_cpu"``, ``"gaze"``.
        root: the checkout (default: found from the working directory, then from this file).
    """
    import json

    from ..config import project_root

    root = Path(root) if root is not None else (project_root() or project_root(Path(__file__).parent))
    if root is None:
        return None
    path = Path(root) / "benchmarks" / "results" / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def dig(data, *keys, default=None):
    """``data[k1][k2]...``, or ``default`` when any level is missing (None-safe).

    Example:
        >>> dig({"a": [1, {"b": 2}]}, "a", 1, "b"), dig({"a": None}, "a", "b", default=0)
        (2, 0)
    """
    for key in keys:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, (list, tuple)) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return default
    return data


def _cell(v, digits: int):
    """One value of :func:`expectations` as text."""
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, float, np.integer, np.floating)):
        v = float(v)
        if not np.isfinite(v):
            return "n/a"
        if v != 0 and abs(v) < 10 ** -digits:
            return f"{v:.1e}"  # a tiny number (a float-rounding error) keeps its order of magnitude
        whole = v == round(v) and abs(v) >= 10  # a count or a size (65 tokens, D = 384), not a score
        return f"{v:.0f}" if abs(v) >= 1000 or whole else f"{v:.{digits}f}"
    return v


def expectations(rows: Sequence[tuple], run_label: str = "this run", real_label: str = "real Kvasir-SEG",
                 digits: int = 3):
    """A "You should see" table: each quantity with this run's value beside the shipped real one.

    Args:
        rows: ``(quantity, this run's value, the real-data value, where the real value comes from)``;
            a value may be None (shown as a dash).

    Returns:
        a pandas DataFrame indexed by quantity (one row per entry of ``rows``, three columns);
        numbers as text with ``digits`` decimals (one significant digit in exponent form when
        smaller than that; none from 1000 up, nor for whole numbers from 10 up: counts, sizes).
    """
    import pandas as pd

    frame = pd.DataFrame([{"quantity": q, run_label: _cell(a, digits), real_label: _cell(b, digits),
                           "real value from": src or "-"} for q, a, b, src in rows]).set_index("quantity")
    return frame


def options_table(options, defaults=None):
    """A dataclass of options (e.g. :class:`fgi_core.options.FGIOptions`) as a one-column table.

    Args:
        options: the dataclass instance.
        defaults: another instance (default: the class built with no arguments, when it can be);
            options that differ from it are marked in a second column.

    Returns:
        a pandas DataFrame indexed by option (one row per field).
    """
    import dataclasses

    import pandas as pd

    values = dataclasses.asdict(options)
    if defaults is None:
        try:
            defaults = type(options)()
        except TypeError:
            defaults = None
    base = dataclasses.asdict(defaults) if defaults is not None else {}
    rows = [{"option": k, "value": repr(v) if isinstance(v, str) else v,
             "changed": "" if k not in base or base[k] == v else f"default {base[k]!r}"} for k, v in values.items()]
    frame = pd.DataFrame(rows).set_index("option")
    if not frame["changed"].any():
        frame = frame.drop(columns="changed")
    return frame


def real_table(real: dict | None, long: bool = False):
    """The shipped real-data table (``benchmarks/results/kvasir_cpu.json``) as a DataFrame: one
    row per method, in the README's order, with the seeds it ran under, Dice (mean over seeds of
    each seed's mean over images, and each seed's), IoU, HD95, ASD and the median predicted /
    true area (below 1: under-segments). ``long``: the rows run to the schedule's end instead.
    An empty frame when there is nothing shipped.
    """
    import pandas as pd

    methods = dig(real, "long", "methods", default={}) if long else dig(real, "methods", default={})
    rows = {}
    for key, e in (methods or {}).items():
        if key == "fgi_student":  # the profile's option set again, under the notebooks' name
            continue
        rows[e.get("label", key)] = {
            "seeds": len(e["seeds"]), "Dice": e["dice"]["mean"],
            "Dice per seed": ", ".join(f"{d:.3f}" for d in e["dice_per_seed"]),
            "IoU": e["iou"]["mean"], "HD95 (px)": e["hd95"]["mean"], "ASD (px)": e["asd"]["mean"],
            "predicted / true area": e.get("area_ratio_median"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def real_paired(real: dict | None):
    """The shipped paired differences (``"a - b"`` per validation image, averaged over the seeds
    both rows ran under, 95 % bootstrap interval over images) as a DataFrame with a verdict per
    row: ``a better``, ``b better`` or ``cannot tell`` (the interval holds 0)."""
    import pandas as pd

    methods = dig(real, "methods", default={}) or {}
    label = {k: e.get("label", k) for k, e in methods.items()}
    rows = {}
    for pair, d in (dig(real, "paired_dice", default={}) or {}).items():
        a, b = pair.split(" - ")
        verdict = "cannot tell" if d["low"] <= 0 <= d["high"] else (f"{label.get(a, a)} better" if d["low"] > 0 else f"{label.get(b, b)} better")
        rows[f"{label.get(a, a)} - {label.get(b, b)}"] = {"mean": d["mean"], "low": d["low"], "high": d["high"],
                                                           "wins": d.get("wins"), "images": d.get("n"),
                                                           "seeds": len(d.get("seeds", [])), "verdict": verdict}
    return pd.DataFrame.from_dict(rows, orient="index")
