"""Run folders: ``runs/<dataset>/<run-name>/`` with ``config.json`` and ``env.json``.

Each notebook records its parameters under its own key in ``config.json`` so that the sequence
shares one folder and any notebook can be re-run alone.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .io import read_json, write_json

__all__ = ["prepare_run", "environment_info", "git_commit"]


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


def environment_info(device: str | None = None) -> dict[str, Any]:
    """Versions, platform, CPU count, device and git commit, for ``env.json``."""
    from importlib import metadata

    versions = {}
    for pkg in ("fgi-core", "torch", "numpy", "scipy", "opencv-python-headless", "pydensecrf2", "monai", "pandas", "papermill"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "git_commit": git_commit(),
        "packages": versions,
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def prepare_run(run_dir: str | os.PathLike, stage: str, params: dict[str, Any], device: str | None = None) -> Path:
    """Create ``run_dir``, record ``params`` under ``stage`` in config.json, refresh env.json.

    Returns:
        the run folder as an absolute path.
    """
    run_dir = Path(run_dir).expanduser().resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    config = read_json(config_path) if config_path.is_file() else {}
    config[stage] = params
    write_json(config_path, config)
    write_json(run_dir / "env.json", environment_info(device))
    return run_dir
