"""The explanation schema of stage 2: six fields, a small vocabulary per modality, the prompt,
the parser that turns a model's free text into fields, and the text the text encoder sees.

A vision-language model (VLM) is shown one image and asked for one JSON object with six fields
that describe the abnormal region the clinicians looked at (docs/method.md §2.1):

==================  ===============================================================================
field               meaning and values
==================  ===============================================================================
Location            where the region's centre lies on a 3 x 3 grid of the image: ``upper-left``,
                    ``upper-center``, ``upper-right``, ``center-left``, ``center``,
                    ``center-right``, ``lower-left``, ``lower-center``, ``lower-right``
                    (:func:`location_cell`; the same for every modality).
Boundary            how sharply the region is delimited: ``well-defined``, ``ill-defined``,
                    ``irregular``.
Characteristics     what the region looks like: a short phrase from a modality-specific list
                    (e.g. endoscopy ``sessile polyp``, MRI ``hypointense region``, dermoscopy
                    ``variegated pigmentation``; see :data:`VOCABULARY`).
Area Percentage     share of the image the region covers, in bins ``<5%``, ``5-15%``,
                    ``15-30%``, ``30-50%``, ``>50%`` (:func:`area_bin`).
Confidence          how sure the model is: ``low``, ``medium``, ``high``.
Remarks             free text, at most :data:`REMARKS_MAX_WORDS` (30) words.
==================  ===============================================================================

The vocabulary and the prompt wording are this project's own: the paper names the six fields
and gives examples of their values, not a full list. The prompt is versioned
(:data:`PROMPT_VERSION`) and every stored explanation records the version it was made with.

:func:`parse` answers one of three statuses (``fgi_core.explain.records.STATUSES``):

* ``ok``: the text is exactly one clean JSON object (surrounding whitespace allowed) with the
  six exact keys and values taken verbatim from the vocabulary; the reason is ``""``.
* ``repaired``: usable after repairs; the reason names each one, separated by ``"; "``
  (code fences, prose around the object, several objects, single quotes, trailing commas, key
  spelling, extra keys, values snapped to the vocabulary, Remarks truncated).
* ``invalid``: nothing usable; the fields are None and the reason says why. An invalid answer is
  never silently replaced by a default.

Example:
    >>> from fgi_core.explain.schema import parse, render_text
    >>> text = '''Sure! ```json
    ... {"location": "top left", "Boundary": "Well defined", "Characteristics": "sessile polyp",
    ...  "Area Percentage": "23%", "Confidence": "high", "Remarks": "Round polyp."}
    ... ```'''
    >>> fields, status, reason = parse(text, "endoscopy")
    >>> status
    'repaired'
    >>> fields["Location"], fields["Boundary"], fields["Area Percentage"]
    ('upper-left', 'well-defined', '15-30%')
    >>> reason.split("; ")[:3]
    ['code fence removed', 'leading text removed', "key case 'location' -> 'Location'"]
    >>> render_text(fields)
    'Location: upper-left. Boundary: well-defined. Characteristics: sessile polyp. Area Percentage: 15-30%. Confidence: high. Remarks: Round polyp.'
"""
from __future__ import annotations

import ast
import bisect
import difflib
import json
import math
import re
from typing import Any

from fgi_core.registry import look_up_option

__all__ = [
    "FIELDS",
    "MODALITIES",
    "VOCABULARY",
    "REMARKS_MAX_WORDS",
    "GRID_ROWS",
    "GRID_COLS",
    "AREA_BINS",
    "AREA_BIN_EDGES",
    "PROMPT_VERSION",
    "area_bin",
    "location_cell",
    "build_prompt",
    "snap_value",
    "parse",
    "render_text",
    "field_char_spans",
]

FIELDS = ("Location", "Boundary", "Characteristics", "Area Percentage", "Confidence", "Remarks")
MODALITIES = ("endoscopy", "mri", "dermoscopy")
REMARKS_MAX_WORDS = 30

# ----------------------------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------------------------
GRID_ROWS = ("upper", "center", "lower")  # top third, middle third, bottom third of the image
GRID_COLS = ("left", "center", "right")  # left third, middle third, right third


def _cell_name(row: str, col: str) -> str:
    if row == col == "center":
        return "center"
    return f"{row}-{col}"


