"""Training stages without a notebook: what notebooks 03 and 04 (and the baselines) train, for
``fgi train`` and for ``torchrun``.

    fgi train teacher student --profile cpu --dataset kvasir                  # one process
    torchrun --nproc_per_node 4 -m fgi_core.cli train teacher student \\
        --profile paper --dataset kvasir                                      # 4 GPUs, DDP

Each stage reads the run folder that notebooks 01-02 (or ``fgi run --to 02``) filled, trains
with :func:`fgi_core.train.fit` into ``<run_dir>/<stage>/`` and resumes from ``last.pt`` by
default, exactly as the notebooks do; running notebooks 03-04 afterwards finds the finished
checkpoints and only shows the results.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

import torch

from .. import distributed
from ..config import fgi_options
from ..options import FGIOptions
from ..registry import look_up_option
from .engine import TrainConfig, fit, load_networks
from .methods import BASELINE_KEYS, build_student, build_teacher, distillation_method, teacher_method, train_baseline, train_config

__all__ = ["STAGES", "train_stages", "split_options"]

#: What ``fgi train`` trains: the FGI teacher (notebook 03, into ``teacher/``), the distilled
#: student (notebook 04, ``student/``) and the baselines of notebook 05 (``baselines/<name>/``).
STAGES = ("teacher", "student", *BASELINE_KEYS)

_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)} - {"seed", "device", "iterations", "progress"}
_FGI_FIELDS = {f.name for f in fields(FGIOptions)}


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``name: value`` overrides into (TrainConfig fields, FGI options).

    Raises:
        ValueError: a name that is neither, listing the allowed ones.
    """
    train_opts, fgi_opts = {}, {}
    for name, value in options.items():
        if name in _TRAIN_FIELDS:
            train_opts[name] = value
        elif name in _FGI_FIELDS:
            fgi_opts[name] = value
        else:
            look_up_option(name, _TRAIN_FIELDS | _FGI_FIELDS, "training option")
    return train_opts, fgi_opts


def _load(ctx, needs_text: bool, ground_truth: bool = False):
    from ..io import read_json
    from .data import load_training_data

    for needed, notebook in (("gaze", "01_gaze_preprocessing"), ("explain", "02_vlm_explanation")):
        if (needed == "gaze" or needs_text) and not (ctx.run_dir / needed / "manifest.json").is_file():
            raise FileNotFoundError(f"no {needed}/ outputs in {ctx.run_dir}: run notebooks/{notebook}.ipynb first "
                                    f"(or `fgi run --to {notebook[:2]}` with the same --profile, --dataset, --seed)")
    done = set(read_json(ctx.run_dir / "gaze" / "manifest.json")["ids"])
    ds, size = ctx.dataset, ctx.profile.image_size
    train = load_training_data(ds, ctx.run_dir, [i for i in ds.split("train") if i in done], size, text=needs_text,
                               ground_truth=ground_truth)
    val = load_training_data(ds, ctx.run_dir, [i for i in ds.split("val") if i in done], size, text=needs_text, ground_truth=True)
    return train, val


def train_stages(
    stages: Iterable[str],
    profile: str = "quick",
    dataset: str = "synthetic",
    data_root: str | None = None,
    gaze_csv: str | None = None,
    run_dir: str | Path | None = None,
    seed: int = 0,
    device: str = "auto",
    max_images: int | None = None,
    iterations: int | None = None,
    resume: bool = True,
    progress: bool = True,
    log=print,
    **options: Any,
) -> dict[str, dict]:
    """Train ``stages`` in order (``teacher`` before ``student``) into the run folder.

    Args:
        stages: names from :data:`STAGES`.
        profile, dataset, data_root, gaze_csv, run_dir, seed, device, max_images: as the
            notebooks' parameters (see :func:`fgi_core.runs.start_stage`).
        iterations: override the profile's iterations (every stage).
        resume: continue from each stage's ``checkpoints/last.pt``.
        options: TrainConfig fields (``batch_size``, ``lr``, ``amp``, ``flips``, ...) and FGI
            options (``teacher_mode``, ``use_afc``, ...), by name.

    Returns:
        ``{stage: summary}`` (the ``summary.json`` of each).

    Raises:
        FileNotFoundError: stage 1-2 outputs missing, or ``student`` with ``teacher_init="stage1"``
            and no trained teacher.
        ValueError: an unknown stage or option.
    """
    from ..runs import start_stage

    stages = [look_up_option(s, STAGES, "stage") for s in stages]
    train_opts, fgi_opts = split_options(options)
    dist_info, _ = distributed.setup(device)  # join the group first: only rank 0 records
    quiet = (lambda *_: None) if not dist_info.is_main else log
    results = {}
    for stage in stages:
        ctx = start_stage(f"train_{stage}", profile=profile, dataset=dataset, data_root=data_root, gaze_csv=gaze_csv,
                          run_dir=str(run_dir) if run_dir else None, seed=seed, device=device, max_images=max_images,
                          split="all", record=dist_info.is_main, iterations=iterations, world_size=dist_info.world_size,
                          **options)
        prof = ctx.profile
        fgi_stage = stage in ("teacher", "student")
        train, val = _load(ctx, needs_text=fgi_stage, ground_truth=stage == "full")
        overrides = {"iterations": iterations} if iterations else {}
        cfg = train_config(prof, "teacher" if stage == "teacher" else "distill", seed=seed, device=ctx.device,
                           progress=progress, **overrides, **train_opts)
        quiet(f"{stage}: {len(train)} train / {len(val)} val images at {prof.image_size} px, {cfg.iterations} iterations, "
              f"global batch {cfg.batch_size} on {dist_info.world_size} process(es), device {ctx.device}")
        if not fgi_stage:  # notebook 05's baselines, with its trainer and folder
            summary = train_baseline(stage, prof, train, val, ctx.run_dir / "baselines" / stage, seed=seed, device=ctx.device,
                                     resume=resume, progress=progress, **overrides, **train_opts)
        else:
            channels = train.images.shape[1]
            torch.manual_seed(seed)
            opts = fgi_options(prof, **fgi_opts)
            teacher = build_teacher(prof, channels, train.text_dim, fusion=opts.fusion)
            if stage == "teacher":
                method = teacher_method(teacher, opts)
            else:
                student = build_student(prof, channels)
                if opts.teacher_init == "stage1":
                    load_networks(ctx.run_dir / "teacher", {"teacher": teacher}, "best")  # names notebook 03 if missing
                method = distillation_method(teacher, student, opts)
            summary = fit(method, train, val, ctx.run_dir / stage, cfg, resume=resume)
        dice = summary["best_val_dice"]
        quiet(f"{stage}: best validation Dice {'n/a' if dice is None else f'{dice:.3f}'} at iteration "
              f"{summary['best_iteration']}; {summary['seconds_per_iteration']:.3f} s per iteration")
        results[stage] = summary
    return results
