"""Notebook 05's baselines trained on the second core while notebooks 02-04 run (``fgi_core.alongside``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fgi_core import alongside
from fgi_core.config import resolve_threads
from fgi_core.io import write_json
from fgi_core.runs import ALONGSIDE_MARKER, reserved_cores

SEQUENCE = ["01_gaze_preprocessing.ipynb", "02_vlm_explanation.ipynb", "03_teacher_training.ipynb",
            "04_distillation.ipynb", "05_evaluation.ipynb", "06_interpretability.ipynb"]


def status_for(tmp_path: Path, profile: str = "cpu", gaze: bool = True, **params) -> dict:
    run_dir = tmp_path / "run"
    if gaze:
        write_json(run_dir / "gaze" / "manifest.json", {"ids": []})
    return {"run_dir": str(run_dir), "profile": profile, "sequence": SEQUENCE,
            "notebooks": {n: {"status": "done" if n.startswith("01") and gaze else "pending"} for n in SEQUENCE},
            "parameters": {"profile": profile, "dataset": "kvasir", "seed": 0, "run_dir": str(run_dir), **params}}


def test_notebook_05_trains_by_default_the_baselines_started_alongside():
    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "05_evaluation.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    line = next(line for line in cell["source"] if line.startswith("baselines ="))
    assert eval(line.split("=", 1)[1].split("#")[0]) == list(alongside.BASELINES)  # noqa: S307 -- our own literal


def test_plan_starts_after_notebook_01_on_a_cpu_with_two_cores(tmp_path):
    status = status_for(tmp_path)
    every = list(alongside.BASELINES)
    assert alongside.plan(status, 1, cores=2, device="cpu") == every  # before 02: all four
    assert alongside.plan(status, 3, cores=2, device="cpu") == every  # a run resumed at 04
    assert alongside.plan(status, 4, cores=2, device="cpu") == []  # 05 is next: it trains them itself
    assert alongside.plan(status, 1, cores=1, device="cpu") == []  # no second core
    assert alongside.plan(status, 1, cores=2, device="cuda") == []  # a GPU trains them in notebook 05
    assert alongside.plan(status, 1, cores=2, device="mps") == []
    assert alongside.plan(status_for(tmp_path, baselines=["m_bc"]), 1, cores=2, device="cpu") == ["m_bc"]
    assert alongside.plan(status_for(tmp_path, split="test"), 1, cores=2, device="cpu") == []  # fgi train selects on val
    assert alongside.plan({**status, "baselines_alongside": False}, 1, cores=2, device="cpu") == []  # --no-baselines-alongside
    assert alongside.plan(status_for(tmp_path, profile="quick"), 1, cores=2, device="cpu") == []  # not the quick profile's choice
    assert alongside.plan({**status_for(tmp_path, profile="quick"), "baselines_alongside": True}, 1, cores=2, device="cpu")
    assert alongside.plan({**status, "sequence": SEQUENCE[:4]}, 1, cores=2, device="cpu") == []  # no notebook 05 in the run
    from_02 = {**status, "sequence": SEQUENCE[1:]}  # `fgi run --from 02` on a folder whose gaze stage is there
    assert alongside.plan(from_02, 0, cores=2, device="cpu") == every


def test_plan_waits_for_this_runs_notebook_01_and_skips_trained_baselines(tmp_path):
    assert alongside.plan(status_for(tmp_path, gaze=False), 1, cores=2, device="cpu") == []
    status = status_for(tmp_path)
    stale = {**status, "notebooks": {**status["notebooks"], SEQUENCE[0]: {"status": "pending"}}}
    assert alongside.plan(stale, 0, cores=2, device="cpu") == []  # a gaze stage from before: 01 may rewrite it
    assert alongside.plan(stale, 1, cores=2, device="cpu") == []  # 01 did not finish in this run
    write_json(tmp_path / "run" / "baselines" / "full" / "summary.json", {"complete": True})
    write_json(tmp_path / "run" / "baselines" / "m_hc" / "summary.json", {"complete": False})  # cut mid-training
    assert alongside.plan(status, 1, cores=2, device="cpu") == ["m_hc", "m_bc", "gazemedseg"]
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # an earlier process of this run still training (a runner killed, its child not yet gone)
        write_json(tmp_path / "run" / ALONGSIDE_MARKER, {"pid": other.pid})
        assert alongside.plan(status, 1, cores=2, device="cpu") == []
    finally:
        other.kill()
        other.wait()


def test_a_live_baselines_process_keeps_a_core_from_the_notebooks(tmp_path):
    run_dir = tmp_path / "run"
    assert reserved_cores(run_dir) == 0 and reserved_cores(None) == 0  # no marker
    (run_dir / "baselines").mkdir(parents=True)
    (run_dir / ALONGSIDE_MARKER).write_text("not json")
    assert reserved_cores(run_dir) == 0
    write_json(run_dir / ALONGSIDE_MARKER, {"pid": os.getpid()})
    assert reserved_cores(run_dir) == 0  # the baselines' own process
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_json(run_dir / ALONGSIDE_MARKER, {"pid": other.pid})
        assert reserved_cores(run_dir) == 1
        job = alongside.Alongside(other, run_dir, ["m_bc"], 0.0)
        alongside.stop(job)  # the run stopped: the process ends and its marker goes
        assert other.poll() is not None and not (run_dir / ALONGSIDE_MARKER).exists()
    finally:
        other.kill()
        other.wait()
    write_json(run_dir / ALONGSIDE_MARKER, {"pid": other.pid})  # a stale marker of a dead process
    assert reserved_cores(run_dir) == 0


def test_threads_leave_reserved_cores_and_obey_fgi_threads(monkeypatch):
    n, reason = resolve_threads(2, cores=2, load=0.0, reserved=1)
    assert n == 1 and "1 kept for the run's baselines" in reason and "lowered from 2" in reason
    assert resolve_threads(2, cores=4, load=0.0, reserved=1)[0] == 2
    assert resolve_threads(4, cores=4, load=2.0, reserved=1)[0] == 2  # the load counts when it is higher
    assert "WARNING" not in resolve_threads(2, cores=2, load=2.0, reserved=1)[1]  # the baselines' process is planned for
    assert "WARNING" in resolve_threads(2, cores=2, load=2.0)[1]
    monkeypatch.setenv("FGI_THREADS", "1")
    n, reason = resolve_threads(2, cores=2, load=0.0)
    assert n == 1 and reason.startswith("1 thread (FGI_THREADS=1;")
    monkeypatch.setenv("FGI_THREADS", "two")
    with pytest.raises(ValueError, match=r"^FGI_THREADS must be a whole number >= 1; got 'two'$"):
        resolve_threads(2, cores=2, load=0.0)


def test_a_failed_baselines_process_is_reported_and_notebook_05_takes_over(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "baselines").mkdir(parents=True)
    (run_dir / alongside.LOG).write_text("line 1\nValueError: something broke\n")
    failing = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    write_json(run_dir / ALONGSIDE_MARKER, {"pid": failing.pid})
    lines = []
    assert alongside.wait(alongside.Alongside(failing, run_dir, ["m_bc"], 0.0), lines.append) is False
    assert "stopped (exit 3)" in lines[-1] and "ValueError: something broke" in lines[-1]
    assert not (run_dir / ALONGSIDE_MARKER).exists()


@pytest.mark.slow
def test_fgi_run_trains_the_baselines_alongside_with_the_weights_notebook_05_would(tmp_path):
    """The quick profile with ``baselines_alongside=True``: notebooks 01-05 of a real run; the
    baselines train during 02-04 and notebook 05 only reads them; m_bc's weights equal those of
    a training in this process on one thread."""
    import nbformat
    import torch

    from fgi_core.runner import read_status, run_notebooks
    from fgi_core.runs import start_stage
    from fgi_core.train import train_baseline
    from fgi_core.train.stages import _load

    lines = []
    run = run_notebooks("quick", "synthetic", 0, "alongside", select=["01", "02", "03", "04", "05"], progress=False,
                        log=lines.append, baselines_alongside=True)
    log = "\n".join(lines)
    assert "training on the second core beside the notebooks (one torch thread each" in log and "trained alongside in" in log, log
    assert log.index("second core") < log.index("02_vlm_explanation") and log.index("trained alongside") < log.index("05_evaluation")
    assert not (run / ALONGSIDE_MARKER).exists() and "m_bc: best validation Dice" in (run / alongside.LOG).read_text()
    assert read_status(run)["state"] == "complete"
    nb = nbformat.read(run / "notebooks" / "05_evaluation.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert text.count("(before this notebook)") == 4 and "(here)" not in text

    torch.set_num_threads(1)
    ctx = start_stage("test", profile="quick", dataset="synthetic", run_dir=str(run), device="cpu", record=False)
    train, val = _load(ctx, needs_text=False)
    train_baseline("m_bc", ctx.profile, train, val, tmp_path / "m_bc", seed=0, device="cpu", progress=False)
    here = torch.load(tmp_path / "m_bc" / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    there = torch.load(run / "baselines" / "m_bc" / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    assert here["iteration"] == there["iteration"] == ctx.profile.iterations_distill
    for name, value in here["networks"]["network"].items():
        assert torch.equal(value, there["networks"]["network"][name]), name


def test_an_interrupt_while_waiting_for_the_baselines_is_recorded_at_notebook_05(tmp_path):
    from fgi_core.runner import _wait_alongside, read_status

    class Interrupted:
        def poll(self):
            return None

        def wait(self):
            raise KeyboardInterrupt

    run_dir = tmp_path / "run"
    (run_dir / "notebooks").mkdir(parents=True)
    status = {"run_dir": str(run_dir), "profile": "cpu", "dataset": "kvasir", "seed": 0, "run_name": "run",
              "kernel_name": "python3", "notebooks_dir": str(tmp_path), "parameters": {}, "sequence": SEQUENCE,
              "state": "running", "created": "now",
              "notebooks": {n: {"status": "done" if n < SEQUENCE[4] else "pending"} for n in SEQUENCE}}
    lines = []
    with pytest.raises(KeyboardInterrupt):
        _wait_alongside(run_dir, status, SEQUENCE[4], run_dir / "notebooks",
                        alongside.Alongside(Interrupted(), run_dir, ["m_bc"], 0.0), lines.append)
    recorded = read_status(run_dir)
    assert recorded["state"] == "failed" and recorded["failed"] == SEQUENCE[4]
    assert recorded["notebooks"][SEQUENCE[4]]["error"] == "interrupted"
    assert (run_dir / "report.md").is_file()
