"""Figures (on hand-made inputs) and the run-folder helpers behind the notebooks."""
import json

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from fgi_core import plots
from fgi_core.runs import find_data_root, start_stage


def scene():
    image = np.zeros((40, 50, 3), np.uint8)
    heat = np.zeros((40, 50), np.float32)
    heat[10:30, 15:35] = 1
    mask = heat > 0.5
    points = np.array([[0.5, 0.5, 300.0], [0.4, 0.45, 100.0]])
    maps = {"heatmap": heat, "refined": heat, "m_hc": mask.astype(np.uint8), "m_bc": mask.astype(np.uint8)}
    return image, points, maps, mask


def test_gaze_stage_figure_has_one_panel_per_map(tmp_path):
    image, points, maps, gt = scene()
    fig = plots.plot_gaze_stage(image, points, maps, gt=gt, title="t", scores={"m_hc": 0.5, "m_bc": 0.25})
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 6 and titles[0] == "2 fixations" and titles[-1] == "ground truth"
    assert "Dice 0.50" in titles[3] and "Dice 0.25" in titles[4]
    assert len(plots.plot_gaze_stage(image, points, maps).axes) == 5
    out = plots.save_figure(fig, tmp_path / "sub" / "fig.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "sub").glob("*.tmp"))  # written atomically, no leftovers


def test_quality_bars_show_the_values():
    means = {f"{s}_{l}_{m}": v for s in ("heatmap", "refined") for l in ("hc", "bc")
             for m, v in zip(("dice", "precision", "recall"), (0.1, 0.2, 0.3))}
    fig = plots.plot_mask_quality(means)
    heights = sorted({round(p.get_height(), 6) for p in fig.axes[0].patches})
    assert heights == [0.1, 0.2, 0.3]


def test_gaze_statistics_against_summary_numbers():
    image, points, maps, gt = scene()
    from fgi_core.gaze import KVASIR_GAZE_STATS

    fig = plots.plot_gaze_statistics(KVASIR_GAZE_STATS, {"a": points}, {"a": gt})
    assert [ax.get_title() for ax in fig.axes] == ["fixations per image", "duration (ms)", "fraction inside lesion"]


def test_find_data_root_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("FGI_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("FGI_REALDATA", str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no data folder for dataset 'kvasir'; looked at: .*kvasir-seg.*data_download.sh --only kvasir"):
        find_data_root("kvasir")
    (tmp_path / "kvasir-seg").mkdir()
    assert find_data_root("kvasir") == tmp_path / "kvasir-seg"
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        find_data_root("kvasir", tmp_path / "missing")


def test_start_stage_records_parameters_and_caps_images(tmp_path):
    ctx = start_stage("01_test", profile="quick", dataset="synthetic", run_dir=str(tmp_path / "run"), max_images=5, extra=1)
    assert len(ctx.ids) == 5 and ctx.device in {"cpu", "cuda", "mps"}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["01_test"]["images"] == 5 and config["01_test"]["extra"] == 1
    assert start_stage("01_test", run_dir=str(tmp_path / "run"), max_images=0).ids.__len__() == 24  # 0 = no cap
    env = json.loads((tmp_path / "run" / "env.json").read_text())
    assert env["packages"]["numpy"] == np.__version__


def test_the_gaze_stage_runs_without_importing_torch(tmp_path):
    """Notebook 01's start and its stage never import torch (~3 s a kernel): it records no
    device, and env.json leaves torch's details to the next stage."""
    import subprocess
    import sys

    code = (
        "import sys, json, pathlib\n"
        "from fgi_core import gaze\n"
        "from fgi_core.runs import start_stage\n"
        f"ctx = start_stage('01_gaze_preprocessing', run_dir={str(tmp_path / 'run')!r}, max_images=3)\n"
        "gaze.run_gaze_stage(ctx.dataset, ctx.run_dir, ids=ctx.ids, gaze_csv=ctx.dataset.gaze_csv(ctx.run_dir / 'gaze'), progress=False)\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'device': ctx.device}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"torch": False, "device": None}
    env = json.loads((tmp_path / "run" / "env.json").read_text())
    assert env["device"] is None and env["cpu_capability"] is None and env["packages"]["torch"]
    assert (tmp_path / "run" / "gaze" / "manifest.json").is_file()
    later = start_stage("02_vlm_explanation", run_dir=str(tmp_path / "run"), max_images=3)  # a torch stage fills them in
    env = json.loads((tmp_path / "run" / "env.json").read_text())
    assert env["device"] == later.device and env["cpu_capability"] and "gpus" in env["accelerators"]


def test_atomic_writes_get_the_mode_of_a_plain_open(tmp_path):
    """mkstemp's temporary files are private (0600); a finished file must be readable like any other."""
    import os
    import stat

    from fgi_core.io import atomic_write_text

    old = os.umask(0o022)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        out = atomic_write_text(tmp_path / "atomic.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644
