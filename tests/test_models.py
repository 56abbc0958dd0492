"""The networks (docs/method.md §3 and §6), on CPU with tiny widths and small inputs."""
from __future__ import annotations

import math

import pytest
import torch

from fgi_core.models import (
    STUDENT_WIDTHS,
    TEACHER_WIDTHS,
    FGIStudent,
    FGITeacher,
    GazeMedSegNet,
    PlainUNet,
    TextFusion,
    count_parameters,
    create_model,
    propagate_features,
    student_widths,
)
from fgi_core.models.fusion import attention_heads

TINY = (8, 16, 32, 64, 128, 16)
SIZES = [(32, 32), (64, 48)]  # two sizes: the positional encoding must not tie the net to one
TEXT_DIM = 32


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def text_batch(batch: int = 2, length: int = 6, dim: int = TEXT_DIM, real=(4, 6)):
    """Random text tokens and a mask with ``real[b]`` real tokens in sample b (the rest padding)."""
    text = torch.randn(batch, length, dim)
    mask = torch.arange(length)[None, :] < torch.tensor(real)[:, None]
    return text, mask


def stage_shapes(widths, batch, h, w):
    return [(batch, widths[s], h >> s, w >> s) for s in range(1, 5)]


# ------------------------------------------------------------------------------------------------
# Shapes at two input sizes
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("h, w", SIZES)
def test_teacher_and_student_shapes(h, w):
    teacher, student = FGITeacher(text_dim=TEXT_DIM, widths=TINY), FGIStudent(teacher_widths=TINY)
    image = torch.randn(2, 3, h, w)
    text, mask = text_batch()
    t, s = teacher(image, text, mask), student(image)
    assert t["logits"].shape == s["logits"].shape == (2, 2, h, w)
    assert [tuple(f.shape) for f in t["features"]] == stage_shapes(TINY, 2, h, w)
    # the student's adapted features pair with the teacher's d_s, stage by stage (AFC)
    assert [f.shape for f in s["features"]] == [f.shape for f in t["features"]]
    assert student.backbone.widths == student_widths(TINY) == (4, 8, 16, 32, 64, 8)


@pytest.mark.parametrize("h, w", SIZES)
def test_baseline_shapes(h, w):
    image = torch.randn(2, 1, h, w)
    assert PlainUNet(1, TINY)(image)["logits"].shape == (2, 2, h, w)
    out = GazeMedSegNet(1, TINY, levels=3)(image)
    assert [tuple(x.shape) for x in out["logits"]] == [(2, 1, h, w)] * 3
    assert [tuple(x.shape) for x in out["features"]] == [(2, TINY[5], h, w)] * 3
    assert out["prediction"].shape == (2, 1, h, w)


def test_default_widths_are_the_authors():
    assert FGITeacher().backbone.widths == TEACHER_WIDTHS == (64, 128, 256, 512, 1024, 128)
    assert student_widths(TEACHER_WIDTHS) == STUDENT_WIDTHS == (32, 64, 128, 256, 512, 64)


# ------------------------------------------------------------------------------------------------
# The teacher and its text
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(1)
    return FGITeacher(text_dim=TEXT_DIM, widths=TINY).eval()


def test_teacher_output_depends_on_text(teacher):
    image = torch.randn(2, 3, 32, 32)
    text, mask = text_batch()
    with torch.no_grad():
        a = teacher(image, text, mask)["logits"]
        b = teacher(image, torch.randn_like(text), mask)["logits"]
    assert (a - b).abs().max() > 1e-4


def test_teacher_ignores_padded_tokens(teacher):
    image = torch.randn(2, 3, 32, 32)
    text, mask = text_batch(real=(4, 6))
    changed = text.clone()
    changed[0, 4:] = 100 * torch.randn(2, TEXT_DIM)  # sample 0's padding only
    with torch.no_grad():
        a = teacher(image, text, mask)["logits"]
        b = teacher(image, changed, mask)["logits"]
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_attention_weights_shape_and_rows(teacher):
    image = torch.randn(2, 3, 64, 48)
    text, mask = text_batch(length=7, real=(3, 7))
    with torch.no_grad():
        out = teacher(image, text, mask, return_attention=True)
    assert len(out["attention"]) == 4
    for s, weights in enumerate(out["attention"], start=1):
        assert weights.shape == (2, 8, (64 >> s) * (48 >> s), 7)  # B x heads x HW x L
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
        assert torch.all(weights[0, :, :, 3:] == 0)  # padded tokens of sample 0
        assert torch.all(weights[0, :, :, :3] > 0)


