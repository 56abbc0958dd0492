"""Evaluation: boundary distances against hand-computed values and MONAI, the empty-set
conventions, summaries, paired intervals, rebuilding networks from checkpoints, ``fgi evaluate``
and ``fgi predict`` on a quick run."""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from fgi_core.evaluate import format_table, resize_probability, score_image
from fgi_core.metrics import asd, hd95, paired_bootstrap, summarise, surface_distances
TINY_WIDTHS = (4, 8, 8, 16, 16, 4)


def _points(shape, *pixels):
    m = np.zeros(shape, bool)
    for r, c in pixels:
        m[r, c] = True
    return m


def test_distances_by_hand():
    # one pixel each, 3 apart: every boundary distance is 3
    p, g = _points((9, 12), (5, 5)), _points((9, 12), (5, 8))
    assert hd95(p, g) == pytest.approx(3.0) and asd(p, g) == pytest.approx(3.0)
    # pred {(0,0)}, gt {(0,0), (0,10)}: pred->gt [0], gt->pred [0, 10]
    p, g = _points((4, 12), (0, 0)), _points((4, 12), (0, 0), (0, 10))
    d_pg, d_gp = surface_distances(p, g)
    assert d_pg.tolist() == [0.0] and sorted(d_gp.tolist()) == [0.0, 10.0]
    assert hd95(p, g) == pytest.approx(np.percentile([0, 10], 95))  # 9.5: the symmetric maximum
    assert asd(p, g) == pytest.approx(10 / 3)
    # spacing scales distances: 3 columns of 0.5 mm
    p, g = _points((9, 12), (5, 5)), _points((9, 12), (5, 8))
    assert hd95(p, g, spacing=(1.0, 0.5)) == pytest.approx(1.5)


def test_identical_masks_and_empty_set_conventions():
    square = np.zeros((20, 20), bool)
    square[4:12, 5:15] = True
    empty = np.zeros_like(square)
    assert hd95(square, square) == 0.0 and asd(square, square) == 0.0
    assert hd95(empty, empty) == 0.0 and asd(empty, empty) == 0.0
    assert math.isnan(hd95(square, empty)) and math.isnan(asd(empty, square))
    scores = score_image(empty, square)
    assert scores["dice"] == 0.0 and math.isnan(scores["hd95"])
    with pytest.raises(ValueError, match="two non-empty masks"):
        surface_distances(empty, square)
    with pytest.raises(ValueError, match=r"prediction shape \(20, 20\) does not match ground-truth shape \(20, 21\)"):
        hd95(square, np.zeros((20, 21), bool))


# MONAI's own distance functions pass an argument MONAI itself deprecates (1.5): not ours to fix.
@pytest.mark.filterwarnings("ignore:.*always_return_as_numpy.*:FutureWarning")
def test_distances_agree_with_monai():
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    rng = np.random.default_rng(3)
    for k in range(12):
        p, g = np.zeros((48, 64), np.uint8), np.zeros((48, 64), np.uint8)
        cv2.circle(p, (int(rng.integers(0, 64)), int(rng.integers(0, 48))), int(rng.integers(2, 18)), 1, -1)  # may touch the border
        cv2.ellipse(g, (int(rng.integers(5, 60)), int(rng.integers(5, 44))), (int(rng.integers(2, 22)), int(rng.integers(2, 14))), 30, 0, 360, 1, -1)
        onehot = [torch.from_numpy(np.stack([1 - m, m]))[None].float() for m in (p, g)]
        spacing = (1.0, 1.0) if k % 2 == 0 else (0.8, 1.3)
        want_hd = compute_hausdorff_distance(*onehot, percentile=95, spacing=list(spacing)).item()
        want_asd = compute_average_surface_distance(*onehot, symmetric=True, spacing=list(spacing)).item()
        assert hd95(p, g, spacing) == pytest.approx(want_hd, rel=1e-5, abs=1e-5)
        assert asd(p, g, spacing) == pytest.approx(want_asd, rel=1e-5, abs=1e-5)


def test_summary_counts_undefined_distances_and_table_says_so():
    rows = [{"dice": 0.8, "iou": 0.6, "hd95": 4.0, "asd": 1.0, "precision": 1, "recall": 1},
            {"dice": 0.6, "iou": 0.4, "hd95": 8.0, "asd": 3.0, "precision": 1, "recall": 1},
            {"dice": 0.0, "iou": 0.0, "hd95": math.nan, "asd": math.nan, "precision": 0, "recall": 0}]
    s = summarise(rows)
    assert s["dice"]["mean"] == pytest.approx(1.4 / 3) and s["dice"]["undefined"] == 0 and s["dice"]["n"] == 3
    assert s["hd95"] == {"mean": 6.0, "std": pytest.approx(math.sqrt(8.0)), "n": 2, "undefined": 1}
    table = format_table({"m": s})
    assert "| m | 3 | 0.467 ± 0.416 |" in table and "6.0 ± 2.8 (1 undef.)" in table


def test_paired_bootstrap_interval():
    a = np.array([0.9, 0.8, 0.7, 0.85, 0.75])
    b = a - np.array([0.1, 0.05, 0.1, 0.05, 0.1])
    r = paired_bootstrap(a, b)
    assert r["mean"] == pytest.approx(0.08) and r["wins"] == 1.0 and r["n"] == 5
    assert 0.05 <= r["low"] <= r["mean"] <= r["high"] <= 0.1
    same = paired_bootstrap(a, a)
    assert same["mean"] == same["low"] == same["high"] == 0.0
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap(a, b[:3])


