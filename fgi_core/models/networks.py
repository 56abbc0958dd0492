"""The FGI teacher (image + text) and student (image only), docs/method.md §3.

Both are :class:`~fgi_core.models.backbone.UNetBackbone` (MONAI BasicUNet, GroupNorm(4)) with the
paper's head. What they add happens at the four encoder stages s = 1..4, the outputs x1..x4 of
MONAI's ``down_1..down_4`` (H/2 .. H/16; x4 is the bottleneck), as in the authors' code; the
full-resolution ``conv_0`` map x0 goes to the decoder untouched.

Teacher, at each stage::

    fused_s = TextFusion_s(X_s, F_t)          # X_s + norm(X_s + P_s + Attn)
    d_s     = ProjectionBlock_s(fused_s)      # distillation feature, width of the stage
    decoder receives X_s + d_s                # skip (s = 1..3) or bottleneck (s = 4)

Student, at each stage::

    a_s = Adapter_s(ProjectionBlock_s(X_s))   # teacher's width, for the AFC loss only
    decoder receives X_s                      # its own features

``ProjectionBlock`` and the adapter use BatchNorm, as in the authors' code: statistics of the
batch in ``train()``, running statistics in ``eval()``, so the two modes give different outputs
(and training needs more than one value per channel: batch 1 with a 16 x 16 input fails at
stage 4).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .backbone import (
    TEACHER_WIDTHS,
    SegmentationHead,
    UNetBackbone,
    check_image,
    check_widths,
    student_widths,
)
from .fusion import TextFusion, check_text

__all__ = ["ProjectionBlock", "FeatureAdapter", "FGITeacher", "FGIStudent"]


class ProjectionBlock(nn.Sequential):
    """1x1 conv - BN - ReLU - 1x1 conv - BN: ``B x in_ch x H x W`` -> ``B x out_ch x H x W``.

    Convs carry no bias: the BatchNorm after each removes it anyway.
    """

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_ch),
        )


class FeatureAdapter(nn.Sequential):
    """1x1 conv - BN - ReLU from the student's width to the teacher's: ``B x in_ch x H x W`` ->
    ``B x out_ch x H x W``. Its output is non-negative (the ReLU, as in the authors' code)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class FGITeacher(nn.Module):
    """The text-fused teacher.

    Args:
        in_channels: image channels (3 RGB, 1 MRI).
        text_dim: D of the text tokens, from the text encoder (``TextEncoder.dim``).
        widths: six BasicUNet widths; default the authors' ``(64, 128, 256, 512, 1024, 128)``.
        heads: attention heads per stage (the largest divisor of the stage width up to it).
        fusion: False = the "no text" ablation: the same network without the cross-attention
            (``d_s = ProjectionBlock_s(X_s)``); ``text`` is then ignored and may be None.
        dropout: attention dropout.
        out_channels: classes of the classifier (2).
        pos_grid: side of each stage's learnable positional grid (see :mod:`.fusion`).

    Raises:
        ValueError: bad ``widths``.

    Example:
        >>> net = FGITeacher(text_dim=32, widths=(8, 16, 32, 64, 128, 16))
        >>> out = net(torch.randn(2, 3, 32, 48), torch.randn(2, 7, 32), torch.ones(2, 7, dtype=torch.bool))
        >>> tuple(out["logits"].shape), [tuple(f.shape[1:]) for f in out["features"]]
        ((2, 2, 32, 48), [(16, 16, 24), (32, 8, 12), (64, 4, 6), (128, 2, 3)])
    """

    def __init__(
        self,
        in_channels: int = 3,
        text_dim: int = 384,
        widths: Sequence[int] = TEACHER_WIDTHS,
        heads: int = 8,
        fusion: bool = True,
        dropout: float = 0.0,
        out_channels: int = 2,
        pos_grid: int = 16,
    ):
        super().__init__()
        self.in_channels, self.text_dim, self.use_fusion = int(in_channels), int(text_dim), bool(fusion)
        self.backbone = UNetBackbone(in_channels, widths)
        stages = self.backbone.stage_widths
        self.fusion = (
            nn.ModuleList(TextFusion(w, text_dim, heads, dropout, pos_grid) for w in stages) if fusion else None
        )
        self.projection = nn.ModuleList(ProjectionBlock(w, w) for w in stages)
        self.head = SegmentationHead(self.backbone.widths[5], out_channels)

    @property
    def feature_widths(self) -> tuple[int, ...]:
        """Channels of the four distillation features d_1..d_4."""
        return self.backbone.stage_widths

    def forward(
        self,
        image: torch.Tensor,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Segment ``image`` guided by ``text``.

        Args:
            image: ``B x in_channels x H x W``, H and W divisible by 16.
            text: text tokens F_t, ``B x L x text_dim`` (ignored when ``fusion=False``).
            text_mask: ``B x L``, True = real token; None = all real.
            return_attention: also return each stage's attention weights.

        Returns:
            dict with ``logits`` (``B x out_channels x H x W``), ``features`` (the four d_s,
            ``B x widths[s] x H/2^s x W/2^s``) and, with ``return_attention``, ``attention``
            (four tensors ``B x heads x (H/2^s * W/2^s) x L``, see :class:`TextFusion`).

        Raises:
            ValueError: bad image shape; text missing, of another batch size or width, or a bad
                mask; ``return_attention`` with ``fusion=False``.
        """
        check_image(image, self.in_channels, "FGITeacher")
        if self.use_fusion:
            text_mask = check_text(text, text_mask, image.shape[0], self.text_dim, "FGITeacher")
        elif return_attention:
            raise ValueError("FGITeacher(fusion=False) has no attention to return")
        x0, *stages = self.backbone.encode(image)
        distilled, attention = [], []
        for s, x in enumerate(stages):
            fused = x
            if self.use_fusion:
                fused = self.fusion[s](x, text, text_mask, return_attention=return_attention)
                if return_attention:
                    fused, weights = fused
                    attention.append(weights)
            distilled.append(self.projection[s](fused))
        decoded = self.backbone.decode(x0, [x + d for x, d in zip(stages, distilled)])
        out = {"logits": self.head(decoded), "features": distilled}
        if return_attention:
            out["attention"] = attention
        return out


class FGIStudent(nn.Module):
    """The image-only student; its adapted stage features match the teacher's for the AFC loss.

    Args:
        in_channels: image channels.
        widths: six BasicUNet widths; default half of ``teacher_widths``. (The authors' student
            is ``(32, 64, 128, 256, 512, 32)`` followed by a 32 -> 128 final conv and a 128-wide
            head; here the head keeps ``widths[5]``.)
        teacher_widths: the teacher's widths; stage s is adapted to ``teacher_widths[s]``.
        out_channels: classes of the classifier (2).

    Raises:
        ValueError: bad ``widths`` or ``teacher_widths``.

    Example:
        >>> net = FGIStudent(teacher_widths=(8, 16, 32, 64, 128, 16))
        >>> out = net(torch.randn(2, 3, 32, 32))
        >>> net.backbone.widths, [f.shape[1] for f in out["features"]]
        ((4, 8, 16, 32, 64, 8), [16, 32, 64, 128])
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: Sequence[int] | None = None,
        teacher_widths: Sequence[int] = TEACHER_WIDTHS,
        out_channels: int = 2,
    ):
        super().__init__()
        teacher_widths = check_widths(teacher_widths, "teacher_widths")
        widths = student_widths(teacher_widths) if widths is None else widths
        self.in_channels = int(in_channels)
        self.teacher_widths = teacher_widths  # what it was built for (its adapters end at [1:5])
        self.backbone = UNetBackbone(in_channels, widths)
        stages = self.backbone.stage_widths
        self.projection = nn.ModuleList(ProjectionBlock(w, w) for w in stages)
        self.adapter = nn.ModuleList(FeatureAdapter(w, t) for w, t in zip(stages, teacher_widths[1:5]))
        self.head = SegmentationHead(self.backbone.widths[5], out_channels)

    @property
    def feature_widths(self) -> tuple[int, ...]:
        """Channels of the four adapted features (the teacher's stage widths)."""
        return tuple(a[0].out_channels for a in self.adapter)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Segment ``image``.

        Args:
            image: ``B x in_channels x H x W``, H and W divisible by 16.

        Returns:
            dict with ``logits`` (``B x out_channels x H x W``) and ``features`` (four adapted
            features a_s, ``B x teacher_widths[s] x H/2^s x W/2^s``, the teacher's d_s shapes).

        Raises:
            ValueError: bad image shape.
        """
        check_image(image, self.in_channels, "FGIStudent")
        x0, *stages = self.backbone.encode(image)
        adapted = [adapt(project(x)) for x, project, adapt in zip(stages, self.projection, self.adapter)]
        decoded = self.backbone.decode(x0, stages)
        return {"logits": self.head(decoded), "features": adapted}

