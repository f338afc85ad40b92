"""Evaluate a checkpoint: the model as trained and every post-hoc variant, from one inference pass.

    python tools/test_cls.py --checkpoint work_dirs/fashion_mnist_lt/softmax/last.pth
    python tools/test_cls.py --checkpoint CKPT --config configs/cls/fashion_mnist_lt/softmax.py
    python tools/test_cls.py --predictions work_dirs/.../eval/predictions.npz   # saved logits only

The pass runs the validation split (where the dataset has one) and the test split and saves
logits, labels and training counts to OUT/predictions.npz; a second call with the same
checkpoint reuses them (--recompute to run the model again). From the saved logits it scores
softmax, post-process IIF (7 variants), logit adjustment and tau-normalisation over tau grids
(top-1, per-class, many/medium/few, ECE with 15 bins, NLL), picks each family's variant / tau
on the validation split and reports that choice on test (never selecting on test). Writes
OUT/results.{txt,csv,json}; OUT defaults to <checkpoint dir>/eval. --plots adds the figures.

A multi-label model (VOC-MLT, COCO-MLT, toy_mlt) is scored by mAP, head / medium / tail mAP, CF1
and OF1 of its sigmoid outputs; its post-hoc rows are post-process IIF of every variant (K =
training images), chosen on validation by --select-metric map (default) or cf1 / of1.

A checkpoint is untrusted input: it is read with safe (weights-only) loading, its model is rebuilt
without pretrained weights (the checkpoint holds them all; model.pretrained in its stored config
is never read), and the data paths of its stored config are read only by readers that cannot run
code; --config or --cfg-options data.root=DIR read the data from your own paths instead. A saved
predictions.npz that cannot be read (truncated, oversized, labels out of range) is recomputed.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from iif.engine.config import CfgOptionsAction

from iif.engine import load_config
from iif.engine.cli import add_common_flags, cli_entry
from iif.engine.report import (
    POSTHOC_MODES,
    cached_predictions,
    stored_config,
    evaluate_predictions,
    format_report,
    load_predictions,
    write_report,
)
from iif.engine.workdir import claim_dir
from iif.posthoc import DEFAULT_TAUS, SELECT_METRICS
from iif.weights import VARIANTS


@cli_entry
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a trainer checkpoint (last.pth)")
    src.add_argument("--predictions", help="a predictions .npz saved by an earlier run (no model needed)")
    ap.add_argument("--config", help="config file (default: the config stored in the checkpoint)")
    ap.add_argument("--cfg-options", nargs="+", action=CfgOptionsAction, default={}, metavar="KEY=VALUE")
    ap.add_argument("--out-dir", help="output directory (default: <checkpoint or predictions dir>/eval)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), help="IIF variants (default: all 7)")
    ap.add_argument("--la-taus", nargs="*", type=float, default=list(DEFAULT_TAUS), help="logit adjustment taus")
    ap.add_argument("--tn-taus", nargs="*", type=float, default=list(DEFAULT_TAUS), help="tau-normalisation taus")
    ap.add_argument("--select-metric", default=None, choices=sorted(SELECT_METRICS),
                    help="validation metric that picks the variant / tau (default: balanced; map for a "
                         "multi-label model, or cf1 / of1)")
    ap.add_argument("--posthoc", default="auto", choices=POSTHOC_MODES,
                    help="auto: post-hoc rows only for a softmax (plain CE) model, or a plain BCE multi-label model")
    ap.add_argument("--recompute", action="store_true", help="run the model even if saved logits exist")
    ap.add_argument("--device", help="cpu, cuda, auto (default: the config's)")
    ap.add_argument("--plots", action="store_true", help="also write the figures (tools/plot.py) to OUT/figures")
    add_common_flags(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    t0 = time.perf_counter()
    if args.predictions:
        out_dir = args.out_dir or os.path.dirname(os.path.abspath(args.predictions))
        pred, reused = load_predictions(args.predictions), True
        claim = claim_dir(out_dir)  # one writer at a time; removes temp files a killed run left there
    else:
        cfg = load_config(args.config, args.cfg_options) if args.config else None
        if cfg is None and args.cfg_options:
            cfg = stored_config(args.checkpoint, args.cfg_options)
        out_dir = args.out_dir or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "eval")
        claim = claim_dir(out_dir) if os.path.isfile(args.checkpoint) else None  # as above (no dir for a typo)
        pred, reused = cached_predictions(args.checkpoint, os.path.join(out_dir, "predictions.npz"), cfg,
                                          args.recompute, args.device)
    report = evaluate_predictions(pred, args.variants, args.la_taus, args.tn_taus, args.select_metric,
                                  args.posthoc)
    paths = write_report(report, out_dir)
    print(format_report(report))
    print(f"\n{'reused saved logits' if reused else 'ran the model once'}; {time.perf_counter() - t0:.1f} s; "
          f"wrote {paths['txt']}, {paths['csv']}, {paths['json']}"
          + ("" if args.predictions else f", {os.path.join(out_dir, 'predictions.npz')}"))
    if args.plots:
        from iif.engine.figures import write_figures

        for path in write_figures([pred], os.path.join(out_dir, "figures"), report=report):
            print(f"figure: {path}")
    if claim is not None:
        claim.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
