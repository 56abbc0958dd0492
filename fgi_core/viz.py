"""The figures' old address: every figure now lives in :mod:`fgi_core.plots` (its home), and this
module re-exports it under the names the notebooks and tests use, the old ones included
(``show_gaze_stage`` = :func:`~fgi_core.plots.plot_gaze_stage`, ``show_explanations`` =
:func:`~fgi_core.plots.plot_explanations`, ``show_panels`` = :func:`~fgi_core.plots.plot_panels`,
``image_grid`` = :func:`~fgi_core.plots.plot_image_grid`, ``MASK_COLOURS`` =
:data:`~fgi_core.plots.COLOURS`; all names in ``plots.OLD_NAMES``).

New code: ``from fgi_core import plots``.
"""
from __future__ import annotations

from .plots import *  # noqa: F401,F403 - the re-export is this module's purpose
from .plots import MASK_COLOURS, image_grid, show_explanations, show_gaze_stage, show_panels  # noqa: F401 - old names
from .plots import __all__ as _plots_all

__all__ = [*_plots_all, "MASK_COLOURS", "show_gaze_stage", "show_explanations", "show_panels", "image_grid"]
