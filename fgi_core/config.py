"""Configuration: dataset presets, profiles, run folders and the project's paths.

Three ideas live here and nowhere else:

* a **dataset preset** (:class:`DatasetPreset`) holds what docs/method.md §1 fixes per dataset
  (gaze sigma, the two pseudo-mask thresholds, channels, whether gaze is recorded or simulated);
  each dataset reader registers its own (:mod:`fgi_core.data.base`: ``PRESETS``, ``get_preset``);
* a **profile** (``quick``, ``cpu``, ``paper``) sets size, widths, iterations, batch and the FGI
  options (:class:`~fgi_core.options.FGIOptions`) in one name; :func:`fgi_options` reads the
  latter with changes;
* a **run folder** ``runs/<dataset>/<run-name>/`` is where every stage writes and the next reads.

This module imports nothing heavy (no torch, no dataset reader): every other module may import it.

Example:
    >>> from fgi_core.config import fgi_options, get_profile
    >>> get_profile("quick").n_images
    24
    >>> fgi_options(get_profile("cpu"), use_cwc=False).teacher_loss
    'bce'
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .options import FGIOptions
from .registry import look_up_option

__all__ = [
    "DatasetPreset",
    "TrainSettings",
    "Profile",
    "PAPER_TEXT_OPTIONS",
    "AUTHORS_CODE_OPTIONS",
    "PROFILES",
    "get_profile",
    "fgi_options",
    "project_root",
    "runs_root",
    "default_run_dir",
    "shared_realdata",
    "resolve_device",
    "resolve_amp",
    "busy_elsewhere",
    "resolve_threads",
    "cpu_has_native_bf16",
]


# ----------------------------------------------------------------------------------------------
# Dataset presets (docs/method.md §1 and the authors' code)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetPreset:
    """What the method fixes per dataset.

    Attributes:
        name: dataset name in the registry.
        modality: ``endoscopy``, ``mri`` or ``dermoscopy`` (drives the text vocabulary later).
        channels: image channels fed to the networks (3 RGB, 1 MRI).
        sigma: Gaussian sigma of the gaze heatmap as a fraction of each image side
            (70/768 on a 768 canvas for Kvasir-SEG and ISIC, 50/768 for NCI-ISBI).
        t_hc: threshold on the refined map for the high-confidence mask M_hc.
        t_bc: threshold for the broad-coverage mask M_bc (``t_bc < t_hc``).
        gaze: ``recorded`` (real eye tracking) or ``simulated`` (made from masks; flagged).
    """

    name: str
    modality: str
    channels: int
    sigma: float
    t_hc: float
    t_bc: float
    gaze: str = "recorded"

    def __post_init__(self) -> None:
        if not 0.0 < self.t_bc < self.t_hc <= 1.0:
            raise ValueError(
                f"preset {self.name!r}: thresholds must satisfy 0 < t_bc < t_hc <= 1, "
                f"got t_bc={self.t_bc}, t_hc={self.t_hc}"
            )
        look_up_option(self.modality, ("endoscopy", "mri", "dermoscopy"), "modality")
        look_up_option(self.gaze, ("recorded", "simulated"), "gaze source")


# ----------------------------------------------------------------------------------------------
# Profiles
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """The optimisation settings a profile fixes and training uses, listed once.

    :class:`Profile` inherits them (``get_profile("cpu").lr``) and so does
    :class:`fgi_core.train.TrainConfig`, which adds what belongs to one training run
    (iterations, seed, device, ...); :func:`fgi_core.train.train_config` copies them across
    (:meth:`train_settings`).

    Attributes:
        batch_size, optimizer, lr, lr_min, weight_decay: optimisation (``optimizer`` ``sgd``:
            Nesterov with momentum, the paper; or ``adamw``; half-cosine from ``lr`` to ``lr_min``).
        val_every, ckpt_every: intervals in iterations.
        amp: ``auto`` (bf16 on CUDA and on CPUs with native bf16, else fp32: :func:`resolve_amp`),
            ``bf16`` or ``off``.
        lr_schedule: the cosine advances per ``iteration`` or per ``epoch`` (the authors' code).
        lr_horizon: the iteration count the cosine spans (None: the run's own). A run shorter
            than its horizon is the first part of that longer schedule: the ``cpu`` profile is
            the authors' 15,000-iteration schedule stopped at 4,000 (docs/results.md).
    """

    batch_size: int = 8
    optimizer: str = "adamw"
    lr: float = 1e-3
    lr_min: float = 1e-5
    weight_decay: float = 1e-4
    val_every: int = 50
    ckpt_every: int = 50
    amp: str = "auto"
    lr_schedule: str = "iteration"
    lr_horizon: int | None = None

    def __post_init__(self) -> None:
        if self.lr_horizon is not None and self.lr_horizon < 1:
            raise ValueError(f"lr_horizon must be a positive iteration count or None, got {self.lr_horizon}")
        look_up_option(self.optimizer, ("sgd", "adamw"), "optimizer")
        look_up_option(self.amp, ("auto", "bf16", "off"), "amp")
        look_up_option(self.lr_schedule, ("iteration", "epoch"), "lr_schedule")

    def train_settings(self) -> dict[str, Any]:
        """The :class:`TrainSettings` fields of this object, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainSettings)}


