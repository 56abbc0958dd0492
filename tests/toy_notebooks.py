"""Tiny notebooks for the runner's tests: a tagged parameters cell and one body cell."""
from __future__ import annotations

from pathlib import Path

import nbformat


def write_toy_notebook(path: Path, parameters: str, body: str) -> Path:
    """Write a python3 notebook at ``path``: ``parameters`` (tagged for papermill), then ``body``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
