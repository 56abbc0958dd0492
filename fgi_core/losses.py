"""Losses of the FGI teacher-student training (docs/method.md §4, §6), and the registry of
the supervised ones.

Supervision
    :func:`pce_loss` (teacher on M_hc, the paper's text), :func:`bce_loss` (the authors' code,
    teacher and student, and the GazeMedSeg baseline), :func:`ce_loss` (student on M_bc, with
    the pixels masked by DARM optionally ignored).
Distillation
    :func:`afc_loss` (angular feature consistency), :func:`cwc_loss` (confidence-aware weighted
    consistency), :func:`rampup` (their weight over time).
Registry
    :data:`SUPERVISED_LOSSES`: every supervised loss that ``FGIOptions.teacher_loss`` /
    ``student_loss`` may name, with the networks it may train and the activation a network
    trained with it is read with (one of :data:`ACTIVATIONS`); :func:`list_losses`,
    :func:`supervised_loss`. A new loss is one function and one :func:`register_loss` here, and
    its name in :data:`fgi_core.options.TEACHER_LOSSES` / ``STUDENT_LOSSES``.

DARM, CutMix and the noise of CWC live in :mod:`fgi_core.augment`.

Conventions, shared by every function here and in :mod:`fgi_core.augment`:

* logits are ``B x 2 x H x W`` (two-class softmax) unless said otherwise;
* masks are ``B x H x W`` of any dtype: bool and integer masks count non-zero as 1 (so a 0/255
  mask works), floating masks count ``> 0.5`` as 1 (except :func:`bce_loss`, whose target
  may be soft);
* a shape mismatch raises ``ValueError`` naming both shapes; an unknown option raises
  ``ValueError`` listing the allowed names (:func:`fgi_core.registry.look_up_option`);
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
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F

from fgi_core.registry import Registry, look_up_option

from .tensor_checks import binary_mask, check_logits, check_mask, check_tensor, shape_of

__all__ = [
    "pce_loss",
    "bce_loss",
    "ce_loss",
    "afc_loss",
    "cwc_loss",
    "rampup",
    "SupervisedLoss",
    "SUPERVISED_LOSSES",
    "register_loss",
    "list_losses",
    "supervised_loss",
    "ACTIVATIONS",
]

REDUCTIONS = ("mean", "sum", "none")
_LOG_EPS = math.log(1e-6)  # log of the clamp floor of L_neg (docs/method.md §4.6)


# ----------------------------------------------------------------------------------------------
# Reduction
# ----------------------------------------------------------------------------------------------
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
    check_logits(logits)
    check_mask(m_hc, "m_hc", logits, "logits")
    check_mask(m_bc, "m_bc", logits, "logits")
    fg = binary_mask(m_hc)
    labelled = fg | ~binary_mask(m_bc)
    per_pixel = F.cross_entropy(logits, fg.long(), reduction="none")
    return _reduce(per_pixel, labelled, reduction)


def bce_loss(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """BCE-with-logits on the lesion channel against a mask, over all pixels (the authors' code).

    docs/method.md §4.2: ``teacher_loss="bce"`` (target ``M_hc``) and ``student_loss="bce"``
    (target ``M_bc``), the authors' code and so the ``cpu`` and ``paper`` profiles' (``quick``
    uses :func:`pce_loss` and :func:`ce_loss`, the paper's text); also the per-level loss of the GazeMedSeg baseline
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
    check_logits(logits, channels=(1, 2))
    check_mask(target, "target", logits, "logits")
    lesion = logits[:, -1]  # channel 1 of two, or the only channel
    target = target.to(lesion.dtype) if target.is_floating_point() else binary_mask(target).to(lesion.dtype)
    return F.binary_cross_entropy_with_logits(lesion, target, reduction=reduction)


def ce_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    """Two-class cross-entropy of the student against ``M_bc``, optionally ignoring pixels.

    docs/method.md §4.3, ``student_loss="ce"`` (the paper's text: the ``quick`` profile's;
    ``cpu`` and ``paper`` use :func:`bce_loss`, the authors' code). With ``darm_target="ignore"``
    (an option; every profile relabels the blocks background) pass DARM's ``block_mask`` as
    ``ignore``: the masked pixels then do not count, neither in the sum nor in the number of
    pixels averaged over.

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
    check_logits(logits)
    check_mask(target, "target", logits, "logits")
    valid = None
    if ignore is not None:
        check_mask(ignore, "ignore", logits, "logits")
        valid = ~binary_mask(ignore)
    per_pixel = F.cross_entropy(logits, binary_mask(target).long(), reduction="none")
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
        check_tensor(t_feat, f"teacher_feats[{s}]")
        check_tensor(s_feat, f"student_feats[{s}]")
        if t_feat.ndim != 4 or shape_of(t_feat) != shape_of(s_feat):
            raise ValueError(
                f"stage {s}: teacher_feats[{s}] of shape {shape_of(t_feat)} and student_feats[{s}] of "
                f"shape {shape_of(s_feat)} must be equal B x C x H x W shapes (the student's features "
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
    check_logits(logits, "logits", channels=None)
    check_logits(target_logits, "target_logits", channels=None)
    if shape_of(logits) != shape_of(target_logits):
        raise ValueError(
            f"logits of shape {shape_of(logits)} and target_logits of shape {shape_of(target_logits)} must match"
        )
    for name, tau in (("tau_pos", tau_pos), ("tau_neg", tau_neg)):
        if not 0.0 <= float(tau) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {tau}")

    w_pos, y_pos, w_neg, y_neg, omega_pos, omega_neg = _cwc_targets(target_logits, tau_pos, tau_neg)
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


class _CwcTargets(NamedTuple):
    """What the target network says at each pixel, for :func:`cwc_loss` (each ``B x H x W``)."""

    w_pos: torch.Tensor  # max_c p_t
    y_pos: torch.Tensor  # argmax_c p_t (int64)
    w_neg: torch.Tensor  # p_t of the least likely class other than y_pos
    y_neg: torch.Tensor  # that class (int64)
    omega_pos: torch.Tensor  # bool: w_pos >= tau_pos
    omega_neg: torch.Tensor  # bool: w_neg < tau_neg


@torch.no_grad()
def _cwc_targets(target_logits: torch.Tensor, tau_pos: float, tau_neg: float) -> _CwcTargets:
    """The confident class, the ruled-out class and the two regions of docs/method.md §4.6, from
    ``B x K x H x W`` ``target_logits`` (detached; no gradient)."""
    # at least float32 for the targets (bf16 logits), float64 kept as is
    p_t = torch.softmax(target_logits.detach().to(torch.promote_types(target_logits.dtype, torch.float32)), dim=1)
    w_pos, y_pos = p_t.max(dim=1)  # B x H x W
    # the least likely class other than y~: for K = 2 exactly 1 - y~, even at a tie
    others = p_t.scatter(1, y_pos[:, None], float("inf"))
    w_neg, y_neg = others.min(dim=1)
    return _CwcTargets(w_pos, y_pos, w_neg, y_neg, w_pos >= tau_pos, w_neg < tau_neg)


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
# The registry of supervised losses (what FGIOptions.teacher_loss / student_loss may name)
# ----------------------------------------------------------------------------------------------
ROLES = ("teacher", "student")
#: How a network's two-channel output is read (:mod:`fgi_core.models.readout`): ``softmax`` over
#: both channels or ``sigmoid`` of channel 1. Each supervised loss names one. (Written here, not in
#: readout.py: readout reads this registry, so this module must not import it.)
ACTIVATIONS = ("softmax", "sigmoid")


@dataclass(frozen=True)
class SupervisedLoss:
    """A supervised loss that a network of the method can be trained with.

    Attributes:
        name: the option value (``FGIOptions.teacher_loss`` / ``student_loss``).
        roles: the networks it may train: ``teacher`` (targets M_hc and M_bc) and / or
            ``student`` (target: M_bc after DARM).
        activation: how a network trained with it is read (``softmax`` over both channels or
            ``sigmoid`` of channel 1; :func:`fgi_core.models.foreground_probability`).
        ignores: whether it can leave pixels out (DARM's blocks with ``darm_target="ignore"``).
        apply: ``apply(logits, target, broad=None, ignore=None)`` -> scalar loss; ``target`` is
            M_hc for the teacher and the (DARM-masked) M_bc for the student, ``broad`` the
            teacher's M_bc, ``ignore`` a bool ``B x H x W`` of pixels to leave out.
    """

    name: str
    roles: tuple[str, ...]
    activation: str
    ignores: bool
    apply: Callable[..., torch.Tensor]


#: name -> :class:`SupervisedLoss`, filled by :func:`register_loss` (the project's one registry style).
SUPERVISED_LOSSES: Registry = Registry("loss")


def register_loss(name: str, roles: Sequence[str], activation: str, ignores: bool = False) -> Callable:
    """Decorator: make ``apply(logits, target, broad=None, ignore=None)`` the supervised loss ``name``.

    Raises:
        ValueError: a name registered twice, an unknown role or activation.
    """
    for role in roles:
        look_up_option(role, ROLES, "loss role")
    look_up_option(activation, ACTIVATIONS, "activation")

    def wrap(apply: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        SUPERVISED_LOSSES.register(name, SupervisedLoss(name, tuple(roles), activation, bool(ignores), apply))
        return apply

    return wrap


def list_losses(role: str | None = None) -> list[str]:
    """Names of the supervised losses (those that may train ``role``: ``teacher`` or ``student``)."""
    if role is not None:
        look_up_option(role, ROLES, "loss role")
    return sorted(n for n, s in SUPERVISED_LOSSES.items() if role is None or role in s.roles)


def supervised_loss(name: str, role: str | None = None) -> SupervisedLoss:
    """The supervised loss ``name`` (one that may train ``role`` when given).

    Raises:
        ValueError: an unknown name, listing the allowed ones (e.g. ``Unknown teacher_loss 'pcee';
            allowed: bce, pce. Did you mean 'pce'?``).
    """
    what = f"{role}_loss" if role is not None else "loss"
    return SUPERVISED_LOSSES[look_up_option(name, list_losses(role), what)]


@register_loss("pce", roles=("teacher",), activation="softmax")
def _pce_supervision(logits, target, broad=None, ignore=None):
    """The teacher's pCE on M_hc (``target``) and M_bc (``broad``)."""
    if broad is None or ignore is not None:
        raise ValueError("pce needs the broad mask (M_bc) and has no ignore mask")
    return pce_loss(logits, target, broad)


@register_loss("bce", roles=("teacher", "student"), activation="sigmoid")
def _bce_supervision(logits, target, broad=None, ignore=None):
    """BCE on ``target`` over all pixels (the authors' code); ``broad`` is not used."""
    if ignore is not None:
        raise ValueError("bce has no ignore mask: use darm_target='background' or 'keep' with it")
    return bce_loss(logits, target)


@register_loss("ce", roles=("student",), activation="softmax", ignores=True)
def _ce_supervision(logits, target, broad=None, ignore=None):
    """The student's CE on ``target``, leaving ``ignore`` out."""
    return ce_loss(logits, target, ignore=ignore)
