"""The explanation schema: vocabulary, prompt, the parser's repairs and refusals, rendered text."""
import json
import random

import numpy as np
import pytest

from fgi_core.explain.records import STATUSES
from fgi_core.explain.schema import (
    AREA_BINS,
    FIELDS,
    MODALITIES,
    PROMPT_VERSION,
    REMARKS_MAX_WORDS,
    VOCABULARY,
    area_bin,
    build_prompt,
    field_char_spans,
    location_cell,
    parse,
    render_text,
    snap_value,
)

# A clean endoscopy answer; the cases below spoil it one way at a time.
CLEAN = {
    "Location": "upper-left",
    "Boundary": "well-defined",
    "Characteristics": "sessile polyp",
    "Area Percentage": "5-15%",
    "Confidence": "high",
    "Remarks": "Round polyp on the left wall.",
}
CLEAN_JSON = json.dumps(CLEAN)


def with_(**changes):
    """CLEAN with some values replaced (keys with spaces given with underscores)."""
    out = dict(CLEAN)
    out.update({k.replace("_", " "): v for k, v in changes.items()})
    return out


def renamed(old, new):
    """CLEAN's JSON with one key spelled differently, in place."""
    return CLEAN_JSON.replace(json.dumps(old), json.dumps(new))


# ----------------------------------------------------------------------------------------------
# Vocabulary and geometry
# ----------------------------------------------------------------------------------------------
def test_vocabulary_shape():
    assert set(VOCABULARY) == set(MODALITIES)
    for m in MODALITIES:
        assert tuple(VOCABULARY[m]) == FIELDS[:-1]  # Remarks is free text
        for options in VOCABULARY[m].values():
            assert len(set(options)) == len(options) >= 3
    # Only Characteristics depends on the modality.
    for field in ("Location", "Boundary", "Area Percentage", "Confidence"):
        assert len({VOCABULARY[m][field] for m in MODALITIES}) == 1
    assert len(VOCABULARY["endoscopy"]["Location"]) == 9
    assert VOCABULARY["mri"]["Area Percentage"] == ("<5%", "5-15%", "15-30%", "30-50%", ">50%")


@pytest.mark.parametrize(
    "fraction, expected",
    [
        (0.0, "<5%"),
        (np.nextafter(0.05, 0), "<5%"),
        (0.05, "5-15%"),  # each bin includes its lower edge
        (np.nextafter(0.15, 0), "5-15%"),
        (0.15, "15-30%"),
        (0.30, "30-50%"),
        (np.nextafter(0.5, 0), "30-50%"),
        (0.5, ">50%"),  # exactly half counts as ">50%"
        (1.0, ">50%"),
    ],
)
def test_area_bin_edges(fraction, expected):
    assert area_bin(fraction) == expected


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
def test_area_bin_rejects_fractions_outside_0_1(bad):
    with pytest.raises(ValueError, match="area fraction must be in"):
        area_bin(bad)


@pytest.mark.parametrize(
    "cx, cy, expected",
    [
        (0.0, 0.0, "upper-left"),
        (np.nextafter(1 / 3, 0), 0.0, "upper-left"),
        (1 / 3, 0.0, "upper-center"),  # the edge belongs to the middle third
        (np.nextafter(2 / 3, 0), 0.0, "upper-center"),
        (2 / 3, 0.0, "upper-right"),
        (0.5, 0.5, "center"),
        (0.2, 0.5, "center-left"),
        (1.0, 0.5, "center-right"),
        (0.0, 2 / 3, "lower-left"),  # cy grows downwards: 2/3 is the bottom third
        (0.5, 1.0, "lower-center"),
        (1.0, 1.0, "lower-right"),
    ],
)
def test_location_cell_edges(cx, cy, expected):
    assert location_cell(cx, cy) == expected


def test_location_cell_covers_the_grid_and_rejects_outside():
    cells = {location_cell(x, y) for x in (0.1, 0.5, 0.9) for y in (0.1, 0.5, 0.9)}
    assert cells == set(VOCABULARY["endoscopy"]["Location"])
    with pytest.raises(ValueError, match="normalised"):
        location_cell(1.2, 0.5)
    with pytest.raises(ValueError, match="normalised"):
        location_cell(0.5, float("nan"))


