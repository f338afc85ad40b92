"""Print (and optionally save as CSV) the IIF weights of an annotation file or a count vector.

    python tools/iif_weights.py --ann-file lvis_v1_train.json --variant base10 --kind instance --out w.csv
    python tools/iif_weights.py --counts 5000 2997 1796 1077 645 387 232 139 83 50 --variant smooth

--kind image: IIF, K = number of images; --kind instance: IOF, K = number of annotations.
"""
from __future__ import annotations

import argparse
import os
import sys

import iif
from iif.weights_io import save_weights_csv


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ann-file", help="LVIS/COCO json")
    src.add_argument("--counts", type=float, nargs="+", help="per-class frequencies")
    ap.add_argument("--variant", default="smooth", choices=iif.VARIANTS)
    ap.add_argument("--kind", default="image", choices=iif.FREQUENCY_KINDS)
    ap.add_argument("--total", type=float, help="K for --counts (default: their sum)")
    ap.add_argument("--out", help="write category_id,name,weight CSV here")
    args = ap.parse_args(argv)
    try:
        if args.out:  # before any work: a typo in the directory is not created, it is reported
            folder = os.path.dirname(os.path.abspath(args.out))
            if os.path.isdir(args.out):
                raise ValueError(f"--out {args.out!r} is a directory; give a file name (e.g. {args.out}/weights.csv)")
            if not os.path.isdir(folder):
                raise ValueError(f"--out {args.out!r}: directory {folder!r} does not exist; create it first")
        if args.ann_file:
            f = iif.frequencies_from_annotations(args.ann_file)
            counts, total = f.counts(args.kind)
            ids, names = f.category_ids.tolist(), list(f.names)
        else:
            counts, total = args.counts, args.total
            ids, names = list(range(len(counts))), [str(i) for i in range(len(counts))]
        w = iif.compute_weights(counts, args.variant, total=total)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'id':>6} {'name':<24} {'count':>9} {'weight':>9}")
    for i, n, c, v in zip(ids, names, counts, w.tolist()):
        print(f"{i:>6} {n[:24]:<24} {int(c):>9} {v:9.4f}")
    if args.out:
        try:
            save_weights_csv(args.out, w, ids, names)
        except (ValueError, OSError) as exc:  # a full disk, no permission: one line, exit code 2
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
