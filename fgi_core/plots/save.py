"""Figures to files and to the notebook: PNG written atomically, shown once, or as bytes."""
from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from ..io import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.figure

__all__ = ["save_figure", "save_and_show", "figure_png"]


def save_figure(fig: "matplotlib.figure.Figure", path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` as PNG at ``path`` (folders made, written atomically); returns the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return Path(path)


def save_and_show(fig: "matplotlib.figure.Figure", path: str | Path, dpi: int = 110) -> None:
    """Save ``fig`` (:func:`save_figure`), show that PNG in the notebook, and close the figure.

    The figure is rendered once, for the file, and the notebook shows the very same picture
    (``plt.show()`` after saving would render it a second time). Outside IPython nothing is
    shown. Returns None, so that a notebook cell ending with it prints nothing more.
    """
    import matplotlib.pyplot as plt

    path = save_figure(fig, path, dpi=dpi)
    plt.close(fig)
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover - IPython ships with the notebook extras
        return
    if get_ipython() is not None:
        display(Image(filename=str(path)))


def figure_png(fig: "matplotlib.figure.Figure", dpi: int = 90, close: bool = True) -> bytes:
    """The figure as PNG bytes (closed afterwards unless ``close=False``)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if close:
        plt.close(fig)
    return buf.getvalue()
