"""benchmarks/kvasir_cpu.py's bookkeeping: the plan of rows, training time over resumes, the empty
start, seed-pooled paired differences, the derived tables and the curves figure (no training, no
real data); and the shipped results file's own promises."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("kvasir_cpu", ROOT / "benchmarks" / "kvasir_cpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kvasir_cpu"] = module  # its dataclass resolves its annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def write_log(stage: Path, rows: list[tuple[int, float, float | None]]) -> None:
    stage.mkdir(parents=True, exist_ok=True)
    lines = ["iteration,total,seconds,val_dice"] + [f"{i},0.5,{s},{'' if v is None else v}" for i, s, v in rows]
    (stage / "log.csv").write_text("\n".join(lines) + "\n")


def test_stage_seconds_adds_the_segments_of_a_resumed_log(bench, tmp_path):
    # first sitting ran to 30 s; the resumed one restarted its clock and ran 25 s more
    write_log(tmp_path / "s", [(10, 10.0, None), (20, 30.0, 0.4), (30, 5.0, None), (40, 25.0, 0.5)])
    assert bench.stage_seconds(tmp_path / "s") == 55.0
    write_log(tmp_path / "one", [(10, 12.0, None), (20, 24.0, 0.3)])
    assert bench.stage_seconds(tmp_path / "one") == 24.0
    assert bench.stage_seconds(tmp_path / "missing") is None


def test_a_long_row_starts_from_its_finished_short_row_once(bench, tmp_path):
    import torch

    short, long = tmp_path / "seed0" / "fgi_authors", tmp_path / "seed0" / "fgi_authors-it15000"
    assert not bench.continue_short_row(short, long)  # nothing to continue: trains from scratch
    write_log(short, [(100, 10.0, 0.4), (4000, 400.0, 0.7)])
    (short / "checkpoints").mkdir()
    torch.save({"iteration": 4000}, short / "checkpoints" / "last.pt")
    torch.save({"iteration": 3500}, short / "checkpoints" / "best.pt")
    assert bench.continue_short_row(short, long)
    assert bench.read_last_iteration(long) == 4000 and (long / "checkpoints" / "best.pt").is_file()
    assert (long / "log.csv").read_text() == (short / "log.csv").read_text()
    torch.save({"iteration": 5000}, long / "checkpoints" / "last.pt")  # the long row went on
    assert not bench.continue_short_row(short, long) and bench.read_last_iteration(long) == 5000  # never overwritten


def test_plan_headline_rows_under_every_seed_the_rest_under_the_first(bench):
    tasks = bench.plan([0, 1, 2], long=False, iterations=4000)
    assert len(tasks) == len(bench.SEED0_ORDER) + 2 * len(bench.HEADLINE) == 24
    assert tasks[0] == ("m_bc", 0, 4000)  # the seed-0 headline rows come first
    assert {k for k, s, _ in tasks if s == 2} == set(bench.HEADLINE)
    assert set(bench.SEED0_ORDER) == set(bench.ROWS)
    long = bench.plan([0], long=True, iterations=4000)
    assert long[-2:] == [("fgi_authors", 0, 15000), ("m_bc", 0, 15000)]
    assert bench.row_id("m_bc", 1, 4000) == "m_bc/seed1/it4000"


def test_every_row_names_real_fgi_options(bench):
    from fgi_core.config import PAPER_TEXT_OPTIONS

    for key, row in bench.ROWS.items():
        if row.kind == "fgi":
            bench._fgi_options(row, bench._profile())  # raises on an unknown option or value
    paper = bench._fgi_options(bench.ROWS["fgi_paper"], bench._profile())
    assert {k: getattr(paper, k) for k in PAPER_TEXT_OPTIONS} == PAPER_TEXT_OPTIONS
    assert paper.darm_budget == "image" and paper.cwc_readout == "activation"  # the authors' set's changes are dropped
    authors = bench._fgi_options(bench.ROWS["fgi_authors"], bench._profile())
    assert (authors.teacher_init, authors.student_loss, authors.rampup_length) == ("scratch", "bce", 4000)


def test_the_ramp_leaves_the_empty_start_time(bench):
    # w(t) = exp(-5 (1 - t/T)^2) > 0.05  <=>  t > T (1 - sqrt(ln 20 / 5)); T = 4000 -> 903.8
    assert bench.first_iteration_above(0.05, 4000) == math.ceil(4000 * (1 - math.sqrt(math.log(20) / 5))) == 904
    curve = [[100, 0.0, 1.0, 0.01], [200, 0.1, 0.8, 0.02], [300, 0.5, 0.3, 0.03], [400, 0.6, 0.6, 0.04]]
    assert bench.left_empty_start(curve) == 300
    assert bench.left_empty_start([[100, 0.0, 1.0, 0.01]]) is None


def record(key: str, seed: int, dice: dict[str, float], iterations: int = 4000) -> dict:
    values = list(dice.values())
    stats = {"mean": float(np.mean(values)), "std": 0.1, "undefined": 0}
    return {"key": key, "seed": seed, "iterations": iterations, "per_image": {"dice": dice},
            **{m: stats for m in ("dice", "iou", "hd95", "asd", "precision", "recall")},
            "area_ratio_median": 0.9, "seconds": 60.0, "left_empty_start_at": 300,
            "curve": [[100, 0.1, 0.9, 0.01], [200, 0.4, 0.2, 0.02]]}


def test_paired_differences_are_pooled_over_the_seeds_both_rows_have(bench):
    rows = {
        "a/seed0/it4000": record("fgi_authors", 0, {"x": 0.8, "y": 0.6}),
        "a/seed1/it4000": record("fgi_authors", 1, {"x": 0.6, "y": 0.6}),
        "b/seed0/it4000": record("m_bc", 0, {"x": 0.5, "y": 0.7}),
        "b/seed1/it4000": record("m_bc", 1, {"x": 0.5, "y": 0.5}),
        "c/seed2/it4000": record("m_bc", 2, {"x": 0.0, "y": 0.0}),  # no partner under seed 2: left out
    }
    rows = {bench.row_id(r["key"], r["seed"], r["iterations"]): r for r in rows.values()}
    d = bench.pooled_paired(rows, "fgi_authors", "m_bc", 4000)
    # per image, the mean over seeds 0 and 1: x 0.7 - 0.5 = +0.2, y 0.6 - 0.6 = 0.0 -> mean +0.1
    assert d["seeds"] == [0, 1] and d["n"] == 2 and d["mean"] == pytest.approx(0.1)
    assert bench.pooled_paired(rows, "fgi_authors", "full", 4000) is None
    # seed 1 alone: x 0.6 - 0.5, y 0.6 - 0.5
    only1 = bench.pooled_paired(rows, "fgi_authors", "m_bc", 4000, seeds=[1])
    assert only1["seeds"] == [1] and only1["mean"] == pytest.approx(0.1)
    # one row against itself at another length: 15,000 minus 4,000 over the seeds both lengths have (seed 0)
    rows[bench.row_id("fgi_authors", 0, 15000)] = record("fgi_authors", 0, {"x": 0.9, "y": 0.4}, iterations=15000)
    gain = bench.pooled_paired(rows, "fgi_authors", "fgi_authors", 15000, 4000)
    assert gain["seeds"] == [0] and gain["mean"] == pytest.approx(((0.9 - 0.8) + (0.4 - 0.6)) / 2)


def test_derived_tables_and_figure(bench, tmp_path):
    rows = {}
    for key, seeds in (("m_bc", (0, 1)), ("fgi_authors", (0, 1)), ("fgi_teacher", (0,)), ("full", (0,))):
        for s in seeds:
            rows[bench.row_id(key, s, 4000)] = record(key, s, {"x": 0.5 + 0.1 * s, "y": 0.7})
    rows[bench.row_id("m_bc", 0, 15000)] = record("m_bc", 0, {"x": 0.6, "y": 0.8}, iterations=15000)
    results = {"protocol": {"iterations": 4000, "rampup_length": 4000}, "rows": rows, "seeds_run": [0, 1]}
    bench.save(results, tmp_path / "r.json")
    saved = json.loads((tmp_path / "r.json").read_text())
    m = saved["methods"]
    assert m["m_bc"]["seeds"] == [0, 1] and m["m_bc"]["dice_per_seed"] == pytest.approx([0.6, 0.65])
    assert m["m_bc"]["dice"]["mean"] == pytest.approx(0.625)
    assert m["fgi_student"]["dice"] == m["fgi_authors"]["dice"]  # the profile's option set under the notebooks' name
    assert list(m)[:4] == ["full", "m_bc", "fgi_teacher", "fgi_authors"]  # the README's order
    assert saved["paired_dice"]["fgi_authors - m_bc"]["mean"] == pytest.approx(0.0)
    assert saved["long"]["methods"]["m_bc"]["dice"]["mean"] == pytest.approx(0.7)
    assert saved["long"]["gain_over_short"]["m_bc"]["mean"] == pytest.approx(0.1)  # seed 0: x 0.6 - 0.5, y 0.8 - 0.7
    assert "fgi_authors" not in saved["long"]["gain_over_short"]  # no 15,000-iteration row
    assert saved["wall_seconds_rows"] == 6 * 60.0  # the teacher row shares its student's training
    assert "| UNet on M_bc | 2 | 0.625" in bench.markdown_table(m)
    figure = bench.plot_curves(saved, tmp_path / "curves.png")
    import matplotlib.image as mpimg

    assert figure == tmp_path / "curves.png" and mpimg.imread(figure).shape[1] > 1200  # three panels with the long rows
    assert bench.plot_curves({"rows": {}}, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def test_a_protocol_written_with_only_the_changed_options_is_the_same_protocol(bench):
    full = bench.protocol()
    short = {**full, "fgi": {"teacher_loss": "bce", "student_loss": "bce", "darm_source": "labels", "darm_target": "background",
                             "darm_budget": "batch", "teacher_mode": "joint", "teacher_init": "scratch", "cwc_readout": "softmax"}}
    assert bench.normalise_protocol(short) == full  # the first version's record of the authors' set
    assert bench.normalise_protocol({**short, "fgi": {**short["fgi"], "use_cwc": False}}) != full


def test_results_of_another_protocol_are_not_reused(bench, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"protocol": {"iterations": 2000}, "rows": {"m_bc/seed0/it2000": {}}, "seeds_run": [0]}))
    with pytest.raises(SystemExit, match="another protocol \\(differs in iterations\\).*nothing was overwritten"):
        bench.load_results(path, {"iterations": 4000})
    assert bench.load_results(path, {"iterations": 2000})["rows"] == {"m_bc/seed0/it2000": {}}
    assert bench.load_results(tmp_path / "new.json", {"iterations": 4000})["rows"] == {}


def test_shipped_results_match_this_protocol_and_commit_each_row(bench):
    path = ROOT / "benchmarks" / "results" / "kvasir_cpu.json"
    if not path.is_file():
        pytest.skip("no shipped results yet")
    shipped = json.loads(path.read_text())
    assert bench.normalise_protocol(shipped["protocol"]) == bench.protocol()  # the profile and the shipped table agree
    for rid, r in shipped["rows"].items():
        assert rid == bench.row_id(r["key"], r["seed"], r["iterations"])
        assert r["git_commit"] and len(r["per_image"]["dice"]) == 100


def test_every_shipped_student_leaves_its_empty_start_before_the_consistency_weight_rises(bench):
    """On real data, under every seed shipped: each FGI student (and UNet on M_bc) predicts
    something (validation under 50 % empty) before w(t) first exceeds 0.05, and the collapse
    guard (``COLLAPSE_RULE``, after its grace) would not fire in any FGI student's run."""
    from fgi_core.train.engine import COLLAPSE_RULE

    path = ROOT / "benchmarks" / "results" / "kvasir_cpu.json"
    if not path.is_file():
        pytest.skip("no shipped results yet")
    shipped = json.loads(path.read_text())
    first_weight = bench.first_iteration_above(0.05, shipped["protocol"]["rampup_length"])
    students = {rid: r for rid, r in shipped["rows"].items() if r["key"].startswith("fgi_") and r["key"] not in bench.TEACHER_ROWS}
    assert {r["seed"] for r in students.values() if r["key"] == "fgi_authors"} >= {0}
    for rid, r in {**students, **{k: r for k, r in shipped["rows"].items() if r["key"] == "m_bc"}}.items():
        assert r["left_empty_start_at"] is not None and r["left_empty_start_at"] < first_weight, rid
    for rid, r in students.items():
        after_grace = [(dice, empty) for it, dice, empty, _ in r["curve"] if it >= COLLAPSE_RULE["grace"] * r["iterations"]]
        streak = longest = 0
        for dice, empty in after_grace:
            streak = streak + 1 if dice < COLLAPSE_RULE["dice"] or empty > COLLAPSE_RULE["empty"] else 0
            longest = max(longest, streak)
        assert longest < COLLAPSE_RULE["patience"], f"{rid}: the collapse guard would fire"


