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

Names, data folders, gaze CSVs and profiles are checked before any work starts
(``fgi_core/checks.py``). A mistake in what was given ends in one line, ``error: ...``, and exit
status 2; ``fgi --debug ...`` (or ``FGI_DEBUG=1``) shows the traceback instead.
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
    from .checks import check_run_inputs
    from .config import default_run_dir, get_profile
    from .data import create_dataset
    from .errors import UserError
    from .gaze import FixationError, run_gaze_stage
    from .gaze.refine import resolve_refine_method

    checked = check_run_inputs(args.profile, args.dataset, args.data_root, args.gaze_csv, read_gaze=False)
    try:
        resolve_refine_method(args.refine)
    except (ValueError, ImportError) as err:
        raise UserError(f"--refine: {err}") from None
    ds = checked.dataset if checked.dataset is not None else create_dataset(args.dataset)
    try:
        ids = ds.split(args.split)
    except ValueError as err:
        raise UserError(f"--split: {err}") from None
    ids = ids[: args.limit] if args.limit else ids
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(args.dataset, args.profile, args.seed)
    workers = args.workers if args.workers is not None else get_profile(args.profile).workers
    gaze_csv = Path(args.gaze_csv).expanduser() if args.gaze_csv and ds.simulated_gaze else None
    try:
        result = run_gaze_stage(ds, run_dir, ids=ids, gaze_csv=gaze_csv, refine_method=args.refine, workers=workers,
                                strict=not args.lenient, overwrite=args.overwrite, skip_missing=args.lenient)
    except FixationError as err:
        if args.lenient:  # what --lenient cannot drop (a missing column, a file that is not CSV)
            raise UserError(f"{err}; fix the file") from err
        raise UserError(f"{err}; fix the file, or rerun with --lenient to drop bad rows (they are listed in "
                        f"{run_dir / 'gaze' / 'fixations_report.json'})") from err
    report = result.report
    if args.lenient or report.n_dropped or report.images_without_fixations:
        reasons = ", ".join(f"{n} x {r}" for r, n in report.dropped_by_reason().items())
        print(f"fixations: {report.n_dropped} of {report.n_rows} rows dropped" + (f" ({reasons})" if reasons else "")
              + f"; {len(report.images_without_fixations)} image(s) without fixations left out"
              + f"; report: {result.gaze_dir / 'fixations_report.json'}")
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
    from .config import PROFILES, resolve_device, runs_root, shared_realdata
    from .data import list_datasets
    from .data.base import PRESETS
    from .gaze import crf_available

    print(f"fgi_core {__version__}")
    print(f"profiles: {', '.join(PROFILES)}")
    print(f"datasets: {', '.join(list_datasets())} (presets: {', '.join(PRESETS)})")
    print(f"dense CRF (pydensecrf): {'yes' if crf_available() else 'no -> guided-filter fallback'}")
    import torch

    from .config import resolve_amp

    device = resolve_device('auto')
    print(f"device: {device} (torch {torch.__version__}; CPU capability {torch.backends.cpu.get_cpu_capability()})")
    print(f"amp='auto' here: {_precision('auto', device)} -- {resolve_amp('auto', device)[1]}")
    from .config import busy_elsewhere, resolve_threads

    load = busy_elsewhere()  # measured once (a quarter of a second), for every line below
    for name, profile in PROFILES.items():
        n, _ = resolve_threads(profile.threads, load=load)
        beside = "; fgi run trains notebook 05's baselines on a second core during 02-04" if profile.baselines_alongside else ""
        print(f"profile {name}: trains in {_precision(profile.amp, device)}, {n} torch thread{'s' if n > 1 else ''} on a CPU "
              f"(asks for {profile.threads or 'one per core'}){beside}")
    reason = resolve_threads(None, load=load)[1]
    print("CPU load: " + (f"WARNING: {reason.split(' -- WARNING: ')[1]}" if "WARNING" in reason else "low enough for every thread"))
    print(f"runs folder: {runs_root()}")
    print(f"real data: {shared_realdata() or 'not found (looked in $FGI_REALDATA, then ../shared/realdata beside the checkout)'}")
    return 0


def _precision(amp: str, device: str) -> str:
    """What a profile's ``amp`` setting trains in on ``device``: ``fp32`` or ``bf16 autocast``."""
    from .config import resolve_amp

    return "bf16 autocast" if resolve_amp(amp, device)[0] == "bf16" else "fp32"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fgi", description="From Gaze to Insight: notebooks and stages from the command line.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also: FGI_DEBUG=1)")
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
    run.add_argument("--no-baselines-alongside", dest="baselines_alongside", action="store_false", default=None,
                     help="train notebook 05's baselines in notebook 05, not on the second core during 02-04 "
                          "(the cpu profile's default on a CPU with 2+ cores)")
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
    gaze.add_argument("--lenient", action="store_true",
                      help="drop bad fixation rows and leave out images without fixations (counted, and listed in "
                           "gaze/fixations_report.json) instead of stopping")
    gaze.add_argument("--overwrite", action="store_true")
    gaze.set_defaults(func=_cmd_gaze)

    info = sub.add_parser("info", help="profiles, datasets, devices, optional components")
    info.set_defaults(func=_cmd_info)

    from .cli_eval import add_eval_commands  # fgi evaluate, fgi predict

    add_eval_commands(sub)
    from .cli_batch import add_batch_commands  # fgi sweep, fgi train (torchrun)

    add_batch_commands(sub)
    for command in sub.choices.values():  # `fgi run ... --debug` as well as `fgi --debug run ...`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``fgi`` command; a user's mistake prints ``error: <one line>`` and returns 2."""
    from .errors import EXIT_USER_ERROR, USER_ERRORS, debug_requested, error_line

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as err:
        if debug_requested(getattr(args, "debug", False)):
            raise
        print(error_line(err), file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
