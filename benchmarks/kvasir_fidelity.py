"""The fidelity diagnostics on real Kvasir-SEG at a reduced size: the BCE prediction rule and
the DARM x CWC table, each on one fixed stage-1 teacher.

    python benchmarks/kvasir_fidelity.py [--size 64] [--iterations 600] [--rows all]

A reduced protocol (the `cpu` profile's widths and optimiser at ``--size`` px and
``--iterations`` per stage, ramp-up scaled with it) so that every row trains in minutes on one
CPU thread: the numbers compare the rows with each other, not with the `cpu`-profile table.
Rows (joint training from one pCE teacher trained here first; val Dice at the training size,
100 val images, the best and the last validation):

* ``both`` / ``darm_only`` / ``cwc_only`` / ``neither``: DARM on/off x CWC on/off (AFC on),
  DARM's target ``background`` (the default);
* ``both_ignore``: both, with DARM's target ``ignore`` (the earlier default);
* ``both_keep``: both, with DARM's target ``keep`` (only the image is masked);
* ``both_label_source``: both, with U from the labels (M_hc vs M_bc, the authors' source)
  instead of the networks' predictions: a set that does not grow when the student predicts
  less foreground (the feedback test for the ``background`` target);
* ``bce_student_cwc``: the student trained with BCE on M_bc (the authors' loss) and CWC, no DARM:
  validated with the sigmoid of channel 1 (how it was trained) and also scored with the softmax
  over both channels (the old, wrong rule), to measure what that rule cost;
* ``authors``: the authors' code options (the ``paper`` profile's: BCE both, DARM from labels with
  the batch budget, both networks from scratch) at this protocol's optimiser (AdamW 1e-3);
* ``authors_paper_schedule``: the same with the paper's schedule shape: SGD (Nesterov) lr 1e-2
  to 1e-4, weight decay 4e-4, cosine per epoch, ramp-up 4,000/15,000 of the run.

Needs a run folder with notebooks 01-02 done on Kvasir-SEG (``--run-dir``, default
``runs/kvasir/cpu-seed0``). Writes ``benchmarks/results/kvasir_fidelity.json`` after every row
(with the commit), resumes finished rows.
"""
from __future__ import annotations

import argparse
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import torch

from fgi_core.config import AUTHORS_CODE_OPTIONS, fgi_options, get_profile
from fgi_core.data import KvasirSEG
from fgi_core.io import read_json, write_json
from fgi_core.train import (TrainConfig, build_student, build_teacher, distillation_method, fit,
                            load_networks, load_training_data, teacher_method, train_config)
from fgi_core.train.engine import validation_scores

