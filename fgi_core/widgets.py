"""Interactive inspection of a run: pure render functions, and a thin ipywidgets layer on top.

**Render functions** (no display, no widgets; each returns an array or a matplotlib Figure and
never calls ``plt.show``; tested on hand-made inputs):

* :func:`compose` -- the image with soft maps, filled masks and outlines blended in, as uint8;
* :func:`render_view` -- one image of an :class:`~fgi_core.interpret.Inspection` as the
  inspector shows it: the chosen layers (image, fixations with order and duration, heatmap,
  refined map, M_hc, M_bc, the teacher's or student's prediction at a threshold, ground truth),
  the teacher's attention map of a chosen text token or field at a chosen stage, and the
  description's fields beside what was measured;
* :func:`render_links`, :func:`render_teacher_student`, :func:`render_summary`,
  :func:`render_attention_summary`, :func:`render_attention_grid` -- the notebook's figures.

**Widgets**: :class:`Inspector` holds one ``ipywidgets.Image`` and re-renders it in place when
a control moves (image slider, layer toggles, teacher / student, threshold slider, stage,
token-or-field menu). :func:`inspect` builds one and shows it, and also leaves a static PNG of
its first view in the output, so a saved or papermill-run notebook (where no kernel feeds the
widget) still shows the figure.

Example (in a notebook):
    >>> from fgi_core import interpret, widgets                        # doctest: +SKIP
    >>> insp = interpret.load_inspection(ds, run_dir, profile, ids)     # doctest: +SKIP
    >>> widgets.inspect(insp, source="student", threshold=0.5)          # doctest: +SKIP
"""
from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import matplotlib
import matplotlib.figure
import numpy as np
import pandas as pd

__all__ = [
    "LAYERS",
    "LAYER_COLOURS",
    "View",
    "compose",
    "outline",
    "stretch",
    "fixation_offsets",
    "focus_options",
    "attention_for",
    "view_scores",
    "render_view",
    "render_links",
    "render_teacher_student",
    "render_summary",
    "render_attention_summary",
    "render_attention_grid",
    "figure_png",
    "Inspector",
    "inspect",
]

#: Layers the inspector can show, in drawing order.
LAYERS = ("image", "heatmap", "refined", "m_bc", "m_hc", "prediction", "gt", "fixations")

#: RGB colours (0..1) of the mask layers.
LAYER_COLOURS = {
    "m_hc": (0.1, 0.9, 0.2),
    "m_bc": (1.0, 0.75, 0.0),
    "prediction": (1.0, 0.15, 0.15),
    "gt": (0.2, 0.5, 1.0),
}

_GREY = 128  # background when the image layer is off


@dataclass(frozen=True)
class View:
    """What the inspector shows.

    Attributes:
        index: position of the image in the inspection.
        layers: which of :data:`LAYERS` are on.
        source: whose prediction: ``teacher`` or ``student``.
        threshold: the predicted region is ``p >= threshold``.
        stage: encoder stage 1..4 of the attention map.
        focus: a field name (``"Location"``...) or a token index (int) for the attention map.
        description: show the description's fields and the measurements.
    """

    index: int = 0
    layers: tuple[str, ...] = ("image", "fixations", "heatmap", "prediction", "gt")
    source: str = "student"
    threshold: float = 0.5
    stage: int = 1
    focus: str | int = "Location"
    description: bool = True

    def __post_init__(self) -> None:
        from .config import look_up_option

        for layer in self.layers:
            look_up_option(layer, LAYERS, "layer")
        look_up_option(self.source, ("teacher", "student"), "source")
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if int(self.stage) not in (1, 2, 3, 4):
            raise ValueError(f"stage must be 1, 2, 3 or 4, got {self.stage}")


# ==============================================================================================
# Pixels
# ==============================================================================================
def outline(mask: np.ndarray) -> np.ndarray:
    """The boundary pixels of a mask: in the mask, with a 4-neighbour outside it (or the border).

    Example:
        >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
        >>> outline(m).astype(int)[2]
        array([0, 1, 0, 1, 0])
    """
    m = np.asarray(mask, bool)
    padded = np.pad(m, 1, constant_values=False)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return m & ~inner