_LOCATIONS = tuple(_cell_name(r, c) for r in GRID_ROWS for c in GRID_COLS)

AREA_BINS = ("<5%", "5-15%", "15-30%", "30-50%", ">50%")
# Lower edges (as fractions of the image) of every bin but the first; a bin holds [edge, next).
AREA_BIN_EDGES = (0.05, 0.15, 0.30, 0.50)

_CHARACTERISTICS = {
    "endoscopy": (
        "sessile polyp",
        "pedunculated polyp",
        "flat lesion",
        "reddish mucosal protrusion",
        "pale mucosal protrusion",
        "lobulated mass",
    ),
    "mri": ("hypointense region", "hyperintense region", "heterogeneous signal", "homogeneous signal gland"),
    "dermoscopy": (
        "uniformly pigmented lesion",
        "variegated pigmentation",
        "dark brown lesion",
        "light brown lesion",
        "pink lesion",
    ),
}

VOCABULARY: dict[str, dict[str, tuple[str, ...]]] = {
    m: {
        "Location": _LOCATIONS,
        "Boundary": ("well-defined", "ill-defined", "irregular"),
        "Characteristics": _CHARACTERISTICS[m],
        "Area Percentage": AREA_BINS,
        "Confidence": ("low", "medium", "high"),
    }
    for m in MODALITIES
}
"""Allowed values per modality and field; ``Remarks`` is free text and has no entry."""


# ----------------------------------------------------------------------------------------------
# Geometry -> vocabulary
# ----------------------------------------------------------------------------------------------
def area_bin(fraction: float) -> str:
    """The Area Percentage bin of a region covering ``fraction`` of the image.

    Bins are half-open on the right: ``[0, 0.05) -> "<5%"``, ``[0.05, 0.15) -> "5-15%"``,
    ``[0.15, 0.30) -> "15-30%"``, ``[0.30, 0.50) -> "30-50%"``, ``[0.50, 1] -> ">50%"`` (so a
    region of exactly half the image counts as ``">50%"``).

    Args:
        fraction: covered area divided by image area, in [0, 1].

    Raises:
        ValueError: for a fraction outside [0, 1] or NaN.

    Example:
        >>> area_bin(0.05), area_bin(0.2999), area_bin(0.5)
        ('5-15%', '15-30%', '>50%')
    """
    f = float(fraction)
    if not 0.0 <= f <= 1.0:  # also rejects NaN
        raise ValueError(f"area fraction must be in [0, 1], got {fraction!r}")
    return AREA_BINS[bisect.bisect_right(AREA_BIN_EDGES, f)]


def _third(v: float) -> int:
    return 0 if v < 1 / 3 else 1 if v < 2 / 3 else 2


def location_cell(cx: float, cy: float) -> str:
    """The Location cell of a normalised centroid ``(cx, cy)``.

    ``cx`` runs left to right and ``cy`` top to bottom (image convention, as the fixations),
    both in [0, 1]. Each axis is cut in thirds: ``v < 1/3`` is the first third (left / upper),
    ``1/3 <= v < 2/3`` the middle (center), ``v >= 2/3`` the last (right / lower); the middle
    cell of both axes is plain ``"center"``.

    Raises:
        ValueError: for a coordinate outside [0, 1] or NaN.

    Example:
        >>> location_cell(0.1, 0.1), location_cell(0.5, 0.5), location_cell(2 / 3, 0.2)
        ('upper-left', 'center', 'upper-right')
    """
    x, y = float(cx), float(cy)
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f"centroid must be normalised to [0, 1], got cx={cx!r}, cy={cy!r}")
    return _cell_name(GRID_ROWS[_third(y)], GRID_COLS[_third(x)])


# ----------------------------------------------------------------------------------------------
# Prompt
# ----------------------------------------------------------------------------------------------
# Change PROMPT_VERSION whenever the wording of build_prompt (or the vocabulary it lists)
# changes: stored explanations record it, and cached text embeddings are keyed by it.
PROMPT_VERSION = "fgi-explain-v1"

_MODALITY_WORDS = {
    "endoscopy": "an endoscopy (colonoscopy) image",
    "mri": "an MRI slice",
    "dermoscopy": "a dermoscopy image of the skin",
}