# ----------------------------------------------------------------------------------------------
# Prompt
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("modality", MODALITIES)
def test_prompt_lists_every_option_and_key(modality):
    prompt = build_prompt(modality)
    assert prompt == build_prompt(modality)  # deterministic
    for field in FIELDS:
        assert f'"{field}"' in prompt
    for field, options in VOCABULARY[modality].items():
        for option in options:
            assert f'"{option}"' in prompt, (field, option)
    for other in MODALITIES:  # no other modality's Characteristics leak in
        if other != modality:
            for option in set(VOCABULARY[other]["Characteristics"]) - set(VOCABULARY[modality]["Characteristics"]):
                assert option not in prompt
    assert "exactly ONE JSON object" in prompt
    assert f"at most {REMARKS_MAX_WORDS} words" in prompt
    assert "no other text" in prompt
    assert "Clinicians looked at the abnormal region" in prompt


def test_prompt_version_and_modalities_differ():
    assert PROMPT_VERSION == "fgi-explain-v1"
    assert len({build_prompt(m) for m in MODALITIES}) == len(MODALITIES)
    assert "MRI" in build_prompt("mri") and "dermoscopy" in build_prompt("dermoscopy")


@pytest.mark.parametrize("call", [lambda: build_prompt("endoscopie"), lambda: parse(CLEAN_JSON, "endoscopie")])
def test_unknown_modality_is_refused_with_a_suggestion(call):
    with pytest.raises(ValueError, match=r"Unknown modality 'endoscopie'; allowed: dermoscopy, endoscopy, mri\. Did you mean 'endoscopy'\?"):
        call()


