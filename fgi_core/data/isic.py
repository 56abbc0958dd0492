"""ISIC 2018 task 1 (skin lesion segmentation) in its official layout, with simulated gaze.

Layout under ``root`` (the official zips extract to it as they are)::

    ISIC2018_Task1-2_Training_Input/ISIC_<n>.jpg                 2,594 dermoscopy images
    ISIC2018_Task1_Training_GroundTruth/ISIC_<n>_segmentation.png   masks (0 / 255)
    ISIC2018_Task1-2_Validation_Input/ ... ISIC2018_Task1_Validation_GroundTruth/   optional
    ISIC2018_Task1-2_Test_Input/ ...       ISIC2018_Task1_Test_GroundTruth/         optional
    splits/train.txt, val.txt, test.txt                              optional (prepare_isic)
    isic_fixation_simulated.csv (+ .json)                            optional (prepare_isic)

Splits: from ``splits/`` where present; otherwise the same default :func:`prepare_isic` writes:
``val`` carved from the official Training images (``val_fraction``, ``seed``), ``train`` the
rest of them, ``test`` the official Test images (the official Validation images where there is
no Test set), and ``official-validation`` the official Validation images when both exist. The
test split is never used for model selection.

Gaze: no gaze was ever recorded on ISIC, so, as the paper does, it is **simulated** from the
ground-truth masks by the stage-1 simulator (:func:`fgi_core.gaze.simulate`); the preset says
``gaze="simulated"`` and every output made from it is flagged ``simulated`` (gaze params,
quality, explanations). Image ``<id>`` uses ``numpy.random.default_rng([seed, crc32(id)])``, so
its fixations do not depend on which other images are present. The CSV (GazeMedSeg format,
``IMAGE`` = ``<id>.jpg``) has a sidecar JSON that says ``"simulated": true`` and how it was made.

Example:
    >>> from fgi_core.data import create_dataset
    >>> ds = create_dataset("isic", root="data/isic2018")      # doctest: +SKIP
    >>> ds.simulated_gaze, ds.modality                         # doctest: +SKIP
    (True, 'dermoscopy')
"""
from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path

import numpy as np

from ..config import DatasetPreset
from ..io import read_json, write_json
from .base import SegmentationDataset, get_preset, given_gaze_csv, register_dataset
from .kvasir import read_image
from .splits import carve_validation, load_split_files, select_ids, write_split_files

__all__ = ["ISIC2018", "OFFICIAL_FOLDERS", "prepare_isic", "default_splits", "write_simulated_gaze", "SIMULATED_CSV"]

#: official set -> (input folder, ground-truth folder), as the ISIC 2018 zips extract.
OFFICIAL_FOLDERS = {
    "training": ("ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth"),
    "validation": ("ISIC2018_Task1-2_Validation_Input", "ISIC2018_Task1_Validation_GroundTruth"),
    "test": ("ISIC2018_Task1-2_Test_Input", "ISIC2018_Task1_Test_GroundTruth"),
}
MASK_SUFFIX = "_segmentation.png"
#: Name of the simulated-gaze CSV that :func:`prepare_isic` writes into the dataset folder.
SIMULATED_CSV = "isic_fixation_simulated.csv"
_SIM_VERSION = 1  # bump when the way gaze is simulated here changes (old CSVs are then remade)


def default_splits(official: dict[str, list[str]], val_fraction: float = 0.1, seed: int = 0) -> dict[str, list[str]]:
    """The default splits from the official sets (see the module docstring).

    Args:
        official: official set (``training``/``validation``/``test``) -> ids.
        val_fraction, seed: the carve of ``val`` from the Training images.
    """
    train, val = carve_validation(official.get("training", []), val_fraction, seed)
    splits = {"train": train, "val": val}
    if official.get("test"):
        splits["test"] = sorted(official["test"])
        if official.get("validation"):
            splits["official-validation"] = sorted(official["validation"])
    elif official.get("validation"):
        splits["test"] = sorted(official["validation"])
    return splits


def _simulator_record(seed: int) -> dict:
    """How gaze is simulated here, as it reads back from JSON (tuples become lists)."""
    from ..gaze.simulate import SimulatorParams

    return json.loads(json.dumps({"version": _SIM_VERSION, "seed": int(seed), "simulator": SimulatorParams().to_dict()}))


