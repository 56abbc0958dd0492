"""Figures of training (docs/method.md §4, §7): loss and validation curves, and grids of worked
examples (images, soft maps, masks, label maps) with a shared colour bar.

Every ``plot_*`` function returns a matplotlib Figure and never calls ``plt.show``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .colours import COLOURS, HEAT_CMAP
from .layers import overlay
from .save import save_figure

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.figure

__all__ = ["plot_curves", "plot_panels", "denormalise"]


def plot_curves(log_rows: list[dict], path: str | Path | None = None, title: str = "") -> "matplotlib.figure.Figure":
    """Loss curves (left) and validation Dice (right) from ``log.csv`` rows.

    The loss terms share the left axis; the ramp-up weight w(t) (``rampup``, in [0, 1];
    docs/method.md §4.7) gets its own axis on the right, dashed, so it is not read as a loss.
    Legends sit below the panels, never over the lines.

    Args:
        log_rows: one dict per logged iteration: ``iteration``, the loss terms, and optionally
            ``rampup``, ``lr``, ``seconds``, ``val_dice`` (None or "" when not validated).
        path: when given, the figure is saved there as PNG (:func:`save_figure`) and closed.

    Returns:
        the Figure (axes: ``[0]`` losses, ``[1]`` validation Dice, then the ramp-up axis).
    """
    import matplotlib.pyplot as plt

    its = [r["iteration"] for r in log_rows]
    skip = ("iteration", "lr", "seconds", "val_dice", "rampup")
    loss_keys = [k for k in log_rows[0] if k not in skip] if log_rows else []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    handles = []
    for k in loss_keys:  # the total dashed and black, so a term equal to it (a stage of one term) still shows
        style = {"ls": "--", "color": "k", "lw": 1.4, "zorder": 3} if k == "total" else {"lw": 1}
        handles += axes[0].plot(its, [r[k] for r in log_rows], label=k, **style)
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("loss")
    if log_rows and "rampup" in log_rows[0]:
        weight = axes[0].twinx()
        handles += weight.plot(its, [r["rampup"] for r in log_rows], "--", color="grey", lw=1, label="ramp-up w(t) (right axis)")
        weight.set_ylim(0, 1.05)
        weight.set_ylabel("ramp-up weight w(t)", color="grey")
        weight.tick_params(axis="y", colors="grey")
    if handles:
        axes[0].legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                       ncol=min(4, len(handles)), frameon=False)
    val = [(r["iteration"], r["val_dice"]) for r in log_rows if r.get("val_dice") not in (None, "")]
    if val:
        axes[1].plot(*zip(*val), "o-", color="tab:green", label="validation Dice (training size)")
        axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("validation Dice")
    axes[1].set_ylim(0, 1)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
        plt.close(fig)
    return fig


def _draw_panel(ax, image: np.ndarray | None, layer: np.ndarray | None, kind: str | None) -> None:
    """One panel of :func:`plot_panels` (see there for ``image``, ``layer`` and ``kind``)."""
    base = image if image is not None else np.zeros((*np.asarray(layer).shape[:2], 3), np.uint8)
    if kind == "heat" and image is None:
        ax.imshow(layer, cmap=HEAT_CMAP, vmin=0, vmax=1)  # a map alone: full colour, as on the colour bar
    elif kind == "heat":
        overlay(ax, base, layer, "heat")
    elif kind == "mask":
        overlay(ax, base, layer, "mask", colour=COLOURS["prediction"])
    elif kind == "labels":
        ax.imshow(base, cmap="gray" if base.ndim == 2 else None)
        rgba = np.zeros((*layer.shape, 4))
        rgba[layer == 1] = (*COLOURS["foreground"], 0.5)
        rgba[layer == 0] = (*COLOURS["background"], 0.35)
        ax.imshow(rgba)
    else:
        ax.imshow(base, cmap="gray" if base.ndim == 2 else None)
    ax.set_axis_off()


def plot_panels(rows: Sequence[Sequence[tuple]], size: float = 2.4, colorbar: str | None = None) -> "matplotlib.figure.Figure":
    """A grid of panels; each panel is ``(image, layer, kind, title)``.

    ``kind``: ``"heat"`` (soft map H x W in [0, 1]; over the image, or in full colour when
    ``image`` is None), ``"mask"`` (binary H x W, cyan outline and light fill), ``"labels"`` (an
    H x W label map with 1 = foreground green, 0 = background violet, -1 = ignored, left
    uncoloured) or None (the image alone). ``image`` may be H x W x 3 uint8, H x W grey, or None
    (``layer`` alone). ``colorbar``: the label of the one colour bar (0..1, the heat panels'
    scale) drawn on the right of the grid; a grid with a heat panel gets one labelled "value"
    unless a label is given.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    if colorbar is None and any(panel[2] == "heat" for row in rows for panel in row):
        colorbar = "value (0-1)"
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols + (0.6 if colorbar else 0), size * n_rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, row in enumerate(rows):
        for c, (image, layer, kind, title) in enumerate(row):
            _draw_panel(axes[r, c], image, layer, kind)
            axes[r, c].set_title(title, fontsize=8)
    fig.tight_layout()
    if colorbar:
        mappable = plt.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=HEAT_CMAP)
        bar = fig.colorbar(mappable, ax=list(axes.flat), fraction=0.02, pad=0.01)
        bar.set_label(colorbar, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return fig


def denormalise(image: np.ndarray) -> np.ndarray:
    """A normalised C x H x W training image (or H x W) back to uint8 H x W x 3 (H x W) for
    display (min-max)."""
    x = np.asarray(image, np.float32)
    x = x.transpose(1, 2, 0) if x.ndim == 3 else x
    x = (x - x.min()) / max(float(x.max() - x.min()), 1e-6)
    x = (x * 255).astype(np.uint8)
    return np.repeat(x, 3, axis=2) if x.ndim == 3 and x.shape[2] == 1 else x
