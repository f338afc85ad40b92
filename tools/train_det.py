"""Train an MMDetection config with the IIF plugin, without mim.

    python tools/train_det.py configs/lvis/toy/iif_r18_toy.py
    python tools/train_det.py configs/lvis/iif_mask_rcnn.py --data-root /data/lvis_v1/
    torchrun --nproc_per_node 8 tools/train_det.py configs/lvis/iif_mask_rcnn.py --launcher pytorch
    python tools/train_det.py CONFIG --resume        # continue from the work dir's last checkpoint

Equivalent with mim: mim train mmdet CONFIG [--cfg-options ...]
"""
from __future__ import annotations

import argparse
import pickle
import sys

from mmengine.config import DictAction


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--work-dir")
    ap.add_argument("--data-root", help="LVIS v1 root (annotations/ + images); overrides every dataset's data_root")
    ap.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in the work dir")
    ap.add_argument("--amp", action="store_true", help="automatic mixed precision (GPUs)")
    ap.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE")
    ap.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    ap.add_argument("--local-rank", "--local_rank", type=int, default=0)
    ap.add_argument("--unsafe-load", action="store_true",
                    help="load checkpoints with torch's weights-only unpickling off (a crafted file can run code: "
                         "only for checkpoints you trust); MMEngine's own checkpoints load safely without it")
    args = ap.parse_args(argv)

    from mmengine.runner import Runner

    from mmdet_ext.config import check_checkpoint, checkpoints_to_load, load_det_config, prepare_runtime, refusal_message

    try:
        cfg = load_det_config(args.config, args.cfg_options, args.data_root, args.work_dir, args.launcher)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.resume:
        cfg.resume = True
    if args.amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"
    prepare_runtime(cfg, unsafe_load=args.unsafe_load)
    try:  # load_from / the checkpoint --resume continues, before the Runner is built (one line, exit 2)
        for path in checkpoints_to_load(cfg):
            check_checkpoint(path, unsafe=args.unsafe_load)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        Runner.from_cfg(cfg).train()
    except pickle.UnpicklingError as exc:  # a checkpoint the check above did not see
        print(f"error: {refusal_message(exc, cfg)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
