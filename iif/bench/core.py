"""Timing, rows and the results table shared by every benchmark group.

Every figure is a comparison *within one run*: a baseline and our code are measured
alternately (A B, B A, A B, ...) in short blocks, so that a load spike on a shared machine
hits both. A row reports the median of each side over the repeats and the median of the
per-repeat ratios (paired, so slow drifts of the machine cancel), plus the interquartile
range of those ratios as a noise gauge.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch

__all__ = ["Row", "Pair", "Preset", "PRESETS", "interleaved", "machine_info", "format_table", "loadavg",
           "Skipped"]

logger = logging.getLogger(__name__)


class Skipped(Exception):
    """Raised by a benchmark group (or a row) that cannot run here; the message says why."""


@dataclass(frozen=True)
class Preset:
    """Problem sizes and repeat counts of one benchmark mode (``--smoke``, ``--quick``, full)."""

    name: str
    # 1. losses: (rows, logits) shapes; calls per timed block, blocks per side, warm-up calls
    loss_shapes: tuple[tuple[str, int, int], ...]
    loss_number: int
    loss_repeats: int
    # 2. trainer: batch size, batches per timed epoch, epochs per side, warm-up epochs
    train_batch: int
    train_iters: int
    train_repeats: int
    # 3. annotations: images, annotations, categories; fresh processes per side
    lvis_images: int
    lvis_annotations: int
    lvis_categories: int
    lvis_repeats: int
    # 4. post-hoc sweep: logits (N, C); repeats
    posthoc_n: int
    posthoc_c: int
    posthoc_repeats: int
    # ... and the model pass it replaces: images timed, image side
    posthoc_model_images: int = 8
    posthoc_model_size: int = 224
    # 5. LVIS evaluation: images, categories, detections per image
    lvis_eval_images: int = 50
    lvis_eval_dets: int = 300
    lvis_eval_repeats: int = 1
    # 6. multi-label AP: scores (N, C); repeats
    map_n: int = 5000
    map_c: int = 80
    map_repeats: int = 7
    # 7. detection analysis vs LVIS evaluation on one generated result file (images, annotations;
    #    default 10% of LVIS v1 val: the LVIS evaluation of the full size is timed separately), then the
    #    analysis alone at scale (default LVIS v1 val's size); categories, detections per image,
    #    fresh processes per side
    det_images: int = 1_981
    det_annotations: int = 24_471
    det_scale_images: int = 19_809
    det_scale_annotations: int = 244_707
    det_categories: int = 1203
    det_dets: int = 300
    det_repeats: int = 1
    warmup: int = 1


#: ``full`` is what docs/BENCHMARKS.md reports; ``quick`` finishes in a few minutes on 2 cores;
#: ``smoke`` is the test suite's (seconds, tiny sizes: the numbers mean nothing).
PRESETS: dict[str, Preset] = {
    "full": Preset(
        name="full",
        loss_shapes=(("classification", 256, 1000), ("detection", 512, 1204)),
        loss_number=5, loss_repeats=61,
        train_batch=128, train_iters=6, train_repeats=5,
        lvis_images=100_170, lvis_annotations=1_270_141, lvis_categories=1203, lvis_repeats=3,
        posthoc_n=50_000, posthoc_c=1000, posthoc_repeats=5, posthoc_model_images=16,
        lvis_eval_images=200, lvis_eval_dets=300, lvis_eval_repeats=3,
        map_repeats=15,
        warmup=2,
    ),
    "quick": Preset(
        name="quick",
        loss_shapes=(("classification", 256, 1000), ("detection", 512, 1204)),
        loss_number=5, loss_repeats=15,
        train_batch=64, train_iters=4, train_repeats=3,
        lvis_images=10_017, lvis_annotations=127_014, lvis_categories=1203, lvis_repeats=2,
        posthoc_n=10_000, posthoc_c=1000, posthoc_repeats=3, posthoc_model_images=4,
        lvis_eval_images=20, lvis_eval_dets=300, lvis_eval_repeats=2,
        map_repeats=3,
        det_images=991, det_annotations=12_235, det_scale_images=1_981, det_scale_annotations=24_471,  # 5%, 10%
        warmup=1,
    ),
    "smoke": Preset(
        name="smoke",
        loss_shapes=(("classification", 32, 100), ("detection", 64, 121)),
        loss_number=2, loss_repeats=3,
        train_batch=4, train_iters=1, train_repeats=1,
        lvis_images=200, lvis_annotations=2_000, lvis_categories=50, lvis_repeats=1,
        posthoc_n=500, posthoc_c=50, posthoc_repeats=1, posthoc_model_images=2, posthoc_model_size=64,
        lvis_eval_images=4, lvis_eval_dets=20,
        map_n=300, map_c=8, map_repeats=1,
        det_images=20, det_annotations=240, det_scale_images=40, det_scale_annotations=480, det_categories=50,
        det_dets=20,
        warmup=1,
    ),
}


@dataclass
class Row:
    """One line of the results table: our code against a baseline measured in the same run.

    ``ratio`` is ``ours / baseline`` of ``unit`` (seconds, images/s, bytes ...); ``target`` is
    ``("<=", 1.05)`` style or ``None`` (reported, no target). ``spread`` is the interquartile
    range of the paired per-repeat ratios (0 with a single repeat).
    """

    group: str
    name: str
    baseline: str
    ours: str
    base_value: float
    ours_value: float
    unit: str
    ratio: float
    spread: float = 0.0
    target: Optional[tuple[str, float]] = None
    note: str = ""

    @property
    def met(self) -> Optional[bool]:
        if self.target is None or not math.isfinite(self.ratio):
            return None
        op, bound = self.target
        return {"<=": self.ratio <= bound, "<": self.ratio < bound, ">=": self.ratio >= bound}[op]

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["met"] = self.met
        return d


@dataclass
class Pair:
    """Per-repeat measurements of a baseline and ours (same unit), taken alternately."""

    base: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)

    @property
    def base_median(self) -> float:
        return statistics.median(self.base)

    @property
    def ours_median(self) -> float:
        return statistics.median(self.ours)

    def ratios(self) -> list[float]:
        return [o / b if b > 0 else math.inf for b, o in zip(self.base, self.ours)]

    def ratio(self) -> float:
        """Median of the paired ratios ``ours_i / base_i``."""
        return statistics.median(self.ratios())

    def spread(self) -> float:
        """Interquartile range of the paired ratios (0 for fewer than 4 repeats: too few to say)."""
        r = sorted(self.ratios())
        if len(r) < 4:
            return 0.0
        q = statistics.quantiles(r, n=4)
        return q[2] - q[0]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(base: Callable[[], Any], ours: Callable[[], Any], *, number: int, repeats: int, warmup: int = 1,
                device: torch.device | str = "cpu", clock: Callable[[], float] = time.perf_counter) -> Pair:
    """Seconds per call of ``base`` and ``ours``, timed alternately in blocks of ``number`` calls.

    Each of ``repeats`` rounds times one block of each; the order flips every round
    (A B, B A, ...) so neither side always runs right after the other. ``warmup`` blocks of
    each run first and are discarded. On CUDA the device is synchronised around each block.
    """
    if number < 1 or repeats < 1:
        raise ValueError(f"number and repeats must be >= 1, got number={number}, repeats={repeats}")
    device = torch.device(device)
    pair = Pair()
    sides = ((base, pair.base), (ours, pair.ours))
    for _ in range(warmup):
        for fn, _ in sides:
            for _ in range(number):
                fn()
    _sync(device)
    for r in range(repeats):
        for fn, out in (sides if r % 2 == 0 else sides[::-1]):
            _sync(device)
            t0 = clock()
            for _ in range(number):
                fn()
            _sync(device)
            out.append((clock() - t0) / number)
    return pair


def loadavg() -> Optional[tuple[float, float, float]]:
    """The 1/5/15-minute load averages (``None`` where the OS does not report them)."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def cpuinfo_field(key: str) -> Optional[str]:
    """The value of the first ``key`` line of ``/proc/cpuinfo`` (``None`` where there is none)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    return cpuinfo_field("model name") or platform.processor() or platform.machine()


def _mem_total_gib() -> Optional[float]:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def machine_info(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, memory, torch, threads, device, load."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = dict(
        cpu=_cpu_model(), cpu_count=os.cpu_count(), usable_cores=usable, mem_gib=_mem_total_gib(),
        python=platform.python_version(), platform=platform.platform(), torch=torch.__version__,
        torch_threads=torch.get_num_threads(), device=str(device), loadavg_start=loadavg(),
    )
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _fmt_value(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "-"
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.1f} us"
        if value < 1:
            return f"{value * 1e3:.2f} ms"
        return f"{value:.2f} s"
    if unit == "B":
        return f"{value / 2**20:.1f} MiB"
    if unit == "img/s":
        return f"{value:.1f} img/s"
    return f"{value:.4g} {unit}".strip()


def _fmt_ratio(ratio: float) -> str:
    if math.isnan(ratio):
        return "n/a"
    return f"{ratio:.3f}" if math.isfinite(ratio) else "inf"


def format_table(rows: Sequence[Row], skipped: Sequence[tuple[str, str]] = ()) -> str:
    """A fixed-width table, one line per row; ``ratio`` is ``ours / baseline``.

    ``skipped`` lists ``(group, reason)`` pairs printed below the table.
    """
    cells = []
    for r in rows:
        target = "-" if r.target is None else f"{r.target[0]} {r.target[1]:g}"
        met = {None: "-", True: "yes", False: "NO"}[r.met]
        cells.append((r.group, r.name, r.baseline, r.ours, _fmt_value(r.base_value, r.unit),
                      _fmt_value(r.ours_value, r.unit), _fmt_ratio(r.ratio),
                      f"{r.spread:.3f}", target, met))
    header = ("group", "row", "baseline", "ours", "baseline value", "ours value", "ratio", "iqr", "target", "met")
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    right = {4, 5, 6, 7}

    def line(vals: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths))).rstrip()

    out = [line(header), "-" * len(line(header))]
    out += [line(c) for c in cells]
    for group, reason in skipped:
        out.append(f"skipped {group}: {reason}")
    notes = [f"  [{i + 1}] {r.group} / {r.name}: {r.note}" for i, r in enumerate(rows) if r.note]
    if notes:
        out.append("notes:")
        out += notes
    return "\n".join(out)


def describe_machine(info: dict[str, Any]) -> str:
    """The machine block printed above the table."""
    load = info.get("loadavg_start")
    load_end = info.get("loadavg_end")
    fmt = lambda la: "n/a" if la is None else " ".join(f"{x:.2f}" for x in la)  # noqa: E731
    lines = [
        f"machine: {info['cpu']}, {info['usable_cores']} usable cores of {info['cpu_count']}, "
        f"{info['mem_gib']:.1f} GiB" if info.get("mem_gib") else f"machine: {info['cpu']}",
        f"python {info['python']}, torch {info['torch']}, torch threads {info['torch_threads']}, "
        f"device {info['device']}" + (f" ({info['gpu']})" if info.get("gpu") else ""),
        f"load average (1/5/15 min): start {fmt(load)}, end {fmt(load_end)}",
    ]
    if info.get("group_seconds"):
        lines.append("seconds per group: " + ", ".join(f"{g} {t:.0f}" for g, t in info["group_seconds"].items()))
    if info.get("command"):
        lines.append(f"command: {info['command']}")
    return "\n".join(lines)


def command_line() -> str:
    """The command that produced the run, as typed (for the report)."""
    return " ".join([os.path.basename(sys.executable)] + sys.argv)
