"""Data-parallel training: 2 CPU processes (gloo) under torchrun against one process.

With batch-independent normalisation (the baselines' BasicUNet has GroupNorm) and no random
masking, 2 processes with half of the global batch each must end at the weights of 1 process
with the whole batch (flips stay on: both draw the same flips for the global batch). The full
FGI stages (BatchNorm, DARM, CWC with CutMix, AFC) must run under torchrun from the command line
and leave one set of files, written by rank 0.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ddp_worker
from fgi_core.config import get_profile
from fgi_core.data import create_dataset
from fgi_core.explain import run_explain_stage
from fgi_core.gaze import run_gaze_stage
from fgi_core.train import fit, load_training_data

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(ddp_worker.__file__).resolve()


def torchrun(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node 2 ARGS`` on the CPU; fails the test with its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("WORLD_SIZE", None)
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"torchrun failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    return out


def log_rows(folder: Path) -> list[dict]:
    with open(folder / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_written_once(stage_dir: Path, iterations: int) -> None:
    """One set of files (rank 0's): two checkpoints, no temporary leftovers, no duplicated rows."""
    assert sorted(p.name for p in (stage_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    assert not [p for p in stage_dir.rglob("*") if p.name.endswith(".tmp")]
    iterations_logged = [int(r["iteration"]) for r in log_rows(stage_dir)]
    assert iterations_logged == sorted(set(iterations_logged)) and iterations_logged[-1] == iterations
    assert torch.load(stage_dir / "checkpoints" / "last.pt", weights_only=False)["iteration"] == iterations


@pytest.fixture(scope="module")
def saved_data(tmp_path_factory) -> Path:
    """8 synthetic images through stages 1-2 at 32 px, saved for the worker processes."""
    run = tmp_path_factory.mktemp("ddp-run")
    ds = create_dataset("synthetic", n_images=8, size=(64, 64), seed=3)
    run_gaze_stage(ds, run, refine_method="none", progress=False)
    run_explain_stage(ds, run, progress=False)
    data = load_training_data(ds, run, ds.ids, size=32, ground_truth=True)
    path = run / "data.pt"
    torch.save({f.name: getattr(data, f.name) for f in dataclasses.fields(data)}, path)
    return path


def test_setup_outside_torchrun_is_one_process(monkeypatch):
    from fgi_core import distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info, device = distributed.setup("cpu")
    assert (info.world_size, info.rank, info.enabled, device) == (1, 0, False, "cpu")
    index = torch.arange(8)
    assert torch.equal(distributed.shard(index, info), index)
    monkeypatch.setenv("WORLD_SIZE", "2")
    for key in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match="launch with torchrun"):
        distributed.setup("cpu")
    assert distributed.setup("cpu", enabled=False)[0].world_size == 1
    two = distributed.DistInfo(world_size=2, rank=1)
    assert distributed.shard(torch.arange(8), two).tolist() == [1, 3, 5, 7]


def test_the_global_batch_has_batch_size_samples():
    from fgi_core.train import BatchSampler

    sampler = BatchSampler(10, 4, seed=0)
    batches = [sampler.next() for _ in range(5)]
    assert [len(b) for b in batches] == [4] * 5  # shards of B / W each need exactly B
    assert sorted(torch.cat(batches)[:10].tolist()) == list(range(10))


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(saved_data, tmp_path):
    args = argparse.Namespace(iterations=4, batch_size=4, flips=1, optimizer="sgd", lr=1e-2)
    data = ddp_worker.TrainingData(**torch.load(saved_data, weights_only=False))
    single = ddp_worker.make_method("unet_m_hc", data)
    fit(single, data, data, tmp_path / "single", ddp_worker.config(args))

    torchrun(str(WORKER), str(saved_data), str(tmp_path / "ddp"), "--method", "unet_m_hc", "--iterations", "4",
             "--batch-size", "4", "--flips", "1", "--optimizer", "sgd", "--resume-check")
    whole = tmp_path / "ddp" / "whole"
    state = torch.load(whole / "checkpoints" / "last.pt", weights_only=False)
    assert state["world_size"] == 2 and len(state["noise_ranks"]) == 2
    for key, value in single.networks["network"].state_dict().items():
        torch.testing.assert_close(state["networks"]["network"][key], value, rtol=1e-4, atol=1e-6, msg=key)
    one, two = log_rows(tmp_path / "single"), log_rows(whole)
    assert len(one) == len(two) == 4
    for a, b in zip(one, two):  # logged losses are the global batch's mean; validation spans all images
        assert float(a["total"]) == pytest.approx(float(b["total"]), rel=1e-5)
        if a["val_dice"]:
            assert float(a["val_dice"]) == pytest.approx(float(b["val_dice"]), abs=1e-6)
    summary = json.loads((whole / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_batch"] == 4 and summary["complete"]
    assert_written_once(whole, 4)
    # resume under DDP: stop at 2, relaunch with fresh networks, end at the uninterrupted weights
    parts = torch.load(tmp_path / "ddp" / "parts" / "checkpoints" / "last.pt", weights_only=False)
    for key, value in state["networks"]["network"].items():
        assert torch.equal(parts["networks"]["network"][key], value), key
    assert_written_once(tmp_path / "ddp" / "parts", 4)


@pytest.mark.slow
def test_fgi_train_under_torchrun_with_everything_on(tmp_path):
    """Teacher, then distillation with DARM, CWC + CutMix + noise, AFC, flips, BatchNorm: 2 ranks."""
    profile = get_profile("quick")
    run = tmp_path / "run"
    ds = create_dataset("synthetic", n_images=profile.n_images, size=profile.synthetic_size, seed=0)  # as start_stage makes it
    run_gaze_stage(ds, run, refine_method="none", progress=False)
    run_explain_stage(ds, run, progress=False)
    out = torchrun("-m", "fgi_core.cli", "train", "teacher", "student", "--profile", "quick", "--run-dir", str(run),
                   "--iterations", "4", "--device", "cpu", "--no-progress", "-p", "val_every", "2", "-p", "ckpt_every", "2")
    assert out.stdout.count("best validation Dice") == 2  # rank 0 reports each stage once
    for stage in ("teacher", "student"):
        summary = json.loads((run / stage / "summary.json").read_text())
        assert summary["world_size"] == 2 and summary["complete"] and summary["iterations_done"] == 4
        assert_written_once(run / stage, 4)
    student = json.loads((run / "student" / "summary.json").read_text())["config"]
    assert student["use_darm"] and student["use_cwc"] and student["use_afc"] and student["perturb"]
    config = json.loads((run / "config.json").read_text())
    assert config["train_student"]["world_size"] == 2 and config["train_teacher"]["iterations"] == 4
    assert json.loads((run / "env.json").read_text())["accelerators"]["world_size"] == 2


@pytest.mark.slow
def test_fgi_train_in_one_process(tmp_path, capsys):
    """The same command without torchrun: one process, a baseline, resumable."""
    from fgi_core.cli import main

    profile = get_profile("quick")
    run = tmp_path / "run"
    ds = create_dataset("synthetic", n_images=profile.n_images, size=profile.synthetic_size, seed=0)
    run_gaze_stage(ds, run, refine_method="none", progress=False)
    assert main(["train", "m_hc", "--run-dir", str(run), "--iterations", "3", "--device", "cpu", "--no-progress",
                 "-p", "val_every", "3"]) == 0
    summary = json.loads((run / "baselines" / "m_hc" / "summary.json").read_text())
    assert summary["world_size"] == 1 and summary["complete"] and 0 <= summary["best_val_dice"] <= 1
    # again: the finished stage is loaded, not retrained, and keeps its summary (timings included)
    assert main(["train", "m_hc", "--run-dir", str(run), "--iterations", "3", "--device", "cpu", "--no-progress",
                 "-p", "val_every", "3"]) == 0
    assert json.loads((run / "baselines" / "m_hc" / "summary.json").read_text()) == summary
    capsys.readouterr()
    # the teacher needs stage 2's text; user errors end in one line and exit code 2
    assert main(["train", "teacher", "--run-dir", str(run), "--iterations", "3", "--no-progress"]) == 2
    assert "02_vlm_explanation" in capsys.readouterr().err
    assert main(["train", "student", "--run-dir", str(run), "-p", "use_afcc", "False"]) == 2
    assert "Unknown training option 'use_afcc'" in capsys.readouterr().err
