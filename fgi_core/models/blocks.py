"""The three blocks of MONAI's 2-D ``BasicUNet``, written out: ``TwoConv``, ``Down``, ``UpCat``.

Why not import them: ``import monai`` loads the whole toolkit (its bundle, auto3dseg and
transformer networks, jsonschema's grammars), about 17 s of CPU on a 2-core machine, in every
process and every notebook kernel, for three small blocks. These are the same blocks with the
same module names, parameter order and default initialisation, so

* a state dict saved from MONAI's blocks loads here and vice versa (same keys, same shapes);
* under one seed both build bit-identical weights and compute the same outputs
  (``tests/test_models.py`` checks this against MONAI when it is installed).

Only what the project uses is kept: 2-D, ``deconv`` up-sampling, GroupNorm and LeakyReLU,
no dropout (MONAI's ``Dropout(0.0)`` is the identity and holds no parameters).

Module names follow MONAI: a conv block is ``conv`` then ``adn`` (``N`` the norm, ``A`` the
activation), so the keys read ``conv_0.conv_0.conv.weight``, ``down_1.convs.conv_1.adn.N.bias``,
``upcat_4.upsample.deconv.weight``.

MONAI is Apache-2.0 (Project MONAI, https://github.com/Project-MONAI/MONAI,
``monai/networks/nets/basic_unet.py``), as is this project.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ConvBlock", "TwoConv", "Down", "UpCat"]


class ConvBlock(nn.Sequential):
    """3x3 conv (padding 1), GroupNorm, LeakyReLU: MONAI's ``Convolution`` with ``ADN``.

    ``B x in_chns x H x W`` -> ``B x out_chns x H x W``.
    """

    def __init__(self, in_chns: int, out_chns: int, groups: int, negative_slope: float):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_chns, out_chns, kernel_size=3, padding=1, bias=True))
        adn = nn.Sequential()
        adn.add_module("N", nn.GroupNorm(groups, out_chns))
        adn.add_module("A", nn.LeakyReLU(negative_slope, inplace=True))
        self.add_module("adn", adn)


class TwoConv(nn.Sequential):
    """Two :class:`ConvBlock` in a row: ``B x in_chns x H x W`` -> ``B x out_chns x H x W``."""

    def __init__(self, in_chns: int, out_chns: int, groups: int, negative_slope: float):
        super().__init__()
        self.add_module("conv_0", ConvBlock(in_chns, out_chns, groups, negative_slope))
        self.add_module("conv_1", ConvBlock(out_chns, out_chns, groups, negative_slope))


class Down(nn.Sequential):
    """2x2 max-pooling, then :class:`TwoConv`: ``B x in x H x W`` -> ``B x out x H/2 x W/2``."""

    def __init__(self, in_chns: int, out_chns: int, groups: int, negative_slope: float):
        super().__init__()
        self.add_module("max_pooling", nn.MaxPool2d(kernel_size=2))
        self.add_module("convs", TwoConv(in_chns, out_chns, groups, negative_slope))


class UpCat(nn.Module):
    """2x transposed-conv up-sampling, concatenation with the encoder's map, :class:`TwoConv`.

    ``x``: ``B x in_chns x h x w`` and the skip ``x_e``: ``B x cat_chns x 2h x 2w`` ->
    ``B x out_chns x 2h x 2w``. The up-sampling halves the channels (``halves=True``) or keeps
    them. Where an odd encoder side left the up-sampled map one pixel short, it is padded by
    replication on that side, as MONAI does (never the case for sides divisible by 16).
    """

    def __init__(self, in_chns: int, cat_chns: int, out_chns: int, groups: int, negative_slope: float,
                 halves: bool = True):
        super().__init__()
        up_chns = in_chns // 2 if halves else in_chns
        upsample = nn.Module()
        upsample.add_module("deconv", nn.ConvTranspose2d(in_chns, up_chns, kernel_size=2, stride=2))
        self.upsample = upsample
        self.convs = TwoConv(cat_chns + up_chns, out_chns, groups, negative_slope)

    def forward(self, x: torch.Tensor, x_e: torch.Tensor) -> torch.Tensor:
        up = self.upsample.deconv(x)
        short_h, short_w = x_e.shape[-2] - up.shape[-2], x_e.shape[-1] - up.shape[-1]
        if short_h or short_w:
            up = F.pad(up, (0, short_w, 0, short_h), mode="replicate")
        return self.convs(torch.cat([x_e, up], dim=1))
