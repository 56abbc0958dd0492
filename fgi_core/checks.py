"""Checks made before any work starts: names, data folder, gaze CSV, profile, kernel.

``fgi run``, ``fgi sweep``, ``fgi train`` and ``fgi gaze`` call these before a kernel starts or a
folder is made, so that a typo or a missing file ends in one line that says what to do, within a
second or two, with nothing left behind. Each check raises :class:`~fgi_core.errors.UserError`.

Example:
    >>> from fgi_core.checks import check_run_inputs
    >>> check_run_inputs("quick", "synthetic").dataset_name
    'synthetic'
    >>> check_run_inputs("quik", "synthetic")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    fgi_core.errors.UserError: Unknown profile 'quik'; allowed: cpu, paper, quick. Did you mean 'quick'?
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import UserError

__all__ = [
    "CheckedRun",
    "DOWNLOADS",
    "check_profile",
    "check_dataset_name",
    "check_kernel",
    "download_hint",
    "resolve_data_root",
    "open_dataset_checked",
    "check_gaze_csv",
    "check_run_inputs",
    "check_training_inputs",
    "quiet_kernel_arguments",
]

#: ``data_download.sh --only`` names that fetch what each reader needs (its images and its gaze).
DOWNLOADS = {"kvasir": "kvasir,gazemedseg", "nci-isbi": "nci-isbi,gazemedseg", "isic": "isic"}


@dataclass
class CheckedRun:
    """What the checks resolved (real datasets only: synthetic data is made by the notebooks).

    Attributes:
        profile, dataset_name: the checked names.
        data_root: the dataset folder found (None for synthetic data).
        dataset: the reader opened on it (None for synthetic data).
        ids: the images the run will use (split, capped by ``max_images``); empty for synthetic.
        gaze_csv: the fixation CSV read (None when not read, or simulated gaze).
    """

    profile: str
    dataset_name: str
    data_root: Path | None = None
    dataset: Any = None
    ids: list[str] = field(default_factory=list)
    gaze_csv: Path | None = None


def _user_error(err: BaseException) -> UserError:
    text = err.args[0] if isinstance(err, KeyError) and err.args and isinstance(err.args[0], str) else str(err)
    return UserError(text)


def check_profile(name: str) -> str:
    """``name`` if it is a profile, else a UserError listing them (with "Did you mean")."""
    from .config import PROFILES
    from .registry import look_up_option

    try:
        return look_up_option(name, PROFILES, "profile")
    except ValueError as err:
        raise _user_error(err) from None


def check_dataset_name(name: str) -> str:
    """``name`` if a reader is registered under it, else a UserError listing them."""
    from .registry import look_up_option
    from .data import list_datasets

    try:
        return look_up_option(name, list_datasets(), "dataset")
    except ValueError as err:
        raise _user_error(err) from None


def check_kernel(name: str | None) -> str | None:
    """``name`` if Jupyter has a kernel of that name (None passes), else a UserError listing them."""
    if not name:
        return name
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(name)
    except NoSuchKernel:
        from .registry import look_up_option

        try:
            look_up_option(name, manager.find_kernel_specs(), "Jupyter kernel")
        except ValueError as err:
            raise UserError(f"{err} (`jupyter kernelspec list` shows them; default: python3)") from None
    return name


def quiet_kernel_arguments(kernel_name: str | None = None) -> list[str]:
    """Kernel arguments that keep an IPython kernel's start-up warnings off the terminal.

    ipykernel logs "Kernel is running over TCP without encryption" at WARNING on every start (a
    local kernel talking to its own client); at log level ERROR a run shows one line per notebook
    instead. Other kernels (not ipykernel) get no arguments.
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        argv = KernelSpecManager().get_kernel_spec(kernel_name or "python3").argv
    except Exception:  # noqa: BLE001 -- a kernel that cannot be looked up gets nothing
        return []
    return ["--IPKernelApp.log_level=ERROR"] if any("ipykernel" in str(a) for a in argv) else []