_FIELD_HINTS = {
    "Location": "where the centre of the region lies in a 3x3 grid over the image",
    "Boundary": "how clearly the region is delimited",
    "Characteristics": "what the region looks like",
    "Area Percentage": "how much of the image the region covers",
    "Confidence": "how sure you are of this description",
}


def build_prompt(modality: str) -> str:
    """The fixed, constrained prompt for one modality (version :data:`PROMPT_VERSION`).

    It tells the model that clinicians looked at the abnormal region of this image, lists the
    six keys with every allowed value, limits Remarks to 30 words and asks for exactly one JSON
    object and nothing else. The string depends only on ``modality`` (deterministic).

    Raises:
        ValueError: for an unknown modality (names the allowed ones, "did you mean").
    """
    modality = look_up_option(modality, MODALITIES, "modality")
    vocab = VOCABULARY[modality]
    lines = [
        f"You are given {_MODALITY_WORDS[modality]}. Clinicians looked at the abnormal region in "
        "this image. Describe that region.",
        "Answer with exactly ONE JSON object with these six keys, choosing each value from the "
        "options listed:",
    ]
    for name in FIELDS[:-1]:
        options = ", ".join(f'"{v}"' for v in vocab[name])
        lines.append(f'- "{name}" ({_FIELD_HINTS[name]}): one of {options}')
    lines.append(f'- "Remarks": free text about the region, at most {REMARKS_MAX_WORDS} words')
    lines.append(
        "Use the keys and values exactly as written. Output only the JSON object: no markdown, "
        "no code fence, no other text."
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Snapping values to the vocabulary
# ----------------------------------------------------------------------------------------------
_EDGE_PUNCT = " \t\r\n.,;:!?\"'`"


def _norm(s: str) -> str:
    """Lower case, outer punctuation off, runs of space / hyphen / underscore -> one space."""
    s = s.strip(_EDGE_PUNCT).lower()
    return " ".join(w for w in re.split(r"[\s_\-]+", s) if w)


def _location_synonyms() -> dict[str, str]:
    row_words = {"upper": ("upper", "top", "superior"), "lower": ("lower", "bottom", "inferior")}
    col_words = {"left": ("left",), "right": ("right",)}
    middle = ("center", "centre", "middle", "central", "mid")
    row_words["center"] = col_words["center"] = middle
    out: dict[str, str] = {}
    for row in GRID_ROWS:
        for col in GRID_COLS:
            cell = _cell_name(row, col)
            for rw in row_words[row]:
                for cw in col_words[col]:
                    for phrase in (f"{rw} {cw}", f"{cw} {rw}"):
                        assert out.setdefault(phrase, cell) == cell, phrase
            # One word names the cell in the middle of the other axis ("left", "top", "middle").
            words = row_words[row] if col == "center" else col_words[col] if row == "center" else ()
            for w in words:
                assert out.setdefault(w, cell) == cell, w
    return out


# Words a model adds around a location ("the upper left corner of the image").
_LOCATION_FILLER = frozenset(
    "the of in at on image region quadrant corner part portion side area field frame view".split()
)

_SHARED_SYNONYMS: dict[str, dict[str, str]] = {
    "Location": _location_synonyms(),
    "Boundary": {
        **dict.fromkeys(
            ("clear", "sharp", "distinct", "defined", "well circumscribed", "circumscribed",
             "well demarcated", "demarcated", "smooth", "regular", "clear cut"),
            "well-defined",
        ),
        **dict.fromkeys(
            ("blurry", "blurred", "unclear", "indistinct", "poorly defined", "fuzzy", "vague",
             "diffuse", "poorly demarcated", "ill demarcated"),
            "ill-defined",
        ),
        **dict.fromkeys(("jagged", "uneven", "spiculated", "notched", "irregular margins"), "irregular"),
    },
    "Confidence": {
        **dict.fromkeys(("uncertain", "unsure", "very low", "low confidence"), "low"),
        **dict.fromkeys(("moderate", "intermediate", "mid", "fair", "medium confidence"), "medium"),
        **dict.fromkeys(("very high", "certain", "confident", "strong", "high confidence"), "high"),
    },
}

_CHARACTERISTICS_SYNONYMS: dict[str, dict[str, str]] = {
    "endoscopy": {
        "sessile": "sessile polyp",
        "pedunculated": "pedunculated polyp",
        "flat": "flat lesion",
        "flat polyp": "flat lesion",
        "reddish protrusion": "reddish mucosal protrusion",
        "red mucosal protrusion": "reddish mucosal protrusion",
        "pale protrusion": "pale mucosal protrusion",
        "lobulated": "lobulated mass",
        "lobulated polyp": "lobulated mass",
    },
    "mri": {
        "hypointense": "hypointense region",
        "low signal": "hypointense region",
        "low signal region": "hypointense region",
        "hyperintense": "hyperintense region",
        "high signal": "hyperintense region",
        "high signal region": "hyperintense region",
        "heterogeneous": "heterogeneous signal",
        "heterogeneous signal intensity": "heterogeneous signal",
        "homogeneous": "homogeneous signal gland",
        "homogeneous signal": "homogeneous signal gland",
        "homogeneous gland": "homogeneous signal gland",
    },
    "dermoscopy": {
        "uniform pigmentation": "uniformly pigmented lesion",
        "uniformly pigmented": "uniformly pigmented lesion",
        "variegated": "variegated pigmentation",
        "multicolored": "variegated pigmentation",
        "multicoloured": "variegated pigmentation",
        "dark brown": "dark brown lesion",
        "light brown": "light brown lesion",
        "tan lesion": "light brown lesion",
        "pink": "pink lesion",
        "pinkish lesion": "pink lesion",
    },
}


def _candidates(field: str, modality: str) -> dict[str, str]:
    """Normalised spelling -> vocabulary value, for the options and their synonyms."""
    table = {_norm(v): v for v in VOCABULARY[modality][field]}
    synonyms = _CHARACTERISTICS_SYNONYMS[modality] if field == "Characteristics" else _SHARED_SYNONYMS.get(field, {})
    for k, v in synonyms.items():
        table.setdefault(_norm(k), v)
    return table


class _SnapError(ValueError):
    pass


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fraction_to_bin(f: float, shown: Any) -> str:
    if math.isnan(f) or not 0.0 <= f <= 1.0:
        raise _SnapError(f"Area Percentage: value {shown!r} is outside 0-100%")
    return area_bin(f)


def _area_from_number(v: float) -> str:
    # A bare number in [0, 1] is a fraction of the image, above 1 a percentage ("0.2", "20").
    return _fraction_to_bin(v if 0.0 <= v <= 1.0 else v / 100.0, v)


_AREA_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_AREA_RE = re.compile(rf"(<=?|>=?)?{_AREA_NUMBER}(%)?(?:-{_AREA_NUMBER}(%)?)?")


def _area_from_text(value: str) -> str | None:
    """Bin of an area written as text, or None when it does not look like an area at all.

    Accepts a bin in any spacing (``"5 - 15 %"``), a number or percentage with an approximation
    mark (``"~20%"``, ``"about 0.2"``), a range (its midpoint: ``"10-20%"`` -> 15 %) and an
    inequality that falls inside one bin (``"less than 3%"``, ``">60%"``).
    """
    t = value.strip().lower().replace("\u2013", "-").replace("\u2014", "-").replace("percent", "%")
    t = re.sub(r"\s+to\s+", "-", t)
    t = re.sub(r"\b(?:less than|under|below)\s*", "<", t)
    t = re.sub(r"\b(?:more than|greater than|over|above)\s*", ">", t)
    t = re.sub(r"^(?:~|\u2248|about|approximately|approx\.?|around|roughly|circa|ca\.)\s*", "", t)
    t = re.sub(r"\s+", "", t).rstrip(".")
    for b in AREA_BINS:
        if t in (b, b.rstrip("%")):
            return b
    m = _AREA_RE.fullmatch(t)
    if m is None:
        return None
    op, a, pa, b, pb = m.groups()
    nums = [float(a)] if b is None else [float(a), float(b)]
    percent = bool(pa or pb) or any(n > 1.0 for n in nums)
    lo, hi = (n / 100.0 if percent else n for n in (nums[0], nums[-1]))
    if b is not None:
        if op or lo > hi:
            raise _SnapError(f"Area Percentage: value {value!r} is not a valid range")
        return _fraction_to_bin((lo + hi) / 2.0, value)
    if op is None:
        return _fraction_to_bin(lo, value)
    interval = (0.0, lo) if op.startswith("<") else (lo, 1.0)
    _fraction_to_bin(lo, value)  # range check
    first, last = area_bin(interval[0]), area_bin(max(interval[0], interval[1] - 1e-9))
    if first != last:
        raise _SnapError(f"Area Percentage: value {value!r} spans several bins ({first} to {last})")
    return first


def snap_value(field: str, value: Any, modality: str) -> tuple[str, str | None]:
    """Snap one field's value to the vocabulary of ``modality``.

    Order: the exact value; a match ignoring case, outer punctuation and the difference between
    space, hyphen and underscore; a synonym ("top left" -> ``upper-left``, "clear" ->
    ``well-defined``); for Area Percentage a number or percentage through :func:`area_bin`;
    otherwise the closest option by :func:`difflib.get_close_matches` at cutoff 0.8 (not for
    Area Percentage, where "5-16%" must not become "5-15%" by spelling). A bare area number in
    [0, 1] is a fraction of the image (so ``"1"`` is the whole image), above 1 a percentage;
    a range maps through its midpoint.
    Remarks: any value, ``str()`` of non-strings (None -> ""), cut to 30 words.

    Returns:
        ``(value, note)``: the vocabulary value and a note for the repair (None if unchanged).

    Raises:
        ValueError: when the value cannot be snapped; the message names the field and value.
    """
    field = look_up_option(field, FIELDS, "field")
    modality = look_up_option(modality, MODALITIES, "modality")
    if field == "Remarks":
        return _snap_remarks(value)
    options = VOCABULARY[modality][field]
    if isinstance(value, str) and value in options:
        return value, None
    if field == "Area Percentage" and _is_number(value):
        return _changed(value, _area_from_number(float(value)))
    if not isinstance(value, str):
        if not _is_number(value):
            raise _SnapError(f"{field}: value {value!r} is not a string")
        value = str(value)
    table = _candidates(field, modality)
    key = _norm(value)
    if key in table:
        return _changed(value, table[key])
    if field == "Location":
        stripped = " ".join(w for w in key.split() if w not in _LOCATION_FILLER)
        if stripped in table:
            return _changed(value, table[stripped])
    if field == "Area Percentage":
        snapped = _area_from_text(value)
        if snapped is not None:
            return _changed(value, snapped)
    else:
        close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.8)
        if close:
            return table[close[0]], f"value {value!r} -> {table[close[0]]!r} (close match)"
    raise _SnapError(f"{field}: value {value!r} is not one of {', '.join(options)}")


