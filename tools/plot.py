"""Figures from saved predictions (tools/test_cls.py writes them): PNG + the CSV behind each.

    python tools/plot.py --predictions work_dirs/fashion_mnist_lt/softmax/eval/predictions.npz \
        work_dirs/fashion_mnist_lt/decoupled_iif/eval/predictions.npz --out-dir docs/figures

- iif_variants.png: the 7 IIF variants' weights for the first file's training counts (paper Fig. 2);
- per_class_accuracy.png: per-class test accuracy against training count: the first model,
  post-process IIF on it (the variant chosen on validation, else smooth), and every other file;
- weight_norms.png: classifier weight norms per class, classes sorted by frequency (paper Fig. 5);
- reliability.png: reliability diagrams (15 bins) with each method's ECE.
"""
from __future__ import annotations

import argparse
import sys

from iif.engine.report import evaluate_predictions, load_predictions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictions", nargs="+", required=True, help="predictions .npz files; the first is the reference")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--split", default="test")
    args = ap.parse_args(argv)
    from iif.engine.figures import write_figures

    try:
        preds = [load_predictions(p) for p in args.predictions]
        for path, p in zip(args.predictions, preds):
            if args.split not in p.splits:
                raise ValueError(f"{path} has no {args.split!r} split; it has {sorted(p.splits)}")
        report = evaluate_predictions(preds[0], tn_taus=())  # only for the validation-chosen IIF variant
        paths = write_figures(preds, args.out_dir, report, split=args.split)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path} (+ .csv)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
