"""Checkpoints name their models: ``fit`` stores each network's ``create_model`` kind and
arguments, and ``load_predictor`` rebuilds it from them (every registered kind, tiny widths);
old checkpoints without them still load, with a warning."""
from __future__ import annotations

import copy
import inspect
import json
import warnings

import numpy as np
import pytest
import torch

from fgi_core.models import MODELS, create_model, list_models, model_from_spec
from fgi_core.predict import load_predictor, upgrade_checkpoint
from fgi_core.train.data import TrainingData
from fgi_core.train.engine import Method, TrainConfig, fit

TINY = (4, 8, 8, 16, 16, 4)
TEXT_DIM = 12

#: The smallest arguments of each kind; a kind registered later gets ``widths=TINY`` when it
#: takes ``widths`` (else its defaults).
TINY_ARGS = {
    "teacher": {"widths": TINY, "text_dim": TEXT_DIM},
    "student": {"widths": TINY, "teacher_widths": (8, 8, 16, 16, 32, 8)},
    "unet": {"widths": TINY},
    "gazemedseg": {"widths": TINY, "levels": 2},
}


def tiny_args(kind: str) -> dict:
    takes = inspect.signature(MODELS[kind]).parameters
    return TINY_ARGS.get(kind, {"widths": TINY} if "widths" in takes else {})


def output(net: torch.nn.Module, kind: str, image: torch.Tensor, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = net(image, text, mask) if kind == "teacher" else net(image)
    return out["prediction"] if kind == "gazemedseg" else out["logits"]


def tiny_split(n: int = 2, size: int = 32) -> TrainingData:
    g = torch.Generator().manual_seed(0)
    gt = (torch.rand(n, size, size, generator=g) > 0.5).to(torch.uint8)
    return TrainingData(ids=[f"i{k}" for k in range(n)], images=torch.randn(n, 3, size, size, generator=g), gt=gt,
                        text=torch.randn(n, 5, TEXT_DIM, generator=g), text_mask=torch.ones(n, 5, dtype=torch.bool))


def one_network_method(kind: str, net: torch.nn.Module) -> Method:
    """Train ``net`` on a made-up loss (any kind: the checkpoint is what is tested)."""
    def logits(batch):
        return output(net, kind, batch["image"], batch["text"], batch["text_mask"])

    def loss(batch, iteration, generator):
        return {"total": logits(batch).float().square().mean()}

    return Method(name=kind, networks={"network": net}, trainable=["network"], loss=loss, predict=logits,
                  needs=("image", "text"), activations={"network": "softmax"}, validated="network")


def test_every_kind_is_covered():
    assert set(list_models()) >= {"teacher", "student", "unet", "gazemedseg"}


@pytest.mark.parametrize("kind", list_models())
def test_create_model_records_its_spec(kind):
    net = create_model(kind, **tiny_args(kind))
    spec = net.model_spec
    assert spec["kind"] == kind and json.loads(json.dumps(spec)) == spec  # JSON-able, tuples as lists
    assert set(spec["args"]) == set(inspect.signature(MODELS[kind]).parameters)  # defaults filled in
    assert model_from_spec(spec).state_dict().keys() == net.state_dict().keys()


@pytest.mark.parametrize("kind", list_models())
def test_fit_checkpoints_round_trip_through_load_predictor(kind, tmp_path):
    torch.manual_seed(0)
    net = create_model(kind, **tiny_args(kind))
    cfg = TrainConfig(iterations=2, batch_size=2, val_every=1, ckpt_every=1, log_every=1, amp="off", progress=False,
                      lr=1e-3, device="cpu", optimizer="adamw")
    data = tiny_split()
    fit(one_network_method(kind, net), data, data, tmp_path / kind, cfg)
    net.eval()
    image, text, mask = data.images, data.text, data.text_mask
    with torch.no_grad():
        expected = output(net, kind, image, text, mask)
    for which in ("best", "last"):
        state = torch.load(tmp_path / kind / "checkpoints" / f"{which}.pt", map_location="cpu", weights_only=False)
        assert state["models"] == {"network": net.model_spec}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no guessing, no warning
            predictor = load_predictor(tmp_path / kind, "network", which, device="cpu", image_size=32)
        assert predictor.kind == kind and type(predictor.network) is type(net)
        reference = copy.deepcopy(net)  # the trained network with this checkpoint's weights
        reference.load_state_dict(state["networks"]["network"])
        with torch.no_grad():
            got = output(predictor.network, kind, image, text, mask)
            want = expected if which == "last" else output(reference, kind, image, text, mask)
        assert torch.equal(got, want)


def test_resume_is_exact_with_specs(tmp_path):
    def run(out, stop_after=None, resume=False):
        torch.manual_seed(0)
        net = create_model("unet", in_channels=3, widths=TINY)
        cfg = TrainConfig(iterations=4, batch_size=2, val_every=2, ckpt_every=1, log_every=1, amp="off", progress=False,
                          lr=1e-2, device="cpu", optimizer="sgd")
        fit(one_network_method("unet", net), tiny_split(4), tiny_split(2), out, cfg, resume=resume, stop_after=stop_after)
        return net

    whole = run(tmp_path / "whole")
    run(tmp_path / "parts", stop_after=2)
    resumed = run(tmp_path / "parts", resume=True)
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_old_checkpoint_loads_by_its_shapes_with_a_warning(tmp_path):
    """A checkpoint without ``models`` (written before them) is rebuilt from its weights' shapes,
    with a one-line warning; ``upgrade_checkpoint`` adds the entry and the warning goes."""
    torch.manual_seed(0)
    teacher = create_model("teacher", in_channels=3, widths=TINY, text_dim=TEXT_DIM).eval()
    student = create_model("student", in_channels=3, widths=TINY, teacher_widths=TINY).eval()
    path = tmp_path / "student" / "checkpoints" / "best.pt"
    path.parent.mkdir(parents=True)
    torch.save({"iteration": 1, "networks": {"teacher": teacher.state_dict(), "student": student.state_dict()},
                "activations": {"teacher": "softmax", "student": "softmax"}}, path)
    image = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    with pytest.warns(FutureWarning, match=r"does not name the model of 'student'.*retrain it, or re-save it") as seen:
        old = load_predictor(path, "student", device="cpu", image_size=32)
    [warning] = [w for w in seen if issubclass(w.category, FutureWarning)]
    assert "\n" not in str(warning.message)
    assert old.kind == "student" and old.network.backbone.widths == TINY

    specs = upgrade_checkpoint(path)
    assert specs == {"teacher": teacher.model_spec, "student": student.model_spec}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = load_predictor(path, "student", device="cpu", image_size=32)
        t = load_predictor(path, "teacher", device="cpu", image_size=32)
    assert np.array_equal(new.probability(image), old.probability(image))
    assert t.kind == "teacher" and t.network.text_dim == TEXT_DIM
