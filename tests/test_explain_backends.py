"""Explainer backends: the describer's measurements, JSONL import, a tiny local VLM, the registry."""
import dataclasses
import json

import cv2
import numpy as np
import pytest

from fgi_core.explain.backends import JsonlExplainer, VLMUnavailableError, create_explainer
from fgi_core.explain.describer import DESCRIBER_MODEL, DescriberExplainer
from fgi_core.explain.records import ExplainItem, Explanation
from fgi_core.explain.schema import FIELDS


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def disc(h, w, cx, cy, r):
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def item_for(image, region, points=None, modality="endoscopy", m_bc=None, item_id="x"):
    """An ExplainItem whose gaze maps are ``region`` (refined = 1 inside, 0 outside)."""
    refined = region.astype(np.float32)
    return ExplainItem(
        id=item_id,
        image=image,
        modality=modality,
        points=points,
        heatmap=refined.copy(),
        refined=refined,
        m_hc=region.astype(np.uint8),
        m_bc=(region if m_bc is None else m_bc).astype(np.uint8),
    )


def points_in(region, n=20, seed=0, duration=300.0):
    h, w = region.shape
    ys, xs = np.nonzero(region)
    k = np.random.default_rng(seed).integers(0, len(ys), n)
    return np.column_stack([(xs[k] + 0.5) / w, (ys[k] + 0.5) / h, np.full(n, duration)])


def disc_image(blur=0.0, size=128, r=25):
    mask = disc(size, size, size / 2, size / 2, r)
    grey = np.where(mask, 200.0, 60.0).astype(np.float32)
    if blur:
        grey = cv2.GaussianBlur(grey, (0, 0), blur)
    image = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return image, mask


