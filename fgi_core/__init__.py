"""fgi_core: the library behind the From-Gaze-to-Insight tutorial notebooks.

Stages, in the data's order: :mod:`fgi_core.data` (datasets), :mod:`fgi_core.gaze` (gaze ->
pseudo-masks), then explanation, models, losses, training, evaluation and interpretation as
they arrive. :mod:`fgi_core.config` holds presets and profiles; :mod:`fgi_core.runs` the run
folders; the ``fgi`` command is :mod:`fgi_core.cli`.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("fgi-core")
except _metadata.PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0.0.0+local"
