"""The ISIC 2018 reader on a small fixture in the official layout; its splits and simulated gaze."""
from __future__ import annotations

import json
import re
import shutil

import cv2
import numpy as np
import pytest

from fgi_core.data import ISIC2018, create_dataset, prepare_isic
from fgi_core.data.isic import OFFICIAL_FOLDERS, SIMULATED_CSV
from fgi_core.gaze import points_for, read_fixations
from official_layouts import make_isic_root

SIZE = (48, 64)
TRAIN_IN, TRAIN_GT = OFFICIAL_FOLDERS["training"]


@pytest.fixture
def root(tmp_path):
    """10 Training, 2 Validation, 2 Test images (ISIC_0001000, ISIC_0001007, ... in that order)."""
    return make_isic_root(tmp_path / "isic2018", n_train=10, n_val=2, n_test=2, size=SIZE)


def ids(k0: int, k1: int) -> list[str]:
    return [f"ISIC_{1000 + 7 * k:07d}" for k in range(k0, k1)]


def test_ids_official_sets_and_default_splits(root):
    ds = ISIC2018(root, val_fraction=0.2)
    assert ds.name == "isic" and ds.modality == "dermoscopy" and ds.simulated_gaze and ds.preset.channels == 3
    assert (ds.preset.sigma, ds.preset.t_hc, ds.preset.t_bc) == (70 / 768, 0.5, 0.3)
    assert ds.ids == ids(0, 14)  # LICENSE.txt in the input folders is not an image
    assert ds.official == {"training": ids(0, 10), "validation": ids(10, 12), "test": ids(12, 14)}
    assert ds.official_set(ids(11, 12)[0]) == "validation"
    val = ds.split("val")
    assert len(val) == 2 and set(val) <= set(ids(0, 10))  # carved from Training: 0.2 x 10
    assert sorted(ds.split("train") + val) == ids(0, 10)
    assert ds.split("test") == ids(12, 14) and ds.split("official-validation") == ids(10, 12)
    assert ISIC2018(root, val_fraction=0.2).split("val") == val  # deterministic


def test_without_a_test_set_the_official_validation_is_the_test_split(root):
    shutil.rmtree(root / OFFICIAL_FOLDERS["test"][0])
    ds = ISIC2018(root)
    assert ds.split("test") == ids(10, 12)
    assert "official-validation" not in ds.splits
    assert len(ds.split("val")) == 1  # round(0.1 x 10)


def test_image_is_rgb_and_mask_is_binary(root):
    red = np.zeros((*SIZE, 3), np.uint8)
    red[..., 2] = 255  # BGR
    first = ids(0, 1)[0]
    cv2.imwrite(str(root / TRAIN_IN / f"{first}.jpg"), red)
    ds = create_dataset("isic", root=root)
    image = ds.image(first)
    assert image.shape == (*SIZE, 3) and image.dtype == np.uint8
    assert image[..., 0].min() > 200 and image[..., 1].max() < 50 and image[..., 2].max() < 50
    mask = ds.mask(ids(1, 2)[0])
    png = cv2.imread(str(root / TRAIN_GT / f"{ids(1, 2)[0]}_segmentation.png"), cv2.IMREAD_GRAYSCALE)
    assert mask.dtype == bool and np.array_equal(mask, png == 255) and 0 < mask.mean() < 1
    (root / OFFICIAL_FOLDERS["test"][1] / f"{ids(13, 14)[0]}_segmentation.png").unlink()
    assert ds.mask(ids(13, 14)[0]) is None


def test_layout_errors(tmp_path, root):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / TRAIN_IN)) + ".*data_download.sh --only isic"):
        ISIC2018(tmp_path)
    dup = ids(0, 1)[0]
    shutil.copy(root / TRAIN_IN / f"{dup}.jpg", root / OFFICIAL_FOLDERS["test"][0] / f"{dup}.jpg")
    with pytest.raises(ValueError, match=f"ISIC id '{dup}' is in two official sets"):
        ISIC2018(root)


