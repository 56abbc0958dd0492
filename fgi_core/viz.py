"""Figures: fixations on images, the gaze stage panel by panel, pseudo-mask quality, simulator checks.

Every function returns a matplotlib Figure (or draws on a given Axes) and never calls
``plt.show``; :func:`save_figure` writes a PNG atomically.

For the notebooks' "You should see" notes and tables: :func:`shipped_results` reads the
real-data results shipped in ``benchmarks/results/``, :func:`expectations` puts this run's
numbers beside them, :func:`options_table` shows a dataclass of options as a table.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

import matplotlib.pyplot as plt
import numpy as np

from .io import atomic_path

__all__ = [
    "plot_fixations",
    "overlay",
    "show_gaze_stage",
    "plot_mask_quality",
    "plot_gaze_statistics",
    "save_figure",
    "save_and_show",
    "show_panels",
    "shipped_results",
    "expectations",
    "options_table",
    "dig",
]

MASK_COLOURS = {"m_hc": (0.1, 0.9, 0.2), "m_bc": (1.0, 0.75, 0.0), "gt": (0.2, 0.5, 1.0)}


def save_figure(fig: matplotlib.figure.Figure, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` as PNG at ``path`` (folders made, written atomically)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return Path(path)


def save_and_show(fig: matplotlib.figure.Figure, path: str | Path, dpi: int = 110) -> None:
    """Save ``fig`` (:func:`save_figure`), show that PNG in the notebook, and close the figure.

    The figure is rendered once, for the file, and the notebook shows the very same picture
    (``plt.show()`` after saving would render it a second time). Outside IPython nothing is
    shown. Returns None, so that a notebook cell ending with it prints nothing more.
    """
    path = save_figure(fig, path, dpi=dpi)
    plt.close(fig)
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover - IPython ships with the notebook extras
        return
    if get_ipython() is not None:
        display(Image(filename=str(path)))


def plot_fixations(ax, image: np.ndarray, points: np.ndarray, numbers: int = 40) -> None:
    """Image with fixations: circles sized by duration, the scanpath in order, first ``numbers`` numbered.

    Args:
        image: H x W x 3 uint8 (or H x W, shown in grey).
        points: N x 3 (x, y normalised; duration ms), in fixation order.
    """
    h, w = image.shape[:2]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    x, y = points[:, 0] * w, points[:, 1] * h
    sizes = 20 + 180 * points[:, 2] / max(points[:, 2].max(), 1)
    ax.plot(x, y, "-", color="white", lw=0.8, alpha=0.7)
    ax.scatter(x, y, s=sizes, c=np.arange(len(x)), cmap="autumn", edgecolors="black", linewidths=0.5, alpha=0.85)
    for k in range(min(numbers, len(x))):
        ax.annotate(str(k + 1), (x[k], y[k]), color="white", fontsize=6, ha="center", va="center")
    ax.set_axis_off()


def overlay(ax, image: np.ndarray, layer: np.ndarray, kind: str = "heat", colour=(1.0, 0.2, 0.2), alpha: float = 0.45, contour: np.ndarray | None = None) -> None:
    """Image with a soft map (``kind="heat"``) or a binary mask (``kind="mask"``) on top.

    ``contour``: an optional bool mask (e.g. ground truth) drawn as a blue outline.
    """
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    if kind == "heat":
        ax.imshow(layer, cmap="jet", alpha=alpha, vmin=0, vmax=1)
    else:
        rgba = np.zeros((*layer.shape, 4))
        rgba[..., :3] = colour
        rgba[..., 3] = alpha * (np.asarray(layer) > 0)
        ax.imshow(rgba)
    if contour is not None and np.asarray(contour).any():
        ax.contour(np.asarray(contour, float), levels=[0.5], colors=[MASK_COLOURS["gt"]], linewidths=1.2)
    ax.set_axis_off()


def show_gaze_stage(
    image: np.ndarray,
    points: np.ndarray,
    maps: Mapping[str, np.ndarray],
    gt: np.ndarray | None = None,
    title: str | None = None,
    scores: Mapping[str, float] | None = None,
) -> matplotlib.figure.Figure:
    """One image through the gaze stage: fixations, heatmap, refined map, M_hc, M_bc (and truth).

    Args:
        image: uint8 H x W x 3 (or H x W).
        points: N x 3 fixations.
        maps: ``heatmap``, ``refined`` (float H x W) and ``m_hc``, ``m_bc`` (H x W {0, 1}).
        gt: bool H x W ground truth, outlined in blue on every panel when given.
        scores: e.g. ``{"m_hc": 0.81, "m_bc": 0.77}`` Dice values added to the titles.
    """
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
            overlay(ax, image, maps[name], "mask", colour=MASK_COLOURS[name], contour=gt)
            label = "M_hc (high-confidence)" if name == "m_hc" else "M_bc (broad-coverage)"
            if scores and name in scores:
                label += f"\nDice {scores[name]:.2f}"
            ax.set_title(label, fontsize=9)
        else:
            overlay(ax, image, gt, "mask", colour=MASK_COLOURS["gt"])
            ax.set_title("ground truth", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9) if title else None)
    return fig


def plot_mask_quality(means: Mapping[str, float], stds: Mapping[str, float] | None = None, title: str = "") -> matplotlib.figure.Figure:
    """Bars of Dice / precision / recall for M_hc and M_bc, from the heatmap and the refined map.

    ``means`` / ``stds``: the ``quality.json`` dictionaries (keys like ``refined_hc_dice``).
    """
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


def plot_gaze_statistics(
    recorded: Mapping[str, np.ndarray] | Mapping[str, float],
    simulated: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray],
    recorded_label: str = "recorded (Kvasir-SEG)",
) -> matplotlib.figure.Figure:
    """Histograms of fixations per image, durations and fraction inside the lesion.

    ``recorded`` is either per-image fixation arrays (id -> N x 3; histograms are compared) or
    the summary numbers of :data:`fgi_core.gaze.KVASIR_GAZE_STATS` (drawn as reference lines).
    """
    from .gaze.stats import fraction_inside

    def per_image(points_by_id: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = list(points_by_id)
        return {
            "fixations per image": np.array([len(points_by_id[i]) for i in ids]),
            "duration (ms)": np.concatenate([points_by_id[i][:, 2] for i in ids]),
            "fraction inside lesion": np.array([fraction_inside(points_by_id[i], masks[i]) for i in ids if i in masks]),
        }

    sim = per_image(simulated)
    arrays = next(iter(recorded.values())) is not None and isinstance(next(iter(recorded.values())), np.ndarray)
    rec = per_image(recorded) if arrays else None
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
        ax.axvline(np.median(sim[name]), color="tab:orange", ls="--", lw=1.5)
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def image_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, cols: int = 6) -> matplotlib.figure.Figure:
    """A grid of images (for quick looks at a dataset)."""
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


# ----------------------------------------------------------------------------------------------
# Stage 2: explanations
# ----------------------------------------------------------------------------------------------
def show_explanations(images: Sequence[np.ndarray], heatmaps: Sequence[np.ndarray | None], explanations: Sequence, cols: int = 3) -> matplotlib.figure.Figure:
    """Images with their gaze heatmap and, below each, the explanation's fields (or its status)."""
    import textwrap

    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 5.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, image, heat, e in zip(axes.flat, images, heatmaps, explanations):
        if heat is not None:
            overlay(ax, image, heat, "heat", alpha=0.35)
        else:
            ax.imshow(image)
        if e.fields:
            body = "\n".join(textwrap.fill(f"{k}: {v}", 52) for k, v in e.fields.items())
        else:
            body = textwrap.fill(f"[{e.status}] {e.reason}", 52)
        ax.set_title(f"{e.id}  ({e.status})", fontsize=8)
        ax.text(0.0, -0.03, body, transform=ax.transAxes, fontsize=7, va="top", family="monospace")
    fig.tight_layout()
    return fig


