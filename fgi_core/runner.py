"""Run the notebook sequence with papermill into a run folder.

``run_notebooks(...)`` executes ``notebooks/NN_*.ipynb`` in order with the given parameters into
``runs/<dataset>/<run-name>/notebooks/``. It stops at the first failing notebook, keeps that
executed copy (with its error) for reading and names it in the exception.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from .config import default_run_dir, get_profile, project_root

__all__ = ["find_notebooks", "run_notebooks", "NotebookFailed", "KERNEL_NAME"]

KERNEL_NAME = "python3"  # ipykernel's kernel for the interpreter that runs papermill


class NotebookFailed(RuntimeError):
    """A notebook raised; ``.executed`` is the kept copy with the error in it."""

    def __init__(self, message: str, executed: Path):
        super().__init__(message)
        self.executed = executed


def find_notebooks(folder: str | Path | None = None, select: Iterable[str] | None = None) -> list[Path]:
    """The sequence ``NN_*.ipynb`` in ``folder`` (default: the checkout's ``notebooks/``).

    ``select`` keeps notebooks whose number or name starts with one of its items (``"01"``).
    """
    if folder is None:
        root = project_root() or project_root(Path(__file__).parent)
        if root is None:
            raise FileNotFoundError("notebooks/ not found: run `fgi run` from a checkout of the repository, or pass --notebooks-dir")
        folder = root / "notebooks"
    notebooks = sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if select:
        wanted = [str(s) for s in select]
        notebooks = [p for p in notebooks if any(p.name.startswith(w) for w in wanted)]
    if not notebooks:
        raise FileNotFoundError(f"no notebooks matching {list(select or [])} in {folder}")
    return notebooks


def run_notebooks(
    profile: str = "quick",
    dataset: str = "synthetic",
    seed: int = 0,
    run_name: str | None = None,
    parameters: dict[str, Any] | None = None,
    select: Iterable[str] | None = None,
    notebooks_dir: str | Path | None = None,
    progress: bool = True,
    log=print,
) -> Path:
    """Execute the notebooks with papermill; return the run folder.

    Raises:
        NotebookFailed: naming the notebook that failed and where its executed copy is.
    """
    import papermill as pm

    get_profile(profile)  # fail early on a bad name
    run_dir = default_run_dir(dataset, profile, seed, run_name)
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "dataset": dataset, "seed": seed, "run_dir": str(run_dir), **(parameters or {})}
    notebooks = find_notebooks(notebooks_dir, select)
    total = time.perf_counter()
    for k, nb in enumerate(notebooks, 1):
        out = out_dir / nb.name
        log(f"[{k}/{len(notebooks)}] {nb.name} -> {out}")
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(
                str(nb), str(out), parameters=params, kernel_name=KERNEL_NAME, cwd=str(nb.parent),
                progress_bar=progress, report_mode=False,
            )
        except pm.PapermillExecutionError as err:
            raise NotebookFailed(
                f"{nb.name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                f"The executed notebook with the error is kept at {out}", out
            ) from None
        log(f"      done in {time.perf_counter() - t0:.1f} s")
    log(f"{len(notebooks)} notebook(s) in {time.perf_counter() - total:.1f} s. Results: {run_dir}")
    return run_dir
