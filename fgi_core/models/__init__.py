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
(:func:`register_model`, :func:`list_models`; the style of :mod:`fgi_core.registry`).

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
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from fgi_core.registry import Registry

from .backbone import STUDENT_WIDTHS, TEACHER_WIDTHS, SegmentationHead, UNetBackbone, check_image, half_widths, student_widths
from .baselines import GazeMedSegNet, PlainUNet, propagate_features
from .fusion import TextFusion
from .networks import FeatureAdapter, FGIStudent, FGITeacher, ProjectionBlock
from .readout import ACTIVATIONS, activation_for_loss, foreground, foreground_probability, stored_activation, two_class_logits

__all__ = [
    "MODELS",
    "register_model",
    "list_models",
    "ACTIVATIONS",
    "foreground_probability",
    "foreground",
    "two_class_logits",
    "activation_for_loss",
    "stored_activation",
    "create_model",
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
    "half_widths",
    "TEACHER_WIDTHS",
    "STUDENT_WIDTHS",
]

#: Model kinds for :func:`create_model`: kind -> network class.
MODELS: Registry = Registry("model kind")


def register_model(kind: str):
    """Class decorator: make a network constructible by ``create_model(kind, ...)``.

    A network that :func:`fgi_core.predict.network_from_state` must rebuild from a checkpoint
    needs a rule there too.
    """
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

    Raises:
        ValueError: an unknown kind, with the allowed ones and "Did you mean ...".
        TypeError: an argument the class does not take.
    """
    return MODELS.lookup(kind)(**kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (only those with ``requires_grad`` if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
