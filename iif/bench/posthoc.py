"""Group 4, post-hoc sweep on saved logits against one evaluation.

Logits of ImageNet-LT's test size (50,000 x 1000, float32, balanced labels: 50 per class),
training counts of ImageNet-LT's profile (1280 down to 5 images per class).

- **one evaluation**: :func:`iif.metrics.summarize` of one set of logits (top-1, balanced
  accuracy, many / medium / few, ECE, NLL, per-class accuracy), i.e. one row of a results table;
- **the sweep**: :func:`iif.posthoc.posthoc_sweep` with its defaults (every IIF variant and
  logit adjustment over its default tau grid), which adjusts and scores each method.

Where the library has no ``posthoc_sweep`` (older versions), the sweep is the plain loop over
:func:`iif.adjust_logits` / :func:`iif.logit_adjustment` + ``summarize``.

A second row puts the sweep against what it replaces, one *model* evaluation: the
ImageNet-LT network (SE-ResNet-50, cosine head, 224x224, inference mode) over the whole test
set, extrapolated from the measured images/s on ``posthoc_model_images`` images. It has no
target: it says how much the sweep adds to an evaluation that produces the logits.
"""
from __future__ import annotations

import logging
import statistics
import time
from typing import Callable

import numpy as np
import torch

from .core import Preset, Row, interleaved
from .losses import long_tail_counts

__all__ = ["run", "sweep_function"]

logger = logging.getLogger(__name__)

TARGET = ("<", 2.0)


def sweep_function() -> tuple[Callable, int, str]:
    """``(sweep(logits, labels, counts) -> rows, number of methods, description)`` from the library."""
    from .. import posthoc
    from ..weights import VARIANTS

    if hasattr(posthoc, "posthoc_sweep"):
        taus = getattr(posthoc, "DEFAULT_TAUS", (1.0,))
        return posthoc.posthoc_sweep, len(VARIANTS) + len(taus), \
            f"posthoc_sweep: {len(VARIANTS)} IIF variants + logit adjustment at {len(taus)} taus"

    from ..metrics import summarize
    from ..posthoc import adjust_logits, logit_adjustment
    from ..weights import compute_weights

    taus = tuple(i / 4 for i in range(9))

    def loop(logits: torch.Tensor, labels: torch.Tensor, counts: np.ndarray) -> list:
        rows = [summarize(adjust_logits(logits, compute_weights(counts, v)), labels, counts) for v in VARIANTS]
        rows += [summarize(logit_adjustment(logits, counts, t), labels, counts) for t in taus]
        return rows

    return loop, len(VARIANTS) + len(taus), f"adjust + summarize loop: {len(VARIANTS)} variants + {len(taus)} taus"


def run(preset: Preset, clock: Callable[[], float]) -> list[Row]:
    from ..metrics import summarize

    n, c = preset.posthoc_n, preset.posthoc_c
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % c
    counts = long_tail_counts(c, n_max=1280, imbalance=256.0)
    # A head-biased classifier: noise, a margin for the true class, a log-prior bias.
    logits = torch.randn(n, c, generator=gen) * 2.0
    logits[torch.arange(n), labels] += 3.0
    logits += torch.as_tensor(np.log(counts / counts.sum()), dtype=torch.float32)
    sweep, methods, what = sweep_function()
    pair = interleaved(lambda: summarize(logits, labels, counts), lambda: sweep(logits, labels, counts),
                       number=1, repeats=preset.posthoc_repeats, warmup=preset.warmup, clock=clock)
    per_method = pair.ours_median / methods / pair.base_median
    rows = [Row(group="4 post-hoc", name=f"sweep of {methods} methods on {n}x{c} logits vs one evaluation",
                baseline="summarize (1 set)", ours="posthoc_sweep", base_value=pair.base_median,
                ours_value=pair.ours_median, unit="s", ratio=pair.ratio(), spread=pair.spread(), target=TARGET,
                note=f"{what}; each method costs {per_method:.2f} evaluations")]
    rows.append(_model_row(preset, n, c, pair.ours_median))
    return rows


def _model_row(preset: Preset, n: int, c: int, sweep_s: float) -> Row:
    """The sweep vs one forward pass of the ImageNet-LT model over ``n`` test images (extrapolated)."""
    from ..models import build_model

    size, images = preset.posthoc_model_size, preset.posthoc_model_images
    model = build_model("se_resnet50", c, head="cosine").eval()
    x = torch.randn(images, 3, size, size)
    with torch.inference_mode():
        model(x[:1])  # warm-up (allocator, oneDNN primitives)
        per_image = []
        for _ in range(max(1, preset.posthoc_repeats)):
            t0 = time.perf_counter()
            model(x)
            per_image.append((time.perf_counter() - t0) / images)
    forward_s = statistics.median(per_image) * n
    return Row(group="4 post-hoc", name=f"sweep vs one model evaluation of {n} images (se_resnet50, {size}px)",
               baseline="model forward (extrapolated)", ours="posthoc_sweep", base_value=forward_s,
               ours_value=sweep_s, unit="s", ratio=sweep_s / forward_s,
               note=f"forward time extrapolated from {images} images x {len(per_image)} repeats at batch {images}")
