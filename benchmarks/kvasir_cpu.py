"""The `cpu`-profile comparison on real Kvasir-SEG with real gaze: baselines, FGI, ablations.

    python benchmarks/kvasir_cpu.py                          # headline rows, then the ablations
    python benchmarks/kvasir_cpu.py --methods full m_bc      # just these
    python benchmarks/kvasir_cpu.py --evaluate-only --split-file other.txt --data-root DIR

Every method trains on the train split (700 images) for the profile's ``iterations_distill``
with the same data, batch, optimiser and seed, and is selected on the val split (100 images; so
the val numbers are selection numbers, said so in docs/results.md). The image-only networks (the
baselines and the FGI student) share one architecture: the student's BasicUNet widths.

It needs a run folder with stage 1-2 outputs (gaze/ and explain/: notebooks 01-02, e.g.
``fgi run --dataset kvasir --data-root ../shared/realdata/kvasir-seg --profile cpu --notebooks 01 02``).
The FGI rows reuse the run's own ``teacher/`` (notebook 03) and ``student/`` (notebook 04)
when they were trained under the same profile; otherwise they are trained here.

Each finished method is written at once to ``benchmarks/results/kvasir_cpu.json`` and the
per-image scores to ``<run>/eval/kvasir_cpu/``; an interrupted benchmark resumes where it
stopped (finished methods are skipped; a method cut mid-training resumes from its checkpoint).
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path


from fgi_core.config import AUTHORS_CODE_OPTIONS, get_profile
from fgi_core.data import KvasirSEG
from fgi_core.evaluate import METRICS, evaluate_predictor, format_table, paired_difference, summarise
from fgi_core.io import read_json, write_json
from fgi_core.train import BASELINE_KEYS

HEADLINE = ("full", "m_hc", "m_bc", "gazemedseg", "fgi_teacher", "fgi_student")
ABLATIONS = ("fgi_no_text", "fgi_no_afc", "fgi_no_cwc", "fgi_no_darm", "fgi_darm_labels", "fgi_teacher_bce", "fgi_code_variants")
#: Not among the planned ablations and not run by default: changes the ablations point to (the student
#: under-segments; DARM and CWC are what shrink it; docs/results.md, "Why").
EXPLORATORY = ("fgi_cwc_one_way", "fgi_frozen_teacher", "fgi_no_darm_no_cwc")
ALL_KEYS = HEADLINE + ABLATIONS + EXPLORATORY
#: FGI variants: options changed from the profile's, and whether stage 1 must be retrained for them.
FGI_VARIANTS = {
    "fgi": ({}, False),
    "fgi_no_text": ({"fusion": False}, True),
    "fgi_no_afc": ({"use_afc": False}, False),
    "fgi_no_cwc": ({"use_cwc": False}, False),
    "fgi_no_darm": ({"use_darm": False}, False),
    "fgi_darm_labels": ({"darm_source": "labels"}, False),
    "fgi_teacher_bce": ({"teacher_loss": "bce"}, True),
    "fgi_code_variants": (dict(AUTHORS_CODE_OPTIONS), True),
    "fgi_cwc_one_way": ({"cwc_both_ways": False}, False),  # student <- teacher only (the paper's text)
    "fgi_frozen_teacher": ({"teacher_mode": "frozen"}, False),  # the stage-1 teacher is not updated in stage 2
    "fgi_no_darm_no_cwc": ({"use_darm": False, "use_cwc": False}, False),  # what is left: the student's own loss and AFC
}
RESULTS = Path(__file__).parent / "results" / "kvasir_cpu.json"
#: The table's names for the ablation rows (the others come from ``fgi_core.cli_eval.METHOD_LABELS``).
VARIANT_LABELS = {
    "fgi_no_text": "FGI, no text", "fgi_no_afc": "FGI, no AFC", "fgi_no_cwc": "FGI, no CWC", "fgi_no_darm": "FGI, no DARM",
    "fgi_darm_labels": "FGI, DARM from labels", "fgi_teacher_bce": "FGI, BCE teacher", "fgi_code_variants": "FGI, authors' code",
    "fgi_cwc_one_way": "FGI, CWC one way", "fgi_frozen_teacher": "FGI, frozen teacher",
    "fgi_no_darm_no_cwc": "FGI, no DARM and no CWC",
}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def stage_seconds(stage: Path) -> float | None:
    """Training wall time of a stage folder, from its log (cumulative over resumes)."""
    log = stage / "log.csv"
    if not log.is_file():
        return None
    import pandas as pd

    seconds = pd.read_csv(log)["seconds"].to_numpy()
    if not len(seconds):
        return None
    # the clock restarts at each resume: add up the segments (each ends where the next one drops)
    ends = [i for i in range(len(seconds) - 1) if seconds[i + 1] < seconds[i]] + [len(seconds) - 1]
    return float(sum(seconds[i] for i in ends))


def summary_complete(stage: Path, iterations: int) -> bool:
    path = stage / "summary.json"
    return path.is_file() and read_json(path).get("complete") and read_json(path)["train_config"]["iterations"] == iterations


def student_targets(methods: dict, paired_dice: dict) -> dict:
    """The benchmark's targets for the student, from the rows present: the share of the gap between the
    best gaze baseline and full supervision that the student closes (target >= 0.5, with the paired
    interval student - best gaze above zero) and the student's Dice as a share of full supervision's
    (target >= 0.9). ``{}`` until ``fgi_student``, ``full`` and a gaze baseline are all scored.

    Args:
        methods: ``{key: {"dice": {"mean": ...}, ...}}`` (the results file's ``methods``).
        paired_dice: ``{"fgi_student - <key>": {"mean", "low", "high"}}``.
    """
    gaze_rows = [k for k in ("m_hc", "m_bc", "gazemedseg") if k in methods]
    if not ({"fgi_student", "full"} <= set(methods) and gaze_rows):
        return {}
    best = max(gaze_rows, key=lambda k: methods[k]["dice"]["mean"])
    student, full, gaze = (methods[k]["dice"]["mean"] for k in ("fgi_student", "full", best))
    paired = paired_dice.get(f"fgi_student - {best}", {})
    gap = full - gaze
    ci_above_zero = bool(paired) and paired["low"] > 0
    return {"best_gaze_baseline": best, "student_minus_best_gaze": student - gaze, "full_minus_best_gaze": gap,
            "gap_closed": (student - gaze) / gap if gap > 0 else None,
            "student_over_full": student / full if full else None,
            "paired_ci_above_zero": ci_above_zero,
            "met": bool(gap > 0 and student - gaze >= 0.5 * gap and ci_above_zero and student >= 0.9 * full)}


class Bench:
    def __init__(self, args):
        from fgi_core.train import load_training_data

        self.args = args
        self.profile = get_profile("cpu", **({"iterations_distill": args.iterations, "iterations_teacher": args.iterations} if args.iterations else {}))
        self.run_dir = Path(args.run_dir)
        for needed in ("gaze", "explain"):
            if not (self.run_dir / needed / "manifest.json").is_file():
                raise SystemExit(f"{self.run_dir}/{needed} is missing: run notebooks 01-02 on Kvasir-SEG first (see this script's docstring)")
        root = Path(args.data_root)
        self.ds = KvasirSEG(root)
        done = set(read_json(self.run_dir / "gaze" / "manifest.json")["ids"])
        self.train_ids = [i for i in self.ds.split("train") if i in done]
        self.val_ids = [i for i in self.ds.split("val") if i in done]
        size = self.profile.image_size
        t0 = time.perf_counter()
        self.train = load_training_data(self.ds, self.run_dir, self.train_ids, size, ground_truth=True)
        self.val = load_training_data(self.ds, self.run_dir, self.val_ids, size, ground_truth=True)
        print(f"data: {len(self.train_ids)} train / {len(self.val_ids)} val images at {size} px ({time.perf_counter() - t0:.0f} s)", flush=True)
        self.results_path = Path(args.results)
        self.results = read_json(self.results_path) if self.results_path.is_file() else {}
        if self.results.get("iterations") not in (None, self.profile.iterations_distill):
            print(f"note: {self.results_path} holds results at {self.results['iterations']} iterations; methods are rerun at {self.profile.iterations_distill}")
            self.results["methods"] = {}
        self.results.setdefault("methods", {})
        self.per_image: dict[str, dict[str, float]] = {}

    def cfg(self, stage: str):
        from fgi_core.train import train_config

        return train_config(self.profile, stage, seed=self.args.seed, device=self.args.device, progress=True)

    # ------------------------------------------------------------------ training
    def train_baseline(self, key: str) -> Path:
        from fgi_core.train import train_baseline

        stage = self.run_dir / "baselines" / key
        if not summary_complete(stage, self.profile.iterations_distill):
            train_baseline(key, self.profile, self.train, self.val, stage, self.args.seed, self.args.device)
        return stage

    def train_fgi(self, variant: str) -> Path:
        import torch

        from fgi_core.train import (build_student, build_teacher, distillation_method, fgi_options, fit, load_networks,
                                    teacher_method)

        overrides, own_stage1 = FGI_VARIANTS[variant]
        opts = fgi_options(self.profile, **overrides)
        if variant == "fgi":
            teacher_dir, stage = self.run_dir / "teacher", self.run_dir / "student"
        else:
            teacher_dir = self.run_dir / "ablations" / variant / "teacher" if own_stage1 else self.run_dir / "teacher"
            stage = self.run_dir / "ablations" / variant / "student"
        if summary_complete(stage, self.profile.iterations_distill):
            return stage
        torch.manual_seed(self.args.seed)
        teacher = build_teacher(self.profile, 3, self.train.text_dim, fusion=opts.fusion)
        student = build_student(self.profile, 3)
        if opts.teacher_init == "stage1":
            if not summary_complete(teacher_dir, self.profile.iterations_teacher):
                fit(teacher_method(teacher, opts), self.train, self.val, teacher_dir, self.cfg("teacher"), resume=True)
            load_networks(teacher_dir, {"teacher": teacher}, "best")
        fit(distillation_method(teacher, student, opts), self.train, self.val, stage, self.cfg("distill"), resume=True)
        return stage

    # ------------------------------------------------------------------ scoring
    def score(self, key: str, stage: Path, network: str) -> dict:
        from fgi_core.predict import load_predictor

        predictor = load_predictor(stage, network, "best", self.args.device, self.profile.image_size, run_dir=self.run_dir)
        rows = evaluate_predictor(predictor, self.ds, self.val_ids, progress=True, desc=key)
        self.per_image[key] = {r["id"]: r["dice"] for r in rows}
        out = self.run_dir / "eval" / "kvasir_cpu"
        out.mkdir(parents=True, exist_ok=True)
        import pandas as pd

        pd.DataFrame(rows).to_csv(out / f"{key}.csv", index=False)
        s = summarise(rows)
        train_summary = read_json(stage / "summary.json")
        return {**{m: {"mean": s[m]["mean"], "std": s[m]["std"], "undefined": s[m]["undefined"]} for m in METRICS},
                "seconds": stage_seconds(stage), "best_iteration": train_summary.get("best_iteration"),
                "best_val_dice_train_size": train_summary.get("best_val_dice"), "stage": str(stage.relative_to(self.run_dir))}

    def run(self, key: str) -> None:
        if key in self.results["methods"] and not self.args.force and not self.args.evaluate_only:
            print(f"{key}: done already ({self.results['methods'][key]['dice']['mean']:.3f} Dice); --force reruns", flush=True)
            return
        t0 = time.perf_counter()
        if key in BASELINE_KEYS:
            stage, network = (self.run_dir / "baselines" / key if self.args.evaluate_only else self.train_baseline(key)), "network"
        else:
            variant = "fgi" if key in ("fgi_teacher", "fgi_student") else key
            stage = self.run_dir / "student" if variant == "fgi" else self.run_dir / "ablations" / variant / "student"
            if not self.args.evaluate_only:
                stage = self.train_fgi(variant)
            network = "teacher" if key == "fgi_teacher" else "student"
        result = self.score(key, stage, network)
        print(f"{key}: val Dice {result['dice']['mean']:.3f} ± {result['dice']['std']:.3f}, HD95 {result['hd95']['mean']:.1f} px "
              f"({time.perf_counter() - t0:.0f} s here, {result['seconds'] or 0:.0f} s training)", flush=True)
        self.results["methods"][key] = result
        self.save()

    def save(self) -> None:
        self.results.update({
            "profile": "cpu", "iterations": self.profile.iterations_distill, "iterations_teacher": self.profile.iterations_teacher,
            "image_size": self.profile.image_size, "teacher_widths": list(self.profile.teacher_widths), "seeds": [self.args.seed],
            "split": "val (selection split)", "n_val": len(self.val_ids), "n_train": len(self.train_ids),
            "git_commit": git_commit(), "machine": platform.platform(), "wall_seconds": sum((m.get("seconds") or 0) for m in self.results["methods"].values()),
        })
        self.results["paired_dice"] = self.paired()
        self.results["targets"] = self.targets()
        write_json(self.results_path, self.results)

    def targets(self) -> dict:
        return student_targets(self.results["methods"], self.results["paired_dice"])

    def paired(self) -> dict:
        """FGI student minus each other method, per image (loads earlier methods' CSVs too)."""
        import pandas as pd

        out = self.run_dir / "eval" / "kvasir_cpu"
        scores = {p.stem: pd.read_csv(p).set_index("id")["dice"] for p in out.glob("*.csv")} if out.is_dir() else {}
        if "fgi_student" not in scores:
            return {}
        ref = scores["fgi_student"]
        return {f"fgi_student - {k}": paired_difference(ref.to_numpy(), v.reindex(ref.index).to_numpy())
                for k, v in sorted(scores.items()) if k != "fgi_student"}


def plot_curves(results: dict, run_dir: Path, path: Path) -> Path | None:
    """Validation Dice (training size, every ``val_every`` iterations) of every method in ``results``,
    read from each stage's ``log.csv``: the evidence that the budget let the methods flatten.

    Left panel: the headline rows (the FGI teacher's stage-1 curve; its stage-2 copy is not
    validated separately). Right panel: the FGI student against its ablations, with UNet on
    M_bc (dashed) for reference.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from fgi_core.cli_eval import METHOD_LABELS
    from fgi_core.viz import save_figure

    labels = {"fgi_teacher": "FGI teacher (stage 1)", "fgi_student": "FGI student", **METHOD_LABELS, **VARIANT_LABELS}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True)
    # One colour per key, the same in every results file: tab10 without its grey (UNet on M_bc is the
    # grey dashed reference on the right; the student is black), plus navy for a tenth ablation.
    palette = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7] + ["#1a237e"]
    colour = {key: palette[i % len(palette)] for order in (HEADLINE, ABLATIONS + EXPLORATORY) for i, key in enumerate(order)}
    drawn = 0
    for key, row in results["methods"].items():
        stage = "teacher" if key == "fgi_teacher" else row.get("stage")
        log = run_dir / stage / "log.csv" if stage else None
        if log is None or not log.is_file():
            continue
        frame = pd.read_csv(log).dropna(subset=["val_dice"]).drop_duplicates("iteration", keep="last")
        panels = (0, 1) if key in ("fgi_student", "m_bc") else (0,) if key in HEADLINE else (1,)
        for panel in panels:
            if key == "fgi_student":
                style = {"color": "k", "lw": 2}
            elif key == "m_bc" and panel == 1:
                style = {"color": "0.5", "ls": "--"}
            else:
                style = {"color": colour.get(key)}
            axes[panel].plot(frame["iteration"], frame["val_dice"], marker=".", label=labels.get(key, key), **style)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    for ax, title in zip(axes, ("headline rows", "FGI student and its ablations")):
        ax.set(xlabel="iteration", title=title)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a panel can be empty (a results file with ablations only)
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    axes[0].set_ylabel("val Dice (128 px)")
    seeds = ", ".join(str(x) for x in results.get("seeds", [])) or "?"
    fig.suptitle(f"Kvasir-SEG, real gaze, cpu profile, seed {seeds}: validation curves ({results.get('n_val', '?')} val images)", fontsize=10)
    save_figure(fig, path)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/kvasir/cpu-seed0")
    ap.add_argument("--data-root", default="../shared/realdata/kvasir-seg")
    ap.add_argument("--methods", nargs="+", default=list(HEADLINE + ABLATIONS),
                    help="keys (default: all but the exploratory ones): " + ", ".join(ALL_KEYS))
    ap.add_argument("--iterations", type=int, help="override the profile's (smoke tests only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", default=str(RESULTS), help="results JSON (default: benchmarks/results/kvasir_cpu.json)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--force", action="store_true", help="rescore methods already in the results file")
    ap.add_argument("--evaluate-only", action="store_true", help="score trained methods without training")
    args = ap.parse_args()
    unknown = set(args.methods) - set(ALL_KEYS)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; allowed: {', '.join(ALL_KEYS)}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    bench = Bench(args)
    t0 = time.perf_counter()
    for key in args.methods:
        bench.run(key)
    methods = bench.results["methods"]
    print(format_table({k: {m: {**v[m], "n": bench.results["n_val"] - v[m]["undefined"]} for m in ("dice", "iou", "hd95", "asd")}
                        for k, v in methods.items()}))
    for k, v in bench.results.get("paired_dice", {}).items():
        print(f"{k}: {v['mean']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]")
    if bench.results.get("targets"):
        t = bench.results["targets"]
        gap = "n/a" if t["gap_closed"] is None else f"{t['gap_closed']:.2f}"
        print(f"student closes {gap} of the gap to full supervision over {t['best_gaze_baseline']} "
              f"(target 0.5, paired CI above zero: {t['paired_ci_above_zero']}), reaches {t['student_over_full']:.2f} of full "
              f"(target 0.9): {'met' if t['met'] else 'not met'}")
    curves = plot_curves(bench.results, bench.run_dir, bench.results_path.with_name(bench.results_path.stem + "_curves.png"))
    print(f"{time.perf_counter() - t0:.0f} s; results in {bench.results_path}" + (f", validation curves in {curves}" if curves else ""))


if __name__ == "__main__":
    main()
