"""Record a finished ``fgi run --profile cpu`` (all six notebooks) as the shipped measurement of
what the profile costs: each notebook's time, each trained network's seconds per iteration and
validation Dice, the evaluation table, the CPU and the load it ran under.

    fgi run --profile cpu --dataset kvasir --data-root ../shared/realdata/kvasir-seg --run-name cpu-e2e
    python benchmarks/record_cpu_run.py runs/kvasir/cpu-e2e [--note "2 idle cores"]

Run it on the machine that ran the run (the CPU's name is read here). Writes
``benchmarks/results/cpu_run.json``: the README's profile row and notebook 03's "seconds
per iteration" comparison read it. The run's numbers are compared with the real table's seed-0
rows (``kvasir_cpu.json``: same seed, same code path) and the differences printed, then notebook
06's links (``interpret/summary.json``, also stored) as the table of docs/results.md's
"Interpretability (notebook 06)".
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from fgi_core.io import read_json
from fgi_core.report import run_metrics
from fgi_core.runs import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"

#: run_metrics' evaluation column -> the real table's row key (seed 0, 4,000 iterations)
TABLE_ROWS = {"eval_unet_ground_truth_upper_bound_dice": "full", "eval_unet_on_m_hc_dice": "m_hc",
              "eval_unet_on_m_bc_dice": "m_bc", "eval_gazemedseg_two_levels_dice": "gazemedseg",
              "eval_fgi_student_dice": "fgi_authors", "eval_fgi_teacher_dice": "fgi_teacher"}


def record(run_dir: Path, note: str) -> dict:
    status = read_json(run_dir / "status.json")
    if status.get("state") != "complete":
        raise SystemExit(f"{run_dir}: state {status.get('state')!r}; record a run whose six notebooks finished")
    notebooks = {name.split("_")[0]: entry["seconds"] for name, entry in status["notebooks"].items()}
    started = datetime.fromisoformat(status["notebooks"][min(status["notebooks"])]["started"])
    finished = datetime.fromisoformat(max(e["finished"] for e in status["notebooks"].values()))
    env = read_json(run_dir / "env.json")
    interpret = read_json(run_dir / "interpret" / "summary.json")
    alongside = run_dir / "baselines" / "alongside.log"
    return {
        "command": f"fgi run --profile {status['profile']} --dataset {status['dataset']} --data-root ...",
        "cpu": cpu_model(), "cores": env.get("cpu_count"), "git_commit": env.get("git_commit"),
        "note": note,
        "baselines_alongside": alongside.is_file(),
        "baselines_training_minutes": round(sum(
            read_json(p)["seconds"] for p in sorted((run_dir / "baselines").glob("*/summary.json"))) / 60, 1),
        "notebook_seconds": notebooks,
        "wall_minutes": round((finished - started).total_seconds() / 60, 1),
        "metrics": run_metrics(run_dir),
        "interpret": {**{k: v for k, v in interpret.items() if k in INTERPRET_KEYS},
                      "token_share": token_shares(run_dir, measured_ids(run_dir))},
    }


def measured_ids(run_dir: Path) -> list[str]:
    """The images notebook 06 measured (the first column of ``interpret/per_image.csv``)."""
    import csv

    with open(run_dir / "interpret" / "per_image.csv", newline="") as f:
        return [row[0] for row in list(csv.reader(f))[1:]]


def token_shares(run_dir: Path, ids: list[str]) -> dict[str, float]:
    """Each field's share of a description's tokens, averaged over ``ids`` (the images notebook 06
    measured): what a teacher attending uniformly over the tokens would give each field."""
    index = read_json(run_dir / "explain" / "embeddings_index.json")["images"]
    entries = [index[i] for i in ids if i in index]
    fields = {f for e in entries for f in e["token_spans"]}
    return {f: round(sum((e["token_spans"][f][1] - e["token_spans"][f][0]) / e["length"]
                         for e in entries if f in e["token_spans"]) / max(len(entries), 1), 4) for f in sorted(fields)}


INTERPRET_KEYS = ("images", "split", "threshold", "gaze", "auc_gt", "description", "kappa", "dice_gt",
                  "teacher_vs_student", "dice_teacher_student", "attention")


def interpret_table(summary: dict) -> list[str]:
    """Notebook 06's links, teacher beside student, as a markdown table (95 % bootstrap intervals)."""
    def ci(c, sign=""):
        return f"{c['mean']:{sign}.2f} [{c['low']:{sign}.2f}, {c['high']:{sign}.2f}]"

    rows = [("CC, gaze heatmap vs predicted probability", "gaze", "cc", None),
            ("NSS of the prediction at the fixations", "gaze", "nss", None),
            ("AUC, heatmap as a predictor of the predicted region", "gaze", "auc_pred", None),
            ("described Location = predicted region's grid cell", "description", "location_match", "Location"),
            ("described Area Percentage = predicted area's bin", "description", "area_match", "Area Percentage"),
            ("described Boundary = measured sharpness class", "description", "boundary_match", "Boundary")]
    lines = ["| link | FGI teacher (after distillation) | FGI student | student - teacher (paired) |", "|---|---|---|---|"]
    for label, group, metric, field in rows:
        cells = [ci(summary[group][net][metric]) + (f", kappa {summary['kappa'][net][field]:.2f}" if field else "")
                 for net in ("teacher", "student")]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ci(summary['teacher_vs_student'][metric], '+')} |")
    dice = summary["dice_gt"]
    lines.append(f"| Dice vs ground truth (training size) | {ci(dice['teacher'])} | {ci(dice['student'])} | |")
    return lines


def compare_with_table(metrics: dict) -> list[str]:
    table = read_json(RESULTS / "kvasir_cpu.json")
    lines = []
    for column, key in TABLE_ROWS.items():
        row = table["rows"].get(f"{key}/seed0/it4000")
        if column in metrics and row:
            here, there = metrics[column], row["dice"]["mean"]
            lines.append(f"{key:12s} this run {here:.4f}  table seed 0 {there:.4f}  difference {here - there:+.4f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--note", default="", help="how the cores were shared while it ran")
    parser.add_argument("--out", type=Path, default=RESULTS / "cpu_run.json")
    args = parser.parse_args()
    result = record(args.run_dir, args.note)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    minutes = {k: round(v / 60, 1) for k, v in result["notebook_seconds"].items()}
    print(f"{result['wall_minutes']} min on {result['cpu']} ({result['cores']} cores); per notebook (min): {minutes}")
    print("\n".join(compare_with_table(result["metrics"])))
    print("\n".join(interpret_table(result["interpret"])))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
