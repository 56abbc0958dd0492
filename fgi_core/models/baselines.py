"""Baselines: the plain UNet and GazeMedSeg's multi-level network (docs/method.md §6).

* :class:`PlainUNet` -- the shared UNet with the paper's head and nothing else: full supervision,
  UNet on M_hc, UNet on M_bc.
* :class:`GazeMedSegNet` -- Zhong et al. (MICCAI 2024): one UNet per pseudo-mask level (1 output
  channel each), a cross-level consistency loss in "prop" mode
  (:meth:`GazeMedSegNet.consistency_loss`), prediction = the mean of the levels' logits. As in
  the reference code, every level starts from the same initial weights (a deep copy of the
  first).

Where this differs from GazeMedSeg's code, on purpose:

* its UNet computes the paper's head but never calls it (logits = classifier(final conv)); here
  every level uses the head, so the "last feature map before the classifier" is the head's
  output (:meth:`PlainUNet.features`).
* neighbours outside the image: the reference zero-pads them into the 5x5 window, so a border
  pixel also averages in zero vectors (score 0 after clamping, weight ``exp(0)``). Here they
  are left out of the softmax (``border="exclude"``), so a constant feature map propagates to
  itself; ``border="zeros"`` gives the reference's behaviour.
* the reference trainer *sums* the per-level losses (``loss_consistency.sum()``) before weighting
  by 3; :meth:`~GazeMedSegNet.consistency_loss` averages them by default (``reduction="mean"``).
  For 2 levels, weight 3 with ``"sum"`` equals weight 6 with ``"mean"``; use ``"sum"`` to
  reproduce the reference.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from fgi_core.registry import look_up_option

from .backbone import TEACHER_WIDTHS, SegmentationHead, UNetBackbone, check_image

__all__ = ["PlainUNet", "GazeMedSegNet", "propagate_features"]


class PlainUNet(nn.Module):
    """The UNet of the baselines: MONAI BasicUNet (GroupNorm(4)) + the paper's head.

    Args:
        in_channels: image channels.
        widths: six BasicUNet widths (default the teacher's).
        out_channels: classes (2; 1 for a GazeMedSeg level).

    Example:
        >>> net = PlainUNet(3, (8, 16, 32, 64, 128, 16))
        >>> tuple(net(torch.randn(1, 3, 32, 32))["logits"].shape)
        (1, 2, 32, 32)
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = TEACHER_WIDTHS, out_channels: int = 2):
        super().__init__()
        self.in_channels = int(in_channels)
        self.backbone = UNetBackbone(in_channels, widths)
        self.head = SegmentationHead(self.backbone.widths[5], out_channels)

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """The last feature map before the classifier, ``B x widths[5] x H x W``.

        Raises:
            ValueError: image not ``B x in_channels x H x W`` with H, W divisible by 16.
        """
        check_image(image, self.in_channels, type(self).__name__)
        x0, *stages = self.backbone.encode(image)
        return self.head.features(self.backbone.decode(x0, stages))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """``B x in_channels x H x W`` -> ``{"logits": B x out_channels x H x W}``."""
        return {"logits": self.head.classifier(self.features(image))}


def propagate_features(
    features: torch.Tensor, kernel_size: int = 5, dilation: int = 2, border: str = "exclude"
) -> torch.Tensor:
    """GazeMedSeg's feature propagation: each pixel becomes an attention-weighted neighbour mean.

    For each pixel i with feature f_i and its ``kernel_size x kernel_size`` neighbours j at
    ``dilation`` (itself included): ``w_ij = softmax_j(max(0, f_i . f_j))`` and the output is
    ``sum_j w_ij f_j``. Computed over shifted views of the padded map (memory ``B x K x H x W``
    for the weights, ``K = kernel_size^2``), with its gradient written out
    (:class:`_Propagation`).

    Args:
        features: ``B x C x H x W``.
        kernel_size: odd window side (5).
        dilation: spacing of the window (2).
        border: ``"exclude"`` (neighbours outside the image take no part) or ``"zeros"`` (they
            count as zero vectors, as in the reference code).

    Returns:
        ``B x C x H x W``.

    Raises:
        ValueError: ``features`` not 4-D, an even ``kernel_size``, an unknown ``border``.
    """
    border = look_up_option(border, ("exclude", "zeros"), "border")
    if features.dim() != 4:
        raise ValueError(f"propagate_features: features must be B x C x H x W; got shape {tuple(features.shape)}")
    if kernel_size % 2 != 1:
        raise ValueError(f"propagate_features: kernel_size must be odd; got {kernel_size}")
    # fp32 under autocast, as autograd's form gave (its softmax ran in fp32 and promoted the sums)
    low = features.dtype in (torch.float16, torch.bfloat16)
    return _Propagation.apply(features.float() if low else features, kernel_size, dilation, border == "exclude")