# ----------------------------------------------------------------------------------------------
# Parse: accepted as is, or after named repairs
# ----------------------------------------------------------------------------------------------
REPAIR_CASES = [
    # (case, text, modality, expected fields, expected status, substring of the reason)
    ("clean", CLEAN_JSON, "endoscopy", CLEAN, "ok", ""),
    ("clean, whitespace around", f"\n  {CLEAN_JSON}\n\n", "endoscopy", CLEAN, "ok", ""),
    ("clean, pretty-printed", json.dumps(CLEAN, indent=2), "endoscopy", CLEAN, "ok", ""),
    ("code fence", f"```json\n{CLEAN_JSON}\n```", "endoscopy", CLEAN, "repaired", "code fence removed"),
    ("bare code fence", f"```\n{CLEAN_JSON}\n```", "endoscopy", CLEAN, "repaired", "code fence removed"),
    ("unclosed code fence", f"```json\n{CLEAN_JSON}", "endoscopy", CLEAN, "repaired", "code fence removed"),
    ("fence inside prose", f"Here you go:\n```json\n{CLEAN_JSON}\n```\nHope this helps!", "endoscopy", CLEAN,
     "repaired", "code fence removed; leading text removed; trailing text removed"),
    ("prose before", f"Sure! Here is the JSON: {CLEAN_JSON}", "endoscopy", CLEAN, "repaired", "leading text removed"),
    ("prose after", f"{CLEAN_JSON}\nThe polyp is benign-looking.", "endoscopy", CLEAN, "repaired", "trailing text removed"),
    ("single quotes", str(CLEAN), "endoscopy", CLEAN, "repaired", "single quotes"),
    ("trailing comma", CLEAN_JSON[:-1] + ",}", "endoscopy", CLEAN, "repaired", "trailing comma removed"),
    ("trailing comma, newline", CLEAN_JSON[:-1] + ",\n}", "endoscopy", CLEAN, "repaired", "trailing comma removed"),
    ("curly quotes", CLEAN_JSON.replace('"upper-left"', "\u201cupper-left\u201d"), "endoscopy", CLEAN,
     "repaired", "curly quotes straightened"),
    ("key lower case", renamed("Location", "location"), "endoscopy", CLEAN, "repaired", "key case 'location' -> 'Location'"),
    ("key upper case", renamed("Area Percentage", "AREA PERCENTAGE"), "endoscopy", CLEAN, "repaired",
     "key case 'AREA PERCENTAGE' -> 'Area Percentage'"),
    ("key sentence case", renamed("Area Percentage", "Area percentage"), "endoscopy", CLEAN, "repaired",
     "key case 'Area percentage' -> 'Area Percentage'"),
    ("key with underscore", renamed("Area Percentage", "area_percentage"), "endoscopy", CLEAN, "repaired",
     "key 'area_percentage' -> 'Area Percentage'"),
    ("value case and spacing", json.dumps(with_(Boundary="Well defined")), "endoscopy", CLEAN, "repaired",
     "value 'Well defined' -> 'well-defined'"),
    ("value underscore", json.dumps(with_(Location="UPPER_LEFT")), "endoscopy", CLEAN, "repaired",
     "value 'UPPER_LEFT' -> 'upper-left'"),
    ("synonym top left", json.dumps(with_(Location="top left")), "endoscopy", CLEAN, "repaired", "value 'top left' -> 'upper-left'"),
    ("synonym top-left", json.dumps(with_(Location="Top-Left")), "endoscopy", CLEAN, "repaired", "-> 'upper-left'"),
    ("synonym left upper", json.dumps(with_(Location="left upper")), "endoscopy", CLEAN, "repaired", "-> 'upper-left'"),
    ("location with filler", json.dumps(with_(Location="the upper left corner of the image")), "endoscopy", CLEAN,
     "repaired", "-> 'upper-left'"),
    ("synonym middle", json.dumps(with_(Location="middle")), "endoscopy", with_(Location="center"), "repaired",
     "value 'middle' -> 'center'"),
    ("synonym centre", json.dumps(with_(Location="centre")), "endoscopy", with_(Location="center"), "repaired", "-> 'center'"),
    ("synonym middle left", json.dumps(with_(Location="middle left")), "endoscopy", with_(Location="center-left"),
     "repaired", "-> 'center-left'"),
    ("synonym bottom", json.dumps(with_(Location="bottom")), "endoscopy", with_(Location="lower-center"), "repaired",
     "-> 'lower-center'"),
    ("synonym clear", json.dumps(with_(Boundary="clear")), "endoscopy", CLEAN, "repaired", "value 'clear' -> 'well-defined'"),
    ("synonym sharp", json.dumps(with_(Boundary="Sharp")), "endoscopy", CLEAN, "repaired", "-> 'well-defined'"),
    ("synonym blurry", json.dumps(with_(Boundary="blurry")), "endoscopy", with_(Boundary="ill-defined"), "repaired",
     "value 'blurry' -> 'ill-defined'"),
    ("synonym unclear", json.dumps(with_(Boundary="unclear")), "endoscopy", with_(Boundary="ill-defined"), "repaired",
     "-> 'ill-defined'"),
    ("synonym moderate", json.dumps(with_(Confidence="Moderate")), "endoscopy", with_(Confidence="medium"), "repaired",
     "-> 'medium'"),
    ("characteristics short form", json.dumps(with_(Characteristics="Sessile")), "endoscopy", CLEAN, "repaired",
     "value 'Sessile' -> 'sessile polyp'"),
    ("close match (typo)", json.dumps(with_(Boundary="irregullar")), "endoscopy", with_(Boundary="irregular"),
     "repaired", "value 'irregullar' -> 'irregular' (close match)"),
    # Area: 23 % lies in [15 %, 30 %), whichever way it is written.
    ("area percent string", json.dumps(with_(Area_Percentage="23%")), "endoscopy", with_(Area_Percentage="15-30%"),
     "repaired", "value '23%' -> '15-30%'"),
    ("area fraction string", json.dumps(with_(Area_Percentage="0.23")), "endoscopy", with_(Area_Percentage="15-30%"),
     "repaired", "value '0.23' -> '15-30%'"),
    ("area bare number string", json.dumps(with_(Area_Percentage="23")), "endoscopy", with_(Area_Percentage="15-30%"),
     "repaired", "value '23' -> '15-30%'"),
    ("area JSON number", json.dumps(with_(Area_Percentage=23)), "endoscopy", with_(Area_Percentage="15-30%"),
     "repaired", "value 23 -> '15-30%'"),
    ("area JSON fraction", json.dumps(with_(Area_Percentage=0.23)), "endoscopy", with_(Area_Percentage="15-30%"),
     "repaired", "value 0.23 -> '15-30%'"),
    ("area approximately", json.dumps(with_(Area_Percentage="~20%")), "endoscopy", with_(Area_Percentage="15-30%"),
     "repaired", "value '~20%' -> '15-30%'"),
    ("area on a bin edge", json.dumps(with_(Area_Percentage="15%")), "endoscopy", with_(Area_Percentage="15-30%"),
     "repaired", "-> '15-30%'"),
    ("area bin spaced", json.dumps(with_(Area_Percentage="5 - 15 %")), "endoscopy", CLEAN, "repaired", "-> '5-15%'"),
    ("area bin in words", json.dumps(with_(Area_Percentage="less than 5 percent")), "endoscopy",
     with_(Area_Percentage="<5%"), "repaired", "-> '<5%'"),
    ("area range midpoint", json.dumps(with_(Area_Percentage="10-20%")), "endoscopy", with_(Area_Percentage="15-30%"),
     "repaired", "value '10-20%' -> '15-30%'"),  # midpoint 15 % opens the 15-30 % bin
    ("two objects", CLEAN_JSON + "\n" + json.dumps(with_(Location="lower-right")), "endoscopy", CLEAN, "repaired",
     "several JSON objects; first taken"),
    ("extra key", json.dumps({**CLEAN, "Severity": "mild"}), "endoscopy", CLEAN, "repaired", "extra key 'Severity' dropped"),
    ("duplicate key", CLEAN_JSON[:-1] + ', "location": "center"}', "endoscopy", CLEAN, "repaired",
     "duplicate key 'location' dropped"),
    ("remarks too long", json.dumps(with_(Remarks=" ".join(f"w{i}" for i in range(40)))), "endoscopy",
     with_(Remarks=" ".join(f"w{i}" for i in range(30))), "repaired", "Remarks truncated to 30 words"),
    ("remarks a number", json.dumps(with_(Remarks=42)), "endoscopy", with_(Remarks="42"), "repaired", "Remarks 42 -> '42'"),
    ("remarks null", json.dumps(with_(Remarks=None)), "endoscopy", with_(Remarks=""), "repaired", "Remarks None -> ''"),
    ("mri synonym", json.dumps(with_(Characteristics="Low signal")), "mri", with_(Characteristics="hypointense region"),
     "repaired", "value 'Low signal' -> 'hypointense region'"),
    ("dermoscopy synonym", json.dumps(with_(Characteristics="variegated")), "dermoscopy",
     with_(Characteristics="variegated pigmentation"), "repaired", "-> 'variegated pigmentation'"),
    ("everything at once", "Answer:\n```json\n{'location': 'Top Left', 'boundary': 'clear', 'characteristics': "
     "'sessile', 'area_percentage': '~10%', 'confidence': 'HIGH', 'remarks': 'Round polyp on the left wall.',}\n```",
     "endoscopy", CLEAN, "repaired", "code fence removed; leading text removed; single quotes"),
]


