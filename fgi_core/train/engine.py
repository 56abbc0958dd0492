"""The training loop shared by every method: batches, optimiser, schedule, logging, validation,
checkpoints and resume.

A *method* (teacher, distillation, a baseline) says only three things: which networks it
trains, what its loss is for a batch, and which network's prediction is validated. The loop does
the rest, the same way for all, so that methods differ only where the paper says they do.

Output folder (``<run_dir>/<stage>/``)::

    checkpoints/last.pt    everything needed to continue (weights, optimiser, schedule, RNG
                           states, batch order, log); written atomically every ``ckpt_every``
    checkpoints/best.pt    weights at the best validation Dice
    log.csv                iteration, losses, learning rate, seconds, validation Dice
    curves.png             losses and validation Dice
    summary.json           best validation Dice and its iteration, seconds per iteration, the
                           precision used, each network's output activation, warnings

Both checkpoints name their networks (:func:`network_checkpoint`): ``networks`` (state dicts),
``activations`` and ``models`` (``{name: {"kind": ..., "args": {...}}}``, the ``model_spec`` of
each network built by :func:`fgi_core.models.create_model`), from which
:func:`fgi_core.predict.load_predictor` rebuilds them.

``resume=True`` continues from ``last.pt`` and ends at the same weights as an uninterrupted run
on the CPU (batch order, flips, DARM / CutMix draws and the optimiser state are all restored).

Devices: ``device="auto"`` picks CUDA, then MPS, then the CPU. Precision: ``amp="auto"`` runs
the forward passes under bf16 autocast on CUDA, and on a CPU only where it has native bf16
(AVX-512 BF16 / AMX: :func:`fgi_core.config.resolve_amp`); elsewhere bf16 autocast is about 20x
slower than fp32, so ``auto`` trains in fp32 there. The decision is printed once and recorded
in ``summary.json``. Launched by ``torchrun`` with several processes, the same
``fit`` trains data-parallel with ``DistributedDataParallel`` (:mod:`fgi_core.distributed`):
``batch_size`` stays the global batch, each rank takes its share, gradients are averaged, and
only rank 0 writes. ``summary.json`` records the world size and, on CUDA, the peak GPU memory.
"""
from __future__ import annotations

import csv
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .. import distributed
from ..config import TrainSettings, resolve_amp
from ..registry import look_up_option
from ..io import atomic_path, read_json, write_json
from ..metrics.overlap import dice_per_image
from ..models.readout import foreground
from ..plots.training import plot_curves
from .data import BatchSampler, TrainingData, flip_batch

__all__ = ["TrainConfig", "Method", "fit", "validation_dice", "validation_scores", "load_networks",
           "network_checkpoint", "StaleCheckpointError", "COLLAPSE_RULE"]

#: A validation counts as collapsed when its Dice is under ``dice`` or more than ``empty`` of the
#: images get an empty prediction; ``patience`` such validations in a row raise the alarm. The
#: first ``grace`` of the run does not count: every network starts by predicting nothing, and on
#: real Kvasir-SEG at the ``cpu`` protocol a healthy UNet leaves that start after 300-400 of its
#: 4,000 iterations (docs/results.md); an alarm there would be a false one.
COLLAPSE_RULE = {"dice": 0.05, "empty": 0.9, "patience": 3, "grace": 0.15}


class StaleCheckpointError(ValueError):
    """Resuming a stage whose checkpoint was trained with other options than the ones asked for."""