def write_simulated_gaze(dataset: SegmentationDataset, path: str | os.PathLike, ids: list[str] | None = None, seed: int = 0) -> Path:
    """Simulate fixations from the masks of ``ids`` and write a GazeMedSeg CSV + sidecar JSON.

    Image ``<id>`` gets ``simulate(mask, default_rng([seed, crc32(id)]))``; its ``IMAGE`` value
    is ``<id>.jpg``. The sidecar ``<path without .csv>.json`` records ``"simulated": true``,
    the simulator's parameters, the seed and the ids (with the ids that have no mask, which
    get no fixations).

    Returns:
        ``path``.

    Raises:
        ValueError: none of ``ids`` has a mask.
    """
    from ..gaze.fixations import fixations_to_frame, write_fixations
    from ..gaze.simulate import simulate

    path = Path(path)
    path.with_suffix(".json").unlink(missing_ok=True)  # a CSV without its sidecar is never trusted
    ids = list(dataset.ids if ids is None else ids)
    records, without = {}, []
    for image_id in ids:
        mask = dataset.mask(image_id)
        if mask is None or not mask.any():
            without.append(image_id)
            continue
        rng = np.random.default_rng([int(seed), zlib.crc32(image_id.encode("utf-8"))])
        records[f"{image_id}.jpg"] = (simulate(mask, rng), mask.shape)
    if not records:
        raise ValueError(f"cannot simulate gaze for {dataset.name}: none of the {len(ids)} images has a non-empty mask")
    write_fixations(fixations_to_frame(records), path)
    write_json(path.with_suffix(".json"), {
        "simulated": True,
        "dataset": dataset.name,
        "source": "fgi_core.gaze.simulate from the ground-truth masks (no gaze was recorded on this dataset)",
        **_simulator_record(seed),
        "ids": sorted(ids),
        "ids_sha256": _ids_digest(ids),
        "without_mask": without,
    })
    return path


def _ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


def _simulated_csv_fits(path: Path, ids: list[str], seed: int) -> bool:
    """True when ``path`` and its sidecar were made here, this way, for a superset of ``ids``."""
    side = path.with_suffix(".json")
    if not (path.is_file() and side.is_file()):
        return False
    try:
        meta = read_json(side)
    except (OSError, ValueError):
        return False
    if not meta.get("simulated") or {k: meta.get(k) for k in ("version", "seed", "simulator")} != _simulator_record(seed):
        return False
    return set(ids) <= set(meta.get("ids", []))


#: Kvasir-SEG's sigma and thresholds (docs/method.md §1.2, §1.4), RGB; gaze simulated from the masks (§1.5).
PRESET = DatasetPreset("isic", "dermoscopy", 3, 70 / 768, 0.5, 0.3, gaze="simulated")


@register_dataset("isic", presets=PRESET, folder="isic2018")
class ISIC2018(SegmentationDataset):
    """ISIC 2018 task 1 dermoscopy images and lesion masks; gaze simulated from the masks.

    Args:
        root: folder with the official ``ISIC2018_Task1-2_*_Input`` / ``ISIC2018_Task1_*_GroundTruth``
            folders (at least the Training input).
        gaze_csv: a fixation CSV to use instead of simulating (it is still treated as simulated
            gaze: the preset of ISIC says so).
        ids: restrict to these ids (their order is kept).
        seed: seed of the simulated gaze and of the default validation carve.
        val_fraction: share of Training images in the default ``val`` split (no ``splits/``).

    Raises:
        FileNotFoundError: the Training input folder is missing (names it and how to fetch it).
        ValueError: one id appears in two official sets.
    """

    name = "isic"

    def __init__(self, root: str | os.PathLike, gaze_csv: str | os.PathLike | None = None, ids: list[str] | None = None,
                 seed: int = 0, val_fraction: float = 0.1):
        self.root = Path(root).expanduser()
        self.preset = get_preset("isic")
        self.seed = int(seed)
        train_dir = self.root / OFFICIAL_FOLDERS["training"][0]
        if not train_dir.is_dir():
            raise FileNotFoundError(
                f"ISIC 2018 images not found: {train_dir} is not a folder. Expected the official layout "
                f"<root>/{OFFICIAL_FOLDERS['training'][0]}/ISIC_*.jpg and <root>/{OFFICIAL_FOLDERS['training'][1]}/"
                f"ISIC_*{MASK_SUFFIX} (data_download.sh --only isic fetches it)."
            )
        self._files: dict[str, Path] = {}
        self._masks: dict[str, Path] = {}
        self.official: dict[str, list[str]] = {}
        for subset, (input_dir, gt_dir) in OFFICIAL_FOLDERS.items():
            folder = self.root / input_dir
            if not folder.is_dir():
                continue
            found = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png") and not p.name.startswith("."))
            for p in found:
                if p.stem in self._files:
                    raise ValueError(f"ISIC id {p.stem!r} is in two official sets: {self._files[p.stem]} and {p}")
                self._files[p.stem] = p
                self._masks[p.stem] = self.root / gt_dir / f"{p.stem}{MASK_SUFFIX}"
            self.official[subset] = [p.stem for p in found]
        all_ids = sorted(self._files)
        all_ids = select_ids(all_ids, ids, self._files, self.root)
        self.ids = all_ids
        listed = load_split_files(self.root / "splits", self._files, all_ids)
        if listed:
            self.splits = {"all": list(all_ids), **listed}
        else:
            keep = set(all_ids)
            made = default_splits(self.official, val_fraction, self.seed)
            self.splits = {"all": list(all_ids), **{k: [i for i in v if i in keep] for k, v in made.items()}}
        self._gaze_csv = given_gaze_csv(gaze_csv)

    def official_set(self, image_id: str) -> str:
        """``training``, ``validation`` or ``test``: the official set the image comes from."""
        self.check_id(image_id)
        return next(s for s, ids in self.official.items() if image_id in set(ids))

    def image(self, image_id: str) -> np.ndarray:
        return read_image(self._files[self.check_id(image_id)])

    def mask_path(self, image_id: str) -> Path | None:
        """The mask file of ``image_id``, or None where it has none."""
        path = self._masks[self.check_id(image_id)]
        return path if path.is_file() else None

    def mask(self, image_id: str) -> np.ndarray | None:
        path = self.mask_path(image_id)
        return None if path is None else read_image(path, grey=True) > 127

    def gaze_csv(self, work_dir: str | os.PathLike | None = None) -> Path:
        """The simulated fixations of this dataset's images (GazeMedSeg CSV), made if needed.

        Order: ``gaze_csv=`` given to the reader; ``<root>/isic_fixation_simulated.csv`` when its
        sidecar shows it was made the same way for all these ids (``prepare_isic`` writes it
        once); ``<work_dir>/fixations_simulated.csv`` likewise; else simulated now into
        ``<work_dir>/fixations_simulated.csv``.

        Raises:
            ValueError: the gaze has to be simulated and ``work_dir`` is None.
        """
        if self._gaze_csv is not None:
            return self._gaze_csv
        shipped = self.root / SIMULATED_CSV
        if _simulated_csv_fits(shipped, self.ids, self.seed):
            return shipped
        if work_dir is None:
            raise ValueError(
                f"ISIC2018.gaze_csv needs work_dir: its gaze is simulated from the masks; {shipped} is missing or "
                f"was made otherwise (python -m fgi_core.data.prepare isic {self.root} writes it once)"
            )
        target = Path(work_dir) / "fixations_simulated.csv"
        if not _simulated_csv_fits(target, self.ids, self.seed):
            write_simulated_gaze(self, target, self.ids, self.seed)
        return target