# ----------------------------------------------------------------------------------------------
# describer
# ----------------------------------------------------------------------------------------------
def test_describer_location_area_and_stand_in_label():
    h, w = 96, 96
    image = np.full((h, w, 3), (190, 100, 90), np.uint8)
    lesion = disc(h, w, 18, 20, 11)
    image[lesion] = (150, 50, 50)  # a reddish blob in the upper-left
    m_bc = np.zeros((h, w), bool)
    m_bc[: int(0.2 * h * w) // w] = True  # a band covering 20 % of the image
    assert abs(m_bc.mean() - 0.2) < 0.01
    item = item_for(image, lesion, points_in(lesion), m_bc=m_bc)
    [rec] = create_explainer("describer").explain([item])
    assert isinstance(rec, Explanation) and rec.status == "ok", rec.reason
    assert rec.fields["Location"] == "upper-left"
    assert rec.fields["Area Percentage"] == "15-30%"
    assert list(rec.fields) == list(FIELDS)
    assert json.loads(rec.raw_text) == rec.fields  # written as the JSON a model would give
    # it says it is a stand-in, everywhere a reader looks
    assert rec.backend == "describer" and rec.model == DESCRIBER_MODEL and "not a VLM" in rec.model
    assert "stand-in" in rec.extra["note"].lower()
    assert "not a VLM" in rec.fields["Remarks"]
    assert rec.extra["measurements"]["centroid"][0] < 1 / 3
    json.dumps(rec.to_dict())  # JSON-serialisable as stored
    assert "stand-in" in create_explainer("describer").describe()["note"].lower()


def test_describer_location_without_points_uses_the_refined_map():
    h, w = 90, 120
    image = np.full((h, w, 3), 120, np.uint8)
    lesion = disc(h, w, 100, 75, 10)  # lower-right
    [rec] = DescriberExplainer().explain([item_for(image, lesion, points=None)])
    assert rec.status == "ok" and rec.fields["Location"] == "lower-right"
    assert rec.extra["measurements"]["location_source"] == "refined-map centroid"


def test_describer_boundary_sharp_vs_blurred():
    d = DescriberExplainer()
    sharp_image, mask = disc_image(blur=0.0)
    blurred_image, _ = disc_image(blur=10.0)
    pts = points_in(mask)
    [sharp] = d.explain([item_for(sharp_image, mask, pts, modality="mri")])
    [blurred] = d.explain([item_for(blurred_image, mask, pts, modality="mri")])
    assert sharp.fields["Boundary"] == "well-defined", sharp.extra["measurements"]
    assert blurred.fields["Boundary"] == "ill-defined", blurred.extra["measurements"]
    assert sharp.fields["Characteristics"] == "hyperintense region"  # bright disc on a dark field


def test_describer_irregular_contour():
    h = w = 128
    star = np.zeros((h, w), np.uint8)
    angles = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    radii = np.where(np.arange(10) % 2 == 0, 50, 15)
    poly = np.stack([64 + radii * np.cos(angles), 64 + radii * np.sin(angles)], axis=1).astype(np.int32)
    cv2.fillPoly(star, [poly], 1)
    image = np.where(star[..., None] > 0, 200, 60).astype(np.uint8).repeat(3, axis=2)
    [rec] = DescriberExplainer().explain([item_for(image, star > 0, points_in(star > 0))])
    assert rec.fields["Boundary"] == "irregular"


def test_describer_confidence_follows_gaze_concentration():
    image, mask = disc_image()
    inside = points_in(mask, n=25)
    rng = np.random.default_rng(1)
    scattered = np.column_stack([rng.uniform(0, 1, 25), rng.uniform(0, 1, 25), np.full(25, 300.0)])
    d = DescriberExplainer()
    [a] = d.explain([item_for(image, mask, inside)])
    [b] = d.explain([item_for(image, mask, scattered)])
    rank = {"low": 0, "medium": 1, "high": 2}
    assert a.fields["Confidence"] == "high"
    assert rank[a.fields["Confidence"]] > rank[b.fields["Confidence"]]
    assert a.extra["measurements"]["gaze_inside"] > b.extra["measurements"]["gaze_inside"]


def test_describer_without_gaze_maps_is_invalid_not_invented():
    [rec] = DescriberExplainer().explain([ExplainItem(id="a", image=np.zeros((32, 32, 3), np.uint8), modality="endoscopy")])
    assert rec.status == "invalid" and rec.fields is None and "gaze" in rec.reason


def test_explain_item_carries_no_ground_truth():
    names = {f.name for f in dataclasses.fields(ExplainItem)}
    suspicious = {n for n in names if any(k in n.lower() for k in ("mask", "gt", "label", "truth", "target"))}
    assert suspicious == set(), suspicious
    assert {"m_hc", "m_bc"} <= names  # the pseudo-masks from gaze are the only masks


def test_describer_never_reads_ground_truth(monkeypatch):
    from fgi_core.data import SyntheticDataset, create_dataset
    from fgi_core.gaze import gaze_maps_for, simulate

    for flavour in ("endoscopy", "mri", "dermoscopy"):
        ds = create_dataset("synthetic", n_images=3, size=(64, 80), flavour=flavour)
        # stage-1 inputs are made first: simulated gaze needs the mask (as in the real pipeline)
        points = {i: simulate(ds.mask(i), k) for k, i in enumerate(ds.ids)}

        def forbidden(self, image_id):
            raise AssertionError(f"ground truth of {image_id} was read by an explainer")

        with monkeypatch.context() as mp:
            mp.setattr(SyntheticDataset, "mask", forbidden)
            items = []
            for i in ds.ids:
                image = ds.image_rgb(i)
                maps = gaze_maps_for(image, points[i], ds.preset, "none")
                items.append(ExplainItem(id=i, image=image, modality=ds.modality, points=points[i], simulated_gaze=True, **maps))
            records = create_explainer("describer").explain(items)
        assert [r.id for r in records] == ds.ids
        assert all(r.status == "ok" for r in records), [r.reason for r in records]
        assert all(r.extra["simulated_gaze"] for r in records)


# ----------------------------------------------------------------------------------------------
# jsonl
# ----------------------------------------------------------------------------------------------
GOOD = {"Location": "center", "Boundary": "well-defined", "Characteristics": "sessile polyp",
        "Area Percentage": "15-30%", "Confidence": "high", "Remarks": "Imported description."}


def blank_items(ids, modality="endoscopy"):
    return [ExplainItem(id=i, image=np.zeros((8, 8, 3), np.uint8), modality=modality) for i in ids]


def test_jsonl_both_forms_missing_and_extra_ids(tmp_path):
    path = tmp_path / "gpt4o.jsonl"
    lines = [
        {"id": "a", "text": "```json\n" + json.dumps(GOOD) + "\n```", "model": "gpt-4o"},
        {"id": "b", "fields": {**GOOD, "Location": "top left", "Area Percentage": "20%"}},
        {"id": "c", "fields": GOOD},
        {"id": "extra", "text": json.dumps(GOOD)},
    ]
    path.write_text("\n".join(json.dumps(l) for l in lines) + "\n\n")
    ex = create_explainer("jsonl", path=str(path))
    records = ex.explain(blank_items(["a", "b", "c", "missing"]))
    assert [r.id for r in records] == ["a", "b", "c", "missing"]
    a, b, c, missing = records
    assert a.status == "repaired" and "code fence" in a.reason and a.fields == GOOD
    assert a.extra["source_model"] == "gpt-4o" and a.raw_text.startswith("```json")
    assert b.status == "repaired" and b.fields["Location"] == "upper-left" and b.fields["Area Percentage"] == "15-30%"
    assert c.status == "ok" and c.fields == GOOD and json.loads(c.raw_text) == GOOD
    assert missing.status == "invalid" and missing.fields is None
    assert missing.reason == f"no description for this id in {path.resolve()}"
    assert all(r.backend == "jsonl" for r in records)
    assert ex.report["missing"] == ["missing"]
    assert ex.report["unrequested"] == ["extra"]
    assert ex.report["found"] == 3 and ex.report["skipped_lines"] == []
    cov = ex.coverage(["a", "extra", "zzz"])
    assert cov["missing"] == ["zzz"] and cov["unrequested"] == ["b", "c"]
    assert ex.describe()["descriptions"] == 4


def test_jsonl_malformed_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"id": "a", "fields": GOOD}) + "\n" + '{"id": "b", "text": \n' + json.dumps({"text": "no id"}) + "\n")
    with pytest.raises(ValueError, match=r"d\.jsonl line 2: not valid JSON"):
        JsonlExplainer(path, strict=True)
    ex = JsonlExplainer(path)  # lenient: skipped and reported
    assert [s["line"] for s in ex.report["skipped_lines"]] == [2, 3]
    assert "id" in ex.report["skipped_lines"][1]["error"]
    [rec] = ex.explain(blank_items(["a"]))
    assert rec.status == "ok"
    with pytest.raises(FileNotFoundError):
        JsonlExplainer(tmp_path / "nope.jsonl")