RESULTS = Path(__file__).parent / "results" / "kvasir_fidelity.json"
ROWS = {
    "both": {},
    "darm_only": {"use_cwc": False},
    "cwc_only": {"use_darm": False},
    "neither": {"use_darm": False, "use_cwc": False},
    "both_ignore": {"darm_target": "ignore"},
    "both_keep": {"darm_target": "keep"},
    "both_label_source": {"darm_source": "labels"},
    "bce_student_cwc": {"student_loss": "bce", "use_darm": False},
    "authors": dict(AUTHORS_CODE_OPTIONS),
    "authors_paper_schedule": dict(AUTHORS_CODE_OPTIONS),
}
#: Training settings that differ from the protocol's, per row.
TRAIN_OVERRIDES = {"authors_paper_schedule": {"optimizer": "sgd", "lr": 1e-2, "lr_min": 1e-4, "weight_decay": 4e-4,
                                              "lr_schedule": "epoch"}}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/kvasir/cpu-seed0")
    ap.add_argument("--data-root", default="../shared/realdata/kvasir-seg")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()

    n = args.iterations
    rampup = max(1, round(n * 0.4))
    profile = get_profile("cpu", image_size=args.size, iterations_teacher=n, iterations_distill=n,
                          val_every=max(1, n // 6), ckpt_every=max(1, n // 6))
    run_dir = Path(args.run_dir)
    out = run_dir / f"fidelity-{args.size}px-{n}its-seed{args.seed}"
    ds = KvasirSEG(Path(args.data_root))
    done = set(read_json(run_dir / "gaze" / "manifest.json")["ids"])
    train = load_training_data(ds, run_dir, [i for i in ds.split("train") if i in done], args.size, text=True)
    val = load_training_data(ds, run_dir, [i for i in ds.split("val") if i in done], args.size, text=True, ground_truth=True)
    results = read_json(args.results) if args.results.is_file() else {}
    results.update({"protocol": {"size": args.size, "iterations": n, "rampup_length": rampup,
                                 "widths": list(profile.teacher_widths), "seed": args.seed, "train": len(train), "val": len(val),
                                 "cpu_capability": torch.backends.cpu.get_cpu_capability()},
                    "command": f"python benchmarks/kvasir_fidelity.py --size {args.size} --iterations {n} --seed {args.seed}"})
    rows = results.setdefault("rows", {})

    torch.manual_seed(args.seed)
    base = fgi_options(profile, rampup_length=rampup)
    teacher_cfg = train_config(profile, "teacher", seed=args.seed, progress=False)
    if any(replace(base, **ROWS[key]).teacher_init == "stage1" for key in args.rows):  # else every row starts from scratch
        t0 = time.perf_counter()
        summary = fit(teacher_method(build_teacher(profile, 3, train.text_dim), base), train, val, out / "teacher", teacher_cfg, resume=True)
        results["teacher"] = {"best_val_dice": summary["best_val_dice"], "seconds": summary["seconds"]}
        print(f"teacher: best val Dice {summary['best_val_dice']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)

    for key in args.rows:
        if rows.get(key, {}).get("complete"):
            continue
        opts = replace(base, **ROWS[key])
        if key == "authors_paper_schedule":
            opts = replace(opts, rampup_length=max(1, round(n * 4000 / 15000)))
        torch.manual_seed(args.seed)
        teacher, student = build_teacher(profile, 3, train.text_dim), build_student(profile, 3)
        if opts.teacher_init == "stage1":
            load_networks(out / "teacher", {"teacher": teacher}, "best")
        method = distillation_method(teacher, student, opts)
        cfg = train_config(profile, "distill", seed=args.seed, progress=False, **TRAIN_OVERRIDES.get(key, {}))
        summary = fit(method, train, val, out / key, cfg, resume=True)
        row = {"options": ROWS[key], "train_overrides": TRAIN_OVERRIDES.get(key, {}), "best_val_dice": summary["best_val_dice"], "best_iteration": summary["best_iteration"],
               "final_val_dice": summary["final_val_dice"], "seconds": summary["seconds"], "warnings": summary["warnings"],
               "activation": summary["activation"], "complete": summary["complete"]}
        load_networks(out / key, method.networks, "last")
        for name in method.networks:
            method.networks[name].eval()
        last = validation_scores(method, val, cfg, "cpu")
        row["last_val_dice"], row["last_val_empty"] = last["dice"], last["empty"]
        row["teacher_last_val_dice"] = validation_scores(teacher_method(teacher, opts), val, cfg, "cpu")["dice"]
        if opts.student_loss == "bce":  # the old rule: softmax over both channels of a BCE-trained network
            method.activations = {**method.activations, "student": "softmax"}
            wrong = validation_scores(method, val, cfg, "cpu")
            row["last_val_dice_softmax_rule"], row["last_val_empty_softmax_rule"] = wrong["dice"], wrong["empty"]
        rows[key] = row
        results["commit"] = git_commit()
        if args.results.is_file():  # rows may run in several processes: keep the rows others wrote meanwhile
            for other, done_row in read_json(args.results).get("rows", {}).items():
                rows.setdefault(other, done_row)
        write_json(args.results, results)
        print(f"{key}: best {row['best_val_dice']:.3f} at {row['best_iteration']}, last {row['last_val_dice']:.3f} "
              f"({row['seconds'] / 60:.0f} min)", flush=True)


if __name__ == "__main__":
    main()
