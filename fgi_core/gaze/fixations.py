"""Read, validate and write fixation CSVs in the GazeMedSeg format.

The format
----------
One row per fixation, one file per dataset (GazeMedSeg, Zhong et al., MICCAI 2024)::

    IMAGE,CURRENT_FIX_INDEX,CURRENT_FIX_X,CURRENT_FIX_Y,CURRENT_FIX_DURATION,CURRENT_FIX_PUPIL,CURRENT_FIX_START,IMAGE_HEIGHT,IMAGE_WIDTH
    cju88y1mwoln50871emyfny1g.jpg,1,0.4825520833333334,0.4541666666666666,455,2670,7,529.0,621.0

* ``IMAGE``: the image file name *with* its extension. The frame adds ``id``, the name without
  the extension, which is how split files, images and masks are keyed.
* ``CURRENT_FIX_X`` / ``CURRENT_FIX_Y``: position normalised to [0, 1] from the top-left corner;
  X runs along the width, Y along the height.
* ``CURRENT_FIX_DURATION``: milliseconds, > 0 (the real files hold only fixations >= 50 ms).
* ``CURRENT_FIX_INDEX``: order of the fixation within its image. It may skip numbers (the
  authors filtered short fixations). ``CURRENT_FIX_PUPIL`` (EyeLink pupil size) and
  ``CURRENT_FIX_START`` (ms since the trial started) are carried along, unused by the method.
* ``IMAGE_HEIGHT`` / ``IMAGE_WIDTH``: the image's pixel size, written as floats (``529.0``); they
  must be positive whole numbers and agree between all rows of one image.

Only :data:`REQUIRED_COLUMNS` must be in a file. Missing optional columns are filled on read
(and on write): ``CURRENT_FIX_INDEX`` = 1..N per image in file order, ``CURRENT_FIX_PUPIL`` = 0,
``CURRENT_FIX_START`` = 0, then previous start + previous duration + a 20 ms saccade
(:data:`SACCADE_MS`). Columns other than the nine are ignored.

Conventions
-----------
* **Line numbers** are those of the file as a text editor shows them: the header is line 1, the
  first data row line 2. Blank lines (and rows whose cells are all empty) count as lines but are
  not data rows. A row whose quoted cell holds a line break is numbered by its last line.
* **Validation** is vectorised over the whole file; only messages are built row by row. A row
  is bad when a cell is empty, ``NaN``, not a number or infinite; when X or Y is outside
  [0, 1]; when the duration, height or width is not positive; when the height or width is not
  a whole number; when ``CURRENT_FIX_INDEX`` is not a whole number >= 0; when it has fewer
  fields than the header, or more (trailing empty fields aside), reported as such
  (``row has 3 fields, expected 9``), not as an empty cell in a later column; or when its image
  size disagrees with the other rows of the same image (see below). A missing required column
  always raises (nothing can be kept).
* ``strict=True`` (default) raises :class:`FixationError` (a ``ValueError``) on the first bad row
  in file order, e.g.
  ``kvasir_fixation.csv line 17, column CURRENT_FIX_X: value 1.2 is outside [0, 1] (file /path/kvasir_fixation.csv)``.
* ``strict=False`` drops bad rows and records one entry per dropped row in
  :attr:`FixationReport.dropped` (``line``, ``column``, ``value``, ``reason``, ``image``; the
  first problem of the row in column order).
* **Inconsistent image size**: the most common (height, width) of an image is taken as its
  size (ties: the one seen first in the file); only the rows that disagree with it are bad
  (dropped with ``strict=False``), the image's other rows are kept.
* The frame is sorted by ``id``, then ``CURRENT_FIX_INDEX``, then file line (so ties keep file
  order). ``frame.attrs["path"]`` holds the source path.

Example
-------
    >>> from pathlib import Path
    >>> from fgi_core.gaze.fixations import read_fixations, points_for, image_size_for
    >>> train_ids = Path("splits/train.txt").read_text().split()  # doctest: +SKIP
    >>> frame, report = read_fixations("kvasir_fixation.csv", image_ids=train_ids)  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
    kvasir_fixation.csv: 26832 data rows, 18643 kept (700 images), 0 dropped
      ids with fixations but not in image_ids: 300 (cju0qoxqj9q6s0835b43399p4, ...)
      images without fixations: 0
    >>> points_for(frame, "cju0qkwl35piu0993l0dewei2").shape  # N x 3: x, y, duration ms  # doctest: +SKIP
    (33, 3)
    >>> image_size_for(frame, "cju0qkwl35piu0993l0dewei2")  # (height, width)  # doctest: +SKIP
    (529, 622)
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np
import pandas as pd

from fgi_core.gaze.coords import pixel_indices
from fgi_core.io import atomic_path

__all__ = [
    "FIXATION_COLUMNS",
    "REQUIRED_COLUMNS",
    "SACCADE_MS",
    "FixationError",
    "FixationReport",
    "read_fixations",
    "points_for",
    "image_size_for",
    "fixations_to_frame",
    "write_fixations",
    "fixation_statistics",
]

IMAGE = "IMAGE"
INDEX = "CURRENT_FIX_INDEX"
X = "CURRENT_FIX_X"
Y = "CURRENT_FIX_Y"
DURATION = "CURRENT_FIX_DURATION"
PUPIL = "CURRENT_FIX_PUPIL"
START = "CURRENT_FIX_START"
HEIGHT = "IMAGE_HEIGHT"
WIDTH = "IMAGE_WIDTH"

#: The nine GazeMedSeg columns, in file order.
FIXATION_COLUMNS: tuple[str, ...] = (IMAGE, INDEX, X, Y, DURATION, PUPIL, START, HEIGHT, WIDTH)
#: Columns a fixation file must have; the others are filled when absent.
REQUIRED_COLUMNS: tuple[str, ...] = (IMAGE, X, Y, DURATION, HEIGHT, WIDTH)
#: Saccade time (ms) assumed between fixations when ``CURRENT_FIX_START`` is made up.
SACCADE_MS: float = 20.0

_NUMERIC_COLUMNS = (INDEX, X, Y, DURATION, PUPIL, START, HEIGHT, WIDTH)
# Checks per numeric column, after "empty / NaN / not a number / infinite".
_RULES: dict[str, tuple[str, ...]] = {
    INDEX: ("whole", "nonneg"),
    X: ("unit",),
    Y: ("unit",),
    DURATION: ("positive",),
    PUPIL: (),
    START: (),
    HEIGHT: ("positive", "whole"),
    WIDTH: ("positive", "whole"),
}
# Reason codes -> text that follows "value <v> is ".
_REASONS = (
    None,  # 0 = fine
    "empty",
    "NaN (missing)",
    "not a number",
    "not finite",
    "outside [0, 1]",
    "not positive (must be > 0)",
    "not a whole number",
    "negative",
)
_R_EMPTY, _R_NAN, _R_NOTNUM, _R_INF, _R_UNIT, _R_POS, _R_WHOLE, _R_NEG = range(1, 9)
_NAN_WORDS = ("nan", "-nan", "+nan", "na", "n/a", "null", "none", "#n/a")
REASON_SIZE = "inconsistent image size"


class FixationError(ValueError):
    """A fixation file or table breaks the GazeMedSeg format; the message says where."""


@dataclass
class FixationReport:
    """What :func:`read_fixations` read, kept and dropped.

    Attributes:
        path: the file read.
        n_rows: data rows in the file (blank lines not counted).
        n_kept: rows in the returned frame (after dropping bad rows and restricting to
            ``image_ids``).
        dropped: one dict per dropped row: ``line`` (1-based, header = 1), ``column``,
            ``value`` (the cell as written), ``reason``, ``image`` (the IMAGE cell).
        ids_without_image: ids with fixations but not in ``image_ids`` (sorted; left out of the
            frame). Empty when ``image_ids`` is None.
        images_without_fixations: ids in ``image_ids`` with no (valid) fixation (sorted).
        n_images: distinct ids in the returned frame.
    """

    path: str
    n_rows: int = 0
    n_kept: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    ids_without_image: list[str] = field(default_factory=list)
    images_without_fixations: list[str] = field(default_factory=list)
    n_images: int = 0

    @property
    def n_dropped(self) -> int:
        return len(self.dropped)

    def dropped_by_reason(self) -> dict[str, int]:
        """``{reason: rows dropped for it}``, most frequent first."""
        return dict(Counter(d["reason"] for d in self.dropped).most_common())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of all fields plus ``n_dropped`` and ``dropped_by_reason``."""
        out = asdict(self)
        out["path"] = str(self.path)
        out["n_dropped"] = self.n_dropped
        out["dropped_by_reason"] = self.dropped_by_reason()
        return out

    def summary(self, show: int = 5) -> str:
        """A few human lines: counts, dropped rows by reason, the first ``show`` ids of each list."""
        name = Path(self.path).name
        lines = [
            f"{name}: {self.n_rows} data rows, {self.n_kept} kept ({self.n_images} image{'' if self.n_images == 1 else 's'}), "
            f"{self.n_dropped} dropped"
        ]
        for reason, n in self.dropped_by_reason().items():
            first = [d for d in self.dropped if d["reason"] == reason][:3]
            where = ", ".join(f"line {d['line']} {d['column']}={d['value']!r}" for d in first)
            lines.append(f"  dropped {n} x {reason} (e.g. {where})")

        def ids(label: str, values: list[str]) -> str:
            more = f", ... (+{len(values) - show} more)" if len(values) > show else ""
            return f"  {label}: {len(values)}" + (f" ({', '.join(values[:show])}{more})" if values else "")

        lines.append(ids("ids with fixations but not in image_ids", self.ids_without_image))
        lines.append(ids("images without fixations", self.images_without_fixations))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ----------------------------------------------------------------------------------------------
