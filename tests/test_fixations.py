"""Tests for fgi_core.gaze.fixations: reading, validating, writing GazeMedSeg fixation CSVs."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fgi_core.config import shared_realdata
from fgi_core.gaze.fixations import (
    FIXATION_COLUMNS,
    REQUIRED_COLUMNS,
    SACCADE_MS,
    FixationError,
    fixation_statistics,
    fixations_to_frame,
    image_size_for,
    points_for,
    read_fixations,
    write_fixations,
)

HEADER = list(FIXATION_COLUMNS)


def row(image="a.jpg", index=1, x=0.5, y=0.5, duration=200, pupil=1500, start=0, height=100.0, width=120.0):
    return [image, index, x, y, duration, pupil, start, height, width]


def good_rows():
    """Two images, 'a' (3 fixations, written out of index order) and 'b' (2). Lines 2..6."""
    return [
        row("b.jpg", 1, 0.1, 0.2, 300, height=50.0, width=60.0),  # line 2
        row("a.jpg", 2, 0.3, 0.4, 250),  # line 3
        row("a.jpg", 1, 0.5, 0.6, 100),  # line 4
        row("b.jpg", 2, 0.7, 0.8, 150, height=50.0, width=60.0),  # line 5
        row("a.jpg", 3, 0.9, 1.0, 400),  # line 6
    ]


def write_csv(path: Path, rows, header=HEADER) -> Path:
    """Write ``rows`` (lists of cells; a str row is written verbatim) under ``header``."""
    lines = [",".join(header)]
    for r in rows:
        lines.append(r if isinstance(r, str) else ",".join("" if v is None else str(v) for v in r))
    path.write_text("\n".join(lines) + "\n")
    return path


def with_bad(rows, line: int, column: str, value):
    """A copy of ``rows`` with the cell at file ``line`` (header = 1) and ``column`` replaced."""
    rows = [list(r) for r in rows]
    rows[line - 2][HEADER.index(column)] = value
    return rows


def assert_message(exc: pytest.ExceptionInfo, path: Path, *parts: str) -> None:
    msg = str(exc.value)
    assert path.name in msg, msg
    assert str(path) in msg, msg
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"


# ----------------------------------------------------------------------------------------------
# Good input
# ----------------------------------------------------------------------------------------------
def test_read_good_file_sorted_with_id_and_line(tmp_path):
    path = write_csv(tmp_path / "fix.csv", good_rows())
    frame, report = read_fixations(path)
    assert list(frame.columns) == list(FIXATION_COLUMNS) + ["id", "line"]
    assert frame["id"].tolist() == ["a", "a", "a", "b", "b"]
    assert frame["CURRENT_FIX_INDEX"].tolist() == [1, 2, 3, 1, 2]
    assert frame["line"].tolist() == [4, 3, 6, 2, 5]
    assert frame.attrs["path"] == str(path)
    assert report.n_rows == 5 and report.n_kept == 5 and report.n_images == 2 and report.dropped == []
    np.testing.assert_allclose(points_for(frame, "a"), [[0.5, 0.6, 100], [0.3, 0.4, 250], [0.9, 1.0, 400]])
    assert points_for(frame, "a").dtype == np.float64
    assert image_size_for(frame, "b") == (50, 60)
    assert all(isinstance(v, int) for v in image_size_for(frame, "a"))


def test_ties_keep_file_order(tmp_path):
    rows = [row("a.jpg", 1, 0.1), row("a.jpg", 1, 0.2), row("a.jpg", 0, 0.3)]
    frame, _ = read_fixations(write_csv(tmp_path / "t.csv", rows))
    assert frame["CURRENT_FIX_X"].tolist() == [0.3, 0.1, 0.2]


def test_optional_columns_filled(tmp_path):
    header = list(REQUIRED_COLUMNS)
    rows = [["a.png", 0.1, 0.2, 100, 10.0, 20.0], ["a.png", 0.3, 0.4, 50, 10.0, 20.0], ["b.png", 0.5, 0.5, 70, 8.0, 8.0]]
    frame, report = read_fixations(write_csv(tmp_path / "req.csv", rows, header=header))
    assert list(frame.columns) == list(FIXATION_COLUMNS) + ["id", "line"]
    assert frame["CURRENT_FIX_INDEX"].tolist() == [1, 2, 1]
    assert frame["CURRENT_FIX_PUPIL"].tolist() == [0, 0, 0]
    assert frame["CURRENT_FIX_START"].tolist() == [0, 100 + SACCADE_MS, 0]
    assert report.n_kept == 3


def test_blank_lines_counted_in_line_numbers(tmp_path):
    rows = good_rows()
    rows.insert(1, "")  # a blank line 3: the next rows move down by one
    path = write_csv(tmp_path / "blank.csv", rows)
    frame, report = read_fixations(path)
    assert report.n_rows == 5
    assert sorted(frame["line"].tolist()) == [2, 4, 5, 6, 7]
    bad = with_bad(good_rows(), 4, "CURRENT_FIX_X", 7)
    bad.insert(1, "")
    with pytest.raises(FixationError) as exc:
        read_fixations(write_csv(tmp_path / "blank_bad.csv", bad))
    assert_message(exc, tmp_path / "blank_bad.csv", "line 5,", "CURRENT_FIX_X", "7")


# ----------------------------------------------------------------------------------------------
# Bad input, strict
# ----------------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_fixations(path)


def test_missing_required_column_raises_even_lenient(tmp_path):
    header = [c for c in HEADER if c != "CURRENT_FIX_Y"]
    rows = [[v for c, v in zip(HEADER, r) if c != "CURRENT_FIX_Y"] for r in good_rows()]
    path = write_csv(tmp_path / "nocol.csv", rows, header=header)
    for strict in (True, False):
        with pytest.raises(ValueError) as exc:
            read_fixations(path, strict=strict)
        assert isinstance(exc.value, FixationError)
        # file, line 1 (the header), the missing column, and the columns found
        assert_message(exc, path, "line 1", "CURRENT_FIX_Y", "found columns: IMAGE, CURRENT_FIX_INDEX, CURRENT_FIX_X,")


def test_non_numeric(tmp_path):
    path = write_csv(tmp_path / "nonnum.csv", with_bad(good_rows(), 4, "CURRENT_FIX_DURATION", "abc"))
    with pytest.raises(FixationError) as exc:
        read_fixations(path)
    assert_message(exc, path, "line 4,", "column CURRENT_FIX_DURATION", "value abc", "not a number")


def test_empty_cell(tmp_path):
    path = write_csv(tmp_path / "empty.csv", with_bad(good_rows(), 3, "CURRENT_FIX_X", ""))
    with pytest.raises(FixationError) as exc:
        read_fixations(path)
    assert_message(exc, path, "line 3,", "column CURRENT_FIX_X", "value ''", "empty")


def test_nan_cell(tmp_path):
    path = write_csv(tmp_path / "nan.csv", with_bad(good_rows(), 5, "IMAGE_HEIGHT", "NaN"))
    with pytest.raises(FixationError) as exc:
        read_fixations(path)
    assert_message(exc, path, "line 5,", "column IMAGE_HEIGHT", "value NaN", "NaN")


def test_empty_image_name(tmp_path):
    path = write_csv(tmp_path / "noimg.csv", with_bad(good_rows(), 2, "IMAGE", ""))
    with pytest.raises(FixationError) as exc:
        read_fixations(path)
    assert_message(exc, path, "line 2,", "column IMAGE", "empty")


def test_x_above_one(tmp_path):
    path = write_csv(tmp_path / "kvasir_fixation.csv", with_bad(good_rows(), 6, "CURRENT_FIX_X", 1.2))
    with pytest.raises(FixationError) as exc:
        read_fixations(path)
    assert str(exc.value).startswith("kvasir_fixation.csv line 6, column CURRENT_FIX_X: value 1.2 is outside [0, 1]")
    assert_message(exc, path)


def test_y_below_zero(tmp_path):
    path = write_csv(tmp_path / "ylow.csv", with_bad(good_rows(), 2, "CURRENT_FIX_Y", -0.01))
    with pytest.raises(FixationError) as exc:
        read_fixations(path)
    assert_message(exc, path, "line 2,", "column CURRENT_FIX_Y", "value -0.01", "outside [0, 1]")


@pytest.mark.parametrize("value", ["0", "-5"])
def test_duration_not_positive(tmp_path, value):
    path = write_csv(tmp_path / "dur.csv", with_bad(good_rows(), 3, "CURRENT_FIX_DURATION", value))
    with pytest.raises(FixationError) as exc:
        read_fixations(path)
    assert_message(exc, path, "line 3,", "column CURRENT_FIX_DURATION", f"value {value} ", "not positive")


def test_size_not_positive(tmp_path):
    path = write_csv(tmp_path / "w0.csv", with_bad(good_rows(), 4, "IMAGE_WIDTH", "0.0"))
    with pytest.raises(FixationError) as exc:
        read_fixations(path)
    assert_message(exc, path, "line 4,", "column IMAGE_WIDTH", "value 0.0", "not positive")


def test_inconsistent_image_size(tmp_path):
    # image 'a' is 100 x 120 on lines 3 and 4, 101 x 120 on line 6
    path = write_csv(tmp_path / "size.csv", with_bad(good_rows(), 6, "IMAGE_HEIGHT", 101.0))
    with pytest.raises(FixationError) as exc:
        read_fixations(path)
    assert_message(exc, path, "line 6,", "column IMAGE_HEIGHT", "value 101.0", "'a'", "100 x 120", "101 x 120", "lines 3, 4")


def test_strict_reports_first_bad_line(tmp_path):
    rows = with_bad(good_rows(), 5, "CURRENT_FIX_X", 3)
    rows = with_bad(rows, 6, "CURRENT_FIX_Y", "x")
    rows = with_bad(rows, 3, "CURRENT_FIX_PUPIL", "?")
    with pytest.raises(FixationError) as exc:
        read_fixations(write_csv(tmp_path / "first.csv", rows))
    assert "line 3, column CURRENT_FIX_PUPIL: value ?" in str(exc.value)


def test_image_ids_must_not_be_a_string(tmp_path):
    with pytest.raises(TypeError):
        read_fixations(write_csv(tmp_path / "s.csv", good_rows()), image_ids="a")


# ----------------------------------------------------------------------------------------------
# Bad input, lenient
# ----------------------------------------------------------------------------------------------
def test_lenient_drops_and_reports(tmp_path):
    rows = good_rows() + [
        row("c.jpg", 1, 1.5, 0.5),  # line 7: X outside
        row("c.jpg", 2, 0.5, 0.5, duration=0),  # line 8: duration 0
        row("c.jpg", 3, 0.5, 0.5, duration=-3),  # line 9: negative duration
        row("c.jpg", 4, "zz", 0.5),  # line 10: not a number
        row("c.jpg", 5, 0.5, None),  # line 11: empty
        row("c.jpg", 6, 0.5, 0.5),  # line 12: good
        row("c.jpg", 7, 0.5, 0.5),  # line 13: good
        row("c.jpg", 8, 0.5, 0.5, height=99.0),  # line 14: disagrees with c's common size 100 x 120
    ]
    path = write_csv(tmp_path / "mixed.csv", rows)
    frame, report = read_fixations(path, strict=False)
    assert report.n_rows == 13
    assert report.n_kept == 7 == len(frame)
    assert report.n_images == 3
    assert sorted(frame["line"].tolist()) == [2, 3, 4, 5, 6, 12, 13]
    got = [(d["line"], d["column"], d["value"], d["reason"]) for d in report.dropped]
    assert got == [
        (7, "CURRENT_FIX_X", "1.5", "outside [0, 1]"),
        (8, "CURRENT_FIX_DURATION", "0", "not positive (must be > 0)"),
        (9, "CURRENT_FIX_DURATION", "-3", "not positive (must be > 0)"),
        (10, "CURRENT_FIX_X", "zz", "not a number"),
        (11, "CURRENT_FIX_Y", "", "empty"),
        (14, "IMAGE_HEIGHT", "99.0", "inconsistent image size"),
    ]
    assert all(d["image"] == "c.jpg" for d in report.dropped)
    assert report.dropped_by_reason() == {
        "not positive (must be > 0)": 2,
        "outside [0, 1]": 1,
        "not a number": 1,
        "empty": 1,
        "inconsistent image size": 1,
    }
    text = report.summary()
    assert "13 data rows, 7 kept (3 images), 6 dropped" in text
    assert "not positive (must be > 0)" in text and str(report) == text
    json.dumps(report.to_dict())
    assert report.to_dict()["n_dropped"] == 6


def test_lenient_size_tie_keeps_first_seen(tmp_path):
    rows = [row("a.jpg", 1, height=10.0), row("a.jpg", 2, height=11.0)]
    frame, report = read_fixations(write_csv(tmp_path / "tie.csv", rows), strict=False)
    assert frame["line"].tolist() == [2]
    assert [d["line"] for d in report.dropped] == [3]


# ----------------------------------------------------------------------------------------------
# image_ids
# ----------------------------------------------------------------------------------------------
def test_image_ids_restrict_and_report(tmp_path):
    path = write_csv(tmp_path / "ids.csv", good_rows())
    frame, report = read_fixations(path, image_ids=["a", "z", "y"])
    assert set(frame["id"]) == {"a"}
    assert report.ids_without_image == ["b"]
    assert report.images_without_fixations == ["y", "z"]
    assert report.n_kept == 3 and report.n_images == 1 and report.n_rows == 5
    assert "images without fixations: 2 (y, z)" in report.summary()
    with pytest.raises(KeyError) as exc:
        points_for(frame, "z")
    assert "no fixations for image 'z' in" in str(exc.value) and "ids.csv" in str(exc.value)


def test_points_for_missing_id(tmp_path):
    frame, _ = read_fixations(write_csv(tmp_path / "pf.csv", good_rows()))
    with pytest.raises(KeyError, match="no fixations for image 'abc' in .*pf.csv: the gaze stage needs at least one"):
        points_for(frame, "abc")
    with pytest.raises(KeyError, match="'abc'"):
        image_size_for(frame, "abc")
    made = fixations_to_frame({"q.jpg": (np.array([[0.5, 0.5, 100.0]]), (10, 10))})
    with pytest.raises(KeyError, match="no fixations for image 'abc' in the fixation table"):
        points_for(made, "abc")


# ----------------------------------------------------------------------------------------------
# Making, writing, round trip
# ----------------------------------------------------------------------------------------------
def test_fixations_to_frame_fields():
    pts = np.array([[0.1, 0.2, 100.0], [0.3, 0.4, 250.0], [0.5, 0.6, 60.0]])
    frame = fixations_to_frame({"img1.png": (pts, (30, 40))})
    assert list(frame.columns[:9]) == list(FIXATION_COLUMNS)
    assert frame["CURRENT_FIX_INDEX"].tolist() == [1, 2, 3]
    assert frame["CURRENT_FIX_PUPIL"].tolist() == [0, 0, 0]
    assert frame["CURRENT_FIX_START"].tolist() == [0, 120, 390]  # 0, 0+100+20, 120+250+20
    assert frame["IMAGE_HEIGHT"].dtype == np.float64 and frame["IMAGE_HEIGHT"].iloc[0] == 30.0
    np.testing.assert_array_equal(points_for(frame, "img1"), pts)


@pytest.mark.parametrize(
    "points, size, needle",
    [
        (np.array([[1.2, 0.5, 100.0]]), (10, 10), "CURRENT_FIX_X"),
        (np.array([[0.5, -0.1, 100.0]]), (10, 10), "CURRENT_FIX_Y"),
        (np.array([[0.5, 0.5, 0.0]]), (10, 10), "CURRENT_FIX_DURATION"),
        (np.array([[0.5, np.nan, 10.0]]), (10, 10), "CURRENT_FIX_Y"),
        (np.array([[0.5, 0.5, 10.0]]), (0, 10), "IMAGE_HEIGHT"),
        (np.array([[0.5, 0.5, 10.0]]), (10, 10.5), "IMAGE_WIDTH"),
        (np.zeros((0, 3)), (10, 10), "no fixations"),
        (np.zeros((2, 2)), (10, 10), "N x 3"),
    ],
)
def test_fixations_to_frame_validates(points, size, needle):
    with pytest.raises(ValueError) as exc:
        fixations_to_frame({"ok.jpg": (np.array([[0.5, 0.5, 10.0]]), (10, 10)), "bad.jpg": (points, size)})
    assert "'bad.jpg'" in str(exc.value) and needle in str(exc.value)


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    records = {}
    for k in range(5):
        n = int(rng.integers(1, 12))
        pts = np.column_stack([rng.random(n), rng.random(n), rng.integers(50, 900, n).astype(float)])
        records[f"img{k}.jpg"] = (pts, (int(rng.integers(100, 1000)), int(rng.integers(100, 1000))))
    records["frac.png"] = (np.array([[1.0, 0.0, 123.25], [0.0, 1.0, 1e-3]]), (7, 9))
    made = fixations_to_frame(records)
    path = write_fixations(made, tmp_path / "sub" / "sim_fixation.csv")
    assert path == tmp_path / "sub" / "sim_fixation.csv"
    assert path.read_text().splitlines()[0] == ",".join(FIXATION_COLUMNS)
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temp files left
    back, report = read_fixations(path)
    assert report.dropped == [] and report.n_kept == len(made)
    pd.testing.assert_frame_equal(back[list(FIXATION_COLUMNS) + ["id"]], made, check_dtype=False, check_exact=True)
    for image in records:
        image_id = image.rsplit(".", 1)[0]
        np.testing.assert_array_equal(points_for(back, image_id), records[image][0])
        assert image_size_for(back, image_id) == records[image][1]
    # read -> write -> read keeps every value (the sorted file also keeps the line numbers)
    again, _ = read_fixations(write_fixations(back, tmp_path / "again.csv"))
    pd.testing.assert_frame_equal(again, back.assign(), check_exact=True, check_dtype=True)


def test_write_rejects_bad_frame(tmp_path):
    frame = fixations_to_frame({"a.jpg": (np.array([[0.5, 0.5, 10.0]]), (10, 10))})
    frame.loc[0, "CURRENT_FIX_X"] = 2.0
    with pytest.raises(ValueError, match="'a.jpg'.*CURRENT_FIX_X.*outside"):
        write_fixations(frame, tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()
    with pytest.raises(ValueError, match="CURRENT_FIX_DURATION"):
        write_fixations(frame.drop(columns=["CURRENT_FIX_DURATION"]), tmp_path / "bad.csv")


# ----------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------
def test_fixation_statistics_known_mask():
    # 4 x 4 mask: the top-left 2 x 2 block is lesion -> mask_fraction = 4 / 16 = 0.25
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True
    pts = np.array(
        [
            [0.10, 0.10, 100.0],  # row floor(0.4)=0, col floor(0.4)=0  -> inside
            [0.45, 0.30, 300.0],  # row floor(1.2)=1, col floor(1.8)=1  -> inside
            [0.50, 0.10, 200.0],  # row 0, col floor(2.0)=2             -> outside
            [1.00, 1.00, 400.0],  # row min(4,3)=3, col min(4,3)=3      -> outside
        ]
    )
    frame = fixations_to_frame({"m.jpg": (pts, (4, 4)), "n.jpg": (np.array([[0.5, 0.5, 80.0]]), (4, 4))})
    stats = fixation_statistics(frame, {"m": mask, "unknown": mask})
    assert stats.index.tolist() == ["m", "n"]
    m = stats.loc["m"]
    assert m["n_fixations"] == 4
    assert m["total_duration_ms"] == 1000.0  # 100 + 300 + 200 + 400
    assert m["median_duration_ms"] == 250.0  # (200 + 300) / 2
    assert m["fraction_inside"] == 0.5  # 2 of 4
    assert m["fraction_inside_weighted"] == pytest.approx(0.4)  # (100 + 300) / 1000
    assert m["mask_fraction"] == 0.25
    n = stats.loc["n"]
    assert n["n_fixations"] == 1 and n["median_duration_ms"] == 80.0
    assert np.isnan(n["fraction_inside"]) and np.isnan(n["mask_fraction"])
    assert fixation_statistics(frame).columns.tolist() == stats.columns.tolist()


# ----------------------------------------------------------------------------------------------
# Real data (../shared/realdata; skipped when absent)
# ----------------------------------------------------------------------------------------------
def _realdata_file(*parts: str) -> Path:
    root = shared_realdata()
    if root is None:
        pytest.skip("shared real data not available")
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(scope="module")
def kvasir():
    path = _realdata_file("gazemedseg", "kvasir_fixation.csv")
    t0 = time.perf_counter()
    frame, report = read_fixations(path, strict=True)
    return frame, report, time.perf_counter() - t0


def _split(name: str) -> list[str]:
    return _realdata_file("kvasir-seg", "splits", f"{name}.txt").read_text().split()


@pytest.mark.realdata
def test_real_kvasir_reads(kvasir):
    frame, report, seconds = kvasir
    assert report.n_rows == report.n_kept == len(frame) == 26_832
    assert report.n_images == frame["id"].nunique() == 1_000
    assert report.dropped == []
    counts = frame.groupby("id").size()
    assert (counts.min(), counts.median(), counts.max()) == (5, 25, 99)  # SOURCE.md
    assert frame["CURRENT_FIX_DURATION"].min() >= 50
    assert seconds < 1.0, f"reading took {seconds:.2f} s"


@pytest.mark.realdata
def test_real_kvasir_split_ids():
    path = _realdata_file("gazemedseg", "kvasir_fixation.csv")
    ids = _split("train") + _split("val")
    assert len(set(ids)) == 800
    frame, report = read_fixations(path, image_ids=ids)
    assert len(report.ids_without_image) == 200
    assert report.images_without_fixations == []
    assert report.n_images == 800 and set(frame["id"]) == set(ids)


@pytest.mark.realdata
def test_real_nci_isbi_reads():
    path = _realdata_file("gazemedseg", "nci-isbi_fixation.csv")
    frame, report = read_fixations(path, strict=True)
    assert report.n_rows == 17_397 and report.dropped == []
    assert report.n_images == 789


@pytest.mark.realdata
def test_real_kvasir_fixations_fall_on_polyps(kvasir):
    cv2 = pytest.importorskip("cv2")
    frame = kvasir[0]
    ids = sorted(_split("val"))[:20]
    masks = {}
    for image_id in ids:
        mask_path = _realdata_file("kvasir-seg", "masks", f"{image_id}.jpg")
        grey = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        assert grey is not None, mask_path
        assert grey.shape == image_size_for(frame, image_id)
        masks[image_id] = grey > 127
    stats = fixation_statistics(frame, masks).loc[ids]
    # SOURCE.md: on average 85 % of fixations fall inside the polyp mask over all 1,000 images
    # (median 90 %, 87 % weighted by duration) and no image has zero fixations on the polyp.
    assert stats["fraction_inside"].mean() > 0.7
    assert (stats["fraction_inside"] > 0).all()
    assert stats["fraction_inside_weighted"].mean() > 0.7
