"""Compare the gaze simulator with real Kvasir-SEG gaze on the same masks.

    python benchmarks/calibrate_simulator.py [--realdata ../shared/realdata] [--limit N]

Prints the real statistics (the numbers kept in ``fgi_core.gaze.simulate.KVASIR_GAZE_STATS``)
beside the simulator's on the same masks, and writes benchmarks/results/simulator.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fgi_core.config import shared_realdata
from fgi_core.data import create_dataset
from fgi_core.gaze.simulate import simulate
from fgi_core.gaze.stats import compare_gaze_statistics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=shared_realdata())
    ap.add_argument("--limit", type=int, default=None, help="use the first N images (sorted ids)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.realdata is None:
        raise SystemExit("real data not found: pass --realdata (folder with kvasir-seg/ and gazemedseg/)")
    ds = create_dataset("kvasir", root=args.realdata / "kvasir-seg", gaze_csv=args.realdata / "gazemedseg" / "kvasir_fixation.csv")
    ids = ds.ids[: args.limit] if args.limit else ds.ids
    masks = {i: ds.mask(i) for i in ids}
    rng = np.random.default_rng(args.seed)
    simulated = {i: simulate(masks[i], rng) for i in ids}
    table = compare_gaze_statistics(ds.gaze_csv(), masks, simulated)
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    out = Path(__file__).parent / "results" / "simulator.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table.to_dict(), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
