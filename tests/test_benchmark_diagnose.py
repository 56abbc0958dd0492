"""benchmarks/kvasir_diagnose.py's bookkeeping: loss windows read from a log, DARM's relabelled
share on hand-made masks (no training, no real data)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def diagnose():
    spec = importlib.util.spec_from_file_location("kvasir_diagnose", ROOT / "benchmarks" / "kvasir_diagnose.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kvasir_diagnose"] = module
    spec.loader.exec_module(module)
    return module


def test_loss_windows_average_the_500_iterations_up_to_each_end(diagnose, tmp_path):
    its = list(range(10, 2010, 10))
    lines = ["iteration,student,teacher,cwc,afc,rampup"] + [
        f"{i},{1.0 if i <= 1500 else 0.5},0.2,{0.1 if i <= 1500 else 0.3},0.9,{i / 2000}" for i in its]
    (tmp_path / "log.csv").write_text("\n".join(lines) + "\n")
    windows = diagnose.loss_windows(tmp_path)
    assert set(windows) == {"1000", "2000"}  # 4,000 and later not reached
    w = windows["2000"]  # iterations 1510..2000: student 0.5, cwc 0.3, rampup mean (1510 + 2000) / 2 / 2000
    assert w["student"] == pytest.approx(0.5) and w["cwc"] == pytest.approx(0.3)
    assert w["rampup"] == pytest.approx((1510 + 2000) / 2 / 2000)
    assert w["weighted_cwc_over_student"] == pytest.approx(w["rampup"] * 0.3 / 0.5)
    assert windows["1000"]["student"] == pytest.approx(1.0)
    (tmp_path / "log.csv").write_text("\n".join(lines).replace(",cwc,", ",other,") + "\n")
    assert "weighted_cwc_over_student" not in diagnose.loss_windows(tmp_path)["2000"]  # no CWC column: no ratio


def test_darm_relabels_pixels_near_the_band_and_counts_them(diagnose):
    n, s = 16, 64
    m_bc = torch.zeros(n, s, s, dtype=torch.uint8)
    m_bc[:, 8:56, 8:56] = 1
    m_hc = torch.zeros_like(m_bc)
    m_hc[:, 14:50, 14:50] = 1  # the band is 6 px wide
    gt = torch.zeros_like(m_bc)
    gt[:, 20:44, 20:44] = 1  # farther than 5 px (half the largest block) from the band: no block reaches it
    images = torch.randn(n, 3, s, s)

    class Data:
        def __len__(self):
            return n

        def batch(self, idx):
            return {"image": images[idx], "m_hc": m_hc[idx], "m_bc": m_bc[idx]}

    data = Data()
    data.gt = gt
    opts = SimpleNamespace(darm_ratio=0.3, darm_target="background", darm_budget="batch")
    d = diagnose.darm_effect(data, opts, passes=2, batch_size=8)
    band_share = (48 * 48 - 36 * 36) / (48 * 48)  # the band's share of M_bc's lesion
    # the band's relabelled pixels are part of all relabelled ones; a block also covers M_hc beside the band
    assert d["m_bc_lesion_relabelled"] > d["band_relabelled"] * band_share
    assert 0.05 < d["band_relabelled"] < 0.3  # block areas summed to 30 % of U, overlaps counted twice
    assert d["relabelled_inside_truth"] == 0.0
