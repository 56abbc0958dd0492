"""Every figure of the project, in one place, split by what it draws.

=====================  ===========================================================================
module                 what it holds
=====================  ===========================================================================
``colours``            the one colour table (:data:`COLOURS`) and the one way to draw fixations
                       (:func:`draw_fixations`: a fixation is drawn at the centre of the pixel
                       :func:`fgi_core.gaze.coords.pixel_indices` puts it on)
``layers``             pixels: :func:`compose` (layers blended, uint8), :func:`outline`,
                       :func:`stretch`, :func:`overlay` (an image with a map or mask on an Axes)
``gaze``               the gaze stage: fixations, the stage panel by panel, pseudo-mask quality,
                       simulated against recorded gaze, image grids
``explain``            the explanation stage: descriptions, field counts, confusion, similarity
``training``           loss and validation curves, grids of worked examples, :func:`denormalise`
``inspector``          the inspector's renderers (:func:`plot_view`, used by
                       :mod:`fgi_core.widgets`) and the interpretability figures
``results``            tables: shipped real-data results, "You should see" tables, options
``save``               :func:`save_figure`, :func:`save_and_show`, :func:`figure_png`
=====================  ===========================================================================

Every function that makes a figure is called ``plot_*`` and returns the matplotlib Figure; none
calls ``plt.show``. Matplotlib and pandas are imported when a figure or table is made, not when
this package is imported.

Example (in a notebook):
    >>> from fgi_core import plots                                              # doctest: +SKIP
    >>> plots.save_and_show(plots.plot_gaze_stage(image, points, maps), "stage.png")  # doctest: +SKIP
"""
from __future__ import annotations

from .colours import (
    COLOURS,
    FIXATION_CMAP,
    FIXATION_STYLE,
    HEAT_CMAP,
    draw_fixations,
    fixation_offsets,
    fixation_sizes,
)
from .explain import plot_confusion, plot_explanations, plot_field_distribution, plot_similarity
from .gaze import plot_fixations, plot_gaze_stage, plot_gaze_statistics, plot_image_grid, plot_mask_quality
from .inspector import (
    LAYERS,
    View,
    attention_for,
    focus_options,
    plot_attention_grid,
    plot_attention_summary,
    plot_links,
    plot_summary,
    plot_teacher_student,
    plot_view,
    view_scores,
)
from .layers import GREY, compose, outline, overlay, stretch
from .results import dig, expectations, options_table, shipped_results
from .save import figure_png, save_and_show, save_figure
from .training import denormalise, plot_curves, plot_panels

__all__ = [
    # colours and fixations
    "COLOURS", "HEAT_CMAP", "FIXATION_CMAP", "FIXATION_STYLE", "draw_fixations", "fixation_offsets", "fixation_sizes",
    # pixels
    "GREY", "compose", "outline", "stretch", "overlay",
    # gaze stage
    "plot_fixations", "plot_gaze_stage", "plot_mask_quality", "plot_gaze_statistics", "plot_image_grid",
    # explanations
    "plot_explanations", "plot_field_distribution", "plot_confusion", "plot_similarity",
    # training
    "plot_curves", "plot_panels", "denormalise",
    # the inspector and the interpretability figures
    "LAYERS", "View", "focus_options", "attention_for", "view_scores", "plot_view", "plot_links",
    "plot_teacher_student", "plot_summary", "plot_attention_summary", "plot_attention_grid",
    # tables and files
    "shipped_results", "dig", "expectations", "options_table", "save_figure", "save_and_show", "figure_png",
]