@dataclass(frozen=True)
class TrainConfig(TrainSettings):
    """Optimisation settings shared by all methods (profiles set them; docs/method.md §7).

    The fields a profile fixes (``batch_size``, ``optimizer``, ``lr``, ``lr_min``,
    ``weight_decay``, ``val_every``, ``ckpt_every``, ``amp``, ``lr_schedule``) are
    :class:`fgi_core.config.TrainSettings`' (keyword-only); the others belong to one run.

    Attributes:
        iterations: optimiser steps.
        batch_size: images per step.
        optimizer: ``sgd`` (Nesterov, momentum; the paper) or ``adamw``.
        lr, lr_min: start and end of the half-cosine schedule.
        weight_decay, momentum: optimiser settings.
        val_every, ckpt_every, log_every: intervals in iterations (the last iteration always
            validates and checkpoints).
        seed: seeds every random draw of the run.
        device: ``auto``, ``cpu``, ``cuda``...
        amp: ``auto`` (bf16 autocast on CUDA and on CPUs with native bf16, else fp32), ``bf16``
            (always; slow on CPUs without native support) or ``off``.
        lr_schedule: the half-cosine advances per ``iteration`` (default) or per ``epoch``
            (the authors' code: the rate changes at each epoch's start, epochs of
            ``ceil(N / batch_size)`` iterations, over ``iterations // epoch + 1`` epochs).
        collapse: what to do when validation collapses (:data:`COLLAPSE_RULE`): ``warn``
            (a warning in the log and ``summary.json``), ``stop`` (also end training) or ``off``.
        flips: random flips on both axes.
        progress: show a progress bar.
        data_parallel: under ``torchrun`` with ``WORLD_SIZE > 1``, train data-parallel
            (DistributedDataParallel; ``batch_size`` is the global batch and must divide by the
            world size). False: every process trains alone.
    """

    iterations: int = 100
    momentum: float = 0.9
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    flips: bool = True
    progress: bool = True
    data_parallel: bool = True
    collapse: str = "warn"

    def __post_init__(self) -> None:
        super().__post_init__()  # optimizer, amp, lr_schedule
        look_up_option(self.collapse, ("warn", "stop", "off"), "collapse")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError(f"iterations and batch_size must be >= 1, got {self.iterations}, {self.batch_size}")


@dataclass
class Method:
    """What a training method is, for :func:`fit`.

    Attributes:
        name: stage name (also the output folder, e.g. ``teacher``, ``student``, ``unet_m_hc``).
        networks: the modules this method holds (all saved in checkpoints).
        trainable: names of the networks the optimiser updates.
        loss: ``loss(batch, iteration, generator) -> dict`` with a ``total`` tensor and any
            float-able parts to log.
        predict: ``predict(batch) -> logits`` B x K x H x W of the network whose validation
            Dice selects the best checkpoint (network ``validated``).
        needs: batch keys the loss uses (checked against the data before training starts).
        config: method options, recorded in ``summary.json``; a resume must ask for the same.
        activations: how each network's output is read (``softmax`` or ``sigmoid``, see
            :func:`fgi_core.models.foreground_probability`); saved in checkpoints.
        validated: the network ``predict`` runs (its activation reads the validation output).
    """

    name: str
    networks: dict[str, nn.Module]
    trainable: list[str]
    loss: Callable[[dict, int, torch.Generator], dict]
    predict: Callable[[dict], torch.Tensor]
    needs: tuple[str, ...] = ("image",)
    config: dict[str, Any] = field(default_factory=dict)
    activations: dict[str, str] = field(default_factory=dict)
    validated: str | None = None

    @property
    def activation(self) -> str:
        """The activation of the validated network's output (``softmax`` when not recorded)."""
        return self.activations.get(self.validated, "softmax") if self.validated else "softmax"


