"""How a network's output becomes a lesion probability: the one rule every consumer uses.

A two-channel network is read the way it was trained (docs/method.md §4, "Reading a network's
output"):

* ``"softmax"``: trained with (partial) cross-entropy over both channels; the lesion
  probability is ``softmax(logits)[:, 1]``.
* ``"sigmoid"``: trained with BCE-with-logits on channel 1 only (the authors' code,
  ``teacher_loss="bce"`` / ``student_loss="bce"``); channel 0 received no gradient from that
  loss and is ignored: the probability is ``sigmoid(logits[:, 1])``. The authors' metric code
  reads these networks exactly so (sigmoid of channel 1, then ``> 0.5``).

A one-channel output (the GazeMedSeg baseline) is always ``sigmoid(logits[:, 0])``.

The activation of each trained network is stored in its checkpoint (``activations``) and in the
stage's ``summary.json``; :func:`fgi_core.predict.load_predictor` reads it back.

Example:
    >>> import torch
    >>> logits = torch.tensor([[[[5.0]], [[0.0]]]])   # 1 x 2 x 1 x 1: channel 0 large
    >>> round(foreground_probability(logits, "softmax").item(), 4)   # softmax: background wins
    0.0067
    >>> foreground_probability(logits, "sigmoid").item()             # sigmoid(0): channel 0 ignored
    0.5
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from fgi_core.losses import ACTIVATIONS, SUPERVISED_LOSSES, supervised_loss
from fgi_core.registry import look_up_option

__all__ = ["foreground_probability", "foreground", "two_class_logits", "activation_for_loss", "stored_activation"]


def activation_for_loss(loss: str) -> str:
    """The activation a network trained with ``loss`` (``pce``, ``ce`` or ``bce``) is read with.

    Recorded with each supervised loss in :data:`fgi_core.losses.SUPERVISED_LOSSES`; one of
    :data:`fgi_core.losses.ACTIVATIONS`.
    """
    return supervised_loss(loss).activation


def _check(logits: torch.Tensor, activation: str) -> None:
    look_up_option(activation, ACTIVATIONS, "activation")
    if not isinstance(logits, torch.Tensor) or logits.ndim != 4 or logits.shape[1] not in (1, 2):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be B x 1 x H x W or B x 2 x H x W, got {shape}")


def foreground_probability(logits: torch.Tensor, activation: str = "softmax") -> torch.Tensor:
    """Lesion probability ``B x H x W`` of ``B x K x H x W`` logits (K = 1 or 2), in float32.

    Args:
        logits: raw network output.
        activation: ``"softmax"`` (over both channels) or ``"sigmoid"`` (of channel 1;
            channel 0 ignored). One-channel logits are read with the sigmoid either way.

    Raises:
        ValueError: not 4-D with 1 or 2 channels; unknown activation.
    """
    _check(logits, activation)
    logits = logits.float()
    if logits.shape[1] == 1:
        return torch.sigmoid(logits[:, 0])
    if activation == "sigmoid":
        return torch.sigmoid(logits[:, 1])
    return torch.softmax(logits, dim=1)[:, 1]


def foreground(logits: torch.Tensor, activation: str = "softmax") -> torch.Tensor:
    """Bool ``B x H x W`` prediction: probability ``> 0.5`` (an exact tie is background, as argmax)."""
    return foreground_probability(logits, activation) > 0.5


def two_class_logits(logits: torch.Tensor, activation: str = "softmax") -> torch.Tensor:
    """Logits whose two-class softmax is the network's own probability ``[1 - p, p]``.

    ``softmax`` outputs are returned unchanged; for ``sigmoid`` (and one-channel outputs) the
    result is ``[0, l_1]``, since ``softmax([0, l]) = [1 - sigmoid(l), sigmoid(l)]``. This lets
    the two-class losses (CWC) read a BCE-trained network the way it was trained, and keeps the
    gradient on channel 1 only.

    Example:
        >>> import torch
        >>> out = two_class_logits(torch.tensor([[[[3.0]], [[1.0]]]]), "sigmoid")
        >>> out.flatten().tolist()
        [0.0, 1.0]
    """
    _check(logits, activation)
    if logits.shape[1] == 2 and activation == "softmax":
        return logits
    lesion = logits[:, -1:]
    return torch.cat([torch.zeros_like(lesion), lesion], dim=1)


def stored_activation(state: dict, name: str, stage_dir: str | Path | None = None) -> str:
    """How network ``name`` of a checkpoint ``state`` is read.

    The checkpoint's ``activations`` entry when it has one (every checkpoint written since it was
    added); else the losses named in the stage's ``summary.json`` (``stage_dir``); else
    ``softmax``, with a warning saying so (checkpoints older than the rule).
    """
    saved = state.get("activations") or {}
    if name in saved:
        return look_up_option(saved[name], ACTIVATIONS, "activation")
    summary = Path(stage_dir) / "summary.json" if stage_dir is not None else None
    if summary is not None and summary.is_file():
        import json

        config = json.loads(summary.read_text()).get("config") or {}
        loss = config.get({"teacher": "teacher_loss", "student": "student_loss"}.get(name, ""))
        if loss in SUPERVISED_LOSSES:
            return activation_for_loss(loss)
    if name in ("teacher", "student"):
        warnings.warn(f"checkpoint without a recorded activation for {name!r}: read with softmax over both channels "
                      "(right for networks trained with pCE / CE, wrong for BCE)", stacklevel=2)
    return "softmax"
