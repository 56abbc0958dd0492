"""The `fgi` command and the executed quick run shared by the tests."""
import json
import subprocess
import sys

import nbformat
import pytest

from fgi_core.cli import main


def test_info_lists_profiles_and_datasets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "profiles: quick, cpu, paper" in out
    assert "kvasir" in out and "synthetic" in out
    assert "profile quick: trains in fp32, 1 torch thread on a CPU (asks for 1)" in out  # quick is amp=off, one thread
    assert "profile cpu: trains in fp32" in out and "CPU load: " in out


def test_info_says_where_it_looked_for_real_data(capsys, monkeypatch):
    monkeypatch.setenv("FGI_REALDATA", "/nonexistent")
    assert main(["info"]) == 0
    assert "real data: not found (looked in $FGI_REALDATA, then ../shared/realdata beside the checkout)" in capsys.readouterr().out


def test_threads_follow_the_profile_and_the_load():
    from fgi_core.config import resolve_threads

    assert resolve_threads(1, cores=2, load=0.0) == (1, "1 thread (the profile asks for 1; 2 cores, 0.0 busy elsewhere)")
    assert resolve_threads(2, cores=2, load=0.2)[0] == 2
    n, why = resolve_threads(2, cores=2, load=1.0)  # one core busy elsewhere: one thread, said so
    assert n == 1 and "lowered from 2" in why and "WARNING" not in why
    n, why = resolve_threads(None, cores=2, load=2.6)  # both busy: one thread, and a warning
    assert n == 1 and "WARNING: the cores are busy (2.6 of 2 busy elsewhere)" in why
    assert resolve_threads(8, cores=2, load=0.0)[0] == 2  # never more than the cores


def test_busy_elsewhere_leaves_out_this_process(monkeypatch):
    """Between two samples 0.25 s apart on 2 cores at 100 ticks/s (50 ticks): 40 busy ticks, 15
    of them this process's (0.15 CPU seconds), so others kept 25 / 50 x 2 = 1.0 core busy."""
    from fgi_core import config

    samples = iter([(1000, 400, 2.00), (1050, 440, 2.15)])
    monkeypatch.setattr(config, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(config.time, "sleep", lambda s: None)
    monkeypatch.setattr(config.os, "sysconf", lambda name: 100)
    monkeypatch.setattr(config.os, "cpu_count", lambda: 2)
    assert config.busy_elsewhere() == 1.0
    samples = iter([(1000, 400, 2.00), (1050, 440, 2.40)])  # all 40 busy ticks were this process's
    assert config.busy_elsewhere() == 0.0


def test_busy_elsewhere_on_this_machine_counts_another_process_not_this_one():
    import os
    import threading
    import time

    from fgi_core.config import busy_elsewhere

    before = busy_elsewhere()
    if before > (os.cpu_count() or 1) - 1:
        pytest.skip(f"needs a free core to tell the two apart ({before} of {os.cpu_count()} busy)")
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        time.sleep(0.1)
        while_this_spins = busy_elsewhere()
    finally:
        stop.set()
        spinner.join()
    other = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        while_another_spins = busy_elsewhere()
    finally:
        other.kill()
        other.wait()
    assert while_this_spins < before + 0.5 and while_another_spins > before + 0.5, (before, while_this_spins, while_another_spins)


def test_a_stage_sets_and_records_its_threads(tmp_path):
    import torch

    from fgi_core.runs import start_stage

    before = torch.get_num_threads()
    try:
        ctx = start_stage("03_teacher_training", profile="quick", dataset="synthetic", run_dir=str(tmp_path / "run"), device="cpu")
        env = json.loads((ctx.run_dir / "env.json").read_text())
        assert torch.get_num_threads() == env["threads"]["n"] == 1 and "asks for 1" in env["threads"]["reason"]
    finally:
        torch.set_num_threads(before)


def test_bad_profile_is_named(capsys):
    assert main(["run", "--profile", "quik"]) == 2  # a user error: one line, exit code 2
    assert "Did you mean 'quick'" in capsys.readouterr().err


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "fgi_core.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "gaze" in out.stdout


def test_quick_run_writes_the_run_folder(quick_run):
    assert (quick_run / "config.json").is_file() and (quick_run / "env.json").is_file()
    env = json.loads((quick_run / "env.json").read_text())
    assert env["packages"]["torch"].startswith("2.13")
    config = json.loads((quick_run / "config.json").read_text())
    assert config["01_gaze_preprocessing"]["profile"] == "quick"
    for figure in ("quality.png", "example_best.png", "example_worst.png", "simulator_vs_recorded.png"):
        assert (quick_run / "gaze" / figure).stat().st_size > 10_000, figure


def test_parameters_reach_the_executed_notebook(quick_run):
    nb = nbformat.read(quick_run / "notebooks" / "01_gaze_preprocessing.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert f"run_dir = \"{quick_run}\"" in injected[0].source
    assert 'profile = "quick"' in injected[0].source
    # the notebook's own checks ran and printed their results
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "checks passed" in outputs


def test_quick_run_quality_is_recorded(quick_run):
    q = json.loads((quick_run / "gaze" / "quality.json").read_text())
    assert q["images"] == 24 and q["simulated"] is True
    assert q["mean"]["refined_hc_precision"] > q["mean"]["refined_bc_precision"]
