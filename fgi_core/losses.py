"""Losses and perturbations of the FGI teacher-student training (docs/method.md §4, §6).

Supervision
    :func:`pce_loss` (teacher on M_hc, the paper's text), :func:`bce_loss` (the authors' code,
    teacher and student, and the GazeMedSeg baseline), :func:`ce_loss` (student on M_bc, with
    the pixels masked by DARM optionally ignored).
Distillation
    :func:`afc_loss` (angular feature consistency), :func:`cwc_loss` (confidence-aware weighted
    consistency), :func:`rampup` (their weight over time).
Perturbations
    :func:`darm` (disagreement-aware random masking, vectorised, on the tensors' device) with its
    two sources of disagreement :func:`disagreement` and :func:`label_disagreement`;
    :func:`cutmix` and :func:`uniform_noise` (the inputs of CWC in the authors' code).

Conventions, shared by every function here:

* logits are ``B x 2 x H x W`` (two-class softmax) unless said otherwise;
* masks are ``B x H x W`` of any dtype: bool and integer masks count non-zero as 1 (so a 0/255
  mask works), floating masks count ``> 0.5`` as 1 (except :func:`bce_loss`, whose target
  may be soft);
* a shape mismatch raises ``ValueError`` naming both shapes; an unknown option raises
  ``ValueError`` listing the allowed names (:func:`fgi_core.config.look_up_option`);
* ``reduction`` is ``"mean"`` (the loss as docs/method.md §4 defines it), ``"sum"`` or ``"none"``;
  each function says what ``"none"`` returns (a per-pixel map or per-sample values);
* randomness comes only from the ``torch.Generator`` passed as ``generator`` (``None`` uses
  torch's global generator); the generator must live on the tensors' device.

Option defaults (docs/fidelity.md §2):

================  =====================  ===================
option            ``quick`` and ``cpu``  ``paper`` profile
================  =====================  ===================
``teacher_loss``  ``pce``                ``bce``
``student_loss``  ``ce``                 ``bce``
``darm_source``   ``predictions``        ``labels``
``darm_target``   ``background``         ``background``
``darm_budget``   ``image``              ``batch``
================  =====================  ===================

Example:
    >>> import torch
    >>> from fgi_core.losses import pce_loss, rampup
    >>> logits = torch.zeros(1, 2, 2, 2)
    >>> m_hc = torch.tensor([[[1, 0], [0, 0]]]); m_bc = torch.tensor([[[1, 1], [1, 0]]])
    >>> round(pce_loss(logits, m_hc, m_bc).item(), 4)  # log 2 on the 2 labelled pixels
    0.6931
    >>> rampup(4000)
    1.0
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fgi_core.config import look_up_option

__all__ = [
    "pce_loss",
    "bce_loss",
    "ce_loss",
    "afc_loss",
    "cwc_loss",
    "darm",
    "DarmBlocks",
    "disagreement",
    "label_disagreement",
    "cutmix",
    "cutmix_pairs",
    "uniform_noise",
    "rampup",
]

REDUCTIONS = ("mean", "sum", "none")
DARM_TARGETS = ("background", "ignore", "keep")
DARM_BUDGETS = ("image", "batch")
_LOG_EPS = math.log(1e-6)  # log of the clamp floor of L_neg (docs/method.md §4.6)


# ----------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------
def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_tensor(t, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")


def _check_logits(logits: torch.Tensor, name: str = "logits", channels: Sequence[int] | None = (2,)) -> None:
    """``logits`` must be ``B x C x H x W`` with ``C`` in ``channels`` (``None``: any ``C >= 2``)."""
    _check_tensor(logits, name)
    if logits.ndim != 4:
        raise ValueError(f"{name} must be B x C x H x W, got shape {_shape(logits)}")
    c = logits.shape[1]
    if channels is None:
        if c < 2:
            raise ValueError(f"{name} must have at least 2 class channels, got shape {_shape(logits)}")
    elif c not in channels:
        want = " or ".join(str(k) for k in channels)
        raise ValueError(f"{name} must have {want} channels (B x C x H x W), got shape {_shape(logits)}")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {logits.dtype}")


def _check_mask(mask: torch.Tensor, name: str, ref: torch.Tensor, ref_name: str) -> None:
    """``mask`` must be ``B x H x W`` matching the batch and spatial size of ``ref`` (B x C x H x W)."""
    _check_tensor(mask, name)
    expected = (ref.shape[0], *ref.shape[2:])
    if _shape(mask) != expected:
        raise ValueError(
            f"{name} of shape {_shape(mask)} does not match {ref_name} of shape {_shape(ref)}: "
            f"expected {name} of shape B x H x W = {expected}"
        )


def _binary(mask: torch.Tensor) -> torch.Tensor:
    """A bool view of a mask: non-zero for bool / integer masks, ``> 0.5`` for floating ones."""
    if mask.dtype == torch.bool:
        return mask
    if mask.is_floating_point():
        return mask > 0.5
    return mask != 0


def _reduce(values: torch.Tensor, valid: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """Mean over ``valid`` pixels (0 with a gradient when there are none), sum, or the map."""
    if valid is not None:
        values = torch.where(valid, values, values.new_zeros(()))
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    count = valid.sum() if valid is not None else values.numel()
    if isinstance(count, torch.Tensor):
        return total / count.clamp_min(1).to(total.dtype)
    return total / max(count, 1)


# ----------------------------------------------------------------------------------------------
# Supervision
# ----------------------------------------------------------------------------------------------
def pce_loss(logits: torch.Tensor, m_hc: torch.Tensor, m_bc: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Partial cross-entropy of the teacher on the two gaze pseudo-masks.

    docs/method.md §4.1, ``teacher_loss="pce"`` (the paper's text; default in the ``quick`` and
    ``cpu`` profiles, the ``paper`` profile uses :func:`bce_loss`). Labelled pixels are:
    foreground = ``M_hc``; background = outside ``M_bc``; the band ``M_bc \\ M_hc`` is ignored.
    The loss is the two-class cross-entropy averaged over labelled pixels of the whole batch.

    ``M_hc`` is expected to lie inside ``M_bc`` (it does when both come from thresholds
    ``t_hc > t_bc`` on one map); this is not checked (it would cost a host sync), and a pixel in
    ``M_hc`` is foreground whatever ``M_bc`` says there.

    Args:
        logits: ``B x 2 x H x W`` raw scores (softmax over the 2 channels; channel 1 = lesion).
        m_hc: ``B x H x W`` high-confidence mask (uint8 / bool / long; non-zero = 1).
        m_bc: ``B x H x W`` broad-coverage mask, same convention.
        reduction: ``"mean"`` (default): mean over labelled pixels; when no pixel is labelled
            the result is 0 and still carries a (zero) gradient, never NaN. ``"sum"``: sum over
            labelled pixels. ``"none"``: the per-pixel ``B x H x W`` map, 0 on ignored pixels.

    Returns:
        A scalar tensor, or ``B x H x W`` with ``reduction="none"``.

    Raises:
        ValueError: ``logits`` not ``B x 2 x H x W``; a mask not ``B x H x W`` of the logits'
            size (the message names both shapes); unknown ``reduction``.
        TypeError: ``logits`` not floating point.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]], [[2.0, 0.0], [0.0, 0.0]]]])
        >>> m_hc = torch.tensor([[[1, 0], [0, 0]]], dtype=torch.uint8)
        >>> m_bc = torch.tensor([[[1, 1], [1, 0]]], dtype=torch.uint8)
        >>> # fg pixel: -log(e^2 / (1 + e^2)) = 0.1269; bg pixel: log 2 = 0.6931
        >>> round(pce_loss(logits, m_hc, m_bc).item(), 4)
        0.41
    """
    reduction = look_up_option(reduction, REDUCTIONS, "reduction")
    _check_logits(logits)
    _check_mask(m_hc, "m_hc", logits, "logits")
    _check_mask(m_bc, "m_bc", logits, "logits")
    fg = _binary(m_hc)
    labelled = fg | ~_binary(m_bc)
    per_pixel = F.cross_entropy(logits, fg.long(), reduction="none")
    return _reduce(per_pixel, labelled, reduction)


