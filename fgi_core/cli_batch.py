"""Batch commands of ``fgi``: ``run`` (its options and handler), ``sweep`` and ``train``.

    fgi run   [--profile P] [--dataset D] [--seed N] [--from 03] [--to 04] [--params-file F.yaml]
              [-p NAME VALUE]... [--resume]
    fgi sweep --seeds 0 1 2 [--datasets synthetic kvasir] [--profile P] [--name NAME] [...as run]
    fgi train teacher student [--profile P] [--dataset D] [--seed N] [--iterations N] [-p NAME VALUE]...
    torchrun --nproc_per_node 4 -m fgi_core.cli train teacher student --profile paper --dataset kvasir

Parameters reach the notebooks with this precedence: the notebook's own default < the YAML
file < ``--profile/--dataset/--seed/--data-root/--gaze-csv`` < ``-p NAME VALUE``.
"""
from __future__ import annotations

import argparse
import ast
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_run_options", "cmd_run", "check_run", "add_batch_commands", "run_parameters"]

_RUN_KEYS = ("profile", "dataset", "seed", "run_name")


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run_parameters(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolve the run (profile, dataset, seed, run_name) and the notebook parameters.

    Returns:
        ``(run, parameters)``: ``run`` has the four keys (defaults quick, synthetic, 0, None);
        ``parameters`` holds only what was given (YAML file, paths, ``-p``), so that a resume
        changes nothing else.
    """
    from .runner import load_parameters_file

    from_file = load_parameters_file(args.params_file) if getattr(args, "params_file", None) else {}
    run = {"profile": "quick", "dataset": "synthetic", "seed": 0, "run_name": None}
    for key in _RUN_KEYS:
        if key in from_file:
            run[key] = from_file.pop(key)
        given = getattr(args, key, None)
        if given is not None:
            run[key] = given
    run["seed"] = int(run["seed"])
    params = dict(from_file)
    for key in ("data_root", "gaze_csv"):
        value = getattr(args, key, None)
        if value:
            params[key] = str(Path(value).expanduser().resolve())
        elif params.get(key):
            params[key] = str(Path(params[key]).expanduser().resolve())
    params.update({name: _literal(value) for name, value in args.param})
    return run, params


def add_run_options(parser: argparse.ArgumentParser, sweep: bool = False) -> None:
    """The options ``fgi run`` and ``fgi sweep`` share beyond profile / dataset / seed."""
    if sweep:
        parser.add_argument("--profile", help="quick (default), cpu or paper")
        parser.add_argument("--data-root", help="dataset folder (only with one dataset; else $FGI_DATA_ROOT/<dataset>)")
        parser.add_argument("--gaze-csv", help="fixation CSV (only with one dataset)")
        parser.add_argument("--notebooks", nargs="*", help="run only these (e.g. 01 03)")
        parser.add_argument("--notebooks-dir", help="default: the checkout's notebooks/")
        parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                            help="any notebook parameter (Python literal)")
    parser.add_argument("--from", dest="start", metavar="NN", help="first notebook of the range (e.g. 03)")
    parser.add_argument("--to", dest="stop", metavar="NN", help="last notebook of the range, included (e.g. 05)")
    parser.add_argument("--params-file", metavar="YAML", help="notebook parameters as a YAML mapping (flags and -p win)")
    parser.add_argument("--resume", action="store_true",
                        help="start again at the failed (or first unfinished) notebook with the recorded parameters")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default python3: this interpreter)")
    parser.add_argument("--no-progress", action="store_true", help="no per-notebook progress bar")


def _resume_hint(run: dict[str, Any]) -> str:
    words = ["fgi", "run", "--profile", run["profile"], "--dataset", run["dataset"], "--seed", str(run["seed"])]
    if run["run_name"]:
        words += ["--run-name", run["run_name"]]
    return " ".join(shlex.quote(w) for w in words + ["--resume"])


def check_run(run: dict[str, Any], params: dict[str, Any], kernel: str | None = None, resume: bool = False) -> None:
    """The checks of ``fgi_core.checks`` for a run's names, data and gaze, before any kernel or folder.

    A resumed run checks its names only (its parameters are recorded in ``status.json``).
    """
    from .checks import check_dataset_name, check_kernel, check_profile, check_run_inputs

    if resume:
        check_profile(run["profile"])
        check_dataset_name(run["dataset"])
        check_kernel(kernel)
        return
    check_run_inputs(run["profile"], run["dataset"], params.get("data_root"), params.get("gaze_csv"),
                     split=params.get("split") or "all", max_images=params.get("max_images"), kernel=kernel)


def cmd_run(args: argparse.Namespace) -> int:
    """``fgi run``: the sequence (or a range) into the run folder; ``--resume`` continues one.

    Names, data root, gaze CSV, profile and kernel are checked first (``fgi_core.checks``): a
    mistake stops the command within seconds, before a kernel starts or a folder is made.
    """
    from .config import default_run_dir
    from .errors import UserError
    from .runner import KERNEL_NAME, NotebookFailed, find_notebooks, resume_run, run_notebooks

    run, params = run_parameters(args)
    progress = not args.no_progress
    if args.resume and (args.start or args.stop or args.notebooks):
        raise UserError("--resume continues the recorded sequence; drop --from / --to / --notebooks")
    check_run(run, params, args.kernel or (None if args.resume else KERNEL_NAME), resume=args.resume)
    if not args.resume:
        find_notebooks(args.notebooks_dir, args.notebooks, args.start, args.stop)  # a bad --from / --to: no folder either
    try:
        if args.resume:
            run_dir = default_run_dir(run["dataset"], run["profile"], run["seed"], run["run_name"])
            resume_run(run_dir, params, progress=progress, kernel_name=args.kernel,
                       baselines_alongside=getattr(args, "baselines_alongside", None))
        else:
            run_notebooks(run["profile"], run["dataset"], run["seed"], run["run_name"], params, args.notebooks,
                          args.notebooks_dir, progress=progress, start=args.start, stop=args.stop,
                          kernel_name=args.kernel or KERNEL_NAME, baselines_alongside=getattr(args, "baselines_alongside", None))
    except NotebookFailed as err:
        print(f"error: {err}\nFix the cause, then continue from {err.notebook} with:\n  {_resume_hint(run)}", file=sys.stderr)
        return 1
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .errors import UserError
    from .runner import KERNEL_NAME, sweep

    datasets = args.datasets or ["synthetic"]
    if len(datasets) > 1 and (args.data_root or args.gaze_csv):
        raise UserError("--data-root / --gaze-csv name one dataset's files; with several datasets set "
                        "$FGI_DATA_ROOT (each dataset is looked for in $FGI_DATA_ROOT/<folder>)")
    args.dataset = args.seed = args.run_name = None
    run, params = run_parameters(args)
    for dataset in datasets:  # every dataset's data before the first run starts
        check_run({**run, "dataset": dataset}, params, args.kernel or KERNEL_NAME, resume=args.resume)
    result = sweep(args.seeds, datasets, run["profile"], params, args.name, args.notebooks, args.start, args.stop,
                   args.notebooks_dir, resume=args.resume, progress=not args.no_progress, kernel_name=args.kernel or KERNEL_NAME)
    for r in result.failed:
        print(f"error: {r['dataset']} seed {r['seed']} stopped at {r['failed']} ({r['run_dir']})", file=sys.stderr)
    return 1 if result.failed else 0


#: The stages as of writing, for a quick check of ``fgi train``'s arguments without importing torch;
#: any other name is looked up in ``fgi_core.train.stages.STAGES``, which decides.
_KNOWN_STAGES = ("teacher", "student", "full", "m_hc", "m_bc", "gazemedseg")


def _cmd_train(args: argparse.Namespace) -> int:
    from .checks import check_training_inputs
    from .config import default_run_dir
    from .registry import look_up_option
    from .errors import UserError

    if not set(args.stages) <= set(_KNOWN_STAGES):
        from .train.stages import STAGES

        try:
            args.stages = [look_up_option(s, STAGES, "stage") for s in args.stages]
        except ValueError as err:
            raise UserError(str(err)) from None
    options = {name: _literal(value) for name, value in args.param}
    if options:  # -p names: checked before the run folder (imports torch: only when some are given)
        from .train.stages import split_options

        try:
            split_options(options)
        except ValueError as err:
            raise UserError(f"-p {err}") from None
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(args.dataset, args.profile, args.seed, args.run_name)
    check_training_inputs(args.stages, args.profile, args.dataset, run_dir, args.data_root, args.gaze_csv, args.seed,
                          args.run_name)
    from . import distributed
    from .train.stages import train_stages

    try:
        train_stages(args.stages, profile=args.profile, dataset=args.dataset, data_root=args.data_root, gaze_csv=args.gaze_csv,
                     run_dir=run_dir, seed=args.seed, device=args.device, max_images=args.max_images,
                     iterations=args.iterations, resume=not args.restart, progress=not args.no_progress, **options)
    finally:
        distributed.cleanup()
    return 0


def add_batch_commands(sub) -> None:
    """Add ``fgi sweep`` and ``fgi train`` to the ``fgi`` subparsers.

    Nothing heavy is imported here (``fgi_core.train`` pulls in torch and MONAI, seconds): every
    ``fgi`` command builds this parser, and a mistake must be reported at once. The stage names
    are checked by ``fgi train`` itself.
    """
    sw = sub.add_parser("sweep", help="run the notebook sequence for several seeds / datasets and tabulate their metrics")
    sw.add_argument("--seeds", nargs="+", type=int, required=True)
    sw.add_argument("--datasets", nargs="+", help="default: synthetic")
    sw.add_argument("--name", help="sweep name: runs/<dataset>/<name>-seed<seed>, table in runs/sweeps/<name>/ (default: the profile)")
    add_run_options(sw, sweep=True)
    sw.set_defaults(func=_cmd_sweep)

    tr = sub.add_parser("train", help="train stages without notebooks (one process, or data-parallel under torchrun)",
                        description="Train FGI stages into a run folder that notebooks 01-02 filled. Under "
                                    "`torchrun --nproc_per_node N -m fgi_core.cli train ...` training is data-parallel "
                                    "(DistributedDataParallel; the profile's batch is the global batch).")
    tr.add_argument("stages", nargs="+", metavar="STAGE",
                    help="teacher, student, or a baseline: full, m_hc, m_bc, gazemedseg (trained in the order given)")
    tr.add_argument("--profile", default="quick")
    tr.add_argument("--dataset", default="synthetic")
    tr.add_argument("--data-root")
    tr.add_argument("--gaze-csv")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--run-name", help="default: <profile>-seed<seed>")
    tr.add_argument("--run-dir", help="default: runs/<dataset>/<run-name>")
    tr.add_argument("--device", default="auto")
    tr.add_argument("--max-images", type=int)
    tr.add_argument("--iterations", type=int, help="default: the profile's")
    tr.add_argument("--restart", action="store_true", help="ignore checkpoints/last.pt and start over")
    tr.add_argument("--no-progress", action="store_true")
    tr.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a TrainConfig field (batch_size, lr, amp, flips...) or FGI option (teacher_mode, use_afc...)")
    tr.set_defaults(func=_cmd_train)
