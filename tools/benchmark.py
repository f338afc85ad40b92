"""Benchmark what researchers pay for, each figure as a ratio against a baseline in the same run.

    python tools/benchmark.py --quick                 # every group, a few minutes on 2 CPU cores
    python tools/benchmark.py                         # the full sizes (docs/BENCHMARKS.md)
    python tools/benchmark.py --groups loss posthoc --threads 1 --json out.json
    python tools/benchmark.py --smoke                 # tiny sizes: checks that it runs (tests)

Rows: 1 loss cost (each loss vs F.cross_entropy), 2 trainer overhead (vs a bare loop; IIF vs CE;
real data pipeline; channels_last / AMP / torch.compile), 3 LVIS-scale frequency counting vs JSON
load (time, peak memory), 4 post-hoc sweep vs one evaluation, 5 LVIS evaluator vs lvis-api (needs
the detection extras), 6 multi-label mAP vs a per-class scikit-learn loop (needs scikit-learn), 7 TIDE /
false-positive analysis vs the LVIS evaluation of the same result file, both hotcoco, then each alone on an
LVIS-val-sized one (needs hotcoco), 8 the CIFAR-10-LT paper recipe's stage 1 end to end, today's per-image
path vs the fast path (batched in-memory augmentation + bf16 + channels_last + torch.compile; --profile adds
the step's breakdown), 9 the decoupled stage of ImageNet MobileNetV2 at 96 px with the feature cache
(strategy.feature_cache: features computed once, cold; read from an earlier run, warm; the study's three
decoupled runs per checkpoint) vs the same stage without it. CUDA is used when present (--device); timings are medians over repeats,
ratios the median of paired per-repeat ratios; see docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

# In a source checkout, the detection plugin (group 5) imports like the iif package next to it.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(_REPO, "mmdet_ext")) and _REPO not in sys.path:
    sys.path.insert(1, _REPO)

import torch  # noqa: E402

from iif.bench import CLOCKS, GROUPS, PRESETS, describe_machine, format_table, run_benchmarks  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="preset", const="quick",
                      help="smaller sizes and fewer repeats: a few minutes on 2 CPU cores")
    size.add_argument("--smoke", action="store_const", dest="preset", const="smoke",
                      help="tiny sizes, one repeat: checks that every row runs (numbers mean nothing)")
    size.add_argument("--preset", choices=sorted(PRESETS), help="full (default), quick or smoke")
    ap.add_argument("--groups", nargs="+", default=list(GROUPS), metavar="GROUP",
                    help=f"groups to run (default: all): {' '.join(GROUPS)}")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall (default) or cpu (process CPU time: steadier on a shared machine, use with --threads 1)")
    ap.add_argument("--compile", action="store_true",
                    help="include torch.compile rows (loss group: both sides compiled; trainer: train.compile)")
    ap.add_argument("--profile", action="store_true",
                    help="after the table, profile the loss group (torch.profiler) and one post-hoc evaluation "
                         "(cProfile): where the time of a missed target goes")
    ap.add_argument("--json", metavar="PATH", help="also write machine, rows and skipped groups as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress of each row")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    bad = [g for g in args.groups if g not in GROUPS]
    if bad:
        ap.error(f"unknown group(s) {bad}; choose from {list(GROUPS)}")
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads must be >= 1, got {args.threads}")
    try:
        result = run_benchmarks(args.preset or "full", args.groups, device=args.device, threads=args.threads,
                                clock=args.clock, compile_model=args.compile,
                                progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(describe_machine(result["machine"]))
    print(f"preset {result['machine']['preset']}, clock {result['machine']['clock']}; "
          f"ratio = ours / baseline (time: lower is better; img/s: higher is better); "
          f"iqr = interquartile range of the per-repeat ratios")
    print()
    print(format_table(result["rows"], result["skipped"]))
    if args.profile:
        from iif.bench import PRESETS as presets
        from iif.bench.profiling import profile_losses, profile_recipe, profile_summarize

        preset = presets[result["machine"]["preset"]]
        device = torch.device(result["machine"]["device"])
        print()
        if "loss" in args.groups:
            print(profile_losses(preset, device))
        if "posthoc" in args.groups:
            print(profile_summarize(preset))
        if "recipe" in args.groups:
            print(profile_recipe(device, batches=max(4, preset.train_iters * 3)))
    if args.json:
        payload = dict(machine=result["machine"], rows=[r.as_dict() for r in result["rows"]],
                       skipped=[dict(group=g, reason=r) for g, r in result["skipped"]])
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
