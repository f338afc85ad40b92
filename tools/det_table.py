"""Markdown table of LVIS metrics JSONs written by ``tools/test_det.py --out``.

    python tools/det_table.py work_dirs/softmax_r18_toy/metrics.json work_dirs/iif_r18_toy/metrics.json

One row per file (named after its parent directory unless ``--names`` is given), columns AP /
APr / APc / APf for masks and boxes, in percent. A value of -1 (LVIS: no category of that group
in the evaluated split) is shown as "n/a".
"""
from __future__ import annotations

import argparse
import json
import os
import sys

COLUMNS = [(task, k) for task in ("segm", "bbox") for k in ("AP", "APr", "APc", "APf")]


def table(metrics: list[dict], names: list[str]) -> str:
    """``metrics``: dicts with ``lvis/<task>_<AP|APr|APc|APf>`` keys (fractions); returns markdown."""
    head = "| run | " + " | ".join(f"{'mask' if t == 'segm' else 'box'} {k}" for t, k in COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for name, m in zip(names, metrics):
        cells = []
        for task, k in COLUMNS:
            key = f"lvis/{task}_{k}"
            if key not in m:
                raise KeyError(f"{name}: no {key!r} in the metrics (keys: {sorted(m)[:8]} ...); "
                               "expected the output of tools/test_det.py --out with the LVIS metric")
            v = float(m[key])
            cells.append("n/a" if v < 0 else f"{100 * v:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("metrics", nargs="+", help="JSON files from tools/test_det.py --out")
    ap.add_argument("--names", nargs="+", help="row names (default: each file's directory name)")
    args = ap.parse_args(argv)
    names = args.names or [os.path.basename(os.path.dirname(os.path.abspath(p))) for p in args.metrics]
    if len(names) != len(args.metrics):
        ap.error(f"--names has {len(names)} entries for {len(args.metrics)} metrics files")
    metrics = []
    for path in args.metrics:
        if not os.path.isfile(path):
            print(f"error: metrics file {path!r} does not exist", file=sys.stderr)
            return 2
        with open(path) as fh:
            metrics.append(json.load(fh))
    try:
        print(table(metrics, names))
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
