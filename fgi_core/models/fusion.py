"""Text fusion: one encoder stage's visual tokens attend to the explanation's text tokens.

docs/method.md §3.2: at stage s the features X (``B x C x H x W``) become ``H*W`` tokens; the
queries are the tokens plus a learnable positional encoding P; keys and values are a linear
projection of the text tokens F_t (``B x L x D``) to C; the output is ``X + norm(X + P + Attn)``.

Design decisions:

* **Positional encoding** -- a learnable coarse grid (``C x 16 x 16`` by default, per stage),
  resized bilinearly to the stage's ``H x W`` on every call. It is learnable, as the paper asks,
  and it fits any input size. The authors' code learns one vector per token of a 224 x 224 input
  (112 x 112 at stage 1), which ties the network to that size and costs 3.0M parameters at
  the paper widths (0.49M here); a coarse grid is enough for what position has to tell the text (the
  Location vocabulary is a 3 x 3 grid), and it is smooth at any resolution. Initialised like
  the authors' (truncated normal, std 0.02).
* **Norm** -- LayerNorm over channels (as in the authors' code), applied to each token.
* **Heads** -- ``nn.MultiheadAttention`` needs ``C % heads == 0``; the module uses the largest
  divisor of C that is at most ``heads`` (8 for every width in the project; 4 for C = 4...) and
  records it as ``.heads``.
* **Padding** -- ``text_mask`` (True = real token) becomes ``key_padding_mask``: padded tokens
  get exactly zero attention, so their embeddings cannot change the output.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["TextFusion", "attention_heads", "check_text"]


def attention_heads(channels: int, heads: int) -> int:
    """The largest divisor of ``channels`` that is at most ``heads`` (at least 1)."""
    return max(h for h in range(1, max(1, min(heads, channels)) + 1) if channels % h == 0)


def check_text(
    text: torch.Tensor | None,
    text_mask: torch.Tensor | None,
    batch: int,
    text_dim: int,
    who: str = "text fusion",
) -> torch.Tensor:
    """Check ``text`` (``B x L x D``) and ``text_mask`` (``B x L``); return the mask as bool.

    ``text_mask=None`` means every token is real. An integer mask (Hugging Face's 0/1
    ``attention_mask``) is accepted and read as ``!= 0``.

    Raises:
        ValueError: text missing, not ``B x L x D`` with B = ``batch`` and D = ``text_dim``;
            mask not ``B x L``; a sample without a single real token (its attention would be
            undefined; checked for CPU tensors only, where it costs no device synchronisation).
    """
    if text is None:
        raise ValueError(f"{who}: text (B x L x {text_dim}) is required; got None")
    shape = tuple(text.shape)
    if text.dim() != 3 or shape[0] != batch or shape[2] != text_dim:
        raise ValueError(
            f"{who}: text must be B x L x D = {batch} x L x {text_dim} (batch of the image, text_dim "
            f"of the network); got shape {shape}"
        )
    if text_mask is None:
        return torch.ones(shape[:2], dtype=torch.bool, device=text.device)
    if tuple(text_mask.shape) != shape[:2]:
        raise ValueError(
            f"{who}: text_mask must be B x L = {shape[0]} x {shape[1]} like text {shape}; got shape "
            f"{tuple(text_mask.shape)}"
        )
    mask = text_mask if text_mask.dtype == torch.bool else text_mask != 0
    if mask.device.type != "cpu":  # the check would stall an accelerator at every forward pass;
        return mask  # the training data and the predictor give every sample a real token
    empty = (~mask.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"{who}: text_mask has no real token (True) for sample(s) {empty}")
    return mask


class TextFusion(nn.Module):
    """Cross-attention from one stage's visual tokens to the text: ``X + norm(X + P + Attn)``.

    Args:
        channels: C, the stage's width.
        text_dim: D, the text encoder's width (384 MiniLM, 768 RoBERTa): taken from the encoder.
        heads: attention heads wanted; the largest divisor of C not above it is used (``.heads``).
        dropout: dropout on the attention weights (``nn.MultiheadAttention``'s).
        pos_grid: side of the learnable positional grid, resized bilinearly to each H x W.

    Example:
        >>> fusion = TextFusion(channels=32, text_dim=384)
        >>> x, text = torch.randn(2, 32, 8, 12), torch.randn(2, 5, 384)
        >>> mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
        >>> fused, attention = fusion(x, text, mask, return_attention=True)
        >>> tuple(fused.shape), tuple(attention.shape)
        ((2, 32, 8, 12), (2, 8, 96, 5))
    """

    def __init__(self, channels: int, text_dim: int, heads: int = 8, dropout: float = 0.0, pos_grid: int = 16):
        super().__init__()
        if channels < 1 or text_dim < 1 or heads < 1 or pos_grid < 1:
            raise ValueError(
                f"TextFusion: channels, text_dim, heads and pos_grid must be >= 1; got channels={channels}, "
                f"text_dim={text_dim}, heads={heads}, pos_grid={pos_grid}"
            )
        self.channels, self.text_dim = int(channels), int(text_dim)
        self.heads = attention_heads(channels, heads)
        self.position = nn.Parameter(torch.zeros(1, channels, pos_grid, pos_grid))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.text_proj = nn.Linear(text_dim, channels)
        self.attention = nn.MultiheadAttention(channels, self.heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(channels)

    def positional_encoding(self, height: int, width: int) -> torch.Tensor:
        """P for an ``height x width`` stage, as tokens: ``1 x (height*width) x C``."""
        grid = self.position
        if grid.shape[-2:] != (height, width):
            grid = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)
        return grid.flatten(2).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Fuse the text into ``x``.

        Args:
            x: stage features X, ``B x C x H x W`` (any H, W).
            text: text tokens F_t, ``B x L x D``.
            text_mask: ``B x L``, True (or 1) = real token, False = padding; None = all real.
            return_attention: also return the attention weights.

        Returns:
            ``B x C x H x W`` fused features; with ``return_attention``, also the weights
            ``B x heads x (H*W) x L`` (per head; row = a pixel in row-major order; each row sums to
            1 over the real tokens and is 0 on padded ones). Weights are after attention dropout:
            take them in ``eval()`` mode.

        Raises:
            ValueError: ``x`` not ``B x C x H x W`` with C = ``channels``; bad text or mask
                (see :func:`check_text`).
        """
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"TextFusion: x must be B x {self.channels} x H x W; got shape {tuple(x.shape)}")
        b, c, h, w = x.shape
        mask = check_text(text, text_mask, b, self.text_dim, "TextFusion")
        tokens = x.flatten(2).transpose(1, 2)  # B x HW x C
        queries = tokens + self.positional_encoding(h, w)
        keys = self.text_proj(text)  # B x L x C, keys and values
        attended, weights = self.attention(
            queries,
            keys,
            keys,
            key_padding_mask=~mask,
            need_weights=return_attention,
            average_attn_weights=False,
        )
        fused = tokens + self.norm(queries + attended)
        fused = fused.transpose(1, 2).reshape(b, c, h, w)
        return (fused, weights) if return_attention else fused