@pytest.mark.parametrize("text_dim", [384, 32])
def test_text_dim_is_the_argument(text_dim):
    net = FGITeacher(text_dim=text_dim, widths=TINY)
    assert all(f.text_proj.in_features == text_dim for f in net.fusion)
    text, mask = text_batch(dim=text_dim)
    assert net(torch.randn(2, 3, 32, 32), text, mask)["logits"].shape == (2, 2, 32, 32)


def test_no_fusion_ablation_ignores_text():
    net = FGITeacher(text_dim=TEXT_DIM, widths=TINY, fusion=False).eval()
    image = torch.randn(2, 3, 32, 32)
    text, mask = text_batch()
    with torch.no_grad():
        a = net(image, text, mask)["logits"]
        b = net(image, torch.randn_like(text))["logits"]
        c = net(image)["logits"]
    assert torch.equal(a, b) and torch.equal(a, c)
    assert net.fusion is None and not any("fusion" in n for n, _ in net.named_parameters())
    with pytest.raises(ValueError, match="no attention"):
        net(image, return_attention=True)


def test_text_fusion_heads_divide_channels():
    assert attention_heads(512, 8) == 8
    assert attention_heads(12, 8) == 6  # the largest divisor of 12 up to 8
    assert attention_heads(4, 8) == 4
    fusion = TextFusion(12, TEXT_DIM)
    fused, weights = fusion(torch.randn(1, 12, 4, 4), torch.randn(1, 3, TEXT_DIM), return_attention=True)
    assert fused.shape == (1, 12, 4, 4) and weights.shape == (1, 6, 16, 3)


def test_positional_encoding_any_size():
    fusion = TextFusion(8, TEXT_DIM, pos_grid=16)
    # at the grid's own size the encoding is the learned grid itself
    torch.testing.assert_close(fusion.positional_encoding(16, 16), fusion.position.flatten(2).transpose(1, 2))
    assert fusion.positional_encoding(3, 40).shape == (1, 120, 8)


# ------------------------------------------------------------------------------------------------
# Gradients
# ------------------------------------------------------------------------------------------------
def dead_parameters(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]


def test_gradients_reach_every_teacher_parameter():
    net = FGITeacher(text_dim=TEXT_DIM, widths=TINY)
    text, mask = text_batch()
    logits = net(torch.randn(2, 3, 32, 32), text, mask)["logits"]
    assert dead_parameters(net, (logits * torch.randn_like(logits)).sum()) == []


def test_student_gradients_by_design():
    net = FGIStudent(teacher_widths=TINY)
    out = net(torch.randn(2, 3, 32, 32))
    # the logits do not see the projection blocks and adapters (they serve the AFC loss only) ...
    dead = dead_parameters(net, (out["logits"] * torch.randn_like(out["logits"])).sum())
    assert dead and all(n.startswith(("projection.", "adapter.")) for n in dead)
    # ... which a loss on the features reaches, every one of them
    out = net(torch.randn(2, 3, 32, 32))
    dead = dead_parameters(net, sum((f * torch.randn_like(f)).sum() for f in out["features"]))
    assert not any(n.startswith(("projection.", "adapter.")) for n in dead)


