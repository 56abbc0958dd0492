"""Seconds per training iteration of the FGI teacher alone and of joint distillation, beside a
bare BasicUNet step of the same widths, at the ``cpu`` and ``paper`` profile sizes, in fp32 and
under bf16 autocast, with the FLOP floor of the joint step.

    python benchmarks/bench_train.py [--profiles cpu paper] [--repeats 5] [--amp off bf16]

Random inputs of the profile's size (batch, side, text L = 64 x D = 384), the profile's
optimiser and FGI options; medians over ``--repeats`` iterations after one warm-up; peak
resident memory of the process. The CPU (``torch.backends.cpu.get_cpu_capability()``, native
bf16 or not) is recorded with the numbers: bf16 autocast is fast only where the CPU has it.

The floor: the network passes one joint iteration needs (teacher and student forward and
backward on their inputs, the same on CWC's perturbed inputs, plus the student's forward on the
clean image where the options need it), each weighted by its FLOPs
(``torch.utils.flop_counter``), at the throughput of the bare BasicUNet step:
``floor = t_bare * FLOPs(needed passes) / FLOPs(bare step)``. ``joint / floor`` says how far the
implementation is from doing only the work the method defines. Writes
``benchmarks/results/train.json``.
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

from fgi_core.config import fgi_options, get_profile
from fgi_core.models import create_model
from fgi_core.runs import cpu_model
from fgi_core.train import TrainConfig, baseline_method, build_student, build_teacher, distillation_method, teacher_method
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


def flops(fn) -> int:
    """FLOPs of ``fn()`` (forward and backward inside it), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def joint_floor(profile, batch, opts) -> dict:
    """FLOPs of the passes a joint FGI iteration needs, and of the bare step (see the docstring)."""
    torch.manual_seed(0)
    unet = create_model("unet", in_channels=3, widths=profile.teacher_widths)
    teacher, student = build_teacher(profile, 3, 384), build_student(profile, 3)
    image, text, mask = batch["image"], batch["text"], batch["text_mask"]

    def fb(net, *inputs):
        return lambda: net(*inputs)["logits"].sum().backward()

    def fwd(net, *inputs):
        def run():
            with torch.no_grad():
                net(*inputs)
        return run

    f_bare = flops(fb(unet, image))
    f_teacher = flops(fb(teacher, image, text, mask))
    f_student = flops(fb(student, image))
    f_student_fwd = flops(fwd(student, image))
    clean_student = (opts.use_darm and opts.darm_source == "predictions") or (
        opts.use_cwc and opts.cwc_both_ways and opts.cwc_teacher_target == "clean")
    passes = {"teacher fwd+bwd (image)": f_teacher, "student fwd+bwd (DARM image)": f_student}
    if opts.use_cwc and opts.perturb:
        passes["student fwd+bwd (CWC input)"] = f_student
        if opts.cwc_both_ways:
            passes["teacher fwd+bwd (CWC input)"] = f_teacher
    if clean_student:
        passes["student fwd (clean image, no grad)"] = f_student_fwd
    f_joint = flops(lambda: distillation_method(teacher, student, opts).loss(batch, 10_000, torch.Generator().manual_seed(0))["total"].backward())
    return {"bare_step": f_bare, "teacher_step": f_teacher, "needed_passes": passes, "needed": sum(passes.values()),
            "joint_step_counted": f_joint}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", nargs="*", default=["cpu", "paper"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--amp", nargs="*", default=["off", "bf16"])
    ap.add_argument("--all-bf16", action="store_true", help="time every step under bf16 even where the CPU emulates it (slow)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train.json")
    args = ap.parse_args()
    from fgi_core.config import cpu_has_native_bf16

    results = {"machine": platform.platform(), "processor": cpu_model(), "torch": torch.__version__,
               "cpu_capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": cpu_has_native_bf16(),
               "torch_threads": torch.get_num_threads(), "runs": [], "floor": {}}
    print(f"CPU: {results['processor']} ({results['cpu_capability']}, native bf16: {results['native_bf16']}), "
          f"{results['torch_threads']} threads")
    for name in args.profiles:
        profile = get_profile(name)
        batch = batch_for(profile)
        opts = replace(fgi_options(profile), rampup_length=1)
        floor = joint_floor(profile, batch, opts)
        results["floor"][name] = floor
        print(f"{name}: FLOPs per joint iteration: needed {floor['needed'] / 1e9:.1f} G = "
              f"{floor['needed'] / floor['bare_step']:.2f} x a bare step; the implementation counts "
              f"{floor['joint_step_counted'] / 1e9:.1f} G")
        for amp in args.amp:
            cfg = TrainConfig(optimizer=profile.optimizer, lr=profile.lr, amp=amp, progress=False)
            torch.manual_seed(0)
            rows = {}
            unet = create_model("unet", in_channels=3, widths=profile.teacher_widths)
            rows["bare BasicUNet step (teacher widths)"] = time_method(baseline_method("unet_full", unet), batch, cfg, args.repeats)
            if amp == "bf16" and not results["native_bf16"] and not args.all_bf16:
                # emulated bf16: ~20x slower; time the bare step once to show it, skip the rest
                results["runs"].append({"profile": name, "amp": amp, "what": "bare BasicUNet step (teacher widths)",
                                        "s_per_iteration": rows["bare BasicUNet step (teacher widths)"], "side": profile.image_size,
                                        "batch": profile.batch_size, "widths": profile.teacher_widths, "emulated_bf16": True})
                print(f"{name:5s} bf16 (emulated on this CPU): bare step {rows['bare BasicUNet step (teacher widths)']:.2f} s/it; "
                      "teacher and joint steps skipped (--all-bf16 times them)")
                continue
            teacher = build_teacher(profile, 3, 384)
            rows["teacher alone (stage 1)"] = time_method(teacher_method(teacher, opts), batch, cfg, args.repeats)
            student = build_student(profile, 3)
            rows["joint distillation (stage 2)"] = time_method(distillation_method(teacher, student, opts), batch, cfg, args.repeats)
            t_floor = rows["bare BasicUNet step (teacher widths)"] * floor["needed"] / floor["bare_step"]
            ratio = rows["joint distillation (stage 2)"] / t_floor
            results["floor"].setdefault(f"{name}/{amp}", {}).update({"floor_s": t_floor, "joint_over_floor": ratio})
            print(f"      joint step {rows['joint distillation (stage 2)']:.2f} s against a floor of {t_floor:.2f} s: {ratio:.2f} x")
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