def download_hint(dataset: str) -> str:
    """How to fetch ``dataset`` with ``data_download.sh`` (only options the script has), or ``""``."""
    only = DOWNLOADS.get(dataset)
    if only is None:
        return ""
    from .config import project_root

    root = project_root() or project_root(Path(__file__).parent)
    script = root / "data_download.sh" if root is not None else None
    if script is None or not script.is_file():
        return f"fetch it with the repository's data_download.sh --only {only}"
    if Path.cwd().resolve() == root.resolve():
        return f"fetch it with: ./data_download.sh --only {only}"
    return f"fetch it with: {script} --data-dir {root / 'data'} --only {only}"


def _data_candidates(dataset: str) -> list[Path]:
    """Where :func:`fgi_core.runs.find_data_root` looks when no data root is given."""
    from .runs import data_root_candidates

    return data_root_candidates(dataset)


def resolve_data_root(dataset: str, data_root: str | os.PathLike | None = None) -> Path | None:
    """The folder of a real dataset (None for synthetic data), checked to exist.

    Raises:
        UserError: ``data_root`` does not exist or is a file; or none was given and none was
            found, naming the places looked at and how to get the data.
    """
    if dataset.startswith("synthetic"):
        return None
    if data_root:
        path = Path(data_root).expanduser()
        if not path.exists():
            raise UserError(f"--data-root {path} does not exist")
        if not path.is_dir():
            raise UserError(f"--data-root {path} is a file, not a folder")
        return path
    if dataset == "folder":
        raise UserError("dataset 'folder' needs --data-root DIR: a folder with images/ and gaze.csv "
                        "(optional: masks/, splits/, dataset.json with the modality)")
    candidates = _data_candidates(dataset)
    for c in candidates:
        if c.is_dir():
            return c
    looked = ", ".join(map(str, candidates)) or "(nothing: no checkout, no $FGI_DATA_ROOT)"
    hint = download_hint(dataset)
    raise UserError(f"no data folder for dataset {dataset!r}; looked at {looked}. Pass --data-root DIR, "
                    f"set FGI_DATA_ROOT to the folder that holds it" + (f", or {hint}" if hint else ""))


def open_dataset_checked(dataset: str, data_root: str | os.PathLike | None = None, gaze_csv: str | os.PathLike | None = None):
    """The reader of a real dataset on its folder (None for synthetic data), with at least one image.

    Raises:
        UserError: the folder is not in the reader's layout (the reader's message, plus the
            likely ``--data-root`` when the given folder holds the dataset one level down).
    """
    from .data import create_dataset
    from .runs import DATA_FOLDERS

    root = resolve_data_root(dataset, data_root)
    if root is None:
        return None
    kwargs = {}
    if gaze_csv:
        path = Path(gaze_csv).expanduser()
        if not path.is_file():
            raise UserError(f"--gaze-csv {path} " + ("is not a file" if path.exists() else "does not exist"))
        kwargs["gaze_csv"] = path
    try:
        ds = create_dataset(dataset, root=root, **kwargs)
    except (OSError, ValueError, KeyError) as err:
        message = str(_user_error(err))
        inner = root / DATA_FOLDERS.get(dataset, "")
        if dataset in DATA_FOLDERS and inner != root and inner.is_dir():
            message += f" (did you mean --data-root {inner}?)"
        raise UserError(message) from err
    if not ds.ids:
        raise UserError(f"dataset {dataset!r} in {root} has no images")
    return ds


def check_gaze_csv(ds, ids: list[str], what_to_do: str) -> Path | None:
    """Read the dataset's recorded gaze CSV strictly for ``ids`` (None for simulated gaze).

    Raises:
        UserError: no CSV found, a bad row (file, line, column) or images without fixations.
    """
    from .gaze.fixations import read_fixations
    from .gaze.pipeline import missing_gaze_message

    if ds.simulated_gaze and getattr(ds, "_gaze_csv", None) is None:
        return None  # made from the masks by the gaze stage
    try:
        csv = ds.gaze_csv()
        _, report = read_fixations(csv, image_ids=ids, strict=True)
    except (OSError, ValueError) as err:
        message = str(err)
        if "delete the line" not in message and " line " in message:
            message += "; fix or delete that line"
        raise UserError(message) from err
    if report.images_without_fixations:
        raise UserError(missing_gaze_message(csv, ids, report, what_to_do))
    return csv


