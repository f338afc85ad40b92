"""Benchmarks of what researchers pay for, each as a ratio against a baseline measured in the same run.

Groups (``tools/benchmark.py --groups``):

1. ``loss``: each loss's forward + backward vs ``F.cross_entropy`` (classification and detection sizes);
2. ``trainer``: images/s of the trainer vs a bare PyTorch loop, IIF vs CE in a training step, the
   real data pipeline, ``channels_last`` / AMP / ``torch.compile``;
3. ``annotations``: counting LVIS-scale frequencies vs loading the JSON (time and peak memory);
4. ``posthoc``: the post-hoc sweep on saved logits vs one evaluation;
5. ``lvis_eval``: our LVIS evaluator (hotcoco) vs lvis-api (skipped until the detection extras are installed);
6. ``multilabel``: per-class average precision (mAP) vs a per-class scikit-learn loop (skipped
   without scikit-learn);
7. ``det_analysis``: TIDE errors and false positives by LVIS group vs the LVIS evaluation of the same
   result file (both hotcoco), then each alone on an LVIS-val-sized one (skipped until hotcoco is installed);
8. ``recipe``: the CIFAR-10-LT paper recipe's stage 1 end to end, today's per-image path vs the fast path;
9. ``feature_cache``: the decoupled stage (MobileNetV2 at 96 px) with the feature cache, cold and warm,
   vs the same stage without it (``strategy.feature_cache``).

Not imported by ``import iif``; :func:`run_benchmarks` is what the tool calls.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional, Sequence

import torch

from .core import PRESETS, Preset, Row, Skipped, command_line, describe_machine, format_table, loadavg, machine_info

__all__ = ["GROUPS", "PRESETS", "CLOCKS", "run_benchmarks", "format_table", "describe_machine", "Row", "Skipped"]

logger = logging.getLogger(__name__)

#: Group names in run order.
GROUPS = ("loss", "trainer", "annotations", "posthoc", "lvis_eval", "multilabel", "det_analysis", "recipe",
          "feature_cache")

#: ``wall``: elapsed time (what a user waits); ``cpu``: this process's CPU time, less sensitive
#: to other processes on a shared machine (meaningful with one torch thread).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def resolve_bench_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; expected 'auto', 'cpu' or 'cuda'")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False; use --device cpu")
    return torch.device(name)


def run_benchmarks(preset: str | Preset = "quick", groups: Sequence[str] = GROUPS, device: str = "auto",
                   threads: Optional[int] = None, clock: str = "wall", compile_model: bool = False,
                   progress: Optional[Callable[[str], None]] = None) -> dict:
    """Run the selected groups; returns ``{"machine": ..., "rows": [Row], "skipped": [(group, reason)]}``.

    Args:
        preset: ``"full"``, ``"quick"``, ``"smoke"`` (see :data:`PRESETS`) or a :class:`Preset`.
        groups: a subset of :data:`GROUPS`.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        threads: ``torch.set_num_threads`` (default: leave torch's choice); stated in the report.
        clock: a key of :data:`CLOCKS` for the timed loops (groups 1, 4 and 6).
        compile_model: include ``torch.compile`` rows (loss group: both sides compiled; trainer group:
            ``train.compile``); compiling takes minutes on a small CPU.
        progress: called with a line before each group (the tool prints it).
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown benchmark group(s) {unknown}; expected some of {list(GROUPS)}")
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; expected one of {sorted(CLOCKS)}")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    dev = resolve_bench_device(device)
    info = machine_info(dev)
    info.update(preset=preset.name, clock=clock, command=command_line())
    tick = CLOCKS[clock]
    rows: list[Row] = []
    skipped: list[tuple[str, str]] = []
    seconds: dict[str, float] = {}
    for group in GROUPS:
        if group not in groups:
            continue
        if progress is not None:
            progress(f"[{group}] running ({preset.name} preset) ...")
        t0 = time.perf_counter()
        try:
            rows += _run_group(group, preset, dev, tick, compile_model, skipped)
        except Skipped as exc:
            skipped.append((group, str(exc)))
        seconds[group] = time.perf_counter() - t0
        logger.info("group %s took %.1f s", group, seconds[group])
    info["loadavg_end"] = loadavg()
    info["group_seconds"] = seconds
    return dict(machine=info, rows=rows, skipped=skipped)


def _run_group(group: str, preset: Preset, device: torch.device, tick: Callable[[], float], compile_model: bool,
               skipped: list[tuple[str, str]]) -> list[Row]:
    if group == "loss":
        from . import losses

        return losses.run(preset, device, tick, compile_loss=compile_model)
    if group == "trainer":
        from . import trainer

        return trainer.run(preset, device, compile_model, skipped)
    if group == "annotations":
        from . import frequencies

        return frequencies.run(preset)
    if group == "posthoc":
        from . import posthoc

        return posthoc.run(preset, tick)
    if group == "lvis_eval":
        from . import lvis_eval

        return lvis_eval.run(preset)
    if group == "multilabel":
        from . import multilabel

        return multilabel.run(preset, tick)
    if group == "det_analysis":
        from . import det_analysis

        return det_analysis.run(preset)
    if group == "recipe":
        from . import recipe

        return recipe.run(preset, device, skipped, compile_model=compile_model)
    if group == "feature_cache":
        from . import feature_cache

        return feature_cache.run(preset, device)
    raise ValueError(f"unknown benchmark group {group!r}")
