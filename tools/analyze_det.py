"""False-positive analysis of an LVIS-format result file: TIDE errors by LVIS frequency group.

    python tools/analyze_det.py RESULTS.json --ann lvis_v1_val.json
    python tools/analyze_det.py RESULTS.segm.json --ann lvis_v1_val.json --iou-type segm --out report.json

Prints TIDE's dAP (Cls, Loc, Both, Dupe, Bkg, Miss, FalsePos, FalseNeg) and error counts over all
categories, the same by rare / common / frequent group of the detection's class, and false
positives per image above score thresholds, each labelled with the tool that computed it
(hotcoco and its version; see iif/det_analysis.py for why hotcoco and how groups are attributed).
RESULTS.json is what mmdet's LVIS metric writes with `outfile_prefix` (a list of
{image_id, category_id, bbox, score[, segmentation]}).
"""
from __future__ import annotations

import argparse
import json
import sys

from iif.det_analysis import DEFAULT_SCORE_THRESHOLDS, analyze_detections, format_report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="LVIS-format result file (json list of detections)")
    ap.add_argument("--ann", required=True, help="LVIS annotation file of the same split (e.g. lvis_v1_val.json)")
    ap.add_argument("--iou-type", default="bbox", choices=("bbox", "segm"))
    ap.add_argument("--max-dets", type=int, default=300, help="detections kept per image (LVIS: 300)")
    ap.add_argument("--score-thresholds", type=float, nargs="+", default=list(DEFAULT_SCORE_THRESHOLDS),
                    metavar="T", help="count false positives per image at score >= T (default: %(default)s)")
    ap.add_argument("--pos-thr", type=float, default=0.5, help="TIDE foreground IoU (default 0.5)")
    ap.add_argument("--bg-thr", type=float, default=0.1, help="TIDE background IoU (default 0.1)")
    ap.add_argument("--out", help="also write the report as JSON here")
    args = ap.parse_args(argv)
    try:
        report = analyze_detections(args.ann, args.results, iou_type=args.iou_type, max_dets=args.max_dets,
                                    score_thresholds=args.score_thresholds, pos_thr=args.pos_thr, bg_thr=args.bg_thr)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
