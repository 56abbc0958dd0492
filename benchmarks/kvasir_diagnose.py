"""Why does the FGI student under-segment? What each network predicts on the *training* images.

The student learns from M_bc (cross-entropy) and, through CWC, from the teacher's confident
regions (p >= tau_pos is foreground, p <= tau_neg background). If the teacher, fitted to M_hc,
predicts M_hc-sized masks on the images it was trained on, CWC tells the student that the band
between M_hc and M_bc is background, and the student shrinks toward M_hc. This script measures,
at training size (128 px) on the train split:

* Dice and recall against the ground truth of M_hc, M_bc, the stage-1 teacher, the stage-2
  (joint) teacher, the student and the M_bc baseline;
* the share of the band ``M_bc & ~M_hc`` that each teacher marks confident background
  (p <= tau_neg), i.e. where CWC contradicts the student's own label, and the share of the
  ground truth inside that confident background;
* what DARM's disagreement set U (stage-2 teacher vs student, both at the end of training) is
  made of: the share of U where M_bc says lesion and the student predicts background, i.e. the
  pixels whose labels DARM drops (target ``ignore``) exactly where the student misses the lesion.

    python benchmarks/kvasir_diagnose.py            # writes benchmarks/results/kvasir_diagnose.json
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from fgi_core.data import KvasirSEG
from fgi_core.metrics import overlap_scores
from fgi_core.io import read_json, write_json
from fgi_core.models import foreground_probability, stored_activation
from fgi_core.config import fgi_options, get_profile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/kvasir/cpu-seed0")
    ap.add_argument("--data-root", default="../shared/realdata/kvasir-seg")
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "kvasir_diagnose.json"))
    args = ap.parse_args()
    from fgi_core.train import build_student, build_teacher, load_networks, load_training_data

    run = Path(args.run_dir)
    prof = get_profile("cpu")
    opts = fgi_options(prof)
    ds = KvasirSEG(args.data_root)
    done = set(read_json(run / "gaze" / "manifest.json")["ids"])
    ids = [i for i in ds.split(args.split) if i in done]
    data = load_training_data(ds, run, ids, prof.image_size, ground_truth=True)
    gt = data.gt.bool()
    m_hc, m_bc = data.m_hc.bool(), data.m_bc.bool()
    band = m_bc & ~m_hc

    def probabilities(net, with_text: bool, activation: str = "softmax") -> torch.Tensor:
        """Lesion probability of every image, read with the network's activation (foreground_probability)."""
        out = []
        net.eval()
        with torch.no_grad():
            for i in range(0, len(data), 16):
                idx = torch.arange(i, min(i + 16, len(data)))
                b = data.batch(idx)
                logits = net(b["image"], b["text"], b["text_mask"])["logits"] if with_text else net(b["image"])["logits"]
                out.append(foreground_probability(logits, activation))
        return torch.cat(out)

    def overlap(pred: torch.Tensor) -> dict:
        """Mean Dice and recall per image (the project's empty-set convention), median area / truth."""
        scores = [overlap_scores(p.numpy(), g.numpy()) for p, g in zip(pred, gt)]
        return {"dice_vs_gt": float(np.mean([r["dice"] for r in scores])),
                "recall_vs_gt": float(np.mean([r["recall"] for r in scores])),
                "area_over_gt": float((pred.flatten(1).sum(1) / gt.flatten(1).sum(1).clamp(min=1)).median())}

    t0 = time.perf_counter()
    rows = {"M_hc": overlap(m_hc), "M_bc": overlap(m_bc)}
    nets = {}  # name -> (network, reads text, activation as stored with its checkpoint)
    for name, stage in (("teacher, stage 1", "teacher"), ("teacher, stage 2 (joint)", "student")):
        teacher = build_teacher(prof, 3, data.text_dim)
        state = load_networks(run / stage, {"teacher": teacher}, "best")
        nets[name] = (teacher, True, stored_activation(state, "teacher", run / stage))
    student = build_student(prof, 3)
    state = load_networks(run / "student", {"student": student}, "best")
    nets["student"] = (student, False, stored_activation(state, "student", run / "student"))
    from fgi_core.models import create_model, student_widths

    base = create_model("unet", in_channels=3, widths=student_widths(prof.teacher_widths))
    load_networks(run / "baselines" / "m_bc", {"network": base}, "best")
    nets["UNet on M_bc"] = (base, False, "softmax")
    probs = {}
    for name, (net, with_text, activation) in nets.items():
        p = probs[name] = probabilities(net, with_text, activation)
        row = overlap(p >= 0.5)
        confident_bg = p <= opts.tau_neg
        row["band_confident_background"] = float((confident_bg & band).sum() / band.sum().clamp(min=1))
        row["gt_confident_background"] = float((confident_bg & gt).sum() / gt.sum().clamp(min=1))
        row["band_predicted_foreground"] = float(((p >= 0.5) & band).sum() / band.sum().clamp(min=1))
        rows[name] = row
    teacher_fg, student_fg = probs["teacher, stage 2 (joint)"] >= 0.5, probs["student"] >= 0.5
    u = teacher_fg != student_fg
    n_u = u.sum().clamp(min=1)
    darm = {"u_share_of_image": float(u.float().mean()),
            "u_label_lesion_student_background": float((u & m_bc & ~student_fg).sum() / n_u),
            "u_label_lesion_student_lesion": float((u & m_bc & student_fg).sum() / n_u),
            "u_label_background": float((u & ~m_bc).sum() / n_u),
            "u_inside_truth": float((u & gt).sum() / n_u)}
    result = {"split": args.split, "darm_disagreement": darm, "n": len(ids), "image_size": prof.image_size, "tau_neg": opts.tau_neg,
              "band_share_of_gt": float((band & gt).sum() / gt.sum()), "rows": rows, "seconds": time.perf_counter() - t0}
    write_json(args.out, result)
    print(f"{args.split}: {len(ids)} images at {prof.image_size} px; the band M_bc minus M_hc holds "
          f"{100 * result['band_share_of_gt']:.1f} % of the ground truth")
    print(f"| {'':26} | Dice vs GT | recall | area/GT | band predicted fg | band confident bg | GT confident bg |")
    for name, r in rows.items():
        extra = [f"{100 * r[k]:.1f} %" if k in r else "" for k in ("band_predicted_foreground", "band_confident_background", "gt_confident_background")]
        print(f"| {name:26} | {r['dice_vs_gt']:.3f} | {r['recall_vs_gt']:.3f} | {r['area_over_gt']:.2f} | " + " | ".join(extra) + " |")
    print(f"DARM's U (teacher != student): {100 * darm['u_share_of_image']:.1f} % of the pixels; of U, "
          f"{100 * darm['u_label_lesion_student_background']:.0f} % M_bc lesion the student misses, "
          f"{100 * darm['u_label_lesion_student_lesion']:.0f} % M_bc lesion the teacher misses, "
          f"{100 * darm['u_label_background']:.0f} % M_bc background; {100 * darm['u_inside_truth']:.0f} % inside the truth")


if __name__ == "__main__":
    main()
