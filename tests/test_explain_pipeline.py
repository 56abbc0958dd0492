"""run_explain_stage: outputs, reuse, resume after a crash, invalid-output policies, no ground truth."""
import json

import numpy as np
import pytest

from fgi_core.data import SyntheticDataset, create_dataset
from fgi_core.explain import FIELDS, load_explanations, load_text_embeddings, run_explain_stage
from fgi_core.gaze import run_gaze_stage


@pytest.fixture()
def staged(tmp_path):
    """4 synthetic images with stage 1 done (no refinement, for speed)."""
    ds = create_dataset("synthetic", n_images=4, size=(64, 80), seed=2)
    run_gaze_stage(ds, tmp_path, refine_method="none", progress=False)
    return ds, tmp_path


def test_outputs_and_reuse(staged):
    ds, run = staged
    res = run_explain_stage(ds, run, batch_size=3, progress=False)
    assert res.reused == {"explanations": 0, "embeddings": 0}
    assert res.manifest["status_counts"] == {"ok": 4, "repaired": 0, "invalid": 0}
    lines = (run / "explain" / "explanations.jsonl").read_text().splitlines()
    assert [json.loads(l)["id"] for l in lines] == ds.ids  # one line per image, in order
    arrays, index = load_text_embeddings(run)
    assert set(arrays) == set(ds.ids)
    for i in ds.ids:
        assert arrays[i].shape == (index["images"][i]["length"], res.manifest["dim"])
        spans = index["images"][i]["token_spans"]
        assert set(spans) == set(FIELDS)
        assert all(0 < a < b <= arrays[i].shape[0] for a, b in spans.values())
    again = run_explain_stage(ds, run, progress=False)
    assert again.reused == {"explanations": 4, "embeddings": 4}
    np.testing.assert_array_equal(load_text_embeddings(run)[0][ds.ids[0]], arrays[ds.ids[0]])


def test_an_interrupted_run_resumes(staged, monkeypatch):
    ds, run = staged
    from fgi_core.explain.describer import DescriberExplainer

    real = DescriberExplainer.explain
    calls = {"n": 0}

    def crash_on_second_batch(self, items):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated crash")
        return real(self, items)

    monkeypatch.setattr(DescriberExplainer, "explain", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run_explain_stage(ds, run, batch_size=2, progress=False)
    assert len(load_explanations(run)) == 2  # the first batch survived
    assert not (run / "explain" / "manifest.json").exists()  # not marked complete
    monkeypatch.setattr(DescriberExplainer, "explain", real)
    res = run_explain_stage(ds, run, batch_size=2, progress=False)
    assert res.reused["explanations"] == 2 and len(res.explanations) == 4


def test_no_ground_truth_reaches_the_explainer(staged, monkeypatch):
    ds, run = staged

    def forbidden(self, image_id):
        raise AssertionError(f"ground truth of {image_id} was read during the explain stage")

    monkeypatch.setattr(SyntheticDataset, "mask", forbidden)
    res = run_explain_stage(ds, run, progress=False)
    assert res.manifest["status_counts"]["ok"] == 4


def write_jsonl(path, ids, bad):
    good = {"Location": "center", "Boundary": "well-defined", "Characteristics": "sessile polyp",
            "Area Percentage": "15-30%", "Confidence": "high", "Remarks": "imported"}
    with open(path, "w") as f:
        for i in ids:
            f.write(json.dumps({"id": i, "text": "ĠcatĠ<unk> }{" if i == bad else json.dumps(good)}) + "\n")


@pytest.mark.parametrize("policy", ["keep", "fallback", "fail"])
def test_invalid_output_policies(staged, policy, tmp_path):
    ds, run = staged
    bad = ds.ids[1]
    write_jsonl(tmp_path / "d.jsonl", ds.ids, bad)
    kwargs = dict(explainer="jsonl", explainer_kwargs={"path": str(tmp_path / "d.jsonl")}, on_invalid=policy, progress=False)
    if policy == "fail":
        with pytest.raises(RuntimeError, match=f"1 of 4 explanations are invalid.*{bad}"):
            run_explain_stage(ds, run, **kwargs)
        return
    res = run_explain_stage(ds, run, **kwargs)
    e = res.explanations[bad]
    if policy == "keep":
        assert e.status == "invalid" and e.fields is None and "cat" in e.raw_text
        arrays, index = load_text_embeddings(run)
        assert index["images"][bad]["token_spans"] == {}  # empty text: special tokens only
        assert arrays[bad].shape[0] <= 2
    else:
        assert e.backend == "describer" and e.fields is not None
        assert e.extra["replaced"]["status"] == "invalid"
    assert res.explanations[ds.ids[0]].fields["Remarks"] == "imported"


def test_missing_stage_one_names_the_notebook(tmp_path):
    ds = create_dataset("synthetic", n_images=2, size=(64, 64))
    with pytest.raises(FileNotFoundError, match="01_gaze_preprocessing"):
        run_explain_stage(ds, tmp_path, progress=False)