def _autocast(device: str, amp: str):
    kind = device.split(":")[0]
    # "bf16" / "off" as given (fit passes its resolved choice, so the step never re-asks the CPU)
    enabled = amp == "bf16" or (amp == "auto" and resolve_amp(amp, device)[0] == "bf16")
    return torch.autocast(device_type=kind if kind in ("cuda", "cpu") else "cpu", dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def validation_scores(method: Method, data: TrainingData, cfg: TrainConfig, device: str,
                      dist_info: distributed.DistInfo | None = None) -> dict[str, float]:
    """Mean per-image Dice of ``method.predict`` against ``data.gt`` at training size, and the
    share of images predicted empty: ``{"dice": ..., "empty": ...}``.

    The output is read with ``method.activation``. Both empty counts as Dice 1 (the convention
    of :mod:`fgi_core.metrics.overlap`, :func:`~fgi_core.metrics.dice_per_image`). With ``dist_info`` of several ranks, each scores images
    ``rank, rank + W, ...`` and the sums are added up, so every rank returns the same means.
    """
    if data.gt is None:
        raise ValueError("validation needs ground truth: load the validation split with ground_truth=True")
    dist_info = dist_info or distributed.DistInfo()
    for net in method.networks.values():
        net.eval()
    mine = torch.arange(dist_info.rank, len(data), dist_info.world_size)
    total_dice = torch.zeros((), dtype=torch.float64, device=device)
    empty = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, len(mine), cfg.batch_size):
        batch = data.batch(mine[start : start + cfg.batch_size], device)
        with _autocast(device, cfg.amp):
            pred = foreground(method.predict(batch), method.activation)
        total_dice += dice_per_image(pred, batch["gt"].bool()).double().sum()
        empty += (pred.flatten(1).sum(1) == 0).double().sum()
    for name in method.trainable:
        method.networks[name].train()
    sums = distributed.all_reduce_sum(torch.stack([total_dice, empty, torch.tensor(float(len(mine)), dtype=torch.float64, device=device)]).cpu(), dist_info)
    n = sums[2].clamp(min=1)
    return {"dice": float(sums[0] / n), "empty": float(sums[1] / n)}


def validation_dice(method: Method, data: TrainingData, cfg: TrainConfig, device: str,
                    dist_info: distributed.DistInfo | None = None) -> float:
    """Mean per-image Dice of :func:`validation_scores` (the number that selects checkpoints)."""
    return validation_scores(method, data, cfg, device, dist_info)["dice"]