@dataclass(frozen=True)
class Profile(TrainSettings):
    """One name that sets the size of a run: data, sizes, training and the FGI option set.

    Attributes:
        name: ``quick`` (synthetic, seconds, CI), ``cpu`` (real data on a laptop-class CPU) or
            ``paper`` (docs/method.md §7.1 on a GPU).
        n_images: images per synthetic dataset (ignored for real datasets).
        synthetic_size: (height, width) of synthetic images.
        image_size: training input side in pixels (square), used by the networks.
        max_images: cap on images processed by the gaze stage (``None`` = all); the quick
            profile keeps real-data runs small.
        refine: refinement method for the gaze stage (``auto`` = dense CRF when installed).
        workers: processes for per-image work such as the CRF (0 = in this process).
        train_workers: baselines trained side by side in forked processes on a CPU
            (:func:`fgi_core.train.train_baselines`): 2 for ``quick`` and ``cpu``, whose small
            networks gain little from a second thread (1.1x and 1.2x), else 1.
        baselines_alongside: ``fgi run`` trains notebook 05's baselines in a process of one
            thread on a CPU's second core while notebooks 02-04 run (:mod:`fgi_core.alongside`;
            ``cpu``: the run's longest notebooks overlap instead of following each other).
        teacher_widths: the teacher's six BasicUNet widths; the student has half of each.
        iterations_teacher: stage-1 teacher training (``teacher_mode="joint"`` from stage 1).
        iterations_distill: stage-2 distillation; every baseline gets this many too.
        batch_size, optimizer, lr, lr_min, weight_decay, val_every, ckpt_every, amp,
            lr_schedule: the optimisation settings, inherited from :class:`TrainSettings`.
        threads: torch threads on a CPU, at most (None: one per core). Measured on 2 cores
            (docs/results.md): a quick-size step gains only 1.1x from a second thread, a ``cpu``
            step at 64 px 1.2x, and an OpenMP thread on a core another process uses spins and
            slows its step 10-20x. :func:`resolve_threads` lowers it when the cores are busy.
        fgi: the FGI method options of this profile (docs/fidelity.md §2), the consistency
            ramp-up's length ``fgi.rampup_length`` included.
    """

    name: str
    n_images: int
    synthetic_size: tuple[int, int]
    image_size: int
    max_images: int | None
    refine: str = "auto"
    workers: int = 0
    train_workers: int = 1
    teacher_widths: tuple[int, ...] = (32, 64, 128, 256, 512, 32)
    iterations_teacher: int = 100
    iterations_distill: int = 100
    threads: int | None = None
    baselines_alongside: bool = False
    fgi: FGIOptions = FGIOptions()


