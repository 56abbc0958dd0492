"""NCI-ISBI: preparation from DICOM series + NRRD volumes written here with pydicom and pynrrd,
the reader (also on pydicom's bundled real MR slice), and the id convention of GazeMedSeg's real gaze."""
from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from fgi_core.config import shared_realdata
from fgi_core.data import NCIISBI, create_dataset, parse_slice_id, prepare_nci_isbi, read_dicom_slice, slice_id, zscore
from official_layouts import volume, write_dicom_slice, write_nci_case

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("nrrd")



@pytest.fixture
def release(tmp_path) -> dict:
    """A raw release: five Training cases written in different ways, one Leaderboard, one Test,
    and one Training case whose label has a slice too few (skipped, as GazeMedSeg skips one)."""
    raw = tmp_path / "raw"
    spec = {
        "Prostate3T-01-0001": dict(subset="Training"),                          # plain, LPS
        "Prostate3T-01-0002": dict(subset="Training", descending=True),         # InstanceNumber against z
        "ProstateDx-01-0003": dict(subset="Training", space="right-anterior-superior", descending=True),
        "ProstateDx-01-0004": dict(subset="Training", label_axis_flip_x=True),  # label x axis stored reversed
        "Prostate3T-01-0005": dict(subset="Training", geometry=False),          # no geometry: InstanceNumber order
        "Prostate3T-02-0001": dict(subset="Leaderboard"),
        "ProstateDx-03-0001": dict(subset="Test", slope=None, intercept=None),
    }
    cases = {}
    for i, (case, opts) in enumerate(spec.items()):
        subset = opts.pop("subset")
        stored, labels = volume(6, 1, 4, seed=i)
        label_path = raw / f"NCI-ISBI-2013-Prostate-Challenge-{subset}" / subset / f"{case}.nrrd"
        paths = write_nci_case(raw / "dicom" / subset, label_path, case, stored, labels, **opts)
        cases[case] = dict(stored=stored, labels=labels, paths=paths, slope=opts.get("slope", 2.0), intercept=opts.get("intercept", -5.0))
    # one slice fewer in the label than in the series
    stored, labels = volume(6, 1, 4, seed=9)
    write_nci_case(raw / "dicom" / "Training", raw / "NCI-ISBI-2013-Prostate-Challenge-Training" / "ProstateDx-01-0055.nrrd",
                   "ProstateDx-01-0055", stored, labels)
    import nrrd

    nrrd.write(str(raw / "NCI-ISBI-2013-Prostate-Challenge-Training" / "ProstateDx-01-0055.nrrd"), labels[:5], index_order="C")
    return {"raw": raw, "cases": cases, "out": tmp_path / "nci-isbi"}


def test_slice_ids():
    assert slice_id("Prostate3T-01-0027", 13) == "Prostate3T-01-0027_14"
    assert parse_slice_id("ProstateDx-01-0082_27") == ("ProstateDx-01-0082", 27)
    for bad in ("Prostate3T-01-0027", "Prostate3T-01-0027_0", "Prostate3T-01-0027_x", "_3"):
        with pytest.raises(ValueError, match=re.escape(f"image id {bad!r} is not of the form <case>_<slice>")):
            parse_slice_id(bad)
    with pytest.raises(ValueError, match="slice index must be >= 0"):
        slice_id("c", -1)


def test_prepare_keeps_prostate_slices_matched_by_position(release):
    report = prepare_nci_isbi(release["raw"], release["out"], val_fraction=0.25, seed=0, log=lambda *_: None)
    out = release["out"]
    assert report["skipped"] == {"ProstateDx-01-0055": "label volume ProstateDx-01-0055.nrrd has 5 slices of 24 x 32, "
                                                       "the DICOM series have 6 slices of 24 x 32"}
    orders = {c: r["order"] for c, r in report["cases"].items()}
    assert orders.pop("Prostate3T-01-0005") == "instance-number"
    assert set(orders.values()) == {"position"}
    assert report["cases"]["ProstateDx-01-0004"]["flipped"] == {"x": True, "y": False}
    ds = NCIISBI(out)
    for case, c in release["cases"].items():
        kept = [i for i in ds.ids if parse_slice_id(i)[0] == case]
        assert kept == [f"{case}_{k}" for k in (2, 3, 4, 5)], kept  # 1-based: NRRD slices 1..4
        for k in (1, 2, 3, 4):
            image_id = slice_id(case, k)
            slope = 1.0 if c["slope"] is None else c["slope"]
            intercept = 0.0 if c["intercept"] is None else c["intercept"]
            expected = c["stored"][k].astype(np.float32) * slope + intercept  # 100 (k+1) + x, rescaled
            image = ds.image(image_id)
            assert image.dtype == np.float32 and np.array_equal(image, expected), (image_id, image[0, :3], expected[0, :3])
            assert np.array_equal(ds.mask(image_id), c["labels"][k] >= 1), image_id
            # the image is the original DICOM file, copied byte for byte
            assert (out / "images" / f"{image_id}.dcm").read_bytes() == c["paths"][k].read_bytes()
    assert not [p for p in out.iterdir() if p.name.startswith(".prepare-")]
    saved = json.loads((out / "prepare_report.json").read_text())
    assert saved["splits"] == {"train": 16, "val": 4, "test": 4, "leaderboard": 4}