# ------------------------------------------------------------------------------------------------
# GazeMedSeg
# ------------------------------------------------------------------------------------------------
def test_gazemedseg_prediction_is_the_mean_of_levels():
    out = GazeMedSegNet(3, TINY)(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(out["prediction"], (out["logits"][0] + out["logits"][1]) / 2)


def test_gazemedseg_levels_start_equal():
    net = GazeMedSegNet(3, TINY)
    a, b = net.levels[0].state_dict(), net.levels[1].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the reference deep-copies the first level


def test_consistency_gradients_flow_to_the_propagated_level_only():
    net = GazeMedSegNet(3, TINY)
    with torch.no_grad():  # make the levels differ, as they do after a step of training
        for p in net.levels[1].parameters():
            p.add_(0.1 * torch.randn_like(p))
    out = net(torch.randn(2, 3, 32, 32))
    losses = net.consistency_loss(out, reduction="none")
    assert losses.shape == (2,) and torch.isfinite(losses).all() and torch.all((losses >= -1) & (losses <= 0))
    # level 0 propagated, level 1 only the target: cut level 1's own propagation off (its
    # features detached), and no gradient may reach level 1's network through its logits, which
    # the loss detaches; only level 1's classifier, run by its own term loss_1, still learns
    only_level_0 = {"logits": out["logits"], "features": [out["features"][0], out["features"][1].detach()]}
    net.zero_grad(set_to_none=True)
    net.consistency_loss(only_level_0).backward(retain_graph=True)
    grads_0 = [p.grad for p in net.levels[0].parameters()]
    assert all(g is not None for g in grads_0) and sum(g.abs().sum() for g in grads_0) > 0
    level_1 = {n: p.grad for n, p in net.levels[1].named_parameters()}
    assert all(g is None for n, g in level_1.items() if not n.startswith("head.classifier."))
    assert level_1["head.classifier.weight"] is not None
    assert torch.isclose(net.consistency_loss(out), losses.mean()) and torch.isclose(
        net.consistency_loss(out, reduction="sum"), losses.sum()
    )


def test_consistency_loss_by_hand():
    """Constant features propagate to themselves, so p_prop_i = the level's own classifier output.

    Level 0: classifier reads channel 0 = ln 3, so p_prop_0 = [1/4, 3/4]; the other level's logits
    are ln 3 everywhere, p_1 = [1/4, 3/4]: agreement 1/16 + 9/16 = 0.625, loss_0 = -0.625.
    Level 1: classifier gives -ln 3, p_prop_1 = [3/4, 1/4]; level 0's logits are ln 3 on 3/4 of
    the pixels (agreement 3/16 + 3/16 = 0.375) and -ln 3 on 1/4 (9/16 + 1/16 = 0.625):
    loss_1 = -(0.75 * 0.375 + 0.25 * 0.625) = -0.4375. Mean -0.53125, sum -1.0625.
    """
    net = GazeMedSegNet(3, TINY)
    c, (h, w) = TINY[5], (8, 8)
    with torch.no_grad():
        for level, sign in zip(net.levels, (1.0, -1.0)):
            level.head.classifier.weight.zero_()
            level.head.classifier.weight[0, 0] = sign
            level.head.classifier.bias.zero_()
    feature = torch.full((1, c, h, w), 0.3)
    feature[:, 0] = math.log(3)
    logits_0 = torch.full((1, 1, h, w), math.log(3))
    logits_0[..., : h // 4, :] = -math.log(3)  # a quarter of the pixels
    outputs = {"logits": [logits_0, torch.full((1, 1, h, w), math.log(3))], "features": [feature, feature]}
    losses = net.consistency_loss(outputs, reduction="none")
    torch.testing.assert_close(losses, torch.tensor([-0.625, -0.4375]))
    torch.testing.assert_close(net.consistency_loss(outputs), torch.tensor(-0.53125))
    torch.testing.assert_close(net.consistency_loss(outputs, reduction="sum"), torch.tensor(-1.0625))


def test_propagation_of_constant_features_is_the_identity():
    feature = torch.randn(2, 4, 1, 1).expand(2, 4, 9, 10).contiguous()
    torch.testing.assert_close(propagate_features(feature), feature)


def test_propagation_zero_border_at_a_corner():
    """Reference padding: at a corner 9 of the 25 neighbours (offsets 0, 2, 4 in each axis) are in
    the image with score |f|^2 = 1, the 16 outside are zero vectors with score 0:
    output = f * 9e / (9e + 16)."""
    feature = torch.full((1, 4, 9, 9), 0.5)
    out = propagate_features(feature, border="zeros")
    expected = 0.5 * 9 * math.e / (9 * math.e + 16)
    torch.testing.assert_close(out[0, :, 0, 0], torch.full((4,), expected))
    torch.testing.assert_close(out[0, :, 4, 4], torch.full((4,), 0.5))  # all 25 inside


def test_propagation_matches_a_pixel_loop():
    feature = torch.randn(1, 3, 6, 7)
    out = propagate_features(feature)
    expected = torch.empty_like(feature)
    for y in range(6):
        for x in range(7):
            nbrs = [
                feature[0, :, y + dy, x + dx]
                for dy in range(-4, 5, 2)
                for dx in range(-4, 5, 2)
                if 0 <= y + dy < 6 and 0 <= x + dx < 7
            ]
            scores = torch.stack([(feature[0, :, y, x] * n).sum().clamp_min(0) for n in nbrs])
            expected[0, :, y, x] = (torch.softmax(scores, 0)[:, None] * torch.stack(nbrs)).sum(0)
    torch.testing.assert_close(out, expected)


# ------------------------------------------------------------------------------------------------
# Bad inputs and options
# ------------------------------------------------------------------------------------------------
def test_bad_image_sizes_and_channels(teacher):
    text, mask = text_batch()
    with pytest.raises(ValueError, match=r"divisible by 16.*30 x 32.*\(2, 3, 30, 32\)"):
        teacher(torch.randn(2, 3, 30, 32), text, mask)
    with pytest.raises(ValueError, match=r"B x 3 x H x W; got shape \(2, 1, 32, 32\)"):
        teacher(torch.randn(2, 1, 32, 32), text, mask)
    with pytest.raises(ValueError, match=r"B x 1 x H x W; got shape \(2, 3, 32, 32\)"):
        FGIStudent(1, teacher_widths=TINY)(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="divisible by 16"):
        GazeMedSegNet(3, TINY)(torch.randn(1, 3, 32, 40))


def test_bad_text(teacher):
    image = torch.randn(2, 3, 32, 32)
    text, mask = text_batch()
    with pytest.raises(ValueError, match=r"2 x L x 32.*got shape \(3, 6, 32\)"):
        teacher(image, torch.randn(3, 6, TEXT_DIM))  # batch mismatch
    with pytest.raises(ValueError, match=r"2 x L x 32.*got shape \(2, 6, 768\)"):
        teacher(image, torch.randn(2, 6, 768), mask)  # text_dim mismatch
    with pytest.raises(ValueError, match=r"text_mask must be B x L = 2 x 6.*got shape \(2, 5\)"):
        teacher(image, text, mask[:, :5])
    with pytest.raises(ValueError, match=r"no real token.*\[1\]"):
        teacher(image, text, torch.tensor([[True] * 6, [False] * 6]))
    with pytest.raises(ValueError, match="text .* is required"):
        teacher(image)
    # Hugging Face's 0/1 attention_mask works like the bool one
    with torch.no_grad():
        torch.testing.assert_close(teacher(image, text, mask.long())["logits"], teacher(image, text, mask)["logits"])


def test_bad_widths():
    with pytest.raises(ValueError, match=r"multiples of 4.*offending \[6\]"):
        PlainUNet(3, (8, 16, 32, 64, 128, 6))
    with pytest.raises(ValueError, match="6 ints"):
        FGITeacher(widths=(8, 16, 32, 64, 128))
    with pytest.raises(ValueError, match="half widths"):
        FGIStudent(teacher_widths=(8, 16, 32, 64, 128, 20))  # 10 is not a multiple of 4


def test_create_model_by_name():
    assert isinstance(create_model("teacher", text_dim=16, widths=TINY), FGITeacher)
    assert isinstance(create_model("student", teacher_widths=TINY), FGIStudent)
    assert isinstance(create_model("unet", widths=TINY, out_channels=2), PlainUNet)
    assert len(create_model("gazemedseg", widths=TINY, levels=2).levels) == 2
    with pytest.raises(ValueError, match="Did you mean 'teacher'"):
        create_model("techer")
    with pytest.raises(ValueError, match="Unknown reduction"):
        GazeMedSegNet(3, TINY).consistency_loss({"logits": [], "features": []}, reduction="avg")


def test_count_parameters():
    net = PlainUNet(3, TINY)
    assert count_parameters(net) == sum(p.numel() for p in net.parameters())
    net.head.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == count_parameters(net) - sum(
        p.numel() for p in net.head.parameters()
    )


def test_written_out_blocks_equal_monais_basic_unet():
    """blocks.py is MONAI's BasicUNet blocks without `import monai`: under one seed both build the
    same weights (same keys, same draw order) and compute the same maps; odd sides pad alike."""
    basic_unet = pytest.importorskip("monai.networks.nets.basic_unet")
    from fgi_core.models.backbone import UNetBackbone

    widths = (8, 16, 32, 64, 128, 16)
    torch.manual_seed(3)
    ours = UNetBackbone(3, widths)
    torch.manual_seed(3)
    theirs = basic_unet.BasicUNet(2, 3, 2, widths, act=("LeakyReLU", {"negative_slope": 0.1, "inplace": True}),
                                  norm=("group", {"num_groups": 4}), bias=True)
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert set(mine) == set(ref) - {"final_conv.weight", "final_conv.bias"}
    assert all(torch.equal(mine[k], ref[k]) for k in mine)
    image = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        x = ours.encode(image)
        got = ours.decode(x[0], x[1:])
        t = [theirs.conv_0(image)]
        for down in (theirs.down_1, theirs.down_2, theirs.down_3, theirs.down_4):
            t.append(down(t[-1]))
        want = theirs.upcat_1(theirs.upcat_2(theirs.upcat_3(theirs.upcat_4(t[4], t[3]), t[2]), t[1]), t[0])
        assert all(torch.equal(a, b) for a, b in zip(x, t))
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        short, skip = torch.randn(1, 64, 5, 7), torch.randn(1, 32, 11, 15)  # an odd encoder side: one pixel short
        torch.testing.assert_close(ours.upcat_3(short, skip), theirs.upcat_3(short, skip), rtol=0, atol=0)


def _propagate_by_unfold(features, kernel_size=5, dilation=2, border="exclude"):
    """The same propagation through F.unfold (B x C x K x HW neighbours): an independent form."""
    b, c, h, w = features.shape
    window = dict(kernel_size=kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2)
    neighbours = torch.nn.functional.unfold(features, **window).view(b, c, kernel_size**2, h * w)
    scores = (neighbours * features.reshape(b, c, 1, h * w)).sum(1).clamp_min(0)
    if border == "exclude":
        inside = torch.nn.functional.unfold(features.new_ones(1, 1, h, w), **window)
        scores = scores.masked_fill(inside == 0, float("-inf"))
    return (neighbours * scores.softmax(1).unsqueeze(1)).sum(2).view(b, c, h, w)


@pytest.mark.parametrize("border", ["exclude", "zeros"])
@pytest.mark.parametrize("kernel_size,dilation", [(5, 2), (3, 1)])
def test_propagation_and_its_gradient_equal_the_unfold_form(border, kernel_size, dilation):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 12, 14, generator=g, dtype=torch.float64)
    upstream = torch.randn(2, 5, 12, 14, generator=g, dtype=torch.float64)
    grads = []
    for fn in (propagate_features, _propagate_by_unfold):
        xx = x.clone().requires_grad_(True)
        out = fn(xx, kernel_size=kernel_size, dilation=dilation, border=border)
        (out * upstream).sum().backward()
        grads.append((out.detach(), xx.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])
    small = torch.randn(1, 3, 7, 6, generator=g, dtype=torch.float64, requires_grad=True)  # the written-out backward
    assert torch.autograd.gradcheck(lambda f: propagate_features(f, kernel_size, dilation, border), (small,))
