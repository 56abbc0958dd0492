"""The first hour of a new user: a mistake ends in one line and exit status 2, checked before any
work starts (no kernel, no run folder), with a command that exists where one is suggested.

Everything here is small and fast: tiny folder / Kvasir-layout datasets written by hand, a tiny
UNet checkpoint for ``fgi evaluate`` and ``fgi predict``; no notebook runs.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fgi_core.cli import main
from fgi_core.errors import UserError
from fgi_core.gaze import fixations_to_frame, write_fixations

ROOT = Path(__file__).resolve().parents[1]
TINY_WIDTHS = (4, 8, 8, 16, 16, 4)


def fgi(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``fgi ARGS`` in a fresh interpreter (its real stderr and exit status)."""
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    full.pop("FGI_DEBUG", None) if "FGI_DEBUG" not in (env or {}) else None
    return subprocess.run([sys.executable, "-m", "fgi_core.cli", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture()
def runs(tmp_path, monkeypatch) -> Path:
    """An empty runs folder, no real data, no checkout around the working directory."""
    folder = tmp_path / "runs"
    monkeypatch.setenv("FGI_RUNS_ROOT", str(folder))
    monkeypatch.setenv("FGI_REALDATA", "/nonexistent")
    monkeypatch.delenv("FGI_DATA_ROOT", raising=False)
    monkeypatch.delenv("FGI_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    return folder


def one_error_line(err: str) -> str:
    """The single line a user mistake prints (and nothing else: no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------------------- tiny datasets
def write_images(folder: Path, n: int = 6, size=(40, 48)) -> dict:
    """``n`` small JPEGs ``s0.jpg``... and two fixations each (GazeMedSeg records)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    records = {}
    for k in range(n):
        assert cv2.imwrite(str(folder / f"s{k}.jpg"), rng.integers(0, 255, (*size, 3), dtype=np.uint8))
        records[f"s{k}.jpg"] = (np.array([[0.5, 0.45, 300.0], [0.4, 0.4, 200.0]]), size)
    return records


def folder_dataset(root: Path, n: int = 6) -> Path:
    records = write_images(root / "images", n)
    write_fixations(fixations_to_frame(records), root / "gaze.csv")
    (root / "dataset.json").write_text(json.dumps({"modality": "endoscopy"}))
    return root


def short_row(csv: Path, line: int = 4) -> Path:
    """Cut the row on ``line`` (header = 1) after its third field."""
    lines = csv.read_text().splitlines()
    lines[line - 1] = ",".join(lines[line - 1].split(",")[:3])
    csv.write_text("\n".join(lines) + "\n")
    return csv


# ---------------------------------------------------------------------------- 1. one line, exit 2
def test_unknown_profile_is_one_line_and_exit_2(runs, tmp_path):
    done = fgi("run", "--profile", "quik", cwd=tmp_path, env={"FGI_RUNS_ROOT": str(runs)})
    assert done.returncode == 2
    assert one_error_line(done.stderr) == "error: Unknown profile 'quik'; allowed: cpu, paper, quick. Did you mean 'quick'?"
    assert not runs.exists()


def test_debug_flag_and_env_show_the_traceback(runs, monkeypatch, capsys):
    for argv in (["--debug", "run", "--profile", "quik"], ["run", "--profile", "quik", "--debug"]):
        with pytest.raises(UserError, match="Did you mean 'quick'"):
            main(argv)
    monkeypatch.setenv("FGI_DEBUG", "1")
    with pytest.raises(UserError):
        main(["run", "--profile", "quik"])
    monkeypatch.setenv("FGI_DEBUG", "0")
    assert main(["run", "--profile", "quik"]) == 2
    assert capsys.readouterr().err.startswith("error: Unknown profile 'quik'")


# ---------------------------------------------------------------------------- 2. checks first
def test_unknown_dataset_fails_at_once_and_makes_no_folder(runs, capsys):
    t0 = time.perf_counter()
    assert main(["run", "--dataset", "kvasr"]) == 2
    seconds = time.perf_counter() - t0
    assert one_error_line(capsys.readouterr().err) == (
        "error: Unknown dataset 'kvasr'; allowed: folder, isic, kvasir, nci-isbi, synthetic. Did you mean 'kvasir'?")
    assert not runs.exists() and seconds < 5


def _download_names() -> set[str]:
    text = (ROOT / "data_download.sh").read_text()
    return set(re.search(r'^ALL_NAMES="([^"]+)"', text, re.M).group(1).split())


def test_missing_data_suggests_a_command_that_exists(runs, tmp_path, capsys):
    monkeypatch_root = tmp_path / "datasets"
    monkeypatch_root.mkdir()
    os.environ["FGI_DATA_ROOT"] = str(monkeypatch_root)  # (undone by the fixture's delenv at teardown)
    try:
        t0 = time.perf_counter()
        assert main(["run", "--dataset", "kvasir"]) == 2
        seconds = time.perf_counter() - t0
    finally:
        del os.environ["FGI_DATA_ROOT"]
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: no data folder for dataset 'kvasir'; looked at {monkeypatch_root / 'kvasir-seg'}. "
                           "Pass --data-root DIR, set FGI_DATA_ROOT to the folder that holds it, or fetch it with: ")
    command = line.split("fetch it with: ")[1]
    assert command.split()[0] == str(ROOT / "data_download.sh")
    only = command.split("--only ")[1].split()[0].split(",")
    assert only == ["kvasir", "gazemedseg"] and set(only) <= _download_names()
    assert not runs.exists() and seconds < 5

    assert main(["run", "--dataset", "kvasir", "--data-root", str(tmp_path / "nowhere")]) == 2
    assert one_error_line(capsys.readouterr().err) == f"error: --data-root {tmp_path / 'nowhere'} does not exist"
    assert main(["run", "--dataset", "folder"]) == 2
    assert "dataset 'folder' needs --data-root DIR" in one_error_line(capsys.readouterr().err)
    assert not runs.exists()


def test_a_broken_gaze_csv_stops_fgi_run_before_any_kernel(runs, tmp_path, capsys):
    root = tmp_path / "kvasir-seg"
    records = write_images(root / "images", 4)
    (root / "masks").mkdir()
    csv = write_fixations(fixations_to_frame(records), root / "kvasir_fixation.csv")
    short_row(csv, 4)
    t0 = time.perf_counter()
    assert main(["run", "--dataset", "kvasir", "--data-root", str(root)]) == 2
    assert time.perf_counter() - t0 < 5
    assert one_error_line(capsys.readouterr().err) == (
        f"error: kvasir_fixation.csv line 4, column CURRENT_FIX_Y: row has 3 fields, expected 9 (it ends after column "
        f"CURRENT_FIX_X; complete the row or delete the line) (file {csv})")
    assert not runs.exists()
    # the folder one level up: the reader's layout message, and the --data-root it likely meant
    assert main(["run", "--dataset", "kvasir", "--data-root", str(tmp_path)]) == 2
    assert one_error_line(capsys.readouterr().err).endswith(f"(did you mean --data-root {root}?)")
    assert not runs.exists()


def test_fgi_train_checks_the_run_folder_first(runs, capsys):
    assert main(["train", "teacher", "--run-name", "nothing-yet"]) == 2
    run_dir = runs / "synthetic" / "nothing-yet"
    assert one_error_line(capsys.readouterr().err) == (
        f"error: no gaze/ outputs in {run_dir} (notebook 01_gaze_preprocessing makes them): first run notebooks 01-02 "
        f"for this run: fgi run --to 02 --profile quick --dataset synthetic --seed 0 --run-name nothing-yet")
    assert not runs.exists()


# ---------------------------------------------------------------------------- gaze CSV, fgi gaze
def test_fgi_gaze_short_row_then_lenient(runs, tmp_path, capsys):
    root = folder_dataset(tmp_path / "mine")
    csv = short_row(root / "gaze.csv", 4)
    run_dir = tmp_path / "run"
    args = ["gaze", "--dataset", "folder", "--data-root", str(root), "--run-dir", str(run_dir), "--refine", "none"]
    assert main(args) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: gaze.csv line 4, column CURRENT_FIX_Y: row has 3 fields, expected 9 (it ends after column CURRENT_FIX_X; "
        f"complete the row or delete the line) (file {csv}); fix the file, or rerun with --lenient to drop bad rows "
        f"(they are listed in {run_dir / 'gaze' / 'fixations_report.json'})")
    assert not run_dir.exists()  # nothing half-made is left behind

    assert main(args + ["--lenient"]) == 0
    out = capsys.readouterr().out
    report = run_dir / "gaze" / "fixations_report.json"
    assert (f"fixations: 1 of 12 rows dropped (1 x too few fields); 0 image(s) without fixations left out; "
            f"report: {report}") in out
    dropped = json.loads(report.read_text())["dropped"]
    assert [(d["line"], d["column"], d["reason"]) for d in dropped] == [(4, "CURRENT_FIX_Y", "too few fields")]


def test_fgi_gaze_image_without_gaze(runs, tmp_path, capsys):
    root = folder_dataset(tmp_path / "mine")
    lines = (root / "gaze.csv").read_text().splitlines()
    (root / "gaze.csv").write_text("\n".join(l for l in lines if not l.startswith("s2.jpg")) + "\n")
    run_dir = tmp_path / "run"
    args = ["gaze", "--dataset", "folder", "--data-root", str(root), "--run-dir", str(run_dir), "--refine", "none"]
    assert main(args) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: 1 of 6 images have no fixations in {root / 'gaze.csv'}: s2. Every image needs gaze: add their fixations "
        f"to the CSV, or leave these images out (`fgi gaze --lenient` skips them; from Python: ids= without them)")
    assert not run_dir.exists()
    assert main(args + ["--lenient"]) == 0
    out = capsys.readouterr().out
    assert "fixations: 0 of 10 rows dropped; 1 image(s) without fixations left out" in out and "gaze stage: 5 images" in out
    assert json.loads((run_dir / "gaze" / "fixations_report.json").read_text())["images_without_fixations"] == ["s2"]


def test_truncated_jpeg_names_the_file_without_a_traceback(runs, tmp_path):
    root = folder_dataset(tmp_path / "mine")
    bad = root / "images" / "s3.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    done = fgi("gaze", "--dataset", "folder", "--data-root", str(root), "--run-dir", str(tmp_path / "run"),
               "--refine", "none", "--workers", "2", cwd=tmp_path)
    assert done.returncode == 2
    # the progress bar's lines, then the error on a line of its own, last
    line = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr and done.stderr.count("error:") == 1, done.stderr
    assert line == (f"error: cannot read image {bad}: not a decodable image file (truncated or not an image?); "
                       f"replace it, or move it out of {bad.parent}")


