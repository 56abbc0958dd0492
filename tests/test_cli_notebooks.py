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
