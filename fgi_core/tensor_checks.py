"""Input checks shared by the losses (:mod:`fgi_core.losses`) and the perturbations
(:mod:`fgi_core.augment`): tensors, logits, masks, each failure naming the shapes involved.

Conventions (docs/design.md §7): logits are ``B x C x H x W``; masks ``B x H x W`` of any dtype,
bool and integer masks counting non-zero as 1 (so a 0/255 mask works), floating masks counting
``> 0.5`` as 1.
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["shape_of", "check_tensor", "check_logits", "check_mask", "binary_mask"]


def shape_of(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_tensor(t, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")


def check_logits(logits: torch.Tensor, name: str = "logits", channels: Sequence[int] | None = (2,)) -> None:
    """``logits`` must be ``B x C x H x W`` with ``C`` in ``channels`` (``None``: any ``C >= 2``)."""
    check_tensor(logits, name)
    if logits.ndim != 4:
        raise ValueError(f"{name} must be B x C x H x W, got shape {shape_of(logits)}")
    c = logits.shape[1]
    if channels is None:
        if c < 2:
            raise ValueError(f"{name} must have at least 2 class channels, got shape {shape_of(logits)}")
    elif c not in channels:
        want = " or ".join(str(k) for k in channels)
        raise ValueError(f"{name} must have {want} channels (B x C x H x W), got shape {shape_of(logits)}")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {logits.dtype}")


def check_mask(mask: torch.Tensor, name: str, ref: torch.Tensor, ref_name: str) -> None:
    """``mask`` must be ``B x H x W`` matching the batch and spatial size of ``ref`` (B x C x H x W)."""
    check_tensor(mask, name)
    expected = (ref.shape[0], *ref.shape[2:])
    if shape_of(mask) != expected:
        raise ValueError(
            f"{name} of shape {shape_of(mask)} does not match {ref_name} of shape {shape_of(ref)}: "
            f"expected {name} of shape B x H x W = {expected}"
        )


def binary_mask(mask: torch.Tensor) -> torch.Tensor:
    """A bool view of a mask: non-zero for bool / integer masks, ``> 0.5`` for floating ones."""
    if mask.dtype == torch.bool:
        return mask
    if mask.is_floating_point():
        return mask > 0.5
    return mask != 0