def prepare_isic(root: str | os.PathLike, val_fraction: float = 0.1, seed: int = 0, gaze: bool = True, log=print) -> dict:
    """Write the split files and (``gaze=True``) the simulated gaze of an ISIC 2018 folder.

    Args:
        root: folder with the extracted official zips (see the module docstring).
        val_fraction, seed: the validation carve from the Training images; ``seed`` also seeds
            the simulated gaze.
        gaze: simulate fixations for every image with a mask into ``<root>/isic_fixation_simulated.csv``.
        log: called with progress lines.

    Returns:
        the report, also written to ``<root>/prepare_report.json``: images per official set,
        images without a mask, split sizes, the gaze file.

    Raises:
        FileNotFoundError: the Training input folder is missing.
        ValueError: a Training image has no mask (names up to five).
    """
    root = Path(root).expanduser()
    splits_dir = root / "splits"
    if splits_dir.is_dir():  # rebuild from the official sets, not from older split files
        for f in splits_dir.glob("*.txt"):
            f.unlink()
    ds = ISIC2018(root, seed=seed, val_fraction=val_fraction)
    no_mask = {s: [i for i in ids if ds.mask_path(i) is None] for s, ids in ds.official.items()}
    if no_mask.get("training"):
        raise ValueError(
            f"{len(no_mask['training'])} ISIC Training images have no mask in {root / OFFICIAL_FOLDERS['training'][1]}, "
            f"e.g. {no_mask['training'][:5]}; re-extract ISIC2018_Task1_Training_GroundTruth.zip"
        )
    splits = default_splits(ds.official, val_fraction, seed)
    write_split_files(root, splits, header=f"ISIC 2018 task 1; val = {val_fraction:g} of the official Training images (seed {seed})")
    report = {
        "official_sets": {s: len(v) for s, v in ds.official.items()},
        "without_mask": {s: len(v) for s, v in no_mask.items()},
        "splits": {k: len(v) for k, v in splits.items()},
        "settings": {"val_fraction": val_fraction, "seed": seed},
    }
    if gaze:
        n = sum(ds.mask_path(i) is not None for i in ds.ids)
        log(f"ISIC: simulating gaze for the {n} images with masks (flagged simulated)")
        report["gaze_csv"] = str(write_simulated_gaze(ds, root / SIMULATED_CSV, ds.ids, seed))
    write_json(root / "prepare_report.json", report)
    log(f"ISIC prepared in {root}: official sets {report['official_sets']}; splits {report['splits']}")
    return report