@pytest.mark.parametrize(
    "text, modality, expected, status, reason_part", [c[1:] for c in REPAIR_CASES], ids=[c[0] for c in REPAIR_CASES]
)
def test_parse_accepts_and_names_repairs(text, modality, expected, status, reason_part):
    fields, got_status, reason = parse(text, modality)
    assert (fields, got_status) == (expected, status), reason
    assert list(fields) == list(FIELDS)  # always in schema order
    assert reason_part in reason
    assert (reason == "") == (status == "ok")


def test_repairs_are_listed_in_order_of_the_text():
    text = "```json\n{'location': 'top left', 'Boundary': 'well-defined', 'Characteristics': 'sessile polyp', " \
           "'Area Percentage': '23%', 'Confidence': 'high', 'Remarks': 'x'}\n``` trailing"
    _, status, reason = parse(text, "endoscopy")
    assert status == "repaired"
    assert reason.split("; ") == [
        "code fence removed",
        "trailing text removed",
        "single quotes (read as a Python literal)",
        "key case 'location' -> 'Location'",
        "value 'top left' -> 'upper-left'",
        "value '23%' -> '15-30%'",
    ]


# ----------------------------------------------------------------------------------------------
# Parse: refused, with the reason
# ----------------------------------------------------------------------------------------------
INVALID_CASES = [
    ("empty", "", "empty text"),
    ("whitespace only", "  \n\t ", "empty text"),
    ("None", None, "empty text"),
    ("prose without braces", "The polyp is in the upper left and well defined.", "no JSON object found"),
    ("brace never closed", '{"Location": "upper-left", "Boundary"', "is never closed"),
    ("missing field", json.dumps({k: v for k, v in CLEAN.items() if k != "Confidence"}), "missing field(s): Confidence"),
    ("empty object", "{}", "missing field(s): Location, Boundary, Characteristics, Area Percentage, Confidence, Remarks"),
    ("value far from any option", json.dumps(with_(Boundary="banana")), "Boundary: value 'banana' is not one of"),
    ("other modality's vocabulary", json.dumps(with_(Characteristics="pink lesion")), "Characteristics: value 'pink lesion'"),
    ("area above 100%", json.dumps(with_(Area_Percentage="150%")), "Area Percentage: value '150%' is outside 0-100%"),
    ("area spanning bins", json.dumps(with_(Area_Percentage="<10%")), "spans several bins"),
    ("value not a string", json.dumps(with_(Location=["upper", "left"])), "Location: value ['upper', 'left'] is not a string"),
    ("value an object", json.dumps(with_(Location={"row": "upper"})), "Location: value"),
    ("broken JSON", '{"Location": "upper-left", "Boundary": }', "unparseable JSON after repairs"),
    ("unquoted keys", "{Location: upper-left, Boundary: clear}", "unparseable JSON after repairs"),
    ("tiny random model", "\u0120cat\u0120cat\u0120dog<unk> 3 3 }{", "no JSON object found"),
    ("two problems at once", json.dumps({**{k: v for k, v in CLEAN.items() if k != "Remarks"}, "Boundary": "banana"}),
     "missing field(s): Remarks; Boundary: value 'banana'"),
]


