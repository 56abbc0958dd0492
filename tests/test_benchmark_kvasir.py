"""benchmarks/kvasir_cpu.py's bookkeeping: training time over resumes, the benchmark's targets, the
validation-curves figure (no training, no real data)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("kvasir_cpu", ROOT / "benchmarks" / "kvasir_cpu.py")
    module = importlib.util.module_from_spec(spec)
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


def dice(mean: float) -> dict:
    return {"dice": {"mean": mean, "std": 0.1}}


def test_student_targets_hand_computed(bench):
    methods = {"full": dice(0.70), "m_hc": dice(0.55), "m_bc": dice(0.60), "gazemedseg": dice(0.58), "fgi_student": dice(0.66)}
    paired = {"fgi_student - m_bc": {"mean": 0.06, "low": 0.02, "high": 0.10}}
    t = bench.student_targets(methods, paired)
    assert t["best_gaze_baseline"] == "m_bc"
    assert t["gap_closed"] == pytest.approx(0.6)  # (0.66 - 0.60) / (0.70 - 0.60)
    assert t["student_over_full"] == pytest.approx(0.66 / 0.70)
    assert t["paired_ci_above_zero"] and t["met"]
    # the same means with an interval touching zero: not met
    assert not bench.student_targets(methods, {"fgi_student - m_bc": {"mean": 0.06, "low": 0.0, "high": 0.1}})["met"]
    # closing 40 % of the gap is not enough
    assert not bench.student_targets({**methods, "fgi_student": dice(0.64)}, paired)["met"]
    # the real shortfall: below the best gaze baseline gives a negative share
    low = bench.student_targets({**methods, "fgi_student": dice(0.55)}, {"fgi_student - m_bc": {"mean": -0.05, "low": -0.09, "high": -0.01}})
    assert low["gap_closed"] == pytest.approx(-0.5) and not low["met"]
    assert bench.student_targets({"full": dice(0.7), "fgi_student": dice(0.6)}, {}) == {}


def test_plot_curves_draws_every_method_with_a_log(bench, tmp_path):
    import matplotlib.image as mpimg

    write_log(tmp_path / "baselines" / "m_bc", [(100, 1.0, 0.3), (200, 2.0, 0.5)])
    write_log(tmp_path / "student", [(100, 1.0, 0.2), (200, 2.0, 0.4)])
    write_log(tmp_path / "teacher", [(100, 1.0, 0.4), (200, 2.0, 0.6)])
    write_log(tmp_path / "ablations" / "fgi_no_cwc" / "student", [(100, 1.0, 0.25), (200, 2.0, 0.45)])
    results = {"n_val": 3, "methods": {"m_bc": {"stage": "baselines/m_bc"}, "fgi_teacher": {"stage": "student"},
                                       "fgi_student": {"stage": "student"},
                                       "fgi_no_cwc": {"stage": "ablations/fgi_no_cwc/student"},
                                       "fgi_no_afc": {"stage": "ablations/fgi_no_afc/student"}}}  # no log: left out
    path = bench.plot_curves(results, tmp_path, tmp_path / "curves.png")
    assert path == tmp_path / "curves.png" and mpimg.imread(path).shape[1] > 800
    assert bench.plot_curves({"methods": {"fgi_no_afc": {"stage": "nowhere"}}}, tmp_path, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_every_variant_names_real_fgi_options(bench):
    from fgi_core.config import get_profile
    from fgi_core.train import fgi_options

    profile = get_profile("cpu")
    for key, (overrides, _) in bench.FGI_VARIANTS.items():
        fgi_options(profile, **overrides)  # raises on an unknown option or value
    assert set(bench.ABLATIONS + bench.EXPLORATORY) <= set(bench.FGI_VARIANTS)
    assert set(bench.VARIANT_LABELS) == set(bench.FGI_VARIANTS) - {"fgi"}
