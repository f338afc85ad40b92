"""The main job: Fashion-MNIST-LT softmax training, post-process IIF and decoupled IIF in one table.

    python tools/main.py                      # the README's first command runs this
    python tools/main.py --cfg-options schedule.epochs=2   # quicker (applies to both stages)

Stage 1 trains configs/cls/fashion_mnist_lt/softmax.py; stage 2 retrains its classifier with
IIF-CE (decoupled_iif.py). Re-running continues or re-evaluates finished stages (--fresh to retrain).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys

from mmengine.config import DictAction

from iif.engine import load_config
from iif.engine.cli import add_common_flags, cli_entry
from iif.engine.pipeline import run_two_stage

STAGE1 = "configs/cls/fashion_mnist_lt/softmax.py"
STAGE2 = "configs/cls/fashion_mnist_lt/decoupled_iif.py"


@cli_entry
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage1", default=STAGE1)
    ap.add_argument("--stage2", default=STAGE2)
    ap.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE")
    ap.add_argument("--fresh", "--overwrite", action="store_true", dest="fresh",
                    help="delete earlier outputs of these stages and retrain")
    add_common_flags(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    if args.fresh:
        for cfg in (args.stage1, args.stage2):
            shutil.rmtree(load_config(cfg, args.cfg_options)["work_dir"], ignore_errors=True)
    _, table = run_two_stage(args.stage1, args.stage2, args.cfg_options)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
