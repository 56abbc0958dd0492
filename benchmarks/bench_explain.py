"""Benchmark stage 2 on real Kvasir-SEG: the describer and the text encoder.

    python benchmarks/bench_explain.py --run-dir runs/kvasir/cpu-seed0 [--encoder minilm] [--repeats 3]

Needs a run folder where notebooks 01 and 02 (or ``fgi gaze`` and the explain stage) ran on the
real data. Times (medians over ``--repeats``): encoding every explanation with the frozen text
encoder (texts per second, batch 32, the machine's threads), and the describer per image.
Writes ``benchmarks/results/explain.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from fgi_core.config import shared_realdata
from fgi_core.data import create_dataset
from fgi_core.explain import create_explainer, create_text_encoder, load_explanations, text_for
from fgi_core.explain.pipeline import explain_items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", type=Path, default=Path("runs/kvasir/cpu-seed0"))
    ap.add_argument("--realdata", type=Path, default=shared_realdata())
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--describer-images", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "explain.json")
    args = ap.parse_args()

    explanations = load_explanations(args.run_dir)
    if not explanations:
        raise SystemExit(f"no explanations in {args.run_dir}: run notebook 02 there first")
    ids = sorted(explanations)
    texts = [text_for(explanations[i]) for i in ids]
    t0 = time.perf_counter()
    encoder = create_text_encoder(args.encoder)
    load_s = time.perf_counter() - t0
    encoder.encode([t for t, _ in texts[:8]])  # warm-up
    seconds = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        encoder.encode([t for t, _ in texts], batch_size=args.batch_size, char_spans=[s for _, s in texts])
        seconds.append(time.perf_counter() - t0)
    enc_s = float(np.median(seconds))
    lengths = [len(encoder.tokenizer(t)["input_ids"]) for t, _ in texts]
    results = {
        "machine": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "encoder": encoder.describe(), "texts": len(texts), "tokens_median": float(np.median(lengths)),
        "load_s": load_s, "encode_s_median": enc_s, "texts_per_s": len(texts) / enc_s, "repeats": args.repeats,
    }
    print(f"{args.encoder} (D {encoder.dim}): {len(texts)} explanations, median {np.median(lengths):.0f} tokens: "
          f"{enc_s:.1f} s, {len(texts) / enc_s:.0f} texts/s (batch {args.batch_size}, {torch.get_num_threads()} threads); load {load_s:.1f} s")

    if args.realdata is not None:
        ds = create_dataset("kvasir", root=args.realdata / "kvasir-seg", gaze_csv=args.realdata / "gazemedseg" / "kvasir_fixation.csv")
        items = list(explain_items(ds, args.run_dir, ids[: args.describer_images]))
        describer = create_explainer("describer")
        t0 = time.perf_counter()
        describer.explain(items)
        per_image = (time.perf_counter() - t0) / len(items)
        results["describer_ms_per_image"] = 1e3 * per_image
        print(f"describer: {1e3 * per_image:.1f} ms per image (original sizes, {len(items)} images, inputs in memory)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