def _run_ids(ds, profile: str, split: str = "all", max_images: int | None = None) -> list[str]:
    """The images a notebook run uses, as :func:`fgi_core.runs.start_stage` picks them."""
    from .config import get_profile

    try:
        ids = ds.split(split or "all")
    except ValueError as err:
        raise UserError(f"{err} (-p split ...)") from None
    cap = get_profile(profile).max_images if max_images is None else (None if int(max_images) <= 0 else int(max_images))
    return ids[:cap] if cap else ids


def check_run_inputs(
    profile: str,
    dataset: str,
    data_root: str | os.PathLike | None = None,
    gaze_csv: str | os.PathLike | None = None,
    split: str = "all",
    max_images: int | None = None,
    read_gaze: bool = True,
    kernel: str | None = None,
) -> CheckedRun:
    """Everything a notebook run (or a stage) needs, checked before it starts.

    Args:
        profile, dataset: names (checked against the profiles and the registered readers).
        data_root, gaze_csv: as given (``--data-root``, ``--gaze-csv``); default: found as the
            notebooks find them.
        split, max_images: which images the run uses (the notebooks' parameters).
        read_gaze: read the recorded gaze CSV strictly for those images, as notebook 01 will.
        kernel: a Jupyter kernel name to look up (None: not checked).

    Raises:
        UserError: the first problem found, with what to do about it.
    """
    profile = check_profile(profile)
    dataset = check_dataset_name(dataset)
    check_kernel(kernel)
    checked = CheckedRun(profile, dataset)
    ds = open_dataset_checked(dataset, data_root, gaze_csv)
    if ds is None:
        return checked
    checked.dataset, checked.data_root = ds, Path(ds.root) if getattr(ds, "root", None) else None
    checked.ids = _run_ids(ds, profile, split, max_images)
    if not checked.ids:
        raise UserError(f"split {split!r} of dataset {dataset!r} in {checked.data_root} has no images")
    if read_gaze:
        where = f"{checked.data_root}/images" if checked.data_root else "the dataset"
        checked.gaze_csv = check_gaze_csv(ds, checked.ids, f"move these images out of {where}")
    return checked


def check_training_inputs(stages: Iterable[str], profile: str, dataset: str, run_dir: str | os.PathLike,
                          data_root: str | os.PathLike | None = None, gaze_csv: str | os.PathLike | None = None,
                          seed: int = 0, run_name: str | None = None) -> CheckedRun:
    """``fgi train``'s inputs: names, data, and the run folder's stage 1-2 outputs.

    Raises:
        UserError: a bad name or data folder, or no ``gaze/`` (every stage) or ``explain/``
            (``teacher``, ``student``) outputs in ``run_dir``, naming the command that makes them.
    """
    checked = check_run_inputs(profile, dataset, data_root, gaze_csv, read_gaze=False)
    run_dir = Path(run_dir)
    text = any(s in ("teacher", "student") for s in stages)
    needs = [("gaze", "01_gaze_preprocessing")] + ([("explain", "02_vlm_explanation")] if text else [])
    for needed, notebook in needs:
        if not (run_dir / needed / "manifest.json").is_file():
            last = needs[-1][1][:2]
            command = f"fgi run --to {last} --profile {profile} --dataset {dataset} --seed {seed}"
            if run_name:
                command += f" --run-name {run_name}"
            if data_root:
                command += f" --data-root {data_root}"
            raise UserError(f"no {needed}/ outputs in {run_dir} (notebook {notebook} makes them): "
                            f"first run {'notebooks 01-' + last if last != '01' else 'notebook 01'} for this run: {command}")
    return checked
