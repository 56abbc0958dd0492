"""Profiles, presets, option look-up, run folders, and the overlap metrics."""
import numpy as np
import pytest

from fgi_core.config import DatasetPreset, default_run_dir, get_profile, resolve_device
from fgi_core.data import get_preset
from fgi_core.metrics import dice, iou, overlap_scores, precision, recall
from fgi_core.registry import look_up_option


def test_look_up_option_suggests_the_closest_name():
    assert look_up_option("quick", ["quick", "cpu"]) == "quick"
    with pytest.raises(ValueError, match=r"Unknown profile 'quik'; allowed: cpu, paper, quick\. Did you mean 'quick'\?"):
        get_profile("quik")


def test_profiles_and_overrides():
    assert {get_profile(n).name for n in ("quick", "cpu", "paper")} == {"quick", "cpu", "paper"}
    assert get_profile("paper").image_size == 224  # docs/method.md §7.1
    assert get_profile("quick", n_images=5).n_images == 5
    with pytest.raises(ValueError, match="Unknown profile field 'n_image'"):
        get_profile("quick", n_image=5)


def test_presets_follow_the_method():
    kv, nci = get_preset("kvasir"), get_preset("nci-isbi")
    assert (kv.sigma * 768, kv.t_hc, kv.t_bc, kv.channels) == pytest.approx((70, 0.5, 0.3, 3))
    assert (nci.sigma * 768, nci.t_hc, nci.t_bc, nci.channels) == pytest.approx((50, 0.4, 0.2, 1))
    assert get_preset("isic").gaze == "simulated"
    assert get_preset("kvasir", t_hc=0.6).t_hc == 0.6
    with pytest.raises(ValueError, match="t_bc < t_hc"):
        DatasetPreset("x", "mri", 1, 0.1, t_hc=0.2, t_bc=0.4)
    with pytest.raises(ValueError, match="Did you mean 'dermoscopy'"):
        DatasetPreset("x", "dermoscopie", 3, 0.1, 0.5, 0.3)


def test_run_dir_layout(monkeypatch, tmp_path):
    monkeypatch.setenv("FGI_RUNS_ROOT", str(tmp_path))
    assert default_run_dir("kvasir", "cpu", 3) == tmp_path / "kvasir" / "cpu-seed3"
    assert default_run_dir("kvasir", "cpu", 3, "mine") == tmp_path / "kvasir" / "mine"


def test_device_resolution():
    assert resolve_device("auto") in {"cpu", "cuda", "mps"}
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        resolve_device("gpu")


def test_overlap_metrics_by_hand():
    gt = np.zeros((4, 4), bool)
    gt[:2, :2] = True                      # 4 pixels
    pred = np.zeros((4, 4), bool)
    pred[:2, 1:3] = True                   # 4 pixels, 2 of them on gt
    assert dice(pred, gt) == pytest.approx(2 * 2 / (4 + 4))   # 0.5
    assert iou(pred, gt) == pytest.approx(2 / 6)
    assert precision(pred, gt) == pytest.approx(2 / 4)
    assert recall(pred, gt) == pytest.approx(2 / 4)
    assert overlap_scores(gt, gt) == {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0}


def test_empty_conventions():
    empty, full = np.zeros((3, 3), bool), np.ones((3, 3), bool)
    assert overlap_scores(empty, empty) == {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0}
    assert (dice(empty, full), precision(empty, full), recall(empty, full)) == (0.0, 0.0, 0.0)
    assert (dice(full, empty), precision(full, empty), recall(full, empty)) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"shape \(3, 3\) does not match ground-truth shape \(2, 2\)"):
        dice(full, np.ones((2, 2)))
