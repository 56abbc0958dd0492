"""Fidelity to the method and the authors' code: how outputs are read, the authors' details as
options, the precision choice, stale resumes, the collapse guard and host syncs in the step."""
import math
import warnings

import pytest
import torch

from fgi_core import augment as A
from fgi_core import config
from fgi_core.config import fgi_options, get_profile
from fgi_core.models import create_model, foreground_probability, stored_activation, two_class_logits
from fgi_core.options import DARM_TARGETS, FGIOptions
from fgi_core.train import TrainConfig, TrainingData, baseline_method, build_student, build_teacher, distillation_method, fit
from fgi_core.train.engine import StaleCheckpointError, _schedule, validation_scores

TINY = (4, 8, 16, 32, 64, 8)


def tiny_data(n=4, size=32, seed=0, text=True):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    blob = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2).to(torch.uint8)
    wide = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2).to(torch.uint8)
    return TrainingData(
        ids=[f"i{k}" for k in range(n)], images=torch.randn(n, 3, size, size, generator=g),
        m_hc=blob.expand(n, size, size).clone(), m_bc=wide.expand(n, size, size).clone(), gt=blob.expand(n, size, size).clone(),
        text=torch.randn(n, 6, 16, generator=g) if text else None, text_mask=torch.ones(n, 6, dtype=torch.bool) if text else None,
    )


def tiny_cfg(**kw):
    base = dict(iterations=4, batch_size=2, val_every=2, ckpt_every=2, log_every=1, amp="off", progress=False, lr=1e-3)
    base.update(kw)
    return TrainConfig(**base)