def _optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    # foreach: one multi-tensor update per step instead of a loop over the parameters (torch
    # picks it on CUDA by itself, not on the CPU): bit-identical parameters (checked after 6
    # joint steps, AdamW and SGD), and a quick-profile UNet step 0.061 -> 0.055 s on 2 AVX2 cores.
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                               weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def _schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, epoch_length: int = 1) -> torch.optim.lr_scheduler.LambdaLR:
    floor = cfg.lr_min / cfg.lr
    horizon = cfg.lr_horizon or cfg.iterations  # a run shorter than its horizon stops part-way down the cosine
    if cfg.lr_schedule == "epoch":  # the authors' code: cosine over epochs, set at each epoch's start
        total = horizon // epoch_length + 1

        def position(step: int) -> float:
            return min(step // epoch_length, total) / total
    else:
        def position(step: int) -> float:
            return min(step, horizon) / horizon

    def factor(step: int) -> float:  # half-cosine from lr to lr_min over the run
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * position(step)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def network_checkpoint(method: Method) -> dict[str, Any]:
    """What every checkpoint holds about ``method``'s networks: ``networks`` (name -> state dict),
    ``activations`` and ``models`` (name -> ``model_spec``, for each network that has one: those
    built by :func:`fgi_core.models.create_model`)."""
    nets = method.networks
    return {"networks": {n: m.state_dict() for n, m in nets.items()}, "activations": method.activations,
            "models": {n: m.model_spec for n, m in nets.items() if getattr(m, "model_spec", None)}}


def _save(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def warn_once(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn ``message`` under the name ``fgi_core.train`` rather than a caller's file: in a
    notebook that file is the kernel's temporary cell file, a path that means nothing to a reader.
    Shown once, as ``fgi_core.train: CollapseWarning: ...`` (no second printed copy)."""
    warnings.warn_explicit(message, category, filename="fgi_core.train", lineno=0, module="fgi_core.train")


class CollapseWarning(UserWarning):
    """Validation says the network predicts (almost) nothing: see :data:`COLLAPSE_RULE`."""


def _collapse_check(scores: dict, streak: int, cfg: TrainConfig, name: str, iteration: int) -> tuple[int, str | None]:
    """Update the run of collapsed validations; return it and the alarm text once it is long enough."""
    if cfg.collapse == "off":
        return 0, None
    if iteration < COLLAPSE_RULE["grace"] * cfg.iterations:  # the empty start of every network
        return 0, None
    collapsed = scores["dice"] < COLLAPSE_RULE["dice"] or scores["empty"] > COLLAPSE_RULE["empty"]
    streak = streak + 1 if collapsed else 0
    if streak != COLLAPSE_RULE["patience"]:  # once per run of collapsed validations
        return streak, None
    return streak, (f"stage {name!r} collapsed: validation Dice {scores['dice']:.3f} and {100 * scores['empty']:.0f} % empty "
                    f"predictions at iteration {iteration}, {streak} validations in a row under Dice {COLLAPSE_RULE['dice']} "
                    f"or over {100 * COLLAPSE_RULE['empty']:.0f} % empty (TrainConfig.collapse='stop' ends such a run)")


#: TrainConfig fields that may change between a run and its resume (they do not change the result).
_RESUMABLE_FIELDS = {"progress", "device", "data_parallel", "val_every", "ckpt_every", "log_every", "collapse"}


def _extends_its_schedule(saved: dict, asked: dict, iteration: int) -> bool:
    """True when ``asked`` only runs a checkpoint further along the same fixed schedule.

    With ``lr_horizon`` set, nothing of a step depends on ``iterations`` (the cosine spans the
    horizon, the consistency ramp-up is absolute), so a 4,000-iteration run of a 15,000-iteration
    schedule, continued to 15,000, ends at the weights of an uninterrupted 15,000-iteration run.
    """
    horizon = saved.get("lr_horizon")
    return horizon is not None and asked.get("lr_horizon") == horizon and asked.get("iterations", 0) >= iteration


def _check_same_options(state: dict, method: Method, cfg: TrainConfig, out_dir: Path) -> None:
    """Raise :class:`StaleCheckpointError` when the checkpoint was trained with other options.

    ``iterations`` may grow when the run has a fixed ``lr_horizon`` (:func:`_extends_its_schedule`).
    """
    differences = []
    for what, saved, asked in (("option", state.get("method") or {}, method.config),
                               ("training setting", state.get("train_config") or {}, asdict(cfg))):
        for key in sorted(set(saved) | set(asked)):
            if what == "training setting" and key in _RESUMABLE_FIELDS:
                continue
            if what == "training setting" and key == "iterations" and _extends_its_schedule(saved, asked, state["iteration"]):
                continue
            if key in saved and key in asked and saved[key] != asked[key]:
                differences.append(f"{what} {key}: checkpoint {saved[key]!r}, asked {asked[key]!r}")
    if differences:
        raise StaleCheckpointError(
            f"{out_dir} holds a run trained with other settings, so resuming it would give stale results: "
            + "; ".join(differences)
            + ". Either train into a new run (another run name, e.g. `--run-name` / `run_name=`), or start this "
              "stage again with resume=False (overwrites its checkpoints)."
        )


@dataclass
class _Run:
    """What :func:`fit` keeps from one iteration to the next (and saves in ``last.pt``).

    The steps of a run, each a function of this state: :func:`_setup` (devices, optimiser,
    schedule, generators), :func:`_restore` (resume from ``last.pt``), :func:`_train_step` (one
    optimiser step), :func:`_log_row` (a ``log.csv`` row from the summed losses),
    :func:`_validate` (validation Dice, the collapse check, ``best.pt``), :func:`_checkpoint`
    (``last.pt``), :func:`_summary` and :func:`_finish` (``summary.json``, curves, the log).
    """

    method: Method
    cfg: TrainConfig
    out_dir: Path
    dist_info: distributed.DistInfo
    device: str
    params: list
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    sampler: BatchSampler
    aug: torch.Generator
    noise: torch.Generator
    amp_used: str
    amp_reason: str
    start: int = 0
    best: float = -1.0
    best_it: int = -1
    rows: list = field(default_factory=list)
    collapsed_streak: int = 0
    warnings_seen: list = field(default_factory=list)

    @property
    def main(self) -> bool:
        return self.dist_info.is_main

    @property
    def world(self) -> int:
        return self.dist_info.world_size

    @property
    def ckpt_dir(self) -> Path:
        return self.out_dir / "checkpoints"


def _setup(method: Method, train: TrainingData, val: TrainingData | None, out_dir: Path,
           cfg: TrainConfig) -> tuple[_Run, TrainingData, TrainingData | None]:
    """Check the inputs, place data and networks, build optimiser, schedule and generators."""
    dist_info, device = distributed.setup(cfg.device, enabled=cfg.data_parallel)
    world = dist_info.world_size
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} (the global batch) does not divide by the {world} processes")
    if dist_info.is_main:
        (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    for key in method.needs:
        if train.batch(torch.arange(1)).get(key) is None:
            raise ValueError(f"method {method.name!r} needs {key!r} but the training data has none loaded")
    if not device.startswith("cpu"):  # the whole split lives on the accelerator for the run
        train = train.to(device)
        val = val.to(device) if val is not None else None
    torch.manual_seed(cfg.seed)
    for net in method.networks.values():
        net.to(device)
    for name, net in method.networks.items():
        net.train(name in method.trainable)
    params = [p for name in method.trainable for p in method.networks[name].parameters() if p.requires_grad]
    opt = _optimizer(params, cfg)
    sched = _schedule(opt, cfg, epoch_length=max(1, math.ceil(len(train) / cfg.batch_size)))
    amp_used, amp_reason = resolve_amp(cfg.amp, device)
    if dist_info.is_main:
        print(f"{method.name}: precision {'bf16 autocast' if amp_used == 'bf16' else 'fp32'} ({amp_reason})", flush=True)
    run = _Run(
        method, cfg, out_dir, dist_info, device, params, opt, sched,
        sampler=BatchSampler(len(train), cfg.batch_size, cfg.seed),  # the same global batches on every rank
        aug=torch.Generator().manual_seed(cfg.seed + 1),  # flips (CPU draws, for the global batch)
        noise=torch.Generator(device=device).manual_seed(cfg.seed + 2 + 100_003 * dist_info.rank),  # DARM, CutMix (per rank)
        amp_used=amp_used, amp_reason=amp_reason,
    )
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    return run, train, val


def _restore(run: _Run) -> dict | None:
    """Continue from ``last.pt`` when there is one; a finished stage's ``summary.json``, else None."""
    last = run.ckpt_dir / "last.pt"
    if not last.is_file():
        return None
    state = torch.load(last, map_location="cpu", weights_only=False)  # modules / optimiser move it to their device
    _check_same_options(state, run.method, run.cfg, run.out_dir)
    for name, net in run.method.networks.items():
        net.load_state_dict(state["networks"][name])
    run.opt.load_state_dict(state["optimizer"])
    run.sched.load_state_dict(state["scheduler"])
    run.sampler.load_state_dict(state["sampler"])
    run.aug.set_state(state["aug"])
    rank = run.dist_info.rank
    noise_states = state.get("noise_ranks") or [state["noise"]]
    if rank < len(noise_states):
        run.noise.set_state(noise_states[rank])
    else:  # resumed with more processes than were saved: a fresh, still deterministic stream
        run.noise.manual_seed(run.cfg.seed + 2 + 100_003 * rank + state["iteration"])
    torch.set_rng_state(state["torch_rng"])
    run.start, run.best, run.best_it, run.rows = state["iteration"], state["best"], state["best_iteration"], state["log"]
    run.collapsed_streak, run.warnings_seen = state.get("collapsed_streak", 0), list(state.get("warnings", []))
    if run.start >= run.cfg.iterations and (run.out_dir / "summary.json").is_file():
        # already trained (e.g. by `torchrun ... fgi train`): the weights are loaded; keep its summary
        return read_json(run.out_dir / "summary.json")
    return None


def _train_step(run: _Run, train: TrainingData, iteration: int) -> dict:
    """One optimiser step on the next global batch (this rank's share of it); the loss parts."""
    cfg, world = run.cfg, run.world
    batch = train.batch(run.sampler.next(), run.device)
    if cfg.flips:
        batch = flip_batch(batch, run.aug)  # drawn for the whole global batch: the same on every rank
    if world > 1:
        batch = {k: v[run.dist_info.rank :: world] for k, v in batch.items()}
    with _autocast(run.device, run.amp_used):
        losses = run.method.loss(batch, iteration, run.noise)
    total = losses["total"]
    if world > 1:  # every trainable parameter takes part in each step's gradient all-reduce
        total = total + 0.0 * sum(p.reshape(-1)[0].float() for p in run.params)
    run.opt.zero_grad(set_to_none=True)
    total.backward()
    run.opt.step()
    run.sched.step()
    return losses


def _log_row(run: _Run, sums: dict, count: int, done: int, t_start: float) -> dict:
    """A ``log.csv`` row: the mean of each loss part since the last row (over ranks too)."""
    keys = sorted(sums)
    means = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64).cpu() for k in keys]) / count
    if run.world > 1:  # the mean over ranks of each rank's mean: the global batch's mean
        means = distributed.all_reduce_sum(means, run.dist_info) / run.world
    return {"iteration": done, **{k: float(v) for k, v in zip(keys, means)}, "lr": run.sched.get_last_lr()[0],
            "seconds": time.perf_counter() - t_start, "val_dice": None}


