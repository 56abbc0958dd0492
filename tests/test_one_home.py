"""One home for each rule: every score, statistic, boundary rule, registry and width rule is
defined once (docs/design.md §9). The checks read the syntax tree, not the text: a reformatted
copy of the source passes or fails them alike."""
from __future__ import annotations

import ast
import doctest
from pathlib import Path

import numpy as np
import pytest
import torch

import fgi_core

PACKAGE = Path(fgi_core.__file__).parent


def _trees() -> dict[str, ast.Module]:
    """File (relative to fgi_core/) -> its syntax tree."""
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


def _definitions() -> dict[str, list[str]]:
    """function / class name -> the files (relative to fgi_core/) that define it, at any depth."""
    out: dict[str, list[str]] = {}
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.setdefault(node.name, []).append(path)
    return out


def _files_with(match) -> list[str]:
    """The files with a node for which ``match(node)`` is true."""
    return [path for path, tree in _trees().items() if any(match(n) for n in ast.walk(tree))]


def _constant(node: ast.AST, *values) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is not bool and node.value in values


def _call_to(node: ast.AST, name: str) -> bool:
    """``name(...)`` or ``something.name(...)``."""
    return isinstance(node, ast.Call) and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)


@pytest.mark.parametrize("name, home", [
    ("dice", "metrics/overlap.py"),
    ("iou", "metrics/overlap.py"),
    ("precision", "metrics/overlap.py"),
    ("recall", "metrics/overlap.py"),
    ("dice_per_image", "metrics/overlap.py"),
    ("hd95", "metrics/surface.py"),
    ("asd", "metrics/surface.py"),
    ("surface_distances", "metrics/surface.py"),
    ("cc", "metrics/saliency.py"),
    ("nss", "metrics/saliency.py"),
    ("auc", "metrics/saliency.py"),
    ("separation_auc", "metrics/saliency.py"),
    ("summarise", "metrics/statistics.py"),
    ("bootstrap_interval", "metrics/statistics.py"),
    ("paired_bootstrap", "metrics/statistics.py"),
    ("cohen_kappa", "metrics/statistics.py"),
    ("edge_measures", "explain/measures.py"),
    ("boundary_class", "explain/measures.py"),
    ("boundary_measures", "explain/measures.py"),
    ("solidity", "explain/measures.py"),
    ("student_widths", "models/backbone.py"),
    ("darm", "augment.py"),
    ("cutmix_pairs", "augment.py"),
    ("uniform_noise", "augment.py"),
    ("pce_loss", "losses.py"),
    ("list_losses", "losses.py"),
    ("Registry", "registry.py"),
    ("RegistryView", "registry.py"),
    ("register_dataset", "data/base.py"),
    ("list_datasets", "data/base.py"),
    ("get_preset", "data/base.py"),
    ("DatasetPreset", "config.py"),
    ("FGIOptions", "options.py"),
    ("fgi_options", "config.py"),
    ("look_up_option", "registry.py"),
    ("read_split_file", "data/splits.py"),
    ("DescriberExplainer", "explain/describer.py"),
    ("pixel_indices", "gaze/coords.py"),
])
def test_defined_once(name, home):
    assert _definitions().get(name) == [home]