def shift_channel0(net: torch.nn.Module, amount: float) -> None:
    """Add ``amount`` to the background logit (channel 0) of a two-class head."""
    last = [m for m in net.head.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.bias[0] += amount


# ---------------------------------------------------------------------------------------------
# The one reading rule
# ---------------------------------------------------------------------------------------------
def test_foreground_probability_by_hand():
    logits = torch.tensor([[[[5.0]], [[0.0]]]])  # channel 0 large, channel 1 zero
    assert foreground_probability(logits, "sigmoid").item() == 0.5  # sigmoid(0); channel 0 ignored
    assert foreground_probability(logits, "softmax").item() == pytest.approx(1 / (1 + math.exp(5)), rel=1e-6)
    one = torch.tensor([[[[math.log(3)]]]])  # one channel: sigmoid whatever is asked
    assert foreground_probability(one, "softmax").item() == pytest.approx(0.75)
    two = two_class_logits(torch.tensor([[[[7.0]], [[math.log(3)]]]]), "sigmoid")
    assert torch.softmax(two, 1)[0, :, 0, 0].tolist() == pytest.approx([0.25, 0.75])
    with pytest.raises(ValueError, match="Unknown activation 'sigmod'"):
        foreground_probability(logits, "sigmod")
    with pytest.raises(ValueError, match=r"got \(1, 3, 1, 1\)"):
        foreground_probability(torch.zeros(1, 3, 1, 1))


def test_validation_of_a_bce_network_ignores_channel_0():
    data = tiny_data()
    net = create_model("unet", in_channels=3, widths=TINY)
    method = baseline_method("unet_m_bc", net)
    method.activations = {"network": "sigmoid"}
    cfg = tiny_cfg()
    before = validation_scores(method, data, cfg, "cpu")
    shift_channel0(net, 50.0)
    assert validation_scores(method, data, cfg, "cpu") == before
    method.activations = {"network": "softmax"}  # the old rule: channel 0 now decides
    assert validation_scores(method, data, cfg, "cpu")["empty"] == 1.0


def test_a_bce_trained_network_is_saved_and_predicted_with_its_activation(tmp_path):
    from fgi_core.predict import load_predictor

    data = tiny_data()
    profile = get_profile("quick", teacher_widths=TINY)
    opts = FGIOptions(teacher_loss="bce", student_loss="bce", darm_target="background")
    torch.manual_seed(0)
    method = distillation_method(build_teacher(profile, 3, 16), build_student(profile, 3), opts)
    summary = fit(method, data, data, tmp_path / "student", tiny_cfg(iterations=2))
    assert summary["activations"] == {"teacher": "sigmoid", "student": "sigmoid"} and summary["activation"] == "sigmoid"
    predictor = load_predictor(tmp_path / "student", "student", image_size=32)
    assert predictor.activation == "sigmoid"
    image = (torch.rand(40, 48, 3, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8).numpy()
    before = predictor.probability(image)
    shift_channel0(predictor.network, 50.0)
    assert (predictor.probability(image) == before).all()
    # a checkpoint older than the rule: the losses in summary.json decide; without them softmax, with a warning
    state = torch.load(tmp_path / "student" / "checkpoints" / "best.pt", weights_only=False)
    state.pop("activations")
    assert stored_activation(state, "student", tmp_path / "student") == "sigmoid"
    with pytest.warns(UserWarning, match="read with softmax"):
        assert stored_activation(state, "student") == "softmax"


@pytest.mark.parametrize("readout, invariant", [("activation", True), ("softmax", False)])
def test_distillation_loss_of_bce_networks_ignores_channel_0(readout, invariant):
    """DARM's disagreement set, CWC's targets and inputs, and the BCE losses all read channel 1 only."""
    data = tiny_data()
    profile = get_profile("quick", teacher_widths=TINY)
    opts = FGIOptions(teacher_loss="bce", student_loss="bce", darm_target="background", darm_source="predictions",
                      cwc_teacher_target="clean", cwc_readout=readout, rampup_length=0)
    torch.manual_seed(0)
    teacher, student = build_teacher(profile, 3, 16), build_student(profile, 3)
    method = distillation_method(teacher, student, opts)
    batch = data.batch(torch.arange(4))

    def total():
        return method.loss(batch, 10, torch.Generator().manual_seed(3))["total"].item()

    before = total()
    shift_channel0(teacher, 20.0)
    shift_channel0(student, -20.0)
    assert (total() == pytest.approx(before, rel=1e-6)) == invariant


def test_disagreement_reads_each_network_with_its_activation():
    t = torch.tensor([[[[9.0, -9.0]], [[1.0, 1.0]]]])  # channel 1 positive at both pixels
    s = torch.tensor([[[[0.0, 0.0]], [[-1.0, 1.0]]]])
    assert A.disagreement(t, s, "sigmoid", "sigmoid").tolist() == [[[True, False]]]
    assert A.disagreement(t, s).tolist() == [[[False, False]]]  # softmax: both say background at pixel 0


# ---------------------------------------------------------------------------------------------
# The authors' details as options
# ---------------------------------------------------------------------------------------------
def test_darm_targets():
    u = torch.zeros(1, 16, 16, dtype=torch.bool)
    u[0, 4:12, 4:12] = True
    labels = torch.ones(1, 16, 16, dtype=torch.uint8)
    images = torch.ones(1, 3, 16, 16)
    outs = {t: A.darm(images, labels, u, generator=torch.Generator().manual_seed(0), target=t) for t in DARM_TARGETS}
    for target, (masked, lab, block) in outs.items():
        assert block.any() and (masked[:, :, block[0]] == 0).all()
        expected = labels.masked_fill(block, 0) if target == "background" else labels
        assert torch.equal(lab, expected), target
    assert FGIOptions().darm_target == "background"  # the default everywhere
    with pytest.raises(ValueError, match="Unknown darm target 'backgrnd'"):
        A.darm(images, labels, u, target="backgrnd")


def test_darm_batch_budget_is_the_authors_rule():
    """Block areas (clipped) summed over the batch reach int(0.3 |U|) and stop there."""
    g = torch.Generator().manual_seed(0)
    u = torch.rand(4, 64, 64, generator=g) < 0.1
    u[1] = False  # an image without U still takes part in the batch's budget
    masked, lab, block = A.darm(torch.randn(4, 3, 64, 64), torch.ones(4, 64, 64), u, generator=g, target="background",
                                budget="batch")
    goal = int(0.3 * int(u.sum()))
    # the union is at most the summed areas, which overshoot the goal by less than one block (11 x 11)
    assert 0.5 * goal < int(block.sum()) < goal + 121
    assert not block[1].any()  # centres come from U, and blocks stay in their own image
    assert torch.equal(lab, torch.ones(4, 64, 64).masked_fill(block, 0))
    empty = torch.zeros(2, 8, 8, dtype=torch.bool)
    assert not A.darm(torch.randn(2, 3, 8, 8), torch.ones(2, 8, 8), empty, budget="batch")[2].any()


def test_cutmix_pairs_per_sample_boxes_and_pairing():
    x = torch.arange(8.0)[:, None, None, None].expand(8, 1, 32, 32).clone()  # image i is all i
    mixed, targets, box = A.cutmix_pairs(x, x.clone(), generator=torch.Generator().manual_seed(2))
    assert torch.equal(mixed, targets)  # images and targets mixed alike
    assert box.shape == (8, 32, 32) and len({tuple(b.nonzero().min(0).values.tolist()) for b in box if b.any()}) > 1
    for i in range(8):  # inside its box image i shows one other image (its partner), outside itself
        assert (mixed[i, 0][~box[i]] == i).all()
        if box[i].any():
            assert mixed[i, 0][box[i]].unique().numel() == 1


def test_block_and_box_draws_make_no_host_sync(monkeypatch):
    calls = []
    for name in ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k: (calls.append(_n), _o(self, *a, **k))[1])
    x = torch.randn(4, 3, 32, 32)
    A.cutmix_pairs(A.uniform_noise(x, generator=torch.Generator().manual_seed(0)), torch.randn(4, 2, 32, 32),
                   generator=torch.Generator().manual_seed(0))
    assert calls == []


def test_cwc_teacher_target_masked_saves_the_clean_student_pass():
    data = tiny_data()
    profile = get_profile("quick", teacher_widths=TINY)
    counts = {}
    for target in ("masked", "clean"):
        torch.manual_seed(0)
        student = build_student(profile, 3)
        calls = []
        student.register_forward_hook(lambda *a, _c=calls: _c.append(1))
        opts = FGIOptions(darm_source="labels", cwc_teacher_target=target)
        distillation_method(build_teacher(profile, 3, 16), student, opts).loss(data.batch(torch.arange(4)), 5,
                                                                                   torch.Generator().manual_seed(0))
        counts[target] = len(calls)
    assert counts == {"masked": 2, "clean": 3}  # masked image + CWC input; clean adds the clean image


def test_new_options_are_checked_and_the_paper_profile_uses_the_authors_rules():
    for name, bad in (("darm_budget", "batches"), ("cwc_teacher_target", "mask"), ("cwc_mix", "indep"), ("cwc_readout", "soft")):
        with pytest.raises(ValueError, match=f"Unknown {name}"):
            FGIOptions(**{name: bad})
    paper = fgi_options(get_profile("paper"))
    assert (paper.darm_budget, paper.darm_target, paper.cwc_mix, paper.cwc_teacher_target) == ("batch", "background", "independent", "masked")
    assert get_profile("paper").lr_schedule == "epoch" and get_profile("quick").lr_schedule == "iteration"
    assert paper.cwc_readout == "softmax" and fgi_options(get_profile("quick")).cwc_readout == "activation"  # crc_loss reads softmax


def test_the_cpu_profile_is_the_authors_schedule_stopped_at_its_ramp_end():
    """The ramp-up is the method's, in absolute iterations: no real-data profile scales it with its length,
    and each leaves its networks at least 600 iterations with w(t) < 0.05 to leave their empty start."""
    from fgi_core.losses import rampup

    cpu, paper = get_profile("cpu"), get_profile("paper")
    for name in ("optimizer", "lr", "lr_min", "weight_decay", "lr_schedule"):
        assert getattr(cpu, name) == getattr(paper, name), name
    assert cpu.fgi.rampup_length == paper.fgi.rampup_length == 4000
    assert cpu.lr_horizon == paper.iterations_distill == 15000 and cpu.iterations_distill == cpu.fgi.rampup_length
    for profile in (cpu, paper):
        quiet = next(t for t in range(profile.iterations_distill) if rampup(t, fgi_options(profile).rampup_length) > 0.05)
        assert quiet >= 600, profile.name
    # the lr of the cpu run is the authors' 15,000-iteration cosine, stopped part-way (epoch of 10 iterations)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cpu.lr)
    sched = _schedule(opt, TrainConfig(iterations=4000, lr=cpu.lr, lr_min=cpu.lr_min, lr_schedule="epoch", lr_horizon=15000), 10)
    for _ in range(4000):
        opt.step()
        sched.step()
    total = 15000 // 10 + 1
    assert sched.get_last_lr()[0] == pytest.approx(1e-4 + (1e-2 - 1e-4) * 0.5 * (1 + math.cos(math.pi * 400 / total)))


def test_epoch_schedule_steps_once_per_epoch():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = _schedule(opt, TrainConfig(iterations=10, lr=1.0, lr_min=0.0, lr_schedule="epoch"), epoch_length=4)
    rates = []
    for _ in range(10):
        rates.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    total = 10 // 4 + 1  # the authors' epoch count
    expected = [0.5 * (1 + math.cos(math.pi * (k // 4) / total)) for k in range(10)]
    assert rates == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# Precision, stale resumes, collapse, host syncs in the loop
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "off")])
def test_amp_auto_follows_the_cpu(monkeypatch, native, expected):
    monkeypatch.setattr(config, "cpu_has_native_bf16", lambda: native)
    amp, reason = config.resolve_amp("auto", "cpu")
    assert amp == expected and ("has native bf16" in reason) == native
    assert config.resolve_amp("auto", "cuda")[0] == "bf16"
    assert config.resolve_amp("bf16", "cpu")[0] == "bf16"  # an explicit choice is kept
    assert ("20x slower" in config.resolve_amp("bf16", "cpu")[1]) == (not native)
    assert get_profile("paper").amp == "auto" and get_profile("cpu").amp == "off"  # 64 px: bf16 gains ~3 % at best


def test_amp_decision_is_recorded(tmp_path, capsys):
    net = create_model("unet", in_channels=3, widths=TINY)
    summary = fit(baseline_method("unet_full", net), tiny_data(text=False), None, tmp_path / "s", tiny_cfg(iterations=1, amp="auto"))
    assert summary["amp"] in ("bf16", "off") and summary["amp_reason"].startswith("amp=auto")
    assert "precision" in capsys.readouterr().out


def test_resume_with_other_options_is_refused(tmp_path):
    data = tiny_data()
    profile = get_profile("quick", teacher_widths=TINY)

    def method(**kw):
        torch.manual_seed(0)
        return distillation_method(build_teacher(profile, 3, 16), build_student(profile, 3), FGIOptions(**kw))

    fit(method(), data, data, tmp_path / "student", tiny_cfg(iterations=2))
    with pytest.raises(StaleCheckpointError) as err:
        fit(method(use_cwc=False, darm_target="ignore"), data, data, tmp_path / "student", tiny_cfg(iterations=2), resume=True)
    message = str(err.value)
    assert "option use_cwc: checkpoint True, asked False" in message and "option darm_target: checkpoint 'background', asked 'ignore'" in message
    assert "new run" in message and "resume=False" in message
    with pytest.raises(StaleCheckpointError, match="training setting lr: checkpoint 0.001, asked 0.01"):
        fit(method(), data, data, tmp_path / "student", tiny_cfg(iterations=2, lr=1e-2), resume=True)
    fit(method(), data, data, tmp_path / "student", tiny_cfg(iterations=2, progress=True), resume=True)  # same settings: fine


class _Background(torch.nn.Module):
    """A network that predicts background everywhere (a collapsed one)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, image):
        b, _, h, w = image.shape
        logits = torch.stack([torch.ones(b, h, w), -torch.ones(b, h, w)], 1) + 0 * self.w
        return {"logits": logits}


@pytest.mark.parametrize("action", ["warn", "stop"])
def test_collapse_guard(tmp_path, action, capsys):
    net = _Background()
    method = baseline_method("unet_full", create_model("unet", in_channels=3, widths=TINY))
    method.networks = {"network": net}
    method.predict = lambda b: net(b["image"])["logits"]
    method.loss = lambda b, it, g: {"total": (net(b["image"])["logits"] * 0).sum() + net.w.sum() ** 2}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = fit(method, tiny_data(text=False), tiny_data(text=False), tmp_path / action,
                      tiny_cfg(iterations=10, val_every=1, ckpt_every=5, collapse=action))
    alarms = [w for w in caught if "collapsed" in str(w.message)]
    # once, under the library's name (not a caller's file: in a notebook, a kernel's temporary path)
    assert len(alarms) == 1 and alarms[0].filename == "fgi_core.train" and "WARNING" not in capsys.readouterr().out
    # iteration 1 is the grace period (15 % of 10 iterations: every network starts empty); 2, 3, 4 raise it
    assert len(summary["warnings"]) == 1 and "at iteration 4" in summary["warnings"][0]
    if action == "stop":
        assert summary["stopped"] == "collapse at iteration 4" and not summary["complete"] and summary["iterations_done"] == 4
    else:
        assert summary["complete"] and summary["stopped"] is None


def test_training_loop_makes_no_host_sync_between_logs(tmp_path, monkeypatch):
    """Losses are summed on the device; only log rows, validation and checkpoints read them."""
    net = create_model("unet", in_channels=3, widths=TINY)
    method = baseline_method("unet_full", net)
    data = tiny_data(text=False)
    calls = {"n": 0}

    def counting(original):
        def wrapper(self, *args, **kwargs):
            import sys

            caller = sys._getframe(1).f_code.co_filename
            if "fgi_core" in caller:  # our code; torch's optimisers read their CPU step counters
                calls["n"] += 1
            return original(self, *args, **kwargs)
        return wrapper

    for name in ("item", "tolist", "cpu", "numpy", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, counting(getattr(torch.Tensor, name)))
    fit(method, data, None, tmp_path / "a", tiny_cfg(iterations=6, log_every=6, ckpt_every=6))
    few = calls["n"]
    calls["n"] = 0
    fit(method, data, None, tmp_path / "b", tiny_cfg(iterations=12, log_every=12, ckpt_every=12))
    assert calls["n"] == few  # twice the iterations, the same number of reads: none per iteration


def test_collapse_warnings_reach_status_and_report(tmp_path):
    from fgi_core.io import read_json, write_json
    from fgi_core.report import write_report
    from fgi_core.runner import training_warnings

    write_json(tmp_path / "student" / "summary.json", {"warnings": ["stage 'student' collapsed: Dice 0.000 at iteration 30"]})
    write_json(tmp_path / "baselines" / "m_bc" / "summary.json", {"warnings": []})
    alarms = training_warnings(tmp_path)
    assert alarms == ["student: stage 'student' collapsed: Dice 0.000 at iteration 30"]
    write_report(tmp_path, {"state": "complete", "warnings": alarms, "parameters": {}, "sequence": [], "notebooks": {}})
    assert "> - student: stage 'student' collapsed" in (tmp_path / "report.md").read_text()
    assert read_json(tmp_path / "student" / "summary.json")["warnings"]