def _rgb_float(image: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if image is None:
        return np.full((*shape, 3), float(_GREY))
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.shape[:2] != tuple(shape) or a.shape[2] != 3:
        raise ValueError(f"image must be {shape[0]} x {shape[1]} (x 3); got shape {np.asarray(image).shape}")
    return a.astype(np.float64)


def compose(
    image: np.ndarray | None,
    heat: Sequence[tuple[np.ndarray, float]] = (),
    fills: Sequence[tuple[np.ndarray, tuple[float, float, float], float]] = (),
    outlines: Sequence[tuple[np.ndarray, tuple[float, float, float]]] = (),
    shape: tuple[int, int] | None = None,
    cmap: str = "jet",
) -> np.ndarray:
    """Blend layers onto an image; uint8 H x W x 3.

    In order: each soft map ``(m, alpha)`` of ``heat`` (values in [0, 1], coloured with ``cmap``)
    is blended with per-pixel opacity ``alpha * m`` (so where m = 0 the image is untouched);
    each ``(mask, rgb, alpha)`` of ``fills`` is blended with opacity ``alpha`` inside the mask;
    each ``(mask, rgb)`` of ``outlines`` paints the mask's :func:`outline` pixels in ``rgb``.
    Colours are RGB in [0, 1]. Values are rounded to the nearest integer.

    Args:
        image: uint8 H x W x 3 (or H x W grey); None = mid grey (128) of ``shape``.
        shape: H x W when ``image`` is None (else taken from the image).

    Raises:
        ValueError: a layer of another size (both sizes named), neither image nor shape.

    Example:
        >>> img = np.full((2, 2, 3), 100, np.uint8)
        >>> m = np.array([[1, 0], [0, 0]], bool)
        >>> compose(img, fills=[(m, (1.0, 0.0, 0.0), 0.5)])[0, 0].tolist()  # 0.5*100 + 0.5*255
        [178, 50, 50]
    """
    import matplotlib.pyplot as plt

    if image is None and shape is None:
        raise ValueError("compose needs an image or a shape")
    hw = tuple(np.asarray(image).shape[:2]) if image is not None else tuple(shape)
    out = _rgb_float(image, hw)

    def check(a, what):
        a = np.asarray(a)
        if a.shape != hw:
            raise ValueError(f"{what} has shape {a.shape}; the image is {hw}")
        return a

    colormap = plt.get_cmap(cmap)
    for m, alpha in heat:
        m = np.clip(check(m, "heat map").astype(np.float64), 0.0, 1.0)
        colour = colormap(m)[..., :3] * 255.0
        a = (float(alpha) * m)[..., None]
        out = (1.0 - a) * out + a * colour
    for mask, rgb, alpha in fills:
        m = check(mask, "fill mask").astype(bool)
        out[m] = (1.0 - float(alpha)) * out[m] + float(alpha) * np.asarray(rgb, np.float64) * 255.0
    for mask, rgb in outlines:
        m = outline(check(mask, "outline mask"))
        out[m] = np.asarray(rgb, np.float64) * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def stretch(m: np.ndarray) -> np.ndarray:
    """Min-max scale a map to [0, 1] for display (a constant map becomes 0).

    Example:
        >>> stretch(np.array([2.0, 3.0, 4.0])).tolist()
        [0.0, 0.5, 1.0]
    """
    m = np.asarray(m, np.float64)
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def fixation_offsets(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Fixations (N x 3, normalised x, y) in ``imshow`` data coordinates: ``x*W - 0.5, y*H - 0.5``
    (pixel k spans [k - 0.5, k + 0.5])."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    return np.stack([p[:, 0] * width - 0.5, p[:, 1] * height - 0.5], axis=1)


def _fixation_sizes(points: np.ndarray) -> np.ndarray:
    d = np.asarray(points, np.float64).reshape(-1, 3)[:, 2]
    return 15.0 + 165.0 * d / max(float(d.max()), 1.0) if len(d) else d


# ==============================================================================================
# The inspector's view of one image
# ==============================================================================================
def focus_options(record) -> list[tuple[str, str | int]]:
    """Menu entries for the attention map: each field with a token span, then each token.

    Returns:
        ``(label, value)`` pairs; value = the field name, or the token index (int).
    """
    spans = dict(record.token_spans)
    options: list[tuple[str, str | int]] = [(f"field: {f} (tokens {s}-{e - 1})" if e > s else f"field: {f} (no tokens)", f)
                                            for f, (s, e) in spans.items()]
    n = len(record.tokens)
    for t in range(n):
        owner = next((f for f, (s, e) in spans.items() if s <= t < e), None)
        options.append((f"token {t}: {record.tokens[t]}" + (f" ({owner})" if owner else ""), t))
    return options


def attention_for(record, attention: Sequence[np.ndarray] | None, stage: int, focus: str | int) -> tuple[np.ndarray, str] | None:
    """The attention map ``S x S`` (bilinear from the stage's grid) of a field or token, and a label.

    Returns None when there is no attention (teacher without fusion, or not computed).

    Raises:
        KeyError: a field without a token span; IndexError: a token out of range.
    """
    from .interpret import _resize, field_map, token_map

    if attention is None:
        return None
    a = attention[int(stage) - 1]
    if isinstance(focus, (int, np.integer)):
        m = token_map(a, int(focus))
        tok = record.tokens[int(focus)] if int(focus) < len(record.tokens) else f"#{focus}"
        label = f"token {int(focus)} '{tok}'"
    else:
        if focus not in record.token_spans:
            raise KeyError(f"field {focus!r} has no token span in image {record.id!r} (fields: {list(record.token_spans)})")
        s, e = record.token_spans[focus]
        m = field_map(a, (s, e))
        label = f"field '{focus}' ({e - s} tokens)"
    share = float(m.mean())
    return _resize(m, np.shape(record.image)[:2]), f"{label}, stage {int(stage)} ({a.shape[1]}x{a.shape[2]}); share {share:.1%}"


def view_scores(record, view: View) -> dict[str, Any]:
    """The measurements of one image for the view's source and threshold (shown beside the fields)."""
    from .interpret import description_consistency, gaze_agreement

    p = record.prob.get(view.source)
    if p is None:
        return {}
    out = gaze_agreement(record.heatmap, p, record.points, record.gt, view.threshold)
    out.update(description_consistency(record.fields, p, record.image, view.threshold))
    return out


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def render_view(record, view: View = View(), attention: Sequence[np.ndarray] | None = None,
                scores: Mapping[str, Any] | None = None, size: float = 3.8) -> matplotlib.figure.Figure:
    """One image as the inspector shows it: three panels.

    1. **layers** -- :func:`compose` of the layers on in ``view.layers`` (heatmap and refined map
       as jet heat, M_bc amber and M_hc green fills, the prediction ``p >= threshold`` as a red
       fill with outline, ground truth as a blue outline) and the fixations: one circle per
       fixation, area proportional to its duration, coloured and numbered in fixation order,
       joined by the scanpath;
    2. **attention** -- the teacher's attention map of ``view.focus`` (a field or a token) at
       ``view.stage``, over the image, stretched from its minimum to its maximum (the title
       gives both and the field's share); a note when there is none;
    3. **description** -- the fields (the focused one marked) and, from ``scores``, the
       measured counterparts and agreement numbers (left out with ``view.description=False``).

    Args:
        record: an :class:`~fgi_core.interpret.ImageRecord`.
        view: what to show.
        attention: the teacher's four ``L x h x w`` maps of this image (or None).
        scores: e.g. :func:`view_scores` (or None).

    Returns:
        the Figure (axes: ``fig.axes[0]`` layers, ``[1]`` attention, ``[2]`` description).
    """
    import matplotlib.pyplot as plt

    layers = set(view.layers)
    h, w = np.shape(record.image)[:2]
    heat = [(getattr(record, n), 0.5) for n in ("heatmap", "refined") if n in layers]
    fills, outlines = [], []
    for n in ("m_bc", "m_hc"):
        if n in layers:
            fills.append((np.asarray(getattr(record, n)) > 0, LAYER_COLOURS[n], 0.35))
    prob = record.prob.get(view.source)
    if "prediction" in layers and prob is not None:
        region = np.asarray(prob) >= view.threshold
        fills.append((region, LAYER_COLOURS["prediction"], 0.25))
        outlines.append((region, LAYER_COLOURS["prediction"]))
    if "gt" in layers and record.gt is not None:
        outlines.append((record.gt, LAYER_COLOURS["gt"]))
    base = record.image if "image" in layers else None
    composed = compose(base, heat, fills, outlines, shape=(h, w))

    fig = plt.figure(figsize=(size * 3.2, size + 0.4))
    ax0 = fig.add_axes((0.005, 0.03, 0.29, 0.78))
    ax1 = fig.add_axes((0.305, 0.03, 0.29, 0.78))
    ax2 = fig.add_axes((0.615, 0.03, 0.38, 0.78))
    for ax in (ax0, ax1, ax2):
        ax.set_axis_off()
    ax0.imshow(composed, interpolation="nearest")
    shown = [n for n in LAYERS if n in layers and n != "image"]
    ax0.set_title(textwrap.fill("layers: " + (", ".join(shown) or "image only"), 48), fontsize=9)
    if "fixations" in layers and len(record.points):
        xy = fixation_offsets(record.points, h, w)
        ax0.plot(xy[:, 0], xy[:, 1], "-", color="white", lw=0.8, alpha=0.8)
        ax0.scatter(xy[:, 0], xy[:, 1], s=_fixation_sizes(record.points), c=np.arange(len(xy)), cmap="autumn",
                    edgecolors="black", linewidths=0.5, alpha=0.85, zorder=3)
        for k in range(min(30, len(xy))):
            ax0.annotate(str(k + 1), tuple(xy[k]), color="black", fontsize=6, ha="center", va="center", zorder=4)
    ax0.set_xlim(-0.5, w - 0.5)
    ax0.set_ylim(h - 0.5, -0.5)

    att = attention_for(record, attention, view.stage, view.focus) if attention is not None else None
    if att is None:
        ax1.imshow(_rgb_float(record.image, (h, w)).astype(np.uint8))
        ax1.text(0.5, 0.5, "no attention\n(teacher without text fusion)", transform=ax1.transAxes, ha="center",
                 va="center", fontsize=9, color="white", bbox={"facecolor": "black", "alpha": 0.6})
        ax1.set_title("teacher attention", fontsize=9)
    else:
        m, label = att
        ax1.imshow(compose(record.image, [(stretch(m), 0.6)]), interpolation="nearest")
        ax1.set_title(textwrap.fill(f"teacher attention: {label}; shown from {float(m.min()):.3f} to {float(m.max()):.3f}", 56), fontsize=8)

    if view.description:
        lines: list[tuple[str, dict]] = [(f"{record.id}  [{record.status}]", {"weight": "bold"})]
        fields = record.fields or {}
        if not fields:
            lines.append(("(no usable description)", {"color": "grey"}))
        s = dict(scores or {})
        measured = {"Location": ("location", "location_match"), "Area Percentage": ("area", "area_match"),
                    "Boundary": ("boundary", "boundary_match")}
        for name, value in fields.items():
            style = {"weight": "bold", "color": "tab:red"} if name == view.focus else {}
            for k, line in enumerate(textwrap.wrap(f"{name}: {value}", 48) or [""]):
                lines.append((("   " if k else "") + line, style))
            if name in measured and measured[name][0] in s:
                key, ok = measured[name]
                verdict = "match" if s.get(ok) is True else "differs" if s.get(ok) is False else "n/a"
                lines.append((f"   predicted: {_fmt(s.get(key))} ({verdict})", {"color": "dimgrey", **style}))
        if s:
            lines.append(("", {}))
            lines.append((f"{view.source}, p >= {view.threshold:.2f}:", {"weight": "bold"}))
            lines.append((f"CC(heatmap, p) {_fmt(s.get('cc'))}   NSS {_fmt(s.get('nss'))}", {}))
            lines.append((f"AUC of heatmap: prediction {_fmt(s.get('auc_pred'))}, truth {_fmt(s.get('auc_gt'))}", {}))
            lines.append((f"area {_fmt(s.get('area_fraction'))}   boundary sharpness {_fmt(s.get('edge_strength'))}", {}))
        y, step = 1.0, min(0.065, 1.0 / max(len(lines), 1))
        font = 8.5 if step >= 0.055 else 7.5  # the text fits the panel's height either way
        for text, style in lines:
            ax2.text(0.0, y, text, transform=ax2.transAxes, fontsize=font, va="top", family="monospace", **style)
            y -= step
    fig.suptitle(f"{record.id}: {view.source} prediction at p >= {view.threshold:.2f}; attention stage {view.stage}", fontsize=10)
    return fig


def figure_png(fig: matplotlib.figure.Figure, dpi: int = 90, close: bool = True) -> bytes:
    """The figure as PNG bytes (closed afterwards unless ``close=False``)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if close:
        plt.close(fig)
    return buf.getvalue()


# ==============================================================================================
# Figures for the notebook
# ==============================================================================================
def render_links(records: Sequence, frame: pd.DataFrame, metric: str, source: str = "student",
                 threshold: float = 0.5, title: str = "", size: float = 2.3) -> matplotlib.figure.Figure:
    """One row per record: fixations on the image, the heatmap, the prediction (red) with truth
    (blue outline), and the row's numbers from ``frame`` (indexed by id).

    Raises:
        KeyError: ``metric`` is not a column of ``frame``.
    """
    import matplotlib.pyplot as plt

    if metric not in frame.columns:
        raise KeyError(f"{metric!r} is not a column of the table")
    n = max(1, len(records))
    fig, axes = plt.subplots(n, 4, figsize=(size * 4, size * n + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, rec in enumerate(records):
        h, w = np.shape(rec.image)[:2]
        row = frame.loc[rec.id]
        axes[r, 0].imshow(rec.image)
        xy = fixation_offsets(rec.points, h, w)
        axes[r, 0].plot(xy[:, 0], xy[:, 1], "-", color="white", lw=0.6)
        axes[r, 0].scatter(xy[:, 0], xy[:, 1], s=_fixation_sizes(rec.points) / 3, c=np.arange(len(xy)), cmap="autumn", edgecolors="k", linewidths=0.3)
        axes[r, 0].set_title(f"{rec.id}\n{len(rec.points)} fixations", fontsize=7)
        axes[r, 1].imshow(compose(rec.image, [(rec.heatmap, 0.6)]))
        axes[r, 1].set_title("gaze heatmap", fontsize=7)
        region = rec.prob[source] >= threshold
        outl = [(region, LAYER_COLOURS["prediction"])] + ([(rec.gt, LAYER_COLOURS["gt"])] if rec.gt is not None else [])
        axes[r, 2].imshow(compose(rec.image, [(rec.prob[source], 0.5)], outlines=outl))
        axes[r, 2].set_title(f"{source} p (red: p >= {threshold:.2f}; blue: truth)", fontsize=7)
        keys = [metric] + [k for k in (f"{source}_nss", f"{source}_auc_pred", f"{source}_location_match", f"{source}_area_match",
                                       f"{source}_boundary_match", f"{source}_dice_gt") if k in frame.columns and k != metric]
        text = "\n".join(f"{k.removeprefix(source + '_')}: {_fmt(row[k])}" for k in keys)
        fields = rec.fields or {}
        text += "\n\n" + "\n".join(f"{k}: {fields[k]}" for k in ("Location", "Area Percentage", "Boundary") if k in fields)
        axes[r, 3].text(0.0, 1.0, text, transform=axes[r, 3].transAxes, va="top", fontsize=7, family="monospace")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def render_teacher_student(records: Sequence, threshold: float = 0.5, scores: Mapping[str, float] | None = None,
                           size: float = 2.3) -> matplotlib.figure.Figure:
    """Where teacher and student differ: per record the teacher's and the student's regions, and
    a difference panel (red: teacher only, blue: student only, white: both; truth outlined green).

    ``scores``: id -> Dice between the two regions, added to the titles.
    """
    import matplotlib.pyplot as plt

    n = max(1, len(records))
    fig, axes = plt.subplots(n, 3, figsize=(size * 3, size * n + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, rec in enumerate(records):
        t, s = rec.prob["teacher"] >= threshold, rec.prob["student"] >= threshold
        gt = [(rec.gt, (0.1, 0.9, 0.2))] if rec.gt is not None else []
        axes[r, 0].imshow(compose(rec.image, fills=[(t, LAYER_COLOURS["prediction"], 0.4)], outlines=gt))
        axes[r, 0].set_title(f"{rec.id}: teacher", fontsize=7)
        axes[r, 1].imshow(compose(rec.image, fills=[(s, LAYER_COLOURS["prediction"], 0.4)], outlines=gt))
        axes[r, 1].set_title("student (image only)", fontsize=7)
        axes[r, 2].imshow(compose(rec.image, fills=[(t & ~s, (1.0, 0.1, 0.1), 0.7), (s & ~t, (0.1, 0.3, 1.0), 0.7),
                                                    (t & s, (1.0, 1.0, 1.0), 0.5)], outlines=gt))
        d = (scores or {}).get(rec.id)
        axes[r, 2].set_title("red: teacher only, blue: student only" + (f"\nDice(teacher, student) {d:.2f}" if d is not None else ""), fontsize=7)
    fig.tight_layout()
    return fig


def render_summary(tables: Mapping[str, pd.DataFrame], metrics: Sequence[str], labels: Mapping[str, str] | None = None,
                   title: str = "", reference: Mapping[str, float] | None = None) -> matplotlib.figure.Figure:
    """A forest plot: per metric, one marker per table (e.g. teacher, student) with its CI.

    Args:
        tables: name -> :func:`~fgi_core.interpret.summarise` output (indexed by metric).
        metrics: rows to plot (each table must have them).
        labels: metric -> text on the axis.
        reference: metric -> chance level, drawn as a grey tick (e.g. AUC 0.5, NSS 0).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(metrics) * max(1, len(tables)) + 1.0))
    k = len(tables)
    for j, (name, table) in enumerate(tables.items()):
        ys = np.arange(len(metrics)) + (j - (k - 1) / 2) * 0.25
        m = np.array([table.loc[x, "mean"] for x in metrics], float)
        lo = np.array([table.loc[x, "ci_low"] for x in metrics], float)
        hi = np.array([table.loc[x, "ci_high"] for x in metrics], float)
        ax.errorbar(m, ys, xerr=[m - lo, hi - m], fmt="o", capsize=3, label=name)
        for x, y in zip(m, ys):
            ax.annotate(f"{x:.2f}", (x, y), textcoords="offset points", xytext=(0, 5), fontsize=6, ha="center")
    for i, x in enumerate(metrics):
        if reference and x in reference:
            ax.plot([reference[x]] * 2, [i - 0.4, i + 0.4], color="grey", lw=1)
    ax.set_yticks(np.arange(len(metrics)), [(labels or {}).get(x, x) for x in metrics], fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "mean over images, 95% bootstrap CI (grey: chance)", fontsize=9)
    fig.tight_layout()
    return fig


