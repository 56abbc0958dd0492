"""Command line: prepare a downloaded release into the layout the readers expect.

    python -m fgi_core.data.prepare nci-isbi RAW_DIR OUT_DIR [--dicom DIR] [--val-fraction 0.15] [--seed 0]
    python -m fgi_core.data.prepare isic ROOT [--val-fraction 0.1] [--seed 0] [--no-gaze]

``data_download.sh`` runs these after a download; run them by hand after a manual one.
Exit status 0 on success, 1 on an error (printed as one line naming the file or case).
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fgi_core.data.prepare", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="dataset", required=True)
    nci = sub.add_parser("nci-isbi", help="DICOM series + NRRD labels -> images/<case>_<slice>.dcm, masks/, splits/")
    nci.add_argument("raw", help="folder with the DICOM series and the extracted label archives")
    nci.add_argument("out", help="the prepared dataset folder (images/, masks/, splits/)")
    nci.add_argument("--dicom", default=None, help="folder of the DICOM series if not under RAW_DIR (e.g. the NBIA Data Retriever's)")
    nci.add_argument("--val-fraction", type=float, default=0.15, help="share of Training cases carved into val (default 0.15)")
    nci.add_argument("--seed", type=int, default=0)
    isic = sub.add_parser("isic", help="split files and simulated gaze for the extracted ISIC 2018 zips")
    isic.add_argument("root", help="folder with ISIC2018_Task1-2_Training_Input/ etc.")
    isic.add_argument("--val-fraction", type=float, default=0.1, help="share of Training images carved into val (default 0.1)")
    isic.add_argument("--seed", type=int, default=0)
    isic.add_argument("--no-gaze", action="store_true", help="do not simulate the gaze now (it is made on first use)")
    args = parser.parse_args(argv)
    try:
        if args.dataset == "nci-isbi":
            from .nci_isbi import prepare_nci_isbi

            prepare_nci_isbi(args.raw, args.out, dicom_root=args.dicom, val_fraction=args.val_fraction, seed=args.seed)
        else:
            from .isic import prepare_isic

            prepare_isic(args.root, val_fraction=args.val_fraction, seed=args.seed, gaze=not args.no_gaze)
    except (OSError, ValueError, KeyError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
