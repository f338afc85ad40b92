"""Accuracy metrics for long-tailed recognition: top-1, per-class, many/medium/few shots."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .weights import ArrayLike, check_counts

__all__ = ["per_class_accuracy", "ShotAccuracy", "shot_accuracy", "SHOT_THRESHOLDS"]

#: Default shot groups: many > 100 training images, medium 20..100, few < 20.
SHOT_THRESHOLDS = (100, 20)


def per_class_accuracy(logits_or_pred: Tensor, target: Tensor, num_classes: int) -> np.ndarray:
    """Per-class recall ``(C,)``; NaN for classes absent from ``target``.

    ``logits_or_pred`` is ``(N, C)`` logits or ``(N,)`` predicted indices.
    """
    pred = logits_or_pred.argmax(-1) if logits_or_pred.dim() == 2 else logits_or_pred
    pred = pred.detach().cpu().numpy().astype(np.int64)
    y = target.detach().cpu().numpy().astype(np.int64)
    total = np.bincount(y, minlength=num_classes).astype(np.float64)
    correct = np.bincount(y[pred == y], minlength=num_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / np.maximum(total, 1), np.nan)


@dataclass(frozen=True)
class ShotAccuracy:
    """Accuracies in percent: ``overall`` is the mean per-class accuracy (= top-1 on a balanced test set)."""

    overall: float
    many: float
    medium: float
    few: float


def shot_accuracy(class_acc: np.ndarray, train_counts: ArrayLike, thresholds: tuple[int, int] = SHOT_THRESHOLDS
                  ) -> ShotAccuracy:
    """Group per-class accuracies by training count: many ``> hi``, medium ``lo..hi``, few ``< lo``.

    Groups come from training counts, never from class-index ranges. An empty group is NaN.
    """
    hi, lo = thresholds
    n = check_counts(train_counts, "train_counts")
    acc = np.asarray(class_acc, dtype=np.float64)
    if acc.shape != n.shape:
        raise ValueError(f"class_acc has shape {acc.shape}, train_counts {n.shape}")

    def mean(mask: np.ndarray) -> float:
        vals = acc[mask & ~np.isnan(acc)]
        return float(vals.mean() * 100) if vals.size else float("nan")

    return ShotAccuracy(
        overall=mean(np.ones_like(n, dtype=bool)),
        many=mean(n > hi),
        medium=mean((n >= lo) & (n <= hi)),
        few=mean(n < lo),
    )
