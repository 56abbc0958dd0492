"""Training data, the loop (resume ends at the same weights), and each method on tiny inputs."""

import numpy as np
import pytest
import torch

from fgi_core.config import fgi_options, get_profile
from fgi_core.data import create_dataset
from fgi_core.explain import run_explain_stage
from fgi_core.gaze import run_gaze_stage
from fgi_core.options import FGIOptions
from fgi_core.train.engine import StaleCheckpointError
from fgi_core.train import (
    BatchSampler,
    TrainConfig,
    baseline_method,
    build_student,
    build_teacher,
    distillation_method,
    fit,
    flip_batch,
    load_training_data,
    teacher_method,
)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """8 synthetic images through stages 1 and 2, loaded at 32 px."""
    run = tmp_path_factory.mktemp("run")
    ds = create_dataset("synthetic", n_images=8, size=(64, 64), seed=3)
    run_gaze_stage(ds, run, refine_method="none", progress=False)
    run_explain_stage(ds, run, progress=False)
    data = load_training_data(ds, run, ds.ids, size=32, ground_truth=True)
    return ds, run, data


def test_training_data_shapes(staged):
    ds, run, data = staged
    n = len(ds.ids)
    assert data.images.shape == (n, 3, 32, 32) and data.images.dtype == torch.float32
    assert data.m_hc.shape == data.m_bc.shape == data.gt.shape == (n, 32, 32)
    assert (data.m_hc <= data.m_bc).all()
    assert data.text.shape[0] == n and data.text.shape[2] == data.text_dim == 384
    assert data.text_mask.any(dim=1).all()
    # ImageNet normalisation: roughly centred
    assert abs(float(data.images.mean())) < 1.5


def test_sampler_is_deterministic_and_covers_an_epoch():
    a, b = BatchSampler(10, 4, seed=1), BatchSampler(10, 4, seed=1)
    first = torch.cat([a.next() for _ in range(5)])  # 20 = two epochs
    assert torch.equal(first, torch.cat([b.next() for _ in range(5)]))
    assert sorted(first[:10].tolist()) == list(range(10))
    state = a.state_dict()
    nxt = a.next()
    a.load_state_dict(state)
    assert torch.equal(a.next(), nxt)


def test_flips_move_image_and_masks_together():
    image = torch.arange(16.0).view(1, 1, 4, 4)
    mask = (image[:, 0] > 7).to(torch.uint8)
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        out = flip_batch({"image": image, "m_bc": mask}, g)
        assert torch.equal((out["image"][:, 0] > 7).to(torch.uint8), out["m_bc"])


def tiny_cfg(**kw):
    base = dict(iterations=6, batch_size=4, val_every=3, ckpt_every=3, log_every=1, amp="off", progress=False, lr=1e-3)
    base.update(kw)
    return TrainConfig(**base)


