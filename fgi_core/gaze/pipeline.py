"""The whole gaze stage over a dataset: fixations -> heatmap -> refined map -> M_hc, M_bc.

Writes, under ``<run_dir>/gaze/``::

    params.json              what produced the maps (sigma, thresholds, refinement + params)
    fixations_report.json    the fixation reader's report (dropped rows, unmatched ids)
    heatmap/<id>.png         uint16 PNG, value / 65535 = heatmap in [0, 1] (step 1.5e-5)
    refined/<id>.png         uint16 PNG, likewise for the refined map
    m_hc/<id>.png, m_bc/<id>.png   uint8 PNG, 0 or 255 (lossless; never JPEG)
    quality.csv              per image: Dice / precision / recall of each pseudo-mask vs truth
    quality.json             their means and standard deviations
    manifest.json            written last: ids, counts, timings; its presence marks completion

Per-image files are written atomically, so an interrupted stage resumes where it stopped
(images whose four files exist are skipped when ``params.json`` matches).

Masks of the ground truth are read only to score the pseudo-masks (``quality.*``); nothing
derived from them enters the maps, unless the gaze itself is simulated (flagged ``simulated``).
"""
from __future__ import annotations

import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..config import DatasetPreset
from ..evaluate import overlap_scores
from ..io import atomic_path, read_json, read_png, write_json, write_png
from .fixations import image_size_for, points_for, read_fixations
from .heatmap import heatmap
from .masks import pseudo_masks
from .refine import refine, refine_params, resolve_refine_method

__all__ = ["GazeStageResult", "run_gaze_stage", "load_gaze_maps", "gaze_maps_for", "missing_gaze_message", "MAP_NAMES"]

MAP_NAMES = ("heatmap", "refined", "m_hc", "m_bc")
_U16 = 65535.0


@dataclass
class GazeStageResult:
    """What :func:`run_gaze_stage` made.

    Attributes:
        gaze_dir: ``<run_dir>/gaze``.
        ids: images processed, in order.
        quality: per-image scores (DataFrame indexed by id; empty without ground truth).
        summary: ``quality.json`` content (means / stds per mask and source).
        params: ``params.json`` content.
        report: the fixation reader's report.
        seconds: wall time per step summed over images (heatmap, refine, write).
    """

    gaze_dir: Path
    ids: list[str]
    quality: pd.DataFrame
    summary: dict[str, Any]
    params: dict[str, Any]
    report: Any
    seconds: dict[str, float]


def gaze_maps_for(image_rgb: np.ndarray, points: np.ndarray, preset: DatasetPreset, refine_method: str = "auto", **refine_kwargs) -> dict[str, np.ndarray]:
    """The four maps of one image.

    Args:
        image_rgb: uint8 H x W x 3.
        points: N x 3 fixations (x, y normalised, duration ms).
        preset: gives sigma, t_hc and t_bc.

    Returns:
        ``{"heatmap", "refined"}`` float32 H x W in [0, 1] and ``{"m_hc", "m_bc"}`` uint8 {0, 1}.
    """
    h, w = image_rgb.shape[:2]
    heat = heatmap(points, h, w, sigma=preset.sigma)
    refined = refine(image_rgb, heat, method=refine_method, **refine_kwargs)
    m_hc, m_bc = pseudo_masks(refined, preset.t_hc, preset.t_bc)
    return {"heatmap": heat, "refined": refined, "m_hc": m_hc, "m_bc": m_bc}


def _quality_row(maps: dict[str, np.ndarray], gt: np.ndarray, preset: DatasetPreset) -> dict[str, float]:
    row: dict[str, float] = {"gt_fraction": float(gt.mean())}
    for source in ("heatmap", "refined"):
        for level, t in (("hc", preset.t_hc), ("bc", preset.t_bc)):
            scores = overlap_scores(maps[source] >= t, gt)
            row.update({f"{source}_{level}_{k}": v for k, v in scores.items() if k != "iou"})
    return row


