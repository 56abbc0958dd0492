"""Tests of fgi_core.losses: hand-computed values on tiny tensors, the spec's identities, DARM's
geometry, determinism and errors. The arithmetic behind each expected number is in comments."""
from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

import fgi_core.losses as losses
from fgi_core.augment import cutmix, darm, disagreement, label_disagreement, uniform_noise
from fgi_core.losses import afc_loss, bce_loss, ce_loss, cwc_loss, pce_loss, rampup

LOG2 = math.log(2.0)


def logits_from_probs(p_lesion: list[list[float]]) -> torch.Tensor:
    """1 x 2 x H x W logits whose softmax is (1 - p, p) at each pixel: logits = log of the probs."""
    p = torch.tensor(p_lesion, dtype=torch.float64)
    return torch.stack([torch.log1p(-p), torch.log(p)])[None]


def test_docstring_examples_run():
    result = doctest.testmod(losses, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


# ----------------------------------------------------------------------------------------------
# pce
# ----------------------------------------------------------------------------------------------
# 1 x 2 x 2 x 2 logits: channel 0 all 0; channel 1 = [[2, 5], [-3, 1]].
#   m_hc = [[1, 0], [0, 0]], m_bc = [[1, 1], [1, 0]]
#   (0,0): in M_hc -> foreground: -log(e^2 / (1 + e^2)) = log(1 + e^-2) = 0.126928
#   (0,1), (1,0): in M_bc \ M_hc -> ignored (their logits 5 and -3 must not matter)
#   (1,1): outside M_bc -> background: -log(1 / (1 + e^1)) = log(1 + e) = 1.313262
#   mean over the 2 labelled pixels: (0.126928 + 1.313262) / 2 = 0.720095
PCE_LOGITS = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]], [[2.0, 5.0], [-3.0, 1.0]]]])
PCE_HC = torch.tensor([[[1, 0], [0, 0]]], dtype=torch.uint8)
PCE_BC = torch.tensor([[[1, 1], [1, 0]]], dtype=torch.uint8)
FG = math.log1p(math.exp(-2.0))
BG = math.log1p(math.e)


def test_pce_hand_computed():
    assert pce_loss(PCE_LOGITS, PCE_HC, PCE_BC).item() == pytest.approx((FG + BG) / 2, abs=1e-6)
    assert pce_loss(PCE_LOGITS, PCE_HC, PCE_BC, reduction="sum").item() == pytest.approx(FG + BG, abs=1e-6)
    per_pixel = pce_loss(PCE_LOGITS, PCE_HC, PCE_BC, reduction="none")
    assert per_pixel.shape == (1, 2, 2)
    assert torch.allclose(per_pixel, torch.tensor([[[FG, 0.0], [0.0, BG]]]), atol=1e-6)


def test_pce_mask_dtypes_agree():
    # bool, long and 0/255 uint8 masks mean the same thing
    ref = pce_loss(PCE_LOGITS, PCE_HC, PCE_BC)
    assert pce_loss(PCE_LOGITS, PCE_HC.bool(), PCE_BC.bool()) == ref
    assert pce_loss(PCE_LOGITS, PCE_HC.long(), PCE_BC.long()) == ref
    assert pce_loss(PCE_LOGITS, PCE_HC * 255, PCE_BC * 255) == ref


def test_pce_ignored_band_has_no_gradient():
    logits = PCE_LOGITS.clone().requires_grad_()
    pce_loss(logits, PCE_HC, PCE_BC).backward()
    assert torch.all(logits.grad[0, :, 0, 1] == 0) and torch.all(logits.grad[0, :, 1, 0] == 0)
    assert torch.any(logits.grad[0, :, 0, 0] != 0) and torch.any(logits.grad[0, :, 1, 1] != 0)


def test_pce_all_unlabelled_is_zero_with_gradient():
    # M_hc empty, M_bc everything: every pixel is in the ignored band
    logits = torch.randn(2, 2, 3, 3, requires_grad=True)
    loss = pce_loss(logits, torch.zeros(2, 3, 3), torch.ones(2, 3, 3))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.isfinite(logits.grad).all() and (logits.grad == 0).all()


