"""Perturbations of the FGI distillation: DARM and the inputs of CWC (docs/method.md §4.4, §4.6).

DARM
    :func:`darm` (disagreement-aware random masking, vectorised, on the tensors' device) with its
    two sources of disagreement :func:`disagreement` (teacher vs student predictions) and
    :func:`label_disagreement` (M_hc vs M_bc); the blocks come from :func:`_image_budget_blocks`
    (``budget="image"``) or :func:`_batch_budget_blocks` (the authors' batch-wide budget).
CWC inputs (the authors' code)
    :func:`cutmix_pairs` (random pairing, one box per sample), :func:`cutmix` (one box, the
    previous image) and :func:`uniform_noise`.

Conventions are those of :mod:`fgi_core.losses` (masks ``B x H x W`` of any dtype, shapes named
in errors, :func:`fgi_core.tensor_checks.check_mask`); randomness comes only from the
``torch.Generator`` passed as ``generator`` (``None`` uses torch's global generator), which must
live on the tensors' device. DARM's choices (``DARM_TARGETS``, ``DARM_BUDGETS``) are options of
the method and live in :mod:`fgi_core.options`.

Option values per profile (docs/fidelity.md §2): ``darm_source`` ``predictions`` (``quick``, the
paper's text) or ``labels`` (``cpu``, ``paper``: the authors' code); ``darm_target``
``background``; ``darm_budget`` ``image`` (``quick``) or ``batch`` (``cpu``, ``paper``).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
import torch

from .options import DARM_BUDGETS, DARM_TARGETS
from .registry import look_up_option
from .tensor_checks import binary_mask, check_mask, check_tensor, shape_of

__all__ = [
    "darm",
    "DarmBlocks",
    "disagreement",
    "label_disagreement",
    "cutmix",
    "cutmix_pairs",
    "uniform_noise",
]

# ----------------------------------------------------------------------------------------------
# DARM
# ----------------------------------------------------------------------------------------------
class DarmBlocks(NamedTuple):
    """The candidate blocks DARM drew, for inspection and tests (``darm(..., return_blocks=True)``).

    Attributes:
        centres: ``B x K x 2`` long, (row, col) of each candidate centre, in the order drawn.
        sides: ``B x K`` long, the odd side of each candidate block.
        used: ``B x K`` bool, the candidates painted: a prefix, in drawing order (none in a
            row whose U is empty or whose goal is 0).
    """

    centres: torch.Tensor
    sides: torch.Tensor
    used: torch.Tensor


def _check_sides(sides: Sequence[int]) -> tuple[int, int]:
    try:
        lo, hi = (int(s) for s in sides)
    except (TypeError, ValueError):
        raise ValueError(f"sides must be a pair (smallest, largest) of odd ints, got {sides!r}") from None
    if lo < 1 or hi < lo or lo % 2 == 0 or hi % 2 == 0 or (lo, hi) != tuple(sides):
        raise ValueError(f"sides must be odd ints with 1 <= smallest <= largest, got {tuple(sides)!r}")
    return lo, hi


def _candidate_count(goal: torch.Tensor, ratio: float, hw: int, mean_area: float) -> int:
    """How many candidate blocks to draw per image: 3x what the largest goal needs without overlap.

    On the CPU the largest goal is read directly (free there); on an accelerator the bound uses
    the whole image as U instead, so that no host synchronisation is needed.
    """
    most = goal.max().item() if goal.device.type == "cpu" and goal.numel() else float(ratio) * hw
    return int(math.ceil(3.0 * most / mean_area)) + 16


def darm(
    images: torch.Tensor,
    labels: torch.Tensor,
    disagreement: torch.Tensor,
    ratio: float = 0.3,
    sides: tuple[int, int] = (3, 11),
    generator: torch.Generator | None = None,
    target: str = "background",
    return_blocks: bool = False,
    budget: str = "image",
):
    """Disagreement-aware random masking: zero square blocks centred on random pixels of U.

    docs/method.md §4.4 (DARM; ``ratio`` 0.3, odd ``sides`` 3..11 in every profile;
    ``darm_source`` picks U: ``"predictions"`` -> :func:`disagreement` (``quick``),
    ``"labels"`` -> :func:`label_disagreement` (``cpu``, ``paper``); ``darm_target`` is this
    function's ``target``, ``"background"`` in every profile; ``darm_budget`` is ``budget``,
    ``"batch"`` in ``cpu`` and ``paper``; the two option sets: docs/method.md §5).

    The recipe, per image: draw centres uniformly from the pixels of U (with replacement), give
    each a square block of an odd side drawn uniformly from ``sides[0], sides[0] + 2, ...,
    sides[1]``, and keep the blocks in the order drawn, as many as bring the area of their
    union nearest to ``ratio * |U|`` pixels (at least one block). The union is counted over all
    its pixels, inside U or not, clipped to the image, so overlaps need no compensation: the
    rule measures the union, not the sum of block areas. The achieved area is then within half
    a block of the request (at most ``sides[1]^2 / 2`` pixels off; more only when the first
    block alone is over twice the request, e.g. a U of a few pixels), and unbiased on average.

    The reference loop (walk a shuffle of U, add blocks until the union covers the request)
    stops *after* the block that crosses the request instead, so it overshoots by half a block
    on average: +1 to 2 % at 224 x 224 with a U of 15 % of the image, but +25 % on the 64 x 64
    images of the ``quick`` profile, where the request is a few blocks; the nearest prefix
    keeps "about 30 %" true at every size. The other difference is sampling with replacement,
    which can repeat a centre (the repeat adds its block's new pixels, if any, like any other
    block) and matters little while the blocks kept are few against ``|U|``. Empty U, or
    ``ratio=0``, masks nothing.

    Vectorised over the batch and the blocks, on the tensors' device: ``K`` candidate centres per
    image (inverse-CDF sampling on the running count of U, so rows with empty U are handled like
    the others), every pixel of every candidate block scattered at once with a minimum-reduction
    into a map of the first candidate covering each pixel, a per-image histogram of that map
    giving the union's area after each prefix of candidates, hence the number of blocks to keep.
    ``K`` is three times the blocks the largest goal in the batch would need without overlap,
    plus 16; on an accelerator the goal is bounded by ``ratio * H * W`` instead of read, which
    would cost a host synchronisation (so the same seed draws different candidates on the CPU
    and on a GPU, as torch's generators do anyway). If a pathological U made the ``K``
    candidates overlap so much that they fall short of the goal, the prefix with the most area
    is kept and the area falls short (``return_blocks=True`` shows what was used).

    Args:
        images: ``B x C x H x W`` normalised images (so 0 is the mean); not modified.
        labels: ``B x H x W`` labels the student is trained on (``M_bc``); any dtype.
        disagreement: ``B x H x W`` bool set U per image (non-zero counts for other dtypes).
        ratio: masked area as a fraction of ``|U|``, in [0, 1]. Default 0.3.
        sides: ``(smallest, largest)`` odd block sides, ``1 <= smallest <= largest``.
            Default ``(3, 11)``.
        generator: the ``torch.Generator`` of all randomness (centres and sides), on the
            images' device; ``None`` uses torch's global generator.
        target: what the labels become inside the blocks: ``"background"`` (default; the
            authors' code, and the paper applies DARM to M_bc before the loss): set to 0;
            ``"ignore"``: returned unchanged and the caller leaves ``block_mask`` out of the
            loss (:func:`fgi_core.losses.ce_loss` ``ignore=``); ``"keep"``: returned unchanged and kept in the
            loss (only the image is masked).
        budget: ``"image"`` (default): the recipe above, per image; ``"batch"``: the authors'
            rule (:func:`_batch_budget_blocks`): centres drawn from U of the whole batch, sides
            ``2 (s // 2) + 1`` for ``s`` uniform in 3..10 (so 3, 5, 5, 7, 7, 9, 9, 11), block
            areas clipped to the image and *summed* (overlaps counted twice) until they reach
            ``int(ratio * |U of the batch|)``. ``sides`` is ignored there.
        return_blocks: also return a :class:`DarmBlocks` with the candidate centres, their
            sides and which were painted (for tests and figures).

    Returns:
        ``(masked_images, labels_out, block_mask)``: ``B x C x H x W`` images zeroed in the
        blocks (all channels), ``B x H x W`` labels (the input tensor itself with
        ``target="ignore"``, a new tensor of its dtype with ``"background"``), and the bool
        ``B x H x W`` union of the blocks; plus a :class:`DarmBlocks` when ``return_blocks``.

    Raises:
        ValueError: ``images`` not 4-D, ``labels`` or ``disagreement`` not ``B x H x W`` of the
            images' size (both shapes named), ``ratio`` outside [0, 1], ``sides`` not odd or not
            ordered, unknown ``target``.

    Example:
        >>> import torch
        >>> u = torch.zeros(1, 32, 32, dtype=torch.bool); u[0, 8:24, 8:24] = True  # |U| = 256
        >>> g = torch.Generator().manual_seed(0)
        >>> out, lab, block = darm(torch.randn(1, 3, 32, 32), torch.ones(1, 32, 32), u, generator=g)
        >>> abs(block.sum().item() - 0.3 * 256) <= 121 / 2   # within half a block of the request
        True
        >>> bool((out[:, :, block[0]] == 0).all())
        True
    """
    target = look_up_option(target, DARM_TARGETS, "darm target")
    budget = look_up_option(budget, DARM_BUDGETS, "darm budget")
    lo, hi = _check_darm_inputs(images, labels, disagreement, ratio, sides)

    u = binary_mask(disagreement).to(images.device)
    if budget == "batch":
        if return_blocks:
            raise ValueError("return_blocks is for budget='image' only")
        block_mask, blocks = _batch_budget_blocks(u, float(ratio), generator), None
    else:
        block_mask, blocks = _image_budget_blocks(u, float(ratio), lo, hi, generator)

    # a product with the keep mask: 3x faster than torch.where on the CPU; finite inputs get
    # exact zeros (a NaN or inf inside a block would stay non-finite)
    masked_images = images * (~block_mask[:, None]).to(images.dtype)
    labels_out = labels.masked_fill(block_mask.to(labels.device), 0) if target == "background" else labels
    if not return_blocks:
        return masked_images, labels_out, block_mask
    return masked_images, labels_out, block_mask, blocks


def _check_darm_inputs(images: torch.Tensor, labels: torch.Tensor, disagreement: torch.Tensor, ratio: float,
                       sides: tuple[int, int]) -> tuple[int, int]:
    """Check :func:`darm`'s tensors (``B x C x H x W`` images, ``B x H x W`` labels and U) and
    numbers; the smallest and largest block side."""
    check_tensor(images, "images")
    if images.ndim != 4:
        raise ValueError(f"images must be B x C x H x W, got shape {shape_of(images)}")
    check_mask(labels, "labels", images, "images")
    check_mask(disagreement, "disagreement", images, "images")
    if not 0.0 <= float(ratio) <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    return _check_sides(sides)


def _image_budget_blocks(u: torch.Tensor, ratio: float, lo: int, hi: int,
                         generator: torch.Generator | None) -> tuple[torch.Tensor, DarmBlocks]:
    """DARM's per-image budget (``darm(..., budget="image")``), vectorised over the batch.

    Args:
        u: bool ``B x H x W`` disagreement set, on the images' device.
        ratio: share of ``|U|`` to cover, per image; ``lo``, ``hi``: the odd block sides.

    Returns:
        the bool ``B x H x W`` union of the blocks kept, and the :class:`DarmBlocks` drawn.
    """
    device = u.device
    b, h, w = u.shape
    hw = h * w
    n_sides = (hi - lo) // 2 + 1
    mean_area = sum((lo + 2 * j) ** 2 for j in range(n_sides)) / n_sides

    with torch.no_grad():
        in_u = u.reshape(b, hw)
        count_u = in_u.cumsum(1, dtype=torch.int32)  # B x HW, running count of U
        n_u = count_u[:, -1].long()
        goal = ratio * n_u.to(torch.float32)  # B, pixels to cover
        k = _candidate_count(goal, ratio, hw, mean_area)

        # Centres: the (j+1)-th pixel of U with j uniform in 0..|U|-1. Rows without U get
        # arbitrary centres; their goal is 0, so none is kept.
        draw = torch.rand(b, k, generator=generator, device=device)
        nth = (draw * n_u[:, None]).to(torch.int32).clamp_(max=(n_u - 1).clamp(min=0)[:, None]) + 1
        centre = torch.searchsorted(count_u, nth).clamp_(max=hw - 1)  # B x K, long
        side_idx = torch.randint(0, n_sides, (b, k), generator=generator, device=device)

        # Every pixel of every candidate block, as (row, col) offsets within the largest block;
        # an offset beyond the candidate's own radius, or beyond the image, is clamped back onto
        # the block's edge or the image's edge, i.e. onto a pixel the block covers anyway. Rows
        # depend on dy only and columns on dx only, so the two are built apart and combined once.
        r_max = hi // 2
        span = torch.arange(-r_max, r_max + 1, device=device)
        radius = (lo // 2 + side_idx)[:, :, None]  # (lo + 2 j) // 2
        reach = torch.minimum(torch.maximum(span, -radius), radius)  # B x K x (2 r_max + 1)
        rows = ((centre // w)[:, :, None] + reach).clamp_(0, h - 1)
        cols = ((centre % w)[:, :, None] + reach).clamp_(0, w - 1)
        pixel = (rows[:, :, :, None] * w + cols[:, :, None, :]).view(b, -1)  # B x K*P

        # First candidate (rank in drawing order) covering each pixel, K = none; stored with a
        # per-image offset of (K + 1) so that one bincount histograms the whole batch.
        rank = torch.arange(k, device=device, dtype=torch.int32)
        offsets = torch.arange(b, device=device, dtype=torch.int32)[:, None] * (k + 1)
        first = (offsets + k).expand(b, hw).contiguous()  # int32 halves the traffic of this map
        src = (rank[:, None] + offsets[:, :, None]).expand(b, k, (2 * r_max + 1) ** 2).reshape(b, -1)
        first.scatter_reduce_(1, pixel, src, "amin")

        # Union area after each prefix of candidates -> blocks to keep per image.
        counts = torch.bincount(first.view(-1), minlength=b * (k + 1)).view(b, k + 1)
        area = counts[:, :k].cumsum(1)  # area[:, n - 1] = union of the first n candidates
        # the prefix (of at least one block) whose union is nearest the goal, the shorter at a tie
        n_keep = ((area - goal[:, None]).abs().argmin(1) + 1).to(torch.int32)
        n_keep = torch.where(goal > 0, n_keep, 0)
        block_mask = (first < offsets + n_keep[:, None]).view(b, h, w)
        blocks = DarmBlocks(
            centres=torch.stack((centre // w, centre % w), dim=-1),
            sides=lo + 2 * side_idx,
            used=rank[None] < n_keep[:, None],
        )
    return block_mask, blocks


def _batch_budget_blocks(u: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """The authors' DARM budget, vectorised: bool ``B x H x W`` union of the blocks.

    Their loop walks a shuffle of U's pixels over the whole batch; at each it stops if the
    summed block areas reached ``int(ratio * |U|)``, else zeroes a block of side
    ``2 (s // 2) + 1``, ``s`` uniform in 3..10, clipped to the image, and adds its clipped
    area. Here the centres are drawn with replacement (the same as the shuffle while the blocks
    kept are few against ``|U|``), every candidate's clipped area is computed at once, and the
    candidates whose preceding areas sum below the goal are kept. A block is at least 2 x 2
    pixels after clipping, so ``goal / 4 + 1`` candidates always suffice.
    """
    b, h, w = u.shape
    hw, device = h * w, u.device
    with torch.no_grad():
        count = u.reshape(-1).cumsum(0)  # running count of U over the whole batch
        n_u = count[-1]
        goal = torch.floor(n_u.to(torch.float64) * ratio)  # int(total * ratio), as theirs
        most = float(goal.item()) if device.type == "cpu" else ratio * b * hw  # no host sync on a GPU
        k = int(most // 4) + 1
        draw = torch.rand(k, generator=generator, device=device, dtype=torch.float64)
        nth = (draw * n_u).long().clamp_(max=(n_u - 1).clamp(min=0)) + 1
        pos = torch.searchsorted(count, nth).clamp_(max=b * hw - 1)
        half = torch.randint(3, 11, (k,), generator=generator, device=device) // 2  # radius 1..5
        image, pixel = pos // hw, pos % hw
        row, col = pixel // w, pixel % w
        extent = ((row + half + 1).clamp(max=h) - (row - half).clamp(min=0)) * ((col + half + 1).clamp(max=w) - (col - half).clamp(min=0))
        before = extent.cumsum(0) - extent  # area masked before each candidate
        keep = (before.to(torch.float64) < goal).to(torch.int32)
        span = torch.arange(-5, 6, device=device)
        reach = torch.minimum(torch.maximum(span, -half[:, None]), half[:, None])  # K x 11, onto the block's edge
        rows = (row[:, None] + reach).clamp_(0, h - 1)
        cols = (col[:, None] + reach).clamp_(0, w - 1)
        index = (image[:, None, None] * hw + rows[:, :, None] * w + cols[:, None, :]).reshape(-1)
        painted = torch.zeros(b * hw, dtype=torch.int32, device=device)
        painted.scatter_reduce_(0, index, keep[:, None].expand(k, 121).reshape(-1), "amax")
    return painted.view(b, h, w).bool()


def disagreement(
    teacher_logits: torch.Tensor,
    student_logits: torch.Tensor,
    teacher_activation: str = "softmax",
    student_activation: str = "softmax",
) -> torch.Tensor:
    """U for ``darm_source="predictions"``: pixels where the two networks' predicted classes differ.

    docs/method.md §4.4 (the paper's DARM; the ``quick`` profile's). Each network's
    prediction is its lesion probability ``> 0.5``, read with its own activation
    (:func:`fgi_core.models.foreground_probability`: softmax for CE-trained networks, sigmoid
    of channel 1 for BCE-trained ones); one-channel logits predict the lesion where > 0.

    Args:
        teacher_logits: ``B x K x H x W`` (``K`` 1 or 2).
        student_logits: the same shape.
        teacher_activation, student_activation: ``"softmax"`` (default) or ``"sigmoid"``.

    Returns:
        Bool ``B x H x W``, ``True`` where the predictions differ.

    Raises:
        ValueError: not 4-D, or the two shapes differ (both named).

    Example:
        >>> import torch
        >>> t = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]]); s = torch.zeros(1, 2, 1, 2)
        >>> disagreement(t, s).tolist()   # argmax of zeros is class 0
        [[[False, True]]]
    """
    for name, x in (("teacher_logits", teacher_logits), ("student_logits", student_logits)):
        check_tensor(x, name)
        if x.ndim != 4:
            raise ValueError(f"{name} must be B x K x H x W, got shape {shape_of(x)}")
    if shape_of(teacher_logits) != shape_of(student_logits):
        raise ValueError(
            f"teacher_logits of shape {shape_of(teacher_logits)} and student_logits of shape "
            f"{shape_of(student_logits)} must match"
        )
    from fgi_core.models.readout import foreground

    with torch.no_grad():
        return foreground(teacher_logits, teacher_activation) != foreground(student_logits, student_activation)


def label_disagreement(m_hc: torch.Tensor, m_bc: torch.Tensor) -> torch.Tensor:
    """U for ``darm_source="labels"`` (the authors' code: ``cpu``, ``paper``): ``M_hc != M_bc``.

    With ``M_hc`` inside ``M_bc`` this is the band ``M_bc \\ M_hc``.

    Args:
        m_hc: ``B x H x W`` high-confidence mask (non-zero = 1).
        m_bc: ``B x H x W`` broad-coverage mask.

    Returns:
        Bool ``B x H x W``.

    Raises:
        ValueError: the masks are not ``B x H x W`` of one shape (both named).

    Example:
        >>> import torch
        >>> label_disagreement(torch.tensor([[[1, 0, 0]]]), torch.tensor([[[1, 1, 0]]])).tolist()
        [[[False, True, False]]]
    """
    check_tensor(m_hc, "m_hc")
    check_tensor(m_bc, "m_bc")
    if m_hc.ndim != 3 or shape_of(m_hc) != shape_of(m_bc):
        raise ValueError(f"m_hc of shape {shape_of(m_hc)} and m_bc of shape {shape_of(m_bc)} must be equal B x H x W")
    return binary_mask(m_hc) != binary_mask(m_bc)


# ----------------------------------------------------------------------------------------------
# CWC perturbations (authors' code)
# ----------------------------------------------------------------------------------------------
def _check_mix_inputs(images: torch.Tensor, target_logits: torch.Tensor, alpha: float) -> None:
    """The checks both CutMix variants make (shapes name both tensors)."""
    if images.ndim != 4 or target_logits.ndim != 4 or images.shape[0] != target_logits.shape[0] or images.shape[2:] != target_logits.shape[2:]:
        raise ValueError(
            f"images of shape {shape_of(images)} and target_logits of shape {shape_of(target_logits)} "
            f"must be B x C x H x W and B x K x H x W with the same B, H, W"
        )
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")


def cutmix(
    images: torch.Tensor,
    target_logits: torch.Tensor,
    generator: torch.Generator | None = None,
    alpha: float = 4.0,
):
    """CutMix of a batch with its rolled copy, the same box for the images and the target logits.

    The perturbation of CWC's inputs in the authors' code (docs/method.md §4.6): ``lambda ~
    Beta(alpha, alpha)`` (``alpha`` 4), one box per batch with sides ``round(H sqrt(1 - lambda))``
    x ``round(W sqrt(1 - lambda))``, so its area is ``1 - lambda`` of the image up to rounding;
    it lies wholly inside the image at a uniformly random position (unlike the common
    centre-then-clip CutMix, whose clipped boxes shrink near the borders). Inside the box image
    ``i`` takes the content of image ``i - 1`` (``torch.roll`` by one along the batch; a batch of
    one is left unchanged), and so do the target logits, so the mixed targets still describe the
    mixed images.

    Sampling: ``torch.distributions.Beta`` takes no generator, so one 63-bit seed is drawn from
    ``generator`` and a NumPy ``Generator`` seeded with it draws ``lambda`` and the box position.
    The result is therefore fully determined by the torch generator's state (one host sync).

    Args:
        images: ``B x C x H x W`` inputs.
        target_logits: ``B x K x H x W`` logits of the network giving the CWC targets.
        generator: ``torch.Generator`` (any device); ``None`` uses torch's global generator.
        alpha: Beta parameter, ``> 0``. Default 4.0.

    Returns:
        ``(mixed_images, mixed_target_logits, box_mask)``, the last a bool ``B x H x W`` (the
        same box in every row).

    Raises:
        ValueError: not 4-D, batch or spatial sizes differ (both shapes named), ``alpha <= 0``.

    Example:
        >>> import torch
        >>> x = torch.arange(2.0)[:, None, None, None].expand(2, 1, 8, 8)   # image i is all i
        >>> mixed, _, box = cutmix(x, x.clone(), generator=torch.Generator().manual_seed(0))
        >>> bool((mixed[0][:, box[0]] == 1).all() and (mixed[1][:, box[1]] == 0).all())
        True
    """
    check_tensor(images, "images")
    check_tensor(target_logits, "target_logits")
    _check_mix_inputs(images, target_logits, alpha)
    b, _, h, w = images.shape
    gen_device = generator.device if generator is not None else torch.device("cpu")
    seed = int(torch.randint(0, 2**63 - 1, (), generator=generator, device=gen_device).item())
    rng = np.random.default_rng(seed)
    lam = float(rng.beta(alpha, alpha))
    cut_h, cut_w = int(round(h * math.sqrt(1.0 - lam))), int(round(w * math.sqrt(1.0 - lam)))
    top, left = int(rng.integers(0, h - cut_h + 1)), int(rng.integers(0, w - cut_w + 1))
    box = torch.zeros(h, w, dtype=torch.bool, device=images.device)
    box[top : top + cut_h, left : left + cut_w] = True
    mixed_images = torch.where(box, images.roll(1, dims=0), images)
    mixed_targets = torch.where(box.to(target_logits.device), target_logits.roll(1, dims=0), target_logits)
    return mixed_images, mixed_targets, box.expand(b, h, w).clone()


def _beta(alpha: float, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """One ``Beta(alpha, alpha)`` draw as a 0-d float64 tensor on ``device``.

    For an integer ``alpha`` (4 in the authors' code) it is the ``alpha``-th smallest of
    ``2 alpha - 1`` uniforms, drawn on the device (no host synchronisation); otherwise NumPy
    draws it from a seed taken from ``generator``.
    """
    if float(alpha).is_integer():
        a = int(alpha)
        return torch.rand(2 * a - 1, generator=generator, device=device, dtype=torch.float64).sort().values[a - 1]
    gen_device = generator.device if generator is not None else torch.device("cpu")
    seed = int(torch.randint(0, 2**63 - 1, (), generator=generator, device=gen_device).item())
    return torch.tensor(np.random.default_rng(seed).beta(alpha, alpha), dtype=torch.float64, device=device)


def cutmix_pairs(
    images: torch.Tensor,
    target_logits: torch.Tensor,
    generator: torch.Generator | None = None,
    alpha: float = 4.0,
):
    """CutMix as the authors' code does it: random pairing, one box per sample.

    ``lambda ~ Beta(alpha, alpha)`` once per call; a random permutation pairs each image with a
    partner; along each axis of length ``n`` the box has the cut ``floor(n sqrt(1 - lambda))``,
    a centre uniform in ``[floor(n / 8), n)`` drawn per sample, and spans
    ``[centre - cut // 2, centre + cut // 2)`` clipped to the image (so boxes near the border
    shrink, as theirs do). Inside its box image ``i`` takes the content of its partner, and so do
    the target logits. Everything is drawn on the tensors' device from ``generator``: no host
    synchronisation.

    Args:
        images: ``B x C x H x W`` inputs.
        target_logits: ``B x K x H x W`` logits of the network giving the targets.
        generator: ``torch.Generator`` on the tensors' device; ``None``: the global one.
        alpha: Beta parameter, ``> 0``. Default 4.

    Returns:
        ``(mixed_images, mixed_target_logits, box_mask)``, the last bool ``B x H x W`` (one box
        per row).

    Raises:
        ValueError: not 4-D, batch or spatial sizes differ, ``alpha <= 0``.

    Example:
        >>> import torch
        >>> x = torch.arange(4.0)[:, None, None, None].expand(4, 1, 16, 16)   # image i is all i
        >>> mixed, t, box = cutmix_pairs(x, x.clone(), generator=torch.Generator().manual_seed(0))
        >>> bool((mixed == t).all())   # images and targets mixed alike
        True
    """
    check_tensor(images, "images")
    check_tensor(target_logits, "target_logits")
    _check_mix_inputs(images, target_logits, alpha)
    b, _, h, w = images.shape
    device = images.device
    lam = _beta(alpha, generator, device)
    partner = torch.randperm(b, generator=generator, device=device)
    inside = []
    for n in (h, w):
        cut = torch.floor(n * torch.sqrt(1.0 - lam)).long()
        centre = torch.randint(n // 8, n, (b,), generator=generator, device=device)
        lo = (centre - cut // 2).clamp(0, n)
        hi = (centre + cut // 2).clamp(0, n)
        span = torch.arange(n, device=device)
        inside.append((span >= lo[:, None]) & (span < hi[:, None]))  # B x n
    box = inside[0][:, :, None] & inside[1][:, None, :]  # B x H x W
    mixed_images = torch.where(box[:, None], images[partner], images)
    mixed_targets = torch.where(box[:, None].to(target_logits.device), target_logits[partner], target_logits)
    return mixed_images, mixed_targets, box


def uniform_noise(
    images: torch.Tensor, generator: torch.Generator | None = None, amplitude: float = 0.2
) -> torch.Tensor:
    """``images + U(-amplitude, amplitude)`` noise, i.i.d. per element (CWC inputs, authors' code).

    Args:
        images: any floating tensor (``B x C x H x W`` in use).
        generator: ``torch.Generator`` on the images' device; ``None`` uses the global one.
        amplitude: half-width of the noise, ``>= 0``. Default 0.2 (docs/method.md §4.6).

    Returns:
        A new tensor of the images' shape and dtype.

    Raises:
        ValueError: negative ``amplitude``.
        TypeError: ``images`` not floating point.

    Example:
        >>> import torch
        >>> x = torch.zeros(2, 3, 4, 4)
        >>> bool(uniform_noise(x, torch.Generator().manual_seed(0)).abs().max() <= 0.2)
        True
    """
    check_tensor(images, "images")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point, got {images.dtype}")
    if amplitude < 0:
        raise ValueError(f"amplitude must be >= 0, got {amplitude}")
    noise = torch.rand(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return images + (noise * 2.0 - 1.0) * amplitude
