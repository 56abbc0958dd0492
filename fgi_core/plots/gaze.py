"""Figures of the gaze stage (docs/method.md §1): fixations on images, the stage panel by panel,
pseudo-mask quality, simulated against recorded gaze, and a grid of images.

Every ``plot_*`` function returns a matplotlib Figure and never calls ``plt.show``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from .colours import COLOURS, draw_fixations
from .layers import overlay

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.figure

__all__ = ["plot_fixations", "plot_gaze_stage", "plot_mask_quality", "plot_gaze_statistics", "plot_image_grid"]


def plot_fixations(ax, image: np.ndarray, points: np.ndarray, numbers: int = 40) -> "matplotlib.figure.Figure":
    """Draw on ``ax`` an image with its fixations (:func:`~fgi_core.plots.colours.draw_fixations`):
    circles sized by duration, the scanpath in order, the first ``numbers`` numbered.

    Args:
        image: H x W x 3 uint8 (or H x W, shown in grey).
        points: N x 3 (x, y normalised; duration ms), in fixation order.

    Returns:
        the Figure that holds ``ax``.
    """
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    draw_fixations(ax, points, image.shape[:2], numbers=numbers)
    ax.set_axis_off()
    return ax.figure


def plot_gaze_stage(
    image: np.ndarray,
    points: np.ndarray,
    maps: Mapping[str, np.ndarray],
    gt: np.ndarray | None = None,
    title: str | None = None,
    scores: Mapping[str, float] | None = None,
) -> "matplotlib.figure.Figure":
    """One image through the gaze stage: fixations, heatmap, refined map, M_hc, M_bc (and truth).

    Args:
        image: uint8 H x W x 3 (or H x W).
        points: N x 3 fixations.
        maps: ``heatmap``, ``refined`` (float H x W) and ``m_hc``, ``m_bc`` (H x W {0, 1}).
        gt: bool H x W ground truth, outlined in blue on every panel when given.
        scores: e.g. ``{"m_hc": 0.81, "m_bc": 0.77}`` Dice values added to the titles.

    Returns:
        the Figure, one panel per map (5, or 6 with ``gt``).
    """
    import matplotlib.pyplot as plt

    panels = ["fixations", "heatmap", "refined", "m_hc", "m_bc"] + (["gt"] if gt is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.6 * image.shape[0] / image.shape[1] + 0.5))
    for ax, name in zip(axes, panels):
        if name == "fixations":
            plot_fixations(ax, image, points)
            ax.set_title(f"{len(points)} fixations", fontsize=9)
        elif name in ("heatmap", "refined"):
            overlay(ax, image, maps[name], "heat", contour=gt)
            ax.set_title("heatmap" if name == "heatmap" else "refined map", fontsize=9)
        elif name in ("m_hc", "m_bc"):
            overlay(ax, image, maps[name], "mask", colour=COLOURS[name], contour=gt)
            label = "M_hc (high-confidence)" if name == "m_hc" else "M_bc (broad-coverage)"
            if scores and name in scores:
                label += f"\nDice {scores[name]:.2f}"
            ax.set_title(label, fontsize=9)
        else:
            overlay(ax, image, gt, "mask", colour=COLOURS["gt"])
            ax.set_title("ground truth", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9) if title else None)
    return fig


def plot_mask_quality(means: Mapping[str, float], stds: Mapping[str, float] | None = None, title: str = "") -> "matplotlib.figure.Figure":
    """Bars of Dice / precision / recall for M_hc and M_bc, from the heatmap and the refined map.

    ``means`` / ``stds``: the ``quality.json`` dictionaries (keys like ``refined_hc_dice``).
    """
    import matplotlib.pyplot as plt

    metrics = ("dice", "precision", "recall")
    groups = [("heatmap", "hc"), ("refined", "hc"), ("heatmap", "bc"), ("refined", "bc")]
    fig, ax = plt.subplots(figsize=(8.5, 3))
    width = 0.2
    for k, (src, lvl) in enumerate(groups):
        vals = [means[f"{src}_{lvl}_{m}"] for m in metrics]
        errs = [stds[f"{src}_{lvl}_{m}"] for m in metrics] if stds else None
        bars = ax.bar(np.arange(3) + (k - 1.5) * width, vals, width, yerr=errs, capsize=2,
                      label=f"M_{lvl} from {src}", color=plt.cm.Paired(k), alpha=0.9)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, label_type="center", rotation=90, color="black")
    ax.set_xticks(np.arange(3), metrics)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean over images (± std)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or "pseudo-masks against ground truth", fontsize=10)
    fig.tight_layout()
    return fig


def _gaze_per_image(points_by_id: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per image: fixation counts (n), all durations (sum of N), fraction of fixations inside the mask (n)."""
    from ..gaze.stats import fraction_inside

    ids = list(points_by_id)
    return {
        "fixations per image": np.array([len(points_by_id[i]) for i in ids]),
        "duration (ms)": np.concatenate([points_by_id[i][:, 2] for i in ids]),
        "fraction inside lesion": np.array([fraction_inside(points_by_id[i], masks[i]) for i in ids if i in masks]),
    }


def plot_gaze_statistics(
    recorded: Mapping[str, np.ndarray] | Mapping[str, float],
    simulated: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray],
    recorded_label: str = "recorded (Kvasir-SEG)",
) -> "matplotlib.figure.Figure":
    """Histograms of fixations per image, durations and fraction inside the lesion (three panels).

    Args:
        recorded: either per-image fixation arrays (id -> N x 3; histograms are compared) or the
            summary numbers of :data:`fgi_core.gaze.KVASIR_GAZE_STATS` (drawn as reference lines).
        simulated: id -> N x 3 simulated fixations.
        masks: id -> bool H x W lesion mask.
    """
    import matplotlib.pyplot as plt

    sim = _gaze_per_image(simulated, masks)
    first = next(iter(recorded.values()))
    arrays = first is not None and isinstance(first, np.ndarray)
    rec = _gaze_per_image(recorded, masks) if arrays else None
    ref_lines = {} if arrays else {
        "fixations per image": recorded["count_median"],
        "duration (ms)": recorded["duration_median_ms"],
        "fraction inside lesion": recorded["fraction_inside_median"],
    }
    fig, axes = plt.subplots(1, 3, figsize=(11, 2.8))
    for ax, name in zip(axes, sim):
        hi = np.percentile(np.concatenate([sim[name]] + ([rec[name]] if rec else [])), 99.5)
        bins = np.linspace(0, max(hi, 1.0), 30)
        ax.hist(sim[name], bins=bins, alpha=0.6, density=True, label="simulated", color="tab:orange")
        if rec:
            ax.hist(rec[name], bins=bins, alpha=0.5, density=True, label=recorded_label, color="tab:blue")
        else:
            ax.axvline(ref_lines[name], color="tab:blue", lw=2, label=f"{recorded_label} median")
        ax.axvline(np.median(sim[name]), color="tab:orange", ls="--", lw=1.5, label="simulated median")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(name, fontsize=8)
        ax.set_ylabel("density (share of images per unit)", fontsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_image_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, cols: int = 6) -> "matplotlib.figure.Figure":
    """A grid of images (each uint8 H x W x 3 or H x W), ``cols`` per row, for quick looks at a dataset."""
    import matplotlib.pyplot as plt

    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < len(images):
            ax.imshow(images[k], cmap="gray" if images[k].ndim == 2 else None)
            if titles:
                ax.set_title(titles[k], fontsize=7)
    fig.tight_layout()
    return fig
