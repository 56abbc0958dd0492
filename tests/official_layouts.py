"""Tiny datasets in the official on-disk layouts, with synthetic content (tests only).

* :func:`write_dicom_slice` / :func:`write_nci_case`: a TCIA-like DICOM series (files named
  out of order, as the NBIA retriever's names are not slice order) and its NRRD label volume,
  written with the real ``pydicom`` and ``pynrrd`` writers.
* :func:`make_isic_root`, :func:`make_kvasir_root`, :func:`make_nci_root`: whole dataset
  folders (images from :func:`fgi_core.data.generate_sample`) ready for the readers and the
  notebooks; Kvasir-SEG and NCI-ISBI get a GazeMedSeg-format fixation CSV simulated from
  their masks (the readers treat it as recorded gaze: it stands in for GazeMedSeg's file).
"""
from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np

from fgi_core.data import generate_sample


def write_dicom_slice(path: Path, stored: np.ndarray, *, case: str, series_uid: str, instance: int | None,
                      position: tuple[float, float, float] | None, spacing: float = 0.6,
                      orientation: tuple[float, ...] | None = (1, 0, 0, 0, 1, 0),
                      slope: float | None = None, intercept: float | None = None, signed: bool = False) -> Path:
    """One MR slice as a DICOM file (explicit VR little endian); ``stored`` are the raw values."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = case
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "MR"
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [spacing, spacing]
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    ds.PixelData = np.ascontiguousarray(stored.astype("<i2" if signed else "<u2")).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_nci_case(dicom_dir: Path, label_path: Path, case: str, stored: np.ndarray, labels: np.ndarray, *,
                   descending: bool = False, space: str | None = "left-posterior-superior", dz: float = 3.0,
                   slope: float | None = 2.0, intercept: float | None = -5.0, geometry: bool = True,
                   label_axis_flip_x: bool = False) -> list[Path]:
    """A DICOM series of ``stored`` (Z x H x W raw values) and its NRRD ``labels`` (Z x H x W).

    NRRD slice ``k`` lies at z = z0 + k dz. The DICOM file of slice ``k`` gets a shuffled name;
    with ``descending`` its InstanceNumber runs against z (instance 1 is the top slice), so only
    matching by position puts the slices right. ``space`` "right-anterior-superior" writes the
    NRRD geometry in RAS (x, y negated); ``geometry=False`` leaves it out (the preparation then
    falls back to InstanceNumber order). ``label_axis_flip_x`` stores the label's x axis
    reversed with a negative x direction (the same voxels in space).

    Returns:
        the DICOM paths in NRRD slice order.
    """
    import nrrd

    nz, h, w = stored.shape
    x0, y0, z0, sp = -50.0, -40.0, 10.0, 0.6
    series_uid = f"1.2.826.0.1.3680043.8.498.{zlib.crc32(case.encode()) % 10**8}"
    names = np.random.default_rng(zlib.crc32(case.encode())).permutation(nz)
    paths = []
    for k in range(nz):
        instance = (nz - k) if descending else (k + 1)
        path = dicom_dir / case / f"1-{names[k] + 1:02d}.dcm"
        write_dicom_slice(path, stored[k], case=case, series_uid=series_uid, instance=instance,
                          position=(x0, y0, z0 + k * dz), spacing=sp, slope=slope, intercept=intercept)
        paths.append(path)
    header: dict = {"kinds": ["domain", "domain", "domain"]}
    data = labels.astype(np.uint8)
    dirs = np.diag([sp, sp, dz])
    origin = np.array([x0, y0, z0])
    if label_axis_flip_x:
        data = data[:, :, ::-1]
        origin = origin + np.array([(w - 1) * sp, 0.0, 0.0])
        dirs = dirs.copy()
        dirs[0, 0] = -sp
    if geometry and space is not None:
        if space == "right-anterior-superior":
            flip = np.array([-1.0, -1.0, 1.0])
            origin, dirs = origin * flip, dirs * flip
        header.update({"space": space, "space directions": dirs, "space origin": origin})
    label_path.parent.mkdir(parents=True, exist_ok=True)
    nrrd.write(str(label_path), np.ascontiguousarray(data), header, index_order="C")
    return paths


H, W = 24, 32  # the small hand-made volumes of volume()


def volume(nz: int, first: int, last: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw values 100 (k + 1) + x (every slice and column distinct) and labels on slices first..last:
    a box whose left edge moves with k (so a flip or a slice mix-up shows), label 1 or 2."""
    x = np.arange(W)[None, :]
    stored = np.stack([np.broadcast_to(100 * (k + 1) + x, (H, W)) for k in range(nz)]).astype(np.uint16)
    labels = np.zeros((nz, H, W), np.uint8)
    for k in range(first, last + 1):
        labels[k, 4 + (seed + k) % 5 : 18, 2 + k : 20] = 1 + k % 2
    return stored, labels


