"""The ``fgi`` command.

    fgi run   [--profile quick] [--dataset synthetic] [--data-root DIR] [--seed 0] [-p NAME VALUE]...
              [--from 03] [--to 04] [--params-file F.yaml] [--resume]
    fgi sweep --seeds 0 1 2 [--datasets synthetic ...]      (cli_batch.py, as fgi train)
    fgi train teacher student [...]                          (also under torchrun: multi-GPU)
    fgi gaze  --dataset kvasir --data-root DIR [--gaze-csv CSV] [--split all] [--run-dir DIR]
    fgi info

``fgi run`` executes the notebook sequence with papermill into ``runs/<dataset>/<run-name>/``;
``fgi gaze`` runs stage 1 over a whole dataset without a notebook; ``fgi info`` prints profiles,
datasets and what this machine has; ``fgi evaluate`` and ``fgi predict`` (``cli_eval.py``) score
trained networks on a split and segment new images.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _cmd_run(args: argparse.Namespace) -> int:
    from .cli_batch import cmd_run  # --from / --to, YAML parameters, --resume, status.json, report.md

    return cmd_run(args)


def _cmd_gaze(args: argparse.Namespace) -> int:
    from .config import default_run_dir, get_profile
    from .data import create_dataset
    from .gaze import run_gaze_stage

    kwargs = {"gaze_csv": args.gaze_csv} if args.gaze_csv else {}
    ds = create_dataset(args.dataset, root=args.data_root, **kwargs) if args.data_root else create_dataset(args.dataset)
    ids = ds.split(args.split)[: args.limit] if args.limit else ds.split(args.split)
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(args.dataset, args.profile, args.seed)
    workers = args.workers if args.workers is not None else get_profile(args.profile).workers
    result = run_gaze_stage(ds, run_dir, ids=ids, refine_method=args.refine, workers=workers, strict=not args.lenient, overwrite=args.overwrite)
    print(f"gaze stage: {len(result.ids)} images, refinement {result.params['refine_method']}, {result.seconds['wall']:.1f} s")
    if "mean" in result.summary:
        m = result.summary["mean"]
        for src in ("heatmap", "refined"):
            for lvl in ("hc", "bc"):
                print(f"  {src:8s} M_{lvl}: Dice {m[f'{src}_{lvl}_dice']:.3f}  precision {m[f'{src}_{lvl}_precision']:.3f}  recall {m[f'{src}_{lvl}_recall']:.3f}")
    print(f"outputs: {result.gaze_dir}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from . import __version__
    from .config import PRESETS, PROFILES, resolve_device, runs_root, shared_realdata
    from .data import list_datasets
    from .gaze import crf_available

    print(f"fgi_core {__version__}")
    print(f"profiles: {', '.join(PROFILES)}")
    print(f"datasets: {', '.join(list_datasets())} (presets: {', '.join(PRESETS)})")
    print(f"dense CRF (pydensecrf): {'yes' if crf_available() else 'no -> guided-filter fallback'}")
    print(f"device: {resolve_device('auto')}")
    print(f"runs folder: {runs_root()}")
    print(f"real data: {shared_realdata() or 'not found'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fgi", description="From Gaze to Insight: notebooks and stages from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the notebook sequence with papermill into a run folder")
    run.add_argument("--profile", help="quick (default), cpu or paper")
    run.add_argument("--dataset", help="default: synthetic")
    run.add_argument("--data-root", help="dataset folder (real datasets)")
    run.add_argument("--gaze-csv", help="fixation CSV (default: found beside the data)")
    run.add_argument("--seed", type=int, help="default: 0")
    run.add_argument("--run-name", help="default: <profile>-seed<seed>")
    run.add_argument("--notebooks", nargs="*", help="run only these (e.g. 01 03)")
    run.add_argument("--notebooks-dir", help="default: the checkout's notebooks/")
    run.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="any notebook parameter (Python literal)")
    from .cli_batch import add_run_options  # --from, --to, --params-file, --resume, --kernel

    add_run_options(run)
    run.set_defaults(func=_cmd_run)

    gaze = sub.add_parser("gaze", help="stage 1 over a dataset: heatmaps, refined maps, M_hc, M_bc, quality")
    gaze.add_argument("--dataset", default="synthetic")
    gaze.add_argument("--data-root")
    gaze.add_argument("--gaze-csv")
    gaze.add_argument("--split", default="all")
    gaze.add_argument("--limit", type=int)
    gaze.add_argument("--profile", default="cpu")
    gaze.add_argument("--seed", type=int, default=0)
    gaze.add_argument("--run-dir")
    gaze.add_argument("--refine", default="auto", help="auto, crf, guided or none")
    gaze.add_argument("--workers", type=int)
    gaze.add_argument("--lenient", action="store_true", help="drop bad fixation rows (reported) instead of stopping")
    gaze.add_argument("--overwrite", action="store_true")
    gaze.set_defaults(func=_cmd_gaze)

    info = sub.add_parser("info", help="profiles, datasets, devices, optional components")
    info.set_defaults(func=_cmd_info)

    from .cli_eval import add_commands  # fgi evaluate, fgi predict

    add_commands(sub)
    from .cli_batch import add_commands as add_batch_commands  # fgi sweep, fgi train (torchrun)

    add_batch_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