def _changed(original: Any, snapped: str) -> tuple[str, str]:
    return snapped, f"value {original!r} -> {snapped!r}"


def _snap_remarks(value: Any) -> tuple[str, str | None]:
    note = None
    if not isinstance(value, str):
        text = "" if value is None else str(value)
        note = f"Remarks {value!r} -> {text!r}"
        value = text
    words = value.split()
    if len(words) > REMARKS_MAX_WORDS:
        value = " ".join(words[:REMARKS_MAX_WORDS])
        note = f"Remarks truncated to {REMARKS_MAX_WORDS} words"
    return value, note


# ----------------------------------------------------------------------------------------------
# Finding and reading the JSON object
# ----------------------------------------------------------------------------------------------
_FENCE_RE = re.compile(r"```[ \t]*[A-Za-z0-9_+\-]*[ \t]*\r?\n?(.*?)```", re.S)
_TRAILING_COMMA_RE = re.compile(r",\s*([}\]])")
_CURLY_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'"})


def _object_end(s: str, start: int, quotes: str) -> int | None:
    """Index after the ``}`` closing the ``{`` at ``start``; braces inside ``quotes`` strings skip."""
    depth, quote, escaped = 0, None, False
    for i in range(start, len(s)):
        ch = s[i]
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in quotes:
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _first_object(s: str) -> tuple[int, int] | None | str:
    """Span of the first complete ``{...}`` in ``s``; None if no ``{``; a message if never closed."""
    start = s.find("{")
    if start < 0:
        return None
    # String-aware first (a "}" inside a value is not the end); plain counting if quotes are odd.
    end = _object_end(s, start, "\"'")
    if end is None:
        end = _object_end(s, start, "")
    if end is None:
        return f"no JSON object found: '{{' at character {start} is never closed"
    return start, end