class _Propagation(torch.autograd.Function):
    """:func:`propagate_features` with its backward written out.

    Autograd through the K shifted views allocated and zero-filled a padded-size gradient per
    view and operation (2K of them); this backward accumulates into one padded buffer: forward +
    backward 2.7x faster at the ``cpu`` size and 3.6x at the ``quick`` size on one thread
    (benchmarks/bench_propagation.py), equal to autograd's gradient to float rounding and checked
    by ``gradcheck`` (tests).

    With ``v_k`` the k-th shifted view, ``s_k = max(0, f . v_k)`` (masked), ``a = softmax_k(s)``,
    ``out = sum_k a_k v_k`` and ``G`` the output's gradient:
    ``dL/da_k = G . v_k``; ``dL/ds = a * (dL/da - sum_k a_k dL/da_k)`` where ``f . v_k >= 0``;
    ``dL/df`` gets ``sum_k dL/ds_k v_k`` directly and, through each view,
    ``a_k G + dL/ds_k f`` at that view's offset.
    """

    @staticmethod
    def _views(padded: torch.Tensor, offsets, h: int, w: int) -> list[torch.Tensor]:
        return [padded[:, :, oy:oy + h, ox:ox + w] for oy, ox in offsets]

    @staticmethod
    def forward(ctx, features: torch.Tensor, kernel_size: int, dilation: int, exclude: bool) -> torch.Tensor:
        h, w = features.shape[-2:]
        pad = dilation * (kernel_size - 1) // 2
        offsets = [(dy * dilation, dx * dilation) for dy in range(kernel_size) for dx in range(kernel_size)]
        views = _Propagation._views(F.pad(features, (pad, pad, pad, pad)), offsets, h, w)
        scores = torch.stack([(features * v).sum(dim=1) for v in views], dim=1)  # B x K x H x W
        positive = scores >= 0  # clamp_min's gradient mask, as autograd has it
        scores = scores.clamp_min(0)
        if exclude:
            inside = _Propagation._views(F.pad(features.new_ones(1, 1, h, w), (pad, pad, pad, pad)), offsets, h, w)
            scores = scores.masked_fill(torch.cat(inside, dim=1) == 0, float("-inf"))
        weights = scores.softmax(dim=1)
        out = torch.zeros_like(features)
        for k, v in enumerate(views):
            out.addcmul_(weights[:, k:k + 1], v)
        ctx.save_for_backward(features, weights, positive)
        ctx.geometry = (pad, offsets)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        features, weights, positive = ctx.saved_tensors
        pad, offsets = ctx.geometry
        h, w = features.shape[-2:]
        padded = F.pad(features, (pad, pad, pad, pad))
        views = _Propagation._views(padded, offsets, h, w)
        d_weights = torch.stack([(grad * v).sum(dim=1) for v in views], dim=1)  # B x K x H x W
        d_scores = weights * (d_weights - (weights * d_weights).sum(dim=1, keepdim=True)) * positive
        d_padded = torch.zeros_like(padded)
        d_features = torch.zeros_like(features)
        for k, ((oy, ox), v) in enumerate(zip(offsets, views)):
            d_features.addcmul_(d_scores[:, k:k + 1], v)  # through f_i in s_k = f_i . v_k
            d_view = d_padded[:, :, oy:oy + h, ox:ox + w]  # through the neighbour: in out and in s_k
            d_view.addcmul_(weights[:, k:k + 1], grad)
            d_view.addcmul_(d_scores[:, k:k + 1], features)
        d_features += d_padded[:, :, pad:pad + h, pad:pad + w]
        return d_features, None, None, None


