"""Generate the CPU-scale LVIS (Fashion-MNIST garments + MNIST digits on canvases).

    python tools/make_toy_lvis.py --out data/toy_lvis      # after `make setup` fetched the glyphs

Writes annotations/lvis_v1_{train,val}.json and {train,val}2017/*.png in the LVIS v1 layout.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from iif.data.fetch import default_data_root
from iif.data.toy_lvis import ToyLVISSpec, make_toy_lvis


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/toy_lvis", help="output directory (must not exist)")
    ap.add_argument("--data-root", default=default_data_root(), help="holds fashion_mnist/ and mnist/")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-pool", type=int, default=ToyLVISSpec.train_pool)
    ap.add_argument("--n-max", type=int, default=ToyLVISSpec.n_max)
    ap.add_argument("--val-per-category", type=int, default=ToyLVISSpec.val_per_category,
                    help="validation images per category")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = ToyLVISSpec(seed=args.seed, train_pool=args.train_pool, n_max=args.n_max,
                       val_per_category=args.val_per_category)
    try:
        summary = make_toy_lvis(args.out, os.path.join(args.data_root, "fashion_mnist"),
                                os.path.join(args.data_root, "mnist"), spec)
    except (FileExistsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
