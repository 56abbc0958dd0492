"""The training methods: FGI teacher (stage 1), FGI distillation (stage 2), and the baselines.

Each builder returns a :class:`~fgi_core.train.engine.Method` for :func:`~fgi_core.train.engine.fit`;
the FGI methods take their switches from :class:`fgi_core.options.FGIOptions`. The loss of every
method is written out here, term by term, as docs/method.md §4 states it:

* teacher:       L = L_teacher(M_hc)                       (pCE, or the authors' BCE)
* distillation:  L = L_teacher + L_student(DARM(M_bc)) + w(t) lambda_CWC CWC + lambda_AFC w(t) AFC
* unet_*:        cross-entropy on one mask (ground truth = upper bound; M_hc or M_bc = gaze baselines)
* gazemedseg:    BCE per level (M_hc, M_bc) + 3 x cross-level consistency (docs/method.md §6)
"""
from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import torch

from .. import augment as A
from .. import losses as L
from ..config import Profile
from ..models.backbone import student_widths
from ..models.readout import two_class_logits
from ..options import FGIOptions
from ..registry import look_up_option
from .engine import Method, TrainConfig

__all__ = [
    "train_config",
    "build_teacher",
    "build_student",
    "teacher_method",
    "distillation_method",
    "baseline_method",
    "BASELINES",
    "BASELINE_KEYS",
    "train_baseline",
    "train_baselines",
]

BASELINES = ("unet_full", "unet_m_hc", "unet_m_bc", "gazemedseg")


def train_config(profile: Profile, stage: str, **overrides: Any) -> TrainConfig:
    """TrainConfig of ``stage`` (``teacher`` or anything trained for ``iterations_distill``)."""
    iterations = profile.iterations_teacher if stage == "teacher" else profile.iterations_distill
    cfg = TrainConfig(iterations=iterations, **profile.train_settings())  # the profile's TrainSettings
    return replace(cfg, **overrides) if overrides else cfg


def build_teacher(profile: Profile, in_channels: int, text_dim: int, fusion: bool = True) -> torch.nn.Module:
    from ..models import create_model

    return create_model("teacher", in_channels=in_channels, text_dim=text_dim, widths=profile.teacher_widths, fusion=fusion)


def build_student(profile: Profile, in_channels: int) -> torch.nn.Module:
    from ..models import create_model

    return create_model("student", in_channels=in_channels, widths=student_widths(profile.teacher_widths),
                        teacher_widths=profile.teacher_widths)


