"""Mean +- std over seeds of finished runs, with their training speed: one markdown row per group.

    python tools/summarize_runs.py fp32=work_dirs/speed/fp32/seed* bf16_cl=work_dirs/speed/bf16_cl/seed*

Each run directory needs the trainer's ``results.json`` (the first row: the model as trained) and
``log.jsonl`` (images/s per epoch; the mean over epochs is reported, and the ratio of each
group's speed to the first group's).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

from iif.engine.cli import cli_entry

COLUMNS = ("top1", "balanced", "many", "medium", "few")


def _run(path: str) -> dict:
    res_path, log_path = os.path.join(path, "results.json"), os.path.join(path, "log.jsonl")
    if not os.path.isfile(res_path):
        raise FileNotFoundError(f"{path!r} has no results.json: the run has not finished")
    with open(res_path) as fh:
        row = json.load(fh)["rows"][0]
    speeds = []
    if os.path.isfile(log_path):
        with open(log_path) as fh:
            speeds = [json.loads(line)["images_per_s"] for line in fh if line.strip()]
    return dict(row, images_per_s=float(np.mean(speeds)) if speeds else float("nan"))


def _stat(values: list[float]) -> str:
    arr = np.asarray([v for v in values if v is not None and v == v], dtype=np.float64)
    if arr.size == 0:
        return "-"
    return f"{arr.mean():.1f} ± {arr.std(ddof=1):.1f}" if arr.size > 1 else f"{arr.mean():.1f}"


@cli_entry
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("groups", nargs="+", metavar="NAME=GLOB", help="a group name and the run directories in it")
    args = ap.parse_args(argv)
    rows, base_speed = [], None
    for item in args.groups:
        if "=" not in item:
            raise ValueError(f"expected NAME=GLOB, got {item!r}")
        name, pattern = item.split("=", 1)
        paths = sorted(glob.glob(pattern))
        if not paths:
            raise FileNotFoundError(f"no run directory matches {pattern!r}")
        runs = [_run(p) for p in paths]
        speed = float(np.mean([r["images_per_s"] for r in runs]))
        base_speed = base_speed or speed
        rows.append(f"| {name} | {len(runs)} | " + " | ".join(_stat([r.get(c) for r in runs]) for c in COLUMNS)
                    + f" | {speed:.0f} | {speed / base_speed:.2f} |")
    print("| runs | seeds | " + " | ".join(COLUMNS) + " | images/s | speed ratio |")
    print("|---|---:|" + "---:|" * len(COLUMNS) + "---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
