"""The shared 2-D UNet: MONAI's BasicUNet blocks (written out in blocks.py), the paper's head, input checks.

Every network of the project (teacher, student, baselines) is this UNet with something added
at its four encoder stages. :class:`UNetBackbone` is MONAI's ``BasicUNet(spatial_dims=2)`` taken
apart at the seams the method needs: :meth:`~UNetBackbone.encode` returns the five encoder maps
``x0..x4`` and :meth:`~UNetBackbone.decode` takes the skips back. Blocks, widths and names are
MONAI's (``conv_0``, ``down_1..4``, ``upcat_4..1``); the norm is GroupNorm with 4 groups (the
authors' setting), the activation MONAI's LeakyReLU(0.1).

Shapes for an input ``B x in_channels x H x W`` and ``widths = (w0, w1, w2, w3, w4, w5)``:

==========  ========================  ==================================
map         made by                   shape
==========  ========================  ==================================
x0          ``conv_0`` (TwoConv)      B x w0 x H x W
x1          ``down_1``                B x w1 x H/2 x W/2   (stage s=1)
x2          ``down_2``                B x w2 x H/4 x W/4   (stage s=2)
x3          ``down_3``                B x w3 x H/8 x W/8   (stage s=3)
x4          ``down_4``                B x w4 x H/16 x W/16 (stage s=4, the bottleneck)
u1          ``upcat_4 .. upcat_1``    B x w5 x H x W
==========  ========================  ==================================

MONAI's ``final_conv`` (a linear 1x1 conv) is left out: the head that follows begins with a
1x1 conv of its own, and two linear 1x1 convs in a row are one.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .blocks import Down, TwoConv, UpCat

__all__ = [
    "TEACHER_WIDTHS",
    "STUDENT_WIDTHS",
    "UNetBackbone",
    "SegmentationHead",
    "check_widths",
    "check_image",
    "student_widths",
]

#: The authors' teacher widths (MONAI ``features``: five encoder widths, then the decoder's last).
TEACHER_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 1024, 128)
#: The student at half the teacher's width (docs/method.md §3.3).
STUDENT_WIDTHS: tuple[int, ...] = (32, 64, 128, 256, 512, 64)

GROUPS = 4  # GroupNorm groups in every conv block (the authors' BasicUNet setting)
DOWNSAMPLING = 16  # four 2x max-poolings
SLOPE = 0.1  # MONAI BasicUNet's LeakyReLU slope


def check_widths(widths: Sequence[int], name: str = "widths") -> tuple[int, ...]:
    """``widths`` as a tuple of six positive ints, each divisible by 4 (GroupNorm's groups).

    Raises:
        ValueError: wrong length, or a width that is not a positive multiple of 4.
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) != 6:
        raise ValueError(
            f"{name} must hold 6 ints like MONAI's BasicUNet features (5 encoder widths, then the "
            f"decoder's last), e.g. {TEACHER_WIDTHS}; got {widths} ({len(widths)} values)"
        )
    bad = [w for w in widths if w <= 0 or w % GROUPS]
    if bad:
        raise ValueError(
            f"{name} must be positive multiples of {GROUPS} (GroupNorm with {GROUPS} groups); "
            f"got {widths}, offending {bad}"
        )
    return widths