def test_prepare_writes_splits_and_simulated_gaze(root):
    report = prepare_isic(root, val_fraction=0.2, seed=0, log=lambda *_: None)
    assert report["official_sets"] == {"training": 10, "validation": 2, "test": 2}
    assert report["splits"] == {"train": 8, "val": 2, "test": 2, "official-validation": 2}
    ds = ISIC2018(root)  # default val_fraction 0.1, but the split files win
    assert len(ds.split("val")) == 2 and ds.split("val") == ISIC2018(root, val_fraction=0.2).split("val")
    side = json.loads((root / SIMULATED_CSV).with_suffix(".json").read_text())
    assert side["simulated"] is True and side["dataset"] == "isic" and side["seed"] == 0 and side["without_mask"] == []
    assert ds.gaze_csv() == root / SIMULATED_CSV  # no work_dir needed: made once by prepare
    frame, rep = read_fixations(root / SIMULATED_CSV, image_ids=ds.ids)
    assert rep.images_without_fixations == [] and set(frame["IMAGE"]) == {f"{i}.jpg" for i in ds.ids}
    # most fixations land on the lesion (the simulator's calibration: ~85 %)
    inside = []
    for i in ds.ids:
        pts, m = points_for(frame, i), ds.mask(i)
        rows = np.minimum((pts[:, 1] * SIZE[0]).astype(int), SIZE[0] - 1)
        cols = np.minimum((pts[:, 0] * SIZE[1]).astype(int), SIZE[1] - 1)
        inside.append(m[rows, cols].mean())
    assert np.mean(inside) > 0.6


def test_simulated_gaze_of_an_image_does_not_depend_on_the_others(root, tmp_path):
    prepare_isic(root, log=lambda *_: None)
    full, _ = read_fixations(root / SIMULATED_CSV)
    two = ISIC2018(root, ids=ids(3, 5))
    (root / SIMULATED_CSV).unlink()
    with pytest.raises(ValueError, match="ISIC2018.gaze_csv needs work_dir"):
        two.gaze_csv()
    path = two.gaze_csv(tmp_path / "run" / "gaze")
    assert path == tmp_path / "run" / "gaze" / "fixations_simulated.csv"
    part, _ = read_fixations(path)
    assert sorted(part["id"].unique()) == ids(3, 5)
    for i in ids(3, 5):
        assert np.array_equal(points_for(part, i), points_for(full, i))
    # made once: a second call reuses the file
    mtime = path.stat().st_mtime_ns
    assert two.gaze_csv(tmp_path / "run" / "gaze") == path and path.stat().st_mtime_ns == mtime
    # another seed is another simulation: the file is made again
    other = ISIC2018(root, ids=ids(3, 5), seed=1).gaze_csv(tmp_path / "run" / "gaze")
    assert not np.array_equal(points_for(read_fixations(other)[0], ids(3, 4)[0]), points_for(full, ids(3, 4)[0]))


def test_prepare_refuses_training_images_without_masks(root):
    (root / TRAIN_GT / f"{ids(2, 3)[0]}_segmentation.png").unlink()
    with pytest.raises(ValueError, match=re.escape("1 ISIC Training images have no mask") + f".*{ids(2, 3)[0]}"):
        prepare_isic(root, log=lambda *_: None)


def test_gaze_stage_records_the_gaze_as_simulated(root, tmp_path):
    from fgi_core.gaze import run_gaze_stage

    ds = ISIC2018(root, ids=ids(0, 3))
    result = run_gaze_stage(ds, tmp_path / "run", refine_method="none", progress=False)
    params = json.loads((tmp_path / "run" / "gaze" / "params.json").read_text())
    assert params["simulated"] is True and params["gaze_source"] == "simulated" and params["dataset"] == "isic"
    assert result.summary["simulated"] is True
    assert params["gaze_csv"] == str(tmp_path / "run" / "gaze" / "fixations_simulated.csv")