def test_pce_m_hc_outside_m_bc_is_foreground():
    # (0,0) in M_hc but not in M_bc: still foreground, so the loss is FG there, not BG
    m_bc = torch.tensor([[[0, 1], [1, 0]]])
    assert pce_loss(PCE_LOGITS, PCE_HC, m_bc).item() == pytest.approx((FG + BG) / 2, abs=1e-6)


# ----------------------------------------------------------------------------------------------
# bce and ce
# ----------------------------------------------------------------------------------------------
def test_bce_matches_the_formula_on_channel_1():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 2, 4, 5, generator=g, dtype=torch.float64)
    target = torch.rand(2, 4, 5, generator=g) > 0.5
    x, t = logits[:, 1], target.double()
    # -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), channel 0 plays no part
    expected = -(t * torch.log(torch.sigmoid(x)) + (1 - t) * torch.log(1 - torch.sigmoid(x)))
    assert bce_loss(logits, target).item() == pytest.approx(expected.mean().item(), abs=1e-10)
    assert bce_loss(logits, target, reduction="sum").item() == pytest.approx(expected.sum().item(), abs=1e-9)
    assert torch.allclose(bce_loss(logits, target, reduction="none"), expected)
    # one-channel logits (GazeMedSeg baseline) use their only channel
    assert bce_loss(logits[:, 1:], target).item() == pytest.approx(expected.mean().item(), abs=1e-10)


def test_ce_with_ignore_hand_computed():
    # 1 x 2 x 1 x 3; p_lesion = (0.75, 0.2, 0.5); target (1, 0, 1); pixel 2 ignored
    #   pixel 0: -log 0.75 = 0.287682; pixel 1: -log 0.8 = 0.223144; mean = 0.255413
    logits = logits_from_probs([[0.75, 0.2, 0.5]])
    target = torch.tensor([[[1, 0, 1]]])
    ignore = torch.tensor([[[False, False, True]]])
    expected = (-math.log(0.75) - math.log(0.8)) / 2
    assert ce_loss(logits, target, ignore=ignore).item() == pytest.approx(expected, abs=1e-9)
    # without ignore the third pixel adds log 2: (0.287682 + 0.223144 + 0.693147) / 3
    assert ce_loss(logits, target).item() == pytest.approx((-math.log(0.75) - math.log(0.8) + LOG2) / 3, abs=1e-9)
    none = ce_loss(logits, target, ignore=ignore, reduction="none")
    assert none[0, 0, 2] == 0 and none.shape == (1, 1, 3)
    all_ignored = ce_loss(logits.requires_grad_(), target, ignore=torch.ones(1, 1, 3, dtype=torch.bool))
    assert all_ignored.item() == 0.0
    all_ignored.backward()
    assert torch.isfinite(logits.grad).all()


# ----------------------------------------------------------------------------------------------
# afc
# ----------------------------------------------------------------------------------------------
def test_afc_values_identical_orthogonal_opposite():
    t = torch.randn(2, 8, 4, 4)
    assert afc_loss([t], [t.clone()]).item() == pytest.approx(0.0, abs=1e-6)  # cos = 1
    assert afc_loss([t], [-3.0 * t]).item() == pytest.approx(2.0, abs=1e-6)  # cos = -1, scale-free
    # orthogonal at every pixel: teacher on channels 0-3, student on channels 4-7 -> cos = 0
    a = torch.zeros(2, 8, 4, 4)
    b = torch.zeros(2, 8, 4, 4)
    a[:, :4], b[:, 4:] = torch.rand(2, 4, 4, 4) + 0.1, torch.rand(2, 4, 4, 4) + 0.1
    assert afc_loss([a], [b]).item() == pytest.approx(1.0, abs=1e-6)
    # mean over stages: (0 + 2 + 1) / 3 = 1, per sample too
    assert afc_loss([t, t, a], [t, -t, b]).item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(afc_loss([t, t, a], [t, -t, b], reduction="none"), torch.ones(2), atol=1e-6)
    assert afc_loss([t, t, a], [t, -t, b], reduction="sum").item() == pytest.approx(2.0, abs=1e-5)