# Per-process state for the worker pool (set once per process, not pickled per image).
_WORKER: dict[str, Any] = {}


def _init_worker(state: dict[str, Any]) -> None:
    _WORKER.clear()
    _WORKER.update(state)


def _process_one(image_id: str) -> tuple[str, dict[str, float] | None, dict[str, float]]:
    s = _WORKER
    ds, gaze_dir, preset = s["dataset"], s["gaze_dir"], s["preset"]
    done = all((gaze_dir / name / f"{image_id}.png").is_file() for name in MAP_NAMES)
    timing = {"heatmap": 0.0, "refine": 0.0, "write": 0.0}
    if done and not s["overwrite"]:
        maps = load_gaze_maps(gaze_dir.parent, image_id)
    else:
        image = ds.image_rgb(image_id)
        if image.shape[:2] != s["sizes"][image_id]:
            raise ValueError(
                f"image {image_id!r}: the gaze CSV says {s['sizes'][image_id][0]} x {s['sizes'][image_id][1]} "
                f"(H x W) but the image is {image.shape[0]} x {image.shape[1]}; the fixations belong to another size"
            )
        t0 = time.perf_counter()
        heat = heatmap(s["points"][image_id], *image.shape[:2], sigma=preset.sigma)
        t1 = time.perf_counter()
        refined = refine(image, heat, method=s["refine_method"], **s["refine_kwargs"])
        t2 = time.perf_counter()
        m_hc, m_bc = pseudo_masks(refined, preset.t_hc, preset.t_bc)
        maps = {"heatmap": heat, "refined": refined, "m_hc": m_hc, "m_bc": m_bc}
        for name in ("heatmap", "refined"):
            write_png(gaze_dir / name / f"{image_id}.png", np.rint(maps[name] * _U16).astype(np.uint16))
        for name in ("m_hc", "m_bc"):
            write_png(gaze_dir / name / f"{image_id}.png", maps[name] * np.uint8(255))
        timing = {"heatmap": t1 - t0, "refine": t2 - t1, "write": time.perf_counter() - t2}
    gt = ds.mask(image_id) if s["score"] else None
    return image_id, (None if gt is None else _quality_row(maps, gt, preset)), timing


def load_gaze_maps(run_dir: str | Path, image_id: str) -> dict[str, np.ndarray]:
    """Read one image's maps from ``<run_dir>/gaze``: heatmap / refined float32, masks uint8 {0, 1}.

    Raises:
        FileNotFoundError: naming the missing file and the notebook that makes it.
    """
    gaze_dir = Path(run_dir) / "gaze"
    out = {}
    for name in MAP_NAMES:
        path = gaze_dir / name / f"{image_id}.png"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run notebooks/01_gaze_preprocessing.ipynb (or `fgi gaze`) for this run first")
        arr = read_png(path)
        out[name] = (arr.astype(np.float32) / _U16) if name in ("heatmap", "refined") else (arr > 127).astype(np.uint8)
    return out


