"""The Kvasir-SEG reader on a tiny fake layout, and on the real data where it is present."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fgi_core.config import shared_realdata
from fgi_core.data import KvasirSEG, create_dataset

H, W = 48, 64
IDS = ["cju_a", "cju_b", "cju_c"]


def _true_mask(k: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[8 + 2 * k : 32 + k, 10 + 3 * k : 40 + 2 * k] = True
    return m


@pytest.fixture
def fake_root(tmp_path, monkeypatch) -> Path:
    """<tmp>/kvasir-seg with 3 JPEG images, JPEG masks (values near 0/255) and two split files."""
    monkeypatch.delenv("FGI_KVASIR_GAZE", raising=False)
    root = tmp_path / "kvasir-seg"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "splits").mkdir()
    rng = np.random.default_rng(0)
    for k, image_id in enumerate(IDS):
        if k == 0:
            bgr = np.zeros((H, W, 3), np.uint8)
            bgr[..., 2] = 255  # pure red, in OpenCV's BGR order
        else:
            bgr = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        assert cv2.imwrite(str(root / "images" / f"{image_id}.jpg"), bgr)
        # like the release: 3-channel JPEG, foreground near 255, background near 0
        grey = np.where(_true_mask(k), rng.integers(235, 256, (H, W)), rng.integers(0, 21, (H, W))).astype(np.uint8)
        assert cv2.imwrite(str(root / "masks" / f"{image_id}.jpg"), np.repeat(grey[..., None], 3, axis=2))
    (root / "splits" / "train.txt").write_text("# training ids\ncju_a.jpg\n\ncju_b\n")
    (root / "splits" / "val.txt").write_text("cju_c\n")
    return root


def test_ids_and_splits(fake_root):
    ds = KvasirSEG(fake_root)
    assert ds.name == "kvasir" and ds.modality == "endoscopy" and not ds.simulated_gaze
    assert ds.ids == IDS and len(ds) == 3
    assert ds.split("train") == ["cju_a", "cju_b"]  # comment, blank line and extension dropped
    assert ds.split("val") == ["cju_c"]
    assert ds.split("all") == IDS
    with pytest.raises(ValueError, match="split"):
        ds.split("test")  # no test.txt in this layout


def test_registry_builds_it(fake_root):
    ds = create_dataset("kvasir", root=fake_root)
    assert isinstance(ds, KvasirSEG) and ds.ids == IDS


def test_image_is_rgb(fake_root):
    ds = KvasirSEG(fake_root)
    image = ds.image("cju_a")
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    r, g, b = (image[..., c].astype(int) for c in range(3))
    assert r.min() > 200 and g.max() < 50 and b.max() < 50, "channels are not in RGB order"
    assert np.array_equal(ds.image_rgb("cju_a"), image)


def test_mask_is_binarised(fake_root):
    ds = KvasirSEG(fake_root)
    for k, image_id in enumerate(IDS):
        mask = ds.mask(image_id)
        assert mask.dtype == bool and mask.shape == (H, W)
        # JPEG ringing may move a value near the edge, never across 127 at these levels
        assert (mask != _true_mask(k)).mean() < 0.01


def test_missing_mask_is_none(fake_root):
    (fake_root / "masks" / "cju_b.jpg").unlink()
    assert KvasirSEG(fake_root).mask("cju_b") is None


def test_unknown_id_raises_key_error(fake_root):
    ds = KvasirSEG(fake_root)
    with pytest.raises(KeyError, match="cju_zzz"):
        ds.image("cju_zzz")
    with pytest.raises(KeyError, match="cju_zzz"):
        ds.mask("cju_zzz")


def test_missing_images_folder_names_the_path(tmp_path):
    root = tmp_path / "not-kvasir"
    (root / "masks").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "images"))):
        KvasirSEG(root)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nowhere" / "images"))):
        KvasirSEG(tmp_path / "nowhere")


def test_split_file_with_unknown_id(fake_root):
    (fake_root / "splits" / "val.txt").write_text("cju_c\ncju_ghost\n")
    with pytest.raises(KeyError, match="cju_ghost"):
        KvasirSEG(fake_root)


def test_ids_restriction(fake_root):
    ds = KvasirSEG(fake_root, ids=["cju_c", "cju_a"])
    assert ds.ids == ["cju_c", "cju_a"]
    assert ds.split("train") == ["cju_a"] and ds.split("val") == ["cju_c"]
    with pytest.raises(KeyError):
        ds.image("cju_b")
    with pytest.raises(KeyError, match="cju_nope"):
        KvasirSEG(fake_root, ids=["cju_a", "cju_nope"])


def test_gaze_csv_beside_root(fake_root):
    ds = KvasirSEG(fake_root)
    with pytest.raises(FileNotFoundError, match="kvasir_fixation.csv"):
        ds.gaze_csv()
    beside = fake_root.parent / "gazemedseg" / "kvasir_fixation.csv"
    beside.parent.mkdir()
    beside.write_text("IMAGE\n")
    assert ds.gaze_csv() == beside
    inside = fake_root / "kvasir_fixation.csv"
    inside.write_text("IMAGE\n")
    assert ds.gaze_csv() == inside  # <root>/kvasir_fixation.csv comes first


def test_gaze_csv_explicit_and_env(fake_root, tmp_path, monkeypatch):
    explicit = tmp_path / "my_gaze.csv"
    explicit.write_text("IMAGE\n")
    assert KvasirSEG(fake_root, gaze_csv=explicit).gaze_csv() == explicit
    from_env = tmp_path / "env_gaze.csv"
    from_env.write_text("IMAGE\n")
    monkeypatch.setenv("FGI_KVASIR_GAZE", str(from_env))
    assert KvasirSEG(fake_root).gaze_csv() == from_env
    assert KvasirSEG(fake_root, gaze_csv=explicit).gaze_csv() == explicit  # explicit wins


# ----------------------------------------------------------------------------------------------
# Real data (../shared/realdata/kvasir-seg); skipped where it is absent
# ----------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_real_kvasir_seg():
    realdata = shared_realdata()
    if realdata is None or not (realdata / "kvasir-seg" / "images").is_dir():
        pytest.skip("no shared real data (../shared/realdata/kvasir-seg)")
    root = realdata / "kvasir-seg"
    ds = KvasirSEG(root)
    assert len(ds.ids) == 800
    assert len(ds.split("train")) == 700 and len(ds.split("val")) == 100
    assert not set(ds.split("train")) & set(ds.split("val"))
    manifest = pd.read_csv(root / "manifest.csv").set_index("file")
    for image_id in sorted(ds.split("val"))[:20]:
        image, mask = ds.image(image_id), ds.mask(image_id)
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
        assert mask is not None and mask.dtype == bool
        assert image.shape[:2] == mask.shape, image_id
        row = manifest.loc[f"{image_id}.jpg"]
        assert (row["height"], row["width"]) == mask.shape, image_id
        assert abs(mask.mean() - row["mask_fg_fraction"]) < 0.01, image_id


def test_overlapping_splits_and_missing_gaze_file_are_errors(tmp_path):
    import cv2
    import numpy as np

    from fgi_core.data import KvasirSEG

    root = tmp_path / "kv"
    (root / "images").mkdir(parents=True)
    (root / "splits").mkdir()
    for i in ("a", "b"):
        cv2.imwrite(str(root / "images" / f"{i}.jpg"), np.zeros((8, 8, 3), np.uint8))
    (root / "splits" / "train.txt").write_text("a\nb\n")
    (root / "splits" / "val.txt").write_text("b\n")
    with pytest.raises(ValueError, match=r"id 'b' is listed twice \(also in train.txt\)"):
        KvasirSEG(root)
    (root / "splits" / "val.txt").write_text("")
    with pytest.raises(FileNotFoundError, match="gaze_csv .*nope.csv does not exist"):
        KvasirSEG(root, gaze_csv=tmp_path / "nope.csv")