def test_afc_gradient_reaches_student_only():
    teacher = [torch.randn(2, 4, 8, 8, requires_grad=True), torch.randn(2, 6, 4, 4, requires_grad=True)]
    student = [torch.randn(2, 4, 8, 8, requires_grad=True), torch.randn(2, 6, 4, 4, requires_grad=True)]
    afc_loss(teacher, student).backward()
    assert all(t.grad is None for t in teacher)
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student)


def test_afc_errors_name_stage_and_shapes():
    t = [torch.zeros(1, 4, 8, 8), torch.zeros(1, 8, 4, 4)]
    with pytest.raises(ValueError, match=r"stage 1.*\(1, 8, 4, 4\).*\(1, 4, 4, 4\)"):
        afc_loss(t, [torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 4, 4)])
    with pytest.raises(ValueError, match="2 stages.*1"):
        afc_loss(t, t[:1])
    with pytest.raises(ValueError, match="empty"):
        afc_loss([], [])


# ----------------------------------------------------------------------------------------------
# cwc
# ----------------------------------------------------------------------------------------------
# 1 x 2 x 1 x 3, target probabilities of the lesion class (0.9, 0.4, 0.05):
#   pixel 0: p_t = (0.1, 0.9): y~ = 1, w+ = 0.9 >= 0.8 (pos), w- = 0.1 < 0.2 (neg)
#   pixel 1: p_t = (0.6, 0.4): w+ = 0.6 < 0.8, w- = 0.4 >= 0.2: in neither region
#   pixel 2: p_t = (0.95, 0.05): y~ = 0, w+ = 0.95 (pos), w- = 0.05 (neg)
# student lesion probabilities (0.5, 0.99, 0.2):
#   L_pos = (0.9 * -log 0.5 + 0.95 * -log 0.8) / 2 = (0.623832 + 0.211986) / 2 = 0.417909
#   L_neg: pixel 0, 1 - y~ = 0: 0.1 * -log(1 - p_s[0]) = 0.1 * -log 0.5 = 0.069315
#          pixel 2, 1 - y~ = 1: 0.05 * -log(1 - p_s[1]) = 0.05 * -log 0.8 = 0.011157
#          mean = 0.040236
#   L = 0.458145 (pixel 1, whatever the student says there, plays no part)
CWC_TARGET = logits_from_probs([[0.9, 0.4, 0.05]])
CWC_STUDENT = logits_from_probs([[0.5, 0.99, 0.2]])
CWC_POS = (0.9 * LOG2 - 0.95 * math.log(0.8)) / 2
CWC_NEG = (0.1 * LOG2 - 0.05 * math.log(0.8)) / 2


def test_cwc_hand_computed():
    assert cwc_loss(CWC_STUDENT, CWC_TARGET).item() == pytest.approx(CWC_POS + CWC_NEG, abs=1e-9)
    assert CWC_POS + CWC_NEG == pytest.approx(0.458145, abs=1e-6)
    none = cwc_loss(CWC_STUDENT, CWC_TARGET, reduction="none")
    assert none.shape == (1, 1, 3) and none[0, 0, 1] == 0
    # per pixel: w+ CE + w- CE(neg): pixel 0: (0.9 + 0.1) log 2; pixel 2: (0.95 + 0.05) * -log 0.8
    assert torch.allclose(none[0, 0], torch.tensor([LOG2, 0.0, -math.log(0.8)], dtype=none.dtype))
    assert cwc_loss(CWC_STUDENT, CWC_TARGET, reduction="sum").item() == pytest.approx(LOG2 - math.log(0.8))


