"""What DARM and CWC do to the FGI student, measured on the real table's own networks.

Reads the stage folders that ``benchmarks/kvasir_cpu.py`` trained (``--run-dir``, one seed) and
measures, on the 700 *training* images at training size (64 px):

* **each network's prediction** against the ground truth (Dice, recall, median predicted / true
  area), against M_hc and M_bc (Dice: how closely it reproduces the mask it learned from), and
  in the band ``M_bc & ~M_hc`` (the pixels M_bc calls lesion and M_hc does not; the student's
  label says lesion there): the share it predicts lesion, the share it marks
  *confident background* (p <= tau_neg, where CWC tells the other network "background"), and the
  share of the true lesion it marks confident background; for the networks of a distillation run
  with CWC also the same read as that run's CWC reads them (its own ``cwc_readout``, from its
  ``summary.json``: under the authors' ``softmax``, a softmax over both channels), and where
  teacher and student disagree in the band under each reading. Networks: the FGI teacher and student
  (authors' set) at 4,000 and, when trained, at 15,000 iterations (selected and last), the
  student without DARM and CWC, the authors' set with CWC reading each network as trained
  (``fgi_cwc_activation``: there CWC sees what is evaluated), the run whose teacher reads no
  text (``fgi_no_text``: does the gaze-derived text make the teacher better?), the run whose
  teacher reads descriptions measured from the ground truth (``fgi_truth_text``: what text that
  knows more than the gaze changes), UNet on M_bc at 4,000 and 15,000, and the paper-text set's
  pre-trained teacher (stage 1);
* **DARM** under the authors' set (U = the band, 30 % of its area per batch, blocks relabelled
  background): what share of M_bc's lesion pixels a batch loses (a block relabels whatever lies
  under it: the band and the M_hc beside it), and how much of that is true lesion. U comes from
  the labels, so this is the same at iteration 100 and at 15,000;
* **the loss terms over training** from each FGI run's ``log.csv``: the mean over the 500
  iterations up to 1,000, 2,000, 4,000, 8,000 and 15,000 of the student's supervised loss, the
  CWC and AFC losses and w(t), so what CWC adds late in training is read, not guessed.

    python benchmarks/kvasir_diagnose.py     # writes benchmarks/results/kvasir_diagnose.json

(The previous protocol's diagnosis, 128 px and 2,000 iterations, is kept in
``benchmarks/results/previous_cpu_protocol/kvasir_diagnose.json``.)
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from fgi_core import augment
from fgi_core.config import fgi_options, get_profile
from fgi_core.data import KvasirSEG
from fgi_core.io import read_json, write_json
from fgi_core.metrics import overlap_scores
from fgi_core.models import foreground_probability
from fgi_core.predict import load_predictor

#: (row name, stage folder under seed<s>/, network, checkpoint): what is measured, when present.
NETWORKS = (
    ("teacher, stage 1", "teacher_pce", "teacher", "best"),
    ("teacher, stage 2 (joint)", "fgi_authors", "teacher", "best"),
    ("student", "fgi_authors", "student", "best"),
    ("student without DARM and CWC", "fgi_no_darm_no_cwc", "student", "best"),
    ("teacher, CWC reading each as trained", "fgi_cwc_activation", "teacher", "best"),
    ("student, CWC reading each as trained", "fgi_cwc_activation", "student", "best"),
    ("teacher without text", "fgi_no_text", "teacher", "best"),
    ("student of the teacher without text", "fgi_no_text", "student", "best"),
    ("teacher reading text from the truth", "fgi_truth_text", "teacher", "best"),
    ("student of the teacher reading text from the truth", "fgi_truth_text", "student", "best"),
    ("UNet on M_bc", "m_bc", "network", "best"),
    ("teacher, 15,000 iterations (selected)", "fgi_authors-it15000", "teacher", "best"),
    ("student, 15,000 iterations (selected)", "fgi_authors-it15000", "student", "best"),
    ("teacher, 15,000 iterations (last)", "fgi_authors-it15000", "teacher", "last"),
    ("student, 15,000 iterations (last)", "fgi_authors-it15000", "student", "last"),
    ("UNet on M_bc, 15,000 iterations (selected)", "m_bc-it15000", "network", "best"),
    ("UNet on M_bc, 15,000 iterations (last)", "m_bc-it15000", "network", "last"),
)
#: stage folders whose teacher reads another run folder's descriptions (kvasir_cpu.TRUTH_TEXT:
#: measured from the ground truth); every other stage reads the table's own, from the gaze.
TEXT_RUN = {"fgi_truth_text": "text-from-truth"}
#: FGI stage folders whose loss terms are read from log.csv.
LOSS_STAGES = ("fgi_authors", "fgi_authors-it15000", "fgi_no_darm_no_cwc", "fgi_cwc_activation", "fgi_truth_text")
LOSS_ENDS = (1000, 2000, 4000, 8000, 15000)
LOSS_WINDOW = 500


def load_network(stage: Path, network: str, which: str, run: Path, image_size: int):
    """``(predictor, iteration)`` of one network of a stage's ``best``/``last`` checkpoint
    (:func:`fgi_core.predict.load_predictor`; the iteration from the stage's ``summary.json``)."""
    predictor = load_predictor(stage / "checkpoints" / f"{which}.pt", network, which, "cpu", image_size, run_dir=run)
    summary = read_json(stage / "summary.json")
    return predictor, int(summary["best_iteration" if which == "best" else "iterations_done"])


def logits_of(predictor, data) -> torch.Tensor:
    """N x 2 x S x S logits of every image (a teacher also reads its text)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(data), 32):
            b = data.batch(torch.arange(i, min(i + 32, len(data))))
            net = predictor.network
            out.append((net(b["image"], b["text"], b["text_mask"]) if predictor.kind == "teacher" else net(b["image"]))["logits"])
    return torch.cat(out)


def mask_scores(pred: torch.Tensor, gt: torch.Tensor) -> dict:
    """Mean Dice and recall per image (the project's empty-set convention), median area / truth."""
    scores = [overlap_scores(p.numpy(), g.numpy()) for p, g in zip(pred, gt)]
    return {"dice_vs_gt": float(np.mean([r["dice"] for r in scores])),
            "recall_vs_gt": float(np.mean([r["recall"] for r in scores])),
            "area_over_gt": float((pred.flatten(1).sum(1) / gt.flatten(1).sum(1).clamp(min=1)).median())}


def darm_effect(data, opts, passes: int = 5, batch_size: int = 8, seed: int = 0) -> dict:
    """DARM under ``opts`` on shuffled training batches: what share of M_bc's lesion it relabels."""
    g = torch.Generator().manual_seed(seed)
    lost = lesion = lost_true = band = lost_band = 0.0
    for _ in range(passes):
        order = torch.randperm(len(data), generator=g)
        for i in range(0, len(order) - batch_size + 1, batch_size):
            b = data.batch(order[i:i + batch_size])
            u = augment.label_disagreement(b["m_hc"], b["m_bc"])
            _, labels, _ = augment.darm(b["image"], b["m_bc"], u, ratio=opts.darm_ratio, generator=g,
                                     target=opts.darm_target, budget=opts.darm_budget)
            m_bc, gt = b["m_bc"].bool(), data.gt[order[i:i + batch_size]].bool()
            relabelled = m_bc & ~labels.bool()
            lesion += float(m_bc.sum())
            lost += float(relabelled.sum())
            lost_true += float((relabelled & gt).sum())
            band += float(u.sum())
            lost_band += float((relabelled & u).sum())
    return {"m_bc_lesion_relabelled": lost / lesion, "relabelled_inside_truth": lost_true / max(lost, 1.0),
            "band_relabelled": lost_band / max(band, 1.0), "passes": passes, "batch_size": batch_size}


def loss_windows(stage: Path) -> dict[str, dict]:
    """Mean loss terms over the ``LOSS_WINDOW`` iterations up to each of ``LOSS_ENDS`` (those reached)."""
    import pandas as pd

    log = pd.read_csv(stage / "log.csv").drop_duplicates("iteration", keep="last")
    out = {}
    for end in LOSS_ENDS:
        window = log[(log["iteration"] > end - LOSS_WINDOW) & (log["iteration"] <= end)]
        if len(window) and int(log["iteration"].max()) >= end:
            means = {c: float(window[c].mean()) for c in ("student", "teacher", "cwc", "afc", "rampup") if c in window}
            if "cwc" in means:  # absent where CWC is off
                means["weighted_cwc_over_student"] = means["rampup"] * means["cwc"] / means["student"]
            out[str(end)] = means
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/kvasir/cpu-table", help="benchmarks/kvasir_cpu.py's --run-dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", default="../shared/realdata/kvasir-seg")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "kvasir_diagnose.json"))
    args = ap.parse_args(argv)
    from fgi_core.train import load_training_data

    run, seed_dir = Path(args.run_dir), Path(args.run_dir) / f"seed{args.seed}"
    if not (run / "gaze" / "manifest.json").is_file():
        raise SystemExit(f"{run} has no gaze/ stage: train the table first (python benchmarks/kvasir_cpu.py)")
    prof = get_profile("cpu")
    opts = fgi_options(prof)
    torch.set_num_threads(1)
    ds = KvasirSEG(args.data_root)
    done = set(read_json(run / "gaze" / "manifest.json")["ids"])
    ids = [i for i in ds.split("train") if i in done]
    t0 = time.perf_counter()
    data = load_training_data(ds, run, ids, prof.image_size, ground_truth=True)
    gt, m_hc, m_bc = data.gt.bool(), data.m_hc.bool(), data.m_bc.bool()
    band = m_bc & ~m_hc
    rows = {"M_hc": mask_scores(m_hc, gt), "M_bc": mask_scores(m_bc, gt)}
    probs, cwc_views, text_data = {}, {}, {}
    for name, folder, network, which in NETWORKS:
        stage = seed_dir / folder
        if not (stage / "checkpoints" / f"{which}.pt").is_file():
            print(f"{name}: {stage} not trained, skipped")
            continue
        text_run = run / TEXT_RUN[folder] if folder in TEXT_RUN else run
        if text_run not in text_data:  # the same images and masks; only the teacher's text differs
            text_data[text_run] = data if text_run == run else load_training_data(ds, text_run, ids, prof.image_size, ground_truth=True)
        predictor, iteration = load_network(stage, network, which, text_run, prof.image_size)
        logits, activation = logits_of(predictor, text_data[text_run]), predictor.activation
        p = foreground_probability(logits, activation)
        confident_bg = p <= opts.tau_neg
        rows[name] = {**mask_scores(p >= 0.5, gt), "iteration": iteration, "stage": folder, "activation": activation,
                      # how closely it reproduces each pseudo-mask (the teacher learns M_hc, the student M_bc)
                      "dice_vs_m_hc": mask_scores(p >= 0.5, m_hc)["dice_vs_gt"],
                      "dice_vs_m_bc": mask_scores(p >= 0.5, m_bc)["dice_vs_gt"],
                      "band_predicted_foreground": float(((p >= 0.5) & band).sum() / band.sum().clamp(min=1)),
                      "band_confident_background": float((confident_bg & band).sum() / band.sum().clamp(min=1)),
                      "gt_confident_background": float((confident_bg & gt).sum() / gt.sum().clamp(min=1))}
        summary = read_json(stage / "summary.json")  # the run's own method and FGI options
        trained = summary.get("config", {})
        readout = trained.get("cwc_readout") if summary.get("method") == "student" and trained.get("use_cwc") else None
        if readout is not None:
            # what CWC sees: under the authors' "softmax" readout, a softmax over both channels of a
            # BCE-trained network, whose channel 0 only CWC trains; under "activation", what is evaluated
            q = foreground_probability(logits, "softmax") if readout == "softmax" else p
            rows[name].update(cwc_readout=readout,
                              band_predicted_foreground_cwc_view=float(((q >= 0.5) & band).sum() / band.sum().clamp(min=1)),
                              band_confident_background_cwc_view=float(((q <= opts.tau_neg) & band).sum() / band.sum().clamp(min=1)))
            cwc_views[name] = q
        probs[name] = p
    pairs = {}  # where teacher and student of one checkpoint disagree in the band, as evaluated and as CWC sees them
    for teacher, student in (("teacher, stage 2 (joint)", "student"),
                             ("teacher, CWC reading each as trained", "student, CWC reading each as trained"),
                             ("teacher reading text from the truth", "student of the teacher reading text from the truth"),
                             ("teacher, 15,000 iterations (last)", "student, 15,000 iterations (last)")):
        if teacher in probs and student in probs:
            pairs[student] = {
                "band_disagree": float((((probs[teacher] >= 0.5) != (probs[student] >= 0.5)) & band).sum() / band.sum().clamp(min=1)),
                "band_disagree_cwc_view": (float((((cwc_views[teacher] >= 0.5) != (cwc_views[student] >= 0.5)) & band).sum()
                                                 / band.sum().clamp(min=1)) if teacher in cwc_views and student in cwc_views else None)}
    losses = {folder: loss_windows(seed_dir / folder) for folder in LOSS_STAGES if (seed_dir / folder / "log.csv").is_file()}
    result = {"split": "train", "n": len(ids), "image_size": prof.image_size, "seed": args.seed, "tau_neg": opts.tau_neg,
              "protocol": "cpu (the authors' schedule, 64 px); networks of benchmarks/kvasir_cpu.py",
              "band_share_of_gt": float((band & gt).sum() / gt.sum()), "rows": rows, "teacher_student_band": pairs,
              "darm": darm_effect(data, opts), "losses": losses, "seconds": time.perf_counter() - t0}
    write_json(args.out, result)
    print(f"train: {len(ids)} images at {prof.image_size} px; the band M_bc minus M_hc holds "
          f"{100 * result['band_share_of_gt']:.1f} % of the ground truth")
    print("| network | iteration | Dice vs GT | recall | area/GT | Dice vs M_hc | Dice vs M_bc | band predicted lesion | band confident bg | GT confident bg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        extra = [f"{100 * r[k]:.0f} %" if k in r else "" for k in ("band_predicted_foreground", "band_confident_background", "gt_confident_background")]
        fits = " | ".join(f"{r[k]:.3f}" if k in r else "" for k in ("dice_vs_m_hc", "dice_vs_m_bc"))
        print(f"| {name} | {r.get('iteration', '')} | {r['dice_vs_gt']:.3f} | {r['recall_vs_gt']:.3f} | {r['area_over_gt']:.2f} | {fits} | " + " | ".join(extra) + " |")
    for student, d in pairs.items():
        print(f"{student}: teacher and student disagree on {100 * d['band_disagree']:.0f} % of the band as evaluated"
              + ("" if d["band_disagree_cwc_view"] is None else f", on {100 * d['band_disagree_cwc_view']:.0f} % as CWC reads them"))
    d = result["darm"]
    print(f"DARM (authors' set): a batch loses {100 * d['m_bc_lesion_relabelled']:.1f} % of M_bc's lesion pixels to background "
          f"({100 * d['band_relabelled']:.0f} % of the band); {100 * d['relabelled_inside_truth']:.0f} % of them are true lesion")
    for folder, windows in losses.items():
        print(f"{folder}: " + "; ".join(f"it. {end}: " + ", ".join(f"{k} {v:.4f}" for k, v in w.items()) for end, w in windows.items()))


if __name__ == "__main__":
    main()