# ---------------------------------------------------------------------------- evaluate, predict
@pytest.fixture()
def tiny_run(tmp_path) -> Path:
    """A run folder trained on synthetic data (quick profile) with one baseline, ``baselines/m_bc``."""
    import torch

    from fgi_core.models import create_model

    run = tmp_path / "runs" / "synthetic" / "quick-seed0"
    stage = run / "baselines" / "m_bc"
    (stage / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"05_evaluation": {"profile": "quick", "dataset": "synthetic", "seed": 0}}))
    torch.manual_seed(0)
    net = create_model("unet", in_channels=3, widths=TINY_WIDTHS)
    torch.save({"iteration": 1, "networks": {"network": net.state_dict()}, "activations": {"network": "softmax"},
                "models": {"network": net.model_spec}},
               stage / "checkpoints" / "best.pt")
    return run


def test_evaluate_a_baseline_stage_folder(tiny_run, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", str(tiny_run / "baselines" / "m_bc"), "--out", str(out), "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["methods"]) == ["UNet on M_bc"] and summary["n_images"] > 0
    assert "| UNet on M_bc |" in capsys.readouterr().out


def test_evaluate_a_folder_that_does_not_exist(runs, tmp_path, capsys):
    nope = tmp_path / "runs" / "synthetic" / "nope"
    assert main(["evaluate", str(nope)]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: {nope} does not exist: give a run folder (runs/<dataset>/<run>), a stage folder "
        f"(e.g. runs/<dataset>/<run>/baselines/m_bc) or a .pt checkpoint")


