"""Run folders: ``runs/<dataset>/<run-name>/`` with ``config.json`` and ``env.json``.

Each notebook records its parameters under its own key in ``config.json`` so that the sequence
shares one folder and any notebook can be re-run alone.
"""
from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from .config import Profile, default_run_dir, get_profile, resolve_device
from .registry import RegistryView
from .io import read_json, write_json

__all__ = ["prepare_run", "environment_info", "cpu_model", "git_commit", "start_stage", "find_data_root", "StageContext",
           "STAGES_WITHOUT_TORCH", "ALONGSIDE_MARKER", "reserved_cores"]


def git_commit(folder: str | os.PathLike | None = None) -> str | None:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), or None."""
    cwd = Path(folder or Path(__file__).parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def accelerator_info() -> dict[str, Any]:
    """What torch sees: CUDA (version, each GPU's name and memory), MPS, and the torchrun world.

    Returns:
        ``{"torch_cuda": str | None, "cudnn": int | None, "gpus": [{"name", "memory_gib",
        "capability"}], "mps": bool, "world_size": int}``.
    """
    import torch

    gpus = []
    if torch.cuda.is_available():
        for k in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(k)
            gpus.append({"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "capability": f"{p.major}.{p.minor}"})
    from .distributed import launched_world_size

    return {
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "gpus": gpus,
        "mps": bool(getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()),
        "world_size": launched_world_size(),
    }


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows: quoted with every timing."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info(device: str | None = None, torch_details: bool = True, threads: dict | None = None) -> dict[str, Any]:
    """Versions, platform, CPU count and capability, device, what ``amp="auto"`` picks there,
    accelerators and git commit, for ``env.json``.

    ``torch_details=False`` leaves out what needs ``import torch`` (CPU capability, amp,
    accelerators: None each) for a stage that runs no network; the next stage that does fills
    them in.
    """
    from importlib import metadata

    versions = {}
    for pkg in ("fgi-core", "torch", "numpy", "scipy", "opencv-python-headless", "pydensecrf2", "pandas", "papermill"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    capability = amp_auto = accelerators = None
    if torch_details:
        import torch

        from .config import resolve_amp

        amp, why = resolve_amp("auto", device or "cpu")
        capability, amp_auto, accelerators = torch.backends.cpu.get_cpu_capability(), {"precision": amp, "reason": why}, accelerator_info()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": capability,
        "threads": threads,
        "amp_auto": amp_auto,
        "device": device,
        "accelerators": accelerators,
        "git_commit": git_commit(),
        "packages": versions,
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (created) while inside; no lock where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # Windows: unlocked (two stages recording within the same milliseconds is rare)
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_run(run_dir: str | os.PathLike, stage: str, params: dict[str, Any], device: str | None = None,
                torch_details: bool = True, threads: dict | None = None) -> Path:
    """Create ``run_dir``, record ``params`` under ``stage`` in config.json, refresh env.json
    (:func:`environment_info`).

    Returns:
        the run folder as an absolute path.
    """
    run_dir = Path(run_dir).expanduser().resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    with _locked(run_dir / ".config.lock"):  # a notebook and the baselines alongside may record at once
        config = read_json(config_path) if config_path.is_file() else {}
        config[stage] = params
        write_json(config_path, config)
    write_json(run_dir / "env.json", environment_info(device, torch_details, threads))
    return run_dir


# ----------------------------------------------------------------------------------------------
# Notebook start-up: parameters -> profile, dataset, ids, run folder
# ----------------------------------------------------------------------------------------------

def _registered_folders() -> dict[str, str]:
    from .data.base import data_folders  # importing fgi_core.data registers every reader

    return data_folders()


#: Dataset name -> the folder its data is looked for in when ``data_root`` is not given: a
#: read-only view of the folders the readers register (``kvasir-seg``, ``isic2018``, ``nci-isbi``).
DATA_FOLDERS: Mapping[str, str] = RegistryView(_registered_folders, "data folder")


@dataclass
class StageContext:
    """What a notebook's second cell resolves its parameters to.

    Attributes:
        profile: the :class:`~fgi_core.config.Profile`.
        dataset: the :class:`~fgi_core.data.SegmentationDataset`.
        ids: the images this run works on (split, capped by ``max_images``).
        run_dir: the run folder (created; config.json and env.json written).
        device: the resolved torch device name; ``None`` in a stage of
            :data:`STAGES_WITHOUT_TORCH` (it names no device).
    """

    profile: Profile
    dataset: Any
    ids: list[str]
    run_dir: Path
    device: str | None


#: Stages that run no network and never import torch (the gaze stage is numpy, SciPy and the
#: CRF): their ``start_stage`` does not import it either just to name a device (~3 s of a ~15 s
#: notebook). They record ``device: None``; ``env.json`` gets torch's details from the next stage.
STAGES_WITHOUT_TORCH = frozenset({"01_gaze_preprocessing"})


def data_root_candidates(dataset: str) -> list[Path]:
    """Where a dataset is looked for when no data root is given, in order:
    ``$FGI_DATA_ROOT/<folder>``, ``<checkout>/data/<folder>``, the real-data folder beside it."""
    from .config import project_root, shared_realdata

    folder = DATA_FOLDERS.get(dataset, dataset)
    candidates = []
    if os.environ.get("FGI_DATA_ROOT"):
        candidates.append(Path(os.environ["FGI_DATA_ROOT"]).expanduser() / folder)
    root = project_root()
    if root is not None:
        candidates.append(root / "data" / folder)
    real = shared_realdata()
    if real is not None:
        candidates.append(real / folder)
    return candidates


def find_data_root(dataset: str, data_root: str | os.PathLike | None = None) -> Path:
    """The folder of a real dataset: ``data_root``, else ``$FGI_DATA_ROOT/<folder>``, else ``data/<folder>``.

    Raises:
        FileNotFoundError: listing the places looked at and how to fetch the data.
    """
    from .config import project_root, shared_realdata

    if data_root is not None:
        path = Path(data_root).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"data_root {path} is not a folder")
        return path
    candidates = data_root_candidates(dataset)
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        f"no data folder for dataset {dataset!r}; looked at: {', '.join(map(str, candidates)) or '(nothing)'}. "
        f"Pass data_root=..., set FGI_DATA_ROOT, or run ./data_download.sh --only {dataset}."
    )


#: Written by :mod:`fgi_core.alongside` while notebook 05's baselines train beside the notebooks
#: (relative to the run folder): ``{"pid", "stages", "started"}``.
ALONGSIDE_MARKER = Path("baselines") / "alongside.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def reserved_cores(run_dir: str | Path | None) -> int:
    """Cores another process of this run is training on: 1 while its baselines train alongside
    (its marker names a live process other than this one), else 0. Notebooks 02-04 leave that
    core to it (:func:`fgi_core.config.resolve_threads`; :mod:`fgi_core.alongside`)."""
    if run_dir is None or os.name != "posix":  # the liveness check below is POSIX's
        return 0
    marker = Path(run_dir) / ALONGSIDE_MARKER
    try:
        pid = int(read_json(marker)["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    return int(pid != os.getpid() and _pid_alive(pid))


def use_threads(wanted: int | None, reserved: int = 0) -> dict[str, Any]:
    """Set torch's threads by :func:`fgi_core.config.resolve_threads` (the profile's, lowered when
    the cores are busy or ``reserved``), print the reason when it warns; ``{"n", "reason"}`` for env.json."""
    import torch

    from .config import resolve_threads

    n, reason = resolve_threads(wanted, reserved=reserved)
    torch.set_num_threads(n)
    if "WARNING" in reason:
        print(f"torch threads: {reason}")
    return {"n": n, "reason": reason}


def start_stage(
    stage: str,
    profile: str = "quick",
    dataset: str = "synthetic",
    data_root: str | None = None,
    gaze_csv: str | None = None,
    run_dir: str | None = None,
    seed: int = 0,
    device: str = "auto",
    split: str = "all",
    max_images: int | None = None,
    record: bool = True,
    **params: Any,
) -> StageContext:
    """Resolve a notebook's parameters, create the run folder and record them.

    ``max_images`` caps the images (default: the profile's cap; ``0`` or a negative value
    means no cap). Synthetic data is generated with the profile's size and count.
    ``record=False`` writes nothing (the other ranks of a ``torchrun`` launch: rank 0 records).
    """
    from .data import create_dataset

    prof = get_profile(profile)
    if dataset == "synthetic":
        ds = create_dataset("synthetic", n_images=prof.n_images, size=prof.synthetic_size, seed=seed)
    else:
        kwargs = {"gaze_csv": gaze_csv} if gaze_csv else {}
        ds = create_dataset(dataset, root=find_data_root(dataset, data_root), **kwargs)
    cap = prof.max_images if max_images is None else (None if max_images <= 0 else max_images)
    ids = ds.split(split)
    ids = ids[:cap] if cap else ids
    folder = Path(run_dir) if run_dir else default_run_dir(dataset, profile, seed)
    uses_torch = stage not in STAGES_WITHOUT_TORCH or "torch" in sys.modules
    dev = resolve_device(device) if uses_torch else None
    threads = use_threads(prof.threads, reserved_cores(folder)) if dev == "cpu" else None  # alongside: a core kept
    recorded = {"profile": profile, "dataset": dataset, "data_root": str(getattr(ds, "root", "")) or None,
                "gaze_csv": gaze_csv, "seed": seed, "device": dev, "split": split, "images": len(ids), **params}
    if record:
        folder = prepare_run(folder, stage, recorded, device=dev, torch_details=uses_torch, threads=threads)
    else:
        folder = Path(folder).expanduser().resolve()
    return StageContext(prof, ds, ids, folder, dev)