def _validate(run: _Run, val: TrainingData, row: dict, done: int, bar) -> str | None:
    """Validation into ``row``, the collapse check, ``best.pt`` on a new best; why to stop, or None."""
    scores = validation_scores(run.method, val, run.cfg, run.device, run.dist_info)
    row["val_dice"], row["val_empty"] = scores["dice"], scores["empty"]
    stopped = None
    run.collapsed_streak, alarm = _collapse_check(scores, run.collapsed_streak, run.cfg, run.method.name, done)
    if alarm:
        run.warnings_seen.append(alarm)
        if run.main:
            warn_once(alarm, CollapseWarning)
        if run.cfg.collapse == "stop":
            stopped = f"collapse at iteration {done}"
    if row["val_dice"] > run.best:
        run.best, run.best_it = row["val_dice"], done
        if run.main:
            _save(run.ckpt_dir / "best.pt", {"iteration": done, "val_dice": run.best, **network_checkpoint(run.method)})
    bar.set_postfix(val_dice=f"{row['val_dice']:.3f}", loss=f"{row['total']:.3f}")
    return stopped


def _write_log(run: _Run) -> None:
    with atomic_path(run.out_dir / "log.csv") as tmp:
        keys = list(dict.fromkeys(k for r in run.rows for k in r))
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(run.rows)


