"""Interactive inspection of a run: a thin ipywidgets layer over the renderers of
:mod:`fgi_core.plots.inspector`.

The **renderers** (no display, no widgets; each returns an array or a matplotlib Figure and never
calls ``plt.show``) live in :mod:`fgi_core.plots`: :func:`~fgi_core.plots.plot_view` draws one
image of an :class:`~fgi_core.interpret.Inspection` as the inspector shows it, and
:func:`~fgi_core.plots.compose` blends its layers.

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

from dataclasses import replace
from typing import Any

import matplotlib.figure

from .plots.inspector import LAYERS, View, focus_options, plot_view, view_scores
from .plots.save import figure_png

__all__ = ["Inspector", "inspect"]


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
        """The current view as a new Figure (pure: :func:`fgi_core.plots.plot_view`)."""
        view, record = self.view, self.record
        attention = self.inspection.attention(record.id) if hasattr(self.inspection, "attention") else record.attention
        scores = view_scores(record, view) if view.description else None
        return plot_view(record, view, attention, scores)

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