def test_resume_ends_at_the_same_weights(staged, tmp_path):
    ds, run, data = staged
    profile = get_profile("quick")
    opts = fgi_options(profile)

    def make():
        torch.manual_seed(0)
        teacher = build_teacher(profile, 3, data.text_dim)
        student = build_student(profile, 3)
        return distillation_method(teacher, student, opts)

    whole = make()
    fit(whole, data, data, tmp_path / "whole", tiny_cfg())
    parts = make()
    fit(parts, data, data, tmp_path / "parts", tiny_cfg(), stop_after=4)
    parts2 = make()  # a fresh process would rebuild everything
    summary = fit(parts2, data, data, tmp_path / "parts", tiny_cfg(), resume=True)
    assert summary["complete"]
    for name in ("teacher", "student"):
        for (k, a), (_, b) in zip(whole.networks[name].state_dict().items(), parts2.networks[name].state_dict().items()):
            assert torch.equal(a, b), f"{name}.{k} differs after resume"
    log = (tmp_path / "parts" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + 6  # header + one row per iteration, none duplicated by the resume


def test_a_finished_run_of_a_fixed_schedule_extends_to_the_uninterrupted_weights(staged, tmp_path):
    """A 4-iteration run of a 6-iteration schedule (``lr_horizon=6``), continued to 6, ends at the
    weights of the 6-iteration run: how the 15,000-iteration rows continue the 4,000-iteration ones."""
    ds, run, data = staged
    profile = get_profile("quick")

    def make():
        torch.manual_seed(0)
        return distillation_method(build_teacher(profile, 3, data.text_dim), build_student(profile, 3), fgi_options(profile))

    whole = make()
    fit(whole, data, data, tmp_path / "whole", tiny_cfg(iterations=6, lr_horizon=6, lr=1e-2, collapse="off"))
    first = fit(make(), data, data, tmp_path / "short", tiny_cfg(iterations=4, lr_horizon=6, lr=1e-2, collapse="off"))
    assert first["complete"] and first["iterations_done"] == 4
    longer = make()
    summary = fit(longer, data, data, tmp_path / "short", tiny_cfg(iterations=6, lr_horizon=6, lr=1e-2, collapse="off"), resume=True)
    assert summary["complete"] and summary["iterations_done"] == 6
    for name in ("teacher", "student"):
        for (k, a), (_, b) in zip(whole.networks[name].state_dict().items(), longer.networks[name].state_dict().items()):
            assert torch.equal(a, b), f"{name}.{k} differs after extending the run"
    # without a fixed horizon the cosine would stretch to the new length: refused, not continued
    fit(make(), data, data, tmp_path / "own", tiny_cfg(iterations=4, collapse="off"))
    with pytest.raises(StaleCheckpointError, match="training setting iterations: checkpoint 4, asked 6"):
        fit(make(), data, data, tmp_path / "own", tiny_cfg(iterations=6, collapse="off"), resume=True)


@pytest.mark.parametrize("kind", ["teacher", "distill", "unet_full", "unet_m_hc", "unet_m_bc", "gazemedseg"])
def test_every_method_trains_and_writes_its_folder(staged, tmp_path, kind):
    from fgi_core.models import create_model

    ds, run, data = staged
    profile = get_profile("quick")
    torch.manual_seed(0)
    if kind == "teacher":
        method = teacher_method(build_teacher(profile, 3, data.text_dim), fgi_options(profile))
    elif kind == "distill":
        method = distillation_method(build_teacher(profile, 3, data.text_dim), build_student(profile, 3), fgi_options(profile))
    else:
        net_kind = "gazemedseg" if kind == "gazemedseg" else "unet"
        method = baseline_method(kind, create_model(net_kind, in_channels=3, widths=profile.teacher_widths))
    summary = fit(method, data, data, tmp_path / kind, tiny_cfg(iterations=4, val_every=2, ckpt_every=2))
    assert summary["complete"] and 0.0 <= summary["best_val_dice"] <= 1.0
    for name in ("checkpoints/last.pt", "checkpoints/best.pt", "log.csv", "curves.png", "summary.json"):
        assert (tmp_path / kind / name).is_file(), name
    rows = (tmp_path / kind / "log.csv").read_text().splitlines()
    assert np.isfinite([float(r.split(",")[1]) for r in rows[1:]]).all()


def test_option_checks():
    with pytest.raises(ValueError, match="Did you mean 'pce'"):
        FGIOptions(teacher_loss="pcee")
    with pytest.raises(ValueError, match="student_loss='bce' has no ignore mask"):
        FGIOptions(student_loss="bce", darm_target="ignore")
    with pytest.raises(ValueError, match="Unknown FGI option 'use_afcc'"):
        fgi_options(get_profile("quick"), use_afcc=False)
    paper = fgi_options(get_profile("paper"))
    assert (paper.teacher_loss, paper.student_loss, paper.darm_source, paper.darm_target, paper.teacher_init) == (
        "bce", "bce", "labels", "background", "scratch")  # docs/fidelity.md §2, authors' code


def test_baselines_side_by_side_equal_one_after_the_other(tmp_path, capsys, monkeypatch):
    """train_baselines with 2 forked workers: the same summaries and weights as a sequential
    run on the same thread count, its printed lines replayed in the order asked, and a child's
    CollapseWarning warned again here."""
    import sys
    import warnings

    from test_fidelity import tiny_data

    from fgi_core.models import create_model, student_widths
    from fgi_core.train import load_networks, train_baselines
    from fgi_core.train.engine import CollapseWarning

    if not sys.platform.startswith("linux"):
        pytest.skip("side by side needs fork (Linux)")
    from fgi_core.train import engine

    monkeypatch.setitem(engine.COLLAPSE_RULE, "dice", 1.1)  # every validation "collapses": each child warns
    monkeypatch.setitem(engine.COLLAPSE_RULE, "patience", 2)
    prof = get_profile("quick", teacher_widths=(4, 8, 16, 32, 64, 8), iterations_distill=4, val_every=2, ckpt_every=2)
    data = tiny_data(n=4, size=32, text=False)
    keys = ["m_hc", "gazemedseg", "full"]
    runs, threads = {}, torch.get_num_threads()
    for workers in (1, 2):
        # a worker trains on one thread, as the sequential run here (the second run has 2, and
        # multi-threaded work in this process before the fork must not hang the workers), so
        # that both sum in the same order and must agree exactly
        torch.set_num_threads(workers)
        torch.nn.functional.conv2d(torch.randn(4, 8, 64, 64), torch.randn(8, 8, 3, 3))  # a parallel region before the fork
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                runs[workers] = train_baselines(keys, prof, data, data, tmp_path / f"w{workers}", seed=3, device="cpu",
                                                workers=workers, progress=False, collapse="warn")
        finally:
            torch.set_num_threads(threads)
        runs[workers, "out"] = capsys.readouterr().out
        runs[workers, "warned"] = sorted(str(w.message) for w in caught if issubclass(w.category, CollapseWarning))
    assert list(runs[2]) == keys                                  # in the order asked
    starts = [runs[2, "out"].index(f"{name}: precision") for name in ("unet_m_hc", "gazemedseg", "unet_full")]
    assert starts == sorted(starts)                               # printed lines replayed in that order
    assert len(runs[1, "warned"]) == 3 and runs[2, "warned"] == runs[1, "warned"]  # the children's, warned here
    for key in keys:
        a, b = runs[1][key], runs[2][key]
        assert a["iterations_done"] == b["iterations_done"] == 4
        assert b["best_val_dice"] == a["best_val_dice"]
        weights = []
        for w in (1, 2):
            net = create_model("gazemedseg" if key == "gazemedseg" else "unet", in_channels=3,
                               widths=student_widths(prof.teacher_widths))
            load_networks(tmp_path / f"w{w}" / key, {"network": net}, "last")
            weights.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
        assert torch.equal(weights[0], weights[1]), key


@pytest.mark.parametrize("start_method", ["fork", "spawn"])  # the side-by-side baselines fork; the real-data benchmark spawns
def test_a_worker_ends_when_its_parent_is_gone(tmp_path, start_method):
    """Kill the process that started a training worker (a kernel, the benchmark) and the worker goes
    too: no orphan holding a core."""
    import subprocess
    import sys
    import time

    from conftest import assert_process_ends

    script = tmp_path / "parent.py"
    script.write_text(f"""
import multiprocessing as mp, time
from fgi_core.train.methods import exit_with_parent

def child():
    exit_with_parent(every=0.1)
    open({str(tmp_path / "watching")!r}, "w").close()
    time.sleep(120)

if __name__ == "__main__":
    p = mp.get_context({start_method!r}).Process(target=child)
    p.start()
    print(p.pid, flush=True)
    time.sleep(120)
""")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    for _ in range(600):  # a spawned child imports torch first: seconds on a busy machine
        if (tmp_path / "watching").exists():
            break
        time.sleep(0.1)
    parent.kill()
    parent.wait()
    assert_process_ends(child_pid, "the worker outlived its parent", seconds=10)
