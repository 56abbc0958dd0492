"""Shared fixtures: real data (skipped when absent), a fixed real subset, one executed quick run."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# A fixed subset of real Kvasir-SEG images for real-data tests: the first 20 sorted ids of the
# validation split (small enough for the CRF to run in seconds, fixed so numbers are stable).
REAL_SUBSET_SIZE = 20


def pytest_configure(config):
    # Runs made by tests (and by nbval's kernels, which inherit the environment) go to a
    # temporary folder, never into the user's runs/.
    os.environ.setdefault("FGI_RUNS_ROOT", tempfile.mkdtemp(prefix="fgi-test-runs-"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def realdata() -> Path:
    from fgi_core.config import shared_realdata

    root = shared_realdata()
    if root is None or not (root / "kvasir-seg" / "images").is_dir():
        pytest.skip("real data (../shared/realdata) not present")
    return root


@pytest.fixture(scope="session")
def kvasir_subset(realdata):
    """KvasirSEG restricted to the fixed 20-image subset, with the real GazeMedSeg gaze."""
    from fgi_core.data import KvasirSEG, read_split_file

    root = realdata / "kvasir-seg"
    ids = sorted(read_split_file(root / "splits" / "val.txt"))[:REAL_SUBSET_SIZE]
    return KvasirSEG(root, gaze_csv=realdata / "gazemedseg" / "kvasir_fixation.csv", ids=ids)


@pytest.fixture(scope="session")
def quick_run() -> Path:
    """The notebook sequence executed once in the quick profile on synthetic data (shared by tests)."""
    from fgi_core.runner import run_notebooks

    return run_notebooks(profile="quick", dataset="synthetic", seed=0, run_name="shared-quick", progress=False, log=lambda *_: None)
