"""Run by tests/test_ddp.py, alone or under ``torchrun --nproc_per_node 2``: fit one method on
training data saved with ``torch.save`` and write its folders.

    python tests/ddp_worker.py DATA OUT --method unet_m_hc --iterations 4 [--resume-check]

With ``--resume-check`` it also trains ``OUT/parts`` in two calls (``stop_after`` half, then
``resume=True`` with freshly built networks), as a relaunch after a crash would.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fgi_core.config import get_profile
from fgi_core.train import TrainConfig, TrainingData, fit


def make_method(kind: str, data: TrainingData):
    from fgi_core.models import create_model
    from fgi_core.config import fgi_options
    from fgi_core.train import baseline_method, build_student, build_teacher, distillation_method, teacher_method

    profile = get_profile("quick")
    torch.manual_seed(0)
    if kind == "teacher":
        return teacher_method(build_teacher(profile, 3, data.text_dim), fgi_options(profile))
    if kind == "student":
        return distillation_method(build_teacher(profile, 3, data.text_dim), build_student(profile, 3), fgi_options(profile))
    return baseline_method(kind, create_model("gazemedseg" if kind == "gazemedseg" else "unet", in_channels=3,
                                              widths=profile.teacher_widths))


def config(args) -> TrainConfig:
    return TrainConfig(iterations=args.iterations, batch_size=args.batch_size, val_every=2, ckpt_every=2, log_every=1,
                       amp="off", progress=False, optimizer=args.optimizer, lr=args.lr, flips=bool(args.flips), device="cpu")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--method", default="unet_m_hc")
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--flips", type=int, default=1)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--resume-check", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = TrainingData(**torch.load(args.data, weights_only=False))
    out = Path(args.out)
    fit(make_method(args.method, data), data, data, out / "whole", config(args))
    if args.resume_check:
        fit(make_method(args.method, data), data, data, out / "parts", config(args), stop_after=args.iterations // 2)
        fit(make_method(args.method, data), data, data, out / "parts", config(args), resume=True)
    from fgi_core import distributed

    distributed.cleanup()


if __name__ == "__main__":
    main()
