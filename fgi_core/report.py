"""What a run folder says about itself: its metrics in one flat dict, ``report.md``, and sweep tables.

* :func:`run_metrics` reads what the stages wrote (``gaze/quality.json``, each training stage's
  ``summary.json``, ``eval/summary.json``) into ``{column: value}``;
* :func:`write_report` writes ``report.md``: the run's parameters and environment, each executed
  notebook with its status and time (linked, with its HTML rendering), the metrics table and
  every figure, by stage; a ``quick`` run says first that it is a smoke test;
* :func:`collect_metrics` and :func:`write_sweep_table` make one table of many runs.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from .io import atomic_path, atomic_write_text, read_json

__all__ = ["run_metrics", "write_report", "smoke_test_note", "collect_metrics", "write_sweep_table", "STAGE_FOLDERS"]

#: Stage folders of a run, in the data's order (figures are looked for in these).
STAGE_FOLDERS = ("gaze", "explain", "teacher", "student", "baselines", "eval", "interpret")


def _training_folders(run_dir: Path) -> list[tuple[str, Path]]:
    """(column prefix, folder) of every trained stage: teacher, student, baselines/<name>."""
    found = [(s, run_dir / s) for s in ("teacher", "student")]
    if (run_dir / "baselines").is_dir():
        found += [(f"baseline_{p.name}", p) for p in sorted((run_dir / "baselines").iterdir()) if p.is_dir()]
    return found


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _column(name: str) -> str:
    """A method's display name as a column-name part: ``"UNet, ground truth"`` -> ``unet_ground_truth``."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def run_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The run's headline numbers, one column each (missing stages are simply absent).

    Columns: ``gaze_m_hc_dice``, ``gaze_m_bc_dice`` (pseudo-masks vs ground truth);
    per training stage (``teacher``, ``student``, ``baseline_<name>``) ``<stage>_val_dice`` (best
    validation Dice), ``<stage>_best_iteration``, ``<stage>_iterations``, ``<stage>_s_per_it``; per evaluated method ``eval_<method>_<metric>``
    (mean over images of dice, iou, hd95, asd; the method's name lower-cased, ``_`` between words).
    """
    run_dir = Path(run_dir)
    out: dict[str, Any] = {}
    quality = _read(run_dir / "gaze" / "quality.json")
    if quality and "mean" in quality:
        for level in ("hc", "bc"):
            if f"refined_{level}_dice" in quality["mean"]:
                out[f"gaze_m_{level}_dice"] = quality["mean"][f"refined_{level}_dice"]
    for stage, folder in _training_folders(run_dir):
        summary = _read(folder / "summary.json")
        if summary and "best_val_dice" in summary:
            out[f"{stage}_val_dice"] = summary["best_val_dice"]
            out[f"{stage}_best_iteration"] = summary.get("best_iteration")
            out[f"{stage}_iterations"] = summary.get("iterations_done")
            out[f"{stage}_s_per_it"] = summary.get("seconds_per_iteration")
    evaluation = _read(run_dir / "eval" / "summary.json")
    if evaluation and isinstance(evaluation.get("methods"), dict):
        for method, metrics in evaluation["methods"].items():
            for metric in ("dice", "iou", "hd95", "asd"):
                value = metrics.get(metric, {})
                if isinstance(value, dict) and "mean" in value:
                    out[f"eval_{_column(method)}_{metric}"] = value["mean"]
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _figures(run_dir: Path) -> list[tuple[str, list[Path]]]:
    found = []
    for stage in STAGE_FOLDERS:
        folder = run_dir / stage
        if folder.is_dir():
            # the stage's figures, not its per-image maps (gaze/refined/*.png are data, not figures)
            nested = "*/*.png" if stage == "baselines" else "figures/*.png"
            pngs = sorted(folder.glob("*.png")) + sorted(folder.glob(nested))
            if pngs:
                found.append((stage, pngs))
    return found


def smoke_test_note(run_dir: Path, profile: str | None) -> list[str]:
    """The warning a ``quick`` run's report starts with (empty for other profiles)."""
    if profile != "quick":
        return []
    evaluation = _read(run_dir / "eval" / "summary.json") or {}
    n_val = evaluation.get("n_images")
    images = f"{n_val} validation images" if n_val else "a handful of validation images"
    return ["> **Smoke test, not results.** The `quick` profile trains tiny networks for a few dozen iterations "
            f"on small synthetic images and scores them on {images}: it checks that every stage runs end to end. "
            "Its numbers vary from run to run and can rank the methods in any order; do not read them as results. "
            "Real-data results (Kvasir-SEG, `cpu` profile) are shipped in the repository's "
            "`benchmarks/results/kvasir_cpu.json`.", ""]


def write_report(run_dir: str | Path, status: Mapping[str, Any] | None = None) -> Path:
    """Write ``<run_dir>/report.md`` (atomically) and return its path.

    ``status`` is the run's ``status.json`` content (read from the folder when None; a folder
    without one gets a report of its metrics and figures only). Links are relative, so the
    report reads the same on GitHub, in JupyterLab and after the folder is copied elsewhere.
    """
    run_dir = Path(run_dir)
    if status is None and (run_dir / "status.json").is_file():
        status = read_json(run_dir / "status.json")
    env = _read(run_dir / "env.json") or {}
    lines = [f"# Run `{run_dir.parent.name}/{run_dir.name}`", ""]
    profile = (status or {}).get("profile") or ((status or {}).get("parameters") or {}).get("profile")
    lines += smoke_test_note(run_dir, profile)
    if status and status.get("warnings"):
        lines += ["> **Warning** -- training reported a problem; read the stage's log before trusting its numbers:", ">"]
        lines += [f"> - {w}" for w in status["warnings"]] + [""]
    if status:
        lines += [f"State: **{status.get('state', '?')}** (updated {status.get('updated', '?')})", ""]
        params = status.get("parameters", {})
        lines += ["Parameters: " + ", ".join(f"`{k}={v!r}`" for k, v in params.items() if k != "run_dir"), ""]
    if env:
        acc = env.get("accelerators") or {}  # None until a stage that imports torch has run
        gpus = ", ".join(g["name"] for g in acc.get("gpus", [])) or "none"
        pkgs = env.get("packages", {})
        lines += [f"Environment: device `{env.get('device')}`, GPUs: {gpus}, torch {pkgs.get('torch')}, "
                  f"Python {env.get('python')}, git commit `{env.get('git_commit')}` (details: [env.json](env.json), "
                  f"parameters per notebook: [config.json](config.json))", ""]
    if status:
        lines += ["## Notebooks", "", "| notebook | read it | status | seconds | error |", "|---|---|---|---|---|"]
        for name in status["sequence"]:
            entry = status["notebooks"][name]
            link = f"[{name}](notebooks/{name})" if (run_dir / "notebooks" / name).is_file() else name
            html = Path(name).with_suffix(".html").name
            read = f"[HTML](notebooks/{html})" if (run_dir / "notebooks" / html).is_file() else "-"
            seconds = "-" if entry.get("seconds") is None else f"{entry['seconds']:.1f}"
            error = (entry.get("error") or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {link} | {read} | {entry['status']} | {seconds} | {error} |")
        lines.append("")
    metrics = run_metrics(run_dir)
    lines += ["## Metrics", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_cell(v)} |" for k, v in metrics.items()] + [""]
    else:
        lines += ["(no stage has written its numbers yet)", ""]
    table = run_dir / "eval" / "table.md"
    if table.is_file():
        lines += ["### Evaluation ([eval/table.md](eval/table.md))", "", table.read_text().strip(), ""]
    figures = _figures(run_dir)
    if figures:
        lines += ["## Figures", ""]
        for stage, pngs in figures:
            lines += [f"### {stage}", ""]
            for png in pngs:
                rel = png.relative_to(run_dir).as_posix()
                lines += [f"![{rel}]({rel})", ""]
    path = run_dir / "report.md"
    atomic_write_text(path, "\n".join(lines).rstrip() + "\n")
    return path


def collect_metrics(run_dirs: Iterable[str | Path], extra: Iterable[Mapping[str, Any]] | None = None):
    """One row per run: ``extra`` fields (dataset, seed, state...) then :func:`run_metrics`.

    Returns:
        a pandas DataFrame (columns in first-seen order).
    """
    import pandas as pd

    run_dirs = [Path(r) for r in run_dirs]
    extras = list(extra) if extra is not None else [{"run_dir": str(r)} for r in run_dirs]
    if len(extras) != len(run_dirs):
        raise ValueError(f"{len(extras)} extra rows for {len(run_dirs)} runs")
    return pd.DataFrame([{**e, **run_metrics(r)} for r, e in zip(run_dirs, extras)])


def write_sweep_table(frame, folder: str | Path, title: str = "Sweep", group: str = "dataset") -> tuple[Path, Path]:
    """Write ``summary.csv`` (the rows) and ``summary.md`` (rows, then mean ± std per ``group``).

    Returns:
        the two paths.
    """
    import pandas as pd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = folder / "summary.csv", folder / "summary.md"
    with atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)
    shown = [c for c in frame.columns if c != "run_dir"]
    lines = [f"# {title}", "", "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_cell(None if pd.isna(row[c]) else row[c]) if not isinstance(row[c], str) else row[c]
                                       for c in shown) + " |")
    numeric = [c for c in frame.columns if c not in ("seed",) and pd.api.types.is_numeric_dtype(frame[c])]
    if group in frame.columns and numeric:
        lines += ["", f"## Mean ± std over runs, per {group}", "", "| " + " | ".join([group, "runs", *numeric]) + " |",
                  "|" + "---|" * (len(numeric) + 2)]
        for key, part in frame.groupby(group, sort=False):
            cells = []
            for c in numeric:
                values = part[c].dropna().astype(float)
                cells.append("-" if values.empty else f"{values.mean():.4g} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.2g}")
            lines.append("| " + " | ".join([str(key), str(len(part)), *cells]) + " |")
    atomic_write_text(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path
