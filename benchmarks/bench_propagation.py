"""GazeMedSeg's feature propagation: ``fgi_core``'s (shifted views of the padded map, backward
written out) against the two forms it replaced, autograd through the same shifted views and
``F.unfold``: forward + backward, and one GazeMedSeg training step with each.

    OMP_NUM_THREADS=1 python benchmarks/bench_propagation.py [--repeats 7]

Sizes: the ``quick`` and ``cpu`` profiles' (batch, the student's last width, side). Medians after
one warm-up, the CPU, torch threads and the load average recorded with them; the forms alternate
within each repeat, so a busy machine slows all of them alike. All agree to float rounding
(tests/test_models.py: values and gradients against the unfold form, gradcheck).
Writes ``benchmarks/results/propagation.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import fgi_core.models.baselines as baselines
from fgi_core.config import get_profile
from fgi_core.models import create_model, student_widths
from fgi_core.runs import cpu_model
from fgi_core.train import baseline_method


def propagate_by_unfold(features, kernel_size=5, dilation=2, border="exclude"):
    """The previous implementation: B x C x K x HW neighbours from F.unfold."""
    b, c, h, w = features.shape
    window = dict(kernel_size=kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2)
    neighbours = F.unfold(features, **window).view(b, c, kernel_size**2, h * w)
    scores = (neighbours * features.reshape(b, c, 1, h * w)).sum(1).clamp_min(0)
    if border == "exclude":
        scores = scores.masked_fill(F.unfold(features.new_ones(1, 1, h, w), **window) == 0, float("-inf"))
    return (neighbours * scores.softmax(1).unsqueeze(1)).sum(2).view(b, c, h, w)


def propagate_by_autograd(features, kernel_size=5, dilation=2, border="exclude"):
    """The previous implementation: the same shifted views, differentiated by autograd (each
    view's backward allocates and zero-fills a padded-size gradient)."""
    b, c, h, w = features.shape
    pad = dilation * (kernel_size - 1) // 2
    offsets = [(dy * dilation, dx * dilation) for dy in range(kernel_size) for dx in range(kernel_size)]
    padded = F.pad(features, (pad, pad, pad, pad))
    neighbours = [padded[:, :, oy:oy + h, ox:ox + w] for oy, ox in offsets]
    scores = torch.stack([(features * n).sum(dim=1) for n in neighbours], dim=1).clamp_min(0)
    if border == "exclude":
        inside = F.pad(features.new_ones(1, 1, h, w), (pad, pad, pad, pad))
        inside = torch.cat([inside[:, :, oy:oy + h, ox:ox + w] for oy, ox in offsets], dim=1)
        scores = scores.masked_fill(inside == 0, float("-inf"))
    weights = scores.softmax(dim=1)
    out = weights[:, :1] * neighbours[0]
    for k in range(1, len(neighbours)):
        out = out + weights[:, k:k + 1] * neighbours[k]
    return out


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def gazemedseg_step(profile, repeats: int) -> float:
    """Seconds of one GazeMedSeg training step (both levels, consistency) at ``profile``'s size."""
    torch.manual_seed(0)
    net = create_model("gazemedseg", in_channels=3, widths=student_widths(profile.teacher_widths))
    method, opt = baseline_method("gazemedseg", net), torch.optim.AdamW(net.parameters(), lr=1e-3)
    b, s = profile.batch_size, profile.image_size
    yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
    blob = (((yy - s / 2) ** 2 + (xx - s / 2) ** 2) < (s / 4) ** 2).to(torch.uint8).expand(b, s, s).clone()
    batch = {"image": torch.randn(b, 3, s, s), "m_hc": blob, "m_bc": blob}
    gen = torch.Generator().manual_seed(0)

    def step():
        loss = method.loss(batch, 10_000, gen)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return median_seconds(step, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "propagation.json")
    args = ap.parse_args()
    ours = baselines.propagate_features
    results = {"machine": platform.platform(), "processor": cpu_model(),
               "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
               "torch_threads": torch.get_num_threads(), "load_average_at_start": os.getloadavg()[0], "rows": []}
    for name in ("quick", "cpu"):
        prof = get_profile(name)
        x = torch.randn(prof.batch_size, student_widths(prof.teacher_widths)[5], prof.image_size, prof.image_size)
        row = {"profile": name, "shape": list(x.shape)}
        forms = (("unfold", propagate_by_unfold), ("shifted views, autograd", propagate_by_autograd),
                 ("shifted views, written-out backward", ours))
        times: dict[str, list[float]] = {f"{kind} s, {label}": [] for kind in ("propagation fwd+bwd", "gazemedseg step")
                                         for label, _ in forms}
        for _ in range(args.repeats):  # alternate the forms: a busy machine slows each alike
            for label, fn in forms:
                def fwd_bwd(fn=fn):
                    xx = x.clone().requires_grad_(True)
                    fn(xx).square().sum().backward()
                times[f"propagation fwd+bwd s, {label}"].append(median_seconds(fwd_bwd, 1))
                baselines.propagate_features = fn  # what GazeMedSegNet.consistency_loss calls
                try:
                    times[f"gazemedseg step s, {label}"].append(gazemedseg_step(prof, 1))
                finally:
                    baselines.propagate_features = ours
        row.update({k: statistics.median(v) for k, v in times.items()})
        for kind in ("propagation fwd+bwd", "gazemedseg step"):
            row[f"{kind}, autograd / written-out"] = (row[f"{kind} s, shifted views, autograd"]
                                                      / row[f"{kind} s, shifted views, written-out backward"])
        results["rows"].append(row)
        print(json.dumps(row))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
