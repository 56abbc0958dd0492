"""``fgi run`` / ``fgi sweep``: ranges, YAML parameters, status.json, report.md, failure + resume."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from fgi_core.cli import build_parser, main
from fgi_core.cli_batch import run_parameters
from fgi_core.config import runs_root
from fgi_core.runner import KERNEL_NAME, find_notebooks, load_parameters_file, read_status
from toy_notebooks import write_toy_notebook


def injected(path: Path) -> str:
    """The source of the cell papermill injected into an executed notebook."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, path
    return cells[0].source


def outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    text = []
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text.append(o.get("text", "") + o.get("evalue", "") + o.get("ename", ""))
    return "\n".join(text)


# ----------------------------------------------------------------------------------------------
# selection and parameters (no kernel)
# ----------------------------------------------------------------------------------------------
def test_from_to_picks_a_range():
    names = [p.name[:2] for p in find_notebooks(start="02", stop="03")]
    assert names == ["02", "03"]
    assert [p.name[:2] for p in find_notebooks(start="03")][0] == "03"
    assert [p.name[:2] for p in find_notebooks(stop="01")] == ["01"]
    with pytest.raises(ValueError, match=r"--from '09': no notebook starts with it; have 01, 02"):
        find_notebooks(start="09")
    with pytest.raises(ValueError, match="comes before --from"):
        find_notebooks(start="03", stop="02")