def test_cwc_thresholds_select_regions():
    # tau_pos 0.92 drops pixel 0 from Omega_pos (w+ 0.9): L_pos = 0.95 * -log 0.8 over 1 pixel;
    # tau_neg 0.08 drops pixel 0 from Omega_neg (w- 0.1): L_neg = 0.05 * -log 0.8 over 1 pixel
    loss = cwc_loss(CWC_STUDENT, CWC_TARGET, tau_pos=0.92, tau_neg=0.08)
    assert loss.item() == pytest.approx(-math.log(0.8), abs=1e-9)


def test_cwc_targets_are_detached():
    target = CWC_TARGET.clone().requires_grad_()
    student = CWC_STUDENT.clone().requires_grad_()
    cwc_loss(student, target).backward()
    assert target.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_cwc_two_class_identity_on_random_logits():
    g = torch.Generator().manual_seed(0)
    student = torch.randn(4, 2, 16, 16, generator=g, dtype=torch.float64)
    target = 3 * torch.randn(4, 2, 16, 16, generator=g, dtype=torch.float64)
    p_t = target.softmax(1)
    w_pos, y = p_t.max(1)
    ce = F.cross_entropy(student, y, reduction="none")
    omega_pos = w_pos >= 0.8
    omega_neg = (1 - w_pos) < 0.2  # w- = 1 - w+
    # no pixel sits exactly on the threshold, so the two regions coincide
    assert torch.equal(omega_pos, omega_neg) and 50 < int(omega_pos.sum()) < 4 * 256
    # the spec's decomposition: w+-weighted CE on Omega_pos plus the negative term, where
    # 1 - p_s[1 - y~] = p_s[y~], so the negative term is (1 - w+) * CE on Omega_neg
    decomposed = (w_pos * ce)[omega_pos].mean() + ((1 - w_pos) * ce)[omega_neg].mean()
    loss = cwc_loss(student, target)
    assert loss.item() == pytest.approx(decomposed.item(), abs=1e-10)
    # ... which is a plain (unweighted) cross-entropy on the confident pixels
    assert loss.item() == pytest.approx(ce[omega_pos].mean().item(), abs=1e-10)


def test_cwc_empty_regions_give_zero_and_finite_gradient():
    # target logits all 0: p_t = (0.5, 0.5), w+ = 0.5 < 0.8 and w- = 0.5 >= 0.2: both regions empty
    student = torch.randn(2, 2, 4, 4, requires_grad=True)
    loss = cwc_loss(student, torch.zeros(2, 2, 4, 4))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(student.grad).all()


def test_cwc_clamp_keeps_confident_mistakes_finite():
    # the student is sure of the wrong class: -log p_s[y~] = 1000 in L_pos, but the negative
    # term's -log clamp(1 - p_s[1 - y~], 1e-6, 1) stops at -log 1e-6 = 13.8155
    target = torch.tensor([[[[0.0]], [[10.0]]]])  # y~ = 1, w+ = 1 / (1 + e^-10), w- = 1 - w+
    student = torch.tensor([[[[1000.0]], [[0.0]]]], requires_grad=True)
    w_pos = 1 / (1 + math.exp(-10.0))
    loss = cwc_loss(student, target)
    assert loss.item() == pytest.approx(w_pos * 1000 + (1 - w_pos) * -math.log(1e-6), rel=1e-5)
    loss.backward()
    assert torch.isfinite(student.grad).all()


def test_cwc_three_classes_uses_least_likely_class():
    # p_t = (0.85, 0.1, 0.05): y~ = 0, w+ = 0.85 (pos); c- = 2 (least likely), w- = 0.05 (neg)
    # p_s = (0.5, 0.3, 0.2): L_pos = 0.85 * -log 0.5; L_neg = 0.05 * -log(1 - 0.2)
    target = torch.log(torch.tensor([0.85, 0.1, 0.05]))[None, :, None, None]
    student = torch.log(torch.tensor([0.5, 0.3, 0.2]))[None, :, None, None]
    expected = 0.85 * LOG2 + 0.05 * -math.log(0.8)
    assert cwc_loss(student, target).item() == pytest.approx(expected, abs=1e-6)


