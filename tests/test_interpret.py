"""fgi_core.interpret: every measurement on hand-made inputs with hand-computed answers."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from fgi_core import interpret as I
from fgi_core import metrics as M
from fgi_core.explain import measures


# ----------------------------------------------------------------------------------------------
# CC, NSS, AUC, fixation maps
# ----------------------------------------------------------------------------------------------
def test_cc_known_values():
    assert M.cc([0, 1, 2, 3], [0, 2, 4, 6]) == pytest.approx(1.0)
    assert M.cc([0, 1, 2, 3], [3, 2, 1, 0]) == pytest.approx(-1.0)
    # deviations (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5): 4 / sqrt(5 * 5)
    assert M.cc([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert M.cc(np.eye(3), np.eye(3) * 7 + 2) == pytest.approx(1.0)  # any shape; affine invariant
    assert math.isnan(M.cc([1, 1, 1], [0, 1, 2]))  # a constant map has no correlation


def test_cc_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 2\) and \(4,\)"):
        M.cc(np.zeros((2, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        M.cc([0, np.nan], [0, 1])


def test_nss_known_values():
    # s = (0, 0, 0, 1): mean 1/4, std sqrt(3)/4 -> z = (-1/sqrt(3), ..., sqrt(3))
    assert M.nss([0, 0, 0, 1.0], [0, 0, 0, 1]) == pytest.approx(math.sqrt(3))
    assert M.nss([0, 0, 0, 1.0], [1, 0, 0, 0]) == pytest.approx(-1 / math.sqrt(3))
    # weights: (2 * (-1/sqrt(3)) + 1 * sqrt(3)) / 3
    assert M.nss([0, 0, 0, 1.0], [0, 0, 2, 1]) == pytest.approx((-2 / math.sqrt(3) + math.sqrt(3)) / 3)
    # uniform fixations give exactly chance (0)
    assert M.nss(np.random.default_rng(0).random((5, 5)), np.ones((5, 5))) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(M.nss(np.ones(4), [1, 0, 0, 0]))


def test_nss_rejects_bad_fixation_maps():
    with pytest.raises(ValueError, match="no fixation"):
        M.nss([0, 1.0], [0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        M.nss([0, 1.0], [-1, 2])


def test_auc_known_values_and_ties():
    # positives {0.35, 0.8} vs negatives {0.1, 0.4}: 3 of 4 pairs ordered right
    assert M.auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert M.auc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)  # a tie counts half
    assert M.auc([0, 1, 2, 3], [0, 0, 1, 1]) == 1.0 and M.auc([3, 2, 1, 0], [0, 0, 1, 1]) == 0.0
    assert math.isnan(M.auc([0.1, 0.2], [1, 1]))


def test_auc_equals_pair_counting():
    rng = np.random.default_rng(1)
    s = np.round(rng.random(60), 1)  # many ties
    t = rng.random(60) > 0.6
    pos, neg = s[t], s[~t]
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert M.auc(s, t) == pytest.approx(brute)


def test_fixation_map_convention():
    points = np.array([[0.0, 0.0, 100], [0.999, 0.5, 200], [1.0, 1.0, 50], [0.5, 0.5, 10], [0.5, 0.5, 30]])
    counts = M.fixation_map(points, 4, 4)
    expected = np.zeros((4, 4))
    expected[0, 0], expected[2, 3], expected[3, 3], expected[2, 2] = 1, 1, 1, 2  # x=1 -> last column
    np.testing.assert_array_equal(counts, expected)
    durations = M.fixation_map(points, 4, 4, weight="duration")
    assert durations[2, 2] == 40 and durations[2, 3] == 200 and durations.sum() == 390
    with pytest.raises(ValueError, match="N x 3"):
        M.fixation_map(np.zeros((3, 2)), 4, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.fixation_map([[1.5, 0.5, 100]], 4, 4)
    with pytest.raises(ValueError, match="Did you mean 'duration'"):
        M.fixation_map(points, 4, 4, weight="durations")


def test_gaze_agreement_of_a_prediction_that_copies_the_heatmap():
    yy, xx = np.mgrid[0:20, 0:20]
    heat = np.exp(-((xx - 12) ** 2 + (yy - 6) ** 2) / 20.0)
    gt = heat > 0.5
    points = np.array([[12.5 / 20, 6.5 / 20, 300.0]])  # on the peak
    g = I.gaze_agreement(heat, heat, points, gt, threshold=0.5)
    assert g["cc"] == pytest.approx(1.0)
    assert g["auc_pred"] == 1.0 and g["auc_gt"] == 1.0
    z_peak = (1.0 - heat.mean()) / heat.std()
    assert g["nss"] == pytest.approx(z_peak)
    g = I.gaze_agreement(heat, 1 - heat, points, None)
    assert g["cc"] == pytest.approx(-1.0) and g["auc_pred"] == 0.0 and math.isnan(g["auc_gt"])
    assert math.isnan(I.gaze_agreement(heat, heat, None)["nss"])


# ----------------------------------------------------------------------------------------------
# Description vs prediction
# ----------------------------------------------------------------------------------------------
def test_cells_and_bins():
    region = np.zeros((30, 30), bool)
    region[2:8, 22:28] = True
    assert I.cell_of(region) == "upper-right"
    assert I.cell_of(np.zeros((4, 4), bool)) is None
    assert I.cell_distance("upper-left", "upper-left") == 0
    assert I.cell_distance("upper-left", "center") == 1
    assert I.cell_distance("upper-left", "lower-right") == 2
    assert I.cell_distance("center-left", "upper-right") == 2
    assert math.isnan(I.cell_distance(None, "center"))
    with pytest.raises(ValueError, match="unknown Location cell 'top'"):
        I.cell_distance("top", "center")
    assert I.area_bin_distance("<5%", "15-30%") == 2 and I.area_bin_distance(">50%", ">50%") == 0
    with pytest.raises(ValueError, match="Area Percentage bin"):
        I.area_bin_distance("10%", "<5%")


def test_description_consistency_against_a_hand_made_prediction():
    prob = np.zeros((16, 16))
    prob[0:4, 0:4] = 0.9  # upper-left, 16/256 = 6.25 % -> "5-15%"
    fields = {"Location": "upper-left", "Boundary": "well-defined", "Characteristics": "sessile polyp",
              "Area Percentage": "<5%", "Confidence": "high", "Remarks": ""}
    d = I.description_consistency(fields, prob)
    assert d["location"] == "upper-left" and d["location_match"] is True and d["location_distance"] == 0
    assert d["area_fraction"] == pytest.approx(0.0625) and d["area"] == "5-15%"
    assert d["area_match"] is False and d["area_distance"] == 1
    assert "boundary" not in d  # no image, no boundary comparison
    d = I.description_consistency({**fields, "Location": "lower-right"}, prob, threshold=0.95)  # nothing predicted
    assert d["location"] is None and math.isnan(d["location_match"]) and d["area"] == "<5%"
    d = I.description_consistency(None, prob)
    assert math.isnan(d["location_match"]) and math.isnan(d["area_distance"])


def step_image(size=128, blur=0.0, value=200):
    import cv2

    grey = np.zeros((size, size), np.float32)
    grey[:, size // 2:] = value
    if blur:
        grey = cv2.GaussianBlur(grey, (0, 0), blur)
    return np.repeat(grey[..., None], 3, axis=2).round().astype(np.uint8)


def test_boundary_of_a_sharp_step_is_well_defined():
    size = 128
    region = np.zeros((size, size), bool)
    region[:, size // 2:] = True
    m = measures.boundary_measures(region, step_image(size))
    # a 200-level step between columns 63 and 64, smoothed by a Gaussian of sigma 1, then the
    # Sobel central difference (f(x+1) - f(x-1)) / 2 at the contour column 64:
    # 100 * (Phi(1.5) - Phi(-0.5)) = 62.5 grey levels per pixel (continuous Gaussian; the sampled
    # kernel gives a little more); the image's median gradient is 0, floored at 0.5
    assert m["edge_strength"] == pytest.approx(62.5 / 0.5, rel=0.05)
    # ramp width = step / g_edge = 200 / 62.5 px, relative to the 128 px side
    assert m["edge_width"] == pytest.approx(200 / 62.5 / size, rel=0.05)
    assert m["solidity"] == 1.0
    assert measures.boundary_class(m) == "well-defined"


def test_boundary_of_a_blurred_step_is_ill_defined_and_a_cross_is_irregular():
    size = 128
    region = np.zeros((size, size), bool)
    region[:, size // 2:] = True
    m = measures.boundary_measures(region, step_image(size, blur=8.0))
    assert m["edge_width"] > 0.05 and measures.boundary_class(m) == "ill-defined"
    cross = np.zeros((size, size), bool)
    cross[56:72, 16:112] = True
    cross[16:112, 56:72] = True
    m = measures.boundary_measures(cross, step_image(size))
    # area 2 * 96 * 16 - 16 * 16 = 2816; hull: the 96 x 96 square less four corner triangles
    # with legs (96 - 16) / 2 = 40: 9216 - 4 * 800 = 6016
    assert m["solidity"] == pytest.approx(2816 / 6016)
    assert measures.boundary_class(m) == "irregular"
    assert measures.boundary_class(measures.boundary_measures(np.zeros((8, 8), bool), np.zeros((8, 8, 3), np.uint8))) is None
    with pytest.raises(ValueError, match="same height and width"):
        measures.boundary_measures(region, np.zeros((4, 4, 3), np.uint8))


def test_boundary_measures_match_the_describer():
    """The measured Boundary of the describer's own region is the describer's Boundary."""
    from fgi_core.data import create_dataset
    from fgi_core.explain.describer import DescriberExplainer
    from fgi_core.explain.records import ExplainItem
    from fgi_core.gaze import pseudo_masks

    ds = create_dataset("synthetic", n_images=4, size=(96, 112), seed=3)
    describer = DescriberExplainer()
    for image_id in ds.ids:
        image, gt = ds.image_rgb(image_id), ds.mask(image_id)
        import cv2

        refined = cv2.GaussianBlur(gt.astype(np.float32), (0, 0), 2.0)
        hc, bc = pseudo_masks(refined, 0.5, 0.3)
        item = ExplainItem(id=image_id, image=image, modality="endoscopy", refined=refined, m_hc=hc, m_bc=bc)
        fields, meas = describer.measure(item)
        m = measures.boundary_measures(refined >= 0.5, image)
        assert m["edge_strength"] == pytest.approx(meas["edge_strength"], abs=1e-3)
        assert m["solidity"] == pytest.approx(meas["solidity"], abs=1e-3)
        assert measures.boundary_class(m) == fields["Boundary"]


def test_cohen_kappa_known_values():
    # p_o = 3/4; p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2 -> (3/4 - 1/2) / (1/2)
    assert M.cohen_kappa(["x", "x", "y", "y"], ["x", "y", "y", "y"]) == pytest.approx(0.5)
    assert M.cohen_kappa(["a", "b", "c"], ["a", "b", "c"]) == pytest.approx(1.0)
    assert M.cohen_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)
    assert M.cohen_kappa(["a", None, "b", float("nan")], ["a", "b", "b", "a"]) == pytest.approx(1.0)  # pairs left out
    assert math.isnan(M.cohen_kappa(["a", "a"], ["a", "a"]))  # one label only: undefined
    with pytest.raises(ValueError, match="same length"):
        M.cohen_kappa(["a"], ["a", "b"])


# ----------------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------------
def tiny_teacher(text_dim=8):
    from fgi_core.models import FGITeacher

    torch.manual_seed(0)
    return FGITeacher(text_dim=text_dim, widths=(8, 16, 32, 64, 128, 16)).eval()


def test_teacher_attention_shapes_sums_and_padding():
    teacher = tiny_teacher()
    image, text = torch.randn(3, 32, 48), torch.randn(5, 8)
    maps = I.teacher_attention(teacher, image, text)
    assert [m.shape for m in maps] == [(5, 16, 24), (5, 8, 12), (5, 4, 6), (5, 2, 3)]
    for m in maps:
        np.testing.assert_allclose(m.sum(axis=0), 1.0, atol=1e-5)  # over tokens, at every pixel
    padded = torch.cat([text, torch.randn(3, 8)])
    mask = torch.tensor([True] * 5 + [False] * 3)
    for a, b in zip(maps, I.teacher_attention(teacher, image, padded, mask)):
        np.testing.assert_allclose(a, b, atol=1e-5)  # padding is dropped, nothing else changes
    no_text = __import__("fgi_core.models", fromlist=["FGITeacher"]).FGITeacher(text_dim=8, widths=(8, 16, 32, 64, 128, 16), fusion=False)
    with pytest.raises(ValueError, match="no text fusion"):
        I.teacher_attention(no_text, image, text)


def test_token_and_field_maps():
    a = np.zeros((4, 2, 2), np.float32)
    a[0] = 0.1
    a[1] = [[0.5, 0.2], [0.2, 0.2]]
    a[2] = [[0.3, 0.6], [0.6, 0.6]]
    a[3] = 0.1
    np.testing.assert_allclose(I.token_map(a, 1), [[0.5, 0.2], [0.2, 0.2]])
    np.testing.assert_allclose(I.field_map(a, (1, 3)), [[0.8, 0.8], [0.8, 0.8]])
    np.testing.assert_allclose(I.field_map(a, (2, 2)), 0.0)  # empty span
    with pytest.raises(IndexError, match="outside 0..3"):
        I.token_map(a, 4)
    with pytest.raises(IndexError, match="outside the 4 tokens"):
        I.field_map(a, (2, 5))


def test_attention_rows_hand_made():
    # token 0 ("A") attends where prob is high, token 1 ("B") the rest: A's map = prob exactly
    prob = np.array([[0.9, 0.1], [0.2, 0.6]])
    a = np.stack([prob, 1 - prob]).astype(np.float32)
    rows = I.attention_rows([a, a[:, :1, :1], a[:, :1, :1], a[:, :1, :1]], {"A": (0, 1), "B": (1, 2)}, prob, heatmap=prob)
    first = {r["field"]: r for r in rows if r["stage"] == 1}
    assert first["A"]["share"] == pytest.approx(prob.mean()) and first["B"]["share"] == pytest.approx(1 - prob.mean())
    assert first["A"]["cc_prob"] == pytest.approx(1.0) and first["B"]["cc_prob"] == pytest.approx(-1.0)
    assert first["A"]["cc_heatmap"] == pytest.approx(1.0) and first["A"]["tokens"] == 1
    # a 1 x 1 stage is a constant map once resized: no correlation
    assert all(math.isnan(r["cc_prob"]) for r in rows if r["stage"] == 2)
    assert len(rows) == 8


# ----------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------
def test_bootstrap_interval_known_cases():
    c = M.bootstrap_interval([0.3] * 10)
    assert c["n"] == 10 and c["mean"] == pytest.approx(0.3) and c["low"] == pytest.approx(0.3) and c["high"] == pytest.approx(0.3)
    one = M.bootstrap_interval([2.0, float("nan"), None])
    assert one["n"] == 1 and one["low"] == one["high"] == 2.0
    assert M.bootstrap_interval([])["n"] == 0 and math.isnan(M.bootstrap_interval([])["mean"])
    rate = M.bootstrap_interval([True, False, True, True])
    assert rate["mean"] == 0.75 and 0.0 <= rate["low"] <= 0.75 <= rate["high"] <= 1.0
    # 0..99: mean 49.5, standard error 28.87 / 10 -> a 95 % interval of about +-5.66
    c = M.bootstrap_interval(range(100), n_boot=4000, seed=1)
    assert c["mean"] == 49.5 and c["low"] == pytest.approx(49.5 - 5.66, abs=0.8) and c["high"] == pytest.approx(49.5 + 5.66, abs=0.8)
    assert M.bootstrap_interval(range(100), seed=5) == M.bootstrap_interval(range(100), seed=5)  # seeded
    with pytest.raises(ValueError, match="level"):
        M.bootstrap_interval([1, 2], level=95)


def test_summarise_and_compare_sources():
    frame = pd.DataFrame({"teacher_cc": [0.1, 0.2, 0.3], "student_cc": [0.2, 0.2, 0.5],
                          "teacher_match": [True, False, np.nan], "student_match": [True, True, False],
                          "label": ["a", "b", "c"]}, index=["i1", "i2", "i3"])
    s = I.summary_table(frame)  # the table of fgi_core.metrics.summarise (a dict per column)
    assert "label" not in s.index
    assert s.loc["teacher_cc", "mean"] == pytest.approx(0.2) and s.loc["teacher_cc", "n"] == 3
    assert s.loc["teacher_match", "mean"] == pytest.approx(0.5) and s.loc["teacher_match", "n"] == 2
    assert M.summarise(frame)["teacher_match"] == {"mean": 0.5, "std": pytest.approx(0.5 ** 0.5), "n": 2, "undefined": 1}
    with pytest.raises(KeyError, match="nope"):
        I.summary_table(frame, ["nope"])
    c = I.compare_sources(frame, ["cc", "match"])
    assert c.loc["cc", "mean"] == pytest.approx(0.1) and c.loc["cc", "differs"] == pytest.approx(2 / 3)
    assert c.loc["cc", "teacher"] == pytest.approx(0.2) and c.loc["cc", "student"] == pytest.approx(0.3)
    assert c.loc["match", "n"] == 2 and c.loc["match", "mean"] == pytest.approx(0.5)
    assert c.loc["cc", "low"] <= 0.1 <= c.loc["cc", "high"]
    with pytest.raises(KeyError, match="teacher_dice"):
        I.compare_sources(frame, ["dice"])


# ----------------------------------------------------------------------------------------------
# Hand-made inspection -> per-image table
# ----------------------------------------------------------------------------------------------
def hand_record(image_id="a", size=24, offset=0):
    yy, xx = np.mgrid[0:size, 0:size]
    heat = np.exp(-((xx - 6 - offset) ** 2 + (yy - 6) ** 2) / 12.0).astype(np.float32)
    gt = heat > 0.5
    image = np.full((size, size, 3), 60, np.uint8)
    image[gt] = 220
    fields = {"Location": "upper-left", "Boundary": "well-defined", "Characteristics": "sessile polyp",
              "Area Percentage": "<5%", "Confidence": "high", "Remarks": "r"}
    return I.ImageRecord(
        id=image_id, image=image, points=np.array([[6.5 / size, 6.5 / size, 200.0], [0.9, 0.9, 100.0]]),
        heatmap=heat, refined=heat, m_hc=(heat > 0.5).astype(np.uint8), m_bc=(heat > 0.3).astype(np.uint8), gt=gt,
        prob={"teacher": heat, "student": np.flipud(heat).copy()}, fields=fields,
        token_spans={"Location": (1, 3), "Boundary": (3, 5)}, tokens=["[CLS]", "loc", "ul", "bo", "wd", "[SEP]"],
    )


def test_measure_hand_made_inspection():
    insp = I.Inspection([hand_record("a"), hand_record("b", offset=3)])
    assert insp.ids == ["a", "b"] and insp.sources == ["teacher", "student"] and insp[1].id == "b"
    assert insp.attention("a") is None  # no teacher, nothing precomputed
    frame = I.measure(insp)
    assert list(frame.index) == ["a", "b"]
    row = frame.loc["a"]
    assert row["teacher_cc"] == pytest.approx(1.0) and row["teacher_auc_pred"] == 1.0 and row["auc_gt"] == 1.0
    assert row["teacher_location"] == "upper-left" and row["teacher_location_match"] == True  # noqa: E712 (numpy bool)
    assert row["student_location"] == "lower-left" and row["student_location_match"] == False  # noqa: E712; flipped
    assert row["student_location_distance"] == 2
    assert row["teacher_dice_gt"] == 1.0
    # a 160-level step is sharp, but on a 24 px image its ramp (a few px) is > 5 % of the side
    assert row["teacher_edge_strength"] > 3 and row["teacher_edge_width"] > 0.05
    assert row["teacher_boundary"] == "ill-defined" and row["teacher_boundary_match"] == False  # noqa: E712
    assert row["dice_teacher_student"] == 0.0 and row["described_area"] == "<5%"
    assert row["student_cc"] < 0.2
    with pytest.raises(KeyError, match="not in this inspection"):
        insp["zzz"]
    with pytest.raises(ValueError, match="heatmap has shape"):
        I.ImageRecord(id="x", image=np.zeros((4, 4, 3), np.uint8), points=np.zeros((0, 3)), heatmap=np.zeros((3, 3)),
                      refined=np.zeros((4, 4)), m_hc=np.zeros((4, 4)), m_bc=np.zeros((4, 4)))


def test_attention_table_and_summary_from_precomputed_attention():
    rec = hand_record()
    a = np.zeros((6, 12, 12), np.float32)
    a[0] = 1.0  # all attention on [CLS]
    rec.attention = [a, a[:, :6, :6], a[:, :3, :3], a[:, :1, :1]]
    insp = I.Inspection([rec])
    table = I.attention_table(insp)
    assert len(table) == 8 and set(table["field"]) == {"Location", "Boundary"}
    assert (table["share"] == 0).all()
    s = I.attention_summary(table)
    assert s.loc[(1, "Location"), "share"] == 0 and s.loc[(1, "Location"), "n"] == 1
    records = I.attention_records(s)
    assert records[0]["stage"] == 1 and records[0]["field"] == "Location" and records[0]["n"] == 1 and len(records) == 8


def test_load_inspection_from_the_quick_run(tiny_run):
    from fgi_core.config import get_profile
    from fgi_core.data import create_dataset
    from fgi_core.io import read_json

    prof = get_profile("quick")
    ds = create_dataset("synthetic", n_images=prof.n_images, size=prof.synthetic_size, seed=0)
    ids = ds.split("val")[:2]
    insp = I.load_inspection(ds, tiny_run, prof, ids)
    rec = insp[ids[0]]
    s = prof.image_size
    assert rec.image.shape == (s, s, 3) and rec.heatmap.shape == (s, s) and rec.gt.shape == (s, s)
    assert set(rec.prob) == {"teacher", "student"} and 0 <= rec.prob["student"].min() <= rec.prob["student"].max() <= 1
    index = read_json(tiny_run / "explain" / "embeddings_index.json")["images"][ids[0]]
    assert rec.token_spans == {k: tuple(v) for k, v in index["token_spans"].items()}
    assert len(rec.tokens) == index["length"] and rec.tokens[0] == "[CLS]"
    attn = insp.attention(ids[0])
    assert [m.shape for m in attn] == [(index["length"], s // 2 ** k, s // 2 ** k) for k in range(1, 5)]
    frame = I.measure(insp)
    assert frame.shape[0] == 2 and frame["student_cc"].between(-1, 1).all()
    with pytest.raises(FileNotFoundError, match="nowhere.*run notebooks/01_gaze_preprocessing.ipynb"):
        I.load_inspection(ds, tiny_run.parent / "nowhere", prof, ids)


def test_separation_auc_ci_strings_and_dataset_summary():
    assert M.separation_auc([3.0, 1.0, None, 2.0], [True, False, True, False]) == 1.0
    assert M.separation_auc([1.0, 2.0, float("nan")], [True, False, None]) == 0.0
    assert math.isnan(M.separation_auc([1.0, 2.0], [True, True]))
    t = pd.DataFrame({"n": [3, 0], "mean": [0.5, np.nan], "low": [0.25, np.nan], "high": [0.75, np.nan]}, index=["cc", "nss"])
    strings = I.ci_strings({"student": t})
    assert strings.loc["cc", "student"] == "0.50 [0.25, 0.75] (n=3)" and strings.loc["nss", "student"] == "n/a"

    insp = I.Inspection([hand_record("a"), hand_record("b", offset=3)])
    per_image = I.measure(insp)
    by = I.summary_by_source(per_image, ["cc"])
    assert list(by) == ["teacher", "student"] and by["teacher"].loc["cc", "mean"] == pytest.approx(per_image["teacher_cc"].mean())
    s = I.dataset_summary(per_image, n_boot=200)
    assert s["images"] == 2 and s["gaze"]["teacher"]["cc"]["mean"] == pytest.approx(1.0)
    # described upper-left: blob "a" (centre x 6.5 / 24) is upper-left, blob "b" (9.5 / 24) upper-center
    assert s["description"]["teacher"]["location_match"]["mean"] == 0.5
    assert s["description"]["student"]["location_match"]["mean"] == 0.0  # flipped to the lower row
    assert s["teacher_vs_student"]["location_match"]["mean"] == -0.5
    assert s["dice_teacher_student"]["mean"] == 0.0 and s["attention"] == []
    # described (ul, ul) vs predicted (ul, uc): p_o = 1/2 = p_e -> no better than chance
    assert s["kappa"]["teacher"]["Location"] == pytest.approx(0.0)
    import json

    strict = json.loads(json.dumps(I.json_ready(s), allow_nan=False))  # strict JSON: NaN -> null
    assert strict["kappa"]["teacher"]["Location"] == 0.0 and strict["boundary_auc"]["teacher"] is None
    assert I.json_ready({"a": np.float32(0.5), "b": [float("inf"), np.int64(3)], "c": np.arange(2)}) == {"a": 0.5, "b": [None, 3], "c": [0, 1]}


# ----------------------------------------------------------------------------------------------
# The package: one job per module, one bootstrap, networks from their checkpoints
# ----------------------------------------------------------------------------------------------
def test_compare_sources_is_the_paired_bootstrap_with_its_keys():
    from fgi_core.metrics import DEFAULT_N_BOOT, paired_bootstrap

    student, teacher = np.array([0.9, 0.8, 0.75, 0.6, np.nan]), np.array([0.7, 0.8, 0.5, 0.65, 0.4])
    frame = pd.DataFrame({"student_x": student, "teacher_x": teacher})
    row = I.compare_sources(frame, ["x"]).loc["x"]
    p = paired_bootstrap(student, teacher)  # student minus teacher, the default resamples
    assert DEFAULT_N_BOOT == 10_000
    for key in ("mean", "low", "high", "n", "wins"):  # the statistics' keys, the same numbers
        assert row[key] == p[key], key
    assert row["mean"] == pytest.approx(0.1) and not {"diff", "ci_low", "ci_high"} & set(row.index)  # one set of keys
    assert row["student"] == pytest.approx(0.7625) and row["teacher"] == pytest.approx(0.6625) and row["differs"] == 0.75
    flipped = I.compare_sources(frame, ["x"], a="teacher", b="student").loc["x"]
    assert flipped["mean"] == pytest.approx(-0.1) and flipped["low"] == pytest.approx(-row["high"])
    with pytest.raises(ValueError, match="clash"):
        I.compare_sources(frame.rename(columns={"student_x": "mean_x"}), ["x"], a="mean")


def test_intervals_carry_the_statistics_keys_only():
    from fgi_core.metrics import bootstrap_interval

    values = [0.2, 0.5, float("nan"), 0.9, 0.4]
    assert set(bootstrap_interval(values)) == {"n", "mean", "low", "high", "std"}
    assert list(I.summary_table(pd.DataFrame({"x": values})).columns) == ["n", "mean", "low", "high", "std"]
    t = pd.DataFrame({"n": [4], "mean": [0.5], "low": [0.25], "high": [0.75]}, index=["cc"])
    assert I.ci_strings({"s": t}).loc["cc", "s"] == "0.50 [0.25, 0.75] (n=4)"


def test_the_package_exports_its_own_names_and_one_job_per_module():
    import ast
    from pathlib import Path

    import fgi_core.interpret as package

    for name in package.__all__:
        assert name.isupper() or getattr(package, name).__module__.startswith("fgi_core.interpret."), name
    folder = Path(package.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")}
    assert {"attention", "descriptions", "inspection", "compare", "gaze", "tables", "summary"} <= modules
    for path in folder.glob("*.py"):
        text = path.read_text()
        assert "backends" not in text and "BOUNDARY_THRESHOLDS" not in text, path  # the Boundary rule is measures.py's
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # at most ~60 lines of code, docstring excluded
                body = node.body[1:] if ast.get_docstring(node) else node.body
                code = [ln for ln in lines[body[0].lineno - 1 : node.end_lineno] if ln.strip() and not ln.strip().startswith("#")] if body else []
                assert len(code) <= 60, (path.name, node.name, len(code))


#: A tiny teacher, and a student that is not at half its width.
TEACHER_WIDTHS = (8, 16, 32, 64, 128, 16)
STUDENT_WIDTHS = (8, 8, 16, 16, 32, 8)


def _checkpoint(text_dim=8, in_channels=3):
    from fgi_core.models import create_model

    torch.manual_seed(0)
    teacher = create_model("teacher", in_channels=in_channels, widths=TEACHER_WIDTHS, text_dim=text_dim).eval()
    student = create_model("student", in_channels=in_channels, widths=STUDENT_WIDTHS, teacher_widths=TEACHER_WIDTHS).eval()
    return {"iteration": 1, "networks": {"teacher": teacher.state_dict(), "student": student.state_dict()},
            "activations": {"teacher": "softmax", "student": "softmax"}}


# An old-format checkpoint (no model spec) is the point here: its rebuild warns, and that warning is expected.
@pytest.mark.filterwarnings("ignore:.*does not name the model:FutureWarning")
def test_a_student_not_at_half_its_teachers_width_is_rebuilt_from_the_checkpoint(tmp_path):
    from fgi_core.models import student_widths
    from fgi_core.predict import load_predictor, network_from_state, student_teacher_widths

    assert student_widths(TEACHER_WIDTHS) != STUDENT_WIDTHS  # not the width rule's student
    state = _checkpoint()
    nets = state["networks"]
    kind, student = network_from_state("student", nets["student"], nets)
    student.load_state_dict(nets["student"])  # strict
    assert kind == "student" and student.backbone.widths == STUDENT_WIDTHS and student.teacher_widths == TEACHER_WIDTHS
    kind, teacher = network_from_state("teacher", nets["teacher"], nets)
    teacher.load_state_dict(nets["teacher"])
    assert kind == "teacher" and teacher.backbone.widths == TEACHER_WIDTHS
    # a student alone (older callers): its weights still load; the stage widths come from its adapters
    _, alone = network_from_state("student", nets["student"])
    alone.load_state_dict(nets["student"])
    assert alone.teacher_widths[1:5] == TEACHER_WIDTHS[1:5] == student_teacher_widths(nets["student"])[1:5]
    # a teacher that the student was not distilled against is named
    from fgi_core.models import create_model

    other = create_model("teacher", widths=(8, 16, 32, 32, 64, 16), text_dim=8).state_dict()
    with pytest.raises(ValueError, match=r"stage widths \(16, 32, 32, 64\).*\(16, 32, 64, 128\)"):
        student_teacher_widths(nets["student"], {"teacher": other})
    # both load from the checkpoint file and predict
    path = tmp_path / "student" / "checkpoints" / "best.pt"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    image = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    s = load_predictor(path, "student", device="cpu", image_size=32)
    assert s.network.backbone.widths == STUDENT_WIDTHS and s.probability(image).shape == (40, 48)
    t = load_predictor(path, "teacher", device="cpu", image_size=32)
    assert t.network.backbone.widths == TEACHER_WIDTHS and t.kind == "teacher"


# An old-format checkpoint (no model spec) is the point here: its rebuild warns, and that warning is expected.
@pytest.mark.filterwarnings("ignore:.*does not name the model:FutureWarning")
def test_load_inspection_reads_the_widths_from_the_checkpoints(tiny_run, tmp_path):
    """A run whose networks are not the profile's widths (a student not at half) still loads."""
    import shutil

    from fgi_core.config import get_profile
    from fgi_core.data import create_dataset
    from fgi_core.explain import load_text_embeddings

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("notebooks", "baselines", "eval", "interpret"))
    embeddings, _ = load_text_embeddings(run)
    dim = next(iter(embeddings.values())).shape[1]
    for which in ("best", "last"):
        torch.save(_checkpoint(text_dim=dim), run / "student" / "checkpoints" / f"{which}.pt")
    prof = get_profile("quick")
    ds = create_dataset("synthetic", n_images=prof.n_images, size=prof.synthetic_size, seed=0)
    ids = ds.split("val")[:2]
    insp = I.load_inspection(ds, run, prof, ids)
    s = prof.image_size
    assert insp.info["teacher"] == "student/checkpoints/best.pt (after distillation)" and insp.info["fusion"]
    assert insp.teacher.backbone.widths == TEACHER_WIDTHS
    assert all(r.prob["student"].shape == (s, s) and r.prob["teacher"].shape == (s, s) for r in insp)
    assert [m.shape[1:] for m in insp.attention(ids[0])] == [(s // 2 ** k, s // 2 ** k) for k in range(1, 5)]
