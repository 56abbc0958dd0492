"""The notebooks in the quick profile on each real dataset kind, given a data root.

Each dataset is a small fixture in its official on-disk layout with synthetic content
(tests/official_layouts.py): Kvasir-SEG and NCI-ISBI with a GazeMedSeg-format fixation CSV,
ISIC prepared by ``prepare_isic`` (splits + simulated gaze), NCI-ISBI prepared from DICOM
series + NRRD volumes by ``prepare_nci_isbi``. Only ``dataset`` and ``data_root`` change
between the runs, as for a user.

What depends on the dataset is its reader and its gaze (notebook 01), its modality's vocabulary
(02) and the training data read from it (03: channels, normalisation, splits, masks). Kvasir-SEG
and ISIC run 01-03; from 04 on the code only sees tensors and the run folder, and for RGB images
the shared synthetic quick run (``quick_run``) runs 04-06 already. NCI-ISBI, single-channel MRI
(the one kind the synthetic run does not cover), runs the whole sequence 01-06.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from official_layouts import make_isic_root, make_kvasir_root, make_nci_root

ALL = ("01", "02", "03", "04", "05", "06")
DATASET_PART = ("01", "02", "03")  # reader, gaze, vocabulary, training data: what differs per dataset
NAMES = {"01": "01_gaze_preprocessing", "02": "02_vlm_explanation", "03": "03_teacher_training",
         "04": "04_distillation", "05": "05_evaluation", "06": "06_interpretability"}


def _fixture(kind: str, tmp: Path) -> Path:
    if kind == "kvasir":
        return make_kvasir_root(tmp / "kvasir-seg")
    if kind == "isic":
        from fgi_core.data import prepare_isic

        root = make_isic_root(tmp / "isic2018")
        prepare_isic(root, val_fraction=0.2, log=lambda *_: None)
        return root
    pytest.importorskip("pydicom")
    pytest.importorskip("nrrd")
    return make_nci_root(tmp / "nci-isbi")


@pytest.mark.slow
@pytest.mark.parametrize("kind, modality, simulated, notebooks", [
    ("kvasir", "endoscopy", False, DATASET_PART),
    ("isic", "dermoscopy", True, DATASET_PART),
    ("nci-isbi", "mri", False, ALL),
], ids=["kvasir-01-03", "isic-01-03", "nci-isbi-01-06"])
def test_quick_notebooks_run_on_each_dataset(kind, modality, simulated, notebooks, tmp_path, request):
    from conftest import terminal_log

    from fgi_core.runner import run_notebooks

    root = _fixture(kind, tmp_path)
    log = terminal_log(request.config, f"{kind} fixture")
    run = run_notebooks(profile="quick", dataset=kind, seed=0, run_name=f"fixture-{kind}", select=notebooks,
                        parameters={"data_root": str(root)}, progress=False, log=log)
    log(None)
    config = json.loads((run / "config.json").read_text())
    assert config["01_gaze_preprocessing"]["dataset"] == kind
    assert config["01_gaze_preprocessing"]["data_root"] == str(root)
    params = json.loads((run / "gaze" / "params.json").read_text())
    assert params["dataset"] == kind and params["modality"] == modality and params["simulated"] is simulated
    quality = json.loads((run / "gaze" / "quality.json").read_text())
    assert quality["images"] == 24 and quality["images_scored"] == 24 and quality["simulated"] is simulated
    explain = json.loads((run / "explain" / "manifest.json").read_text())
    assert explain["simulated_gaze"] is simulated
    for stage in ("teacher", "student")[: 2 if "04" in notebooks else 1]:
        summary = json.loads((run / stage / "summary.json").read_text())
        assert summary["complete"], stage
    # every notebook's own assert cells ran (they end with "checks passed")
    import nbformat

    for name in (NAMES[k] for k in notebooks):
        nb = nbformat.read(run / "notebooks" / f"{name}.ipynb", as_version=4)
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        assert "checks passed" in text, name


@pytest.mark.slow
def test_distillation_notebook_runs_with_both_networks_from_scratch(request):
    """The `cpu` and `paper` profiles train teacher and student from scratch (the authors' code):
    notebook 04's teaching cells then meet a teacher that is confident nowhere. The quick profile
    with ``teacher_init="scratch"`` takes that path in a minute."""
    import nbformat
    from conftest import terminal_log

    from fgi_core.runner import run_notebooks

    log = terminal_log(request.config, "scratch teacher")
    run = run_notebooks(profile="quick", dataset="synthetic", seed=0, run_name="quick-scratch-teacher", select=("04",),
                        parameters={"teacher_init": "scratch"}, progress=False, log=log)
    log(None)
    assert json.loads((run / "student" / "summary.json").read_text())["config"]["teacher_init"] == "scratch"
    nb = nbformat.read(run / "notebooks" / "04_distillation.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "the teacher is confident (p >= 0.8) on 0 of" in text  # the untrained teacher's case, reached
    assert "checks passed" in text
