"""Your own data: a folder of images, a gaze CSV in the GazeMedSeg format, optional masks.

Layout under ``root``::

    images/<id>.jpg|.jpeg|.png|.bmp|.tif|.tiff|.dcm   the images (DICOM needs modality "mri")
    masks/<id>.png|.jpg|...    optional, for evaluation only: > 127 is the lesion (0/1 masks too)
    gaze.csv                   fixations, GazeMedSeg columns; IMAGE = the image's file name
                               (any extension: ids are file names without it)
    splits/train.txt ...       optional; without them ``val`` is carved from all images
    dataset.json               optional: {"modality": "mri", "sigma": 0.065, "t_hc": 0.4, "t_bc": 0.2}

The modality (``endoscopy``, ``mri`` or ``dermoscopy``) picks the preset of the paper dataset of
that kind (Kvasir-SEG, NCI-ISBI, ISIC: sigma, thresholds, channels); ``sigma``, ``t_hc`` and
``t_bc`` override it. It is an argument (``create_dataset("folder", root=..., modality="mri")``)
or, for the notebooks, which pass only ``data_root``, the ``modality`` of ``dataset.json``.
The gaze is recorded (yours), never simulated.

Example:
    >>> from fgi_core.data import create_dataset
    >>> ds = create_dataset("folder", root="my_scans", modality="mri")   # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import cv2
import numpy as np

from ..registry import look_up_option
from .base import SegmentationDataset, first_gaze_csv, get_preset, given_gaze_csv, register_dataset
from .kvasir import read_image
from .nci_isbi import read_dicom_slice
from .splits import carve_validation, load_split_files, select_ids

__all__ = ["FolderDataset", "MODALITY_PRESETS", "IMAGE_SUFFIXES"]

#: modality -> the registry name of the paper dataset whose preset it borrows.
MODALITY_PRESETS = {"endoscopy": "kvasir", "mri": "nci-isbi", "dermoscopy": "isic"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".dcm")
GAZE_NAMES = ("gaze.csv", "fixations.csv")


@register_dataset("folder")
class FolderDataset(SegmentationDataset):
    """A folder of images with recorded gaze and optional masks (see the module docstring).

    Args:
        root: the folder.
        modality: ``endoscopy``, ``mri`` or ``dermoscopy``; default: ``dataset.json``'s.
        gaze_csv: the fixation CSV; default: ``<root>/gaze.csv``, else ``<root>/fixations.csv``.
        ids: restrict to these ids (their order is kept).
        sigma, t_hc, t_bc: override the modality's preset (also settable in ``dataset.json``).
        val_fraction, seed: the ``val`` carve when there are no split files.

    Raises:
        FileNotFoundError: ``root/images`` missing or empty.
        ValueError: no modality given, or an unknown one (lists the allowed values); two images
            with the same id; a DICOM image with a colour modality.
    """

    name = "folder"

    def __init__(self, root: str | os.PathLike, modality: str | None = None, gaze_csv: str | os.PathLike | None = None,
                 ids: list[str] | None = None, sigma: float | None = None, t_hc: float | None = None,
                 t_bc: float | None = None, val_fraction: float = 0.2, seed: int = 0):
        self.root = Path(root).expanduser()
        image_dir = self.root / "images"
        if not image_dir.is_dir():
            raise FileNotFoundError(f"folder dataset: {image_dir} is not a folder; put your images in <root>/images/")
        settings = {}
        settings_file = self.root / "dataset.json"
        if settings_file.is_file():
            try:
                settings = json.loads(settings_file.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"{settings_file} is not valid JSON: {err}") from None
            unknown = set(settings) - {"modality", "sigma", "t_hc", "t_bc"}
            if unknown:
                raise ValueError(f"{settings_file}: unknown key(s) {sorted(unknown)}; allowed: modality, sigma, t_hc, t_bc")
        modality = modality or settings.get("modality")
        if modality is None:
            raise ValueError(
                f"folder dataset {self.root}: say which modality the images are: modality= one of "
                f"{', '.join(MODALITY_PRESETS)} (or \"modality\" in {settings_file}, e.g. "
                f"{{\"modality\": \"endoscopy\"}}, which fgi run and fgi gaze read)"
            )
        look_up_option(modality, MODALITY_PRESETS, "modality")
        overrides = {k: v for k, v in (("sigma", sigma if sigma is not None else settings.get("sigma")),
                                       ("t_hc", t_hc if t_hc is not None else settings.get("t_hc")),
                                       ("t_bc", t_bc if t_bc is not None else settings.get("t_bc"))) if v is not None}
        self.preset = dataclasses.replace(get_preset(MODALITY_PRESETS[modality]), name="folder", gaze="recorded", **overrides)

        self._files: dict[str, Path] = {}
        for p in sorted(image_dir.iterdir()):
            if p.suffix.lower() not in IMAGE_SUFFIXES or p.name.startswith("."):
                continue
            if p.stem in self._files:
                raise ValueError(f"two images with id {p.stem!r}: {self._files[p.stem].name} and {p.name} in {image_dir}")
            if p.suffix.lower() == ".dcm" and modality != "mri":
                raise ValueError(f"{p}: DICOM images are read as single-channel MRI; use modality='mri', not {modality!r}")
            self._files[p.stem] = p
        if not self._files:
            raise FileNotFoundError(f"folder dataset: no images ({', '.join(IMAGE_SUFFIXES)}) in {image_dir}")
        all_ids = sorted(self._files)
        all_ids = select_ids(all_ids, ids, self._files, image_dir)
        self.ids = all_ids
        listed = load_split_files(self.root / "splits", self._files, all_ids)
        if listed:
            self.splits = {"all": list(all_ids), **listed}
        else:
            train, val = carve_validation(all_ids, val_fraction, seed)
            self.splits = {"all": list(all_ids), "train": train, "val": val}
        self._gaze_csv = given_gaze_csv(gaze_csv)

    def image(self, image_id: str) -> np.ndarray:
        """uint8 H x W x 3 RGB; for ``mri``: H x W (DICOM: float32 with the rescale applied)."""
        path = self._files[self.check_id(image_id)]
        if path.suffix.lower() == ".dcm":
            return read_dicom_slice(path)
        if self.modality != "mri":
            return read_image(path)
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # keeps 16-bit PNG / TIFF
        if img is None:
            raise OSError(f"cannot read image {path}: not a decodable image file (truncated or not an image?); "
                          f"replace it, or move it out of {path.parent}")
        if img.ndim == 3:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
        return img

    def mask(self, image_id: str) -> np.ndarray | None:
        stem = self.check_id(image_id)
        for suffix in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"):
            path = self.root / "masks" / f"{stem}{suffix}"
            if path.is_file():
                m = read_image(path, grey=True)
                return m > 0 if m.max() <= 1 else m > 127
        return None

    def gaze_csv(self, work_dir: str | os.PathLike | None = None) -> Path:
        candidates = [self._gaze_csv] if self._gaze_csv else [self.root / n for n in GAZE_NAMES]
        return first_gaze_csv(
            candidates, "the folder dataset",
            "Put your fixations (GazeMedSeg columns: IMAGE, CURRENT_FIX_INDEX, CURRENT_FIX_X, CURRENT_FIX_Y, "
            "CURRENT_FIX_DURATION, ..., IMAGE_HEIGHT, IMAGE_WIDTH) in <root>/gaze.csv, or pass gaze_csv=... "
            "(fgi: --gaze-csv FILE)",
        )