def run_gaze_stage(
    dataset,
    run_dir: str | Path,
    ids: Iterable[str] | None = None,
    gaze_csv: str | Path | None = None,
    refine_method: str = "auto",
    refine_kwargs: dict[str, Any] | None = None,
    preset: DatasetPreset | None = None,
    strict: bool = True,
    workers: int = 0,
    overwrite: bool = False,
    score: bool = True,
    progress: bool = True,
    skip_missing: bool = False,
) -> GazeStageResult:
    """Run the gaze stage on ``ids`` of ``dataset`` and write everything to ``<run_dir>/gaze``.

    Args:
        dataset: a :class:`fgi_core.data.SegmentationDataset`.
        run_dir: the run folder.
        ids: images to process (default: all of the dataset, in its order).
        gaze_csv: fixation CSV (default: ``dataset.gaze_csv(run_dir / "gaze")``; simulated
            datasets write theirs there).
        refine_method: ``auto`` / ``crf`` / ``guided`` / ``none`` (recorded as resolved).
        refine_kwargs: parameter overrides for the refinement.
        preset: sigma and thresholds (default: the dataset's preset).
        strict: passed to :func:`read_fixations`.
        workers: processes for the per-image work (0 = this process).
        overwrite: recompute images whose maps exist already.
        score: compute quality against ground truth where the dataset has masks.
        progress: show a progress bar.
        skip_missing: leave out images without fixations (listed in the report and in
            ``fixations_report.json``) instead of stopping.

    Raises:
        KeyError: an image has no fixations (names the ids), unless ``skip_missing``; nothing
            is silently skipped. A failure before the first image is processed removes the
            folders this call created (a half-made ``gaze/`` would look like a result); one
            during the images keeps what is done (no ``manifest.json``: a rerun resumes).
    """
    preset = preset or dataset.preset
    run_dir = Path(run_dir)
    gaze_dir = run_dir / "gaze"
    created = _folders_to_create(gaze_dir)
    try:
        ids = list(dataset.ids if ids is None else ids)
        for i in ids:
            dataset.check_id(i)
        csv = Path(gaze_csv) if gaze_csv is not None else dataset.gaze_csv(gaze_dir)
        frame, report = read_fixations(csv, image_ids=ids, strict=strict)
        if report.images_without_fixations:
            if not skip_missing or len(report.images_without_fixations) == len(ids):
                raise KeyError(missing_gaze_message(csv, ids, report, "leave these images out (`fgi gaze --lenient` skips "
                                                                      "them; from Python: ids= without them)"))
            left_out = set(report.images_without_fixations)
            ids = [i for i in ids if i not in left_out]
        gaze_dir.mkdir(parents=True, exist_ok=True)
        return _run_stage(dataset, gaze_dir, ids, csv, frame, report, refine_method, refine_kwargs, preset, workers,
                          overwrite, score, progress)
    except BaseException:
        if created and not (gaze_dir / "params.json").is_file():
            shutil.rmtree(created[0], ignore_errors=True)
        raise


def missing_gaze_message(csv: str | Path, ids: list[str], report, what_to_do: str) -> str:
    """Why the images ``report.images_without_fixations`` (of ``ids``) stop the stage, and what to do.

    When none of the images has gaze, the file's names are shown beside the images' ids: the
    usual cause is an ``IMAGE`` column that names other files.
    """
    missing = report.images_without_fixations
    shown = ", ".join(missing[:5]) + (f", ... (+{len(missing) - 5} more)" if len(missing) > 5 else "")
    if len(missing) == len(ids) and report.ids_without_image:
        return (f"none of the {len(ids)} images has fixations in {csv}: the file's IMAGE column names "
                f"{', '.join(report.ids_without_image[:3])} ... (without extension), the images are {shown}. "
                f"IMAGE must be each image's file name")
    return (f"{len(missing)} of {len(ids)} images have no fixations in {csv}: {shown}. Every image needs gaze: "
            f"add their fixations to the CSV, or {what_to_do}")