def student_widths(teacher_widths: Sequence[int]) -> tuple[int, ...]:
    """The student's widths for a teacher of ``teacher_widths``: each halved, at least 4
    (docs/method.md §3.3).

    The one rule for every image-only network (the student, and the baselines at its width):
    ``max(4, w // 2)``, the rule the trained checkpoints were built with. For every profile's
    widths it is plain halving.

    Raises:
        ValueError: a teacher width that is not a positive multiple of 4, or a half that is not
            (e.g. 20 -> 10).

    Example:
        >>> student_widths((8, 16, 32, 64, 128, 16))
        (4, 8, 16, 32, 64, 8)
    """
    return check_widths([max(4, w // 2) for w in check_widths(teacher_widths, "teacher_widths")], "half widths")


def check_image(image: torch.Tensor, in_channels: int, who: str = "network") -> None:
    """Check that ``image`` is ``B x in_channels x H x W`` with H, W divisible by 16.

    Raises:
        ValueError: naming the expected and the given shape.
    """
    shape = tuple(image.shape)
    if image.dim() != 4 or shape[1] != in_channels:
        raise ValueError(f"{who}: image must be B x {in_channels} x H x W; got shape {shape}")
    h, w = shape[2:]
    if h % DOWNSAMPLING or w % DOWNSAMPLING:
        raise ValueError(
            f"{who}: H and W must be divisible by {DOWNSAMPLING} (four 2x poolings); got "
            f"H x W = {h} x {w} in image shape {shape}. Resize or pad, e.g. to "
            f"{-(-h // DOWNSAMPLING) * DOWNSAMPLING} x {-(-w // DOWNSAMPLING) * DOWNSAMPLING}."
        )


class UNetBackbone(nn.Module):
    """MONAI's 2-D BasicUNet without its final conv: encoder maps out, skips back in.

    Args:
        in_channels: image channels (3 RGB, 1 MRI).
        widths: six widths ``(w0, w1, w2, w3, w4, w5)`` as MONAI's ``features``; each a multiple
            of 4.

    Raises:
        ValueError: bad ``widths``.
    """

    def __init__(self, in_channels: int, widths: Sequence[int] = TEACHER_WIDTHS):
        super().__init__()
        fea = self.widths = check_widths(widths)
        self.in_channels = int(in_channels)
        self.conv_0 = TwoConv(in_channels, fea[0], GROUPS, SLOPE)
        self.down_1 = Down(fea[0], fea[1], GROUPS, SLOPE)
        self.down_2 = Down(fea[1], fea[2], GROUPS, SLOPE)
        self.down_3 = Down(fea[2], fea[3], GROUPS, SLOPE)
        self.down_4 = Down(fea[3], fea[4], GROUPS, SLOPE)
        self.upcat_4 = UpCat(fea[4], fea[3], fea[3], GROUPS, SLOPE)
        self.upcat_3 = UpCat(fea[3], fea[2], fea[2], GROUPS, SLOPE)
        self.upcat_2 = UpCat(fea[2], fea[1], fea[1], GROUPS, SLOPE)
        self.upcat_1 = UpCat(fea[1], fea[0], fea[5], GROUPS, SLOPE, halves=False)

    @property
    def stage_widths(self) -> tuple[int, ...]:
        """Widths of the four encoder stages x1..x4."""
        return self.widths[1:5]

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """``B x in_channels x H x W`` -> ``[x0, x1, x2, x3, x4]`` (shapes in the module doc)."""
        x0 = self.conv_0(image)
        x1 = self.down_1(x0)
        x2 = self.down_2(x1)
        x3 = self.down_3(x2)
        x4 = self.down_4(x3)
        return [x0, x1, x2, x3, x4]

    def decode(self, x0: torch.Tensor, stages: Sequence[torch.Tensor]) -> torch.Tensor:
        """``x0`` and the four stage maps (skips x1..x3, bottleneck x4) -> ``B x w5 x H x W``."""
        x1, x2, x3, x4 = stages
        u4 = self.upcat_4(x4, x3)
        u3 = self.upcat_3(u4, x2)
        u2 = self.upcat_2(u3, x1)
        return self.upcat_1(u2, x0)


class SegmentationHead(nn.Module):
    """The paper's head: 1x1 conv, LeakyReLU(0.1), 1x1 conv, then a 1x1 classifier.

    ``features`` (``B x C x H x W``, the map before the classifier) and ``classifier`` are kept
    apart because GazeMedSeg's consistency loss runs the classifier alone on propagated
    features. The authors' code has one more linear 1x1 conv in front (MONAI's ``final_conv``);
    it composes with the head's first conv into one linear map and is left out.

    Args:
        channels: C, the decoder's last width (``widths[5]``); the head keeps it.
        out_channels: classes (2 for teacher, student and UNet; 1 per GazeMedSeg level).
    """

    def __init__(self, channels: int, out_channels: int = 2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=1),
            nn.LeakyReLU(negative_slope=0.1),
            nn.Conv2d(channels, channels, kernel_size=1),
        )
        self.classifier = nn.Conv2d(channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C x H x W`` -> logits ``B x out_channels x H x W``."""
        return self.classifier(self.features(x))
