"""``--profile``: where the time of a missed target goes (torch.profiler / cProfile), as text.

- :func:`profile_losses`: CE, the composite IIF-CE and the library's IIF-CE at the
  classification size: self CPU time of each ATen op per call, and minor page faults per call
  (fresh ``(N, C)`` buffers the allocator has to map and zero);
- :func:`profile_summarize`: the functions inside one :func:`iif.metrics.summarize`, i.e. what
  every method of the post-hoc sweep pays again;
- :func:`profile_recipe` (in :mod:`iif.bench.recipe`): one stage-1 step of the CIFAR-10-LT paper
  recipe split into data loading + augmentation, mixup, forward, backward and optimizer.
"""
from __future__ import annotations

import cProfile
import io
import pstats
import resource
from typing import Callable

import torch
import torch.nn.functional as F

from ..losses import iif_cross_entropy
from ..weights import compute_weights
from .core import Preset
from .losses import long_tail_counts
from .recipe import profile_recipe  # noqa: F401  (the CIFAR-10-LT recipe's step, part by part)

__all__ = ["profile_losses", "profile_summarize", "profile_recipe"]


def _faults_per_call(fn: Callable[[], object], calls: int) -> float:
    for _ in range(5):
        fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def profile_losses(preset: Preset, device: torch.device, calls: int = 50, top: int = 8) -> str:
    """Per-op self time (us per call) of forward + backward for CE and both IIF-CE paths."""
    from torch.profiler import ProfilerActivity, profile

    _, n, c = preset.loss_shapes[0]
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, c, generator=gen).to(device).requires_grad_(True)
    y = torch.randint(0, c, (n,), generator=gen).to(device)
    w = compute_weights(long_tail_counts(c), "smooth", device=device)
    cases = {
        "F.cross_entropy(z, y)": lambda: torch.autograd.grad(F.cross_entropy(z, y), z),
        "F.cross_entropy(z * w, y) (composite)": lambda: torch.autograd.grad(F.cross_entropy(z * w, y), z),
        "iif.iif_cross_entropy(z, y, w)": lambda: torch.autograd.grad(iif_cross_entropy(z, y, w), z),
    }
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    out = [f"loss profile: {n}x{c} fp32 forward + backward, {calls} calls each, torch threads "
           f"{torch.get_num_threads()}"]
    for name, fn in cases.items():
        faults = _faults_per_call(fn, calls) if device.type == "cpu" else float("nan")
        with profile(activities=acts) as prof:
            for _ in range(calls):
                fn()
        events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
        events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events) / calls
        out.append(f"  {name}: aten self time {total:.0f} us/call, {faults:.0f} minor page faults/call")
        for e in events[:top]:
            out.append(f"    {e.key:<36} {e.self_cpu_time_total / calls:8.1f} us  x{e.count // calls}")
    return "\n".join(out)


def profile_summarize(preset: Preset, top: int = 10) -> str:
    """cProfile of one ``summarize`` on the post-hoc group's logits: cumulative seconds per function."""
    from ..metrics import summarize

    n, c = preset.posthoc_n, preset.posthoc_c
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % c
    logits = torch.randn(n, c, generator=gen)
    counts = long_tail_counts(c, n_max=1280, imbalance=256.0)
    summarize(logits, labels, counts)
    prof = cProfile.Profile()
    prof.enable()
    summarize(logits, labels, counts)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    rows = []
    for (filename, _, func), (_, _, tt, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = "iif" if "/iif/" in filename else ("torch" if "torch" in filename else filename.split("/")[-1])
        rows.append((ct, tt, f"{where}:{func}"))
    rows.sort(reverse=True)
    total = max(r[0] for r in rows)
    out = [f"summarize profile: {n}x{c} logits, one call, {total:.3f} s (cumulative s, own s, function)"]
    seen = set()
    for ct, tt, name in rows:
        if name in seen or name.endswith(":<module>"):
            continue
        seen.add(name)
        out.append(f"    {ct:7.3f} {tt:7.3f}  {name}")
        if len(seen) >= top:
            break
    return "\n".join(out)
