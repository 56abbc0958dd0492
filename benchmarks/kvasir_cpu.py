"""The real-data table: every row of the README's Kvasir-SEG comparison and the ablations, at the
`cpu` protocol, with seeds, resumable row by row.

    python benchmarks/kvasir_cpu.py --seeds 0 1 2 --jobs 2            # the whole table (README)
    python benchmarks/kvasir_cpu.py --long --seeds 0 --jobs 1         # + the 15,000-iteration rows
    python benchmarks/kvasir_cpu.py --list                            # what is done, what is left
    python benchmarks/kvasir_cpu.py --report                          # tables and figure from the JSON only
    python benchmarks/kvasir_cpu.py --report --merge other.json       # add another sitting's or machine's rows

The `cpu` protocol (``fgi_core.config.PROFILES["cpu"]``): the authors' schedule (SGD with
Nesterov, lr 1e-2 -> 1e-4 cosine per epoch over 15,000 iterations, weight decay 4e-4, the
consistency ramp-up over 4,000 absolute iterations) stopped at iteration 4,000, at 64 px, with
the teacher at half the paper's widths and the student at half the teacher's. Every image-only
network (baselines and students) has the student's architecture, batch, optimiser and
iterations. ``--long`` adds the same schedule run to its end (15,000 iterations) for the FGI
student and UNet on M_bc: the paper's length. A long row continues its 4,000-iteration row's
finished run when that is in ``--run-dir`` (the same schedule, every generator state restored:
the weights of a run from scratch, 4,000 iterations sooner).

Rows (``ROWS``): the four baselines, the FGI student under the authors' option set (the profile's;
its teacher is scored as ``fgi_teacher``) and under the paper-text set, and the ablations of the
authors' set (one of them, ``fgi_cwc_activation``, changes only how CWC reads the two networks:
each as it was trained, the sigmoid of its lesion logit, instead of the authors' softmax over both
channels, under which BCE-trained networks read as confident background everywhere). Headline rows (``HEADLINE``) train under every ``--seeds``; the others under the
first seed only. Each row trains in its own folder under ``--run-dir`` (``seed<s>/<row>``), is
scored at original size on the 100 validation images (the selection split: the public release
has no test split), and is written at once to the JSON with its commit, machine, seconds, per-image
scores and validation curve. A rerun skips finished rows (same protocol) and resumes a row cut
mid-training from its checkpoint. ``--jobs 2`` trains two rows at a time in two processes of one
torch thread each (two threads on one job gain only 1.2x at this size; spinning threads on
shared cores lose 10-20x).

The gaze and description stages (notebooks 01-02) are computed once into ``--run-dir`` when
missing (about 4 minutes for 800 images).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from fgi_core.runs import cpu_model  # light: no torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "kvasir_cpu.json"
PROFILE = "cpu"
LONG_ITERATIONS = 15000


@dataclass(frozen=True)
class Row:
    """One trained network of the table.

    Attributes:
        kind: ``baseline`` (``fgi_core.train.BASELINE_KEYS``) or ``fgi``.
        label: the table's name.
        options: FGI options changed from the profile's (``fgi`` rows).
        replace_options: the option set replaces the profile's instead of changing it.
        also_teacher: score the run's teacher too, as this row key (``fgi_teacher``).
        text: where the teacher's descriptions come from: ``gaze`` (notebook 02's describer,
            measured from the gaze maps) or ``truth`` (the same describer measuring the
            ground-truth mask: :func:`truth_text_run`).
    """

    kind: str
    label: str
    options: dict = field(default_factory=dict)
    replace_options: bool = False
    also_teacher: str | None = None
    text: str = "gaze"


def _rows() -> dict[str, Row]:
    from fgi_core.config import PAPER_TEXT_OPTIONS

    return {
        "full": Row("baseline", "UNet, ground truth (upper bound)"),
        "m_hc": Row("baseline", "UNet on M_hc"),
        "m_bc": Row("baseline", "UNet on M_bc"),
        "gazemedseg": Row("baseline", "GazeMedSeg (two levels)"),
        "fgi_authors": Row("fgi", "FGI student, authors' option set", also_teacher="fgi_teacher"),
        "fgi_paper": Row("fgi", "FGI student, paper-text option set", dict(PAPER_TEXT_OPTIONS), replace_options=True),
        "fgi_no_darm_no_cwc": Row("fgi", "FGI, no DARM and no CWC", {"use_darm": False, "use_cwc": False}),
        "fgi_darm_only": Row("fgi", "FGI, DARM only (no CWC)", {"use_cwc": False}),
        "fgi_cwc_only": Row("fgi", "FGI, CWC only (no DARM)", {"use_darm": False}),
        "fgi_cwc_activation": Row("fgi", "FGI, CWC reads each network as trained", {"cwc_readout": "activation"}),
        "fgi_no_afc": Row("fgi", "FGI, no AFC", {"use_afc": False}),
        "fgi_frozen_teacher": Row("fgi", "FGI, frozen stage-1 teacher", {"teacher_mode": "frozen", "teacher_init": "stage1"}),
        "fgi_no_text": Row("fgi", "FGI, teacher without text", {"fusion": False}, also_teacher="fgi_teacher_no_text"),
        "fgi_truth_text": Row("fgi", "FGI, teacher reads text measured from the truth (oracle)",
                              also_teacher="fgi_teacher_truth_text", text="truth"),
    }


ROWS = _rows()
#: Trained under every seed asked for; the rest under the first.
HEADLINE = ("m_bc", "full", "fgi_authors", "fgi_no_darm_no_cwc", "fgi_paper")
#: The order rows are trained in: headline rows of the first seed, the other rows, then later seeds.
SEED0_ORDER = ("m_bc", "full", "fgi_authors", "fgi_no_darm_no_cwc", "fgi_paper", "m_hc", "gazemedseg",
               "fgi_cwc_activation", "fgi_darm_only", "fgi_cwc_only", "fgi_no_afc", "fgi_no_text", "fgi_frozen_teacher",
               "fgi_truth_text")
#: The order of the README's table.
TABLE_ORDER = ("full", "m_hc", "m_bc", "gazemedseg", "fgi_teacher", "fgi_authors", "fgi_paper", "fgi_no_darm_no_cwc",
               "fgi_cwc_activation", "fgi_darm_only", "fgi_cwc_only", "fgi_no_afc", "fgi_frozen_teacher", "fgi_no_text",
               "fgi_teacher_no_text", "fgi_truth_text", "fgi_teacher_truth_text")
#: Rows run to the schedule's end with ``--long``.
LONG_ROWS = ("fgi_authors", "m_bc")
LABELS = {**{k: r.label for k, r in ROWS.items()}, "fgi_teacher": "FGI teacher (authors' set; reads gaze-derived text)",
          "fgi_teacher_no_text": "FGI teacher without text (authors' set)",
          "fgi_teacher_truth_text": "FGI teacher reading text from the truth (oracle; its val text too)"}
#: Rows that score an FGI run's teacher (no training of their own).
TEACHER_ROWS = tuple(r.also_teacher for r in ROWS.values() if r.also_teacher)


def row_id(key: str, seed: int, iterations: int) -> str:
    """The JSON key of one row: ``m_bc/seed0/it4000``."""
    return f"{key}/seed{seed}/it{iterations}"


def plan(seeds: list[int], long: bool, iterations: int) -> list[tuple[str, int, int]]:
    """``(row key, seed, iterations)`` in training order (see :data:`SEED0_ORDER`)."""
    tasks = [(k, seeds[0], iterations) for k in SEED0_ORDER]
    tasks += [(k, s, iterations) for s in seeds[1:] for k in HEADLINE]
    if long:
        tasks += [(k, s, LONG_ITERATIONS) for s in seeds for k in LONG_ROWS]
    return tasks


def git_commit() -> str | None:
    """This checkout's commit, ``-dirty`` when it has uncommitted changes (``fgi_core.runs.git_commit``)."""
    from fgi_core.runs import git_commit as checkout_commit

    return checkout_commit(Path(__file__).parent)


