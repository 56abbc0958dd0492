"""``fgi evaluate`` and ``fgi predict``: trained networks on labelled and on new images.

    fgi evaluate runs/kvasir/cpu-seed0                      # student, FGI teacher, any baselines/
    fgi evaluate RUN --dataset kvasir --data-root DIR --split-file my_test.txt --out DIR
    fgi predict  runs/kvasir/cpu-seed0 --images new_images/ --out predictions/

``evaluate`` writes ``eval/per_image.csv``, ``eval/summary.json`` and ``eval/table.md`` (in the
run folder unless ``--out``). The dataset and data root default to those the run was trained
on (its ``config.json``); any folder in the dataset's public layout can be given instead,
images never seen included.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_eval_commands", "evaluate_run", "open_dataset", "METHOD_LABELS"]

#: Table names of the run's networks and of the baselines' folders (``<run>/baselines/<key>``).
METHOD_LABELS = {
    "student": "FGI student", "teacher": "FGI teacher",
    "full": "UNet, ground truth (upper bound)", "m_hc": "UNet on M_hc", "m_bc": "UNet on M_bc",
    "gazemedseg": "GazeMedSeg (two levels)",
}


def _run_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not path.is_file():
        return {}
    entries = [v for v in json.loads(path.read_text()).values() if isinstance(v, dict)]
    return entries[-1] if entries else {}


def open_dataset(dataset: str, data_root: str | Path | None = None, profile: str = "quick", seed: int = 0):
    """The dataset a run used: synthetic ones are rebuilt from the run's profile and seed."""
    from .config import get_profile
    from .data import create_dataset
    from .runs import find_data_root

    if dataset.startswith("synthetic"):
        prof = get_profile(profile)
        return create_dataset(dataset, n_images=prof.n_images, size=prof.synthetic_size, seed=seed)
    return create_dataset(dataset, root=find_data_root(dataset, data_root))


