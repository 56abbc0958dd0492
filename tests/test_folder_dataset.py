"""The `folder` dataset: your own images, a GazeMedSeg-format gaze CSV, optional masks."""
from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from fgi_core.data import FolderDataset, create_dataset
from fgi_core.gaze import fixations_to_frame, run_gaze_stage, write_fixations


def _write(root, n=5, grey16=False, mask_style="0/255"):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    records = {}
    for k in range(n):
        image_id = f"scan{k}"
        if grey16:
            img = (np.arange(40 * 48, dtype=np.uint16).reshape(40, 48) * (k + 1)) % 60000
            assert cv2.imwrite(str(root / "images" / f"{image_id}.png"), img)
        else:
            img = np.full((40, 48, 3), 30 * k, np.uint8)
            assert cv2.imwrite(str(root / "images" / f"{image_id}.jpg"), img)
        m = np.zeros((40, 48), np.uint8)
        m[10:25, 12 + k : 30] = 1 if mask_style == "0/1" else 255
        if k != 4:  # the last image has no mask
            assert cv2.imwrite(str(root / "masks" / f"{image_id}.png"), m)
        records[f"{image_id}.jpg"] = (np.array([[0.5, 0.45, 300.0], [0.4, 0.4, 200.0]]), (40, 48))
    write_fixations(fixations_to_frame(records), root / "gaze.csv")
    return root


def test_modality_is_required_and_checked(tmp_path):
    root = _write(tmp_path / "mine")
    with pytest.raises(ValueError, match=r"say which modality the images are: modality= one of endoscopy, mri, dermoscopy"):
        FolderDataset(root)
    with pytest.raises(ValueError, match=r"Unknown modality 'xray'; allowed: dermoscopy, endoscopy, mri"):
        FolderDataset(root, modality="xray")


def test_rgb_folder_with_masks_and_gaze(tmp_path):
    root = _write(tmp_path / "mine")
    ds = create_dataset("folder", root=root, modality="dermoscopy")
    assert isinstance(ds, FolderDataset) and ds.name == "folder" and ds.modality == "dermoscopy"
    assert not ds.simulated_gaze and ds.preset.gaze == "recorded"
    assert (ds.preset.sigma, ds.preset.t_hc, ds.preset.t_bc, ds.preset.channels) == (70 / 768, 0.5, 0.3, 3)
    assert ds.ids == [f"scan{k}" for k in range(5)]
    assert len(ds.split("val")) == 1 and sorted(ds.split("train") + ds.split("val")) == ds.ids  # 0.2 x 5, no split files
    image = ds.image("scan2")
    assert image.shape == (40, 48, 3) and image.dtype == np.uint8 and abs(int(image[0, 0, 0]) - 60) <= 2
    expected = np.zeros((40, 48), bool)
    expected[10:25, 14:30] = True
    assert np.array_equal(ds.mask("scan2"), expected) and ds.mask("scan4") is None
    assert ds.gaze_csv() == root / "gaze.csv"
    result = run_gaze_stage(ds, tmp_path / "run", refine_method="none", progress=False)
    assert result.summary["images_scored"] == 4 and result.summary["simulated"] is False


def test_mri_settings_from_dataset_json_and_01_masks(tmp_path):
    root = _write(tmp_path / "mine", grey16=True, mask_style="0/1")
    (root / "dataset.json").write_text(json.dumps({"modality": "mri", "t_hc": 0.45}))
    ds = FolderDataset(root, sigma=0.05)
    assert ds.modality == "mri" and ds.preset.channels == 1
    assert (ds.preset.sigma, ds.preset.t_hc, ds.preset.t_bc) == (0.05, 0.45, 0.2)
    image = ds.image("scan1")
    assert image.dtype == np.uint16 and image.shape == (40, 48) and int(image[1, 2]) == (48 + 2) * 2
    assert ds.image_rgb("scan1").shape == (40, 48, 3)
    assert ds.mask("scan0").sum() == 15 * 18  # a 0/1 PNG mask is read as 1 = lesion


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "images"))):
        FolderDataset(tmp_path, modality="mri")
    root = _write(tmp_path / "mine")
    (root / "gaze.csv").unlink()
    ds = FolderDataset(root, modality="endoscopy")
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "gaze.csv")) + ".*GazeMedSeg columns"):
        ds.gaze_csv()
    (root / "images" / "slice.dcm").write_bytes(b"x")
    with pytest.raises(ValueError, match="DICOM images are read as single-channel MRI; use modality='mri'"):
        FolderDataset(root, modality="endoscopy")
    (root / "dataset.json").write_text('{"modality": "mri", "colour": true}')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['colour'\]"):
        FolderDataset(root)