def _checkpoint(run: _Run, iteration: int) -> None:
    """``last.pt``: everything needed to continue at ``iteration`` (rank 0 writes; all take part)."""
    noise_states = distributed.all_gather_objects(run.noise.get_state().cpu(), run.dist_info)  # every rank takes part
    if not run.main:
        return
    _write_log(run)  # readable while training runs, and never ahead of the checkpoint
    _save(run.ckpt_dir / "last.pt", {
        "iteration": iteration, **network_checkpoint(run.method),
        "optimizer": run.opt.state_dict(), "scheduler": run.sched.state_dict(), "sampler": run.sampler.state_dict(),
        "aug": run.aug.get_state(), "noise": noise_states[0], "noise_ranks": noise_states, "torch_rng": torch.get_rng_state(),
        "best": run.best, "best_iteration": run.best_it, "log": run.rows, "method": run.method.config,
        "train_config": asdict(run.cfg), "world_size": run.world,
        "collapsed_streak": run.collapsed_streak, "warnings": run.warnings_seen,
    })


def _summary(run: _Run, end: int, t_start: float, stopped: str | None) -> dict[str, Any]:
    """The ``summary.json`` of a run that ended at iteration ``end``."""
    cfg, method, device = run.cfg, run.method, run.device
    seconds = time.perf_counter() - t_start
    return {
        "method": method.name, "config": method.config, "train_config": asdict(cfg), "device": device,
        "world_size": run.world, "global_batch": cfg.batch_size,
        "iterations_done": end, "complete": end == cfg.iterations,
        "best_val_dice": run.best if run.best >= 0 else None, "best_iteration": run.best_it if run.best_it >= 0 else None,
        "seconds": seconds,
        "seconds_per_iteration": (time.perf_counter() - t_start) / max(1, end - run.start),
        "final_val_dice": next((r["val_dice"] for r in reversed([r for r in run.rows if r["iteration"] > run.start])
                                if r.get("val_dice") is not None), None),
        "peak_memory_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.startswith("cuda") else None,
        "amp": run.amp_used, "amp_reason": run.amp_reason, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "activation": method.activation, "activations": method.activations,
        "warnings": run.warnings_seen, "stopped": stopped,
    }