def render_attention_summary(summary: pd.DataFrame, metrics: Sequence[str] = ("share", "cc_prob")) -> matplotlib.figure.Figure:
    """Stage x field matrices of :func:`~fgi_core.interpret.attention_summary` (values written in)."""
    import matplotlib.pyplot as plt

    stages = sorted({s for s, _ in summary.index})
    fields = list(dict.fromkeys(f for _, f in summary.index))
    titles = {"share": "share of attention (mean)", "cc_prob": "CC(field map, teacher p)", "cc_heatmap": "CC(field map, gaze heatmap)"}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 0.45 * len(fields) + 1.6), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        mat = np.array([[summary.loc[(s, f), m] if (s, f) in summary.index else np.nan for s in stages] for f in fields], float)
        if m == "share":
            im = ax.imshow(mat, cmap="viridis", vmin=0)
        else:
            im = ax.imshow(mat, cmap="RdBu_r", vmin=-1, vmax=1)
        for (i, j), v in np.ndenumerate(mat):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if m == "share" else "black")
        ax.set_xticks(range(len(stages)), [f"stage {s}" for s in stages], fontsize=7)
        ax.set_yticks(range(len(fields)), fields, fontsize=7)
        ax.set_title(titles.get(m, m), fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def render_attention_grid(record, attention: Sequence[np.ndarray], fields: Sequence[str] | None = None,
                          size: float = 1.4) -> matplotlib.figure.Figure:
    """One image's field attention maps: rows = fields, columns = stages 1..4 (each :func:`stretch`-ed)."""
    import matplotlib.pyplot as plt

    fields = [f for f in (fields or list(record.token_spans)) if f in record.token_spans]
    fig, axes = plt.subplots(max(1, len(fields)), len(attention), figsize=(size * len(attention) + 1.2, size * max(1, len(fields)) + 0.4), squeeze=False)
    for i, f in enumerate(fields):
        for s in range(len(attention)):
            ax = axes[i, s]
            ax.set_axis_off()
            m, _ = attention_for(record, attention, s + 1, f)
            ax.imshow(compose(record.image, [(stretch(m), 0.6)]))
            if i == 0:
                ax.set_title(f"stage {s + 1}", fontsize=8)
            if s == 0:
                ax.text(-0.05, 0.5, f, transform=ax.transAxes, rotation=90, ha="right", va="center", fontsize=7)
    fig.suptitle(f"{record.id}: teacher attention per field (each map stretched from its min to its max)", fontsize=8)
    fig.tight_layout()
    return fig


# ==============================================================================================
# The ipywidgets layer
# ==============================================================================================
class Inspector:
    """Browse an :class:`~fgi_core.interpret.Inspection`; one figure, re-rendered in place.

    Controls (``self.controls``): ``image`` (slider over the images), one toggle per layer,
    ``source`` (teacher / student), ``threshold`` (slider), ``stage`` (1..4), ``focus`` (a field or
    a token; the menu follows the image), ``description``. ``self.figure`` is the
    ``ipywidgets.Image`` whose PNG ``value`` is replaced on every change; ``self.renders``
    counts the renders. ``self.widget`` is the whole box to display.

    Args:
        inspection: what to browse.
        view: the first view (default :class:`View`); keywords override its fields.
        dpi: resolution of the rendered PNG.
    """

    def __init__(self, inspection, view: View | None = None, dpi: int = 90, **overrides: Any):
        import ipywidgets as W

        self.inspection = inspection
        self.dpi = int(dpi)
        view = replace(view or View(), **overrides) if overrides else (view or View())
        if not 0 <= view.index < len(inspection):
            raise IndexError(f"index {view.index} is outside 0..{len(inspection) - 1}")
        self.renders = 0
        sources = inspection.sources or ["student"]
        c: dict[str, Any] = {}
        c["image"] = W.IntSlider(value=view.index, min=0, max=max(0, len(inspection) - 1), description="image",
                                 continuous_update=False, layout=W.Layout(width="420px"))
        c["id"] = W.Label(value=inspection.ids[view.index])
        c["id"].add_class("fgi-inspector-id")
        c["layers"] = {n: W.ToggleButton(value=n in view.layers, description=n, layout=W.Layout(width="92px")) for n in LAYERS}
        c["source"] = W.ToggleButtons(options=sources, value=view.source if view.source in sources else sources[-1], description="prediction")
        c["threshold"] = W.FloatSlider(value=view.threshold, min=0.05, max=0.95, step=0.05, description="threshold",
                                       continuous_update=False, readout_format=".2f")
        c["stage"] = W.IntSlider(value=view.stage, min=1, max=4, description="stage", continuous_update=False)
        c["focus"] = W.Dropdown(description="text", layout=W.Layout(width="420px"))
        c["description"] = W.Checkbox(value=view.description, description="description and numbers")
        self.controls = c
        self._set_focus_options(view.focus)
        self.figure = W.Image(format="png")
        self.figure.add_class("fgi-inspector-figure")
        self.widget = W.VBox([
            W.HBox([c["image"], c["id"]]),
            W.HBox(list(c["layers"].values())),
            W.HBox([c["source"], c["threshold"]]),
            W.HBox([c["stage"], c["focus"], c["description"]]),
            self.figure,
        ])
        self.widget.add_class("fgi-inspector")
        self._updating = False
        for w in [c["image"], c["source"], c["threshold"], c["stage"], c["focus"], c["description"], *c["layers"].values()]:
            w.observe(self._changed, names="value")
        self.update()

    # -- state ---------------------------------------------------------------------------------
    @property
    def view(self) -> View:
        c = self.controls
        focus = c["focus"].value if c["focus"].value is not None else "Location"
        return View(index=int(c["image"].value), layers=tuple(n for n in LAYERS if c["layers"][n].value),
                     source=c["source"].value, threshold=round(float(c["threshold"].value), 4), stage=int(c["stage"].value),
                     focus=focus, description=bool(c["description"].value))

    @property
    def record(self):
        return self.inspection[int(self.controls["image"].value)]

    def _set_focus_options(self, wanted: str | int | None) -> None:
        record = self.inspection[int(self.controls["image"].value)]
        options = focus_options(record) or [("(no text tokens)", "Location")]
        values = [v for _, v in options]
        dropdown = self.controls["focus"]
        self._updating = True
        try:
            dropdown.options = options
            dropdown.value = wanted if wanted in values else values[0]
        finally:
            self._updating = False

    def _changed(self, change) -> None:
        if self._updating:
            return
        if change["owner"] is self.controls["image"]:
            self.controls["id"].value = self.inspection.ids[int(change["new"])]
            self._set_focus_options(self.controls["focus"].value)
        self.update()

    # -- rendering -------------------------------------------------------------------------------
    def render(self) -> matplotlib.figure.Figure:
        """The current view as a new Figure (pure: :func:`render_view`)."""
        view, record = self.view, self.record
        attention = self.inspection.attention(record.id) if hasattr(self.inspection, "attention") else record.attention
        scores = view_scores(record, view) if view.description else None
        return render_view(record, view, attention, scores)

    def snapshot(self) -> bytes:
        """PNG bytes of the current view."""
        return figure_png(self.render(), dpi=self.dpi)

    def update(self) -> None:
        """Re-render the figure in place (``self.figure.value``)."""
        self.figure.value = self.snapshot()
        self.renders += 1

    def show(self, static: bool = True) -> "Inspector":
        """Display the widget and, with ``static``, a PNG of the current view below it (kept in
        saved or papermill-run notebooks, where the widget has no kernel behind it)."""
        from IPython.display import HTML, Image, display

        display(self.widget)
        if static:
            display(HTML("<small>Static snapshot of the inspector's first view (for saved notebooks; the live "
                         "inspector is the widget above).</small>"))
            display(Image(data=self.figure.value, format="png"))
        return self

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def inspect(inspection, view: View | None = None, static: bool = True, **overrides: Any) -> Inspector:
    """Build an :class:`Inspector`, show it (with a static snapshot, see :meth:`Inspector.show`), return it."""
    return Inspector(inspection, view, **overrides).show(static=static)