def bce_loss(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """BCE-with-logits on the lesion channel against a mask, over all pixels (the authors' code).

    docs/method.md §4.2: ``teacher_loss="bce"`` (target ``M_hc``) and ``student_loss="bce"``
    (target ``M_bc``), both the ``paper`` profile's defaults (``quick`` / ``cpu`` use
    :func:`pce_loss` and :func:`ce_loss`); also the per-level loss of the GazeMedSeg baseline
    (section 4c), whose networks have one output channel.

    Args:
        logits: ``B x 2 x H x W`` (channel 1 is used as the lesion logit, channel 0 is unused)
            or ``B x 1 x H x W``.
        target: ``B x H x W`` mask; bool / integer masks count non-zero as 1, a floating target
            is used as given (soft targets in [0, 1] are allowed).
        reduction: ``"mean"`` (default, over all pixels of the batch), ``"sum"``, or ``"none"``
            (the per-pixel ``B x H x W`` map).

    Returns:
        A scalar tensor, or ``B x H x W`` with ``reduction="none"``.

    Raises:
        ValueError: ``logits`` not ``B x 1 x H x W`` or ``B x 2 x H x W``; ``target`` not
            ``B x H x W`` of the logits' size (both shapes named); unknown ``reduction``.
        TypeError: ``logits`` not floating point.

    Example:
        >>> import torch
        >>> logits = torch.zeros(1, 2, 1, 2)
        >>> round(bce_loss(logits, torch.tensor([[[1, 0]]])).item(), 4)  # log 2 at each pixel
        0.6931
    """
    reduction = look_up_option(reduction, REDUCTIONS, "reduction")
    _check_logits(logits, channels=(1, 2))
    _check_mask(target, "target", logits, "logits")
    lesion = logits[:, -1]  # channel 1 of two, or the only channel
    target = target.to(lesion.dtype) if target.is_floating_point() else _binary(target).to(lesion.dtype)
    return F.binary_cross_entropy_with_logits(lesion, target, reduction=reduction)


def ce_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    """Two-class cross-entropy of the student against ``M_bc``, optionally ignoring pixels.

    docs/method.md §4.3, ``student_loss="ce"`` (the paper's text; default in ``quick`` and
    ``cpu``, the ``paper`` profile uses :func:`bce_loss`). With ``darm_target="ignore"`` (default
    in ``quick`` / ``cpu``) pass DARM's ``block_mask`` as ``ignore``: the masked pixels then do
    not count, neither in the sum nor in the number of pixels averaged over.

    Args:
        logits: ``B x 2 x H x W`` raw scores.
        target: ``B x H x W`` mask (non-zero = lesion).
        ignore: optional bool ``B x H x W``; ``True`` pixels are left out.
        reduction: ``"mean"`` (default): mean over the pixels not ignored (0 with a zero
            gradient when all are ignored); ``"sum"``; ``"none"``: the per-pixel ``B x H x W``
            map with 0 on ignored pixels.

    Returns:
        A scalar tensor, or ``B x H x W`` with ``reduction="none"``.

    Raises:
        ValueError: ``logits`` not ``B x 2 x H x W``; ``target`` or ``ignore`` not ``B x H x W``
            of the logits' size (both shapes named); unknown ``reduction``.
        TypeError: ``logits`` not floating point.

    Example:
        >>> import math, torch
        >>> logits = torch.tensor([[[[0.0, 0.0]], [[math.log(3), 5.0]]]])  # p_fg = 0.75 at pixel 0
        >>> target = torch.tensor([[[1, 0]]])
        >>> round(ce_loss(logits, target, ignore=torch.tensor([[[False, True]]])).item(), 4)  # -log 0.75
        0.2877
    """
    reduction = look_up_option(reduction, REDUCTIONS, "reduction")
    _check_logits(logits)
    _check_mask(target, "target", logits, "logits")
    valid = None
    if ignore is not None:
        _check_mask(ignore, "ignore", logits, "logits")
        valid = ~_binary(ignore)
    per_pixel = F.cross_entropy(logits, _binary(target).long(), reduction="none")
    return _reduce(per_pixel, valid, reduction)


# ----------------------------------------------------------------------------------------------
# Distillation
# ----------------------------------------------------------------------------------------------
def afc_loss(
    teacher_feats: Sequence[torch.Tensor], student_feats: Sequence[torch.Tensor], reduction: str = "mean"
) -> torch.Tensor:
    """Angular feature consistency: ``mean_s mean_pixels (1 - cos(d_s^teacher, a_s))``.

    docs/method.md §4.5 (AFC, all profiles; weight ``lambda_AFC * rampup(t)`` with
    ``lambda_AFC = 0.05`` effective in the authors' code). The cosine runs over channels at each
    pixel. The teacher's features are detached here, so the gradient reaches only the student.
    A pixel where either feature is the zero vector has cosine 0 (loss 1), by torch's ``eps``.

    Args:
        teacher_feats: the teacher's distillation features ``d_s``, one ``B x C_s x H_s x W_s``
            tensor per stage (4 in the FGI networks).
        student_feats: the student's features after projection and adapter ``a_s``, the same
            shapes pairwise.
        reduction: ``"mean"`` (default): the loss above, averaged over the batch too; ``"sum"``:
            the per-sample values summed over the batch; ``"none"``: per-sample values, shape
            ``(B,)`` (stages have different sizes, so there is no single per-pixel map).

    Returns:
        A scalar tensor in [0, 2], or ``(B,)`` with ``reduction="none"``.

    Raises:
        ValueError: empty lists, lists of different lengths, a feature not 4-D, or a pair of
            different shapes (the message names the stage index and both shapes); unknown
            ``reduction``.

    Example:
        >>> import torch
        >>> t = [torch.tensor([[[[1.0]], [[0.0]]]])]   # one stage, 1 x 2 x 1 x 1
        >>> s = [torch.tensor([[[[0.0]], [[3.0]]]])]   # orthogonal: 1 - cos = 1
        >>> afc_loss(t, s).item()
        1.0
    """
    reduction = look_up_option(reduction, REDUCTIONS, "reduction")
    teacher_feats, student_feats = list(teacher_feats), list(student_feats)
    if len(teacher_feats) != len(student_feats):
        raise ValueError(
            f"teacher_feats has {len(teacher_feats)} stages but student_feats has {len(student_feats)}"
        )
    if not teacher_feats:
        raise ValueError("afc_loss needs at least one stage of features, got empty lists")
    per_stage = []
    for s, (t_feat, s_feat) in enumerate(zip(teacher_feats, student_feats)):
        _check_tensor(t_feat, f"teacher_feats[{s}]")
        _check_tensor(s_feat, f"student_feats[{s}]")
        if t_feat.ndim != 4 or _shape(t_feat) != _shape(s_feat):
            raise ValueError(
                f"stage {s}: teacher_feats[{s}] of shape {_shape(t_feat)} and student_feats[{s}] of "
                f"shape {_shape(s_feat)} must be equal B x C x H x W shapes (the student's features "
                f"go through their adapter to the teacher's width first)"
            )
        cos = F.cosine_similarity(t_feat.detach(), s_feat, dim=1)  # B x H x W
        per_stage.append((1.0 - cos).flatten(1).mean(1))  # B
    per_sample = torch.stack(per_stage).mean(0)
    if reduction == "none":
        return per_sample
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


def cwc_loss(
    logits: torch.Tensor,
    target_logits: torch.Tensor,
    tau_pos: float = 0.8,
    tau_neg: float = 0.2,
    reduction: str = "mean",
) -> torch.Tensor:
    """Confidence-aware weighted consistency of ``logits`` towards ``target_logits`` (detached).

    docs/method.md §4.6 (CWC; ``tau_pos`` 0.8, ``tau_neg`` 0.2 in every profile; run both ways,
    teacher <- student and student <- teacher, with weight ``rampup(t)``). With
    ``p_t = softmax(target_logits.detach())`` and ``p_s = softmax(logits)`` over the ``K``
    classes, at each pixel:

    * ``w+ = max_c p_t``, ``y~ = argmax_c p_t``, ``Omega_pos = {w+ >= tau_pos}``;
      ``L_pos = mean over Omega_pos of w+ * (-log p_s[y~])``;
    * ``w- = min_c p_t``, ``c- = `` the least likely class other than ``y~`` (for two classes
      exactly ``1 - y~``, ties included), ``Omega_neg = {w- < tau_neg}``;
      ``L_neg = mean over Omega_neg of w- * (-log clamp(1 - p_s[c-], 1e-6, 1))``;
    * ``L = L_pos + L_neg``; an empty region contributes 0 (no NaN, finite gradient).

    The means run over the pixels of the whole batch that fall in the region. For ``K > 2``
    the negative term pushes the student away from the class the target rules out most firmly;
    ``w- = min_c p_t = p_t[c-]`` there too. ``log(1 - p_s[c-])`` is computed as the log-sum-exp
    of the other classes' log-probabilities, stable for confident students.

    Two-class identity (checked by the tests): ``w- = 1 - w+`` and
    ``1 - p_s[1 - y~] = p_s[y~]``, so ``Omega_neg = {w+ > 1 - tau_neg}``, which is
    ``Omega_pos`` up to pixels with ``w+`` exactly ``tau_pos`` when ``tau_neg = 1 - tau_pos``
    (the defaults). On that common region of ``N`` pixels the two terms add up to
    ``(1/N) sum (w+ + (1 - w+)) CE = (1/N) sum CE``: a plain cross-entropy towards ``y~`` on the
    confident pixels (the clamp aside, which acts only where ``p_s[y~] < 1e-6``).

    Args:
        logits: ``B x K x H x W`` raw scores of the network being trained (``K >= 2``).
        target_logits: ``B x K x H x W`` raw scores of the other network; detached here, so no
            gradient reaches it.
        tau_pos: confidence threshold of ``Omega_pos``, in [0, 1]. Default 0.8.
        tau_neg: threshold of ``Omega_neg``, in [0, 1]. Default 0.2.
        reduction: ``"mean"`` (default): ``L_pos + L_neg`` as above; ``"sum"``: the sum of the
            per-pixel terms (no division by region sizes); ``"none"``: the per-pixel ``B x H x W``
            map of ``w+ CE`` on ``Omega_pos`` plus the negative term on ``Omega_neg`` (0 outside
            both; its mean is not ``L``, whose two parts have different denominators).

    Returns:
        A scalar tensor, or ``B x H x W`` with ``reduction="none"``.

    Raises:
        ValueError: logits not ``B x K x H x W`` with ``K >= 2``, or the two of different shapes
            (both named); a threshold outside [0, 1]; unknown ``reduction``.
        TypeError: logits not floating point.

    Example:
        >>> import math, torch
        >>> target = torch.tensor([[[[0.0]], [[math.log(9)]]]])  # p_t = (0.1, 0.9): w+ 0.9, w- 0.1
        >>> student = torch.zeros(1, 2, 1, 1)                    # p_s = (0.5, 0.5)
        >>> # L_pos = 0.9 * log 2, L_neg = 0.1 * -log(1 - 0.5) = 0.1 * log 2: sum = log 2
        >>> round(cwc_loss(student, target).item(), 4)
        0.6931
    """
    reduction = look_up_option(reduction, REDUCTIONS, "reduction")
    _check_logits(logits, "logits", channels=None)
    _check_logits(target_logits, "target_logits", channels=None)
    if _shape(logits) != _shape(target_logits):
        raise ValueError(
            f"logits of shape {_shape(logits)} and target_logits of shape {_shape(target_logits)} must match"
        )
    for name, tau in (("tau_pos", tau_pos), ("tau_neg", tau_neg)):
        if not 0.0 <= float(tau) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {tau}")

    with torch.no_grad():
        # at least float32 for the targets (bf16 logits), float64 kept as is
        p_t = torch.softmax(target_logits.detach().to(torch.promote_types(target_logits.dtype, torch.float32)), dim=1)
        w_pos, y_pos = p_t.max(dim=1)  # B x H x W
        # the least likely class other than y~: for K = 2 exactly 1 - y~, even at a tie
        others = p_t.scatter(1, y_pos[:, None], float("inf"))
        w_neg, y_neg = others.min(dim=1)
        omega_pos = w_pos >= tau_pos
        omega_neg = w_neg < tau_neg

    log_p = torch.log_softmax(logits, dim=1)
    nll_pos = -log_p.gather(1, y_pos[:, None]).squeeze(1)
    # log(1 - p_s[c-]) = logsumexp of the other classes' log-probabilities; clamp at log 1e-6
    log_rest = log_p.masked_fill(F.one_hot(y_neg, logits.shape[1]).permute(0, 3, 1, 2).bool(), float("-inf"))
    nll_neg = -torch.logsumexp(log_rest, dim=1).clamp(min=_LOG_EPS, max=0.0)

    term_pos = torch.where(omega_pos, w_pos.to(log_p.dtype) * nll_pos, log_p.new_zeros(()))
    term_neg = torch.where(omega_neg, w_neg.to(log_p.dtype) * nll_neg, log_p.new_zeros(()))
    if reduction == "none":
        return term_pos + term_neg
    if reduction == "sum":
        return term_pos.sum() + term_neg.sum()
    n_pos = omega_pos.sum().clamp_min(1).to(log_p.dtype)
    n_neg = omega_neg.sum().clamp_min(1).to(log_p.dtype)
    return term_pos.sum() / n_pos + term_neg.sum() / n_neg


def rampup(t: float, length: float = 4000) -> float:
    """Sigmoid-shaped ramp-up weight ``exp(-5 (1 - min(t, T) / T)^2)`` of the distillation losses.

    docs/method.md §4.7 (``T = 4000`` iterations in the authors' code; all profiles scale it
    with their iteration count as they see fit). ``rampup(0) = exp(-5) = 0.0067``,
    ``rampup(T) = 1`` and 1 after. A negative ``t`` counts as 0; ``length=0`` means no ramp
    (always 1.0).

    Args:
        t: the iteration (or epoch) number.
        length: ``T``, the ramp length, ``>= 0``.

    Returns:
        A Python float in ``[exp(-5), 1]``.

    Raises:
        ValueError: negative ``length``.

    Example:
        >>> round(rampup(0), 5), round(rampup(2000), 5), rampup(4000), rampup(0, length=0)
        (0.00674, 0.2865, 1.0, 1.0)
    """
    if length < 0:
        raise ValueError(f"rampup length must be >= 0, got {length}")
    if length == 0:
        return 1.0
    phase = 1.0 - min(max(float(t), 0.0), float(length)) / float(length)
    return float(math.exp(-5.0 * phase * phase))


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
    ``darm_source`` picks U: ``"predictions"`` -> :func:`disagreement` (default in ``quick`` /
    ``cpu``), ``"labels"`` -> :func:`label_disagreement` (``paper``); ``darm_target`` is this
    function's ``target``: ``"ignore"`` (``quick`` / ``cpu``) or ``"background"`` (``paper``)).

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
            loss (:func:`ce_loss` ``ignore=``); ``"keep"``: returned unchanged and kept in the
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
    _check_tensor(images, "images")
    if images.ndim != 4:
        raise ValueError(f"images must be B x C x H x W, got shape {_shape(images)}")
    _check_mask(labels, "labels", images, "images")
    _check_mask(disagreement, "disagreement", images, "images")
    if not 0.0 <= float(ratio) <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    lo, hi = _check_sides(sides)

    if budget == "batch":
        if return_blocks:
            raise ValueError("return_blocks is for budget='image' only")
        block_mask = _batch_budget_blocks(_binary(disagreement).to(images.device), float(ratio), generator)
        masked_images = images * (~block_mask[:, None]).to(images.dtype)
        labels_out = labels.masked_fill(block_mask.to(labels.device), 0) if target == "background" else labels
        return masked_images, labels_out, block_mask

    device = images.device
    b, _, h, w = images.shape
    hw = h * w
    n_sides = (hi - lo) // 2 + 1
    mean_area = sum((lo + 2 * j) ** 2 for j in range(n_sides)) / n_sides

    with torch.no_grad():
        in_u = _binary(disagreement).to(device).reshape(b, hw)
        count_u = in_u.cumsum(1, dtype=torch.int32)  # B x HW, running count of U
        n_u = count_u[:, -1].long()
        goal = float(ratio) * n_u.to(torch.float32)  # B, pixels to cover
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

    # a product with the keep mask: 3x faster than torch.where on the CPU; finite inputs get
    # exact zeros (a NaN or inf inside a block would stay non-finite)
    masked_images = images * (~block_mask[:, None]).to(images.dtype)
    labels_out = labels.masked_fill(block_mask.to(labels.device), 0) if target == "background" else labels
    if not return_blocks:
        return masked_images, labels_out, block_mask
    blocks = DarmBlocks(
        centres=torch.stack((centre // w, centre % w), dim=-1),
        sides=lo + 2 * side_idx,
        used=rank[None] < n_keep[:, None],
    )
    return masked_images, labels_out, block_mask, blocks


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

    docs/method.md §4.4 (the paper's DARM; default in ``quick`` / ``cpu``). Each network's
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
        _check_tensor(x, name)
        if x.ndim != 4:
            raise ValueError(f"{name} must be B x K x H x W, got shape {_shape(x)}")
    if _shape(teacher_logits) != _shape(student_logits):
        raise ValueError(
            f"teacher_logits of shape {_shape(teacher_logits)} and student_logits of shape "
            f"{_shape(student_logits)} must match"
        )
    from fgi_core.models.readout import foreground

    with torch.no_grad():
        return foreground(teacher_logits, teacher_activation) != foreground(student_logits, student_activation)


def label_disagreement(m_hc: torch.Tensor, m_bc: torch.Tensor) -> torch.Tensor:
    """U for ``darm_source="labels"`` (the authors' code, ``paper`` profile): ``M_hc != M_bc``.

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
    _check_tensor(m_hc, "m_hc")
    _check_tensor(m_bc, "m_bc")
    if m_hc.ndim != 3 or _shape(m_hc) != _shape(m_bc):
        raise ValueError(f"m_hc of shape {_shape(m_hc)} and m_bc of shape {_shape(m_bc)} must be equal B x H x W")
    return _binary(m_hc) != _binary(m_bc)


# ----------------------------------------------------------------------------------------------
# CWC perturbations (authors' code)
# ----------------------------------------------------------------------------------------------
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
    _check_tensor(images, "images")
    _check_tensor(target_logits, "target_logits")
    if (
        images.ndim != 4
        or target_logits.ndim != 4
        or images.shape[0] != target_logits.shape[0]
        or images.shape[2:] != target_logits.shape[2:]
    ):
        raise ValueError(
            f"images of shape {_shape(images)} and target_logits of shape {_shape(target_logits)} "
            f"must be B x C x H x W and B x K x H x W with the same B, H, W"
        )
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
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
    _check_tensor(images, "images")
    _check_tensor(target_logits, "target_logits")
    if images.ndim != 4 or target_logits.ndim != 4 or images.shape[0] != target_logits.shape[0] or images.shape[2:] != target_logits.shape[2:]:
        raise ValueError(
            f"images of shape {_shape(images)} and target_logits of shape {_shape(target_logits)} "
            f"must be B x C x H x W and B x K x H x W with the same B, H, W"
        )
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
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
    _check_tensor(images, "images")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point, got {images.dtype}")
    if amplitude < 0:
        raise ValueError(f"amplitude must be >= 0, got {amplitude}")
    noise = torch.rand(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return images + (noise * 2.0 - 1.0) * amplitude