@pytest.mark.parametrize("text, reason_part", [c[1:] for c in INVALID_CASES], ids=[c[0] for c in INVALID_CASES])
def test_parse_refuses_with_a_reason(text, reason_part):
    fields, status, reason = parse(text, "endoscopy")
    assert (fields, status) == (None, "invalid")
    assert reason_part in reason, reason


def test_parse_never_raises_on_garbage():
    # What an untrained or tiny model emits: fragments of JSON, field names, quotes, unicode.
    rng = random.Random(0)
    pieces = ['{', '}', '"', "'", ':', ',', '```', 'json', ' ', '\n', '\\', '[', ']', 'null', '1e999', 'NaN', '0.3',
              '"Location"', '"upper-left"', 'Boundary', "'clear'", '\u0120cat', '<unk>', '\u201c', '\u2019', '**', '{}']
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        fields, status, reason = parse(text, rng.choice(MODALITIES))
        assert status in STATUSES
        assert (fields is None) == (status == "invalid")
        assert (reason == "") == (status == "ok")


def test_deeply_nested_braces_do_not_raise():
    assert parse("{" * 5000 + "}" * 5000, "mri")[1] == "invalid"
    assert parse("{'a': " * 3000 + "1" + "}" * 3000, "mri")[1] == "invalid"
    # Deeper than Python's recursion limit: json and ast would raise RecursionError.
    assert parse('{"a": ' * 100_000 + "1" + "}" * 100_000, "mri") == (
        None, "invalid", "unparseable JSON after repairs: nested too deeply")


# ----------------------------------------------------------------------------------------------
# Round trip and snap_value
# ----------------------------------------------------------------------------------------------
def random_fields(rng, modality):
    fields = {field: rng.choice(options) for field, options in VOCABULARY[modality].items()}
    fields["Remarks"] = " ".join(rng.choice(["round", "lesion", "near", "edge", "pale", "it's", "{x}"]) for _ in range(rng.randint(0, 30)))
    return {f: fields[f] for f in FIELDS}


def test_round_trip_of_valid_choices_is_ok():
    rng = random.Random(1234)
    for modality in MODALITIES:
        for _ in range(200):
            fields = random_fields(rng, modality)
            assert parse(json.dumps(fields), modality) == (fields, "ok", "")
            assert parse(json.dumps(fields, indent=1, ensure_ascii=False), modality) == (fields, "ok", "")


def test_snap_value_reports_unchanged_values_and_refuses_unknowns():
    assert snap_value("Confidence", "high", "mri") == ("high", None)
    assert snap_value("Area Percentage", 0.5, "mri") == (">50%", "value 0.5 -> '>50%'")
    with pytest.raises(ValueError, match="Confidence: value 'banana'"):
        snap_value("Confidence", "banana", "mri")
    with pytest.raises(ValueError, match="Did you mean 'Boundary'"):
        snap_value("Boundry", "clear", "mri")


def test_area_bin_outputs_are_the_vocabulary():
    assert {area_bin(f) for f in np.linspace(0, 1, 101)} == set(AREA_BINS)


# ----------------------------------------------------------------------------------------------
# Rendered text for the text encoder
# ----------------------------------------------------------------------------------------------
def test_render_text_is_the_canonical_sentence():
    assert render_text(CLEAN) == (
        "Location: upper-left. Boundary: well-defined. Characteristics: sessile polyp. "
        "Area Percentage: 5-15%. Confidence: high. Remarks: Round polyp on the left wall."
    )
    assert render_text({**CLEAN, "Extra": "ignored"}) == render_text(CLEAN)
    with pytest.raises(ValueError, match="fields lack Remarks"):
        render_text({k: v for k, v in CLEAN.items() if k != "Remarks"})


@pytest.mark.parametrize("remarks", ["", "Tricky: Boundary: clear. Location: x.", "x" * 200])
def test_field_char_spans_cover_name_and_value(remarks):
    fields = with_(Remarks=remarks)
    text, spans = render_text(fields), field_char_spans(fields)
    assert list(spans) == list(FIELDS)
    for name in FIELDS:
        start, end = spans[name]
        assert text[start:end] == f"{name}: {fields[name]}"
    # Spans are in order and only the ". " joints lie between them; the last one ends the text.
    bounds = [spans[f] for f in FIELDS]
    assert bounds[0][0] == 0 and bounds[-1][1] == len(text)
    for (_, end), (start, _) in zip(bounds, bounds[1:]):
        assert text[end:start] == ". "