def test_cwc_errors():
    with pytest.raises(ValueError, match=r"\(1, 2, 4, 4\).*\(1, 2, 4, 5\)"):
        cwc_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError, match="tau_pos"):
        cwc_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), tau_pos=1.5)


# ----------------------------------------------------------------------------------------------
# shape and option errors of the supervision losses
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda: pce_loss(torch.zeros(2, 2, 4, 4), torch.zeros(2, 4, 5), torch.zeros(2, 4, 4)),
        lambda: pce_loss(torch.zeros(2, 2, 4, 4), torch.zeros(2, 4, 4), torch.zeros(1, 4, 4)),
        lambda: bce_loss(torch.zeros(2, 2, 4, 4), torch.zeros(2, 1, 4, 4)),
        lambda: ce_loss(torch.zeros(2, 2, 4, 4), torch.zeros(2, 4, 4), ignore=torch.zeros(2, 3, 4, dtype=torch.bool)),
    ],
)
def test_shape_errors_name_both_shapes(call):
    with pytest.raises(ValueError, match=r"of shape \(.*\) does not match logits of shape \(2, 2, 4, 4\)"):
        call()


def test_channel_and_option_errors():
    with pytest.raises(ValueError, match=r"2 channels.*\(1, 3, 4, 4\)"):
        pce_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4), torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"1 or 2 channels"):
        bce_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="Did you mean 'mean'"):
        ce_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 4), reduction="meen")


# ----------------------------------------------------------------------------------------------
# DARM
# ----------------------------------------------------------------------------------------------
def ring(height: int = 64, width: int = 64, inner: float = 12, outer: float = 18) -> torch.Tensor:
    """A disagreement band around a blob: pixels whose distance to (30, 34) is in (inner, outer)."""
    yy, xx = np.mgrid[:height, :width]
    d = np.hypot(yy - 30, xx - 34)
    return torch.from_numpy((d > inner) & (d < outer))


def run_darm(u: torch.Tensor, seed: int = 0, **kwargs):
    b, h, w = u.shape
    images = torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(100 + seed))
    labels = torch.ones(b, h, w, dtype=torch.uint8)
    g = torch.Generator().manual_seed(seed)
    return images, labels, darm(images, labels, u, generator=g, return_blocks=True, **kwargs)


def test_darm_blocks_are_centred_in_u_and_paint_the_mask():
    u = torch.stack([ring(), ring(inner=5, outer=9)])
    _, _, (_, _, block_mask, blocks) = run_darm(u)
    assert blocks.used.any(1).all()
    painted = torch.zeros_like(block_mask)
    for b in range(2):
        for (r, c), side, used in zip(blocks.centres[b].tolist(), blocks.sides[b].tolist(), blocks.used[b].tolist()):
            if used:
                assert u[b, r, c], f"centre {(r, c)} of image {b} is not in U"
                assert side in (3, 5, 7, 9, 11)
                half = side // 2
                painted[b, max(r - half, 0) : r + half + 1, max(c - half, 0) : c + half + 1] = True
    assert torch.equal(painted, block_mask)
    # the kept blocks are a prefix of the candidates, in drawing order
    n = blocks.used.sum(1)
    assert torch.equal(blocks.used, torch.arange(blocks.used.shape[1])[None] < n[:, None])


def test_darm_masks_only_near_u():
    u = ring()[None]
    _, _, (_, _, block_mask, _) = run_darm(u)
    # chessboard distance to the nearest U pixel; blocks of side <= 11 reach 5 pixels out
    dist = ndimage.distance_transform_cdt(~u[0].numpy(), metric="chessboard")
    assert block_mask[0].any() and dist[block_mask[0].numpy()].max() <= 5


