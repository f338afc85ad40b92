"""Evaluate a trained detector (LVIS AP / APr / APc / APf) with the IIF plugin, without mim.

    python tools/test_det.py configs/lvis/toy/iif_r18_toy.py work_dirs/iif_r18_toy/epoch_12.pth
    python tools/test_det.py CONFIG CKPT --out work_dirs/x/metrics.json --analyze   # + false-positive analysis
    torchrun --nproc_per_node 8 tools/test_det.py CONFIG CKPT --launcher pytorch --data-root /data/lvis_v1/
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys

from mmengine.config import DictAction


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("checkpoint")
    ap.add_argument("--work-dir")
    ap.add_argument("--data-root")
    ap.add_argument("--out", help="also write the metrics to this JSON file")
    ap.add_argument("--analyze", action="store_true",
                    help="also keep the detections (results.bbox.json / results.segm.json) and write their "
                         "false-positive analysis (analysis.bbox.json / analysis.segm.json, TIDE errors and "
                         "false positives per image by LVIS frequency group, tools/analyze_det.py) beside --out "
                         "(or in the work dir)")
    ap.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE")
    ap.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    ap.add_argument("--local-rank", "--local_rank", type=int, default=0)
    ap.add_argument("--unsafe-load", action="store_true",
                    help="load checkpoints with torch's weights-only unpickling off (a crafted file can run code: "
                         "only for checkpoints you trust); MMEngine's own checkpoints load safely without it")
    args = ap.parse_args(argv)

    from mmengine.runner import Runner

    from iif.engine.checkpoint import atomic_write_json
    from mmdet_ext.config import check_checkpoint, load_det_config, prepare_runtime, refusal_message

    if not os.path.isfile(args.checkpoint):
        print(f"error: checkpoint {args.checkpoint!r} does not exist", file=sys.stderr)
        return 2
    try:
        cfg = load_det_config(args.config, args.cfg_options, args.data_root, args.work_dir, args.launcher)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cfg.load_from = args.checkpoint
    prepare_runtime(cfg, unsafe_load=args.unsafe_load)
    try:  # before the Runner is built: one line, not its hook table and a traceback
        check_checkpoint(args.checkpoint, unsafe=args.unsafe_load)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.analyze:
        evaluator = cfg.test_evaluator
        if not isinstance(evaluator, dict) or "ann_file" not in evaluator:
            print(f"error: --analyze needs one LVIS test_evaluator with an ann_file, got {evaluator!r}", file=sys.stderr)
            return 2
        out_dir = os.path.dirname(os.path.abspath(args.out)) if args.out else os.path.abspath(cfg.work_dir)
        os.makedirs(out_dir, exist_ok=True)
        evaluator.outfile_prefix = os.path.join(out_dir, "results")  # mmdet writes results.<iou type>.json
    try:
        metrics = Runner.from_cfg(cfg).test()
    except pickle.UnpicklingError as exc:  # a checkpoint the check above did not see
        print(f"error: {refusal_message(exc, cfg)}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=2))
    if args.out:
        atomic_write_json(metrics, args.out)
    if args.analyze:
        from iif.det_analysis import analyze_detections, format_report

        metric = evaluator.get("metric", "bbox")
        for iou_type in [metric] if isinstance(metric, str) else list(metric):
            report = analyze_detections(evaluator.ann_file, f"{evaluator.outfile_prefix}.{iou_type}.json",
                                        iou_type=iou_type)
            print(format_report(report))
            atomic_write_json(report, os.path.join(out_dir, f"analysis.{iou_type}.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