def _teacher_loss(opts: FGIOptions, logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """``opts.teacher_loss`` (:data:`fgi_core.losses.SUPERVISED_LOSSES`) on M_hc and M_bc."""
    return L.supervised_loss(opts.teacher_loss, "teacher").apply(logits, batch["m_hc"], batch["m_bc"])


def teacher_method(teacher: torch.nn.Module, opts: FGIOptions) -> Method:
    """Stage 1: the text-fused teacher alone, supervised by M_hc."""

    def forward(batch: dict) -> dict:
        return teacher(batch["image"], batch["text"], batch["text_mask"])

    def loss(batch: dict, iteration: int, generator: torch.Generator) -> dict:
        value = _teacher_loss(opts, forward(batch)["logits"], batch)
        return {"total": value, "teacher": value}

    return Method("teacher", {"teacher": teacher}, ["teacher"], loss, lambda b: forward(b)["logits"],
                  needs=("image", "m_hc", "m_bc", "text", "text_mask"), config=asdict(opts),
                  activations={"teacher": opts.teacher_activation}, validated="teacher")


def distillation_method(teacher: torch.nn.Module, student: torch.nn.Module, opts: FGIOptions) -> Method:
    """Stage 2: teacher -> student with DARM, AFC and CWC (docs/method.md §4).

    Per iteration: the teacher on the clean image (with its text); U and DARM on the image and
    M_bc (:func:`_darm_input`); the student on the masked image; the supervised losses; CWC
    (:func:`_cwc`), student <- teacher and (``cwc_both_ways``, joint) teacher <- student; AFC
    between the teacher's and the student's stage features. Every network output is read with
    the activation its supervised loss implies (:class:`FGIOptions`).
    """
    joint = opts.teacher_mode == "joint"
    t_act, s_act = opts.teacher_activation, opts.student_activation
    student_supervision = L.supervised_loss(opts.student_loss, "student")
    both_ways = opts.use_cwc and opts.cwc_both_ways and joint
    acts = (t_act, s_act)  # resolved once here, not per iteration
    need_clean_student = (opts.use_darm and opts.darm_source == "predictions") or (both_ways and opts.cwc_teacher_target == "clean")

    def loss(batch: dict, iteration: int, generator: torch.Generator) -> dict:
        image, text, text_mask = batch["image"], batch["text"], batch["text_mask"]
        with torch.set_grad_enabled(joint and torch.is_grad_enabled()):
            t_out = teacher(image, text, text_mask)
        s_clean = None
        if need_clean_student:
            with torch.no_grad():
                s_clean = student(image)["logits"]
        x_student, labels, ignore = _darm_input(opts, batch, t_out["logits"], s_clean, generator, acts)
        s_out = student(x_student)
        parts: dict[str, torch.Tensor] = {}
        if joint:
            parts["teacher"] = _teacher_loss(opts, t_out["logits"], batch)
        parts["student"] = student_supervision.apply(s_out["logits"], labels, ignore=ignore)
        w = L.rampup(iteration, opts.rampup_length)
        total = sum(parts.values())
        if opts.use_cwc:
            parts["cwc"] = _cwc(opts, teacher, student, batch, t_out["logits"], s_out["logits"], s_clean, both_ways, generator, acts)
            total = total + w * opts.lambda_cwc * parts["cwc"]
        if opts.use_afc:
            parts["afc"] = L.afc_loss(t_out["features"], s_out["features"])
            total = total + opts.lambda_afc * w * parts["afc"]
        return {"total": total, **parts, "rampup": w}

    return Method("student", {"teacher": teacher, "student": student}, ["teacher", "student"] if joint else ["student"],
                  loss, lambda b: student(b["image"])["logits"], needs=("image", "m_hc", "m_bc", "text", "text_mask"),
                  config=asdict(opts), activations={"teacher": t_act, "student": s_act}, validated="student")


def _darm_input(opts: FGIOptions, batch: dict, t_logits: torch.Tensor, s_clean: torch.Tensor | None,
                generator: torch.Generator, acts: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """What the student trains on: DARM (docs/method.md §4) applied to the image and M_bc.

    The disagreement set U comes from the teacher's logits ``t_logits`` (detached here) and the
    student's on the clean image ``s_clean`` (``darm_source="predictions"``, both B x K x H x W)
    or from M_hc vs M_bc (``labels``); ``acts``: the teacher's and the student's activations. Returns ``(image, labels, ignore)``: the masked image
    B x C x H x W, M_bc with DARM's blocks relabelled as ``darm_target`` says (B x H x W), and
    the blocks as an ignore mask (``darm_target="ignore"``) or None; without DARM the batch's
    image, M_bc and None.
    """
    image = batch["image"]
    labels, ignore, x_student = batch["m_bc"], None, image
    if opts.use_darm:
        if opts.darm_source == "predictions":
            u = A.disagreement(t_logits.detach(), s_clean, *acts)
        else:
            u = A.label_disagreement(batch["m_hc"], batch["m_bc"])
        x_student, labels, block = A.darm(image, batch["m_bc"], u, ratio=opts.darm_ratio, generator=generator,
                                          target=opts.darm_target, budget=opts.darm_budget)
        ignore = block if opts.darm_target == "ignore" else None
    return x_student, labels, ignore


def _cwc_view(opts: FGIOptions, logits: torch.Tensor, activation: str) -> torch.Tensor:
    """What CWC sees of a network's logits (B x K x H x W): the logits as they are
    (``cwc_readout="softmax"``) or the two-class logits (B x 2 x H x W) of its ``activation``."""
    return logits if opts.cwc_readout == "softmax" else two_class_logits(logits, activation)


def _cwc(opts: FGIOptions, teacher: torch.nn.Module, student: torch.nn.Module, batch: dict, t_logits: torch.Tensor,
         s_logits: torch.Tensor, s_clean: torch.Tensor | None, both_ways: bool, generator: torch.Generator,
         acts: tuple[str, str]) -> torch.Tensor:
    """The CWC term (docs/method.md §4), a scalar: student <- teacher and, ``both_ways``,
    teacher <- student, on the networks' outputs or (``perturb``) on perturbed inputs.

    ``t_logits``, ``s_logits``: the teacher's (clean image) and the student's (masked image)
    logits, B x K x H x W; ``s_clean``: the student's on the clean image (needed when
    ``cwc_teacher_target="clean"``); ``acts``: the teacher's and the student's activations. The
    targets are detached.
    """
    t_act, s_act = acts
    t_target = _cwc_view(opts, t_logits.detach(), t_act)
    s_target = None
    if both_ways:
        s_source = s_logits if opts.cwc_teacher_target == "masked" else s_clean
        s_target = _cwc_view(opts, s_source.detach(), s_act)
    if opts.perturb:
        return _perturbed_cwc(opts, teacher, student, batch, t_target, s_target, both_ways, generator, acts)
    cwc = L.cwc_loss(_cwc_view(opts, s_logits, s_act), t_target, opts.tau_pos, opts.tau_neg)
    if both_ways:
        cwc = cwc + L.cwc_loss(_cwc_view(opts, t_logits, t_act), s_target, opts.tau_pos, opts.tau_neg)
    return cwc


def _perturbed_cwc(opts: FGIOptions, teacher: torch.nn.Module, student: torch.nn.Module, batch: dict, t_target: torch.Tensor,
                   s_target: torch.Tensor | None, both_ways: bool, generator: torch.Generator,
                   acts: tuple[str, str]) -> torch.Tensor:
    """CWC of both directions on perturbed inputs (uniform noise and CutMix of the batch's image,
    the targets mixed alike), a scalar; ``*_target``: the detached targets, B x 2 x H x W (or
    B x K x H x W with ``cwc_readout="softmax"``)."""
    image, text, text_mask = batch["image"], batch["text"], batch["text_mask"]
    t_act, s_act = acts
    if opts.cwc_mix == "independent":  # each direction its own noise, pairing and boxes
        mixed, target, _ = A.cutmix_pairs(A.uniform_noise(image, generator=generator), t_target, generator=generator)
        value = L.cwc_loss(_cwc_view(opts, student(mixed)["logits"], s_act), target, opts.tau_pos, opts.tau_neg)
        if both_ways:
            mixed, target, _ = A.cutmix_pairs(A.uniform_noise(image, generator=generator), s_target, generator=generator)
            value = value + L.cwc_loss(_cwc_view(opts, teacher(mixed, text, text_mask)["logits"], t_act), target, opts.tau_pos, opts.tau_neg)
        return value
    targets = torch.cat([t_target, s_target], 1) if both_ways else t_target
    mixed, mixed_targets, _ = A.cutmix(A.uniform_noise(image, generator=generator), targets, generator=generator)
    value = L.cwc_loss(_cwc_view(opts, student(mixed)["logits"], s_act), mixed_targets[:, :2], opts.tau_pos, opts.tau_neg)
    if both_ways:
        value = value + L.cwc_loss(_cwc_view(opts, teacher(mixed, text, text_mask)["logits"], t_act), mixed_targets[:, 2:],
                                   opts.tau_pos, opts.tau_neg)
    return value


def baseline_method(kind: str, network: torch.nn.Module, consistency_weight: float = 3.0) -> Method:
    """A baseline: ``unet_full`` (ground truth; the upper bound), ``unet_m_hc``, ``unet_m_bc``,
    or ``gazemedseg`` (two levels on M_hc and M_bc with cross-level consistency, weight 3)."""
    look_up_option(kind, BASELINES, "baseline")
    if kind == "gazemedseg":
        def loss(batch: dict, iteration: int, generator: torch.Generator) -> dict:
            out = network(batch["image"])
            hc = L.bce_loss(out["logits"][0], batch["m_hc"])
            bc = L.bce_loss(out["logits"][1], batch["m_bc"])
            consistency = network.consistency_loss(out)
            return {"total": hc + bc + consistency_weight * consistency, "m_hc": hc, "m_bc": bc, "consistency": consistency}

        return Method(kind, {"network": network}, ["network"], loss, lambda b: network(b["image"])["prediction"],
                      needs=("image", "m_hc", "m_bc"), config={"consistency_weight": consistency_weight},
                      activations={"network": "sigmoid"}, validated="network")
    target = {"unet_full": "gt", "unet_m_hc": "m_hc", "unet_m_bc": "m_bc"}[kind]

    def loss(batch: dict, iteration: int, generator: torch.Generator) -> dict:
        value = L.ce_loss(network(batch["image"])["logits"], batch[target])
        return {"total": value, "ce": value}

    return Method(kind, {"network": network}, ["network"], loss, lambda b: network(b["image"])["logits"],
                  needs=("image", target), config={"target": target}, activations={"network": "softmax"}, validated="network")


#: The baselines' short names (folders under ``<run>/baselines/``, keys of the results table).
BASELINE_KEYS = {"full": "unet_full", "m_hc": "unet_m_hc", "m_bc": "unet_m_bc", "gazemedseg": "gazemedseg"}


def train_baseline(key: str, profile: Profile, train, val, out_dir, seed: int = 0, device: str = "auto",
                   resume: bool = True, progress: bool = True, **config_overrides: Any) -> dict:
    """Train one baseline (``full``, ``m_hc``, ``m_bc`` or ``gazemedseg``) into ``out_dir``.

    Every baseline is the image-only network of the FGI student (the student's widths, half the
    teacher's), trained for the profile's ``iterations_distill`` with the same optimiser, batch
    and seed as the student: the same budget and data, only the supervision differs.

    Returns:
        the training summary of :func:`fgi_core.train.fit`.
    """
    from ..models import create_model
    from .engine import fit

    kind = BASELINE_KEYS[look_up_option(key, BASELINE_KEYS, "baseline")]
    torch.manual_seed(seed)
    in_channels = int(train.images.shape[1])
    net = create_model("gazemedseg" if kind == "gazemedseg" else "unet", in_channels=in_channels, widths=student_widths(profile.teacher_widths))
    cfg = train_config(profile, "baseline", seed=seed, device=device, progress=progress, **config_overrides)
    return fit(baseline_method(kind, net), train, val, out_dir, cfg, resume=resume)


#: What a forked child of :func:`train_baselines` trains from: set just before the fork, so the
#: children inherit the data instead of receiving a pickled copy.
_SIDE_BY_SIDE: dict[str, Any] = {}


def train_baselines(keys, profile: Profile, train, val, folder, seed: int = 0, device: str = "cpu",
                    workers: int | None = None, progress: bool = True, **config_overrides: Any) -> dict[str, dict]:
    """Train several baselines (:func:`train_baseline`) into ``folder/<key>``; return
    ``{key: summary}`` in the order of ``keys``.

    ``workers`` (default: ``profile.train_workers``) > 1 trains them side by side in forked
    processes of one torch thread each, on the CPU under Linux (elsewhere, one after the
    other). The quick profile's tiny networks leave a second core idle (a step on 2 threads is
    only 1.1x one on 1 thread), so two at once take ~40 % less time. One thread, because
    torch's GNU OpenMP is not fork-safe: a child that ran a parallel region after its parent
    had would hang. A child's printed lines and warnings are replayed here afterwards, in the
    order of ``keys``: the output reads as a sequential run's. The results equal a sequential
    run's on one thread (tested); on more they differ by float rounding (a convolution sums in
    another order). A worker that dies raises ``BrokenProcessPool`` here.
    """
    import multiprocessing
    import sys
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    keys = list(keys)
    workers = min(int(profile.train_workers if workers is None else workers), len(keys))
    side_by_side = (workers > 1 and str(device).startswith("cpu") and sys.platform.startswith("linux")
                    and "fork" in multiprocessing.get_all_start_methods())
    if not side_by_side:
        return {k: train_baseline(k, profile, train, val, Path(folder) / k, seed=seed, device=device, progress=progress,
                                  **config_overrides) for k in keys}
    _SIDE_BY_SIDE.update(profile=profile, train=train, val=val, folder=Path(folder), seed=seed, device=device,
                         overrides=config_overrides)
    # longest first (GazeMedSeg trains two networks), so that the others fill the other worker
    order = sorted(keys, key=lambda k: k != "gazemedseg")
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            done = dict(zip(order, pool.map(_baseline_in_child, order)))
    finally:
        _SIDE_BY_SIDE.clear()
    summaries = {}
    for k in keys:  # a loop, not a comprehension: a replayed warning names the caller's line
        summaries[k] = _replay(*done[k])
    return summaries


def exit_with_parent(every: float = 5.0, parent: int | None = None) -> None:
    """End this worker process when the process that started it is gone.

    A training worker whose parent was killed (a Jupyter kernel shut down, a benchmark stopped, a
    session closed) would otherwise train on, holding a core, with nobody to collect its result;
    its checkpoints stay, so a rerun resumes it. A daemon thread polls the parent's pid every
    ``every`` seconds (portable, unlike Linux's ``PR_SET_PDEATHSIG``). The parent is ``parent``
    (a pid the starter passed) or the one ``multiprocessing`` recorded, so a parent that died
    before this call is noticed too; else the current parent.
    """
    import multiprocessing
    import os
    import threading
    import time

    if parent is None:
        known = multiprocessing.parent_process()
        parent = known.pid if known is not None else os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _baseline_in_child(key: str) -> tuple[dict, str, list]:
    """In a forked worker: train ``key`` on one thread, printing and warning into buffers;
    return ``(summary, printed text, [(message, category), ...])``. The worker ends if the
    process that forked it (e.g. a notebook's kernel) goes away."""
    import contextlib
    import io
    import warnings

    job = _SIDE_BY_SIDE
    exit_with_parent()
    torch.set_num_threads(1)
    printed = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed), \
            contextlib.redirect_stderr(printed):
        warnings.simplefilter("always")
        summary = train_baseline(key, job["profile"], job["train"], job["val"], job["folder"] / key, seed=job["seed"],
                                 device=job["device"], progress=False, **job["overrides"])
    return summary, printed.getvalue(), [(str(w.message), w.category) for w in caught]


def _replay(summary: dict, printed: str, caught: list) -> dict:
    """Print what a child printed and warn what it warned (:func:`~fgi_core.train.engine.warn_once`);
    return its summary."""
    import warnings

    if printed:
        print(printed, end="", flush=True)
    from .engine import warn_once

    for message, category in caught:
        warn_once(message, category)
    return summary
