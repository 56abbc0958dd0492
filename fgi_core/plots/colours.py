"""The one colour table, and the one way to draw fixations.

Every figure of :mod:`fgi_core.plots` takes its colours from :data:`COLOURS` (RGB in [0, 1])
and its colour maps from :data:`HEAT_CMAP` / :data:`FIXATION_CMAP`, so that M_hc is the same
green, the prediction the same cyan and the ground truth the same blue on every figure. No mask
is red: endoscopy images are.

Fixations are placed with the project's one rule, :func:`fgi_core.gaze.coords.pixel_indices`:
a fixation at normalised ``(x, y)`` falls on pixel ``(row, col)``, and is drawn at the centre of
that pixel, which in ``imshow`` data coordinates is ``(col, row)`` (pixel k spans
[k - 0.5, k + 0.5]). :func:`draw_fixations` is the only routine that draws fixations.

Example:
    >>> import numpy as np
    >>> fixation_offsets(np.array([[0.0, 0.0, 100.0], [0.5, 1.0, 100.0]]), 10, 20).tolist()
    [[0.0, 0.0], [10.0, 9.0]]
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.axes
    import matplotlib.collections

__all__ = [
    "COLOURS",
    "COLOUR_NAMES",
    "HEAT_CMAP",
    "FIXATION_CMAP",
    "FIXATION_STYLE",
    "fixation_offsets",
    "fixation_sizes",
    "draw_fixations",
]

#: RGB colours (0..1) of everything drawn in a fixed colour, by what it shows.
COLOURS: dict[str, tuple[float, float, float]] = {
    "m_hc": (0.1, 0.9, 0.2),  # high-confidence pseudo-mask: green
    "m_bc": (1.0, 0.75, 0.0),  # broad-coverage pseudo-mask: amber
    "prediction": (0.0, 0.9, 1.0),  # a network's predicted region: cyan (red would vanish on endoscopy)
    "gt": (0.2, 0.5, 1.0),  # ground truth: blue
    "foreground": (0.1, 0.9, 0.2),  # a label map's foreground (label 1): green
    "background": (0.75, 0.3, 1.0),  # a label map's background (label 0): violet (not red: endoscopy is red)
    "only_first": (1.0, 0.9, 0.0),  # difference of two regions: in the first only (teacher), yellow
    "only_second": (0.1, 0.3, 1.0),  # ... in the second only (student), blue
    "both": (1.0, 1.0, 1.0),  # ... in both, white
    "gt_on_difference": (0.1, 0.9, 0.2),  # truth outline where blue is taken (difference panels): green
}

#: Names of the colours, for titles that say what a colour means ("cyan: p >= 0.5").
COLOUR_NAMES = {"m_hc": "green", "m_bc": "amber", "prediction": "cyan", "gt": "blue", "foreground": "green", "background": "violet",
                "only_first": "yellow", "only_second": "blue", "both": "white"}

#: Colour map of soft maps (heatmap, refined map, probabilities, attention) in [0, 1].
HEAT_CMAP = "jet"

#: Colour map of fixations by their order (first = red, last = yellow).
FIXATION_CMAP = "autumn"

#: How fixations look: marker area ``size_min + size_range * duration / max(duration)`` (points^2),
#: the scanpath line, the marker edges and the order numbers.
FIXATION_STYLE = {
    "size_min": 15.0,
    "size_range": 165.0,
    "path_colour": "white",
    "path_width": 0.8,
    "path_alpha": 0.8,
    "edge_colour": "black",
    "edge_width": 0.5,
    "alpha": 0.85,
    "number_colour": "black",
    "number_size": 6,
}


def fixation_offsets(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Where fixations are drawn on an ``imshow``-ed ``height x width`` image.

    Args:
        points: N x 3 (or N x 2) fixations, normalised x, y in [0, 1] (then duration).

    Returns:
        float N x 2 ``(col, row)``: the centre of the pixel that
        :func:`fgi_core.gaze.coords.pixel_indices` puts each fixation on.
    """
    from ..gaze.coords import pixel_indices

    p = np.asarray(points, np.float64)
    p = p.reshape(-1, p.shape[-1] if p.ndim == 2 else 3)
    rows, cols = pixel_indices(p[:, 0], p[:, 1], int(height), int(width))
    return np.stack([cols, rows], axis=1).astype(np.float64)


def fixation_sizes(points: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Marker areas (points^2, float N) of fixations: proportional to duration, times ``scale``.

    Args:
        points: N x 3 fixations (x, y, duration in ms).
    """
    d = np.asarray(points, np.float64).reshape(-1, 3)[:, 2]
    if not len(d):
        return d
    s = FIXATION_STYLE
    return scale * (s["size_min"] + s["size_range"] * d / max(float(d.max()), 1.0))


def draw_fixations(ax: "matplotlib.axes.Axes", points: np.ndarray, shape: tuple[int, int], numbers: int = 30,
                   scale: float = 1.0) -> "matplotlib.collections.PathCollection | None":
    """Draw fixations on an Axes that shows an ``H x W`` image: the scanpath in order, one circle
    per fixation (area by duration, colour by order), the first ``numbers`` numbered from 1.

    The axes keep the image's extent (``x`` from -0.5 to W - 0.5, ``y`` from H - 0.5 down to -0.5).

    Args:
        points: N x 3 fixations (normalised x, y; duration in ms), in fixation order.
        shape: ``(H, W)`` of the image shown.
        numbers: how many fixations get their number (0 = none).
        scale: factor on the marker areas (small panels use less than 1).

    Returns:
        the scatter of the circles (its offsets are :func:`fixation_offsets`), or None when
        there are no fixations.
    """
    h, w = int(shape[0]), int(shape[1])
    if len(np.asarray(points)):
        s = FIXATION_STYLE
        xy = fixation_offsets(points, h, w)
        ax.plot(xy[:, 0], xy[:, 1], "-", color=s["path_colour"], lw=s["path_width"], alpha=s["path_alpha"])
        scatter = ax.scatter(xy[:, 0], xy[:, 1], s=fixation_sizes(points, scale), c=np.arange(len(xy)), cmap=FIXATION_CMAP,
                             edgecolors=s["edge_colour"], linewidths=s["edge_width"], alpha=s["alpha"], zorder=3)
        for k in range(min(int(numbers), len(xy))):
            ax.annotate(str(k + 1), tuple(xy[k]), color=s["number_colour"], fontsize=s["number_size"], ha="center",
                        va="center", zorder=4)
    else:
        scatter = None
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    return scatter