def test_parameters_file_flags_and_p_in_that_order(tmp_path):
    yaml_file = tmp_path / "params.yaml"
    yaml_file.write_text("profile: cpu\ndataset: kvasir\nseed: 3\niterations: 500\nteacher_loss: bce\ndata_root: data/k\n")
    args = build_parser().parse_args(["run", "--params-file", str(yaml_file), "--seed", "5", "-p", "iterations", "20"])
    run, params = run_parameters(args)
    assert run == {"profile": "cpu", "dataset": "kvasir", "seed": 5, "run_name": None}  # the flag beats the file
    assert params["iterations"] == 20 and params["teacher_loss"] == "bce"  # -p beats the file
    assert Path(params["data_root"]).is_absolute()
    run, params = run_parameters(build_parser().parse_args(["run"]))
    assert run == {"profile": "quick", "dataset": "synthetic", "seed": 0, "run_name": None} and params == {}
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_parameters_file(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        read_status(tmp_path)


# ----------------------------------------------------------------------------------------------
# the shared quick run: status.json, report.md, env.json, parameters in the executed copies
# ----------------------------------------------------------------------------------------------
def test_quick_run_records_status_report_and_environment(quick_run):
    status = read_status(quick_run)
    assert status["state"] == "complete" and status["kernel_name"] == KERNEL_NAME
    assert status["sequence"] == [p.name for p in find_notebooks()]
    for name in status["sequence"]:
        entry = status["notebooks"][name]
        assert entry["status"] == "done" and entry["seconds"] > 0 and entry["error"] is None, name
        nb = nbformat.read(quick_run / "notebooks" / name, as_version=4)
        assert nb.metadata.kernelspec.name == KERNEL_NAME
        assert nb.metadata.papermill.parameters["run_dir"] == str(quick_run)
    report = (quick_run / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", report)
    for link in links:
        assert (quick_run / link).is_file(), link  # every link resolves inside the run folder
    for name in status["sequence"]:
        assert f"notebooks/{name}" in links
    for figure in ("gaze/quality.png", "teacher/curves.png", "student/curves.png"):
        assert figure in links
    assert not [link for link in links if link.startswith("gaze/refined/")]  # figures, not per-image maps
    teacher = json.loads((quick_run / "teacher" / "summary.json").read_text())
    assert re.search(rf"\| teacher_val_dice \| {teacher['best_val_dice']:.4g} \|", report)
    env = json.loads((quick_run / "env.json").read_text())
    assert env["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", env["git_commit"])
    assert env["device"] in ("cpu", "cuda", "mps") and "gpus" in env["accelerators"]


@pytest.mark.slow
def test_failure_in_03_stops_there_and_resume_finishes(tmp_path, capsys):
    """Notebooks 03-04 only (in the quick profile 03 builds stages 1-2 itself when missing)."""
    name = "fail-then-resume"
    run_dir = runs_root() / "synthetic" / name
    yaml_file = tmp_path / "params.yaml"
    yaml_file.write_text("device: cpu\n")
    code = main(["run", "--run-name", name, "--from", "03", "--to", "04", "--params-file", str(yaml_file),
                 "-p", "teacher_loss", "'pcee'", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "03_teacher_training.ipynb failed in cell" in err and "Did you mean 'pce'" in err
    assert f"fgi run --profile quick --dataset synthetic --seed 0 --run-name {name} --resume" in err
    status = read_status(run_dir)
    assert status["state"] == "failed" and status["failed"] == "03_teacher_training.ipynb"
    assert status["notebooks"]["03_teacher_training.ipynb"]["status"] == "failed"
    assert status["notebooks"]["04_distillation.ipynb"]["status"] == "pending"
    failed = run_dir / "notebooks" / "03_teacher_training.ipynb"
    assert "ValueError" in outputs(failed) and "Unknown teacher_loss 'pcee'" in outputs(failed)  # kept, with its error
    assert 'teacher_loss = "pcee"' in injected(failed) and 'device = "cpu"' in injected(failed)
    assert not (run_dir / "notebooks" / "04_distillation.ipynb").exists()
    assert "| failed |" in (run_dir / "report.md").read_text()

    assert main(["run", "--run-name", name, "--resume", "-p", "teacher_loss", "None", "--no-progress"]) == 0
    status = read_status(run_dir)
    assert status["state"] == "complete" and "failed" not in status
    assert [status["notebooks"][n]["status"] for n in status["sequence"]] == ["done", "done"]
    for nb in ("03_teacher_training.ipynb", "04_distillation.ipynb"):
        source = injected(run_dir / "notebooks" / nb)
        assert "teacher_loss = None" in source or nb.startswith("04")
        assert 'device = "cpu"' in source  # the recorded YAML parameter is kept on resume
        assert "checks passed" in outputs(run_dir / "notebooks" / nb)
    assert json.loads((run_dir / "student" / "summary.json").read_text())["complete"]
    assert "| failed |" not in (run_dir / "report.md").read_text()


def _toy_notebooks(folder: Path) -> Path:
    """One notebook that writes a teacher summary from its seed and fails when seed == fail_on."""
    write_toy_notebook(
        folder / "01_toy.ipynb", 'profile = "quick"\ndataset = "synthetic"\nseed = 0\nrun_dir = None\nfail_on = 2\n',
        "import json, pathlib\n"
        "if seed == fail_on:\n    raise ValueError(f'seed {seed} fails on purpose')\n"
        "out = pathlib.Path(run_dir) / 'teacher'\nout.mkdir(parents=True, exist_ok=True)\n"
        "(out / 'summary.json').write_text(json.dumps({'best_val_dice': 0.5 + seed / 10, 'best_iteration': 1,"
        " 'iterations_done': 1, 'seconds_per_iteration': 0.1}))\n")
    return folder


@pytest.mark.slow
def test_sweep_tabulates_every_run_and_resumes_the_failed_one(tmp_path, capsys):
    notebooks = _toy_notebooks(tmp_path / "nb")
    args = ["sweep", "--seeds", "0", "1", "2", "--name", "toy", "--notebooks-dir", str(notebooks), "--no-progress"]
    assert main(args) == 1  # seed 2 failed; the sweep went on and says so
    assert "synthetic seed 2 stopped at 01_toy.ipynb" in capsys.readouterr().err
    folder = runs_root() / "sweeps" / "toy"
    table = pd.read_csv(folder / "summary.csv")
    assert table["seed"].tolist() == [0, 1, 2]
    assert table["state"].tolist() == ["complete", "complete", "failed"]
    assert table["teacher_val_dice"].iloc[:2].tolist() == pytest.approx([0.5, 0.6])
    assert "0.55 ± 0.071" in (folder / "summary.md").read_text()  # mean ± std over the finished seeds

    assert main([*args, "--resume", "-p", "fail_on", "-1"]) == 0  # complete runs are skipped, seed 2 resumes
    table = pd.read_csv(folder / "summary.csv")
    assert table["state"].tolist() == ["complete"] * 3
    assert table["teacher_val_dice"].tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert "fail_on = -1" in injected(runs_root() / "synthetic" / "toy-seed2" / "notebooks" / "01_toy.ipynb")
    assert "fail_on" not in injected(runs_root() / "synthetic" / "toy-seed0" / "notebooks" / "01_toy.ipynb")  # not re-run


def test_sigterm_stops_a_run_like_ctrl_c_and_leaves_no_kernel(tmp_path):
    """``kill`` / ``timeout`` on ``fgi run``: the notebook is recorded as interrupted and its kernel
    (in a session of its own) is shut down, not left computing with nobody to record it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import assert_process_ends

    pid_file = tmp_path / "kernel.pid"
    folder = tmp_path / "nbs"
    write_toy_notebook(folder / "01_sleep.ipynb", 'profile = "quick"\ndataset = "synthetic"\nseed = 0\nrun_dir = None\n',
                       f"import os, time, pathlib\npathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\ntime.sleep(120)\n")
    env = {**os.environ, "FGI_RUNS_ROOT": str(tmp_path / "runs")}
    proc = subprocess.Popen([sys.executable, "-m", "fgi_core.cli", "run", "--notebooks-dir", str(folder), "--run-name", "term",
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(300):  # the kernel started and runs the sleeping cell
        if pid_file.is_file() and pid_file.read_text():
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the notebook never started: " + proc.communicate()[0][-2000:])
    kernel = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0
    assert_process_ends(kernel, f"the kernel outlived fgi run: {output[-2000:]}")
    status = read_status(tmp_path / "runs" / "synthetic" / "term")
    assert status["state"] == "failed" and status["notebooks"]["01_sleep.ipynb"]["error"] == "interrupted"
