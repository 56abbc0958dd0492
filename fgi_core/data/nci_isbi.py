"""NCI-ISBI 2013 prostate MRI: preparation from the TCIA release, and the dataset reader.

The release
    T2-weighted axial DICOM series on TCIA (one series per case, fetched with the NBIA Data
    Retriever or ``data_download.sh``) and one NRRD label volume per case (0 background,
    1 peripheral zone, 2 central gland) in three archives: Training (60 cases), Leaderboard (10)
    and Test (10).

Preparation (:func:`prepare_nci_isbi`), as GazeMedSeg's ``process_nci-isbi`` notebook does
    For each case whose label volume has as many slices as its DICOM series, every slice ``k``
    (0-based along the NRRD's third axis) that contains prostate (label >= 1) becomes the image
    ``images/<case>_<k+1>.dcm`` (the original DICOM file, copied) and the mask
    ``masks/<case>_<k+1>.png`` (uint8, 255 = prostate). Ids are therefore ``<case>_<slice>``
    with a 1-based slice number, e.g. ``Prostate3T-01-0027_14``: the names in GazeMedSeg's
    ``nci-isbi_fixation.csv``. Cases whose slice counts differ are skipped and listed with the
    reason (GazeMedSeg skips ``ProstateDx-01-0055`` for this).

    Which DICOM file is NRRD slice ``k``: matched by position along the slice normal (DICOM
    ``ImagePositionPatient`` against the NRRD's ``space origin`` + k x ``space directions``),
    which does not depend on file names; where the geometry is missing or disagrees, by
    ``InstanceNumber`` order (recorded per case in ``prepare_report.json``).

    Splits: ``splits/train.txt`` and ``splits/val.txt`` from the Training cases, the validation
    split carved **by case** (no case has slices on both sides); ``splits/test.txt`` from the
    Test cases; ``splits/leaderboard.txt`` from the Leaderboard cases. The test split is never
    used for model selection.

The reader (:class:`NCIISBI`, registry name ``nci-isbi``)
    ``image()`` is the DICOM pixel data with the modality rescale applied
    (``value * RescaleSlope + RescaleIntercept``) as float32 H x W; the networks see a
    per-image z-score of it (:func:`zscore`, docs/method.md §7.1), the CRF a min-max 8-bit copy
    (:func:`~fgi_core.data.base.to_rgb_uint8`). Preset: sigma 50/768, t_hc 0.4, t_bc 0.2, one
    channel, recorded gaze.

Example:
    >>> slice_id("Prostate3T-01-0027", 13), parse_slice_id("Prostate3T-01-0027_14")
    ('Prostate3T-01-0027_14', ('Prostate3T-01-0027', 14))
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import cv2
import numpy as np

from ..config import DatasetPreset
from ..io import write_json
from .base import SegmentationDataset, first_gaze_csv, get_preset, given_gaze_csv, register_dataset
from .splits import carve_validation, load_split_files, select_ids, write_split_files

__all__ = [
    "NCIISBI",
    "slice_id",
    "parse_slice_id",
    "read_dicom_slice",
    "zscore",
    "prepare_nci_isbi",
    "case_of_label_file",
    "SUBSETS",
]

#: The release's three subsets, and the split each becomes (train is carved into train + val).
SUBSETS = ("train", "leaderboard", "test")
_SLICE_ID = re.compile(r"^(?P<case>.+)_(?P<slice>[1-9][0-9]*)$")


def slice_id(case: str, index0: int) -> str:
    """The image id of 0-based slice ``index0`` of ``case``: ``<case>_<index0 + 1>``."""
    if int(index0) < 0:
        raise ValueError(f"slice index must be >= 0, got {index0!r}")
    return f"{case}_{int(index0) + 1}"


def parse_slice_id(image_id: str) -> tuple[str, int]:
    """``"<case>_<slice>"`` -> (case, 1-based slice number).

    Raises:
        ValueError: the id does not follow the convention (names it).
    """
    m = _SLICE_ID.match(str(image_id))
    if m is None:
        raise ValueError(f"image id {image_id!r} is not of the form <case>_<slice> with a 1-based slice number")
    return m.group("case"), int(m.group("slice"))


def _pydicom():
    try:
        import pydicom
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ImportError("reading NCI-ISBI needs pydicom: pip install pydicom") from err
    return pydicom


def read_dicom_slice(path: str | os.PathLike) -> np.ndarray:
    """One DICOM slice as float32 H x W in modality units (rescale slope and intercept applied).

    Raises:
        OSError: the file is missing or not DICOM, or has no pixel data (names the file).
        ValueError: the pixel data is not one 2-D grey slice (multi-frame or colour).
    """
    pydicom = _pydicom()
    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise OSError(f"DICOM file {path} does not exist") from None
    except pydicom.errors.InvalidDicomError as err:
        raise OSError(f"cannot read {path}: not a DICOM file ({err})") from None
    if "PixelData" not in ds:
        raise OSError(f"cannot read {path}: the DICOM file has no pixel data")
    try:
        pixels = ds.pixel_array
    except Exception as err:  # a missing decoder plugin, truncated data ...
        raise OSError(f"cannot decode the pixel data of {path}: {err}") from None
    if pixels.ndim != 2:
        raise ValueError(f"{path}: expected one 2-D grey slice, got pixel data of shape {pixels.shape}")
    slope = float(ds.RescaleSlope) if "RescaleSlope" in ds and ds.RescaleSlope is not None else 1.0
    intercept = float(ds.RescaleIntercept) if "RescaleIntercept" in ds and ds.RescaleIntercept is not None else 0.0
    return (pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def zscore(image: np.ndarray) -> np.ndarray:
    """Per-image z-score, float32 (a constant image gives zeros), as the networks see MRI."""
    x = np.asarray(image, dtype=np.float32)
    return ((x - x.mean()) / max(float(x.std()), 1e-6)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Preparation
# ----------------------------------------------------------------------------------------------
@dataclass
class _Slice:
    path: Path
    case: str
    series: str
    instance: int | None
    position: np.ndarray | None
    orientation: np.ndarray | None
    rows: int
    cols: int


def _scan_dicom(root: Path, exclude: Iterable[Path] = ()) -> dict[tuple[str, str], list[_Slice]]:
    """(PatientID, SeriesInstanceUID) -> slices, for every ``*.dcm`` under ``root``."""
    pydicom = _pydicom()
    exclude = [p.resolve() for p in exclude]
    series: dict[tuple[str, str], list[_Slice]] = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".dcm" and p.is_file()):
        if any(path.resolve().is_relative_to(e) for e in exclude):
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError as err:
            raise OSError(f"cannot read {path}: not a DICOM file ({err})") from None
        for tag in ("PatientID", "SeriesInstanceUID", "Rows", "Columns"):
            if tag not in ds:
                raise ValueError(f"{path}: DICOM header lacks {tag}, needed to prepare NCI-ISBI")
        pos = ds.get("ImagePositionPatient")
        ori = ds.get("ImageOrientationPatient")
        inst = ds.get("InstanceNumber")
        series.setdefault((str(ds.PatientID), str(ds.SeriesInstanceUID)), []).append(
            _Slice(path, str(ds.PatientID), str(ds.SeriesInstanceUID), None if inst is None else int(inst),
                   None if pos is None else np.asarray([float(v) for v in pos]),
                   None if ori is None else np.asarray([float(v) for v in ori]), int(ds.Rows), int(ds.Columns))
        )
    return series


def case_of_label_file(path: str | os.PathLike) -> str:
    """The case of a label file: its name up to the first ``.`` or ``_``.

    ``Prostate3T-01-0001.nrrd`` -> ``Prostate3T-01-0001``;
    ``ProstateDx-01-0006_correctedLabels.nrrd`` -> ``ProstateDx-01-0006``.
    """
    return Path(path).name.split(".")[0].split("_")[0]


def _subset_of(path: Path, root: Path) -> str:
    parts = [p.lower() for p in path.relative_to(root).parts[:-1]]
    for key, subset in (("leaderboard", "leaderboard"), ("train", "train"), ("test", "test")):
        if any(key in p for p in parts):
            return subset
    raise ValueError(
        f"cannot tell which subset (train, leaderboard, test) the label file {path} belongs to: none of its "
        f"folders under {root} names one. Put the labels under folders named like the release's archives "
        f"(NCI-ISBI-2013-Prostate-Challenge-Training/...), or pass label_dirs={{'train': ..., 'test': ...}}."
    )


def _lps(header: Mapping) -> tuple[np.ndarray, np.ndarray] | None:
    """(origin, space directions with one row per axis) in DICOM's LPS, or None if unknown."""
    space = str(header.get("space", "")).lower()
    if "space directions" not in header or "space origin" not in header:
        return None
    try:
        dirs = np.asarray(header["space directions"], dtype=np.float64)
        origin = np.asarray(header["space origin"], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if dirs.shape != (3, 3) or origin.shape != (3,) or not np.isfinite(dirs).all() or not np.isfinite(origin).all():
        return None
    if space in ("right-anterior-superior", "ras"):
        flip = np.array([-1.0, -1.0, 1.0])
        return origin * flip, dirs * flip
    if space in ("left-posterior-superior", "lps"):
        return origin, dirs
    return None


def _order_slices(slices: list[_Slice], header: Mapping, nz: int) -> tuple[list[_Slice], str, tuple[bool, bool]]:
    """The DICOM slices in NRRD slice order, how they were matched, and in-plane flips (x, y).

    Matching by position needs the NRRD's LPS/RAS geometry and every slice's position and
    orientation; each NRRD slice must find a distinct DICOM slice within half a slice spacing.
    Otherwise the slices are put in ``InstanceNumber`` order.
    """
    geo = _lps(header)
    if geo is not None and all(s.position is not None and s.orientation is not None for s in slices):
        origin, dirs = geo
        row, col = slices[0].orientation[:3], slices[0].orientation[3:]
        normal = np.cross(row, col)
        spacing = abs(float(dirs[2] @ normal))
        if spacing > 1e-6:
            dicom_pos = np.array([s.position @ normal for s in slices])
            nrrd_pos = np.array([(origin + k * dirs[2]) @ normal for k in range(nz)])
            match = np.abs(dicom_pos[None, :] - nrrd_pos[:, None]).argmin(axis=1)
            close = np.abs(dicom_pos[match] - nrrd_pos) <= 0.5 * spacing
            if close.all() and len(set(match.tolist())) == nz:
                cx = float(dirs[0] @ row) / max(np.linalg.norm(dirs[0]), 1e-12)
                cy = float(dirs[1] @ col) / max(np.linalg.norm(dirs[1]), 1e-12)
                if abs(cx) > 0.99 and abs(cy) > 0.99:
                    return [slices[j] for j in match], "position", (cx < 0, cy < 0)
    if any(s.instance is None for s in slices):
        raise ValueError(f"case {slices[0].case}: cannot order its DICOM slices: no usable geometry and no InstanceNumber")
    if len({s.instance for s in slices}) != len(slices):
        raise ValueError(f"case {slices[0].case}: cannot order its DICOM slices: repeated InstanceNumber and no usable geometry")
    return sorted(slices, key=lambda s: s.instance), "instance-number", (False, False)


def _read_labels(path: Path) -> tuple[np.ndarray, dict]:
    """NRRD label volume -> (uint8 Z x H x W with 1 = prostate, header)."""
    try:
        import nrrd
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ImportError("preparing NCI-ISBI needs pynrrd: pip install pynrrd") from err
    try:
        data, header = nrrd.read(str(path), index_order="C")  # axes (z, y, x)
    except Exception as err:
        raise OSError(f"cannot read the NRRD label volume {path}: {err}") from None
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D label volume, got shape {data.shape}")
    return (data >= 1).astype(np.uint8), dict(header)


def _find_labels(raw_root: Path, label_dirs: Mapping[str, str | os.PathLike] | None) -> dict[str, tuple[str, Path]]:
    """case -> (subset, NRRD path)."""
    found: dict[str, list[tuple[str, Path]]] = {}
    if label_dirs:
        for subset, folder in label_dirs.items():
            if subset not in SUBSETS:
                raise ValueError(f"unknown NCI-ISBI subset {subset!r} in label_dirs; allowed: {', '.join(SUBSETS)}")
            folder = Path(folder)
            if not folder.is_dir():
                raise FileNotFoundError(f"label folder for {subset} does not exist: {folder}")
            for p in sorted(folder.rglob("*.nrrd")):
                found.setdefault(case_of_label_file(p), []).append((subset, p))
    else:
        for p in sorted(raw_root.rglob("*.nrrd")):
            found.setdefault(case_of_label_file(p), []).append((_subset_of(p, raw_root), p))
    if not found:
        raise FileNotFoundError(f"no NRRD label files (*.nrrd) under {raw_root if not label_dirs else list(label_dirs.values())}")
    out = {}
    for case, entries in found.items():
        if len(entries) > 1:
            corrected = [e for e in entries if "corrected" in e[1].name.lower()]
            if len(corrected) != 1:
                raise ValueError(f"case {case} has {len(entries)} label files and no single corrected one: {[str(e[1]) for e in entries]}")
            entries = corrected
        out[case] = entries[0]
    return out


def prepare_nci_isbi(
    raw_root: str | os.PathLike,
    out_root: str | os.PathLike,
    label_dirs: Mapping[str, str | os.PathLike] | None = None,
    dicom_root: str | os.PathLike | None = None,
    val_fraction: float = 0.15,
    seed: int = 0,
    log=print,
) -> dict:
    """Prepare per-slice images and masks with prostate, and split files, from the release.

    Args:
        raw_root: folder holding the DICOM series (any depth, ``*.dcm``) and, unless
            ``label_dirs`` is given, the NRRD label files in folders whose names say the subset
            (``...Training``, ``...Leaderboard``, ``...Test``, as the label archives extract).
        out_root: the prepared dataset folder: ``images/``, ``masks/``, ``splits/`` and
            ``prepare_report.json`` are (re)written there. It may contain ``raw_root``.
        label_dirs: optional ``{"train"|"leaderboard"|"test": folder of NRRD files}``.
        dicom_root: where the DICOM series are, if not under ``raw_root`` (e.g. the NBIA Data
            Retriever's download folder).
        val_fraction: share of Training cases carved into ``val`` (by case).
        seed: seed of that carve.
        log: called with progress lines (``print``; ``lambda *_: None`` for silence).

    Returns:
        the report (also written to ``out_root/prepare_report.json``): per case its subset,
        number of slices, slices kept, how slices were matched, or why it was skipped; and
        the number of ids per split.

    Raises:
        FileNotFoundError: no label files, or a ``label_dirs`` folder is missing.
        ValueError: a label file whose subset cannot be told; unreadable or inconsistent input
            (names the file or case).

    Outputs are built in a temporary folder inside ``out_root`` and moved into place at the
    end, so an interrupted run leaves the previous preparation (or nothing), never a half one.
    """
    raw_root, out_root = Path(raw_root).expanduser(), Path(out_root).expanduser()
    if not raw_root.is_dir():
        raise FileNotFoundError(f"NCI-ISBI raw folder {raw_root} does not exist")
    dicom_root = Path(dicom_root).expanduser() if dicom_root is not None else raw_root
    if not dicom_root.is_dir():
        raise FileNotFoundError(f"NCI-ISBI DICOM folder {dicom_root} does not exist")
    labels = _find_labels(raw_root, label_dirs)
    log(f"NCI-ISBI: {len(labels)} label volumes; scanning DICOM files under {dicom_root}")
    by_case = _series_by_case(dicom_root, exclude=[out_root / "images", out_root / "masks"])

    out_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".prepare-", dir=out_root))
    try:
        (work / "images").mkdir()
        (work / "masks").mkdir()
        report: dict = {"cases": {}, "skipped": {}}
        ids: dict[str, list[str]] = {s: [] for s in SUBSETS}
        for case in sorted(labels):
            subset, label_path = labels[case]
            vol, header = _read_labels(label_path)
            series, why_not = _fitting_series(case, label_path, vol.shape, by_case.get(case, []), dicom_root)
            if series is None:
                report["skipped"][case] = why_not
                log(f"  skipped {case}: {why_not}")
                continue
            ordered, how, (flip_x, flip_y) = _order_slices(series, header, vol.shape[0])
            kept = _write_case(case, vol, ordered, (flip_x, flip_y), work)
            ids[subset] += kept
            report["cases"][case] = {"subset": subset, "label_file": str(label_path), "slices": vol.shape[0], "kept": len(kept),
                                     "order": how, "flipped": {"x": flip_x, "y": flip_y}}
            log(f"  {case} ({subset}): {len(kept)} of {vol.shape[0]} slices with prostate (slices matched by {how})")

        splits = _write_splits(work, ids, val_fraction, seed)
        report["splits"] = {k: len(v) for k, v in splits.items()}
        report["val_cases"] = sorted({parse_slice_id(i)[0] for i in splits["val"]})
        report["settings"] = {"val_fraction": val_fraction, "seed": seed, "raw_root": str(raw_root), "dicom_root": str(dicom_root)}
        write_json(work / "prepare_report.json", report)
        _move_into_place(work, out_root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = sum(report["splits"].values())
    log(f"NCI-ISBI prepared in {out_root}: {n} slices; splits {report['splits']}; skipped cases: {sorted(report['skipped']) or 'none'}")
    return report


def _series_by_case(dicom_root: Path, exclude: Iterable[Path]) -> dict[str, list[list[_Slice]]]:
    """PatientID -> its DICOM series (each a list of slices), for every ``*.dcm`` under ``dicom_root``."""
    by_case: dict[str, list[list[_Slice]]] = {}
    for (case, _), slices in _scan_dicom(dicom_root, exclude=exclude).items():
        by_case.setdefault(case, []).append(slices)
    return by_case


def _fitting_series(case: str, label_path: Path, shape: tuple[int, int, int], candidates: list[list[_Slice]],
                    dicom_root: Path) -> tuple[list[_Slice] | None, str]:
    """``(series, "")``: the one series of ``case`` with the label volume's Z x H x W; else
    ``(None, why the case is skipped)``."""
    nz, ny, nx = shape
    fitting = [s for s in candidates if len(s) == nz and (s[0].rows, s[0].cols) == (ny, nx)]
    if not candidates:
        return None, f"no DICOM series with PatientID {case} under {dicom_root}"
    if len(fitting) != 1:
        sizes = ", ".join(f"{len(s)} slices of {s[0].rows} x {s[0].cols}" for s in candidates)
        return None, (f"label volume {label_path.name} has {nz} slices of {ny} x {nx}, the DICOM series have {sizes}"
                      + ("" if not fitting else " (more than one fits)"))
    return fitting[0], ""


def _write_case(case: str, vol: np.ndarray, ordered: list[_Slice], flips: tuple[bool, bool], work: Path) -> list[str]:
    """Copy each slice with prostate (``vol``: uint8 Z x H x W) to ``work/images/<id>.dcm`` and its
    mask, flipped to the DICOM's in-plane order, to ``work/masks/<id>.png``; the ids written."""
    flip_x, flip_y = flips
    kept = []
    for k in range(vol.shape[0]):
        mask = vol[k]
        if flip_x:
            mask = mask[:, ::-1]
        if flip_y:
            mask = mask[::-1, :]
        if not mask.any():
            continue
        image_id = slice_id(case, k)
        shutil.copyfile(ordered[k].path, work / "images" / f"{image_id}.dcm")
        if not cv2.imwrite(str(work / "masks" / f"{image_id}.png"), np.ascontiguousarray(mask) * np.uint8(255)):
            raise OSError(f"cannot write {work / 'masks' / f'{image_id}.png'}")
        kept.append(image_id)
    return kept


def _write_splits(work: Path, ids: dict[str, list[str]], val_fraction: float, seed: int) -> dict[str, list[str]]:
    """Split files in ``work/splits``: val carved by case from train; the splits written."""
    train, val = carve_validation(ids["train"], val_fraction, seed, group_of=lambda i: parse_slice_id(i)[0])
    splits = {"train": train, "val": val, "test": ids["test"]}
    if ids["leaderboard"]:
        splits["leaderboard"] = ids["leaderboard"]
    splits = {k: sorted(v, key=_natural) for k, v in splits.items()}
    write_split_files(work, splits, header=f"NCI-ISBI 2013; val = {val_fraction:g} of the Training cases (seed {seed}), carved by case")
    return splits


def _move_into_place(work: Path, out_root: Path) -> None:
    """Replace ``out_root``'s images/, masks/, splits/ and report with those built in ``work``."""
    for name in ("images", "masks", "splits"):
        target = out_root / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(work / name, target)
    os.replace(work / "prepare_report.json", out_root / "prepare_report.json")


def _natural(image_id: str) -> tuple[str, int]:
    case, k = parse_slice_id(image_id)
    return case, k


# ----------------------------------------------------------------------------------------------
# Reader
# ----------------------------------------------------------------------------------------------
#: Sigma 50/768 of each side (docs/method.md §1.2), t_hc 0.4, t_bc 0.2 (§1.4); one channel, recorded gaze.
PRESET = DatasetPreset("nci-isbi", "mri", 1, 50 / 768, 0.4, 0.2)


@register_dataset("nci-isbi", presets=PRESET, folder="nci-isbi")
class NCIISBI(SegmentationDataset):
    """NCI-ISBI 2013 prostate MRI slices, prepared as GazeMedSeg does, with its recorded gaze.

    Layout under ``root`` (made by :func:`prepare_nci_isbi`)::

        images/<case>_<slice>.dcm   one DICOM slice each (original file)
        masks/<case>_<slice>.png    uint8, > 127 = prostate
        splits/train.txt ...        optional; val.txt, test.txt, leaderboard.txt likewise

    Args:
        root: the prepared folder.
        gaze_csv: GazeMedSeg's ``nci-isbi_fixation.csv``; else ``$FGI_NCI_ISBI_GAZE``, else the
            first of ``<root>/nci-isbi_fixation.csv``, ``<root>/../gazemedseg/nci-isbi_fixation.csv``.
        ids: restrict to these ids (their order is kept).

    Raises:
        FileNotFoundError: ``root/images`` missing (names it and how to make it).
    """

    name = "nci-isbi"

    def __init__(self, root: str | os.PathLike, gaze_csv: str | os.PathLike | None = None, ids: list[str] | None = None):
        self.root = Path(root).expanduser()
        self.preset = get_preset("nci-isbi")
        image_dir = self.root / "images"
        if not image_dir.is_dir():
            raise FileNotFoundError(
                f"NCI-ISBI images not found: {image_dir} is not a folder. Expected the prepared layout "
                f"<root>/images/<case>_<slice>.dcm and <root>/masks/<case>_<slice>.png "
                f"(data_download.sh --only nci-isbi fetches and prepares it; or python -m fgi_core.data.prepare nci-isbi)."
            )
        self._files = {p.stem: p for p in sorted(image_dir.iterdir()) if p.suffix.lower() == ".dcm"}
        all_ids = sorted(self._files, key=lambda i: _natural(i) if _SLICE_ID.match(i) else (i, 0))
        all_ids = select_ids(all_ids, ids, self._files, image_dir)
        self.ids = all_ids
        self.splits = {"all": list(all_ids), **load_split_files(self.root / "splits", self._files, all_ids)}
        self._gaze_csv = given_gaze_csv(gaze_csv)

    def image(self, image_id: str) -> np.ndarray:
        """float32 H x W: DICOM pixel data x RescaleSlope + RescaleIntercept."""
        return read_dicom_slice(self._files[self.check_id(image_id)])

    def mask(self, image_id: str) -> np.ndarray | None:
        path = self.root / "masks" / f"{self.check_id(image_id)}.png"
        if not path.is_file():
            return None
        m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise OSError(f"cannot read mask {path}: not a decodable image file")
        return m > 127

    def gaze_csv(self, work_dir: str | os.PathLike | None = None) -> Path:
        candidates = [self._gaze_csv] if self._gaze_csv else []
        if os.environ.get("FGI_NCI_ISBI_GAZE"):
            candidates.append(Path(os.environ["FGI_NCI_ISBI_GAZE"]))
        candidates += [self.root / "nci-isbi_fixation.csv", self.root.parent / "gazemedseg" / "nci-isbi_fixation.csv"]
        return first_gaze_csv(candidates, "NCI-ISBI", "Pass gaze_csv=... (fgi: --gaze-csv FILE) or fetch it with ./data_download.sh --only gazemedseg.")
