"""Kernels started ahead and shut down behind (fgi_core.kernels), alone and inside ``fgi run``."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fgi_core.kernels import KernelRelay
from fgi_core.runner import KERNEL_ENVIRONMENT, NotebookFailed, kernel_environment, run_notebooks
from toy_notebooks import write_toy_notebook


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _pid_notebooks(folder: Path, n: int, fail_at: int | None = None) -> Path:
    """``n`` notebooks; each records its kernel's pid and MPLBACKEND and registers an atexit
    handler that writes ``<k>.exited`` (proof that the kernel exited through its normal
    shutdown); notebook ``fail_at`` raises after recording."""
    for k in range(1, n + 1):
        write_toy_notebook(
            folder / f"0{k}_pid.ipynb", 'profile = "quick"\ndataset = "synthetic"\nseed = 0\nrun_dir = None\n',
            "import atexit, json, os, pathlib\n"
            "out = pathlib.Path(run_dir)\nout.mkdir(parents=True, exist_ok=True)\n"
            f"(out / '{k}.json').write_text(json.dumps({{'pid': os.getpid(), 'mpl': os.environ.get('MPLBACKEND')}}))\n"
            f"atexit.register(lambda: (out / '{k}.exited').write_text('ok'))\n"
            + (f"raise RuntimeError('notebook {k} fails on purpose')\n" if k == fail_at else ""))
    return folder


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def test_a_run_uses_one_fresh_kernel_per_notebook_and_leaves_none(tmp_path, monkeypatch):
    import threading

    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernels get the inline backend all the same
    run_notebooks(notebooks_dir=_pid_notebooks(tmp_path / "warm", 1), run_name=f"warm-{tmp_path.name}",
                  parameters={"run_dir": str(tmp_path / "warm-run")}, progress=False, log=lambda *_: None)
    threads, files = threading.active_count(), _open_files()
    run_dir = run_notebooks(notebooks_dir=_pid_notebooks(tmp_path / "nbs", 3), run_name=f"relay-{tmp_path.name}",
                            parameters={"run_dir": str(tmp_path / "run")}, progress=False, log=lambda *_: None)
    assert run_dir.is_dir()
    seen = [json.loads((tmp_path / "run" / f"{k}.json").read_text()) for k in (1, 2, 3)]
    pids = [s["pid"] for s in seen]
    assert len(set(pids)) == 3                       # a kernel per notebook: no state leaks between them
    assert all(s["mpl"] == KERNEL_ENVIRONMENT["MPLBACKEND"] for s in seen)
    assert all(_gone(p) for p in pids)               # every kernel gone when the run returns
    assert all((tmp_path / "run" / f"{k}.exited").is_file() for k in (1, 2, 3))  # through a normal exit
    # the kernel clients papermill made are closed too: no heartbeat thread, no socket left per notebook
    assert threading.active_count() <= threads and _open_files() <= files + 2


def test_a_failing_notebook_leaves_no_kernel_and_no_kernel_started_ahead(tmp_path):
    with pytest.raises(NotebookFailed, match="02_pid.ipynb"):
        run_notebooks(notebooks_dir=_pid_notebooks(tmp_path / "nbs", 3, fail_at=2), run_name=f"relay-{tmp_path.name}",
                      parameters={"run_dir": str(tmp_path / "run")}, progress=False, log=lambda *_: None)
    pids = [json.loads((tmp_path / "run" / f"{k}.json").read_text())["pid"] for k in (1, 2)]
    assert all(_gone(p) for p in pids) and (tmp_path / "run" / "2.exited").is_file()
    assert not (tmp_path / "run" / "3.json").exists()


def test_relay_starts_the_next_kernel_ahead_and_stops_an_unused_one(tmp_path):
    with KernelRelay("python3", cwd=tmp_path, environment=kernel_environment) as relay:
        first = relay.take()
        assert len(relay.started) == 1 and relay.alive() == [first]
        relay.hand_back(first, start_next=True)      # the next kernel starts now, before it is asked for
        assert len(relay.started) == 2
        second = relay.started[1]
        assert relay.take() is second
        relay.hand_back(second, start_next=True)     # a third, started ahead and never taken
        assert len(relay.started) == 3
    assert relay.alive() == []                       # closing waited for two and stopped the third
