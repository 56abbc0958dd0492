"""Run the notebook sequence with papermill into a run folder; resume it; sweep it over seeds and
datasets.

``run_notebooks(...)`` executes ``notebooks/NN_*.ipynb`` in order (or a range ``start``..``stop``)
with the given parameters into ``runs/<dataset>/<run-name>/notebooks/``. It stops at the first
failing notebook, keeps that executed copy (with its error) for reading and names it in the
exception; ``resume_run(run_dir)`` starts again from it. The run folder holds, besides what the
notebooks write::

    status.json    the sequence, the parameters, and per notebook: pending / running / done /
                   failed, start and end times, seconds, the error (rewritten atomically)
    report.md      links to each executed notebook and its HTML rendering, the figures, the
                   metrics table
    notebooks/     the executed notebooks, and ``<name>.html`` beside each (readable in any
                   browser, figures embedded)

The kernels run with matplotlib's inline backend whatever the calling environment says (a
headless ``MPLBACKEND=Agg`` in the shell would otherwise leave the executed notebooks without
figures) and with plain-text progress bars (:mod:`fgi_core.progress`), so that an executed
notebook reads like one stepped through by hand. Each notebook gets a fresh kernel, started
while the previous one shuts down (:class:`fgi_core.kernels.KernelRelay`: ~3 s a notebook that
used to be spent waiting for torch to tear down).

``sweep(seeds, datasets, ...)`` runs one sequence per (dataset, seed) and collects their metrics
into ``runs/sweeps/<name>/summary.csv`` and ``summary.md``.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from . import alongside
from .config import default_run_dir, get_profile, project_root, runs_root
from .io import read_json, write_json

__all__ = [
    "find_notebooks",
    "run_notebooks",
    "resume_run",
    "read_status",
    "load_parameters_file",
    "sweep",
    "SweepResult",
    "NotebookFailed",
    "KERNEL_NAME",
    "KERNEL_ENVIRONMENT",
    "STATUS_FILE",
    "export_html",
    "html_path",
    "kernel_environment",
]

KERNEL_NAME = "python3"  # ipykernel's kernel for the interpreter that runs papermill
STATUS_FILE = "status.json"
#: What the kernels of a run see in their environment (the parent's own is left as it was).
KERNEL_ENVIRONMENT = {
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # figures into the notebook
    "FGI_PROGRESS": "text",  # text progress bars, not widgets (fgi_core.progress)
}


class NotebookFailed(RuntimeError):
    """A notebook raised; ``.executed`` is the kept copy with the error in it.

    Attributes:
        executed: the executed notebook (with the error's traceback in its outputs).
        run_dir: the run folder (``resume_run(run_dir)`` starts again at the failed notebook).
        notebook: the notebook's file name.
    """

    def __init__(self, message: str, executed: Path, run_dir: Path | None = None, notebook: str | None = None):
        super().__init__(message)
        self.executed = executed
        self.run_dir = run_dir
        self.notebook = notebook or Path(executed).name


def _default_notebooks_dir() -> Path:
    root = project_root() or project_root(Path(__file__).parent)
    if root is None:
        raise FileNotFoundError("notebooks/ not found: run `fgi run` from a checkout of the repository, or pass --notebooks-dir")
    return root / "notebooks"


def _position(notebooks: list[Path], prefix: str, flag: str) -> int:
    hits = [k for k, p in enumerate(notebooks) if p.name.startswith(str(prefix))]
    if not hits:
        have = ", ".join(p.name.split("_")[0] for p in notebooks)
        raise ValueError(f"{flag} {prefix!r}: no notebook starts with it; have {have}")
    return hits[0]


def find_notebooks(
    folder: str | Path | None = None,
    select: Iterable[str] | None = None,
    start: str | None = None,
    stop: str | None = None,
) -> list[Path]:
    """The sequence ``NN_*.ipynb`` in ``folder`` (default: the checkout's ``notebooks/``).

    Args:
        select: keep notebooks whose number or name starts with one of its items (``"01"``).
        start, stop: keep the range from the first notebook starting with ``start`` to the one
            starting with ``stop``, both included (``"03"``, ``"05"``).

    Raises:
        FileNotFoundError: no notebook left.
        ValueError: ``start`` / ``stop`` match no notebook, or ``stop`` comes before ``start``.
    """
    folder = Path(folder) if folder is not None else _default_notebooks_dir()
    notebooks = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if notebooks and (start is not None or stop is not None):
        first = _position(notebooks, start, "--from") if start is not None else 0
        last = _position(notebooks, stop, "--to") if stop is not None else len(notebooks) - 1
        if last < first:
            raise ValueError(f"--to {stop!r} ({notebooks[last].name}) comes before --from {start!r} ({notebooks[first].name})")
        notebooks = notebooks[first : last + 1]
    if select:
        wanted = [str(s) for s in select]
        notebooks = [p for p in notebooks if any(p.name.startswith(w) for w in wanted)]
    if not notebooks:
        raise FileNotFoundError(f"no notebooks matching {list(select or [])} (from {start}, to {stop}) in {folder}")
    return notebooks


def load_parameters_file(path: str | Path) -> dict[str, Any]:
    """Notebook parameters from a YAML (or JSON) mapping, e.g. ``iterations: 500``.

    Keys ``profile``, ``dataset``, ``seed``, ``data_root``, ``gaze_csv`` and ``run_name`` set the
    run as the command-line flags do (a flag given on the command line wins over the file).

    Raises:
        FileNotFoundError, ValueError: the file is missing, not a mapping, or has a key that
        is not a Python identifier.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameters file {path} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of parameter: value, got {type(data).__name__}")
    bad = [k for k in data if not (isinstance(k, str) and k.isidentifier())]
    if bad:
        raise ValueError(f"{path}: parameter names must be Python identifiers, got {bad}")
    return data


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """The run folder's ``status.json``.

    Raises:
        FileNotFoundError: the folder has none (never run by ``fgi run``).
    """
    path = Path(run_dir) / STATUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: nothing to resume; start the run without --resume")
    return read_json(path)


def format_status(status: dict[str, Any]) -> str:
    """The per-notebook table printed at the end of a run."""
    width = max(len(n) for n in status["sequence"])
    lines = [f"{'notebook':{width}s}  {'status':8s}  {'seconds':>8s}"]
    for name in status["sequence"]:
        entry = status["notebooks"][name]
        seconds = f"{entry['seconds']:.1f}" if entry.get("seconds") is not None else "-"
        lines.append(f"{name:{width}s}  {entry['status']:8s}  {seconds:>8s}")
    return "\n".join(lines)


@contextlib.contextmanager
def kernel_environment(overrides: dict[str, str] | None = None):
    """Set :data:`KERNEL_ENVIRONMENT` (and ``overrides``) in ``os.environ`` while kernels start.

    A kernel inherits the environment of the process that launches it, so this is how the
    notebooks get the inline backend even when the shell exported ``MPLBACKEND=Agg``. The
    previous values are restored afterwards.
    """
    wanted = {**KERNEL_ENVIRONMENT, **(overrides or {})}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


#: nbconvert's lab template without the three scripts it loads from CDNs (require.js, MathJax,
#: the widget manager): the renderings must read offline. Formulas arrive as MathML instead
#: (:func:`offline_notebook`), which browsers typeset natively.
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: What an interactive widget's output becomes in the HTML (its live state needs a kernel).
WIDGET_NOTE = ("<p><em>An interactive widget stands here in JupyterLab (it needs a running kernel); "
               "the static snapshot in this notebook shows what it draws.</em></p>")
# $$display$$ or $inline$ (not \$, not inside code): the notebooks' math, as MathJax reads it.
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.S)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
# A Markdown link to a sibling notebook: ](02_vlm_explanation.ipynb) or with an #anchor.
_NOTEBOOK_LINK = re.compile(r"\]\((\d\d_[\w-]+)\.ipynb(#[^)]*)?\)")
#: Macros latex2mathml does not know, as ones it does (the HTML showed "\arg" and a missing glyph).
_MACROS = {r"\arg": r"\operatorname{arg}", r"\setminus": r"\backslash"}


def markdown_with_mathml(text: str) -> str:
    """``text`` with every ``$...$`` / ``$$...$$`` outside code replaced by MathML (one line each,
    so Markdown keeps it inline; display math as a centred block).

    Example:
        >>> markdown_with_mathml("area $x^2$ and `$HOME`")[:42]
        'area <math xmlns="http://www.w3.org/1998/'
    """
    from latex2mathml.converter import convert

    def one(match: re.Match) -> str:
        display, inline = match.group(1), match.group(2)
        tex = (display or inline).strip()
        for macro, plain in _MACROS.items():
            tex = re.sub(re.escape(macro) + r"(?![A-Za-z])", lambda _: plain, tex)
        try:
            return convert(tex, display="block" if display else "inline").replace("\n", "")
        except Exception:  # noqa: BLE001 -- an unknown macro stays readable TeX
            return match.group(0)

    return "".join(part if k % 2 else _MATH.sub(one, part) for k, part in enumerate(_CODE.split(text)))


def offline_notebook(nb):
    """A copy of ``nb`` ready for an offline HTML rendering: formulas as MathML, links to the other
    notebooks pointing at their ``.html`` renderings, widget views as a note (their state is
    dropped: it would load the widget manager from a CDN)."""
    import copy

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "markdown":  # the next notebook's link opens its rendering, beside this one
            cell.source = _NOTEBOOK_LINK.sub(r"](\1.html\2)", markdown_with_mathml(cell.source))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if _WIDGET_VIEW in data:
                output["data"] = {"text/html": WIDGET_NOTE}
    return nb


@functools.lru_cache(maxsize=1)
def _html_exporter():
    """One nbconvert HTMLExporter per process (loading its templates is most of an export's cost)."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(extra_loaders=[jinja2.DictLoader({"fgi_offline.html.j2": _OFFLINE_TEMPLATE})],
                        template_file="fgi_offline.html.j2")


def html_path(notebook: str | Path) -> Path:
    """Where the HTML rendering of an executed notebook goes: beside it, ``.html``."""
    return Path(notebook).with_suffix(".html")


def export_html(notebook: str | Path, log=print) -> Path | None:
    """Render an executed notebook as one self-contained HTML file beside it (figures embedded).

    Returns the path, or None (after logging why) when nbconvert fails: the HTML is a
    convenience and never fails a run.
    """
    notebook = Path(notebook)
    out = html_path(notebook)
    try:
        import nbformat

        from .io import atomic_write_text

        body, _ = _html_exporter().from_notebook_node(offline_notebook(nbformat.read(notebook, as_version=4)))
        atomic_write_text(out, body)
    except Exception as err:  # noqa: BLE001 -- reported, the run goes on
        log(f"      (no HTML rendering of {notebook.name}: {type(err).__name__}: {err})")
        return None
    return out


def _write_status(run_dir: Path, status: dict[str, Any]) -> None:
    status["updated"] = _now()
    write_json(run_dir / STATUS_FILE, status)


def training_warnings(run_dir: Path) -> list[str]:
    """The warnings the training stages of ``run_dir`` recorded in their ``summary.json`` (e.g.
    a collapsed network, :data:`fgi_core.train.engine.COLLAPSE_RULE`), each with its folder."""
    found = []
    for summary in sorted(Path(run_dir).glob("*/summary.json")) + sorted(Path(run_dir).glob("baselines/*/summary.json")):
        try:
            warnings = read_json(summary).get("warnings") or []
        except (OSError, ValueError):
            continue
        found += [f"{summary.parent.relative_to(run_dir)}: {w}" for w in warnings]
    return found


def _execute(run_dir: Path, status: dict[str, Any], progress: bool, log) -> Path:
    """Run every notebook of ``status`` that is not done, from the first such, in order."""
    import papermill  # noqa: F401 -- a missing papermill fails here, before status.json is touched

    from .report import write_report

    sequence = status["sequence"]
    todo = next((k for k, n in enumerate(sequence) if status["notebooks"][n]["status"] != "done"), None)
    if todo is None:
        log(f"all {len(sequence)} notebook(s) already done in {run_dir}")
        return run_dir
    out_dir = _start_run(run_dir, status, todo)
    from .config import get_profile, resolve_threads

    log(f"{status['profile']} profile, {status['dataset']}: torch on a CPU uses {resolve_threads(get_profile(status['profile']).threads)[1]}")
    total = time.perf_counter()
    job = None  # notebook 05's baselines, training on the second core (fgi_core.alongside)
    try:
        with _terminate_as_interrupt(), _kernel_relay(status) as relay:
            for k, name in enumerate(sequence[todo:], todo):
                if job is None and (stages := alongside.plan(status, k)):
                    job = alongside.start(status, stages, log)
                if job is not None and (name == alongside.LAST or job.process.poll() is not None):
                    _wait_alongside(run_dir, status, name, out_dir, job, log)  # done (its core freed), or before 05
                    job = None
                _run_notebook(run_dir, status, name, f"[{k + 1}/{len(sequence)}]", out_dir, progress, log, relay,
                              more=k + 1 < len(sequence))
    finally:
        alongside.stop(job)  # the run stopped before notebook 05: end it (its checkpoints stay)
    status["state"] = "complete"
    status.pop("failed", None)
    _write_status(run_dir, status)
    report = write_report(run_dir, status)
    log(format_status(status))
    log(f"{len(sequence) - todo} notebook(s) in {time.perf_counter() - total:.1f} s. Results: {run_dir}\nReport: {report}")
    return run_dir


def _wait_alongside(run_dir: Path, status: dict[str, Any], name: str, out_dir: Path, job, log) -> None:
    """Wait for the baselines training alongside before notebook ``name``; a Ctrl-C or SIGTERM
    meanwhile is recorded as ``name`` interrupted, as during a notebook."""
    try:
        alongside.wait(job, log)
    except KeyboardInterrupt:
        status["notebooks"][name].update(status="failed", finished=_now(), error="interrupted")
        _record_failure(run_dir, status, name, out_dir / name, True, log)
        raise


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Within: SIGTERM (``kill``, ``timeout``, a closing session) stops the run as Ctrl-C does.

    The notebook is recorded as interrupted and its kernel shut down (:func:`_run_notebook`);
    by default SIGTERM ends this process at once and the kernel, in a session of its own, trains
    on with nobody to record it. Only the main thread can set a handler; elsewhere nothing changes.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start_run(run_dir: Path, status: dict[str, Any], todo: int) -> Path:
    """Mark the notebooks from ``status["sequence"][todo]`` on pending and the run running
    (``status.json`` written); return the folder of the executed notebooks.

    Raises:
        FileNotFoundError: one of those notebooks is no longer in ``status["notebooks_dir"]``.
    """
    sequence = status["sequence"]
    folder = Path(status["notebooks_dir"])
    missing = [n for n in sequence[todo:] if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"notebook(s) {missing} not found in {folder} (recorded in {run_dir / STATUS_FILE})")
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_docs(folder, run_dir)
    for name in sequence[todo:]:
        status["notebooks"][name] = {"status": "pending", "seconds": None, "started": None, "finished": None,
                                     "output": f"notebooks/{name}", "error": None}
    status["state"] = "running"
    _write_status(run_dir, status)
    return out_dir


def copy_docs(notebooks_dir: Path, run_dir: Path) -> Path | None:
    """Copy the repository's ``docs/`` (beside ``notebooks_dir``) into ``run_dir/docs``, so the
    executed notebooks' links to ``../docs/*.md`` open from the run folder as they do from the
    checkout; the copy is refreshed each run. None when there is no docs folder."""
    import shutil

    docs = Path(notebooks_dir).resolve().parent / "docs"
    if not docs.is_dir():
        return None
    return Path(shutil.copytree(docs, Path(run_dir) / "docs", dirs_exist_ok=True))


def _kernel_relay(status: dict[str, Any]):
    """The :class:`~fgi_core.kernels.KernelRelay` of a run: its kernel, in the notebooks'
    folder, started in :func:`kernel_environment` with the quiet arguments."""
    from .checks import quiet_kernel_arguments
    from .kernels import KernelRelay

    return KernelRelay(status["kernel_name"], cwd=status["notebooks_dir"],
                       extra_arguments=quiet_kernel_arguments(status["kernel_name"]), environment=kernel_environment)


def _run_notebook(run_dir: Path, status: dict[str, Any], name: str, step: str, out_dir: Path, progress: bool, log,
                  relay, more: bool = False) -> None:
    """Execute notebook ``name`` into ``out_dir`` on a kernel of ``relay`` and record it: its
    entry in ``status.json``, its HTML, ``report.md`` and the training warnings so far.
    ``step``: ``[k/n]`` for the log; ``more``: another notebook follows (its kernel starts
    while this one's HTML is written).

    Raises:
        NotebookFailed: the notebook failed (recorded first, see :func:`_record_failure`);
            KeyboardInterrupt as it came, recorded the same way.
    """
    import papermill as pm

    from .report import write_report

    nb, out = Path(status["notebooks_dir"]) / name, out_dir / name
    entry = status["notebooks"][name]
    entry.update(status="running", started=_now())
    _write_status(run_dir, status)
    log(f"{step} {name} -> {out}")
    t0 = time.perf_counter()
    bar = {"desc": f"{step} {nb.stem}", "leave": True} if progress else False
    try:
        km, executed = relay.take(), False
        try:
            pm.execute_notebook(str(nb), str(out), parameters=status["parameters"], kernel_name=status["kernel_name"],
                                cwd=str(nb.parent), progress_bar=bar, report_mode=False, km=km)
            executed = True
        finally:  # papermill leaves a kernel it did not start running: shut it down behind
            relay.hand_back(km, start_next=more and executed, interrupt=not executed)
    except BaseException as err:  # noqa: BLE001 -- recorded, then raised again or as NotebookFailed
        reason = _failure_reason(err)
        entry.update(status="failed", finished=_now(), seconds=round(time.perf_counter() - t0, 1), error=reason)
        _record_failure(run_dir, status, name, out, isinstance(err, KeyboardInterrupt), log)
        if isinstance(err, KeyboardInterrupt):
            raise
        raise NotebookFailed(f"{name} {reason}\nThe executed notebook with the error is kept at {out}",
                             out, run_dir, name) from (None if isinstance(err, pm.PapermillExecutionError) else err)
    entry.update(status="done", finished=_now(), seconds=round(time.perf_counter() - t0, 1))
    alarms = training_warnings(run_dir)
    if alarms:  # e.g. a collapsed stage: loud in the log, the status and the report
        status["warnings"] = alarms
        for line in alarms:
            log(f"WARNING: {line}")
    export_html(out, log)
    _write_status(run_dir, status)
    write_report(run_dir, status)
    log(f"      done in {entry['seconds']:.1f} s")


def _failure_reason(err: BaseException) -> str:
    """What stopped a notebook, as ``status.json`` records it (the failing cell when papermill knows it)."""
    import papermill as pm

    if isinstance(err, pm.PapermillExecutionError):
        return f"failed in cell {err.exec_count}: {err.ename}: {err.evalue}"
    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    return f"failed: {type(err).__name__}: {err}"


def _record_failure(run_dir: Path, status: dict[str, Any], name: str, out: Path, interrupted: bool, log) -> None:
    """Mark the run failed at ``name`` (whose entry already says why): the executed copy's HTML
    (not after an interrupt), ``status.json``, ``report.md``, and the table in the log."""
    from .report import write_report

    if out.is_file() and not interrupted:
        export_html(out, log)
    status["state"] = "failed"
    status["failed"] = name
    _write_status(run_dir, status)
    write_report(run_dir, status)
    log(format_status(status))


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
    start: str | None = None,
    stop: str | None = None,
    kernel_name: str = KERNEL_NAME,
    baselines_alongside: bool | None = None,
) -> Path:
    """Execute the notebooks with papermill; return the run folder.

    Args:
        profile, dataset, seed: the run (passed to every notebook, with ``run_dir``).
        run_name: the folder under ``runs/<dataset>/`` (default ``<profile>-seed<seed>``).
        parameters: any other notebook parameters (``{"iterations": 500}``).
        select, start, stop: which notebooks (see :func:`find_notebooks`).
        notebooks_dir: default: the checkout's ``notebooks/``.
        progress: a progress bar per notebook (cells done, elapsed time).
        log: where the per-notebook lines and the final table go.
        kernel_name: the Jupyter kernel (default ``python3``, this interpreter's ipykernel).
        baselines_alongside: train notebook 05's baselines on a CPU's second core while
            notebooks 02-04 run (:mod:`fgi_core.alongside`); None: the profile's choice.

    Raises:
        NotebookFailed: naming the notebook that failed and where its executed copy is;
            ``status.json`` marks it failed, and :func:`resume_run` starts again from it.
    """
    get_profile(profile)  # fail early on a bad name
    run_dir = default_run_dir(dataset, profile, seed, run_name).resolve()
    notebooks = find_notebooks(notebooks_dir, select, start, stop)
    params = {"profile": profile, "dataset": dataset, "seed": seed, "run_dir": str(run_dir), **(parameters or {})}
    run_dir.mkdir(parents=True, exist_ok=True)
    status = {
        "run_dir": str(run_dir), "profile": profile, "dataset": dataset, "seed": seed,
        "run_name": run_dir.name, "kernel_name": kernel_name, "notebooks_dir": str(notebooks[0].parent.resolve()),
        "parameters": params, "sequence": [p.name for p in notebooks], "state": "pending", "created": _now(),
        "notebooks": {p.name: {"status": "pending"} for p in notebooks},
        "baselines_alongside": baselines_alongside,
    }
    return _execute(run_dir, status, progress, log)


def resume_run(
    run_dir: str | Path,
    parameters: dict[str, Any] | None = None,
    progress: bool = True,
    log=print,
    kernel_name: str | None = None,
    baselines_alongside: bool | None = None,
) -> Path:
    """Start a run again at its failed (or first unfinished) notebook, with its recorded parameters.

    Args:
        run_dir: a folder that ``run_notebooks`` wrote (holds ``status.json``).
        parameters: parameters to change from the recorded ones (e.g. the one that broke it).
        kernel_name: another kernel than the recorded one.
        baselines_alongside: change the recorded choice (see :func:`run_notebooks`).

    Raises:
        FileNotFoundError: no ``status.json``; NotebookFailed: as :func:`run_notebooks`.
    """
    run_dir = Path(run_dir).resolve()
    status = read_status(run_dir)
    params = dict(status["parameters"])
    for key in ("profile", "dataset", "seed", "run_dir"):
        if parameters and key in parameters and parameters[key] != params.get(key):
            raise ValueError(f"cannot change {key} of a run on resume ({params.get(key)!r} -> {parameters[key]!r}): start a new run")
    params.update(parameters or {})
    status["parameters"] = params
    if kernel_name:
        status["kernel_name"] = kernel_name
    if baselines_alongside is not None:
        status["baselines_alongside"] = baselines_alongside
    first = next((n for n in status["sequence"] if status["notebooks"][n]["status"] != "done"), None)
    if first is not None:
        log(f"resuming {run_dir} at {first}")
    return _execute(run_dir, status, progress, log)


# ----------------------------------------------------------------------------------------------
# Sweeps: one run per (dataset, seed), their metrics in one table
# ----------------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """What :func:`sweep` did.

    Attributes:
        folder: ``runs/sweeps/<name>/`` (``summary.csv``, ``summary.md``, ``sweep.json``).
        runs: one dict per run: ``dataset``, ``seed``, ``run_dir``, ``state``, ``failed``.
        failed: the runs that stopped at a failing notebook.
    """

    folder: Path
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["state"] != "complete"]


def sweep(
    seeds: Iterable[int],
    datasets: Iterable[str] = ("synthetic",),
    profile: str = "quick",
    parameters: dict[str, Any] | None = None,
    name: str | None = None,
    select: Iterable[str] | None = None,
    start: str | None = None,
    stop: str | None = None,
    notebooks_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    log=print,
    kernel_name: str = KERNEL_NAME,
) -> SweepResult:
    """Run the sequence for every dataset x seed, then collect each run's metrics into one table.

    Runs go to ``runs/<dataset>/<name>-seed<seed>`` (``name`` defaults to the profile, so a
    sweep's runs are the runs ``fgi run --seed N`` makes). A failing run is recorded and the
    sweep goes on with the next. ``resume=True`` skips complete runs and resumes the others.

    Returns:
        :class:`SweepResult`; the table is ``runs/sweeps/<name>/summary.csv`` (one row per run)
        and ``summary.md`` (the rows, then mean ± std over seeds per dataset).
    """
    from .report import collect_metrics, write_sweep_table

    get_profile(profile)
    seeds, datasets = [int(s) for s in seeds], list(datasets)
    if not seeds or not datasets:
        raise ValueError("a sweep needs at least one seed and one dataset")
    name = name or profile
    folder = runs_root() / "sweeps" / name
    result = SweepResult(folder)
    for dataset in datasets:
        for seed in seeds:
            run_dir = default_run_dir(dataset, profile, seed, f"{name}-seed{seed}").resolve()
            log(f"=== {dataset}, seed {seed}: {run_dir}")
            record = {"dataset": dataset, "seed": seed, "run_dir": str(run_dir), "state": "complete", "failed": None}
            try:
                if resume and (run_dir / STATUS_FILE).is_file():
                    resume_run(run_dir, parameters, progress=progress, log=log, kernel_name=kernel_name)
                else:
                    run_notebooks(profile, dataset, seed, run_dir.name, parameters, select, notebooks_dir, progress, log,
                                  start, stop, kernel_name)
            except NotebookFailed as err:
                log(f"error: {err}")
                record.update(state="failed", failed=err.notebook)
            result.runs.append(record)
    frame = collect_metrics([r["run_dir"] for r in result.runs], extra=result.runs)
    csv_path, md_path = write_sweep_table(frame, folder, title=f"Sweep {name}: profile {profile}")
    write_json(folder / "sweep.json", {"name": name, "profile": profile, "seeds": seeds, "datasets": datasets,
                                        "parameters": parameters or {}, "runs": result.runs, "time_utc": _now()})
    log(f"sweep {name}: {len(result.runs)} run(s), {len(result.failed)} failed. Table: {csv_path} and {md_path}")
    return result