def _finish(run: _Run, summary: dict, validated: bool, end: int) -> None:
    """Rank 0 writes ``best.pt`` (no validation), ``log.csv``, ``curves.png``, ``summary.json``."""
    if run.main:
        if not validated and end == run.cfg.iterations:
            _save(run.ckpt_dir / "best.pt", {"iteration": end, "val_dice": None, **network_checkpoint(run.method)})
        _write_log(run)
        if run.rows:
            plot_curves(run.rows, run.out_dir / "curves.png", run.method.name)
        write_json(run.out_dir / "summary.json", summary)
    distributed.barrier(run.dist_info)  # the files exist before any rank goes on


def fit(
    method: Method,
    train: TrainingData,
    val: TrainingData | None,
    out_dir: str | Path,
    cfg: TrainConfig,
    resume: bool = False,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train ``method`` on ``train``, validate on ``val``, write to ``out_dir``.

    Args:
        method: the :class:`Method`.
        train: training split (with what ``method.needs``).
        val: validation split with ground truth (None: no validation; best = last).
        out_dir: the stage folder.
        cfg: :class:`TrainConfig`.
        resume: continue from ``out_dir/checkpoints/last.pt`` when it exists (a finished run only
            loads its weights into ``method.networks`` and returns its ``summary.json``). With a
            fixed ``cfg.lr_horizon``, a run may be resumed with more ``iterations`` than it was
            trained for: it continues along the same schedule.
        stop_after: stop after this many iterations of *this call* (to test resume).

    Under ``torchrun`` (``WORLD_SIZE > 1``, ``cfg.data_parallel``) every rank calls ``fit`` with
    the same arguments; see :mod:`fgi_core.distributed` for what each does.

    Returns:
        the summary dict (also written to ``summary.json``; every rank returns it).

    Raises:
        ValueError: the data lack a key the method needs; ``batch_size`` does not divide by
            the number of processes.
        StaleCheckpointError: ``resume`` found a checkpoint trained with other method options
            or training settings than ``method.config`` and ``cfg`` (each difference named).
    """
    from ..progress import tqdm

    run, train, val = _setup(method, train, val, Path(out_dir), cfg)
    if resume:
        finished = _restore(run)
        if finished is not None:
            return finished
    end = cfg.iterations if stop_after is None else min(cfg.iterations, run.start + stop_after)
    bar = tqdm(total=cfg.iterations, initial=run.start, desc=method.name, disable=not (cfg.progress and run.main), unit="it")
    t_start, sums, count, stopped = time.perf_counter(), {}, 0, None
    with distributed.data_parallel(method.networks, method.trainable, run.dist_info, run.device):
        for it in range(run.start, end):
            losses = _train_step(run, train, it)
            for k, v in losses.items():  # summed on the device: no host sync until a log row
                sums[k] = sums.get(k, 0.0) + (v.detach().float() if torch.is_tensor(v) else float(v))
            count += 1
            done = it + 1
            validate = val is not None and (done % cfg.val_every == 0 or done == cfg.iterations)
            if done % cfg.log_every == 0 or validate or done == end:
                row = _log_row(run, sums, count, done, t_start)
                sums, count = {}, 0
                if validate:
                    stopped = _validate(run, val, row, done, bar)
                run.rows.append(row)
            if done % cfg.ckpt_every == 0 or done == end or stopped:
                _checkpoint(run, done)
            bar.update()
            if stopped:
                end = done
                break
    bar.close()
    summary = _summary(run, end, t_start, stopped)
    _finish(run, summary, val is not None, end)
    return summary


def load_networks(out_dir: str | Path, networks: dict[str, nn.Module], which: str = "best") -> dict:
    """Load ``best`` or ``last`` weights of a stage folder into ``networks``; return the checkpoint."""
    path = Path(out_dir) / "checkpoints" / f"{which}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: train this stage first")
    state = torch.load(path, map_location="cpu", weights_only=False)
    for name, net in networks.items():
        if name in state["networks"]:
            net.load_state_dict(state["networks"][name])
    return state