def test_splits_are_carved_by_case_from_training_only(release):
    prepare_nci_isbi(release["raw"], release["out"], val_fraction=0.25, seed=0, log=lambda *_: None)
    ds = NCIISBI(release["out"])
    case = lambda ids: {parse_slice_id(i)[0] for i in ids}  # noqa: E731
    train, val, test = case(ds.split("train")), case(ds.split("val")), case(ds.split("test"))
    assert len(val) == 1 and len(train) == 4 and not train & val  # round(0.25 x 5 training cases) = 1
    assert train | val == {"Prostate3T-01-0001", "Prostate3T-01-0002", "ProstateDx-01-0003", "ProstateDx-01-0004",
                           "Prostate3T-01-0005"} and test == {"ProstateDx-03-0001"}
    assert case(ds.split("leaderboard")) == {"Prostate3T-02-0001"}
    assert len(ds.split("all")) == 28
    # same seed, same split; the val case is a training case, never the test case
    again = release["out"].parent / "again"
    prepare_nci_isbi(release["raw"], again, val_fraction=0.25, seed=0, log=lambda *_: None)
    assert NCIISBI(again).split("val") == ds.split("val")


def test_prepare_replaces_an_earlier_preparation(release):
    out = release["out"]
    (out / "images").mkdir(parents=True)
    (out / "images" / "Stale-01-0001_1.dcm").write_bytes(b"old")
    prepare_nci_isbi(release["raw"], out, log=lambda *_: None)
    assert not (out / "images" / "Stale-01-0001_1.dcm").exists()
    assert len(list((out / "masks").glob("*.png"))) == len(list((out / "images").glob("*.dcm"))) == 28


def test_prepare_errors_name_the_file(tmp_path, release):
    stray = tmp_path / "labels" / "somewhere" / "Prostate3T-01-0009.nrrd"
    stray.parent.mkdir(parents=True)
    shutil.copy(next(release["raw"].rglob("Prostate3T-01-0001.nrrd")), stray)
    with pytest.raises(ValueError, match=re.escape(f"the label file {stray} belongs to")):
        prepare_nci_isbi(tmp_path / "labels", tmp_path / "out", log=lambda *_: None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no NRRD label files"):
        prepare_nci_isbi(empty, tmp_path / "out", log=lambda *_: None)
    # explicit label folders need no subset names; a case without DICOM is skipped with the reason
    report = prepare_nci_isbi(empty, tmp_path / "out", label_dirs={"train": stray.parent}, log=lambda *_: None)
    assert report["skipped"] == {"Prostate3T-01-0009": f"no DICOM series with PatientID Prostate3T-01-0009 under {empty}"}
    with pytest.raises(ValueError, match="unknown NCI-ISBI subset 'validation'"):
        prepare_nci_isbi(empty, tmp_path / "out", label_dirs={"validation": stray.parent}, log=lambda *_: None)


def test_command_line_prepares(release, capsys):
    from fgi_core.data.prepare import main

    assert main(["nci-isbi", str(release["raw"]), str(release["out"])]) == 0
    assert "28 slices" in capsys.readouterr().out
    assert main(["nci-isbi", str(release["raw"] / "nowhere"), str(release["out"])]) == 1
    assert "does not exist" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Reader
# ----------------------------------------------------------------------------------------------
def _mr_small() -> Path:
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = get_testdata_file("MR_small.dcm")
    if path is None:
        pytest.skip("pydicom's test file MR_small.dcm is not installed")
    return Path(path)


def test_read_dicom_slice_on_a_real_mr_file(tmp_path):
    """pydicom's bundled MR_small.dcm (a real 64 x 64 MR slice, signed 16 bit, no rescale tags)."""
    real = _mr_small()
    image = read_dicom_slice(real)
    assert image.shape == (64, 64) and image.dtype == np.float32
    assert (image[0, 0], image[32, 32], image.min(), image.max()) == (905.0, 182.0, 127.0, 2145.0)
    ds = pydicom.dcmread(real)
    ds.RescaleSlope, ds.RescaleIntercept = 0.5, 100
    rescaled = tmp_path / "rescaled.dcm"
    ds.save_as(rescaled)
    out = read_dicom_slice(rescaled)
    assert (out[0, 0], out[32, 32]) == (552.5, 191.0)  # 905 / 2 + 100, 182 / 2 + 100
    assert np.array_equal(out, image * 0.5 + 100)


def test_reader_on_a_real_mr_file(tmp_path, monkeypatch):
    monkeypatch.delenv("FGI_NCI_ISBI_GAZE", raising=False)
    root = tmp_path / "nci-isbi"
    (root / "images").mkdir(parents=True)
    shutil.copy(_mr_small(), root / "images" / "Prostate3T-01-0001_1.dcm")
    ds = create_dataset("nci-isbi", root=root)
    assert isinstance(ds, NCIISBI) and ds.modality == "mri" and ds.preset.channels == 1 and not ds.simulated_gaze
    assert (ds.preset.sigma, ds.preset.t_hc, ds.preset.t_bc) == (50 / 768, 0.4, 0.2)
    assert ds.ids == ["Prostate3T-01-0001_1"] and ds.mask("Prostate3T-01-0001_1") is None
    rgb = ds.image_rgb("Prostate3T-01-0001_1")
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0, 0] == round((905 - 127) / (2145 - 127) * 255) and rgb.min() == 0 and rgb.max() == 255
    z = zscore(ds.image("Prostate3T-01-0001_1"))
    assert abs(float(z.mean())) < 1e-5 and abs(float(z.std()) - 1) < 1e-5
    with pytest.raises(FileNotFoundError, match="nci-isbi_fixation.csv"):
        ds.gaze_csv()
    beside = tmp_path / "gazemedseg" / "nci-isbi_fixation.csv"
    beside.parent.mkdir()
    beside.write_text("IMAGE\n")
    assert ds.gaze_csv() == beside


