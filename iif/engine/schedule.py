"""Per-iteration learning-rate factor: linear warm-up, then cosine, multi-step or constant."""
from __future__ import annotations

import math
from typing import Optional, Sequence

__all__ = ["lr_factor", "SCHEDULES"]

#: Schedule types of :func:`lr_factor` (``schedule.type`` in a config).
SCHEDULES = ("cosine", "multistep", "constant")


def lr_factor(it: int, iters_per_epoch: int, epochs: int, kind: str = "cosine", warmup_epochs: float = 0,
              milestones: Sequence[int] = (), gamma: float = 0.1, warmup_start_factor: Optional[float] = None,
              warmup_max_iters: Optional[int] = None) -> float:
    """Multiplier of the base LR at iteration ``it`` (0-based, counted over the whole run).

    Warm-up over the first ``P = round(warmup_epochs * iters_per_epoch)`` iterations, two forms:

    - ``warmup_start_factor=None``: ``(it + 1) / P`` for ``it < P``, from ``1/P`` to 1 (as in
      LDAM/MiSLAS's 5-epoch warm-up).
    - ``warmup_start_factor=s``: ``s + (1 - s) * it / W`` for ``it < W``, with
      ``W = min(warmup_max_iters, P - 1)``, so the factor is 1 from iteration ``W`` on. This is
      the warm-up of torchvision's reference scripts that the IIF authors' code uses in the first
      epoch of every stage (``warmup_lr_scheduler(optimizer, min(1000, len(loader) - 1), 1/1000)``):
      ``s = 1e-3``, ``warmup_epochs = 1``, ``warmup_max_iters = 1000``.

    After the warm-up: ``cosine`` decays to 0 at the last iteration; ``multistep`` multiplies by
    ``gamma`` at each epoch in ``milestones`` (e.g. 360, 380 of 400 for CIFAR-LT); ``constant``
    stays at 1 (the authors' decoupled stage: a multi-step schedule whose milestones lie past
    its last epoch).
    """
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule type {kind!r}; expected one of {list(SCHEDULES)}")
    total = max(1, iters_per_epoch * epochs)
    period = int(round(warmup_epochs * iters_per_epoch))
    if warmup_start_factor is None:
        warm = period
        if it < warm:
            return (it + 1) / warm
    else:
        s = float(warmup_start_factor)
        if not 0.0 < s <= 1.0:
            raise ValueError(f"warmup_start_factor must lie in (0, 1], got {warmup_start_factor!r}")
        warm = max(0, period - 1)
        if warmup_max_iters is not None:
            warm = min(warm, int(warmup_max_iters))
        if it < warm:
            return s + (1.0 - s) * it / warm
    if kind == "cosine":
        t = (it - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if kind == "multistep":
        epoch = it // max(1, iters_per_epoch)
        return gamma ** sum(epoch >= m for m in milestones)
    return 1.0  # constant