def test_darm_area_is_near_the_request():
    # |U| = 564 on the 64 x 64 ring, request 0.3 * 564 = 169.2 pixels (about 3 blocks)
    u = ring()[None]
    goal = 0.3 * u.sum().item()
    areas = np.array([run_darm(u, seed=s)[2][2].sum().item() for s in range(30)])
    # each run: the nearest prefix of blocks is within half of the largest block (121 / 2)
    assert np.abs(areas - goal).max() <= 121 / 2
    # on average within 10 % (measured: about 0.98 of the request over 200 seeds)
    assert abs(areas.mean() / goal - 1) < 0.10


def test_darm_zeroes_blocks_and_leaves_the_rest():
    u = torch.stack([ring(), ring(inner=20, outer=24)])
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    before = images.clone()
    labels = torch.ones(2, 64, 64)
    masked, labels_out, block_mask = darm(images, labels, u, generator=torch.Generator().manual_seed(0), target="ignore")
    inside = block_mask[:, None].expand_as(images)  # all channels of a block pixel
    assert inside.any() and (masked[inside] == 0).all()
    assert torch.equal(masked[~inside], images[~inside])
    assert torch.equal(images, before)  # the input is not modified in place
    assert labels_out is labels  # target="ignore": labels returned as they are


def test_darm_background_target_relabels_blocks():
    u = ring()[None]
    _, labels, (_, labels_out, block_mask, _) = run_darm(u, target="background")
    assert labels_out.dtype == labels.dtype
    assert (labels_out[block_mask] == 0).all() and (labels_out[~block_mask] == 1).all()
    assert (labels == 1).all()  # the input labels are not modified


def test_darm_empty_u_or_zero_ratio_masks_nothing():
    u = torch.stack([torch.zeros(64, 64, dtype=torch.bool), ring()])
    images, _, (masked, _, block_mask, blocks) = run_darm(u)
    assert not block_mask[0].any() and not blocks.used[0].any()
    assert torch.equal(masked[0], images[0])
    assert block_mask[1].any()  # the other image of the batch is still masked
    images, _, (masked, _, block_mask, _) = run_darm(u, ratio=0.0)
    assert not block_mask.any() and torch.equal(masked, images)