def test_resize_probability_goes_back_to_the_original_size():
    prob = np.zeros((8, 8), np.float32)
    prob[2:6, 2:6] = 1
    big = resize_probability(prob, (30, 40))
    assert big.shape == (30, 40) and big.dtype == np.float32 and 0 <= big.min() and big.max() <= 1
    assert big[15, 20] == pytest.approx(1.0) and big[0, 0] == 0


@pytest.mark.parametrize("kind", ["student", "teacher", "teacher-no-text", "unet", "gazemedseg"])
def test_networks_are_rebuilt_from_their_state_dicts(kind):
    from fgi_core.models import create_model
    from fgi_core.predict import network_from_state

    teacher_widths = tuple(2 * w for w in TINY_WIDTHS)
    made = {
        "student": lambda: create_model("student", in_channels=1, widths=TINY_WIDTHS, teacher_widths=teacher_widths),
        "teacher": lambda: create_model("teacher", in_channels=3, widths=TINY_WIDTHS, text_dim=24),
        "teacher-no-text": lambda: create_model("teacher", in_channels=3, widths=TINY_WIDTHS, text_dim=24, fusion=False),
        "unet": lambda: create_model("unet", in_channels=3, widths=TINY_WIDTHS),
        "gazemedseg": lambda: create_model("gazemedseg", in_channels=3, widths=TINY_WIDTHS),
    }[kind]()
    state = made.state_dict()
    got_kind, rebuilt = network_from_state("x", state)
    assert got_kind == kind.split("-")[0]
    rebuilt.load_state_dict(state)  # strict: every key and shape matches
    if kind == "teacher-no-text":
        assert rebuilt.use_fusion is False


# ---------------------------------------------------------------- on the shared quick run
def test_fgi_evaluate_writes_the_eval_folder(tiny_run, tmp_path, capsys):
    from fgi_core.cli import main
    from fgi_core.cli_eval import METHOD_LABELS

    out = tmp_path / "eval"
    assert main(["evaluate", str(tiny_run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| FGI student |" in printed and "| FGI teacher |" in printed and "paired Dice FGI student - FGI teacher" in printed
    per_image = pd.read_csv(out / "per_image.csv")
    summary = json.loads((out / "summary.json").read_text())
    n_val = summary["n_images"]
    baselines = sorted(p.parent.name for p in (tiny_run / "baselines").glob("*/checkpoints"))  # notebook 05 trains them
    expected = {"FGI student", "FGI teacher"} | {METHOD_LABELS[b] for b in baselines}
    assert n_val > 0 and set(per_image.method) == expected and len(per_image) == len(expected) * n_val
    assert per_image[["dice", "iou"]].apply(lambda c: c.between(0, 1)).all().all()
    student = per_image[per_image.method == "FGI student"]
    assert summary["methods"]["FGI student"]["dice"]["mean"] == pytest.approx(student.dice.mean())
    # scored at the synthetic images' own size, not the 64-px training size
    assert set(zip(student.height, student.width)) == {(160, 192)}
    assert "FGI student" in (out / "table.md").read_text()
    assert main(["evaluate", str(tiny_run), "--out", str(tmp_path / "only"), "--no-baselines", "--networks", "student"]) == 0
    assert set(pd.read_csv(tmp_path / "only" / "per_image.csv").method) == {"FGI student"}


def test_evaluate_a_split_file_and_a_checkpoint(tiny_run, tmp_path):
    from fgi_core.cli_eval import evaluate_run

    split = tmp_path / "three.txt"
    ids = pd.read_csv(tiny_run / "gaze" / "quality.csv")["id"].astype(str).tolist()[:3]
    split.write_text("\n".join(ids) + "\n")
    ckpt = tiny_run / "student" / "checkpoints" / "last.pt"
    summary = evaluate_run(ckpt, split_file=split, out_dir=tmp_path / "e", progress=False)
    assert summary["n_images"] == 3 and list(summary["methods"]) == ["student"]
    assert summary["split"] == str(split)


def test_fgi_predict_on_new_images(tiny_run, tmp_path):
    from fgi_core.cli import main
    from fgi_core.predict import load_predictor, predict_folder

    images = tmp_path / "new"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (("a.png", (100, 130, 3)), ("b.jpg", (77, 90, 3))):
        cv2.imwrite(str(images / name), rng.integers(0, 255, shape, dtype=np.uint8))
    (images / "notes.txt").write_text("not an image")
    assert main(["predict", str(tiny_run), "--images", str(images), "--out", str(tmp_path / "out")]) == 0
    for stem, shape in (("a", (100, 130)), ("b", (77, 90))):
        mask = cv2.imread(str(tmp_path / "out" / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == shape and set(np.unique(mask)) <= {0, 255}
        assert cv2.imread(str(tmp_path / "out" / "overlays" / f"{stem}.png")).shape == (*shape, 3)
    assert len(pd.read_csv(tmp_path / "out" / "predictions.csv")) == 2
    teacher = load_predictor(tiny_run, "teacher")
    assert teacher.needs_text
    with pytest.raises(ValueError, match="new images have none: predict with the student"):
        predict_folder(teacher, images, tmp_path / "t")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        predict_folder(load_predictor(tiny_run), empty, tmp_path / "x")


def test_load_predictor_errors(tmp_path, tiny_run):
    from fgi_core.predict import load_predictor

    with pytest.raises(FileNotFoundError, match="no best.pt for network 'student'"):
        load_predictor(tmp_path)
    with pytest.raises(ValueError, match="Unknown network 'studnet'.*Did you mean 'student'"):
        load_predictor(tiny_run, "studnet")
    with pytest.raises(KeyError, match="holds \\['teacher'\\], not 'student'"):
        load_predictor(tiny_run / "teacher", "student")