def protocol(iterations: int | None = None) -> dict:
    """What every row of one results file shares (a row of another protocol is not reused)."""
    from fgi_core.config import get_profile

    p = get_profile(PROFILE)
    return {"profile": PROFILE, "image_size": p.image_size, "teacher_widths": list(p.teacher_widths),
            "batch_size": p.batch_size, "optimizer": p.optimizer, "lr": p.lr, "lr_min": p.lr_min,
            "weight_decay": p.weight_decay, "lr_schedule": p.lr_schedule, "lr_horizon": p.lr_horizon,
            "rampup_length": p.fgi.rampup_length, "iterations_teacher": p.iterations_teacher,
            "iterations": iterations or p.iterations_distill, "amp": p.amp, "fgi": asdict(p.fgi)}


def normalise_protocol(proto: dict) -> dict:
    """``proto`` with its option set written out in full (every FGIOptions field), so two records of
    the same options compare equal however they were written (a results file may hold only the
    fields that differ from the defaults, as this script's first version wrote them)."""
    from fgi_core.options import FGIOptions

    if not isinstance(proto.get("fgi"), dict):
        return proto
    known = {f.name for f in fields(FGIOptions)}
    given = {k: v for k, v in proto["fgi"].items() if k in known}
    if "rampup_length" in proto and "rampup_length" not in given:
        given["rampup_length"] = proto["rampup_length"]
    return {**proto, "fgi": asdict(FGIOptions(**given))}


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


def read_curve(stage: Path) -> list[list[float]]:
    """``[[iteration, val_dice, val_empty, w(t)], ...]`` of a stage's validations (None where not logged)."""
    import pandas as pd

    frame = pd.read_csv(stage / "log.csv").dropna(subset=["val_dice"]).drop_duplicates("iteration", keep="last")
    cols = [c if c in frame else None for c in ("iteration", "val_dice", "val_empty", "rampup")]
    return [[float(r[c]) if c and r[c] == r[c] else None for c in cols] for _, r in frame.iterrows()]


def left_empty_start(curve: list[list[float]], threshold: float = 0.5) -> int | None:
    """The first validated iteration with fewer than ``threshold`` of the images predicted empty."""
    for it, _, empty, _ in curve:
        if empty is not None and empty < threshold:
            return int(it)
    return None


def first_iteration_above(weight: float, rampup_length: int) -> int:
    """The first iteration t with w(t) > ``weight`` (``fgi_core.losses.rampup``)."""
    from fgi_core.losses import rampup

    t = 0
    while rampup(t, rampup_length) <= weight:
        t += 1
    return t


# ---------------------------------------------------------------------------------------------- workers
_DATA: dict = {}