#: The two named option sets of docs/fidelity.md §2, as changes to :class:`FGIOptions`'s
#: defaults (read-only mappings: ``FGIOptions(**AUTHORS_CODE_OPTIONS)``). The defaults are the
#: paper's text, so it changes nothing; the authors' code changes these six.
PAPER_TEXT_OPTIONS: Mapping[str, Any] = MappingProxyType({})
AUTHORS_CODE_OPTIONS: Mapping[str, Any] = MappingProxyType({
    "teacher_loss": "bce", "student_loss": "bce", "darm_source": "labels", "darm_budget": "batch",
    "teacher_init": "scratch", "cwc_readout": "softmax"})

PROFILES: dict[str, Profile] = {
    "quick": Profile(
        # Synthetic, minutes: its own short schedule (AdamW, a ramp-up over 50 of its 150 distillation
        # iterations), a check that every code path runs and learns, not the authors' schedule and not a
        # result. 150 iterations, not 60: at 60 UNet on M_hc had not left its empty start and full
        # supervision ranked below the gaze baselines (docs/design.md §10).
        "quick", n_images=24, synthetic_size=(160, 192), image_size=64, max_images=24,
        teacher_widths=(8, 16, 32, 64, 128, 16), iterations_teacher=60, iterations_distill=150, batch_size=4,
        lr=1e-2, val_every=25, ckpt_every=25, amp="off", threads=1, fgi=FGIOptions(**PAPER_TEXT_OPTIONS, rampup_length=50),
        train_workers=2,
    ),
    "cpu": Profile(
        # The authors' schedule (SGD + Nesterov, lr 1e-2 -> 1e-4 cosine per epoch over 15,000 iterations,
        # weight decay 4e-4, ramp-up over 4,000 absolute iterations) stopped at the end of its ramp-up,
        # at 64 px with half the paper's widths. w(t) < 0.05 for the first 903 iterations, time for every
        # network to leave its empty start. fp32: at 64 px bf16 gains ~3 % even on a CPU with AMX and
        # costs ~20x on one without. Measured cost: docs/results.md ("The cpu protocol").
        "cpu", n_images=200, synthetic_size=(256, 320), image_size=64, max_images=None, workers=2, train_workers=2,
        teacher_widths=(16, 32, 64, 128, 256, 16), iterations_teacher=2000, iterations_distill=4000, batch_size=8,
        optimizer="sgd", lr=1e-2, lr_min=1e-4, weight_decay=4e-4, val_every=100, ckpt_every=500, amp="off",
        lr_schedule="epoch", lr_horizon=15000, threads=2, baselines_alongside=True, fgi=FGIOptions(**AUTHORS_CODE_OPTIONS),
    ),
    "paper": Profile(  # docs/method.md §7.1, exactly
        "paper", n_images=1000, synthetic_size=(384, 448), image_size=224, max_images=None, workers=8,
        teacher_widths=(64, 128, 256, 512, 1024, 128), iterations_teacher=15000, iterations_distill=15000, batch_size=8,
        optimizer="sgd", lr=1e-2, lr_min=1e-4, weight_decay=4e-4, val_every=500, ckpt_every=500, amp="auto",
        lr_schedule="epoch", fgi=FGIOptions(**AUTHORS_CODE_OPTIONS),
    ),
}


def get_profile(name: str, **overrides: Any) -> Profile:
    """The profile called ``name``, with fields replaced by ``overrides``.

    Raises:
        ValueError: for an unknown profile name or an unknown field in ``overrides``.
    """
    profile = PROFILES[look_up_option(name, PROFILES, "profile")]
    if not overrides:
        return profile
    fields = {f.name for f in dataclasses.fields(Profile)}
    for key in overrides:
        look_up_option(key, fields, "profile field")
    return dataclasses.replace(profile, **overrides)