def test_no_private_copies_of_the_shared_rules():
    defs = _definitions()
    for name in ("_dice", "_solidity", "half_widths", "paired_difference", "bootstrap_ci"):  # old copies and aliases, gone
        assert name not in defs, (name, defs.get(name))
    # one place draws bootstrap resamples: rng.integers(0, n, size=(n_boot, n))
    draws = _files_with(lambda n: _call_to(n, "integers") and n.args and _constant(n.args[0], 0)
                        and any(k.arg == "size" and isinstance(k.value, ast.Tuple) for k in n.keywords))
    assert draws == ["metrics/statistics.py"], draws
    # one place computes a Dice ratio on tensors: 2 * inter / ...
    batched = _files_with(lambda n: isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) and isinstance(n.left, ast.BinOp)
                          and isinstance(n.left.op, ast.Mult) and _constant(n.left.left, 2)
                          and getattr(n.left.right, "id", None) == "inter")
    assert batched == ["metrics/overlap.py"], batched
    # the Boundary cut-offs are written in one file: {"irregular_solidity": 0.8, ...}
    cutoffs = _files_with(lambda n: isinstance(n, ast.Dict) and any(_constant(k, "irregular_solidity") and _constant(v, 0.8)
                                                                    for k, v in zip(n.keys, n.values)))
    assert cutoffs == ["explain/measures.py"], cutoffs
    # the loss names are written out as a set in one torch-free file, checked against the registry
    # (tests/test_structure.py); no table maps a loss to its activation outside the registry
    losses = {"pce", "bce", "ce"}
    name_sets = _files_with(lambda n: isinstance(n, (ast.Tuple, ast.List, ast.Set)) and len(n.elts) >= 2
                            and all(_constant(e, *losses) for e in n.elts))
    assert name_sets == ["options.py"], name_sets
    activation_tables = _files_with(lambda n: isinstance(n, ast.Dict) and len(n.keys) >= 2
                                    and all(_constant(k, *losses) for k in n.keys)
                                    and all(_constant(v, "softmax", "sigmoid") for v in n.values))
    assert not activation_tables, activation_tables


def test_the_registries_list_every_backend():
    from fgi_core import losses, models
    from fgi_core.explain import backends, encode

    assert isinstance(models.MODELS, dict) and models.list_models() == ["gazemedseg", "student", "teacher", "unet"]
    assert isinstance(backends.EXPLAINERS, dict) and backends.list_explainers() == ["describer", "jsonl", "transformers"]
    assert "minilm" in encode.ENCODERS and encode.ENCODERS["roberta-base"] == "roberta-base"
    assert "minilm" in encode.list_text_encoders()
    assert losses.list_losses() == ["bce", "ce", "pce"]
    assert losses.list_losses("teacher") == ["bce", "pce"] and losses.list_losses("student") == ["bce", "ce"]
    from fgi_core.data import list_datasets

    assert "synthetic" in list_datasets()


def test_one_bootstrap_convention_everywhere():
    from fgi_core import interpret, metrics

    a, b = np.array([0.9, 0.8, 0.75, 0.6]), np.array([0.7, 0.8, 0.5, 0.65])
    p = metrics.paired_bootstrap(a, b)
    assert p["mean"] == pytest.approx(0.1) and set(p) == {"mean", "low", "high", "n", "wins"}
    # interpret's tables: a - b with student first by default (student minus teacher), the same keys
    import pandas as pd

    frame = pd.DataFrame({"student_x": a, "teacher_x": b})
    c = interpret.compare_sources(frame, ["x"])
    assert c.loc["x", "mean"] == pytest.approx(p["mean"]) and c.loc["x", "low"] == p["low"] and c.loc["x", "high"] == p["high"]
    interval = metrics.bootstrap_interval(a)
    assert interval["std"] == pytest.approx(np.std(a, ddof=1))  # one spread: the sample std
    table = interpret.summary_table(frame)  # the statistics' keys
    assert list(table.columns) == ["n", "mean", "low", "high", "std"]
    assert table.loc["student_x", "low"] == interval["low"]
    assert metrics.DEFAULT_N_BOOT == 10_000


def test_dice_per_image_matches_dice():
    rng = np.random.default_rng(0)
    pred = rng.random((6, 9, 7)) > 0.6
    gt = rng.random((6, 9, 7)) > 0.5
    pred[2] = False
    gt[2] = False
    pred[3] = False
    from fgi_core.metrics import dice, dice_per_image

    batched = dice_per_image(torch.from_numpy(pred), torch.from_numpy(gt)).tolist()
    assert batched == pytest.approx([dice(p, g) for p, g in zip(pred, gt)], abs=1e-6)
    assert batched[2] == 1.0 and batched[3] == 0.0
    with pytest.raises(ValueError, match="does not match"):
        dice_per_image(torch.zeros(2, 3, 3, dtype=torch.bool), torch.zeros(2, 3, 4, dtype=torch.bool))


