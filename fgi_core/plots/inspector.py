"""The inspector's renderers and the interpretability figures (notebook 06): pure functions of
an :class:`~fgi_core.interpret.ImageRecord` (or several), no display, no widgets.

* :func:`plot_view` -- one image as the inspector (:mod:`fgi_core.widgets`) shows it: the chosen
  layers (image, fixations with order and duration, heatmap, refined map, M_hc, M_bc, the
  teacher's or student's prediction at a threshold, ground truth), the teacher's attention map
  of a chosen text token or field at a chosen encoder stage (docs/method.md §3.2), and the
  description's fields beside what was measured;
* :func:`plot_links`, :func:`plot_teacher_student`, :func:`plot_summary`,
  :func:`plot_attention_summary`, :func:`plot_attention_grid` -- the notebook's figures.

Every ``plot_*`` function returns a matplotlib Figure and never calls ``plt.show``.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .colours import COLOUR_NAMES, COLOURS, HEAT_CMAP, draw_fixations
from .layers import _rgb_float, compose, stretch

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.figure
    import pandas as pd

__all__ = [
    "LAYERS",
    "View",
    "focus_options",
    "attention_for",
    "view_scores",
    "plot_view",
    "plot_links",
    "plot_teacher_student",
    "plot_summary",
    "plot_attention_summary",
    "plot_attention_grid",
]

#: Layers the inspector can show, in drawing order.
LAYERS = ("image", "heatmap", "refined", "m_bc", "m_hc", "prediction", "gt", "fixations")


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
        from ..registry import look_up_option

        for layer in self.layers:
            look_up_option(layer, LAYERS, "layer")
        look_up_option(self.source, ("teacher", "student"), "source")
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if int(self.stage) not in (1, 2, 3, 4):
            raise ValueError(f"stage must be 1, 2, 3 or 4, got {self.stage}")


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
    """The attention map of a field or token at an encoder stage, and a label.

    Args:
        record: an :class:`~fgi_core.interpret.ImageRecord` (image H x W x 3).
        attention: the teacher's four stage maps, each L x h x w (L text tokens), or None.
        stage: 1..4.
        focus: a field name (its tokens' maps summed) or a token index.

    Returns:
        ``(map, label)``: float H x W (bilinear from the stage's h x w grid) and a text; None when
        there is no attention (teacher without fusion, or not computed).

    Raises:
        KeyError: a field without a token span; IndexError: a token out of range.
    """
    from ..interpret.attention import _resize, field_map, token_map

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
    from ..interpret.descriptions import description_consistency
    from ..interpret.gaze import gaze_agreement

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


# ==============================================================================================
# One image as the inspector shows it
# ==============================================================================================
def _layer_image(record, view: View) -> np.ndarray:
    """uint8 H x W x 3: :func:`compose` of the layers on in ``view.layers`` (fixations apart)."""
    layers = set(view.layers)
    h, w = np.shape(record.image)[:2]
    heat = [(getattr(record, n), 0.5) for n in ("heatmap", "refined") if n in layers]
    fills, outlines = [], []
    for n in ("m_bc", "m_hc"):
        if n in layers:
            fills.append((np.asarray(getattr(record, n)) > 0, COLOURS[n], 0.35))
    prob = record.prob.get(view.source)
    if "prediction" in layers and prob is not None:
        region = np.asarray(prob) >= view.threshold
        fills.append((region, COLOURS["prediction"], 0.25))
        outlines.append((region, COLOURS["prediction"]))
    if "gt" in layers and record.gt is not None:
        outlines.append((record.gt, COLOURS["gt"]))
    base = record.image if "image" in layers else None
    return compose(base, heat, fills, outlines, shape=(h, w))


def _draw_layers(ax, record, view: View) -> None:
    """Panel 1 of :func:`plot_view`: the composed layers and, when on, the fixations."""
    h, w = np.shape(record.image)[:2]
    ax.imshow(_layer_image(record, view), interpolation="nearest")
    shown = [n for n in LAYERS if n in view.layers and n != "image"]
    ax.set_title(textwrap.fill("layers: " + (", ".join(shown) or "image only"), 48), fontsize=9)
    points = record.points if "fixations" in view.layers else np.zeros((0, 3))
    draw_fixations(ax, points, (h, w), numbers=30)


def _draw_attention(ax, record, view: View, attention: Sequence[np.ndarray] | None) -> None:
    """Panel 2 of :func:`plot_view`: the teacher's attention map, or a note that there is none."""
    att = attention_for(record, attention, view.stage, view.focus) if attention is not None else None
    if att is None:
        h, w = np.shape(record.image)[:2]
        ax.imshow(_rgb_float(record.image, (h, w)).astype(np.uint8))
        ax.text(0.5, 0.5, "no attention\n(teacher without text fusion)", transform=ax.transAxes, ha="center",
                va="center", fontsize=9, color="white", bbox={"facecolor": "black", "alpha": 0.6})
        ax.set_title("teacher attention", fontsize=9)
        return
    m, label = att
    ax.imshow(compose(record.image, [(stretch(m), 0.6)]), interpolation="nearest")
    ax.set_title(textwrap.fill(f"teacher attention: {label}; shown from {float(m.min()):.3f} to {float(m.max()):.3f}", 56),
                 fontsize=8)


def _description_lines(record, view: View, scores: Mapping[str, Any] | None) -> list[tuple[str, dict]]:
    """Panel 3 of :func:`plot_view` as ``(text, style)`` lines: fields, measured counterparts, numbers."""
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
    return lines


def _draw_text(ax, lines: Sequence[tuple[str, dict]]) -> None:
    """Write ``(text, style)`` lines top-down on ``ax``, small enough to fit its height."""
    y, step = 1.0, min(0.065, 1.0 / max(len(lines), 1))
    font = 8.5 if step >= 0.055 else 7.5  # the text fits the panel's height either way
    for text, style in lines:
        ax.text(0.0, y, text, transform=ax.transAxes, fontsize=font, va="top", family="monospace", **style)
        y -= step


def plot_view(record, view: View = View(), attention: Sequence[np.ndarray] | None = None,
              scores: Mapping[str, Any] | None = None, size: float = 3.8) -> "matplotlib.figure.Figure":
    """One image as the inspector shows it: three panels.

    1. **layers** -- :func:`compose` of the layers on in ``view.layers`` (heatmap and refined map
       as jet heat, M_bc amber and M_hc green fills, the prediction ``p >= threshold`` as a cyan
       fill with outline, ground truth as a blue outline) and the fixations
       (:func:`~fgi_core.plots.colours.draw_fixations`): one circle per fixation at the centre of
       its pixel, area proportional to its duration, coloured and numbered in fixation order,
       joined by the scanpath;
    2. **attention** -- the teacher's attention map of ``view.focus`` (a field or a token) at
       ``view.stage``, over the image, stretched from its minimum to its maximum (the title
       gives both and the field's share); a note when there is none;
    3. **description** -- the fields (the focused one marked) and, from ``scores``, the
       measured counterparts and agreement numbers (left out with ``view.description=False``).

    Args:
        record: an :class:`~fgi_core.interpret.ImageRecord` (image H x W x 3, maps H x W,
            points N x 3).
        view: what to show.
        attention: the teacher's four ``L x h x w`` maps of this image (or None).
        scores: e.g. :func:`view_scores` (or None).

    Returns:
        the Figure (axes: ``fig.axes[0]`` layers, ``[1]`` attention, ``[2]`` description).
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(size * 3.2, size + 0.4))
    ax0 = fig.add_axes((0.005, 0.03, 0.29, 0.78))
    ax1 = fig.add_axes((0.305, 0.03, 0.29, 0.78))
    ax2 = fig.add_axes((0.615, 0.03, 0.38, 0.78))
    for ax in (ax0, ax1, ax2):
        ax.set_axis_off()
    _draw_layers(ax0, record, view)
    _draw_attention(ax1, record, view, attention)
    if view.description:
        _draw_text(ax2, _description_lines(record, view, scores))
    fig.suptitle(f"{record.id}: {view.source} prediction at p >= {view.threshold:.2f}; attention stage {view.stage}", fontsize=10)
    return fig


# ==============================================================================================
# Figures for the notebook
# ==============================================================================================
def _links_text(rec, row, metric: str, source: str, columns) -> str:
    """The numbers and fields written beside one record in :func:`plot_links`."""
    keys = [metric] + [k for k in (f"{source}_nss", f"{source}_auc_pred", f"{source}_location_match", f"{source}_area_match",
                                   f"{source}_boundary_match", f"{source}_dice_gt") if k in columns and k != metric]
    text = "\n".join(f"{k.removeprefix(source + '_')}: {_fmt(row[k])}" for k in keys)
    fields = rec.fields or {}
    return text + "\n\n" + "\n".join(f"{k}: {fields[k]}" for k in ("Location", "Area Percentage", "Boundary") if k in fields)


def plot_links(records: Sequence, frame: "pd.DataFrame", metric: str, source: str = "student",
               threshold: float = 0.5, title: str = "", size: float = 2.3) -> "matplotlib.figure.Figure":
    """One row per record: fixations on the image, the heatmap, the prediction (cyan) with truth
    (blue outline), and the row's numbers from ``frame`` (indexed by id).

    Returns:
        the Figure, ``len(records)`` x 4 panels.

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
        axes[r, 0].imshow(rec.image)
        draw_fixations(axes[r, 0], rec.points, np.shape(rec.image)[:2], numbers=0, scale=1 / 3)
        axes[r, 0].set_title(f"{rec.id}\n{len(rec.points)} fixations", fontsize=7)
        axes[r, 1].imshow(compose(rec.image, [(rec.heatmap, 0.6)]))
        axes[r, 1].set_title("gaze heatmap", fontsize=7)
        region = rec.prob[source] >= threshold
        outl = [(region, COLOURS["prediction"])] + ([(rec.gt, COLOURS["gt"])] if rec.gt is not None else [])
        axes[r, 2].imshow(compose(rec.image, [(rec.prob[source], 0.5)], outlines=outl))
        axes[r, 2].set_title(f"{source} p ({COLOUR_NAMES['prediction']}: p >= {threshold:.2f}; blue: truth)", fontsize=7)
        text = _links_text(rec, frame.loc[rec.id], metric, source, frame.columns)
        axes[r, 3].text(0.0, 1.0, text, transform=axes[r, 3].transAxes, va="top", fontsize=7, family="monospace")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _heat_colorbar(fig, axes[:, 1:3], "heatmap (0-1) and p(lesion)", location="bottom")  # the text column keeps its room
    return fig


def plot_teacher_student(records: Sequence, threshold: float = 0.5, scores: Mapping[str, float] | None = None,
                         size: float = 2.3) -> "matplotlib.figure.Figure":
    """Where teacher and student differ: per record the teacher's and the student's regions, and
    a difference panel (yellow: teacher only, blue: student only, white: both; truth outlined green).

    ``scores``: id -> Dice between the two regions, added to the titles.

    Returns:
        the Figure, ``len(records)`` x 3 panels.
    """
    import matplotlib.pyplot as plt

    n = max(1, len(records))
    fig, axes = plt.subplots(n, 3, figsize=(size * 3, size * n + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, rec in enumerate(records):
        t, s = rec.prob["teacher"] >= threshold, rec.prob["student"] >= threshold
        gt = [(rec.gt, COLOURS["gt_on_difference"])] if rec.gt is not None else []
        axes[r, 0].imshow(compose(rec.image, fills=[(t, COLOURS["prediction"], 0.4)], outlines=gt))
        axes[r, 0].set_title(f"{rec.id}: teacher", fontsize=7)
        axes[r, 1].imshow(compose(rec.image, fills=[(s, COLOURS["prediction"], 0.4)], outlines=gt))
        axes[r, 1].set_title("student (image only)", fontsize=7)
        difference = [(t & ~s, COLOURS["only_first"], 0.7), (s & ~t, COLOURS["only_second"], 0.7), (t & s, COLOURS["both"], 0.5)]
        axes[r, 2].imshow(compose(rec.image, fills=difference, outlines=gt))
        d = (scores or {}).get(rec.id)
        axes[r, 2].set_title("yellow: teacher only, blue: student only" + (f"\nDice(teacher, student) {d:.2f}" if d is not None else ""), fontsize=7)
    fig.tight_layout()
    return fig


def plot_summary(tables: Mapping[str, "pd.DataFrame"], metrics: Sequence[str], labels: Mapping[str, str] | None = None,
                 title: str = "", reference: Mapping[str, float] | None = None) -> "matplotlib.figure.Figure":
    """A forest plot: per metric, one marker per table (e.g. teacher, student) with its CI.

    Args:
        tables: name -> :func:`~fgi_core.interpret.summarise` output (indexed by metric; columns
            ``mean``, ``low``, ``high``).
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
        lo = np.array([table.loc[x, "low"] for x in metrics], float)
        hi = np.array([table.loc[x, "high"] for x in metrics], float)
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


def plot_attention_summary(summary: "pd.DataFrame", metrics: Sequence[str] = ("share", "cc_prob")) -> "matplotlib.figure.Figure":
    """Stage x field matrices of :func:`~fgi_core.interpret.attention_summary` (values written in),
    one panel (fields x stages) with its colour bar per metric."""
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


def plot_attention_grid(record, attention: Sequence[np.ndarray], fields: Sequence[str] | None = None,
                        size: float = 1.4) -> "matplotlib.figure.Figure":
    """One image's field attention maps: rows = fields, columns = stages 1..4 (each :func:`stretch`-ed).

    Args:
        attention: the teacher's four ``L x h x w`` maps of this image.
        fields: which fields (default: every field with a token span).
    """
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
    _heat_colorbar(fig, axes, "attention, stretched (0 = the map's min, 1 = its max)")
    return fig


def _heat_colorbar(fig, axes, label: str, location: str = "right") -> None:
    """One colour bar for the heat overlays of ``axes`` (:data:`HEAT_CMAP` on 0..1), on their right
    or below them (``location``)."""
    import matplotlib
    import matplotlib.pyplot as plt

    mappable = plt.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=HEAT_CMAP)
    bar = fig.colorbar(mappable, ax=list(np.ravel(axes)), location=location, fraction=0.02 if location == "right" else 0.04,
                       pad=0.01 if location == "right" else 0.03, aspect=40)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=6)

