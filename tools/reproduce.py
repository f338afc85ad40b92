"""Reproduce a results table: every method on one recipe, over N seeds, as mean ± std.

    python tools/reproduce.py --datasets fashion_mnist_lt mnist_lt --seeds 0 1 2 \
        --epochs 8 --decoupled-epochs 2 --cfg-options model.name=cnn3 --threads 1

Rows: softmax, IIF_CSL and IIF end-to-end, post-process IIF (smooth, and the variant chosen on
the validation split), decoupled IIF, Balanced Softmax, logit-adjusted loss and post-hoc logit
adjustment, LDAM-DRW, cRT, LWS, tau-norm (tau chosen on validation); opt-in with --methods:
ResLT (beta 0.5, and the official-like beta), ResLT + post-process IIF, ResLT + IIF. Each method runs the
config of the same name in configs/cls/<dataset>/ with --cfg-options applied to all; decoupled
methods retrain the classifier of the softmax run of the same seed; post-hoc ones adjust its
saved logits. `seed` varies the training only (the long-tailed subset stays the published one).

Multi-label datasets (toy_mlt, voc_mlt, coco_mlt) get their own rows and columns (mAP, head /
medium / tail mAP, CF1, OF1): BCE, focal, ASL, DB-Focal, BAL with the occurrence sampler,
IIF-sigmoid end-to-end, and post-process IIF-sigmoid (smooth) on the BCE cell; opt-in: bal (BAL
without the sampler), posthoc_iif_bce_val (the variant chosen on validation CF1). For example

    python tools/reproduce.py --datasets toy_mlt --seeds 0 1 2 --threads 1 --work-root work_dirs/reproduce_mlt

A second recipe kept in the same folder runs with --config-prefix: the ImageNet MobileNetV2 configs
configs/cls/cifar10_lt_jpeg/mbv2_*.py are

    python tools/reproduce.py --datasets cifar10_lt_jpeg --config-prefix mbv2_ --seeds 0 1 2 --threads 1 \
        --work-root work_dirs/reproduce_mbv2 --methods softmax iif_e2e balanced_softmax posthoc_la \
        posthoc_iif_smooth posthoc_iif_val decoupled_iif crt lws softmax_linear tau_norm

Resumable: a finished cell (WORK_ROOT/<dataset>/seed<k>/<method>/cell.json) is not run again and
a killed training continues from its last.pth. Writes WORK_ROOT/results.md and results.json.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from iif.engine.config import CfgOptionsAction

from iif.engine.cli import add_common_flags, cli_entry
from iif.engine.reproduce import METHODS, Recipe, missing_cells, run_table, write_outputs


@cli_entry
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["fashion_mnist_lt"], help="folders of configs/cls/")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", choices=[m.key for m in METHODS],
                    help="default: every method but the opt-in ResLT rows (reslt, reslt_official, reslt_posthoc_iif, "
                         "reslt_iif)")
    ap.add_argument("--epochs", type=int, help="stage-1 epochs (default: each config's)")
    ap.add_argument("--decoupled-epochs", type=int, help="decoupled-stage epochs (default: each config's)")
    ap.add_argument("--cfg-options", nargs="+", action=CfgOptionsAction, default={}, metavar="KEY=VALUE",
                    help="overrides for every cell, e.g. model.name=cnn3 device=cpu")
    ap.add_argument("--config-dir", default="configs/cls")
    ap.add_argument("--config-prefix", default="",
                    help="run <prefix><method config>.py of each dataset folder, a second recipe kept beside the "
                         "first (mbv2_: the MobileNetV2 configs of cifar10_lt_jpeg/); use its own --work-root")
    ap.add_argument("--work-root", default="work_dirs/reproduce")
    ap.add_argument("--threads", type=int, help="torch CPU threads (1 is often fastest on a shared machine)")
    add_common_flags(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    recipe = Recipe(options=dict(args.cfg_options), epochs=args.epochs, decoupled_epochs=args.decoupled_epochs,
                    config_dir=args.config_dir, config_prefix=args.config_prefix)
    t0 = time.perf_counter()
    records = run_table(args.datasets, args.seeds, recipe, args.work_root, args.methods)
    missing = missing_cells(records, args.datasets, args.seeds, args.work_root, args.methods, recipe)
    if not records:
        print(f"error: every cell failed, no table written:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    text, path = write_outputs(records, args.seeds, recipe, args.work_root, args.datasets)
    print("\n" + text)
    print(f"this call: {(time.perf_counter() - t0) / 60:.1f} min; wrote {path} and "
          f"{os.path.join(args.work_root, 'results.json')}")
    if missing:
        print(f"error: {len(missing)} cell(s) did not finish (run the same command again to retry them):\n  "
              + "\n  ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