def _extract(text: str) -> tuple[str, list[str]]:
    """The first JSON-object candidate in ``text`` and the repairs that took it out."""
    repairs: list[str] = []
    before_fence = after_fence = ""
    body = text
    fences = list(_FENCE_RE.finditer(text))
    fenced = next((m for m in fences if "{" in m.group(1)), None)
    if fenced is not None:
        repairs.append("code fence removed")
        before_fence, body, after_fence = text[: fenced.start()], fenced.group(1), text[fenced.end():]
    elif "```" in text:  # an unclosed fence, or one around something else
        repairs.append("code fence removed")
        body = re.sub(r"```[ \t]*[A-Za-z0-9_+\-]*", "", text)
    found = _first_object(body)
    if found is None:
        raise _SnapError("no JSON object found (no '{' in the text)")
    if isinstance(found, str):
        raise _SnapError(found)
    start, end = found
    rest = body[end:]
    if (before_fence + body[:start]).strip():
        repairs.append("leading text removed")
    later = _first_object(rest + after_fence)
    if isinstance(later, tuple):
        repairs.append("several JSON objects; first taken")
    elif (rest + after_fence).strip():
        repairs.append("trailing text removed")
    return body[start:end], repairs


class _Pairs(dict):
    """A JSON object that remembers its key-value pairs in order, duplicates included."""

    def __init__(self, pairs: list[tuple[Any, Any]]):
        super().__init__(pairs)
        self.pairs = list(pairs)