def test_readme_and_results_page_show_the_shipped_table(bench):
    """The README's headline table and docs/results.md are the JSON's, generated (rerun
    `python benchmarks/kvasir_cpu.py --report` when rows are added)."""
    path = ROOT / "benchmarks" / "results" / "kvasir_cpu.json"
    if not path.is_file():
        pytest.skip("no shipped results yet")
    shipped = json.loads(path.read_text())
    block = bench.BLOCK_BEGIN + "\n" + bench.markdown_block(shipped) + bench.BLOCK_END
    for page in ("README.md", "docs/results.md"):
        assert block in (ROOT / page).read_text(), f"{page}: its table is not the shipped JSON's; run {bench.BLOCK_BEGIN[5:-4]}"


def test_markdown_blocks_are_replaced_between_their_markers(bench, tmp_path):
    rows = {bench.row_id("m_bc", 0, 4000): record("m_bc", 0, {"x": 0.5, "y": 0.7}),
            bench.row_id("full", 0, 4000): record("full", 0, {"x": 0.7, "y": 0.9})}
    results = {"protocol": {"iterations": 4000, "rampup_length": 4000}, "rows": rows, "seeds_run": [0]}
    results.update(bench.derived(results))
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{bench.BLOCK_BEGIN}\nold table\n{bench.BLOCK_END}\noutro\n")
    assert bench.write_markdown_blocks(results, [page, tmp_path / "none.md"]) == [page]
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{bench.BLOCK_END}\noutro\n") and "old table" not in text
    assert "UNet, ground truth (upper bound) minus UNet on M_bc: **+0.200** [+0.200, +0.200], 1 seed(s): first better" in text
    assert "w(t) first exceeds 0.05 at iteration 904" in text


