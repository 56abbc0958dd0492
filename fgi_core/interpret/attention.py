"""The teacher's cross-attention over the text tokens, and how its maps line up with the rest.

At each of the four encoder stages s = 1..4 (``S / 2^s`` on a side), every pixel's attention
weights over the text tokens sum to 1 over the real tokens (mean over heads; docs/method.md
§3.2). A token's map is its weight at every pixel; a field's map is the sum over the field's
tokens (the share of the pixel's attention that goes to the field; token spans come from the
explanation cache, ``explain/embeddings_index.json``).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..metrics.saliency import cc

__all__ = ["ATTENTION_STAGES", "teacher_attention", "token_map", "field_map", "attention_rows"]

#: The teacher's fusion stages, as numbered in the attention maps and tables.
ATTENTION_STAGES = (1, 2, 3, 4)


def _as_tensor(value):
    """A float or bool array / tensor as a torch tensor (tensors are returned as they are)."""
    import torch

    return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))


def teacher_attention(teacher, image, text, text_mask=None) -> list[np.ndarray]:
    """The teacher's attention over the text tokens at each encoder stage, for ONE image.

    Args:
        teacher: an :class:`~fgi_core.models.FGITeacher` with fusion (put in ``eval()`` here).
        image: ``C x S x S`` normalised image (tensor or array).
        text: ``L x D`` token embeddings (tensor or array).
        text_mask: ``L`` bool, True on real tokens (None = all real); padded tokens are dropped.

    Returns:
        four float32 arrays ``L_real x (S/2^s) x (S/2^s)`` for s = 1..4: the weights averaged over
        heads; at every pixel they sum to 1 over the tokens.

    Raises:
        ValueError: a teacher without fusion, wrong shapes (from the model's own checks).
    """
    import torch

    if not getattr(teacher, "use_fusion", False):
        raise ValueError("this teacher has no text fusion (fusion=False): it has no attention to show")
    image, text = _as_tensor(image).float(), _as_tensor(text).float()
    if image.dim() != 3 or text.dim() != 2:
        raise ValueError(f"image must be C x S x S and text L x D for one image; got {tuple(image.shape)} and {tuple(text.shape)}")
    if text_mask is not None:
        keep = _as_tensor(text_mask).bool()
        if keep.shape != text.shape[:1]:
            raise ValueError(f"text_mask must have L = {text.shape[0]} entries; got shape {tuple(keep.shape)}")
        text = text[keep.to(text.device)]
    device = next(teacher.parameters()).device
    teacher.eval()
    with torch.no_grad():
        out = teacher(image[None].to(device), text[None].to(device), None, return_attention=True)
    h, w = image.shape[-2:]
    maps = []
    for s, a in enumerate(out["attention"], start=1):
        a = a[0].float().mean(0)  # heads -> (h_s * w_s) x L
        hs, ws = h // 2 ** s, w // 2 ** s
        maps.append(a.transpose(0, 1).reshape(-1, hs, ws).cpu().numpy().astype(np.float32))
    return maps


def token_map(stage_attention: np.ndarray, token: int) -> np.ndarray:
    """One token's attention map ``h x w`` from a stage's ``L x h x w`` weights.

    Raises:
        IndexError: a token outside 0..L-1 (names L).
    """
    a = np.asarray(stage_attention)
    if not 0 <= int(token) < a.shape[0]:
        raise IndexError(f"token {token} is outside 0..{a.shape[0] - 1} (the text has {a.shape[0]} tokens)")
    return a[int(token)]


def field_map(stage_attention: np.ndarray, span: Sequence[int]) -> np.ndarray:
    """A field's attention map ``h x w``: the sum of a stage's ``L x h x w`` weights over its
    tokens ``[start, end)``.

    With weights summing to 1 over the tokens at every pixel, the value is the share of that
    pixel's attention that goes to the field. An empty span gives zeros.

    Raises:
        IndexError: a span outside the ``L`` tokens.
    """
    a = np.asarray(stage_attention)
    start, end = int(span[0]), int(span[1])
    if not 0 <= start <= end <= a.shape[0]:
        raise IndexError(f"span ({start}, {end}) is outside the {a.shape[0]} tokens")
    return a[start:end].sum(axis=0)


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An ``h x w`` map as float32 ``shape`` = (H, W): bilinear up, area down (unchanged if equal)."""
    import cv2

    a = np.asarray(a, np.float32)
    if a.shape == tuple(shape):
        return a
    interp = cv2.INTER_LINEAR if a.shape[0] < shape[0] else cv2.INTER_AREA
    return cv2.resize(a, (shape[1], shape[0]), interpolation=interp)


def attention_rows(
    attention: Sequence[np.ndarray],
    spans: Mapping[str, Sequence[int]],
    prob: np.ndarray | None = None,
    heatmap: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Per stage and field: the attention share and how its map lines up with the prediction / gaze.

    Args:
        attention: the four ``L x h_s x w_s`` arrays of :func:`teacher_attention`.
        spans: field -> token span ``(start, end)``.
        prob, heatmap: H x W maps (the field maps are resized to their size, bilinear).

    Returns:
        one dict per (stage, field): ``stage``, ``field``, ``tokens`` (span length), ``share``
        (mean over pixels of the field map = the average share of attention the field receives),
        ``cc_prob`` (CC of the field map with ``prob``), ``cc_heatmap`` (with ``heatmap``).
    """
    rows = []
    for s, a in enumerate(attention, start=1):
        for name, span in spans.items():
            fm = field_map(a, span)
            row = {"stage": s, "field": name, "tokens": int(span[1]) - int(span[0]), "share": float(fm.mean())}
            if prob is not None:
                row["cc_prob"] = cc(_resize(fm, np.shape(prob)), prob)
            if heatmap is not None:
                row["cc_heatmap"] = cc(_resize(fm, np.shape(heatmap)), heatmap)
            rows.append(row)
    return rows
