"""Kvasir-SEG reader (public release layout) with GazeMedSeg's recorded gaze.

Layout expected under ``root``::

    images/<id>.jpg          RGB colonoscopy frames at original size
    masks/<id>.jpg           ground truth, JPEG: binarised with grey > 127
    splits/train.txt ...     optional; one id per line (``val.txt``, ``test.txt`` likewise)

Gaze: ``gaze_csv=`` given explicitly, else ``$FGI_KVASIR_GAZE``, else the first of
``<root>/kvasir_fixation.csv``, ``<root>/../gazemedseg/kvasir_fixation.csv``.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..config import DatasetPreset
from .base import SegmentationDataset, first_gaze_csv, get_preset, given_gaze_csv, register_dataset
from .splits import IMAGE_SUFFIXES, load_split_files, select_ids

__all__ = ["KvasirSEG"]


def read_image(path: Path, grey: bool = False) -> np.ndarray:
    """uint8 RGB H x W x 3 (or H x W if ``grey``); names the file when it cannot be decoded."""
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise OSError(f"cannot read image {path}: " + ("an empty file" if not data.size else "not a decodable image file")
                      + f" (truncated or not an image?); replace it, or move it out of {path.parent}")
    return img if grey else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


#: Sigma 70/768 of each side (docs/method.md §1.2), t_hc 0.5, t_bc 0.3 (§1.4); RGB, recorded gaze.
PRESET = DatasetPreset("kvasir", "endoscopy", 3, 70 / 768, 0.5, 0.3)


@register_dataset("kvasir", presets=PRESET, folder="kvasir-seg")
class KvasirSEG(SegmentationDataset):
    """Kvasir-SEG (Jha et al., MMM 2020): polyps in colonoscopy, recorded gaze from GazeMedSeg.

    Args:
        root: folder with ``images/`` and ``masks/`` (and optionally ``splits/``).
        gaze_csv: the GazeMedSeg ``kvasir_fixation.csv``; see the module docstring for the search.
        ids: restrict to these ids (e.g. a fixed test subset); their order is kept.

    Images without a file in ``masks/`` have no ground truth (``mask`` returns None): such
    images can be pseudo-labelled and predicted, not scored.

    Raises:
        FileNotFoundError: when ``root`` or ``root/images`` is missing, naming the path and the
            expected layout.
    """

    name = "kvasir"

    def __init__(self, root: str | Path, gaze_csv: str | Path | None = None, ids: list[str] | None = None):
        self.root = Path(root).expanduser()
        self.preset = get_preset("kvasir")
        image_dir = self.root / "images"
        if not image_dir.is_dir():
            raise FileNotFoundError(
                f"Kvasir-SEG images not found: {image_dir} is not a folder. Expected the public layout "
                f"<root>/images/*.jpg and <root>/masks/*.jpg (data_download.sh --only kvasir fetches it)."
            )
        self._files = {p.stem: p for p in sorted(image_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        all_ids = select_ids(sorted(self._files), ids, self._files, image_dir)
        self.ids = all_ids
        self.splits = {"all": list(all_ids), **load_split_files(self.root / "splits", self._files, all_ids)}
        self._gaze_csv = given_gaze_csv(gaze_csv)

    def image(self, image_id: str) -> np.ndarray:
        return read_image(self._files[self.check_id(image_id)])

    def mask(self, image_id: str) -> np.ndarray | None:
        stem = self.check_id(image_id)
        for suffix in IMAGE_SUFFIXES:
            path = self.root / "masks" / f"{stem}{suffix}"
            if path.is_file():
                return read_image(path, grey=True) > 127
        return None

    def gaze_csv(self, work_dir: str | Path | None = None) -> Path:
        candidates = [self._gaze_csv] if self._gaze_csv else []
        if os.environ.get("FGI_KVASIR_GAZE"):
            candidates.append(Path(os.environ["FGI_KVASIR_GAZE"]))
        candidates += [self.root / "kvasir_fixation.csv", self.root.parent / "gazemedseg" / "kvasir_fixation.csv"]
        return first_gaze_csv(candidates, "Kvasir-SEG", "Pass gaze_csv=... (fgi: --gaze-csv FILE) or fetch it with ./data_download.sh --only gazemedseg.")