def _folders_to_create(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, outermost first."""
    missing = []
    for f in (folder, *folder.parents):
        if f.exists():
            break
        missing.append(f)
    return missing[::-1]


def _run_stage(dataset, gaze_dir: Path, ids: list[str], csv: Path, frame: pd.DataFrame, report, refine_method: str,
               refine_kwargs: dict[str, Any] | None, preset: DatasetPreset, workers: int, overwrite: bool, score: bool,
               progress: bool) -> GazeStageResult:
    method = resolve_refine_method(refine_method)
    params = _stage_params(dataset, csv, preset, method, refine_kwargs)
    params_path = gaze_dir / "params.json"
    if params_path.is_file() and read_json(params_path) != params:
        overwrite = True  # maps made with other settings must not be mixed with new ones
    write_json(params_path, params)
    write_json(gaze_dir / "fixations_report.json", report.to_dict())
    (gaze_dir / "manifest.json").unlink(missing_ok=True)

    state = {
        "dataset": dataset,
        "gaze_dir": gaze_dir,
        "preset": preset,
        "points": {i: points_for(frame, i) for i in ids},
        "sizes": {i: image_size_for(frame, i) for i in ids},
        "refine_method": method,
        "refine_kwargs": refine_kwargs or {},
        "overwrite": overwrite,
        "score": score,
    }
    start = time.perf_counter()
    rows, timings = _process_images(ids, state, workers, progress, f"gaze stage ({method})")
    wall = time.perf_counter() - start

    quality, summary = _write_quality(gaze_dir, rows, len(ids), method, params["simulated"])
    write_json(gaze_dir / "manifest.json", {"ids": ids, "seconds_wall": wall, "seconds_per_step": timings, "workers": workers, "params": params})
    return GazeStageResult(gaze_dir, ids, quality, summary, params, report, {**timings, "wall": wall})


def _stage_params(dataset, csv: Path, preset: DatasetPreset, method: str, refine_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """What ``params.json`` records: the gaze source, the preset's sigma and thresholds, the refinement."""
    return {
        "dataset": dataset.name,
        "modality": dataset.modality,
        "gaze_source": "simulated" if dataset.simulated_gaze else "recorded",
        "simulated": bool(dataset.simulated_gaze),
        "gaze_csv": str(csv),
        "sigma": preset.sigma,
        "t_hc": preset.t_hc,
        "t_bc": preset.t_bc,
        "heatmap": "reference recipe, separable exact form (fgi_core.gaze.heatmap)",
        "refine_method": method,
        "refine_params": refine_params(method, **(refine_kwargs or {})),
        "storage": "heatmap/refined: uint16 PNG (value/65535); m_hc/m_bc: uint8 PNG 0/255",
    }


def _process_images(ids: list[str], state: dict[str, Any], workers: int, progress: bool,
                    desc: str) -> tuple[dict[str, dict[str, float] | None], dict[str, float]]:
    """Run :func:`_process_one` on every id, in ``workers`` processes (0: here).

    Returns:
        ``(rows, timings)``: id -> its quality row (None when not scored), and the seconds per
        step summed over the images.
    """
    from ..progress import tqdm

    rows, timings = {}, {"heatmap": 0.0, "refine": 0.0, "write": 0.0}
    with tqdm(total=len(ids), desc=desc, disable=not progress, unit="img") as bar:  # closed on errors too
        if workers and workers > 0 and len(ids) > 1:
            with ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=_init_worker, initargs=(state,)) as pool:
                results = pool.map(_process_one, ids, chunksize=max(1, len(ids) // (workers * 8)))
                try:
                    for image_id, row, timing in results:
                        rows[image_id] = row
                        for k in timings:
                            timings[k] += timing[k]
                        bar.update()
                except BaseException:  # stop now: the images not started yet would only delay the error
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        else:
            _init_worker(state)
            for image_id in ids:
                _, rows[image_id], timing = _process_one(image_id)
                for k in timings:
                    timings[k] += timing[k]
                bar.update()
    return rows, timings


def _write_quality(gaze_dir: Path, rows: dict[str, dict[str, float] | None], n_images: int, method: str,
                   simulated: bool) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``quality.csv`` (the scored images, where any) and ``quality.json`` (their means and stds)."""
    scored = {i: r for i, r in rows.items() if r is not None}
    quality = pd.DataFrame.from_dict(scored, orient="index")
    quality.index.name = "id"
    summary: dict[str, Any] = {"images": n_images, "images_scored": len(scored), "refine_method": method, "simulated": simulated}
    if len(quality):
        with atomic_path(gaze_dir / "quality.csv") as tmp:
            quality.to_csv(tmp)
        summary["mean"] = quality.mean().to_dict()
        summary["std"] = quality.std(ddof=0).to_dict()
    write_json(gaze_dir / "quality.json", summary)
    return quality, summary