def _two_class(logits: torch.Tensor) -> torch.Tensor:
    """``B x 1 x H x W`` logits -> ``B x 2 x H x W`` probabilities ``[1 - sigmoid, sigmoid]``."""
    p = torch.sigmoid(logits)
    return torch.cat([1 - p, p], dim=1)


class GazeMedSegNet(nn.Module):
    """GazeMedSeg: one single-output UNet per pseudo-mask level.

    Args:
        in_channels: image channels.
        widths: six BasicUNet widths of every level (the teacher's by default).
        levels: number of pseudo-mask levels (2: M_hc at 0.5 and M_bc at 0.3).

    Raises:
        ValueError: ``levels < 1``; bad ``widths``.

    Example:
        >>> net = GazeMedSegNet(3, (8, 16, 32, 64, 128, 16))
        >>> out = net(torch.randn(2, 3, 32, 32))
        >>> [tuple(l.shape) for l in out["logits"]], tuple(out["prediction"].shape)
        ([(2, 1, 32, 32), (2, 1, 32, 32)], (2, 1, 32, 32))
        >>> loss = 3 * net.consistency_loss(out)   # the weight is the caller's
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = TEACHER_WIDTHS, levels: int = 2):
        super().__init__()
        if levels < 1:
            raise ValueError(f"GazeMedSegNet: levels must be >= 1; got {levels}")
        self.in_channels = int(in_channels)
        first = PlainUNet(in_channels, widths, out_channels=1)
        self.levels = nn.ModuleList([first] + [copy.deepcopy(first) for _ in range(levels - 1)])

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Run every level.

        Args:
            image: ``B x in_channels x H x W``, H and W divisible by 16.

        Returns:
            dict with ``logits`` (per level, ``B x 1 x H x W``), ``features`` (per level, its last
            feature map before the classifier, ``B x widths[5] x H x W``) and ``prediction``
            (the mean of the levels' logits, ``B x 1 x H x W``).

        Raises:
            ValueError: bad image shape.
        """
        check_image(image, self.in_channels, "GazeMedSegNet")
        features = [level.features(image) for level in self.levels]
        logits = [level.head.classifier(f) for level, f in zip(self.levels, features)]
        return {"logits": logits, "features": features, "prediction": torch.stack(logits).mean(dim=0)}

    def consistency_loss(
        self, outputs: dict, reduction: str = "mean", border: str = "exclude"
    ) -> torch.Tensor:
        """Cross-level consistency in GazeMedSeg's "prop" mode (unweighted: the caller applies 3).

        For level i: its features are propagated (:func:`propagate_features`, 5x5 at dilation
        2), its own classifier makes logits of them, ``p_prop_i = [1 - sigmoid, sigmoid]``; with
        ``p_j`` the other levels' probabilities (detached),
        ``loss_i = mean_{j != i} ( - mean_pixels sum_c p_prop_i,c * p_j,c )``, in [-1, 0].

        Args:
            outputs: the dict returned by :meth:`forward`.
            reduction: ``"mean"`` (over levels), ``"sum"`` (the reference trainer's) or
                ``"none"`` (one loss per level, shape ``levels``).
            border: see :func:`propagate_features`.

        Returns:
            A scalar, or a ``levels`` vector for ``reduction="none"``.

        Raises:
            ValueError: fewer than 2 levels; ``outputs`` not from this network; unknown option.
        """
        reduction = look_up_option(reduction, ("mean", "sum", "none"), "reduction")
        n = len(self.levels)
        if n < 2:
            raise ValueError(f"GazeMedSegNet: consistency needs at least 2 levels; this network has {n}")
        logits, features = outputs["logits"], outputs["features"]
        if len(logits) != n or len(features) != n:
            raise ValueError(
                f"GazeMedSegNet: outputs must hold {n} logits and {n} features (one per level); got "
                f"{len(logits)} and {len(features)}"
            )
        targets = [_two_class(x.detach()) for x in logits]
        losses = []
        for i, (level, feature) in enumerate(zip(self.levels, features)):
            propagated = _two_class(level.head.classifier(propagate_features(feature, border=border)))
            agreement = [(propagated * targets[j]).sum(dim=1).mean() for j in range(n) if j != i]
            losses.append(-torch.stack(agreement).mean())
        losses = torch.stack(losses)
        if reduction == "none":
            return losses
        return losses.mean() if reduction == "mean" else losses.sum()
