"""Markdown table of LVIS metrics JSONs written by ``tools/test_det.py --out``.

    python tools/det_table.py work_dirs/softmax_r18_toy/metrics.json work_dirs/iif_r18_toy/metrics.json
    python tools/det_table.py A_s0/eval/metrics.json A_s1/eval/metrics.json B_s0/... --names A A B --analysis

One row per name (each file's parent directory unless ``--names`` is given); files that share a
name are seeds of one method and give ``mean ± std`` (sample std, n-1). Columns AP / APr / APc /
APf for masks and boxes, in percent. A value of -1 (LVIS: no category of that group in the
evaluated split) is shown as "n/a". ``--analysis`` adds a second table from the
``analysis.<bbox|segm>.json`` beside each metrics file (``tools/test_det.py --analyze``): TIDE's Bkg
and Cls dAP and false positives per image at score >= ``--fp-score`` by LVIS frequency group,
labelled with the tool that computed them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

COLUMNS = [(task, k) for task in ("segm", "bbox") for k in ("AP", "APr", "APc", "APf")]
GROUPS = ("rare", "common", "frequent")


def _cell(values: list[float], digits: int = 1) -> str:
    """``values`` already in display units; one value as is, several as mean ± std."""
    if any(v is None for v in values):
        return "n/a"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _rows(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))  # first-seen order


def table(metrics: list[dict], names: list[str]) -> str:
    """``metrics``: dicts with ``lvis/<task>_<AP|APr|APc|APf>`` keys (fractions); returns markdown."""
    head = "| run | " + " | ".join(f"{'mask' if t == 'segm' else 'box'} {k}" for t, k in COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for name, m in zip(names, metrics):
        for task, k in COLUMNS:
            if f"lvis/{task}_{k}" not in m:
                raise KeyError(f"{name}: no 'lvis/{task}_{k}' in the metrics (keys: {sorted(m)[:8]} ...); "
                               "expected the output of tools/test_det.py --out with the LVIS metric")
    for row in _rows(names):
        runs = [m for n, m in zip(names, metrics) if n == row]
        cells = [_cell([None if float(m[f"lvis/{t}_{k}"]) < 0 else 100 * float(m[f"lvis/{t}_{k}"]) for m in runs])
                 for t, k in COLUMNS]
        lines.append(f"| {row}{f' (n={len(runs)})' if len(runs) > 1 else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def analysis_table(reports: list[dict], names: list[str], fp_score: float) -> str:
    """``reports``: :func:`iif.det_analysis.analyze_detections` outputs; Bkg / Cls dAP (points) and
    false positives per image at ``score >= fp_score`` by group."""
    key = f"{fp_score:g}"
    tools = sorted({r["tool"] for r in reports})
    iou = sorted({r["iou_type"] for r in reports})
    for name, r in zip(names, reports):
        if key not in r["overall"]["fp_per_image"]:
            raise KeyError(f"{name}: the analysis has no false positives at score >= {key} (it has "
                           f"{sorted(r['overall']['fp_per_image'])}); rerun tools/analyze_det.py --score-thresholds")
    lines = [f"TIDE errors ({'/'.join(iou)}, dAP in AP50 points) and false positives per image at score >= {key} "
             f"by LVIS frequency group [{', '.join(tools)}]", "",
             "| run | Bkg dAP | Cls dAP | FP/img rare | FP/img common | FP/img frequent | FP/img all |",
             "|---|---|---|---|---|---|---|"]
    for row in _rows(names):
        runs = [r for n, r in zip(names, reports) if n == row]
        cells = [_cell([100 * r["overall"]["dAP"][k] for r in runs], 2) for k in ("Bkg", "Cls")]
        cells += [_cell([r["groups"][g]["fp_per_image"][key] for r in runs], 2) for g in GROUPS]
        cells.append(_cell([r["overall"]["fp_per_image"][key] for r in runs], 2))
        lines.append(f"| {row}{f' (n={len(runs)})' if len(runs) > 1 else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _read(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    with open(path) as fh:
        return json.load(fh)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("metrics", nargs="+", help="JSON files from tools/test_det.py --out")
    ap.add_argument("--names", nargs="+", help="row names (default: each file's directory name); repeat a name "
                                               "for the seeds of one method")
    ap.add_argument("--analysis", action="store_true", help="add the false-positive table (analysis.<iou>.json "
                                                            "beside each metrics file)")
    ap.add_argument("--analysis-iou", default="bbox", choices=("bbox", "segm"))
    ap.add_argument("--fp-score", type=float, default=0.3, help="score threshold of the FP/img columns (default 0.3)")
    args = ap.parse_args(argv)
    names = args.names or [os.path.basename(os.path.dirname(os.path.abspath(p))) for p in args.metrics]
    if len(names) != len(args.metrics):
        ap.error(f"--names has {len(names)} entries for {len(args.metrics)} metrics files")
    try:
        metrics = [_read(p) for p in args.metrics]
        print(table(metrics, names))
        if args.analysis:
            reports = [_read(os.path.join(os.path.dirname(p), f"analysis.{args.analysis_iou}.json"))
                       for p in args.metrics]
            print()
            print(analysis_table(reports, names, args.fp_score))
    except FileNotFoundError as exc:
        print(f"error: file {exc.args[0]!r} does not exist", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
