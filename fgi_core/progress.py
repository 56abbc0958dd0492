"""Progress bars that read well wherever they end up: a terminal, a live notebook, a saved one.

``tqdm.auto`` picks a widget bar inside any Jupyter kernel. That is right in a live JupyterLab
session, but a notebook executed by papermill (``fgi run``) is read later, as a file or as its
HTML rendering, where a widget bar is an empty box or a line of ``HBox(children=...)``. So:

* :func:`batch_run` is True inside a kernel started by :func:`fgi_core.runner.run_notebooks`
  (the runner sets ``FGI_PROGRESS=text`` in the kernel's environment);
* :func:`tqdm` is a drop-in for ``tqdm.auto.tqdm``: in such a kernel (or wherever
  ``FGI_PROGRESS=text``) one plain text line on stdout when the bar closes (``gaze stage:
  100%|####| 24/24 [00:00<00:00, 28.3img/s]``): a saved notebook keeps every update of a bar, so
  a live bar there reads as a pile of half-done lines; ``FGI_PROGRESS=none`` turns the bars off;
  otherwise ``tqdm.auto``'s choice.

Example:
    >>> from fgi_core.progress import tqdm
    >>> for _ in tqdm(range(3), disable=True):
    ...     pass
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Any

__all__ = ["tqdm", "batch_run", "mode", "ENV", "TEXT_MININTERVAL"]

#: The environment variable read here: ``text``, ``none`` or unset (``auto``).
ENV = "FGI_PROGRESS"
#: Seconds between two updates of a text bar (kept for callers; a batch run's bar shows only its end).
TEXT_MININTERVAL = 5.0


def mode() -> str:
    """``"text"``, ``"none"`` or ``"auto"``, from ``$FGI_PROGRESS`` (anything else: ``auto``)."""
    value = os.environ.get(ENV, "").strip().lower()
    return value if value in ("text", "none") else "auto"


def batch_run() -> bool:
    """True when the output is read later rather than watched (a notebook run by ``fgi run``)."""
    return mode() != "auto"


def tqdm(*args: Any, **kwargs: Any):
    """``tqdm.auto.tqdm(*args, **kwargs)``, except in a batch run: a text bar, or none.

    In a batch run the bar writes one line to stdout when it closes (stderr shows as a red box in
    notebooks), in ASCII, 80 columns wide.
    """
    current = mode()
    if current == "auto":
        from tqdm.auto import tqdm as auto

        return auto(*args, **kwargs)
    from tqdm.std import tqdm as text

    if current == "none":
        kwargs["disable"] = True
    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("ascii", True)
    kwargs.setdefault("ncols", 80)
    kwargs.setdefault("mininterval", TEXT_MININTERVAL)
    kwargs["leave"] = True
    kwargs["delay"] = float("inf")  # no line while it runs ...
    return _final_line_class()(*args, **kwargs)


@functools.lru_cache(maxsize=1)
def _final_line_class():
    """tqdm's text bar that prints its final state once, when it closes (... one line at the end)."""
    from tqdm.std import tqdm as text

    class FinalLineBar(text):
        def close(self) -> None:
            if not self.disable and not getattr(self, "_final_shown", False):
                self._final_shown = True
                self.fp.write(self.format_meter(**self.format_dict) + "\n")
                self.fp.flush()
            super().close()

    return FinalLineBar
