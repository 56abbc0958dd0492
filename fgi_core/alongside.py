"""Notebook 05's baselines, trained on a CPU's second core while notebooks 02-04 run.

On a CPU, a ``cpu``-profile step gains only 1.2x from a second torch thread (64 px, measured in
docs/results.md), and the four baselines of notebook 05 need nothing but notebook 01's
pseudo-masks. So when the profile asks for it (``Profile.baselines_alongside``: ``cpu``),
``fgi run`` starts the baselines in a process of one torch thread as soon as notebook 01 is
done, runs notebooks 02-04 on the other core (one thread: :func:`fgi_core.runs.reserved_cores`), and waits
for the process before notebook 05, which finds them trained and trains only what is missing.
The baselines' weights are those notebook 05 would train: the same code, data, seed and one
thread (tested: equal to ``train_baseline`` on one thread, which ``train_baselines``'
side-by-side workers equal in turn). POSIX only (Linux, macOS).

    run_dir/baselines/alongside.json   while it runs: {"pid", "stages", "started"}
    run_dir/baselines/alongside.log    its output

The process ends with the run: on Ctrl-C or SIGTERM :func:`stop` ends it, and if the runner is
killed outright it notices and exits (:func:`fgi_core.train.methods.exit_with_parent`); a rerun
(``fgi run --resume``) continues every baseline from its ``checkpoints/last.pt``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .runs import ALONGSIDE_MARKER, reserved_cores

__all__ = ["BASELINES", "LOG", "Alongside", "plan", "start", "wait", "stop", "main"]

#: Notebook 05's default ``baselines`` parameter (a test keeps the two equal).
BASELINES = ("full", "m_hc", "m_bc", "gazemedseg")
LOG = Path("baselines") / "alongside.log"
FIRST, LAST = "01_gaze_preprocessing.ipynb", "05_evaluation.ipynb"


@dataclass
class Alongside:
    """A running baselines process: its ``Popen``, the run folder, the stages and its start (``time.time()``)."""

    process: subprocess.Popen
    run_dir: Path
    stages: list[str]
    started: float


def _finished(run_dir: Path, stage: str) -> bool:
    from .io import read_json

    summary = run_dir / "baselines" / stage / "summary.json"
    try:
        return bool(read_json(summary).get("complete"))
    except (OSError, ValueError):
        return False


def plan(status: dict[str, Any], next_index: int, cores: int | None = None, device: str | None = None) -> list[str]:
    """The baselines to start alongside before notebook ``status["sequence"][next_index]``, or [].

    Started when: the run asks for it (``status["baselines_alongside"]``, default the profile's);
    notebook 01 is done in this run (or not part of it) and its gaze stage is in the run folder;
    notebook 05 comes later in the sequence (not next: then it trains them itself) and selects
    on ``val`` (what ``fgi train`` validates on); training runs on the CPU (``device``: the run's,
    resolved; a GPU or Apple's MPS trains them faster in notebook 05); there are at least 2
    cores; the system is POSIX (the liveness check); no earlier process of this run still trains
    them; and some baseline is not trained yet.
    """
    from .config import get_profile, resolve_device

    params = status["parameters"]
    run_dir = Path(status["run_dir"])
    sequence = status["sequence"]
    wanted = status.get("baselines_alongside")
    if wanted is None:
        wanted = get_profile(status["profile"]).baselines_alongside
    first_done = FIRST not in sequence or (FIRST not in sequence[next_index:]
                                          and status["notebooks"][FIRST].get("status") == "done")
    if (not wanted or os.name != "posix" or not first_done or LAST not in sequence[next_index + 1:]
            or not (run_dir / "gaze" / "manifest.json").is_file() or (params.get("split") or "val") != "val"
            or reserved_cores(run_dir)):
        return []
    device = device or resolve_device(str(params.get("device") or "auto"))
    if not device.startswith("cpu") or (cores or os.cpu_count() or 1) < 2:
        return []
    return [b for b in params.get("baselines", BASELINES) if not _finished(run_dir, b)]


def start(status: dict[str, Any], stages: list[str], log: Callable = print) -> Alongside:
    """Start ``python -m fgi_core.alongside RUN_DIR STAGE...`` (one torch thread, output in
    ``baselines/alongside.log``) and write its marker."""
    from .io import write_json

    run_dir = Path(status["run_dir"])
    (run_dir / "baselines").mkdir(parents=True, exist_ok=True)
    params = status["parameters"]
    run = {k: params[k] for k in ("profile", "dataset", "data_root", "gaze_csv", "seed", "device", "max_images")
           if params.get(k) is not None}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FGI_THREADS": "1", "MPLBACKEND": "Agg"}
    with open(run_dir / LOG, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "fgi_core.alongside", str(os.getpid()), str(run_dir),
                                    json.dumps(run), *stages],
                                   stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(run_dir))
    write_json(run_dir / ALONGSIDE_MARKER, {"pid": process.pid, "stages": stages, "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    log(f"      baselines {', '.join(stages)}: training on the second core beside the notebooks "
        f"(one torch thread each until notebook 05; log {run_dir / LOG})")
    return Alongside(process, run_dir, stages, time.time())


def wait(job: Alongside, log: Callable = print) -> bool:
    """Wait for ``job`` (before notebook 05); remove its marker; return whether it succeeded.
    A failure is reported with the log's last lines; notebook 05 then trains what is missing."""
    running = job.process.poll() is None
    if running:
        log("      waiting for the baselines training beside the notebooks ...")
    code = job.process.wait()
    (job.run_dir / ALONGSIDE_MARKER).unlink(missing_ok=True)
    log_file = job.run_dir / LOG
    ended = time.time() if running or not log_file.is_file() else log_file.stat().st_mtime  # its last line
    minutes = (ended - job.started) / 60
    if code == 0:
        log(f"      baselines {', '.join(job.stages)} trained alongside in {minutes:.1f} min")
        return True
    tail = (job.run_dir / LOG).read_text(errors="replace").splitlines()[-5:]
    log(f"      WARNING: the baselines' process stopped (exit {code}) after {minutes:.1f} min; notebook 05 trains "
        "what is missing. Its log ends:\n        " + "\n        ".join(tail))
    return False


def stop(job: Alongside | None) -> None:
    """End ``job`` if it still runs (the run stopped); its checkpoints stay for a resume."""
    if job is None:
        return
    if job.process.poll() is None:
        job.process.terminate()
        try:
            job.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait()
    (job.run_dir / ALONGSIDE_MARKER).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m fgi_core.alongside RUNNER_PID RUN_DIR RUN_JSON STAGE...``: train the stages into
    the run folder as ``fgi train`` would, with the run's profile, dataset, seed, ... (``RUN_JSON``),
    and exit as soon as the runner ``RUNNER_PID`` is gone (checked from the start, so a runner
    killed while this process imports torch is noticed too)."""
    args = list(sys.argv[1:] if argv is None else argv)
    runner, run_dir, run, stages = int(args[0]), Path(args[1]), json.loads(args[2]), args[3:]
    from .train.methods import exit_with_parent

    exit_with_parent(parent=runner)
    from .train.stages import train_stages

    train_stages(stages, run_dir=run_dir, progress=False, **run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