def simulated_gaze_csv(dataset, path: Path, extension: str, seed: int = 0) -> Path:
    """Fixations simulated from the dataset's masks, written as a GazeMedSeg CSV (``<id><extension>``)."""
    from fgi_core.gaze import fixations_to_frame, simulate, write_fixations

    records = {}
    for image_id in dataset.ids:
        mask = dataset.mask(image_id)
        records[f"{image_id}{extension}"] = (simulate(mask, np.random.default_rng([seed, zlib.crc32(image_id.encode())])), mask.shape)
    return write_fixations(fixations_to_frame(records), path)


SIZE = (160, 192)
#: Clear lesions: the notebooks' quick-profile checks (e.g. validation Dice > 0.3 after 60
#: iterations) test that the pipeline works on each layout, not how hard the data is.
EASY = {"contrast": 1.6, "distractors": 0}


def make_isic_root(root: Path, n_train: int = 18, n_val: int = 3, n_test: int = 3, size=SIZE, seed: int = 0) -> Path:
    """ISIC 2018 task 1 layout: Training/Validation/Test input JPEGs and ``*_segmentation.png`` masks."""
    from fgi_core.data.isic import OFFICIAL_FOLDERS

    k = 0
    for subset, n in (("training", n_train), ("validation", n_val), ("test", n_test)):
        inputs, gts = (root / f for f in OFFICIAL_FOLDERS[subset])
        inputs.mkdir(parents=True, exist_ok=True)
        gts.mkdir(parents=True, exist_ok=True)
        (inputs / "LICENSE.txt").write_text("CC-BY-NC\n")  # the zips hold these too
        for _ in range(n):
            image, mask = generate_sample(k, seed=seed, flavour="dermoscopy", size=size, **EASY)
            image_id = f"ISIC_{1000 + 7 * k:07d}"
            assert cv2.imwrite(str(inputs / f"{image_id}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            assert cv2.imwrite(str(gts / f"{image_id}_segmentation.png"), mask.astype(np.uint8) * 255)
            k += 1
    return root


def make_kvasir_root(root: Path, n: int = 24, size=SIZE, seed: int = 0) -> Path:
    """Kvasir-SEG layout (images/*.jpg, masks/*.jpg), splits, and ``kvasir_fixation.csv``."""
    from fgi_core.data import KvasirSEG, write_split_files

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    ids = []
    for k in range(n):
        image, mask = generate_sample(k, seed=seed, flavour="endoscopy", size=size, lesion_size=(0.1, 0.3), **EASY)
        image_id = f"cju{k:04d}kvasir"
        assert cv2.imwrite(str(root / "images" / f"{image_id}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        grey = mask.astype(np.uint8) * 255
        assert cv2.imwrite(str(root / "masks" / f"{image_id}.jpg"), np.repeat(grey[..., None], 3, axis=2))
        ids.append(image_id)
    n_val = n_test = max(1, n // 6)
    write_split_files(root, {"train": ids[: n - n_val - n_test], "val": ids[n - n_val - n_test : n - n_test], "test": ids[n - n_test :]})
    simulated_gaze_csv(KvasirSEG(root), root / "kvasir_fixation.csv", ".jpg", seed)
    return root


def nci_volume(case_index: int, n_prostate: int, size=SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(stored uint16 Z x H x W, labels Z x H x W) with one empty slice above and below the prostate."""
    h, w = size
    nz = n_prostate + 2
    stored = np.zeros((nz, h, w), np.uint16)
    labels = np.zeros((nz, h, w), np.uint8)
    for k in range(nz):
        image, mask = generate_sample(100 * case_index + k, seed=seed, flavour="mri", size=size, **EASY)
        stored[k] = image.astype(np.uint16) * 4 + 20
        if 0 < k < nz - 1:
            labels[k] = np.where(mask, 1 + (k % 2), 0)  # 1 peripheral zone / 2 central gland
    return stored, labels


def make_nci_root(root: Path, n_train_cases: int = 3, n_test_cases: int = 1, n_prostate: int = 6, size=SIZE, seed: int = 0) -> Path:
    """Raw TCIA-like release under ``root/raw`` prepared into ``root`` with the real preparation,
    plus ``root/nci-isbi_fixation.csv`` (IMAGE = ``<case>_<slice>.jpg`` as in GazeMedSeg's file)."""
    from fgi_core.data import NCIISBI, prepare_nci_isbi

    raw = root / "raw"
    cases = [(f"Prostate3T-01-{i + 1:04d}", "Training") for i in range(n_train_cases)]
    cases += [(f"ProstateDx-03-{i + 1:04d}", "Test") for i in range(n_test_cases)]
    for i, (case, subset) in enumerate(cases):
        stored, labels = nci_volume(i, n_prostate, size, seed)
        write_nci_case(raw / "dicom", raw / f"NCI-ISBI-2013-Prostate-Challenge-{subset}" / f"{case}.nrrd", case, stored, labels,
                       descending=bool(i % 2))
    prepare_nci_isbi(raw, root, log=lambda *_: None)
    simulated_gaze_csv(NCIISBI(root), root / "nci-isbi_fixation.csv", ".jpg", seed)
    return root
