"""Seconds per training iteration of the FGI teacher alone and of joint distillation, beside a
bare BasicUNet step of the same widths, at the ``cpu`` and ``paper`` profile sizes.

    python benchmarks/bench_train.py [--profiles cpu paper] [--repeats 5] [--amp off bf16]

Random inputs of the profile's size (batch, side, text L = 64 x D = 384), the profile's
optimiser; medians over ``--repeats`` iterations after one warm-up; peak resident memory of the
process. Writes ``benchmarks/results/train.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from fgi_core.config import get_profile
from fgi_core.models import create_model
from fgi_core.train import TrainConfig, baseline_method, build_student, build_teacher, distillation_method, fgi_options, teacher_method
from fgi_core.train.engine import _autocast, _optimizer


def batch_for(profile, text_len: int = 64, text_dim: int = 384) -> dict:
    g = torch.Generator().manual_seed(0)
    b, s = profile.batch_size, profile.image_size
    yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
    blob = (((yy - s / 2) ** 2 + (xx - s / 2) ** 2) < (s / 4) ** 2).to(torch.uint8)
    return {
        "image": torch.randn(b, 3, s, s, generator=g), "m_hc": blob.expand(b, s, s).clone(),
        "m_bc": torch.nn.functional.max_pool2d(blob[None, None].float(), 9, 1, 4)[0, 0].to(torch.uint8).expand(b, s, s).clone(),
        "gt": blob.expand(b, s, s).clone(), "text": torch.randn(b, text_len, text_dim, generator=g),
        "text_mask": torch.ones(b, text_len, dtype=torch.bool),
    }


def time_method(method, batch, cfg: TrainConfig, repeats: int) -> float:
    params = [p for n in method.trainable for p in method.networks[n].parameters()]
    opt = _optimizer(params, cfg)
    gen = torch.Generator().manual_seed(0)
    times = []
    for k in range(repeats + 1):
        t0 = time.perf_counter()
        with _autocast("cpu", cfg.amp):
            loss = method.loss(batch, 10_000, gen)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k:  # the first is a warm-up
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", nargs="*", default=["cpu", "paper"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--amp", nargs="*", default=["off", "bf16"])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train.json")
    args = ap.parse_args()
    results = {"machine": platform.platform(), "torch_threads": torch.get_num_threads(), "runs": []}
    for name in args.profiles:
        profile = get_profile(name)
        batch = batch_for(profile)
        opts = replace(fgi_options(profile), rampup_length=1)
        for amp in args.amp:
            cfg = TrainConfig(optimizer=profile.optimizer, lr=profile.lr, amp=amp, progress=False)
            torch.manual_seed(0)
            rows = {}
            unet = create_model("unet", in_channels=3, widths=profile.teacher_widths)
            rows["bare BasicUNet step (teacher widths)"] = time_method(baseline_method("unet_full", unet), batch, cfg, args.repeats)
            teacher = build_teacher(profile, 3, 384)
            rows["teacher alone (stage 1)"] = time_method(teacher_method(teacher, opts), batch, cfg, args.repeats)
            student = build_student(profile, 3)
            rows["joint distillation (stage 2)"] = time_method(distillation_method(teacher, student, opts), batch, cfg, args.repeats)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            for what, seconds in rows.items():
                results["runs"].append({"profile": name, "amp": amp, "what": what, "s_per_iteration": seconds,
                                        "side": profile.image_size, "batch": profile.batch_size, "widths": profile.teacher_widths})
                print(f"{name:5s} {profile.image_size}px b{profile.batch_size} amp={amp:4s} {what:38s} {seconds:7.2f} s/it")
            print(f"      peak resident memory so far {peak:.0f} MiB")
            results.setdefault("peak_rss_mib", {})[f"{name}/{amp}"] = peak
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
