"""Shared fixtures: real data (skipped when absent), a fixed real subset, one executed quick run."""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# A fixed subset of real Kvasir-SEG images for real-data tests: the first 20 sorted ids of the
# validation split (small enough for the CRF to run in seconds, fixed so numbers are stable).
REAL_SUBSET_SIZE = 20

# The runs folder this session made (removed at its end), or None when FGI_RUNS_ROOT was given.
_CREATED_RUNS_ROOT: str | None = None


def pytest_configure(config):
    # Runs made by tests (and by nbval's kernels, which inherit the environment) go to a
    # temporary folder, never into the user's runs/.
    global _CREATED_RUNS_ROOT
    if not os.environ.get("FGI_RUNS_ROOT"):
        _CREATED_RUNS_ROOT = tempfile.mkdtemp(prefix="fgi-test-runs-")
        os.environ["FGI_RUNS_ROOT"] = _CREATED_RUNS_ROOT
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_unconfigure(config):
    # The session's runs (a few hundred MB after the notebook tests) go with it; a runs folder
    # given in FGI_RUNS_ROOT is the caller's and stays. FGI_KEEP_TEST_RUNS=1 keeps ours too.
    global _CREATED_RUNS_ROOT
    if _CREATED_RUNS_ROOT is None:
        return
    if os.environ.get("FGI_KEEP_TEST_RUNS", "").strip() not in ("", "0"):
        print(f"test runs kept in {_CREATED_RUNS_ROOT}", file=sys.__stderr__)
    else:
        shutil.rmtree(_CREATED_RUNS_ROOT, ignore_errors=True)
    if os.environ.get("FGI_RUNS_ROOT") == _CREATED_RUNS_ROOT:
        del os.environ["FGI_RUNS_ROOT"]
    _CREATED_RUNS_ROOT = None


def assert_process_ends(pid: int, why: str, seconds: float = 20.0) -> None:
    """Fail with ``why`` unless process ``pid`` is gone within ``seconds`` (then kill it)."""
    import signal
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    pytest.fail(why)


def terminal_log(config, label: str):
    """A ``log`` for :func:`fgi_core.runner.run_notebooks` that shows one line per notebook on the
    terminal while tests run (past pytest's output capture): ``label [k/n] name ... 12.3 s``."""
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")

    def write(text: str) -> None:
        if capture is not None:
            with capture.global_and_fixture_disabled():
                _write(text)
        else:
            _write(text)

    def _write(text: str) -> None:
        if reporter is not None:
            reporter.write(text, flush=True)
        else:
            sys.__stderr__.write(text)
            sys.__stderr__.flush()

    def log(message) -> None:
        if message is None:  # the end: back to a fresh line for pytest's own output
            write("\n")
            return
        text = str(message)
        started = re.match(r"\[(\d+)/(\d+)\] (\S+)", text)
        finished = re.search(r"done in ([\d.]+ s)", text)
        if started:
            write(f"\n{label} {started.group(0)} ...")
        elif finished:
            write(f" {finished.group(1)}")

    return log


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
def quick_run(request) -> Path:
    """The notebook sequence executed once in the quick profile on synthetic data (shared by tests).

    It takes minutes: each notebook shows one line on the terminal as it runs.
    """
    from fgi_core.runner import run_notebooks

    log = terminal_log(request.config, "quick_run (shared quick run, once per session)")
    run = run_notebooks(profile="quick", dataset="synthetic", seed=0, run_name="shared-quick", progress=False, log=log)
    log(None)
    return run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A complete run folder made in-process in seconds, for unit tests of what reads a run
    (evaluation, prediction, inspection): the quick profile's synthetic data, the gaze stage
    without the CRF, the offline descriptions, and the teacher, the student and the four
    baselines trained for 4 iterations each. No notebook runs; ``quick_run`` is the real thing.
    """
    from fgi_core.explain import run_explain_stage
    from fgi_core.gaze import run_gaze_stage
    from fgi_core.runs import start_stage
    from fgi_core.train.stages import STAGES, train_stages

    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    ctx = start_stage("01_gaze_preprocessing", profile="quick", dataset="synthetic", run_dir=str(run_dir), device="cpu")
    ds = ctx.dataset
    run_gaze_stage(ds, ctx.run_dir, ids=ctx.ids, gaze_csv=ds.gaze_csv(ctx.run_dir / "gaze"), refine_method="none", progress=False)
    run_explain_stage(ds, ctx.run_dir, progress=False)
    train_stages(STAGES, profile="quick", dataset="synthetic", run_dir=ctx.run_dir, device="cpu", iterations=4,
                 progress=False, log=lambda *_: None)
    return ctx.run_dir