# ----------------------------------------------------------------------------------------------
# transformers, with a tiny random VLM built locally
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    from tiny_models import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"))


@pytest.fixture()
def one_thread():
    """Tiny matrices: with several threads on a busy machine each op waits for the others
    (8 ms per 32-wide linear layer seen on 2 busy cores vs 0.01 ms on one)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_items(n=3):
    rng = np.random.default_rng(0)
    return [ExplainItem(id=f"img{k}", image=rng.integers(0, 256, (40 + 4 * k, 48, 3), dtype=np.uint8), modality=m)
            for k, m in zip(range(n), ("endoscopy", "mri", "dermoscopy"))]


def test_transformers_backend_with_a_tiny_local_vlm(tiny_vlm, one_thread):
    ex = create_explainer("transformers", model=str(tiny_vlm), max_new_tokens=12, batch_size=2, device="cpu")
    assert ex.device == "cpu" and str(ex.torch_dtype) == "torch.float32"
    records = ex.explain(small_items())
    assert [r.id for r in records] == ["img0", "img1", "img2"]
    for r in records:
        assert r.status == "invalid" and r.fields is None and r.reason  # nonsense text, no exception
        assert isinstance(r.raw_text, str) and r.attempts == 1
        assert r.backend == "transformers" and r.model == str(tiny_vlm)
    again = ex.explain(small_items())
    assert [r.raw_text for r in again] == [r.raw_text for r in records]  # greedy: deterministic
    desc = ex.describe()
    assert desc["model_class"] == "LlavaForConditionalGeneration" and desc["retries"] == 0

    retry = create_explainer("transformers", model=str(tiny_vlm), max_new_tokens=12, batch_size=2, device="cpu", retries=1)
    records = retry.explain(small_items())
    assert all(r.status == "invalid" and r.attempts == 2 for r in records)
    assert all(len(r.extra["previous_outputs"]) == 1 and r.extra["generation"]["do_sample"] for r in records)


def test_transformers_backend_says_how_to_get_a_missing_model(tmp_path):
    with pytest.raises(VLMUnavailableError, match="hf download"):
        create_explainer("transformers", model="no-such-org/no-such-vlm-xyz")
    with pytest.raises(VLMUnavailableError, match="not found"):
        create_explainer("transformers", model=str(tmp_path / "absent"))


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------
def test_unknown_explainer_name():
    with pytest.raises(ValueError, match="Did you mean 'describer'"):
        create_explainer("describr")