def test_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "images")) + ".*data_download.sh --only nci-isbi"):
        NCIISBI(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "Case-01-0001_1.dcm").write_bytes(b"not a dicom file at all" * 10)
    ds = NCIISBI(tmp_path)
    with pytest.raises(OSError, match=re.escape(f"cannot read {tmp_path / 'images' / 'Case-01-0001_1.dcm'}: not a DICOM file")):
        ds.image("Case-01-0001_1")
    with pytest.raises(KeyError, match="Case-01-0001_9"):
        ds.image("Case-01-0001_9")
    with pytest.raises(OSError, match="does not exist"):
        read_dicom_slice(tmp_path / "nope.dcm")


def test_multiframe_dicom_is_refused(tmp_path):
    path = write_dicom_slice(tmp_path / "x.dcm", np.zeros((4, 5), np.uint16), case="c", series_uid="1.2.3", instance=1, position=None)
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 2
    ds.Rows = 2
    ds.save_as(path)
    with pytest.raises(ValueError, match=r"expected one 2-D grey slice, got pixel data of shape \(2, 2, 5\)"):
        read_dicom_slice(path)


# ----------------------------------------------------------------------------------------------
# The real GazeMedSeg NCI-ISBI gaze: every id follows the convention the preparation produces
# ----------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_real_nci_isbi_gaze_ids_match_the_preparation():
    from fgi_core.gaze import read_fixations

    real = shared_realdata()
    path = None if real is None else real / "gazemedseg" / "nci-isbi_fixation.csv"
    if path is None or not path.is_file():
        pytest.skip("no shared real data (../shared/realdata/gazemedseg/nci-isbi_fixation.csv)")
    frame, report = read_fixations(path)
    ids = sorted(frame["id"].unique())
    assert len(ids) == 789 and len(frame) == 17_397
    cases = {}
    for image_id in ids:
        case, k = parse_slice_id(image_id)
        assert re.fullmatch(r"Prostate(3T|Dx)-01-\d{4}", case), image_id  # all from the Training subset
        assert slice_id(case, k - 1) == image_id  # what prepare_nci_isbi names NRRD slice k - 1
        cases.setdefault(case, []).append(k)
    assert len(cases) == 59 and "ProstateDx-01-0055" not in cases  # the one case GazeMedSeg skips
    # the prostate is one run of consecutive slices in every case
    assert all(sorted(ks) == list(range(min(ks), max(ks) + 1)) for ks in cases.values())
    sizes = {(h, w) for h, w in frame[["IMAGE_HEIGHT", "IMAGE_WIDTH"]].drop_duplicates().itertuples(index=False)}
    assert sizes == {(256.0, 256.0), (320.0, 320.0), (400.0, 400.0), (432.0, 432.0)}