def _python_pairs(s: str) -> list[tuple[Any, Any]]:
    node = ast.parse(s.strip(), mode="eval").body
    if not isinstance(node, ast.Dict) or any(k is None for k in node.keys):
        raise ValueError("not a dictionary literal")
    return [(ast.literal_eval(k), ast.literal_eval(v)) for k, v in zip(node.keys, node.values)]


def _json_pairs(s: str) -> list[tuple[Any, Any]]:
    try:
        return json.loads(s, object_pairs_hook=_Pairs).pairs
    except RecursionError:  # absurd nesting from a broken model; not a crash
        raise ValueError("nested too deeply") from None


def _load(candidate: str) -> tuple[list[tuple[Any, Any]], list[str]]:
    """Key-value pairs of the object: JSON, else after straightening curly quotes and removing
    trailing commas, else read as a Python literal (single quotes); with the repairs used."""
    try:
        return _json_pairs(candidate), []
    except ValueError as e:
        first_error = e
    notes: list[str] = []
    s = candidate.translate(_CURLY_QUOTES)
    if s != candidate:
        notes.append("curly quotes straightened")
    without_commas = _TRAILING_COMMA_RE.sub(r"\1", s)
    attempts = [(s, [])] if s != candidate else []
    if without_commas != s:
        attempts.append((without_commas, ["trailing comma removed"]))
    for attempt, extra in attempts:
        try:
            return _json_pairs(attempt), notes + extra
        except ValueError:
            pass
    try:
        pairs = _python_pairs(s)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise _SnapError(f"unparseable JSON after repairs: {first_error}") from None
    return pairs, notes + ["single quotes (read as a Python literal)"]


# ----------------------------------------------------------------------------------------------
# Keys
# ----------------------------------------------------------------------------------------------
def _key_norm(key: str) -> str:
    return re.sub(r"[^a-z0-9%]", "", key.lower())


_KEYS = {_key_norm(f): f for f in FIELDS}
_KEYS.update({"characteristic": "Characteristics", "remark": "Remarks", "area": "Area Percentage",
              "areapercent": "Area Percentage", "area%": "Area Percentage"})


def _map_keys(pairs: list[tuple[Any, Any]]) -> tuple[dict[str, Any], list[str]]:
    found: dict[str, Any] = {}
    repairs: list[str] = []
    for key, value in pairs:
        name = _KEYS.get(_key_norm(key)) if isinstance(key, str) else None
        if name is None:
            repairs.append(f"extra key {key!r} dropped")
        elif name in found:
            repairs.append(f"duplicate key {key!r} dropped")
        else:
            found[name] = value
            if key != name:
                kind = "key case" if key.lower() == name.lower() else "key"
                repairs.append(f"{kind} {key!r} -> {name!r}")
    return found, repairs


