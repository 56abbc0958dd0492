"""benchmarks/record_cpu_run.py: what a finished ``fgi run`` folder becomes in cpu_run.json."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recorder():
    spec = importlib.util.spec_from_file_location("record_cpu_run", ROOT / "benchmarks" / "record_cpu_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ci(mean, low, high):
    return {"n": 100, "mean": mean, "low": low, "high": high}


def links():
    """A notebook-06 summary with the keys the table reads."""
    gaze = {net: {"cc": ci(0.7, 0.6, 0.8), "nss": ci(1.9, 1.7, 2.1), "auc_pred": ci(0.9, 0.88, 0.94)} for net in ("teacher", "student")}
    description = {net: {"location_match": ci(0.73, 0.64, 0.82), "area_match": ci(0.5, 0.4, 0.6),
                         "boundary_match": ci(0.06, 0.02, 0.11)} for net in ("teacher", "student")}
    kappa = {net: {"Location": 0.6, "Area Percentage": 0.17, "Boundary": 0.02} for net in ("teacher", "student")}
    paired = {m: ci(-0.031, -0.112, 0.051) for m in ("cc", "nss", "auc_pred", "location_match", "area_match", "boundary_match")}
    return {"gaze": gaze, "description": description, "kappa": kappa, "teacher_vs_student": paired,
            "dice_gt": {"teacher": ci(0.66, 0.61, 0.71), "student": ci(0.72, 0.67, 0.77)}, "images": 100, "other": 1}


def write_run(folder: Path, state: str = "complete") -> Path:
    (folder / "teacher").mkdir(parents=True)
    (folder / "interpret").mkdir()
    notebooks = {"01_gaze.ipynb": {"seconds": 60.0, "started": "2026-12-07T09:00:00+00:00", "finished": "2026-12-07T09:01:00+00:00"},
                 "02_text.ipynb": {"seconds": 120.0, "started": "2026-12-07T09:01:00+00:00", "finished": "2026-12-07T09:04:00+00:00"}}
    (folder / "status.json").write_text(json.dumps({"state": state, "profile": "cpu", "dataset": "kvasir", "notebooks": notebooks}))
    (folder / "env.json").write_text(json.dumps({"cpu_count": 2, "git_commit": "abc", "threads": {"reason": "1 thread"}}))
    (folder / "teacher" / "summary.json").write_text(json.dumps({"best_val_dice": 0.66, "best_iteration": 2000,
                                                                 "iterations_done": 2000, "seconds_per_iteration": 0.2}))
    (folder / "interpret" / "summary.json").write_text(json.dumps(links()))
    (folder / "interpret" / "per_image.csv").write_text("id,teacher_cc\na,0.7\nb,0.8\n")
    (folder / "explain").mkdir()
    spans = {"a": {"length": 10, "token_spans": {"Location": [1, 3], "Remarks": [3, 10]}},   # 0.2, 0.7
             "b": {"length": 20, "token_spans": {"Location": [1, 3], "Remarks": [3, 20]}},   # 0.1, 0.85
             "c": {"length": 5, "token_spans": {"Location": [0, 5]}}}                        # not measured
    (folder / "explain" / "embeddings_index.json").write_text(json.dumps({"images": spans}))
    for name, seconds in (("m_bc", 240.0), ("gazemedseg", 600.0)):
        (folder / "baselines" / name).mkdir(parents=True)
        (folder / "baselines" / name / "summary.json").write_text(json.dumps({"seconds": seconds}))
    (folder / "baselines" / "alongside.log").write_text("")
    return folder


def test_a_finished_run_is_recorded_with_its_times_and_numbers(recorder, tmp_path):
    result = recorder.record(write_run(tmp_path / "run"), note="idle")
    assert result["notebook_seconds"] == {"01": 60.0, "02": 120.0}
    assert result["wall_minutes"] == 4.0  # 09:00 to 09:04, the gap between notebooks included
    assert result["metrics"]["teacher_s_per_it"] == 0.2 and result["metrics"]["teacher_val_dice"] == 0.66
    assert result["baselines_alongside"] is True and result["baselines_training_minutes"] == 14.0  # (240 + 600) s
    assert result["note"] == "idle" and result["cores"] == 2
    assert result["interpret"]["token_share"] == {"Location": 0.15, "Remarks": 0.775}  # images a and b only
    assert "other" not in result["interpret"] and result["interpret"]["images"] == 100


def test_an_unfinished_run_is_refused(recorder, tmp_path):
    with pytest.raises(SystemExit, match=r"state 'running'; record a run whose six notebooks finished$"):
        recorder.record(write_run(tmp_path / "run", state="running"), note="")


def test_the_interpretability_table_signs_the_paired_column(recorder):
    lines = recorder.interpret_table(links())
    assert lines[0].startswith("| link | FGI teacher")
    location = next(line for line in lines if line.startswith("| described Location"))
    assert location == ("| described Location = predicted region's grid cell | 0.73 [0.64, 0.82], kappa 0.60 "
                        "| 0.73 [0.64, 0.82], kappa 0.60 | -0.03 [-0.11, +0.05] |")
    assert lines[-1] == "| Dice vs ground truth (training size) | 0.66 [0.61, 0.71] | 0.72 [0.67, 0.77] | |"