def evaluate_run(
    run_dir: str | Path,
    dataset: str | None = None,
    data_root: str | Path | None = None,
    split: str = "val",
    split_file: str | Path | None = None,
    networks: tuple[str, ...] = ("student", "teacher"),
    baselines: bool = True,
    out_dir: str | Path | None = None,
    which: str = "best",
    threshold: float = 0.5,
    device: str = "auto",
    image_size: int | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate a run folder's networks (and its ``baselines/*``) on a split; write ``eval/``.

    Args:
        run_dir: a run folder (``runs/<dataset>/<run>``), or a stage folder / checkpoint file
            (then only that network is scored).
        dataset, data_root: default: the run's own (``config.json``).
        split: a split of the dataset (``val``, ``test``, ``all``...), unless ``split_file``
            (one id per line) is given.
        networks: which FGI networks of the run to score (``student``, ``teacher`` = the FGI
            teacher after stage 2, or stage 1's when stage 2 has not run).
        baselines: also score every ``run_dir/baselines/<name>/`` stage folder.

    Returns:
        the summary written to ``summary.json``.
    """
    from .data.splits import read_split_file
    from .evaluate import evaluate_methods
    from .predict import checkpoint_networks, find_checkpoint, load_predictor, pick_network

    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise FileNotFoundError(f"{run_dir} does not exist: give a run folder (runs/<dataset>/<run>), a stage folder "
                                f"(e.g. runs/<dataset>/<run>/baselines/m_bc) or a .pt checkpoint")
    home = next((p for p in ([run_dir] if run_dir.is_dir() else []) + list(run_dir.parents) if (p / "config.json").is_file()), None)
    config = _run_config(home) if home else {}
    dataset = dataset or config.get("dataset")
    if home is None and run_dir.is_dir() and not any(run_dir.rglob("*.pt")):
        raise FileNotFoundError(f"{run_dir} is not a run folder: it has no config.json (the notebooks, `fgi run` and "
                                f"`fgi train` write one) and no checkpoint below it; give a run folder "
                                f"(runs/<dataset>/<run>), a stage folder (e.g. runs/<dataset>/<run>/baselines/m_bc) or a .pt checkpoint")
    if dataset is None:
        raise ValueError(f"which dataset? neither {run_dir} nor a folder above it has a config.json naming it: "
                         f"pass dataset= (fgi evaluate --dataset NAME --data-root DIR)")
    data_root = data_root if data_root is not None else config.get("data_root")
    ds = open_dataset(dataset, data_root, profile=config.get("profile", "quick"), seed=config.get("seed", 0))
    ids = read_split_file(split_file) if split_file else ds.split(split)
    predictors = {}
    is_run = run_dir.is_dir() and not (run_dir / "checkpoints").is_dir()
    if is_run:
        for net in networks:
            try:
                predictors[METHOD_LABELS.get(net, net)] = load_predictor(run_dir, net, which, device, image_size)
            except FileNotFoundError:
                continue
        if baselines and (run_dir / "baselines").is_dir():
            for stage in sorted(p for p in (run_dir / "baselines").iterdir() if (p / "checkpoints").is_dir()):
                predictors[METHOD_LABELS.get(stage.name, stage.name)] = load_predictor(stage, "network", which, device, image_size, run_dir=run_dir)
    else:  # a stage folder or a checkpoint: the network it holds (the first of `networks` it has)
        ckpt = find_checkpoint(run_dir, None, which)
        net = pick_network(checkpoint_networks(ckpt), networks[:1])
        stage = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
        label = METHOD_LABELS.get(stage.name, stage.name) if net == "network" else net
        predictors[label] = load_predictor(ckpt, net, which, device, image_size)
    if not predictors:
        raise FileNotFoundError(f"nothing trained in {run_dir}: no student/, teacher/ or baselines/ checkpoints")
    out = Path(out_dir) if out_dir else (run_dir if is_run else run_dir.parent) / "eval"
    reference = "FGI student" if "FGI student" in predictors else None
    extra = {"split": str(split_file) if split_file else split, "data_root": str(data_root) if data_root else None, "which": which}
    return evaluate_methods(predictors, ds, ids, out, threshold, reference=reference, progress=progress, extra=extra)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    summary = evaluate_run(args.path, args.dataset, args.data_root, args.split, args.split_file, tuple(args.networks),
                           not args.no_baselines, args.out, args.which, args.threshold, args.device, args.image_size)
    from .evaluate import format_table

    print(format_table(summary["methods"]), end="")
    for k, v in summary["paired_dice"].items():
        print(f"paired Dice {k}: {v['mean']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .errors import UserError
    from .predict import load_predictor, predict_folder

    predictor = load_predictor(args.path, args.network, args.which, args.device, args.image_size)
    rows = predict_folder(predictor, args.images, args.out, args.threshold, overlays=not args.no_overlays,
                          warn=lambda message: print(f"warning: {message}", file=sys.stderr))
    done = sum(r["status"] == "ok" for r in rows)
    table = Path(args.out) / "predictions.csv"
    if not done:
        raise UserError(f"none of the {len(rows)} file(s) in {args.images} could be read as an image (see {table})")
    skipped = f" ({len(rows) - done} unreadable, skipped)" if done < len(rows) else ""
    print(f"{done} images{skipped} -> {Path(args.out) / 'masks'}" + ("" if args.no_overlays else f" and {Path(args.out) / 'overlays'}")
          + f"; table: {table}")
    return 0


def add_eval_commands(sub) -> None:
    """Add ``evaluate`` and ``predict`` to the ``fgi`` command's subparsers."""
    ev = sub.add_parser("evaluate", help="score a run's networks (and baselines) on a split: eval/per_image.csv, summary.json, table.md")
    ev.add_argument("path", help="run folder, stage folder or checkpoint file")
    ev.add_argument("--dataset", help="default: the run's")
    ev.add_argument("--data-root", help="default: the run's; any folder in the dataset's public layout")
    ev.add_argument("--split", default="val", help="split name (default val)")
    ev.add_argument("--split-file", help="a file of ids, one per line (overrides --split)")
    ev.add_argument("--networks", nargs="+", default=["student", "teacher"], help="FGI networks to score (default: student teacher)")
    ev.add_argument("--no-baselines", action="store_true", help="skip the run's baselines/ folders")
    ev.add_argument("--out", help="default: <run>/eval")
    ev.add_argument("--which", default="best", help="best (default) or last checkpoint")
    ev.add_argument("--threshold", type=float, default=0.5)
    ev.add_argument("--device", default="auto")
    ev.add_argument("--image-size", type=int, help="training side, if the run folder does not say")
    ev.set_defaults(func=_cmd_evaluate)

    pr = sub.add_parser("predict", help="segment a folder of new images with the student (no gaze, no text)")
    pr.add_argument("path", help="run folder, stage folder or checkpoint file")
    pr.add_argument("--images", required=True, help="folder of images")
    pr.add_argument("--out", required=True, help="output folder: masks/, overlays/, predictions.csv")
    pr.add_argument("--network", default=None,
                    help="student, teacher or network (a baseline's); default: the one the checkpoint is for")
    pr.add_argument("--which", default="best")
    pr.add_argument("--threshold", type=float, default=0.5)
    pr.add_argument("--device", default="auto")
    pr.add_argument("--image-size", type=int)
    pr.add_argument("--no-overlays", action="store_true")
    pr.set_defaults(func=_cmd_predict)
