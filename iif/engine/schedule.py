"""Per-iteration learning-rate factor: linear warm-up, then cosine or multi-step decay."""
from __future__ import annotations

import math
from typing import Sequence

__all__ = ["lr_factor"]


def lr_factor(it: int, iters_per_epoch: int, epochs: int, kind: str = "cosine", warmup_epochs: float = 0,
              milestones: Sequence[int] = (), gamma: float = 0.1) -> float:
    """Multiplier of the base LR at iteration ``it`` (0-based, counted over the whole run).

    Warm-up rises linearly from ``1/warmup_iters`` to 1 (as in LDAM/MiSLAS's 5-epoch warm-up);
    ``cosine`` then decays to 0 at the last iteration; ``multistep`` multiplies by ``gamma`` at
    each epoch in ``milestones`` (e.g. 360, 380 of 400 for CIFAR-LT).
    """
    total = max(1, iters_per_epoch * epochs)
    warm = int(round(warmup_epochs * iters_per_epoch))
    if it < warm:
        return (it + 1) / warm
    if kind == "cosine":
        t = (it - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if kind == "multistep":
        epoch = it // max(1, iters_per_epoch)
        return gamma ** sum(epoch >= m for m in milestones)
    raise ValueError(f"unknown schedule type {kind!r}; expected 'cosine' or 'multistep'")
