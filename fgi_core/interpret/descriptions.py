"""Description vs prediction: the described Location, Area Percentage and Boundary against a
predicted region.

The Location grid, the Area Percentage bins and the cell of a region's centroid come from
:mod:`fgi_core.explain` (:mod:`~fgi_core.explain.schema`, :mod:`~fgi_core.explain.agreement`);
the Boundary rule (edge strength, ramp width, solidity and their cut-offs) from
:mod:`fgi_core.explain.measures`, the rule the describer writes its Boundary word with
(docs/method.md §2.1). Nothing here keeps a copy of either.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..explain.measures import boundary_class, boundary_measures

__all__ = ["cell_of", "cell_distance", "area_bin_distance", "description_consistency"]


def _cells() -> dict[str, tuple[int, int]]:
    """Location cell name -> (row, column) on the 3 x 3 grid of :mod:`fgi_core.explain.schema`."""
    from ..explain.schema import GRID_COLS, GRID_ROWS

    return {("center" if r == c == "center" else f"{r}-{c}"): (i, j) for i, r in enumerate(GRID_ROWS) for j, c in enumerate(GRID_COLS)}


def cell_of(region: np.ndarray) -> str | None:
    """The Location cell (3 x 3 grid) of a bool H x W region's centroid; None for an empty region.

    Pixel centres are at ``(col + 0.5) / W, (row + 0.5) / H`` (as
    :func:`fgi_core.explain.agreement.mask_centroid_cell`).
    """
    from ..explain.agreement import mask_centroid_cell

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

    Raises:
        ValueError: an unknown bin (the allowed ones are listed).

    Example:
        >>> area_bin_distance("<5%", "15-30%")
        2.0
    """
    from ..explain.schema import AREA_BINS

    if a is None or b is None:
        return float("nan")
    for name in (a, b):
        if name not in AREA_BINS:
            raise ValueError(f"unknown Area Percentage bin {name!r}; allowed: {', '.join(AREA_BINS)}")
    return float(abs(AREA_BINS.index(a) - AREA_BINS.index(b)))


def _match(described: str | None, predicted: str | None) -> Any:
    """True / False, or NaN when either side is missing."""
    return float("nan") if described is None or predicted is None else bool(described == predicted)


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
        ``area`` (its bin), ``area_match``, ``area_distance`` (bins); with ``image`` also
        ``edge_strength`` (the boundary sharpness), ``edge_width``, ``solidity``, ``boundary``
        (measured class, :func:`boundary_class`), ``boundary_match``.
    """
    from ..explain.schema import area_bin

    region = np.asarray(prob, dtype=np.float64) >= threshold
    fraction = float(region.mean())
    loc = cell_of(region)
    out: dict[str, Any] = {"location": loc, "area_fraction": fraction, "area": area_bin(fraction)}
    f = dict(fields) if fields else {}
    out["location_match"] = _match(f.get("Location"), loc)
    out["location_distance"] = cell_distance(f.get("Location"), loc)
    out["area_match"] = _match(f.get("Area Percentage"), out["area"])
    out["area_distance"] = area_bin_distance(f.get("Area Percentage"), out["area"])
    if image is not None:
        m = boundary_measures(region, image)
        out.update(m)
        out["boundary"] = boundary_class(m)
        out["boundary_match"] = _match(f.get("Boundary"), out["boundary"])
    return out