# Validation (vectorised)
# ----------------------------------------------------------------------------------------------
def _strip_extension(names: pd.Series) -> pd.Series:
    """``'abc.jpg' -> 'abc'``; ``'a.b.png' -> 'a.b'``; ``'abc' -> 'abc'`` (once per distinct name)."""
    codes, uniques = pd.factorize(names.astype(object), use_na_sentinel=False)
    stems = pd.Series(np.asarray(uniques, dtype=object), dtype=object).str.replace(r"\.[^./\\]*$", "", regex=True)
    return pd.Series(stems.to_numpy(dtype=object)[codes], index=names.index, dtype=object)


def _numeric_codes(num: np.ndarray, raw: np.ndarray | None, rules: tuple[str, ...]) -> np.ndarray:
    """Reason code per row (0 = fine) for one numeric column.

    Args:
        num: float64 (N,) values (NaN where unparsable).
        raw: the cells as read (N,) object strings, or None when checking an in-memory frame.
        rules: extra checks from ``_RULES``.
    """
    code = np.zeros(num.shape[0], dtype=np.int8)

    def mark(bad: np.ndarray, reason: int) -> None:
        code[(code == 0) & bad] = reason

    nan = np.isnan(num)
    if raw is not None and nan.any():
        where = np.flatnonzero(nan)
        cells = [str(v).strip() for v in raw[where]]
        code[where] = [_R_EMPTY if v == "" else _R_NAN if v.lower() in _NAN_WORDS else _R_NOTNUM for v in cells]
    else:
        mark(nan, _R_NAN)
    mark(np.isinf(num), _R_INF)
    with np.errstate(invalid="ignore"):
        for rule in rules:
            if rule == "unit":
                mark((num < 0.0) | (num > 1.0), _R_UNIT)
            elif rule == "positive":
                mark(num <= 0.0, _R_POS)
            elif rule == "whole":
                mark(np.isfinite(num) & (num != np.round(num)), _R_WHOLE)
            elif rule == "nonneg":
                mark(num < 0.0, _R_NEG)
    return code