def _worker_init(run_dir: str, data_root: str, smoke_iterations: int | None = None) -> None:
    """One torch thread per worker; the data are loaded once per worker, on first use."""
    import torch

    from fgi_core.train.methods import exit_with_parent

    torch.set_num_threads(1)
    _DATA.update(run_dir=Path(run_dir), data_root=Path(data_root), smoke_iterations=smoke_iterations)
    exit_with_parent()  # an orphaned worker would train on with nobody to write its row; its checkpoints stay


def _data(text: str = "gaze"):
    """The training and validation data (loaded once per worker); ``text="truth"``: the same with
    the descriptions of :func:`truth_text_run` as the teacher's text."""
    if text == "truth":
        if "truth" not in _DATA:
            from fgi_core.train import load_training_data
            from fgi_core.config import get_profile

            data, size = _data(), get_profile(PROFILE).image_size
            folder = truth_text_run(data["ds"], data["run_dir"], data["train"].ids + data["val_ids"])
            _DATA["truth"] = {**data, "text_run_dir": folder,
                              "train": load_training_data(data["ds"], folder, data["train"].ids, size, ground_truth=True),
                              "val": load_training_data(data["ds"], folder, data["val_ids"], size, ground_truth=True)}
        return _DATA["truth"]
    if "train" not in _DATA:
        from fgi_core.data import KvasirSEG
        from fgi_core.io import read_json
        from fgi_core.train import load_training_data
        from fgi_core.config import get_profile

        ds = KvasirSEG(_DATA["data_root"])
        done = set(read_json(_DATA["run_dir"] / "gaze" / "manifest.json")["ids"])
        size = get_profile(PROFILE).image_size
        _DATA["ds"] = ds
        _DATA["val_ids"] = [i for i in ds.split("val") if i in done]
        _DATA["train"] = load_training_data(ds, _DATA["run_dir"], [i for i in ds.split("train") if i in done], size, ground_truth=True)
        _DATA["val"] = load_training_data(ds, _DATA["run_dir"], _DATA["val_ids"], size, ground_truth=True)
        _DATA["text_run_dir"] = _DATA["run_dir"]
    return _DATA


TRUTH_TEXT = "text-from-truth"
TRUTH_TEXT_MODEL = "describer measuring the ground-truth mask (oracle text for a test; not a VLM, not gaze)"