def fgi_options(profile: Profile, **overrides: Any) -> FGIOptions:
    """The profile's FGI options (``profile.fgi``) with ``overrides``.

    Raises:
        ValueError: an unknown option name or value, with the allowed ones and "Did you mean ...".
    """
    names = {f.name for f in dataclasses.fields(FGIOptions)}
    for key in overrides:
        look_up_option(key, names, "FGI option")
    return dataclasses.replace(profile.fgi, **overrides) if overrides else profile.fgi


# ----------------------------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------------------------
def project_root(start: str | os.PathLike | None = None) -> Path | None:
    """The checkout's top folder (holds ``fgi_core/`` and ``notebooks/``), or None if not in one.

    Notebooks run with their own folder as working directory (JupyterLab) or the
    checkout's (papermill from ``fgi run``); both must write to the same ``runs/``.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "fgi_core").is_dir() and (folder / "notebooks").is_dir():
            return folder
    return None


def runs_root() -> Path:
    """Where run folders go: ``$FGI_RUNS_ROOT``, else ``<checkout>/runs``, else ``./runs``."""
    env = os.environ.get("FGI_RUNS_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    root = project_root()
    return (root if root is not None else Path.cwd()) / "runs"


def default_run_dir(dataset: str, profile: str, seed: int, run_name: str | None = None) -> Path:
    """``runs/<dataset>/<run-name>`` with run-name ``<profile>-seed<seed>`` unless given."""
    return runs_root() / dataset / (run_name or f"{profile}-seed{seed}")


def shared_realdata() -> Path | None:
    """The real data folder: ``$FGI_REALDATA``, else ``../shared/realdata`` beside the checkout.

    Returns None when it does not exist (a user's machine); real-data tests skip then.
    ``FGI_REALDATA=/nonexistent`` forces that.
    """
    env = os.environ.get("FGI_REALDATA")
    if env:  # an explicit setting wins, also when it points nowhere (to force the skip)
        candidates = [Path(env).expanduser()]
    else:
        root = project_root() or project_root(Path(__file__).parent)
        candidates = [root.parent / "shared" / "realdata"] if root is not None else []
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return None


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks cuda, then mps, then cpu; anything else is checked and returned."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind = device.split(":")[0]
    look_up_option(kind, ("cpu", "cuda", "mps"), "device")
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} asked for, but torch sees no CUDA GPU (torch {torch.__version__})")
    return device


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bf16 natively (oneDNN's check: AVX-512 BF16 / AMX class hardware).

    Without it, bf16 autocast on the CPU is emulated and about 20x slower than fp32 (measured on
    an AVX2-only AMD EPYC: one BasicUNet step 1.2 s in fp32 against 39-44 s under bf16).
    """
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def _cpu_times() -> tuple[int, int, float]:
    """``(all ticks, busy ticks, mine)``: the machine's clock ticks since boot, all and busy
    (``/proc/stat``, summed over the cores), and this process's CPU seconds (every thread)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait; the first 8 fields (guest time is counted in user)
    mine = os.times()
    return sum(values), sum(values) - idle, mine.user + mine.system


def busy_elsewhere(sample_s: float = 0.25) -> float:
    """How many cores other processes keep busy right now (0.0 = idle).

    On Linux: the machine's busy time in ``/proc/stat`` over ``sample_s`` seconds, less this
    process's own, in cores. Elsewhere: the 1-minute load average, which lags a minute and counts
    this process's own recent work (a process training stage after stage would read its own
    previous stage as other work and lower its threads), or 0.0 where there is none.
    """
    try:
        total0, busy0, mine0 = _cpu_times()
        time.sleep(sample_s)
        total1, busy1, mine1 = _cpu_times()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):  # no /proc/stat (macOS, Windows)
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0
    if total1 <= total0:
        return 0.0
    others = max(0.0, (busy1 - busy0) - (mine1 - mine0) * ticks)
    return round(others / (total1 - total0) * (os.cpu_count() or 1), 1)


def resolve_threads(wanted: int | None, cores: int | None = None, load: float | None = None,
                    reserved: int = 0) -> tuple[int, str]:
    """The torch threads a CPU run uses: ``(n, reason)``.

    At most ``wanted`` (None: every core; the environment variable ``FGI_THREADS`` lowers it),
    and at most the cores left free by other processes' work (``load``, default
    :func:`busy_elsewhere`) or by ``reserved`` cores that another process of the run is about to
    keep busy (it may still be starting), never
    under 1: an OpenMP thread on a core that another process keeps busy spins, and a step of two
    threads on two shared cores ran 10-20x slower than one thread (docs/results.md). The reason
    says when other work is using the cores.

    Example:
        >>> resolve_threads(2, cores=2, load=0.1)
        (2, '2 threads (the profile asks for 2; 2 cores, 0.1 busy elsewhere)')
        >>> resolve_threads(2, cores=2, load=1.4)[0]
        1
        >>> resolve_threads(2, cores=2, load=0.1, reserved=1)[0]
        1
    """
    cores = cores or os.cpu_count() or 1
    if load is None:
        load = busy_elsewhere()
    why = f"the profile asks for {wanted}" if wanted else "one per core"
    capped = os.environ.get("FGI_THREADS", "").strip()
    if capped:
        if not capped.isdigit() or int(capped) < 1:
            raise ValueError(f"FGI_THREADS must be a whole number >= 1; got {capped!r}")
        wanted, why = min(wanted or cores, int(capped)), f"FGI_THREADS={capped}"
    asked = min(wanted or cores, cores)
    free = max(1, cores - max(int(round(load)), reserved))
    n = max(1, min(asked, free))
    reason = f"{n} thread{'s' if n > 1 else ''} ({why}; {cores} cores, {load:.1f} busy elsewhere"
    reason += f", {reserved} kept for the run's baselines)" if reserved else ")"
    if n < asked:
        reason += f"; lowered from {asked}: other work is using the cores, and a thread on a busy core spins (10-20x slower)"
    if max(load - reserved, 0) + n > cores + 0.5:  # the reserved core's process is in the load, and planned for
        reason += f" -- WARNING: the cores are busy ({load:.1f} of {cores} busy elsewhere): expect slower steps than the docs' idle timings"
    return n, reason


def resolve_amp(amp: str, device: str) -> tuple[str, str]:
    """The precision training uses: ``("bf16" | "off", reason)``.

    ``amp="auto"``: bf16 autocast on CUDA; on a CPU only where it has native bf16
    (:func:`cpu_has_native_bf16`), else fp32; other devices fp32. ``"bf16"`` and ``"off"`` are
    taken as asked (the reason says when ``bf16`` will be slow).

    Example:
        >>> resolve_amp("off", "cpu")
        ('off', 'amp=off')
    """
    import torch

    look_up_option(amp, ("auto", "bf16", "off"), "amp")
    kind = str(device).split(":")[0]
    capability = torch.backends.cpu.get_cpu_capability()
    if amp == "off":
        return "off", "amp=off"
    if amp == "bf16":
        if kind == "cpu" and not cpu_has_native_bf16():
            return "bf16", f"amp=bf16 asked; this CPU ({capability}) has no native bf16, expect ~20x slower steps than fp32"
        return "bf16", "amp=bf16"
    if kind == "cuda":
        return "bf16", "amp=auto on CUDA"
    if kind == "cpu":
        if cpu_has_native_bf16():
            return "bf16", f"amp=auto: this CPU ({capability}) has native bf16"
        return "off", f"amp=auto: this CPU ({capability}) has no native bf16, fp32 is faster"
    return "off", f"amp=auto on {kind}: fp32"