def _first_problems(
    columns: dict[str, np.ndarray], raws: dict[str, np.ndarray] | None, image_raw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For every row: the position of its first bad column in ``[IMAGE] + numeric columns present``
    (-1 = none) and the reason code there. ``columns`` maps each numeric column present to float64
    values (N,); ``raws`` the same columns as read, or None for an in-memory frame."""
    order = [IMAGE] + [c for c in _NUMERIC_COLUMNS if c in columns]
    n = image_raw.shape[0]
    first_col = np.full(n, -1, dtype=np.int16)
    first_code = np.zeros(n, dtype=np.int8)
    for k, col in enumerate(order):
        if col == IMAGE:
            code = np.where(image_raw == "", _R_EMPTY, 0).astype(np.int8)
        else:
            code = _numeric_codes(columns[col], None if raws is None else raws[col], _RULES[col])
        new = (first_col < 0) & (code > 0)
        first_col[new] = k
        first_code[new] = code[new]
    return first_col, first_code


def _format_lines(lines: Iterable[int], show: int = 5) -> str:
    lines = list(lines)
    text = ", ".join(str(v) for v in lines[:show])
    if len(lines) > show:
        text += f", ... (+{len(lines) - show} more)"
    return ("line " if len(lines) == 1 else "lines ") + text


def _size_text(h: float, w: float) -> str:
    return f"{h:g} x {w:g}"


class _SizeConflict(NamedTuple):
    """A row whose image size disagrees with the most common size of its image."""

    column: str  # HEIGHT, or WIDTH when only the width differs
    mode: tuple[float, float]  # the image's most common (height, width)
    mode_lines: list[int]  # the lines (rows) that have it
    size: tuple[float, float]  # this row's (height, width)
    size_lines: list[int]  # the lines (rows) with this row's size

    @property
    def both(self) -> bool:
        """Height and width both differ from the image's size."""
        return self.size[0] != self.mode[0] and self.size[1] != self.mode[1]


def _inconsistent_sizes(ids: np.ndarray, h: np.ndarray, w: np.ndarray, lines: np.ndarray,
                        ok: np.ndarray) -> dict[int, _SizeConflict]:
    """Rows (among ``ok``) whose (height, width) disagrees with the most common size of their id.

    Args:
        ids, h, w, lines, ok: per row (N,): id, height, width, line (or row) number, and whether
            the row passed the cell checks.

    Returns:
        row position -> its :class:`_SizeConflict`, for each disagreeing row; empty when all
        images are consistent (the usual, fast case).
    """
    pos = np.flatnonzero(ok)
    if pos.size == 0:
        return {}
    sub = pd.DataFrame({"id": ids[pos], "h": h[pos], "w": w[pos], "line": lines[pos], "pos": pos})
    distinct = sub.drop_duplicates(["id", "h", "w"])
    multi = distinct["id"][distinct["id"].duplicated()].unique()
    if len(multi) == 0:
        return {}
    sub = sub[sub["id"].isin(multi)]
    out: dict[int, _SizeConflict] = {}
    for _, g in sub.groupby("id", sort=False):
        sizes = list(zip(g["h"].to_numpy(), g["w"].to_numpy()))
        counts = Counter(sizes)  # insertion order = first seen in file order (g keeps file order)
        mode = max(counts, key=lambda s: counts[s])  # max returns the first of equal counts
        glines = g["line"].to_numpy()
        mode_lines = [int(L) for L, s in zip(glines, sizes) if s == mode]
        for p, L, s in zip(g["pos"].to_numpy(), glines, sizes):
            if s != mode:
                col = HEIGHT if s[0] != mode[0] else WIDTH
                same = [int(L2) for L2, s2 in zip(glines, sizes) if s2 == s]
                out[int(p)] = _SizeConflict(col, mode, mode_lines, s, same)
    return out


def _size_message(prefix: str, image_id: str, value: str, conflict: _SizeConflict) -> str:
    both = conflict.both
    cols = f"{HEIGHT}/{WIDTH}" if both else conflict.column
    return (
        f"{prefix}, column {cols}: value{'s' if both else ''} {value} disagree{'' if both else 's'} with the other rows of image "
        f"{image_id!r}: its size (height x width) is {_size_text(*conflict.mode)} on {_format_lines(conflict.mode_lines)} "
        f"but {_size_text(*conflict.size)} on {_format_lines(conflict.size_lines)} ({REASON_SIZE})"
    )


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------
def _fill_start(ids: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Start times per image in the given (fixation) order: 0, then start + duration + saccade."""
    step = pd.Series(durations + SACCADE_MS)
    csum = step.groupby(ids, sort=False).cumsum().to_numpy()
    return csum - step.to_numpy()


@dataclass
class _Table:
    """A CSV file's cells, before any validation (see :func:`_read_table`)."""

    header: list[str]  # stripped column names (a trailing empty name dropped)
    cells: dict[str, np.ndarray]  # column -> object array of the cells as written ("" where a row is short)
    n_fields: np.ndarray  # fields per row (0 for a blank line)
    lines: np.ndarray  # file line of each row (its last line, for a quoted cell with a line break)
    extra: dict[int, list[str]]  # row -> its cells beyond the header, for rows with a non-empty one


def _read_table(path: Path, name: str, columns: Iterable[str]) -> _Table | None:
    """Read ``columns`` of a CSV file keeping every row's field count (None for an empty file).

    Unquoted files with no row longer than the header (the usual case) go through pandas' C
    parser, their field counts from the commas of each line; others through :mod:`csv`.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FixationError(f"{name}: cannot be parsed as CSV: not UTF-8 text ({exc}) (file {path})") from None
    if not text.strip():
        return None
    if '"' not in text and "\r" not in text.replace("\r\n", "\n"):
        physical = text.split("\n")
        if physical[-1] == "":
            physical.pop()
        if "\r" in text:
            physical = [line[:-1] if line.endswith("\r") else line for line in physical]
        raw_header = physical[0].split(",")
        n_fields = np.array([line.count(",") + 1 if line else 0 for line in physical[1:]], dtype=np.int64)
        if not n_fields.size or n_fields.max() <= len(raw_header):
            try:
                frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
            except (pd.errors.ParserError, pd.errors.EmptyDataError):
                frame = None
            if frame is not None and len(frame) == n_fields.size and frame.shape[1] == len(raw_header):
                header = _header(raw_header)
                cells = {c: frame.iloc[:, header.index(c)].fillna("").to_numpy(dtype=object) for c in columns if c in header}
                return _Table(header, cells, n_fields, np.arange(2, n_fields.size + 2, dtype=np.int64), {})
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, row_lines = [], []
    try:
        for r in reader:
            rows.append(r)
            row_lines.append(reader.line_num)
    except csv.Error as exc:
        raise FixationError(f"{name} line {reader.line_num}: cannot be parsed as CSV: {exc} (file {path})") from None
    header, body = _header(rows[0]), rows[1:]
    width = len(header)
    n_fields = np.fromiter((len(r) for r in body), dtype=np.int64, count=len(body))
    even = body if (n_fields == width).all() else [r[:width] + [""] * (width - len(r)) for r in body]
    by_column = list(zip(*even)) if even else [()] * width
    cells = {c: np.array(by_column[header.index(c)], dtype=object) for c in columns if c in header}
    extra = {k: body[k][width:] for k in np.flatnonzero(n_fields > width).tolist() if any(v.strip() for v in body[k][width:])}
    return _Table(header, cells, n_fields, np.asarray(row_lines[1:], dtype=np.int64), extra)


def _header(cells: list[str]) -> list[str]:
    header = [c.strip() for c in cells]
    while header and header[-1] == "":  # a trailing comma after the last column name
        header.pop()
    return header


def read_fixations(
    path: str | os.PathLike,
    image_ids: Iterable[str] | None = None,
    strict: bool = True,
) -> tuple[pd.DataFrame, FixationReport]:
    """Read and validate a GazeMedSeg fixation CSV (docs/method.md §1.1; the format: docs/data.md §4).

    The steps: open the file and check its header (:func:`_read_header_checked`), parse the data
    rows (:func:`_data_rows`), find each row's first problem (:func:`_find_problems`), raise on or
    drop the bad rows (:func:`_sort_out`), build the frame (:func:`_assemble_frame`) and keep the
    images asked for (:func:`_keep_images`).

    Args:
        path: the CSV file.
        image_ids: ids (file names without extension) of the images in use, e.g. a split. When
            given, the frame holds only these ids; ids in the file but not here go to
            ``report.ids_without_image``, ids here without fixations to
            ``report.images_without_fixations`` (neither is an error).
        strict: True raises :class:`FixationError` on the first bad row; False drops bad rows and
            lists them in ``report.dropped``.

    Returns:
        ``(frame, report)``. The frame has the nine :data:`FIXATION_COLUMNS` (``IMAGE`` str,
        ``CURRENT_FIX_INDEX`` int64, the others float64) plus ``id`` (str) and ``line`` (int64,
        1-based file line), one row per kept fixation (N rows), sorted by id, then fixation
        index, then line; the index is 0..N-1 and ``frame.attrs["path"]`` holds ``str(path)``.

    Raises:
        FileNotFoundError: no such file.
        FixationError: a required column is missing (also with ``strict=False``), the file cannot
            be parsed as CSV, or (``strict=True``) a row is bad.
    """
    path = _fixation_path(path, image_ids)
    table = _read_header_checked(path)
    rows = _data_rows(table)
    problems = _find_problems(rows)
    good, dropped = _sort_out(rows, problems, table, strict, path)
    frame = _assemble_frame(rows, good)
    report = FixationReport(path=str(path), n_rows=int(rows.lines.size), dropped=dropped)
    frame = _keep_images(frame, report, image_ids)
    report.n_kept = int(len(frame))
    report.n_images = int(frame["id"].nunique())
    frame.attrs["path"] = str(path)
    return frame, report


def _fixation_path(path: str | os.PathLike, image_ids: Iterable[str] | None) -> Path:
    """``path`` as a Path, once it is a regular file and ``image_ids`` is not a single string."""
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise FixationError(f"fixation file {path} is not a regular file")
        raise FileNotFoundError(f"fixation file not found: {path}")
    if isinstance(image_ids, (str, bytes)):
        raise TypeError(f"image_ids must be an iterable of ids, not a single string ({image_ids!r})")
    return path


def _read_header_checked(path: Path) -> _Table:
    """The file's cells, once it is non-empty and its header has every required column."""
    name = path.name
    table = _read_table(path, name, FIXATION_COLUMNS)
    if table is None:
        raise FixationError(f"{name} line 1: the file is empty, expected a header with {', '.join(REQUIRED_COLUMNS)} (file {path})")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.header]
    if missing:
        raise FixationError(
            f"{name} line 1 (header): missing required column(s) {', '.join(missing)}; "
            f"found columns: {', '.join(table.header) or '(none)'} (file {path})"
        )
    return table


@dataclass
class _Rows:
    """The N data rows of a fixation file (blank lines left out), parsed but not yet judged."""

    image: np.ndarray  # IMAGE cells, stripped: object (N,)
    ids: np.ndarray  # IMAGE without its extension: object (N,)
    lines: np.ndarray  # file line of each row: int64 (N,)
    numeric: dict[str, np.ndarray]  # numeric column present -> float64 (N,), NaN where unparsable
    raws: dict[str, np.ndarray]  # the same columns' cells as written: object (N,)
    n_fields: np.ndarray  # fields in each row: int64 (N,)
    too_short: np.ndarray  # bool (N,): fewer fields than the header
    too_long: np.ndarray  # bool (N,): a non-empty field beyond the header
    table_row: np.ndarray  # each row's index in the _Table (the key of _Table.extra): (N,)

    @property
    def field_bad(self) -> np.ndarray:
        return self.too_short | self.too_long


def _data_rows(table: _Table) -> _Rows:
    """Parse the table's numeric columns and leave out its blank lines (every cell empty)."""
    cells, n_fields, lines = table.cells, table.n_fields, table.lines
    # Rows with more fields than the header; trailing empty fields (``a,b,c,``) are let pass.
    row_index = np.arange(n_fields.size)
    too_long = np.zeros(n_fields.size, dtype=bool)
    too_long[list(table.extra)] = True
    image_raw = pd.Series(cells[IMAGE], dtype=object).str.strip().to_numpy(dtype=object)
    # to_numeric accepts surrounding blanks, so only the (rare) unparsable cells need stripping.
    numeric = {
        c: pd.to_numeric(pd.Series(cells[c], dtype=object), errors="coerce").to_numpy(dtype=np.float64)
        for c in _NUMERIC_COLUMNS
        if c in cells
    }
    raws = {c: cells[c] for c in numeric}
    blank = image_raw == ""  # a blank line: every cell empty
    for c in numeric:
        cand = np.flatnonzero(blank)
        if cand.size == 0:
            break
        blank[cand] = [str(v).strip() == "" for v in raws[c][cand]]
    blank &= ~too_long
    if blank.any():
        keep_rows = ~blank
        image_raw, lines = image_raw[keep_rows], lines[keep_rows]
        numeric = {c: v[keep_rows] for c, v in numeric.items()}
        raws = {c: v[keep_rows] for c, v in raws.items()}
        n_fields, too_long, row_index = n_fields[keep_rows], too_long[keep_rows], row_index[keep_rows]
    ids = _strip_extension(pd.Series(image_raw, dtype=object)).to_numpy(dtype=object)
    # A row cut short (or run long) is reported as such, not as an empty cell in a later column.
    too_short = n_fields < len(table.header)
    return _Rows(image_raw, ids, lines, numeric, raws, n_fields, too_short, too_long, row_index)


@dataclass
class _Problems:
    """The first problem of each of the N rows, and the rows whose image size disagrees."""

    order: list[str]  # IMAGE, then the numeric columns present: what first_col indexes
    first_col: np.ndarray  # int16 (N,): position in ``order`` of the first bad cell, -1 = none
    first_code: np.ndarray  # int8 (N,): its reason code (an index of _REASONS)
    ok: np.ndarray  # bool (N,): no bad cell and as many fields as the header
    sizes: dict[int, _SizeConflict]  # row -> its conflict, among the ``ok`` rows


def _find_problems(rows: _Rows) -> _Problems:
    """Judge every cell (vectorised), then the image sizes of the rows that passed."""
    # An IMAGE like ".jpg" leaves an empty id: count it as empty.
    image_check = np.where(rows.ids == "", "", rows.image)
    order = [IMAGE] + [c for c in _NUMERIC_COLUMNS if c in rows.numeric]
    first_col, first_code = _first_problems(rows.numeric, rows.raws, image_check)
    ok = (first_col < 0) & ~rows.field_bad
    sizes = _inconsistent_sizes(rows.ids, rows.numeric[HEIGHT], rows.numeric[WIDTH], rows.lines, ok)
    return _Problems(order, first_col, first_code, ok, sizes)


class _Problem(NamedTuple):
    """One bad row: the message ``strict=True`` raises, the entry ``strict=False`` records."""

    message: str
    entry: dict[str, Any]


def _entry(rows: _Rows, p: int, column: str, value: str, reason: str) -> dict[str, Any]:
    return {"line": int(rows.lines[p]), "column": column, "value": value, "reason": reason, "image": str(rows.image[p])}


def _field_problem(rows: _Rows, table: _Table, p: int, path: Path) -> _Problem:
    """Row ``p`` has too few or too many fields."""
    header, width = table.header, len(table.header)
    k = int(rows.n_fields[p])
    if rows.too_short[p]:
        col, value, reason = header[k], "", "too few fields"
        what = (f"it ends after column {header[k - 1]}; " if k else "") + "complete the row or delete the line"
    else:
        extra = [v.strip() for v in table.extra[int(rows.table_row[p])]]
        col, value, reason = f"(field {width + 1})", next(v for v in extra if v), "too many fields"
        what = f"{', '.join(repr(v) for v in extra if v)} beyond the last column {header[-1]}; a comma too many, or an unquoted comma in a cell?"
    msg = f"{path.name} line {rows.lines[p]}, column {col}: row has {k} fields, expected {width} ({what}) (file {path})"
    return _Problem(msg, _entry(rows, p, col, value, reason))


def _cell_problem(rows: _Rows, problems: _Problems, table: _Table, p: int, path: Path) -> _Problem:
    """Row ``p``'s first problem: its field count, else its first bad cell."""
    if rows.field_bad[p]:
        return _field_problem(rows, table, p, path)
    col = problems.order[problems.first_col[p]]
    value = str(rows.image[p] if col == IMAGE else rows.raws[col][p]).strip()
    reason = _REASONS[problems.first_code[p]]
    shown = value if value != "" else "''"
    msg = f"{path.name} line {rows.lines[p]}, column {col}: value {shown} is {reason} (file {path})"
    return _Problem(msg, _entry(rows, p, col, value, reason))


def _size_problem(rows: _Rows, problems: _Problems, p: int, path: Path) -> _Problem:
    """Row ``p``'s image size disagrees with the other rows of its image."""
    conflict = problems.sizes[p]
    col = conflict.column
    value = str(rows.raws[col][p]).strip()
    shown = f"{str(rows.raws[HEIGHT][p]).strip()}/{str(rows.raws[WIDTH][p]).strip()}" if conflict.both else value
    msg = _size_message(f"{path.name} line {rows.lines[p]}", str(rows.ids[p]), shown, conflict) + f" (file {path})"
    return _Problem(msg, _entry(rows, p, col, value, REASON_SIZE))


def _sort_out(rows: _Rows, problems: _Problems, table: _Table, strict: bool, path: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``(good, dropped)``: the rows to keep (bool, N) and one entry per bad row in line order.

    Raises:
        FixationError: ``strict`` and a row is bad: the first one in file order.
    """
    cell_bad = np.flatnonzero(~problems.ok)
    size_bad = problems.sizes
    if strict and (cell_bad.size or size_bad):
        first_cell = int(cell_bad[0]) if cell_bad.size else None
        first_size = min(size_bad) if size_bad else None
        if first_size is None or (first_cell is not None and first_cell < first_size):
            raise FixationError(_cell_problem(rows, problems, table, first_cell, path).message)
        raise FixationError(_size_problem(rows, problems, first_size, path).message)

    dropped = [_cell_problem(rows, problems, table, int(p), path).entry for p in cell_bad]
    dropped += [_size_problem(rows, problems, p, path).entry for p in sorted(size_bad)]
    dropped.sort(key=lambda d: d["line"])
    good = problems.ok.copy()
    if size_bad:
        good[list(size_bad)] = False
    return good, dropped


def _assemble_frame(rows: _Rows, good: np.ndarray) -> pd.DataFrame:
    """The frame of the ``good`` rows: the nine columns (missing optional ones filled), ``id``,
    ``line``; sorted by id, fixation index, line."""
    numeric = rows.numeric
    frame = pd.DataFrame({IMAGE: pd.Series(rows.image[good], dtype="str")})
    n = int(good.sum())
    gid = rows.ids[good]
    if INDEX in numeric:
        frame[INDEX] = numeric[INDEX][good].astype(np.int64)
    else:
        frame[INDEX] = pd.Series(np.zeros(n)).groupby(gid, sort=False).cumcount().to_numpy(np.int64) + 1
    frame[X] = numeric[X][good]
    frame[Y] = numeric[Y][good]
    frame[DURATION] = numeric[DURATION][good]
    frame[PUPIL] = numeric[PUPIL][good] if PUPIL in numeric else np.zeros(n)
    frame[START] = numeric[START][good] if START in numeric else np.zeros(n)
    frame["id"] = pd.Series(gid, dtype="str")
    frame["line"] = rows.lines[good]
    frame[HEIGHT] = numeric[HEIGHT][good]
    frame[WIDTH] = numeric[WIDTH][good]
    frame = frame.sort_values(["id", INDEX, "line"], kind="stable", ignore_index=True)
    if START not in numeric:  # made up in fixation order, hence after sorting
        frame[START] = _fill_start(frame["id"].to_numpy(dtype=object), frame[DURATION].to_numpy())
    return frame[list(FIXATION_COLUMNS) + ["id", "line"]]


def _keep_images(frame: pd.DataFrame, report: FixationReport, image_ids: Iterable[str] | None) -> pd.DataFrame:
    """The rows of ``image_ids`` (all without them); the ids on one side only go to ``report``."""
    if image_ids is None:
        return frame
    wanted = {str(i) for i in image_ids}
    have = set(frame["id"].unique())
    report.ids_without_image = sorted(have - wanted)
    report.images_without_fixations = sorted(wanted - have)
    if report.ids_without_image:
        frame = frame[frame["id"].isin(wanted)].reset_index(drop=True)
    return frame


# ----------------------------------------------------------------------------------------------
# Access
# ----------------------------------------------------------------------------------------------
def _source(frame: pd.DataFrame) -> str:
    return str(frame.attrs.get("path") or "the fixation table")


def _rows_of(frame: pd.DataFrame, image_id: str) -> pd.DataFrame:
    if "id" in frame.columns:
        mask = frame["id"].to_numpy(dtype=object) == image_id
    else:
        mask = _strip_extension(frame[IMAGE].astype(str)).to_numpy(dtype=object) == image_id
    rows = frame[mask]
    if rows.empty:
        raise KeyError(f"no fixations for image {image_id!r} in {_source(frame)}: the gaze stage needs at least one")
    return rows


def points_for(frame: pd.DataFrame, image_id: str) -> np.ndarray:
    """The fixations of one image in fixation order.

    Args:
        frame: a frame from :func:`read_fixations` or :func:`fixations_to_frame`.
        image_id: the id (file name without extension).

    Returns:
        float64 array N x 3: columns x, y (normalised to [0, 1], top-left origin) and duration
        in ms, ordered by ``CURRENT_FIX_INDEX`` (file order for ties).

    Raises:
        KeyError: the image has no fixations in ``frame``.
    """
    rows = _rows_of(frame, image_id)
    if INDEX in rows.columns:
        rows = rows.sort_values(INDEX, kind="stable")
    return np.ascontiguousarray(rows[[X, Y, DURATION]].to_numpy(dtype=np.float64))


def image_size_for(frame: pd.DataFrame, image_id: str) -> tuple[int, int]:
    """``(height, width)`` in pixels of one image, as ints (from its first row).

    Raises:
        KeyError: the image has no fixations in ``frame``.
    """
    rows = _rows_of(frame, image_id)
    return int(round(float(rows[HEIGHT].iloc[0]))), int(round(float(rows[WIDTH].iloc[0])))


# ----------------------------------------------------------------------------------------------
# Making and writing
# ----------------------------------------------------------------------------------------------
def _check_frame(frame: pd.DataFrame, what: str) -> None:
    """Apply the reading rules to an in-memory frame; raise ValueError naming image and row."""
    image_raw = frame[IMAGE].astype(str).to_numpy(dtype=object)
    ids = _strip_extension(pd.Series(image_raw, dtype=object)).to_numpy(dtype=object)
    numeric = {
        c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
        for c in _NUMERIC_COLUMNS
        if c in frame.columns
    }
    order = [IMAGE] + [c for c in _NUMERIC_COLUMNS if c in numeric]
    first_col, first_code = _first_problems(numeric, None, np.where(ids == "", "", image_raw))
    bad = np.flatnonzero(first_col >= 0)
    if bad.size:
        p = int(bad[0])
        col = order[first_col[p]]
        value = repr(image_raw[p]) if col == IMAGE else f"{numeric[col][p]:g}"
        fix = f"fixation {int(numeric[INDEX][p])}, " if INDEX in numeric and np.isfinite(numeric[INDEX][p]) else ""
        raise FixationError(
            f"{what}: image {image_raw[p]!r}, {fix}row {p + 1} of the table, column {col}: "
            f"value {value} is {_REASONS[first_code[p]]}"
        )
    rows = np.arange(len(frame))
    size_bad = _inconsistent_sizes(ids, numeric[HEIGHT], numeric[WIDTH], rows + 1, np.ones(len(frame), bool))
    if size_bad:
        p = min(size_bad)
        conflict = size_bad[p]
        shown = f"{numeric[HEIGHT][p]:g}/{numeric[WIDTH][p]:g}" if conflict.both else f"{numeric[conflict.column][p]:g}"
        msg = _size_message(f"{what}: image {image_raw[p]!r}, row {p + 1}", str(ids[p]), shown, conflict)
        raise FixationError(msg.replace(" on line", " on row"))


def fixations_to_frame(records: Mapping[str, tuple[np.ndarray, tuple[int, int]]]) -> pd.DataFrame:
    """Build a fixation table from points per image (e.g. simulated gaze).

    Args:
        records: ``{IMAGE file name with extension: (points, (height, width))}``; ``points`` is
            N x 3 (x, y normalised to [0, 1]; duration ms > 0), N >= 1, in fixation order.

    Returns:
        A frame in the nine :data:`FIXATION_COLUMNS` plus ``id``, sorted by id:
        ``CURRENT_FIX_INDEX`` 1..N, ``CURRENT_FIX_PUPIL`` 0, ``CURRENT_FIX_START`` 0, then
        previous start + previous duration + :data:`SACCADE_MS`, ``IMAGE_HEIGHT``/``WIDTH`` as
        floats. Ready for :func:`write_fixations`, :func:`points_for` and
        :func:`fixation_statistics`.

    Raises:
        ValueError (:class:`FixationError`): a record breaks the format; the message names the
        image.
    """
    parts = []
    for image, (points, size) in records.items():
        image = str(image)
        if not image.strip() or not _strip_extension(pd.Series([image])).iloc[0]:
            raise FixationError(f"fixations_to_frame: image name {image!r} is empty")
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise FixationError(f"fixations_to_frame: image {image!r}: points must be N x 3 (x, y, duration), got shape {pts.shape}")
        if pts.shape[0] == 0:
            raise FixationError(f"fixations_to_frame: image {image!r} has no fixations; a fixation table cannot hold an image without one")
        try:
            h, w = (float(v) for v in size)
        except (TypeError, ValueError):
            raise FixationError(f"fixations_to_frame: image {image!r}: size must be (height, width), got {size!r}") from None
        n = pts.shape[0]
        start = np.concatenate([[0.0], np.cumsum(pts[:-1, 2] + SACCADE_MS)])
        parts.append(
            pd.DataFrame(
                {
                    IMAGE: [image] * n,
                    INDEX: np.arange(1, n + 1, dtype=np.int64),
                    X: pts[:, 0],
                    Y: pts[:, 1],
                    DURATION: pts[:, 2],
                    PUPIL: np.zeros(n),
                    START: start,
                    HEIGHT: np.full(n, h),
                    WIDTH: np.full(n, w),
                }
            )
        )
    if parts:
        frame = pd.concat(parts, ignore_index=True)
    else:
        frame = pd.DataFrame({c: pd.Series(dtype=np.int64 if c == INDEX else np.float64) for c in FIXATION_COLUMNS})
        frame[IMAGE] = pd.Series(dtype="str")
    frame[IMAGE] = frame[IMAGE].astype("str")
    _check_frame(frame, "fixations_to_frame")
    frame["id"] = _strip_extension(frame[IMAGE]).astype("str")
    return frame.sort_values(["id", INDEX], kind="stable", ignore_index=True)


def _as_written(values: pd.Series) -> pd.Series:
    """Whole-valued float columns as Int64 (``455`` rather than ``455.0``), else unchanged."""
    v = values.to_numpy(dtype=np.float64)
    if v.size and np.all(v == np.round(v)) and np.all(np.abs(v) < 2**53):
        return pd.Series(v.astype(np.int64), index=values.index)
    return values.astype(np.float64)


def write_fixations(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as a GazeMedSeg CSV (the nine columns only), atomically.

    Missing optional columns are filled as on read. Values are checked with the reading rules
    first, so :func:`read_fixations` reads the file back with the same values (floats are
    written at full precision; durations, pupil and start as integers when all are whole;
    heights and widths as ``529.0``). Rows are written in the frame's order.

    Returns:
        the path written.

    Raises:
        ValueError (:class:`FixationError`): a required column is missing or a value is bad.
    """
    path = Path(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise FixationError(
            f"write_fixations({path}): frame lacks required column(s) {', '.join(missing)}; "
            f"it has {', '.join(map(str, frame.columns))}"
        )
    out = frame.reset_index(drop=True).copy()
    out[IMAGE] = out[IMAGE].astype(str)
    ids = _strip_extension(out[IMAGE]).to_numpy(dtype=object)
    if INDEX not in out.columns:
        out[INDEX] = pd.Series(np.zeros(len(out))).groupby(ids, sort=False).cumcount().to_numpy(np.int64) + 1
    if PUPIL not in out.columns:
        out[PUPIL] = 0.0
    if START not in out.columns:
        out[START] = _fill_start(ids, out[DURATION].to_numpy(dtype=np.float64))
    _check_frame(out, f"write_fixations({path})")
    table = pd.DataFrame(
        {
            IMAGE: out[IMAGE],
            INDEX: out[INDEX].to_numpy(dtype=np.float64).astype(np.int64),
            X: out[X].astype(np.float64),
            Y: out[Y].astype(np.float64),
            DURATION: _as_written(out[DURATION]),
            PUPIL: _as_written(out[PUPIL]),
            START: _as_written(out[START]),
            HEIGHT: out[HEIGHT].astype(np.float64),
            WIDTH: out[WIDTH].astype(np.float64),
        }
    )
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, lineterminator="\n")
    return path


# ----------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------
def fixation_statistics(frame: pd.DataFrame, masks: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Per-image summary of the fixations, optionally against lesion masks.

    Args:
        frame: a fixation frame (with ``id``, or ``IMAGE`` from which it is derived).
        masks: optional ``{id: H x W mask}`` (bool, or anything where nonzero = lesion). Its own
            H x W is used to place fixations: pixel row ``min(floor(y*H), H-1)``, column
            ``min(floor(x*W), W-1)``. Masks of ids absent from ``frame`` are ignored.

    Returns:
        A frame indexed by id (sorted) with ``n_fixations``, ``total_duration_ms``,
        ``median_duration_ms``, and ``fraction_inside`` (share of fixations on the mask),
        ``fraction_inside_weighted`` (share of fixation time on the mask) and ``mask_fraction``
        (mask area / image area); the last three are NaN for ids without a mask.
    """
    ids = frame["id"] if "id" in frame.columns else _strip_extension(frame[IMAGE].astype(str))
    dur = frame[DURATION].astype(np.float64)
    g = dur.groupby(ids.to_numpy(dtype=object), sort=True)
    stats = pd.DataFrame(
        {
            "n_fixations": g.size().astype(np.int64),
            "total_duration_ms": g.sum(),
            "median_duration_ms": g.median(),
        }
    )
    stats.index.name = "id"
    for col in ("fraction_inside", "fraction_inside_weighted", "mask_fraction"):
        stats[col] = np.nan
    if masks:
        groups = g.indices  # id -> row positions
        xs = frame[X].to_numpy(dtype=np.float64)
        ys = frame[Y].to_numpy(dtype=np.float64)
        d = dur.to_numpy()
        for image_id, mask in masks.items():
            if image_id not in groups:
                continue
            m = np.asarray(mask)
            if m.ndim != 2 or m.size == 0:
                raise ValueError(f"fixation_statistics: mask of image {image_id!r} must be H x W, got shape {m.shape}")
            m = m.astype(bool)
            H, W = m.shape
            pos = groups[image_id]
            r, c = pixel_indices(xs[pos], ys[pos], H, W)
            inside = m[r, c]
            stats.loc[image_id, "fraction_inside"] = float(inside.mean())
            stats.loc[image_id, "fraction_inside_weighted"] = float(d[pos][inside].sum() / d[pos].sum())
            stats.loc[image_id, "mask_fraction"] = float(m.mean())
    return stats