def truth_text_run(ds, run_dir: Path, ids: list[str]) -> Path:
    """``<run_dir>/text-from-truth``: a run folder whose ``explain/`` holds descriptions measured
    from each image's **ground-truth** mask, for the test of FGI's premise (does a teacher whose
    text knows more than the gaze make a better student?).

    The offline describer measures its six fields from maps it is given; here every map is the
    true mask (region, M_hc and M_bc = the truth; no fixations: Location from the mask's
    centroid, Confidence from the mask, so ``high``). Written as JSON lines and read back through
    the ``jsonl`` explainer, encoded with the same text encoder as notebook 02's; ``gaze/`` is a
    link to the run's own (the pseudo-masks are unchanged). The validation images get such text
    too, so the teacher's own validation score reads the truth; the student never reads text, so
    its scores stay fair.
    """
    import json

    import numpy as np

    from fgi_core.explain import run_explain_stage
    from fgi_core.explain.describer import DescriberExplainer
    from fgi_core.explain.records import ExplainItem

    folder = run_dir / TRUTH_TEXT
    if (folder / "explain" / "manifest.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "gaze").exists():
        (folder / "gaze").symlink_to(run_dir / "gaze", target_is_directory=True)
    describer, lines = DescriberExplainer(), []
    for image_id in ids:
        truth = np.asarray(ds.mask(image_id)).astype(np.uint8)
        item = ExplainItem(id=image_id, image=ds.image_rgb(image_id), modality=ds.modality, points=None,
                           heatmap=truth.astype(np.float32), refined=truth.astype(np.float32), m_hc=truth, m_bc=truth)
        record = describer.explain([item])[0]
        if record.fields is None:
            raise RuntimeError(f"{image_id}: the describer could not describe its ground truth: {record.reason}")
        lines.append(json.dumps({"id": image_id, "fields": record.fields, "model": TRUTH_TEXT_MODEL}))
    jsonl = folder / "truth_descriptions.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    run_explain_stage(ds, folder, ids, explainer="jsonl", explainer_kwargs={"path": jsonl}, progress=False)
    return folder


def _profile(iterations: int | None = None):
    """The protocol's profile, run for ``iterations`` (``--smoke-iterations`` shortens the teacher's too)."""
    from fgi_core.config import get_profile

    smoke = _DATA.get("smoke_iterations")
    return get_profile(PROFILE, **({"iterations_distill": iterations} if iterations else {}),
                       **({"iterations_teacher": smoke, "val_every": max(1, smoke // 4), "ckpt_every": smoke} if smoke else {}))


def _fgi_options(row: Row, profile):
    from fgi_core.config import fgi_options

    if row.replace_options:
        return fgi_options(profile, **{**_profile_defaults(), **row.options})
    return fgi_options(profile, **row.options)


def _profile_defaults() -> dict:
    """Every FGI option at its default (so a replacing option set drops the profile's changes)."""
    from fgi_core.options import FGIOptions

    return {f.name: f.default for f in fields(FGIOptions) if f.name != "rampup_length"}


def _stage1_teacher(opts, profile, seed: int, data) -> Path:
    """The stage-1 teacher an option set starts from: one per teacher loss, text use and seed."""
    import torch

    from fgi_core.train import build_teacher, fit, teacher_method, train_config

    text = "" if data["text_run_dir"] == data["run_dir"] else "_truth_text"
    folder = data["run_dir"] / f"seed{seed}" / f"teacher_{opts.teacher_loss}{'' if opts.fusion else '_no_text'}{text}"
    torch.manual_seed(seed)
    teacher = build_teacher(profile, 3, data["train"].text_dim, fusion=opts.fusion)
    fit(teacher_method(teacher, opts), data["train"], data["val"], folder,
        train_config(profile, "teacher", seed=seed, device="cpu", progress=False), resume=True)
    return folder


def continue_short_row(short: Path, long: Path) -> bool:
    """Start a 15,000-iteration row from its 4,000-iteration row's finished run, when there is one.

    The short row is the first 4,000 iterations of the same schedule (fixed ``lr_horizon``,
    absolute ramp-up, every generator state in ``last.pt``), so continuing it ends at the weights
    a 15,000-iteration run from scratch would (``fit``'s resume; tested) and saves its first
    4,000 iterations. Copies ``log.csv`` and both checkpoints; returns whether it did.
    """
    import shutil

    if (long / "checkpoints" / "last.pt").is_file() or not (short / "checkpoints" / "last.pt").is_file():
        return False
    (long / "checkpoints").mkdir(parents=True, exist_ok=True)
    for name in ("log.csv", "checkpoints/last.pt", "checkpoints/best.pt"):
        if (short / name).is_file():
            shutil.copy2(short / name, long / name)
    print(f"{long.name}: continues {short.name} (its first {read_last_iteration(long):,} iterations)", flush=True)
    return True


def read_last_iteration(stage: Path) -> int:
    import torch

    return int(torch.load(stage / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)["iteration"])


def train_row(key: str, seed: int, iterations: int) -> Path:
    """Train (or resume) one row into ``<run_dir>/seed<seed>/<key>[-it<N>]``; return its stage folder."""
    import torch

    from fgi_core.train import build_student, build_teacher, distillation_method, fit, load_networks, train_baseline, train_config

    row, profile = ROWS[key], _profile(iterations)
    data = _data(row.text)
    stage = data["run_dir"] / f"seed{seed}" / (key if iterations != LONG_ITERATIONS else f"{key}-it{iterations}")
    if iterations == LONG_ITERATIONS:
        continue_short_row(data["run_dir"] / f"seed{seed}" / key, stage)
    if row.kind == "baseline":
        train_baseline(key, profile, data["train"], data["val"], stage, seed, "cpu", progress=False)
        return stage
    opts = _fgi_options(row, profile)
    teacher_dir = _stage1_teacher(opts, profile, seed, data) if opts.teacher_init == "stage1" else None
    torch.manual_seed(seed)
    teacher = build_teacher(profile, 3, data["train"].text_dim, fusion=opts.fusion)
    student = build_student(profile, 3)
    if teacher_dir is not None:
        load_networks(teacher_dir, {"teacher": teacher}, "best")
    fit(distillation_method(teacher, student, opts), data["train"], data["val"], stage,
        train_config(profile, "distill", seed=seed, device="cpu", progress=False), resume=True)
    return stage


def score_stage(stage: Path, network: str, text: str = "gaze") -> dict:
    """Original-size scores of one stage's best checkpoint on the validation images (a teacher
    reads the validation images' descriptions from ``text``'s run folder)."""
    import numpy as np

    from fgi_core.evaluate import evaluate_predictor
    from fgi_core.metrics.statistics import summarise
    from fgi_core.predict import load_predictor

    data = _data(text)
    predictor = load_predictor(stage, network, "best", "cpu", _profile().image_size, run_dir=data["text_run_dir"])
    rows = evaluate_predictor(predictor, data["ds"], data["val_ids"])
    s = summarise(rows)
    per_image = {m: {r["id"]: (None if not np.isfinite(r[m]) else round(float(r[m]), 5)) for r in rows}
                 for m in ("dice", "precision", "recall", "hd95")}
    ratios = [r["recall"] / r["precision"] for r in rows if np.isfinite(r["precision"]) and r["precision"] > 0]
    return {**{m: {"mean": s[m]["mean"], "std": s[m]["std"], "undefined": s[m]["undefined"]} for m in ("dice", "iou", "hd95", "asd", "precision", "recall")},
            "area_ratio_median": float(np.median(ratios)) if ratios else None, "per_image": per_image}


def run_row(key: str, seed: int, iterations: int) -> dict[str, dict]:
    """Train and score one row (and the FGI teacher beside it): ``{row id: record}``."""
    from fgi_core.io import read_json

    t0 = time.perf_counter()
    stage = train_row(key, seed, iterations)
    summary = read_json(stage / "summary.json")
    curve = read_curve(stage)
    out = {}
    for name, network in ((key, "network" if ROWS[key].kind == "baseline" else "student"),
                          *(((ROWS[key].also_teacher, "teacher"),) if ROWS[key].also_teacher else ())):
        record = score_stage(stage, network, ROWS[key].text)
        record.update({
            "key": name, "seed": seed, "iterations": iterations, "label": LABELS[name],
            "stage": str(stage.relative_to(_DATA["run_dir"])), "network": network,
            "best_iteration": summary.get("best_iteration"), "best_val_dice_train_size": summary.get("best_val_dice"),
            "seconds": stage_seconds(stage), "wall_seconds_here": time.perf_counter() - t0,
            "curve": curve if network != "teacher" else None, "left_empty_start_at": left_empty_start(curve),
            "warnings": summary.get("warnings", []), "git_commit": git_commit(), "cpu": cpu_model(),
            "machine": platform.platform(), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        })
        out[row_id(name, seed, iterations)] = record
    return out


# ---------------------------------------------------------------------------------------------- the table
def pooled_paired(rows: dict, a: str, b: str, iterations: int, iterations_b: int | None = None,
                  seeds: list[int] | None = None) -> dict | None:
    """``a - b`` per validation image, each image's difference averaged over the seeds both rows
    have, with a bootstrap interval over images: ``{"mean", "low", "high", "n", "wins", "seeds"}``.
    ``b`` is read at ``iterations_b`` (default ``iterations``: ``a`` at 15,000 minus ``a`` at 4,000
    is what the long schedule added); ``seeds`` restricts the seeds pooled."""
    import numpy as np

    from fgi_core.metrics.statistics import paired_bootstrap

    its_b = iterations if iterations_b is None else iterations_b
    common = ({r["seed"] for r in rows.values() if r["key"] == a and r["iterations"] == iterations}
              & {r["seed"] for r in rows.values() if r["key"] == b and r["iterations"] == its_b})
    seeds = sorted(common if seeds is None else common & set(seeds))
    if not seeds:
        return None
    ids = sorted(rows[row_id(a, seeds[0], iterations)]["per_image"]["dice"])

    def mean_over_seeds(key: str, its: int) -> np.ndarray:
        per_seed = [[rows[row_id(key, s, its)]["per_image"]["dice"].get(i) for i in ids] for s in seeds]
        return np.nanmean(np.array(per_seed, dtype=np.float64), axis=0)

    return {**paired_bootstrap(mean_over_seeds(a, iterations), mean_over_seeds(b, its_b)), "seeds": seeds}


def summary_table(rows: dict, iterations: int) -> dict[str, dict]:
    """Per row key at ``iterations``: Dice (mean over seeds of the per-seed means), its per-seed
    values, IoU, HD95, ASD and the median predicted-over-true area."""
    import numpy as np

    out: dict[str, dict] = {}
    for key in TABLE_ORDER:
        mine = sorted((r for r in rows.values() if r["key"] == key and r["iterations"] == iterations), key=lambda r: r["seed"])
        if not mine:
            continue
        entry = {"label": LABELS[key], "seeds": [r["seed"] for r in mine], "dice_per_seed": [r["dice"]["mean"] for r in mine]}
        for m in ("dice", "iou", "hd95", "asd", "precision", "recall"):
            entry[m] = {"mean": float(np.mean([r[m]["mean"] for r in mine])), "std": float(np.mean([r[m]["std"] for r in mine])),
                        "undefined": int(sum(r[m]["undefined"] for r in mine))}
        ratios = [r["area_ratio_median"] for r in mine if r.get("area_ratio_median") is not None]
        entry["area_ratio_median"] = float(np.mean(ratios)) if ratios else None
        entry["seconds"] = float(np.mean([r["seconds"] or 0 for r in mine]))
        entry["left_empty_start_at"] = [r["left_empty_start_at"] for r in mine]
        out[key] = entry
    return out


COMPARISONS = (("fgi_authors", "m_bc"), ("fgi_authors", "fgi_no_darm_no_cwc"), ("fgi_paper", "m_bc"),
               ("fgi_authors", "fgi_paper"), ("fgi_no_darm_no_cwc", "m_bc"), ("full", "m_bc"), ("fgi_authors", "gazemedseg"),
               ("fgi_authors", "fgi_cwc_activation"), ("fgi_cwc_activation", "m_bc"), ("fgi_cwc_activation", "fgi_no_darm_no_cwc"),
               ("fgi_darm_only", "fgi_no_darm_no_cwc"), ("fgi_cwc_only", "fgi_no_darm_no_cwc"), ("fgi_authors", "fgi_no_afc"),
               ("fgi_authors", "fgi_no_text"), ("fgi_teacher", "fgi_teacher_no_text"), ("fgi_authors", "fgi_frozen_teacher"),
               ("fgi_authors", "fgi_truth_text"), ("fgi_truth_text", "m_bc"), ("fgi_teacher_truth_text", "fgi_teacher"),
               ("fgi_teacher_truth_text", "fgi_teacher_no_text"))


def derived(results: dict) -> dict:
    """The tables the README and the notebooks read: ``methods`` (at the protocol's iterations,
    ``fgi_student`` = the profile's option set), ``paired_dice`` pooled over seeds, and the same at
    the long schedule's length."""
    rows = results.get("rows", {})
    its = results["protocol"]["iterations"]
    out = {"methods": summary_table(rows, its), "paired_dice": {}, "long": {}}
    if "fgi_authors" in out["methods"]:
        out["methods"]["fgi_student"] = {**out["methods"]["fgi_authors"], "label": "FGI student (the cpu profile's option set: the authors')"}
    for a, b in COMPARISONS:
        d = pooled_paired(rows, a, b, its)
        if d is not None:
            out["paired_dice"][f"{a} - {b}"] = d
    if any(r["iterations"] == LONG_ITERATIONS for r in rows.values()):
        long_pair = pooled_paired(rows, "fgi_authors", "m_bc", LONG_ITERATIONS)
        out["long"] = {"methods": summary_table(rows, LONG_ITERATIONS),
                       "paired_dice": {} if long_pair is None else {"fgi_authors - m_bc": long_pair},
                       # the same difference at 4,000 over the same seeds, and what the long run added to each
                       "paired_dice_short_same_seeds": {} if long_pair is None else {
                           "fgi_authors - m_bc": pooled_paired(rows, "fgi_authors", "m_bc", its, seeds=long_pair["seeds"])},
                       "gain_over_short": {key: d for key in ("fgi_authors", "m_bc")
                                           if (d := pooled_paired(rows, key, key, LONG_ITERATIONS, its)) is not None}}
    return out


def save(results: dict, path: Path) -> None:
    from fgi_core.io import write_json

    results.update(derived(results))
    results["wall_seconds_rows"] = sum((r.get("seconds") or 0) for k, r in results["rows"].items() if k.split("/")[0] not in TEACHER_ROWS)
    write_json(path, results)


def markdown_table(methods: dict) -> str:
    lines = ["| method | seeds | Dice | IoU | HD95 (px) | ASD (px) | predicted / true area |", "|---|---|---|---|---|---|---|"]
    for key, e in methods.items():
        if key == "fgi_student":
            continue
        undefined = e["hd95"]["undefined"]
        lines.append(f"| {e['label']} | {len(e['seeds'])} | {e['dice']['mean']:.3f} ± {e['dice']['std']:.3f} | "
                     f"{e['iou']['mean']:.3f} | {e['hd95']['mean']:.1f}{f' ({undefined} undef.)' if undefined else ''} | "
                     f"{e['asd']['mean']:.1f} | {'-' if e['area_ratio_median'] is None else format(e['area_ratio_median'], '.2f')} |")
    return "\n".join(lines)


def paired_line(pair: str, d: dict, label: dict, prefix: str = "", subject: str | None = None) -> str:
    """One paired difference ``"a - b"`` as a list item, with its interval and verdict; ``subject``
    replaces the "a minus b" words (one row against itself at two lengths)."""
    a, b = pair.split(" - ")
    verdict = "cannot tell apart" if d["low"] <= 0 <= d["high"] else ("first better" if d["low"] > 0 else "second better")
    subject = subject or f"{label.get(a, a)} minus {label.get(b, b)}"
    return (f"- {prefix}{subject}: **{d['mean']:+.3f}** [{d['low']:+.3f}, {d['high']:+.3f}], "
            f"{len(d['seeds'])} seed(s): {verdict}")


def markdown_block(results: dict) -> str:
    """The results as the README and docs/results.md show them: the table, the paired differences
    pooled over seeds, when each network left its empty start, the long rows, and what is left."""
    methods, label = results["methods"], {k: e["label"] for k, e in results["methods"].items()}
    out = [markdown_table(methods), ""]
    for a, b in (("fgi_authors", "m_bc"), ("fgi_authors", "fgi_no_darm_no_cwc")):
        d = results["paired_dice"].get(f"{a} - {b}")
        if d is None:
            continue
        verdict = ("beats" if d["low"] > 0 else "falls below" if d["high"] < 0 else "cannot be told apart from")
        out += [f"**So far ({len(d['seeds'])} seed(s) of 3): the FGI student {verdict} {label[b]}**, "
                f"{d['mean']:+.3f} Dice per image [{d['low']:+.3f}, {d['high']:+.3f}].", ""]
    if results["paired_dice"]:
        out += ["Paired per-image differences in Dice (first minus second, each image's difference averaged over the "
                "seeds both rows ran under; 95 % bootstrap interval over the 100 images):", ""]
        out += [paired_line(pair, d, label) for pair, d in results["paired_dice"].items()]
        out.append("")
    area = {k: methods[k]["area_ratio_median"] for k in ("fgi_teacher", "fgi_authors", "fgi_no_darm_no_cwc", "m_bc")
            if k in methods and methods[k].get("area_ratio_median") is not None}
    if len(area) == 4:
        t, s, n, g = (area[k] for k in ("fgi_teacher", "fgi_authors", "fgi_no_darm_no_cwc", "m_bc"))
        pulled = t < s < n
        out += [f"Predicted over true area (median over images, mean over seeds): the FGI teacher {t:.2f} (it learns from "
                f"M_hc, the precise but partial mask), the FGI student {s:.2f}, the same without DARM and CWC {n:.2f}, "
                f"UNet on M_bc {g:.2f}" + (": DARM and CWC pull the student toward the teacher's smaller masks." if pulled
                                          else "."), ""]
    quiet = first_iteration_above(0.05, results["protocol"]["rampup_length"])
    starts = [f"{e['label']} {', '.join(str(x) for x in e['left_empty_start_at'])}" for k, e in methods.items()
              if k != "fgi_student" and k not in TEACHER_ROWS]
    out += [f"First validation (every 100 iterations) with under half of the images predicted empty, per seed: "
            f"{'; '.join(starts)}. The consistency weight w(t) first exceeds 0.05 at iteration {quiet}.", ""]
    long = results.get("long", {}).get("methods", {})
    if long:
        out += [f"Run to the schedule's end ({LONG_ITERATIONS:,} iterations):", "", markdown_table(long), ""]
        out += [paired_line(pair, d, label, f"at {LONG_ITERATIONS:,} iterations, ")
                for pair, d in results["long"].get("paired_dice", {}).items()]
        out += [paired_line(pair, d, label, f"at {results['protocol']['iterations']:,} iterations, the same seeds, ")
                for pair, d in results["long"].get("paired_dice_short_same_seeds", {}).items() if d is not None]
        out += [paired_line(f"{key} - {key}", d, label, f"{LONG_ITERATIONS:,} minus {results['protocol']['iterations']:,} "
                            "iterations: ", subject=label.get(key, key))
                for key, d in results["long"].get("gain_over_short", {}).items()]
        for r in sorted((r for r in results["rows"].values() if r["iterations"] == LONG_ITERATIONS and r.get("curve")
                         and r.get("best_iteration") is not None), key=lambda r: (r["key"], r["seed"])):
            last = r["curve"][-1][1]
            out.append(f"- {r['label']}, seed {r['seed']}: best validation Dice {r['best_val_dice_train_size']:.3f} (64 px) at "
                       f"iteration {r['best_iteration']:,}, {last:.3f} at the last; the selected checkpoint is the best.")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


BLOCK_BEGIN, BLOCK_END = "<!-- kvasir_cpu.json: begin (python benchmarks/kvasir_cpu.py --report) -->", "<!-- kvasir_cpu.json: end -->"


def write_markdown_blocks(results: dict, pages: list[Path]) -> list[Path]:
    """Replace the text between :data:`BLOCK_BEGIN` and :data:`BLOCK_END` in each page with
    :func:`markdown_block`; pages without the markers are left alone. Returns the pages written."""
    written = []
    block = markdown_block(results)
    for page in pages:
        text = page.read_text(encoding="utf-8") if page.is_file() else ""
        if BLOCK_BEGIN not in text or BLOCK_END not in text:
            continue
        head, rest = text.split(BLOCK_BEGIN, 1)
        _, tail = rest.split(BLOCK_END, 1)
        page.write_text(f"{head}{BLOCK_BEGIN}\n{block}{BLOCK_END}{tail}", encoding="utf-8")
        written.append(page)
    return written


def plot_curves(results: dict, path: Path) -> Path | None:
    """Validation Dice and the share of empty predictions against iteration, per row (seed 0 solid,
    other seeds thin), with w(t) on the right axis: does each network leave its empty start before
    the consistency weight rises, and where do the FGI students go once it has?"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fgi_core.losses import rampup
    from fgi_core.plots import save_figure

    rows = [r for r in results.get("rows", {}).values() if r.get("curve")]
    if not rows:
        return None
    T = results["protocol"]["rampup_length"]
    # one distinct colour per row, the same in every panel; the FGI student black
    colours = {"fgi_authors": "black", "m_bc": "tab:blue", "full": "tab:green", "fgi_no_darm_no_cwc": "tab:orange",
               "fgi_paper": "tab:red", "m_hc": "tab:cyan", "gazemedseg": "tab:olive", "fgi_darm_only": "tab:purple",
               "fgi_cwc_only": "tab:brown", "fgi_no_afc": "tab:pink", "fgi_no_text": "tab:gray", "fgi_frozen_teacher": "gold",
               "fgi_cwc_activation": "teal", "fgi_truth_text": "magenta"}
    long = any(r["iterations"] == LONG_ITERATIONS for r in rows)
    fig, axes = plt.subplots(1, 3 if long else 2, figsize=(16 if long else 11.5, 4.8), layout="constrained")
    panels = [("headline rows and baselines", set(HEADLINE) | {"m_hc", "gazemedseg"}, False),
              ("FGI (authors' set) and its ablations", {k for k in ROWS if k.startswith("fgi_") and k != "fgi_paper"}, False)]
    if long:
        panels.append((f"to {LONG_ITERATIONS:,} iterations", set(LONG_ROWS), True))
    for ax, (title, keys, is_long) in zip(axes, panels):
        for r in sorted(rows, key=lambda r: (r["key"], r["seed"])):
            if r["key"] not in keys or (r["iterations"] == LONG_ITERATIONS) != is_long:
                continue
            it = [c[0] for c in r["curve"]]
            ax.plot(it, [c[1] for c in r["curve"]], color=colours.get(r["key"]), lw=1.8 if r["seed"] == min(results["seeds_run"]) else 0.7,
                    label=LABELS[r["key"]] if r["seed"] == min(results["seeds_run"]) else None)
        x_max = LONG_ITERATIONS if is_long else results["protocol"]["iterations"]
        w = ax.twinx()
        xs = list(range(0, x_max + 1, 50))
        w.plot(xs, [rampup(t, T) for t in xs], color="0.4", ls=":", lw=1.2)
        w.set_ylim(0, 1.05)
        w.tick_params(colors="0.4")
        if ax is axes[-1]:
            w.set_ylabel("consistency weight w(t) (dotted)", color="0.4")
        ax.axvline(first_iteration_above(0.05, T), color="0.6", lw=0.8, ls="--")
        ax.set(xlabel="iteration", title=title, ylim=(0, 1))
        if ax is axes[0]:
            ax.set_ylabel("validation Dice (64 px)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Kvasir-SEG, real gaze, cpu protocol (thick: seed {min(results['seeds_run'])}, thin: other seeds; "
                 f"dashed line: w(t) first above 0.05)", fontsize=10)
    save_figure(fig, path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------- main
def prepare_stages(run_dir: Path, data_root: Path) -> None:
    """Notebooks 01-02's outputs (gaze pseudo-masks, descriptions, text embeddings) for every image."""
    from fgi_core.data import KvasirSEG
    from fgi_core.explain import run_explain_stage
    from fgi_core.gaze import run_gaze_stage

    ds = KvasirSEG(data_root)
    if not (run_dir / "gaze" / "manifest.json").is_file():
        t0 = time.perf_counter()
        run_gaze_stage(ds, run_dir, workers=2)
        print(f"gaze stage: {len(ds.ids)} images ({time.perf_counter() - t0:.0f} s)", flush=True)
    if not (run_dir / "explain" / "manifest.json").is_file():
        t0 = time.perf_counter()
        run_explain_stage(ds, run_dir)
        print(f"description stage ({time.perf_counter() - t0:.0f} s)", flush=True)


def load_results(path: Path, proto: dict) -> dict:
    from fgi_core.io import read_json

    results = read_json(path) if path.is_file() else {}
    if results.get("protocol"):
        results["protocol"] = normalise_protocol(results["protocol"])
    if results.get("rows") and results.get("protocol") != proto:
        old = results.get("protocol") or {}
        differ = sorted(k for k in set(old) | set(proto) if old.get(k) != proto.get(k))
        raise SystemExit(f"{path} holds rows of another protocol (differs in {', '.join(differ)}): move it aside "
                         "or name another --results; nothing was overwritten")
    return {"protocol": proto, "rows": dict(results.get("rows", {})), "seeds_run": results.get("seeds_run", [])}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="headline rows under each; the others under the first")
    ap.add_argument("--jobs", type=int, default=1, help="rows trained at once, one torch thread each (default 1)")
    ap.add_argument("--long", action="store_true", help=f"also train {', '.join(LONG_ROWS)} to {LONG_ITERATIONS:,} iterations")
    ap.add_argument("--only", nargs="+", metavar="ROW", help="train just these row keys: " + ", ".join(ROWS))
    ap.add_argument("--run-dir", default="runs/kvasir/cpu-table")
    ap.add_argument("--data-root", default="../shared/realdata/kvasir-seg")
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("--list", action="store_true", help="list the rows done and left, then stop")
    ap.add_argument("--report", action="store_true", help="rewrite the derived tables and the figure from the JSON, then stop")
    ap.add_argument("--smoke-iterations", type=int, help="train every row this short (tests only; use another --results)")
    ap.add_argument("--merge", nargs="+", metavar="JSON", default=[],
                    help="add the rows of other results files of the same protocol (another machine's, another sitting's)")
    args = ap.parse_args(argv)
    for key in args.only or []:
        if key not in ROWS:
            raise SystemExit(f"unknown row {key!r}; rows: {', '.join(ROWS)}")
    path = Path(args.results)
    proto = protocol(args.smoke_iterations)
    results = load_results(path, proto)
    for other in args.merge:
        extra = load_results(Path(other), proto)
        new = {k: r for k, r in extra["rows"].items() if k not in results["rows"]}
        results["rows"].update(new)
        results["seeds_run"] = sorted(set(results["seeds_run"]) | set(extra["seeds_run"]))
        print(f"merged {len(new)} row(s) from {other}: {', '.join(new) or 'none new'}", flush=True)
    results["seeds_run"] = sorted(set(results["seeds_run"]) | set(args.seeds))
    tasks = [t for t in plan(args.seeds, args.long, proto["iterations"]) if not args.only or t[0] in args.only]
    todo = [t for t in tasks if row_id(*t) not in results["rows"]]
    print(f"{len(tasks) - len(todo)} of {len(tasks)} rows done; {len(todo)} to train with {args.jobs} job(s) of one thread "
          f"({cpu_model()})", flush=True)
    if args.list:
        for t in tasks:
            print(("done  " if row_id(*t) in results["rows"] else "to do ") + row_id(*t))
        return
    if not args.report and todo:
        run_dir, data_root = Path(args.run_dir), Path(args.data_root)
        prepare_stages(run_dir, data_root)
        run_tasks(todo, results, path, run_dir, data_root, args.jobs, args.smoke_iterations)
    save(results, path)
    print(markdown_block(results))
    figure = plot_curves(results, path.with_name(path.stem + "_curves.png"))
    pages = write_markdown_blocks(results, [ROOT / "README.md", ROOT / "docs" / "results.md"]) if path.resolve() == RESULTS.resolve() else []
    print(f"results in {path}" + (f", curves in {figure}" if figure else "") + "".join(f"; table rewritten in {p}" for p in pages))


def run_tasks(todo, results: dict, path: Path, run_dir: Path, data_root: Path, jobs: int, smoke_iterations: int | None = None) -> None:
    """Train the rows ``jobs`` at a time; write each to the JSON as it finishes (this process alone writes)."""
    import multiprocessing as mp

    os.environ["OMP_NUM_THREADS"] = "1"  # before the workers start: one thread each, no spinning
    t0 = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                             initargs=(str(run_dir), str(data_root), smoke_iterations)) as pool:
        pending = {pool.submit(run_row, *t): t for t in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    records = future.result()
                except Exception as error:  # one failed row does not stop the others
                    print(f"{row_id(*task)}: FAILED: {type(error).__name__}: {error}", flush=True)
                    continue
                results["rows"].update(records)
                save(results, path)
                for rid, r in records.items():
                    print(f"{rid}: val Dice {r['dice']['mean']:.3f} (best at {r['best_iteration']}, {(r['seconds'] or 0) / 60:.0f} min "
                          f"training; left the empty start at {r['left_empty_start_at']}) [{(time.perf_counter() - t0) / 60:.0f} min]",
                          flush=True)


if __name__ == "__main__":
    sys.exit(main())
