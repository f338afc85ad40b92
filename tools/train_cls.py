"""Train (or evaluate) a long-tailed classifier from a config file.

    python tools/train_cls.py --config configs/cls/fashion_mnist_lt/softmax.py
    python tools/train_cls.py --config CFG --cfg-options optimizer.lr=0.05 loss.type=iif loss.variant=raw
    python tools/train_cls.py --config CFG --resume           # continue a killed run where it stopped
    python tools/train_cls.py --config CFG --overwrite        # replace the run in its work dir
    torchrun --nproc_per_node 2 tools/train_cls.py --config CFG   # DDP (gloo on CPU, NCCL on GPUs)

Writes WORK_DIR/last.pth (each epoch, atomically), log.jsonl and results.json. A work dir that
already holds a run is refused unless --resume or --overwrite says what to do with it. Errors are
one line (exit code 2); --debug shows the traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys

from iif.engine import Trainer, load_config
from iif.engine.cli import add_common_flags, cli_entry
from iif.engine.config import CfgOptionsAction


@cli_entry
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="config file (configs/cls/...)")
    ap.add_argument("--cfg-options", nargs="+", action=CfgOptionsAction, default={}, metavar="KEY=VALUE",
                    help="override config keys, e.g. schedule.epochs=2 loss.type=iif")
    ap.add_argument("--work-dir", help="output directory (default: work_dirs/<config name>)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run in WORK_DIR from its last.pth")
    mode.add_argument("--overwrite", action="store_true", help="delete the run in WORK_DIR and start over")
    add_common_flags(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stdout)
    options = dict(args.cfg_options)
    if args.work_dir:
        options["work_dir"] = args.work_dir
    cfg = load_config(args.config, options)
    Trainer(cfg, resume=args.resume, overwrite=args.overwrite).fit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