def test_darm_is_deterministic_under_its_generator_only():
    u = torch.stack([ring(), ring(inner=6, outer=10)])
    torch.manual_seed(1)
    first = run_darm(u, seed=7)[2][2]
    torch.manual_seed(2)  # the global RNG plays no part
    again = run_darm(u, seed=7)[2][2]
    other = run_darm(u, seed=8)[2][2]
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_darm_errors():
    images = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"disagreement of shape \(2, 8, 9\).*images of shape \(2, 3, 8, 8\)"):
        darm(images, torch.zeros(2, 8, 8), torch.zeros(2, 8, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"labels of shape \(8, 8\)"):
        darm(images, torch.zeros(8, 8), torch.zeros(2, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="odd"):
        darm(images, torch.zeros(2, 8, 8), torch.zeros(2, 8, 8, dtype=torch.bool), sides=(4, 10))
    with pytest.raises(ValueError, match="ratio"):
        darm(images, torch.zeros(2, 8, 8), torch.zeros(2, 8, 8, dtype=torch.bool), ratio=1.5)
    with pytest.raises(ValueError, match="Did you mean 'background'"):
        darm(images, torch.zeros(2, 8, 8), torch.zeros(2, 8, 8, dtype=torch.bool), target="backgrnd")


def test_disagreement_sources():
    teacher = torch.tensor([[[[2.0, 0.0, 1.0]], [[0.0, 1.0, 3.0]]]])  # argmax 0, 1, 1
    student = torch.tensor([[[[0.0, 1.0, 5.0]], [[1.0, 1.0, 3.0]]]])  # argmax 1, 0 (tie: first), 0
    assert disagreement(teacher, student).tolist() == [[[True, True, True]]]
    assert disagreement(teacher, teacher).tolist() == [[[False, False, False]]]
    # one channel: the lesion where the logit is > 0: teacher (F, T, T), student (T, T, T)
    assert disagreement(teacher[:, 1:], student[:, 1:]).tolist() == [[[True, False, False]]]
    with pytest.raises(ValueError, match=r"\(1, 2, 1, 3\).*\(1, 2, 1, 2\)"):
        disagreement(teacher, student[..., :2])
    m_hc = torch.tensor([[[1, 0, 0, 0]]], dtype=torch.uint8)
    m_bc = torch.tensor([[[1, 1, 1, 0]]], dtype=torch.uint8)
    assert label_disagreement(m_hc, m_bc).tolist() == [[[False, True, True, False]]]


# ----------------------------------------------------------------------------------------------
# ramp-up, CutMix, noise
# ----------------------------------------------------------------------------------------------
def test_rampup_by_hand():
    assert rampup(0) == pytest.approx(math.exp(-5))  # exp(-5 * 1^2) = 0.006738
    assert rampup(2000) == pytest.approx(math.exp(-1.25))  # exp(-5 * 0.5^2) = 0.286505
    assert rampup(4000) == 1.0  # exp(0)
    assert rampup(8000) == 1.0  # t is capped at T
    assert rampup(50, length=100) == pytest.approx(math.exp(-1.25))
    assert rampup(123, length=0) == 1.0
    with pytest.raises(ValueError, match="length"):
        rampup(0, length=-1)


def test_cutmix_box_area_is_one_minus_lambda():
    h, w = 32, 48
    images, logits = torch.randn(4, 3, h, w), torch.randn(4, 2, h, w)
    areas = []
    for seed in range(200):
        g = torch.Generator().manual_seed(seed)
        _, _, box = cutmix(images, logits, generator=g)
        areas.append(box[0].float().mean().item())
        if seed == 0:
            # lambda as the docstring says it is drawn: a NumPy Generator seeded from the torch one
            seed63 = int(torch.randint(0, 2**63 - 1, (), generator=torch.Generator().manual_seed(0)).item())
            lam = np.random.default_rng(seed63).beta(4.0, 4.0)
            # box sides are rounded to whole pixels: area within (H + W) / 2 pixels of (1 - lambda) HW
            assert abs(areas[0] - (1 - lam)) * h * w <= (h + w) / 2
    # 1 - lambda with lambda ~ Beta(4, 4) has mean 0.5 and sd 1/6: mean of 200 within 0.04
    assert abs(np.mean(areas) - 0.5) < 0.04 and 0.1 < np.std(areas) < 0.25


def test_cutmix_same_box_for_images_and_logits():
    # image i is constant i, logits of image i constant 10 + i: inside the box image i shows
    # image i - 1 (rolled by one), outside itself, and the logits follow exactly
    b, h, w = 3, 16, 16
    images = torch.arange(b, dtype=torch.float32)[:, None, None, None].expand(b, 3, h, w).clone()
    logits = 10 + torch.arange(b, dtype=torch.float32)[:, None, None, None].expand(b, 2, h, w).clone()
    mixed, mixed_logits, box = cutmix(images, logits, generator=torch.Generator().manual_seed(3))
    assert box.shape == (b, h, w) and box.any() and (box == box[0]).all()
    for i in range(b):
        partner = (i - 1) % b
        assert (mixed[i][:, box[i]] == partner).all() and (mixed[i][:, ~box[i]] == i).all()
        assert (mixed_logits[i][:, box[i]] == 10 + partner).all() and (mixed_logits[i][:, ~box[i]] == 10 + i).all()
    # deterministic under the generator
    again = cutmix(images, logits, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again[2], box)


def test_uniform_noise_range_and_determinism():
    x = torch.zeros(2, 3, 16, 16)
    a = uniform_noise(x, torch.Generator().manual_seed(0))
    b = uniform_noise(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.abs().max() <= 0.2 and a.abs().max() > 0.15 and (x == 0).all()
    assert uniform_noise(x, torch.Generator().manual_seed(0), amplitude=0.0).abs().max() == 0