def test_profile_and_train_config_share_their_settings():
    import dataclasses

    from fgi_core.config import TrainSettings, get_profile
    from fgi_core.train import TrainConfig, train_config

    shared = {f.name for f in dataclasses.fields(TrainSettings)}
    assert shared == {"batch_size", "optimizer", "lr", "lr_min", "weight_decay", "val_every", "ckpt_every", "amp", "lr_schedule", "lr_horizon"}
    assert shared <= {f.name for f in dataclasses.fields(TrainConfig)}
    cpu = get_profile("cpu")
    assert cpu.lr == 1e-2 and cpu.batch_size == 8 and get_profile("paper").optimizer == "sgd"
    cfg = train_config(get_profile("paper"), "teacher")
    assert {k: getattr(cfg, k) for k in shared} == get_profile("paper").train_settings()
    with pytest.raises(ValueError, match="Did you mean 'adamw'"):
        get_profile("quick", optimizer="adamv")


def test_new_homes_run_their_examples():
    from fgi_core import augment, config, options, registry
    from fgi_core.data import base
    from fgi_core.explain import describer, measures
    from fgi_core.metrics import overlap, saliency, statistics
    from fgi_core.models import backbone

    for module in (augment, config, options, registry, base, describer, measures, overlap, saliency, statistics):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted >= 1 and result.failed == 0, module.__name__
    assert backbone.student_widths((8, 16, 32, 64, 128, 16)) == (4, 8, 16, 32, 64, 8)


def test_one_fixation_to_pixel_rule():
    """The heatmap canvas, the saliency map, the gaze statistics and the describer place fixations alike."""
    import numpy as np

    from fgi_core.gaze.coords import pixel_indices, share_inside
    from fgi_core.gaze.heatmap import canvas_indices
    from fgi_core.gaze.stats import fraction_inside
    from fgi_core.metrics.saliency import fixation_map

    x, y = np.array([0.0, 0.5, 0.999, 1.0]), np.array([1.0, 0.25, 0.0, 0.5])
    assert [a.tolist() for a in pixel_indices(x, y, 4, 8)] == [[3, 1, 0, 2], [0, 4, 7, 7]]  # x = 0 is column 0
    assert canvas_indices(np.stack([x, y], 1), canvas=8).tolist() == [[7, 0], [2, 4], [0, 7], [4, 7]]
    points = np.stack([x, y, np.array([100.0, 200.0, 300.0, 400.0])], 1)
    hits = fixation_map(points, 4, 8, weight="count")
    assert hits[3, 0] == hits[1, 4] == hits[0, 7] == hits[2, 7] == 1 and hits.sum() == 4
    mask = np.zeros((4, 8), bool)
    mask[1, 4] = mask[2, 7] = True
    assert fraction_inside(points, mask) == share_inside(points, mask) == 0.5
    assert share_inside(points, mask, weighted=True) == (200 + 400) / 1000
    floors = [p for p in _files_with(lambda n: _call_to(n, "floor"))
              if p in ("gaze/heatmap.py", "gaze/stats.py", "gaze/fixations.py", "metrics/saliency.py", "explain/describer.py")]
    assert not floors, floors  # the rule (a floor of x * width) lives in gaze/coords.py only


# ----------------------------------------------------------------------------------------------
# Datasets: one registry, the presets and data folders registered beside each reader
# ----------------------------------------------------------------------------------------------
def _reader_classes() -> dict[str, list[str]]:
    """Class name -> its ``@register_dataset(...)`` names, for every SegmentationDataset subclass in fgi_core/."""
    out = {}
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == "SegmentationDataset" for b in node.bases):
                out[f"{path}:{node.name}"] = [d.args[0].value for d in node.decorator_list
                                              if isinstance(d, ast.Call) and getattr(d.func, "id", None) == "register_dataset"]
    return out


#: The tables PRESETS and runs.DATA_FOLDERS were before they became views of the registry.
OLD_PRESETS = {
    "kvasir": ("endoscopy", 3, 70 / 768, 0.5, 0.3, "recorded"),
    "isic": ("dermoscopy", 3, 70 / 768, 0.5, 0.3, "simulated"),
    "nci-isbi": ("mri", 1, 50 / 768, 0.4, 0.2, "recorded"),
    "synthetic": ("endoscopy", 3, 70 / 768, 0.5, 0.3, "simulated"),
    "synthetic-endoscopy": ("endoscopy", 3, 70 / 768, 0.5, 0.3, "simulated"),
    "synthetic-mri": ("mri", 1, 50 / 768, 0.4, 0.2, "simulated"),
    "synthetic-dermoscopy": ("dermoscopy", 3, 70 / 768, 0.5, 0.3, "simulated"),
}
OLD_DATA_FOLDERS = {"kvasir": "kvasir-seg", "isic": "isic2018", "nci-isbi": "nci-isbi"}