def test_evaluate_a_folder_that_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "holiday-photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a run\n")
    assert main(["evaluate", str(folder)]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"error: {folder} is not a run folder: it has no config.json (the notebooks, `fgi run` and `fgi train` write one) "
        f"and no checkpoint below it; give a run folder (runs/<dataset>/<run>), a stage folder "
        f"(e.g. runs/<dataset>/<run>/baselines/m_bc) or a .pt checkpoint")


def test_predict_skips_unreadable_files_and_warns(tiny_run, tmp_path, capsys):
    images = tmp_path / "new"
    images.mkdir()
    rng = np.random.default_rng(1)
    assert cv2.imwrite(str(images / "small.png"), rng.integers(0, 255, (50, 60, 3), dtype=np.uint8))
    assert cv2.imwrite(str(images / "big.png"), rng.integers(0, 255, (300, 280, 3), dtype=np.uint8))  # > 4 x 64 px
    (images / "fake.png").write_text("this is not an image\n")
    out = tmp_path / "pred"
    assert main(["predict", str(tiny_run / "baselines" / "m_bc"), "--images", str(images), "--out", str(out), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]  # (and the progress bar)
    assert warnings[0] == (f"warning: the network was trained on synthetic data ({tiny_run}): its masks of real images "
                           f"mean little; train on your own images first (fgi run --dataset folder --data-root DIR)")
    assert warnings[1] == (f"warning: skipped 1 unreadable file(s): fake.png (not a decodable image file) "
                           f"(status column of {out / 'predictions.csv'})")
    assert warnings[2].startswith("warning: 1 of 2 images are more than 4x the side the network was trained at (64 px), "
                                  "e.g. big.png (300 x 280): each is shrunk to 64 x 64")
    assert len(warnings) == 3
    assert f"2 images (1 unreadable, skipped) -> {out / 'masks'}" in captured.out
    table = pd.read_csv(out / "predictions.csv").set_index("image")
    assert table.loc["fake.png", "status"] == "unreadable: not a decodable image file"
    assert (table.loc[["big.png", "small.png"], "status"] == "ok").all()
    assert cv2.imread(str(out / "masks" / "big.png"), cv2.IMREAD_UNCHANGED).shape == (300, 280)

    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "fake.png").write_text("no\n")
    assert main(["predict", str(tiny_run / "baselines" / "m_bc"), "--images", str(only_bad), "--out", str(tmp_path / "p2"),
                 "--device", "cpu"]) == 2
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")] == [(
        f"error: none of the 1 file(s) in {only_bad} could be read as an image (see {tmp_path / 'p2' / 'predictions.csv'})")]


# ---------------------------------------------------------------------------- quiet kernels
def test_fgi_run_prints_no_kernel_transport_warning(runs, tmp_path):
    import nbformat

    folder = tmp_path / "toy"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "quick"\ndataset = "synthetic"\nseed = 0\nrun_dir = None\n')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print('checks passed')")]
    nbformat.write(nb, folder / "01_toy.ipynb")
    done = fgi("run", "--notebooks-dir", str(folder), "--run-name", "toy", "--no-progress", cwd=tmp_path,
               env={"FGI_RUNS_ROOT": str(runs)})
    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stderr + done.stdout
    assert (runs / "synthetic" / "toy" / "notebooks" / "01_toy.ipynb").is_file()
