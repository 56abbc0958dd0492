"""Loading Hugging Face models offline-first: shared by the VLM explainers and the text encoders."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["quiet_loading", "looks_like_path", "local_only_kwargs"]


@contextmanager
def quiet_loading(progress: bool) -> Iterator[None]:
    """Hide transformers v5's per-load "Loading weights" progress bar unless asked for."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if was_on and not progress:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on and not progress:
            hf_logging.enable_progress_bar()


def looks_like_path(name: str) -> bool:
    """A local path rather than a hub id (``name`` or ``org/name``)?"""
    if os.path.exists(name):
        return True
    if name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return name.count("/") > 1 or "\\" in name


def local_only_kwargs(is_local: bool, local_files_only: bool | None) -> dict:
    """``from_pretrained`` keywords: a local folder (or an explicit request) never touches the hub."""
    if local_files_only is None and not is_local:
        return {}
    return {"local_files_only": True if local_files_only is None else bool(local_files_only)}