def plot_field_distribution(explanations: Sequence, vocabulary: dict[str, Sequence[str]]) -> matplotlib.figure.Figure:
    """Counts of each vocabulary value per categorical field (invalid records counted apart)."""
    fields = [f for f in vocabulary if vocabulary[f]]
    fig, axes = plt.subplots(1, len(fields), figsize=(3.3 * len(fields), 3.2))
    for ax, field in zip(np.atleast_1d(axes), fields):
        values = list(vocabulary[field])
        counts = [sum(1 for e in explanations if e.fields and e.fields.get(field) == v) for v in values]
        invalid = sum(1 for e in explanations if not e.fields)
        labels = values + (["(invalid)"] if invalid else [])
        ax.barh(np.arange(len(labels)), counts + ([invalid] if invalid else []), color="tab:blue")
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(field, fontsize=9)
    fig.tight_layout()
    return fig


def plot_confusion(true: Sequence[str], predicted: Sequence[str], labels: Sequence[str], title: str = "") -> matplotlib.figure.Figure:
    """Confusion matrix (rows: truth, columns: description), counts written in the cells."""
    index = {label: k for k, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), int)
    for t, p in zip(true, predicted):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    fig, ax = plt.subplots(figsize=(0.55 * len(labels) + 2.2, 0.55 * len(labels) + 1.6))
    ax.imshow(matrix, cmap="Blues")
    for (r, c), v in np.ndenumerate(matrix):
        if v:
            ax.text(c, r, str(v), ha="center", va="center", fontsize=7, color="white" if v > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("described")
    ax.set_ylabel("ground truth")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{title}\naccuracy {accuracy:.2f} ({matrix.sum()} images)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_similarity(vectors: np.ndarray, labels: Sequence[str], title: str = "") -> matplotlib.figure.Figure:
    """Cosine similarity of pooled text embeddings, images sorted by ``labels`` (blocks = groups)."""
    order = np.argsort(np.asarray(labels, dtype=str), kind="stable")
    v = vectors[order] / np.linalg.norm(vectors[order], axis=1, keepdims=True).clip(1e-12)
    sim = v @ v.T
    fig, ax = plt.subplots(figsize=(5, 4.4))
    im = ax.imshow(sim, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046)
    sorted_labels = np.asarray(labels, dtype=str)[order]
    starts = [0] + [k for k in range(1, len(sorted_labels)) if sorted_labels[k] != sorted_labels[k - 1]]
    for s in starts[1:]:
        ax.axhline(s - 0.5, color="white", lw=0.6)
        ax.axvline(s - 0.5, color="white", lw=0.6)
    ax.set_yticks(starts, [sorted_labels[s] for s in starts], fontsize=6)
    ax.set_xticks([])
    ax.set_title(title or "cosine similarity of text embeddings", fontsize=9)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# Training: worked examples and predictions
# ----------------------------------------------------------------------------------------------
def show_panels(rows: Sequence[Sequence[tuple]], size: float = 2.4, colorbar: str | None = None) -> matplotlib.figure.Figure:
    """A grid of panels; each panel is ``(image, layer, kind, title)``.

    ``kind``: ``"heat"`` (soft map in [0, 1]; over the image, or in full colour when ``image``
    is None), ``"mask"`` (binary, red), ``"labels"`` (a label map with 1 = foreground green,
    0 = background red, -1 = ignored, left uncoloured) or None (the image alone). ``image`` may
    be H x W x 3 uint8, H x W grey, or None (``layer`` alone).
    ``colorbar``: a label; when given, one colour bar (0..1, the heat panels' scale) is drawn on
    the right of the grid.
    """
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols + (0.6 if colorbar else 0), size * n_rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, row in enumerate(rows):
        for c, (image, layer, kind, title) in enumerate(row):
            ax = axes[r, c]
            base = image if image is not None else np.zeros((*np.asarray(layer).shape[:2], 3), np.uint8)
            if kind == "heat" and image is None:
                ax.imshow(layer, cmap="jet", vmin=0, vmax=1)  # a map alone: full colour, as on the colour bar
            elif kind == "heat":
                overlay(ax, base, layer, "heat")
            elif kind == "mask":
                overlay(ax, base, layer, "mask", colour=(1.0, 0.15, 0.15))
            elif kind == "labels":
                ax.imshow(base, cmap="gray" if base.ndim == 2 else None)
                rgba = np.zeros((*layer.shape, 4))
                rgba[layer == 1] = (0.1, 0.9, 0.2, 0.5)
                rgba[layer == 0] = (0.9, 0.1, 0.1, 0.35)
                ax.imshow(rgba)
            else:
                ax.imshow(base, cmap="gray" if base.ndim == 2 else None)
            ax.set_title(title, fontsize=8)
    fig.tight_layout()
    if colorbar:
        mappable = plt.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap="jet")
        bar = fig.colorbar(mappable, ax=list(axes.flat), fraction=0.02, pad=0.01)
        bar.set_label(colorbar, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return fig


def denormalise(image: np.ndarray) -> np.ndarray:
    """A normalised C x H x W training image back to uint8 H x W x 3 for display (min-max)."""
    x = np.asarray(image, np.float32)
    x = x.transpose(1, 2, 0) if x.ndim == 3 else x
    x = (x - x.min()) / max(float(x.max() - x.min()), 1e-6)
    x = (x * 255).astype(np.uint8)
    return np.repeat(x, 3, axis=2) if x.ndim == 3 and x.shape[2] == 1 else x


# ----------------------------------------------------------------------------------------------
# Notebook helpers: shipped real-data results beside this run's numbers; options as a table
# ----------------------------------------------------------------------------------------------
def shipped_results(name: str, root: str | Path | None = None) -> dict | None:
    """``benchmarks/results/<name>.json`` of the checkout (real-data results), or None.

    Args:
        name: the file's stem, e.g. ``"kvasir_cpu"``, ``"gaze"``.
        root: the checkout (default: found from the working directory, then from this file).
    """
    import json

    from .config import project_root

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
    """``data[k1][k2]...``, or ``default`` when any level is missing (None-safe)."""
    for key in keys:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, (list, tuple)) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return default
    return data


def expectations(rows: Sequence[tuple], run_label: str = "this run", real_label: str = "real Kvasir-SEG",
                 digits: int = 3):
    """A "You should see" table: each quantity with this run's value beside the shipped real one.

    Args:
        rows: ``(quantity, this run's value, the real-data value, where the real value comes from)``;
            a value may be None (shown as a dash).

    Returns:
        a pandas DataFrame indexed by quantity; numbers as text with ``digits`` decimals (one
        significant digit in exponent form when smaller than that, none from 1000 up).
    """
    import pandas as pd

    def cell(v):
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
            return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.{digits}f}"
        return v

    frame = pd.DataFrame([{"quantity": q, run_label: cell(a), real_label: cell(b), "real value from": src or "-"}
                          for q, a, b, src in rows]).set_index("quantity")
    return frame


def options_table(options, defaults=None):
    """A dataclass of options (e.g. :class:`fgi_core.train.FGIOptions`) as a one-column table.

    Args:
        options: the dataclass instance.
        defaults: another instance (default: the class built with no arguments, when it can be);
            options that differ from it are marked in a second column.

    Returns:
        a pandas DataFrame indexed by option.
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
