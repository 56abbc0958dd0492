"""Networks: the text-fused teacher, the image-only student, and the baselines (docs/method.md §3, §6).

All are MONAI's 2-D BasicUNet (GroupNorm with 4 groups) with the paper's head (1x1 conv,
LeakyReLU(0.1), 1x1 conv, classifier); inputs are ``B x C x H x W`` with H and W divisible by 16,
at any size. Modules, one idea each:

* :mod:`.backbone` -- the UNet taken apart at its stages, the head, widths and input checks;
* :mod:`.fusion` -- :class:`TextFusion`, cross-attention from a stage's pixels to the text;
* :mod:`.networks` -- :class:`FGITeacher`, :class:`FGIStudent` and their :class:`ProjectionBlock`;
* :mod:`.baselines` -- :class:`PlainUNet`, :class:`GazeMedSegNet`.

One entry point builds any of them by name, :func:`create_model` (tiny widths for tests and the
quick profile; the authors' widths by default), from the registry :data:`MODELS`
(:func:`register_model`, :func:`list_models`; the style of :mod:`fgi_core.registry`). The
network it returns carries ``model_spec = {"kind": ..., "args": {...}}`` (its constructor's
arguments, JSON-able); checkpoints written by :func:`fgi_core.train.fit` store it, and
:func:`fgi_core.predict.load_predictor` rebuilds the network from it (:func:`model_from_spec`).

Example:
    >>> import torch
    >>> from fgi_core.models import create_model, count_parameters
    >>> tiny = (8, 16, 32, 64, 128, 16)
    >>> teacher = create_model("teacher", text_dim=384, widths=tiny)
    >>> student = create_model("student", teacher_widths=tiny)
    >>> image, text = torch.randn(2, 3, 64, 48), torch.randn(2, 12, 384)
    >>> mask = torch.ones(2, 12, dtype=torch.bool)
    >>> t, s = teacher(image, text, mask), student(image)
    >>> tuple(t["logits"].shape), tuple(s["logits"].shape)
    ((2, 2, 64, 48), (2, 2, 64, 48))
    >>> [tuple(f.shape) for f in t["features"]] == [tuple(f.shape) for f in s["features"]]
    True
    >>> count_parameters(create_model("unet", widths=tiny))
    492458
    >>> student.model_spec["kind"], student.model_spec["args"]["teacher_widths"]
    ('student', [8, 16, 32, 64, 128, 16])
"""
from __future__ import annotations

import inspect
import json
from typing import Any, Mapping

import torch.nn as nn

from fgi_core.registry import Registry

from .backbone import STUDENT_WIDTHS, TEACHER_WIDTHS, SegmentationHead, UNetBackbone, check_image, student_widths
from .baselines import GazeMedSegNet, PlainUNet, propagate_features
from .fusion import TextFusion
from .networks import FeatureAdapter, FGIStudent, FGITeacher, ProjectionBlock
from .readout import activation_for_loss, foreground, foreground_probability, stored_activation, two_class_logits

__all__ = [
    "MODELS",
    "register_model",
    "list_models",
    "foreground_probability",
    "foreground",
    "two_class_logits",
    "activation_for_loss",
    "stored_activation",
    "create_model",
    "model_from_spec",
    "count_parameters",
    "FGITeacher",
    "FGIStudent",
    "PlainUNet",
    "GazeMedSegNet",
    "TextFusion",
    "ProjectionBlock",
    "FeatureAdapter",
    "UNetBackbone",
    "SegmentationHead",
    "propagate_features",
    "check_image",
    "student_widths",
    "TEACHER_WIDTHS",
    "STUDENT_WIDTHS",
]

#: Model kinds for :func:`create_model`: kind -> network class.
MODELS: Registry = Registry("model kind")


def register_model(kind: str):
    """Class decorator: make a network constructible by ``create_model(kind, ...)`` (and so
    rebuilt from any checkpoint that :func:`fgi_core.train.fit` writes of it)."""
    return MODELS.register(kind)


def list_models() -> list[str]:
    """The model kinds :func:`create_model` builds."""
    return MODELS.names()


for _kind, _cls in (("teacher", FGITeacher), ("student", FGIStudent), ("unet", PlainUNet), ("gazemedseg", GazeMedSegNet)):
    register_model(_kind)(_cls)
del _kind, _cls


def create_model(kind: str, **kwargs: Any) -> nn.Module:
    """Build a network by name: ``teacher``, ``student``, ``unet`` or ``gazemedseg``.

    ``kwargs`` go to the class (e.g. ``text_dim``, ``widths``, ``teacher_widths``, ``levels``).
    The network gets ``model_spec = {"kind": kind, "args": {...}}``: every constructor
    argument (defaults filled in; tuples as lists), what checkpoints record to rebuild it.

    Raises:
        ValueError: an unknown kind, with the allowed ones and "Did you mean ...".
        TypeError: an argument the class does not take, or one that is not JSON-able.
    """
    cls = MODELS.lookup(kind)
    bound = inspect.signature(cls).bind(**kwargs)
    bound.apply_defaults()
    args = {}
    for name, value in bound.arguments.items():
        how = bound.signature.parameters[name].kind
        if how is not inspect.Parameter.VAR_POSITIONAL:  # (empty: only keywords are passed)
            args.update(value if how is inspect.Parameter.VAR_KEYWORD else {name: value})
    args = {k: _jsonable(v, f"create_model({kind!r}) argument {k!r}") for k, v in args.items()}
    model = cls(**kwargs)
    model.model_spec = {"kind": kind, "args": args}
    return model


def model_from_spec(spec: Mapping[str, Any]) -> nn.Module:
    """The network a ``model_spec`` (``{"kind": ..., "args": {...}}``, as :func:`create_model`
    records it) describes, with fresh weights."""
    return create_model(spec["kind"], **spec["args"])


def _jsonable(value: Any, what: str) -> Any:
    """``value`` with tuples (and arrays) as lists, numpy scalars as numbers; TypeError if not JSON-able."""
    value = value.tolist() if hasattr(value, "tolist") else value  # numpy / torch scalars and arrays
    if isinstance(value, (tuple, list)):
        return [_jsonable(v, what) for v in value]
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} is {type(value).__name__}: model arguments must be JSON-able (numbers, strings, "
                        "lists, dicts) so that checkpoints can record them") from None
    return value


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (only those with ``requires_grad`` if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
