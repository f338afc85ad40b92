"""Group 1, loss cost: each loss's forward + backward against ``F.cross_entropy`` on the same logits.

Sizes: classification (a batch of 256 over 1000 classes) and detection (512 RoIs over 1203
classes plus background). The logits are ``N(0, 1)``, the class counts an exponential
long-tail profile (imbalance 100), so the IIF weights are what a real long-tailed set gives
(smooth: about 5 to 10). Every call computes the gradient with ``torch.autograd.grad`` so
neither side accumulates into ``.grad``.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..losses import build_loss, iif_cross_entropy
from ..weights import compute_weights
from .core import Preset, Row, interleaved

__all__ = ["run", "long_tail_counts", "LOSS_ROWS"]

logger = logging.getLogger(__name__)

#: (row label, loss name for :func:`iif.build_loss`, keyword arguments). ``iif composite`` is
#: ``F.cross_entropy(z * w, y)`` written out (what :func:`iif.iif_cross_entropy` computed before
#: its CPU fast path: the "before" of docs/BENCHMARKS.md), ``iif fn`` the function form
#: :func:`iif.iif_cross_entropy`; the others are the modules the trainer builds.
LOSS_ROWS: tuple[tuple[str, str, dict], ...] = (
    ("iif composite", "iif_composite", {}),
    ("iif fn", "iif_fn", {}),
    ("iif", "iif", {"variant": "smooth"}),
    ("iif_csl", "iif_csl", {"variant": "smooth"}),
    ("balanced_softmax", "balanced_softmax", {}),
    ("logit_adjusted", "logit_adjusted", {"tau": 1.0}),
    ("ldam", "ldam", {}),
    ("focal", "focal", {"gamma": 2.0}),
)

#: The issue's target, for IIF-CE and "the same for each baseline loss": at most 5% over plain CE.
TARGET = ("<=", 1.05)


def long_tail_counts(num_classes: int, n_max: int = 1000, imbalance: float = 100.0) -> np.ndarray:
    """``(C,)`` exponential profile ``n_i = n_max * imbalance^(-i/(C-1))`` (CIFAR-LT's), at least 1."""
    i = np.arange(num_classes)
    return np.maximum(1, (n_max * imbalance ** (-i / max(num_classes - 1, 1)))).astype(np.int64)


def _loss_fn(name: str, kwargs: dict, counts: np.ndarray, num_logits: int, background: bool,
             device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name == "iif_composite":
        w = compute_weights(counts, "smooth", device=device)
        if background:
            w = torch.cat([w, w.new_ones(1)])
        return lambda z, y: F.cross_entropy(z * w.to(z.dtype), y)
    if name == "iif_fn":
        w = compute_weights(counts, "smooth", device=device)
        return lambda z, y: iif_cross_entropy(z, y, w, background=background)
    if name == "iif":
        kwargs = dict(kwargs, background=background)
        return build_loss(name, counts, **kwargs).to(device)
    # The other losses have no background column: give them one count per logit.
    full = counts if num_logits == len(counts) else np.append(counts, counts.max())
    return build_loss(name, full, **kwargs).to(device)


def run(preset: Preset, device: torch.device, clock: Callable[[], float], compile_loss: bool = False) -> list[Row]:
    """One row per (size, dtype, loss): ``time(loss) / time(F.cross_entropy)`` for forward + backward.

    With ``compile_loss``, one more row per size: both sides under ``torch.compile``, where the
    multiply is fused into the generated softmax kernel.
    """
    rows: list[Row] = []
    dtypes = [("fp32", None)]
    if device.type == "cuda":
        dtypes.append(("bf16 autocast", torch.bfloat16))
    gen = torch.Generator().manual_seed(0)
    for size_name, n, c in preset.loss_shapes:
        background = size_name == "detection"
        num_classes = c - 1 if background else c
        counts = long_tail_counts(num_classes)
        logits = torch.randn(n, c, generator=gen).to(device)
        target = torch.randint(0, c, (n,), generator=gen).to(device)
        for dtype_name, amp in dtypes:
            z = logits.clone().requires_grad_(True)
            ctx = (lambda: torch.autocast(device.type, dtype=amp)) if amp is not None else contextlib.nullcontext
            # Under autocast the logits come out of a bf16 layer: feed bf16 to both sides.
            x = z.to(amp) if amp is not None else z

            def base() -> None:
                with ctx():
                    loss = F.cross_entropy(x, target)
                torch.autograd.grad(loss, z)

            for label, name, kwargs in LOSS_ROWS:
                fn = _loss_fn(name, kwargs, counts, c, background, device)

                def ours(fn=fn) -> None:
                    with ctx():
                        loss = fn(x, target)
                    torch.autograd.grad(loss, z)

                pair = interleaved(base, ours, number=preset.loss_number, repeats=preset.loss_repeats,
                                   warmup=preset.warmup, device=device, clock=clock)
                rows.append(Row(
                    group="1 loss", name=f"{label} {dtype_name} {n}x{c} ({size_name})",
                    baseline="F.cross_entropy", ours=label, base_value=pair.base_median, ours_value=pair.ours_median,
                    unit="s", ratio=pair.ratio(), spread=pair.spread(), target=TARGET))
                logger.info("loss %s: ratio %.3f", rows[-1].name, rows[-1].ratio)
            if device.type == "cpu" and amp is None:
                rows.append(_flush_denormal_row(base, counts, c, background, device, z, target, preset, clock,
                                                f"{n}x{c} ({size_name})"))
        if compile_loss:
            rows.append(_compiled_row(counts, background, device, logits, target, preset, clock,
                                      f"{n}x{c} ({size_name})"))
    return rows


def _compiled_row(counts: np.ndarray, background: bool, device: torch.device, logits: torch.Tensor,
                  target: torch.Tensor, preset: Preset, clock: Callable[[], float], size: str) -> Row:
    """IIF-CE vs CE, forward + backward, each compiled with ``torch.compile`` (compilation not timed)."""
    w = compute_weights(counts, "smooth", device=device)
    ce = torch.compile(lambda z, y: torch.autograd.grad(F.cross_entropy(z, y), z))
    ours = torch.compile(lambda z, y: torch.autograd.grad(iif_cross_entropy(z, y, w, background=background), z))
    z = logits.clone().requires_grad_(True)
    ce(z, target)  # compile both before timing
    ours(z, target)
    pair = interleaved(lambda: ce(z, target), lambda: ours(z, target), number=preset.loss_number,
                       repeats=preset.loss_repeats, warmup=preset.warmup, device=device, clock=clock)
    return Row(group="1 loss", name=f"iif fn fp32 {size}, both torch.compile'd", baseline="compiled F.cross_entropy",
               ours="compiled iif fn", base_value=pair.base_median, ours_value=pair.ours_median, unit="s",
               ratio=pair.ratio(), spread=pair.spread(), target=TARGET,
               note="Inductor fuses the multiply into the softmax kernels; compile time not included")


def _flush_denormal_row(base: Callable[[], None], counts: np.ndarray, c: int, background: bool,
                        device: torch.device, z: torch.Tensor, target: torch.Tensor, preset: Preset,
                        clock: Callable[[], float], size: str) -> Row:
    """IIF-CE vs CE with subnormal floats flushed to zero on both sides (``torch.set_flush_denormal``).

    Scaling logits by IIF weights (5 to 10) widens their range, so more ``exp(s - max)`` terms of
    the softmax land in the subnormal range, which x86 CPUs process slowly; flushing them shows
    how much of the gap that is. The setting is restored afterwards.
    """
    fn = _loss_fn("iif_fn", {}, counts, c, background, device)
    if not torch.set_flush_denormal(True):
        return Row(group="1 loss", name=f"iif fn fp32 {size}, denormals flushed", baseline="F.cross_entropy",
                   ours="iif fn", base_value=float("nan"), ours_value=float("nan"), unit="s", ratio=float("nan"),
                   note="this CPU cannot flush denormals (torch.set_flush_denormal returned False)")
    try:
        pair = interleaved(base, lambda: torch.autograd.grad(fn(z, target), z), number=preset.loss_number,
                           repeats=preset.loss_repeats, warmup=preset.warmup, device=device, clock=clock)
    finally:
        torch.set_flush_denormal(False)
    return Row(group="1 loss", name=f"iif fn fp32 {size}, denormals flushed", baseline="F.cross_entropy",
               ours="iif fn", base_value=pair.base_median, ours_value=pair.ours_median, unit="s",
               ratio=pair.ratio(), spread=pair.spread(), target=TARGET,
               note="both sides under torch.set_flush_denormal(True)")