# ----------------------------------------------------------------------------------------------
# Parse
# ----------------------------------------------------------------------------------------------
def parse(text: str | None, modality: str) -> tuple[dict[str, str] | None, str, str]:
    """Read one explanation from a model's free text and check it against the vocabulary.

    Steps: take the first complete ``{...}`` (out of a code fence if there is one, dropping the
    prose around it and any later objects); read it as JSON, else after straightening curly
    quotes and removing trailing commas, else as a Python literal (single quotes); map keys
    whatever their case, spacing or underscores (``"area_percentage"`` -> ``Area Percentage``),
    dropping unknown keys; snap every value with :func:`snap_value`.

    Args:
        text: the model's answer, exactly as produced (None counts as empty).
        modality: ``endoscopy``, ``mri`` or ``dermoscopy``; chooses the Characteristics list.

    Returns:
        ``(fields, status, reason)``: ``fields`` maps each of :data:`FIELDS` (in that order) to
        its vocabulary value, or is None when ``status == "invalid"``; ``status`` is ``ok``,
        ``repaired`` or ``invalid``; ``reason`` is ``""`` for ok, else the repairs or the
        problems, separated by ``"; "``. Never raises for any text.

    Raises:
        ValueError: for an unknown modality (names the allowed ones, "did you mean").
    """
    modality = look_up_option(modality, MODALITIES, "modality")
    if text is None or not str(text).strip():
        return None, "invalid", "empty text"
    text = str(text)
    try:
        candidate, repairs = _extract(text)
        pairs, load_repairs = _load(candidate)
    except _SnapError as e:
        return None, "invalid", str(e)
    repairs += load_repairs
    found, key_repairs = _map_keys(pairs)
    repairs += key_repairs
    problems: list[str] = []
    missing = [f for f in FIELDS if f not in found]
    if missing:
        problems.append(f"missing field(s): {', '.join(missing)}")
    fields: dict[str, str] = {}
    for name in FIELDS:
        if name not in found:
            continue
        try:
            fields[name], note = snap_value(name, found[name], modality)
        except _SnapError as e:
            problems.append(str(e))
            continue
        if note:
            repairs.append(note)
    if problems:
        return None, "invalid", "; ".join(problems)
    return fields, ("repaired" if repairs else "ok"), "; ".join(repairs)


# ----------------------------------------------------------------------------------------------
# Text for the text encoder
# ----------------------------------------------------------------------------------------------
def _render(fields: dict[str, str]) -> tuple[str, dict[str, tuple[int, int]]]:
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise ValueError(f"fields lack {', '.join(missing)}; need all of {', '.join(FIELDS)}")
    parts, spans, pos = [], {}, 0
    for i, name in enumerate(FIELDS):
        if i:
            parts.append(". ")
            pos += 2
        piece = f"{name}: {fields[name]}"
        spans[name] = (pos, pos + len(piece))
        parts.append(piece)
        pos += len(piece)
    return "".join(parts), spans


def render_text(fields: dict[str, str]) -> str:
    """The canonical text the text encoder sees: ``"Name: value"`` in :data:`FIELDS` order,
    joined by ``". "``, with no full stop after Remarks.

    Example:
        >>> render_text({"Location": "upper-left", "Boundary": "well-defined",
        ...              "Characteristics": "sessile polyp", "Area Percentage": "5-15%",
        ...              "Confidence": "high", "Remarks": "Small round polyp"})
        'Location: upper-left. Boundary: well-defined. Characteristics: sessile polyp. Area Percentage: 5-15%. Confidence: high. Remarks: Small round polyp'

    Raises:
        ValueError: when a field is missing (extra keys are ignored).
    """
    return _render(fields)[0]


def field_char_spans(fields: dict[str, str]) -> dict[str, tuple[int, int]]:
    """For each field, the ``[start, end)`` character span of ``"Name: value"`` in
    :func:`render_text`, so that ``text[start:end] == f"{name}: {fields[name]}"``.

    The span holds the label as well as the value because the encoder reads both; the joining
    ``". "`` belongs to no field. Use it with a tokenizer's offset mapping to pool the tokens
    of one field.

    Raises:
        ValueError: when a field is missing.
    """
    return _render(fields)[1]