def test_list_datasets_names_every_reader():
    from fgi_core.data import DATASETS, list_datasets
    from fgi_core.registry import Registry

    readers = _reader_classes()
    assert all(len(names) == 1 for names in readers.values()), readers  # each reader registers itself, once
    assert list_datasets() == sorted(n for names in readers.values() for n in names)
    assert list_datasets() == ["folder", "isic", "kvasir", "nci-isbi", "synthetic"]
    assert isinstance(DATASETS, Registry)
    for where, (name,) in readers.items():
        assert DATASETS[name].reader.__name__ == where.split(":")[1] and DATASETS[name].reader.name == name
    with pytest.raises(ValueError, match="Unknown dataset 'kvasr'.*Did you mean 'kvasir'"):
        DATASETS.lookup("kvasr")


def test_presets_and_data_folders_derive_from_the_registry():
    from fgi_core.config import DatasetPreset
    from fgi_core.data import DATASETS, PRESETS, data_folders, dataset_presets, get_preset, register_dataset
    from fgi_core.registry import RegistryView
    from fgi_core.runs import DATA_FOLDERS

    assert isinstance(PRESETS, RegistryView) and isinstance(DATA_FOLDERS, RegistryView)
    assert PRESETS == dataset_presets() and DATA_FOLDERS == data_folders()
    # equal in content to the tables they replace, in the same order
    assert list(PRESETS) == list(OLD_PRESETS)
    assert {n: (p.modality, p.channels, p.sigma, p.t_hc, p.t_bc, p.gaze) for n, p in PRESETS.items()} == OLD_PRESETS
    assert all(p.name == n for n, p in PRESETS.items())
    assert dict(DATA_FOLDERS) == OLD_DATA_FOLDERS
    # each preset and folder is written beside its reader, nowhere else
    for name, (entry_name, home) in {"kvasir": ("kvasir", "data/kvasir.py"), "isic": ("isic", "data/isic.py"),
                                     "nci-isbi": ("nci-isbi", "data/nci_isbi.py"),
                                     "synthetic-mri": ("synthetic", "data/synthetic.py")}.items():
        assert PRESETS[name] in DATASETS[entry_name].presets
        writes = _files_with(lambda n: _call_to(n, "DatasetPreset") and n.args and _constant(n.args[0], name))
        assert writes == [home], (name, writes)
    for name, folder in OLD_DATA_FOLDERS.items():
        writes = _files_with(lambda n: isinstance(n, ast.keyword) and n.arg == "folder" and _constant(n.value, folder))
        assert writes == [f"data/{name.replace('-', '_')}.py"], (name, writes)
    assert "runs.py" not in _files_with(lambda n: _constant(n, "kvasir-seg"))
    assert "config.py" not in _files_with(lambda n: isinstance(n, ast.BinOp) and _constant(n.left, 70) and _constant(n.right, 768))

    # a new reader: one decorator, and the views see it
    @register_dataset("toy", presets=DatasetPreset("toy", "mri", 1, 0.1, 0.4, 0.2), folder="toy-data")
    class Toy:
        pass

    try:
        assert get_preset("toy").sigma == 0.1 and DATA_FOLDERS["toy"] == "toy-data" and "toy" in PRESETS
        with pytest.raises(ValueError, match="dataset 'toy' is registered twice"):
            register_dataset("toy")(Toy)
        with pytest.raises(ValueError, match="dataset preset 'kvasir' is registered twice"):
            register_dataset("toy2", presets=PRESETS["kvasir"])(Toy)
    finally:
        del DATASETS["toy"]
    assert "toy" not in PRESETS and "toy" not in DATA_FOLDERS and "toy2" not in DATASETS