def test_merge_adds_the_rows_of_another_sitting(bench, tmp_path):
    proto = bench.protocol()
    mine, other = tmp_path / "mine.json", tmp_path / "other.json"
    a, b = record("m_bc", 0, {"x": 0.5, "y": 0.7}), record("m_bc", 0, {"x": 0.6, "y": 0.8}, iterations=15000)
    for r in (a, b):
        r["label"] = "UNet on M_bc"
    mine.write_text(json.dumps({"protocol": proto, "rows": {bench.row_id("m_bc", 0, 4000): a}, "seeds_run": [0]}))
    other.write_text(json.dumps({"protocol": proto, "rows": {bench.row_id("m_bc", 0, 4000): {**a, "dice": {"mean": 0.0}},
                                                            bench.row_id("m_bc", 0, 15000): b}, "seeds_run": [0]}))
    bench.main(["--report", "--results", str(mine), "--merge", str(other)])
    rows = json.loads(mine.read_text())["rows"]
    assert set(rows) == {"m_bc/seed0/it4000", "m_bc/seed0/it15000"}
    assert rows["m_bc/seed0/it4000"]["dice"]["mean"] == a["dice"]["mean"]  # a row present here is kept, not replaced


def test_truth_text_describes_each_true_mask_and_is_made_once(bench, tiny_run, tmp_path):
    """The oracle row's descriptions: the describer measuring the ground truth, read back through
    the jsonl explainer, encoded like notebook 02's; the table's gaze stage is linked, not copied."""
    from fgi_core.cli_eval import open_dataset
    from fgi_core.explain import load_explanations, load_text_embeddings, schema
    from fgi_core.explain.describer import _weighted_centroid
    from fgi_core.io import read_json

    ds = open_dataset("synthetic", None, "quick", 0)
    run_dir = tmp_path / "table"
    run_dir.mkdir()
    (run_dir / "gaze").symlink_to(tiny_run / "gaze", target_is_directory=True)
    ids = read_json(tiny_run / "gaze" / "manifest.json")["ids"][:4]
    folder = bench.truth_text_run(ds, run_dir, ids)
    assert folder == run_dir / bench.TRUTH_TEXT and (folder / "gaze").resolve() == (tiny_run / "gaze").resolve()
    records = load_explanations(folder)
    for image_id in ids:
        truth = np.asarray(ds.mask(image_id), dtype=np.float64)
        fields = records[image_id].fields
        assert records[image_id].backend == "jsonl" and records[image_id].extra["source_model"] == bench.TRUTH_TEXT_MODEL
        assert fields["Area Percentage"] == schema.area_bin(truth.mean())
        assert fields["Location"] == schema.location_cell(*_weighted_centroid(truth))
        assert fields["Confidence"] == "high"  # every map is the truth: all of it inside the region
    _, index = load_text_embeddings(folder)
    assert set(index["images"]) == set(ids)
    made = (folder / "explain" / "manifest.json").stat().st_mtime_ns
    assert bench.truth_text_run(ds, run_dir, ids) == folder  # made once
    assert (folder / "explain" / "manifest.json").stat().st_mtime_ns == made
