"""Notebooks 01-04 in the quick profile on each real dataset kind, given a data root.

Each dataset is a small fixture in its official on-disk layout with synthetic content
(tests/official_layouts.py): Kvasir-SEG and NCI-ISBI with a GazeMedSeg-format fixation CSV,
ISIC prepared by ``prepare_isic`` (splits + simulated gaze), NCI-ISBI prepared from DICOM
series + NRRD volumes by ``prepare_nci_isbi``. Only ``dataset`` and ``data_root`` change
between the runs, as for a user.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from official_layouts import make_isic_root, make_kvasir_root, make_nci_root

NOTEBOOKS = ("01", "02", "03", "04", "05", "06")


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
@pytest.mark.parametrize("kind, modality, simulated", [
    ("kvasir", "endoscopy", False),
    ("isic", "dermoscopy", True),
    ("nci-isbi", "mri", False),
])
def test_quick_notebooks_run_on_each_dataset(kind, modality, simulated, tmp_path):
    from fgi_core.runner import run_notebooks

    root = _fixture(kind, tmp_path)
    run = run_notebooks(profile="quick", dataset=kind, seed=0, run_name=f"fixture-{kind}", select=NOTEBOOKS,
                        parameters={"data_root": str(root)}, progress=False, log=lambda *_: None)
    config = json.loads((run / "config.json").read_text())
    assert config["01_gaze_preprocessing"]["dataset"] == kind
    assert config["01_gaze_preprocessing"]["data_root"] == str(root)
    params = json.loads((run / "gaze" / "params.json").read_text())
    assert params["dataset"] == kind and params["modality"] == modality and params["simulated"] is simulated
    quality = json.loads((run / "gaze" / "quality.json").read_text())
    assert quality["images"] == 24 and quality["images_scored"] == 24 and quality["simulated"] is simulated
    explain = json.loads((run / "explain" / "manifest.json").read_text())
    assert explain["simulated_gaze"] is simulated
    for stage in ("teacher", "student"):
        summary = json.loads((run / stage / "summary.json").read_text())
        assert summary["complete"], stage
    # every notebook's own assert cells ran (they end with "checks passed")
    import nbformat

    for name in ("01_gaze_preprocessing", "02_vlm_explanation", "03_teacher_training", "04_distillation", "05_evaluation", "06_interpretability"):
        nb = nbformat.read(run / "notebooks" / f"{name}.ipynb", as_version=4)
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        assert "checks passed" in text, name
