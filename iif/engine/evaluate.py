"""Inference and the results table: the trained model as is, and every post-hoc adjustment of its logits."""
from __future__ import annotations

import contextlib
from typing import Iterable, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..metrics import MULTILABEL_GROUP_THRESHOLDS, SHOT_THRESHOLDS, summarize, summarize_multilabel
from ..posthoc import multilabel_posthoc_sweep, posthoc_sweep

__all__ = ["collect_logits", "score", "posthoc_rows", "format_table", "TABLE_COLUMNS", "CALIBRATION_COLUMNS",
           "score_multilabel", "multilabel_posthoc_rows", "MULTILABEL_COLUMNS"]


@torch.no_grad()
def collect_logits(model: nn.Module, loader: DataLoader, device: torch.device, amp: bool = False,
                   channels_last: bool = False, desc: str = "eval") -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` over ``loader``; returns float32 CPU logits ``(N, C)`` and labels: ``(N,)`` class
    indices, or ``(N, C)`` multi-hot targets from a multi-label dataset."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext())
    for images, target in tqdm(loader, desc=desc, leave=False, disable=None):
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast:
            out = model(images)
        logits.append(out.float().cpu())
        labels.append(torch.as_tensor(target).cpu())
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def score(method: str, logits: torch.Tensor, labels: torch.Tensor, train_counts: np.ndarray,
          shot_thresholds: tuple[int, int] = SHOT_THRESHOLDS, per_class: bool = False) -> dict:
    """One results row: top-1, balanced (mean per-class) accuracy, many/medium/few and ECE in %,
    NLL in nats (:func:`iif.metrics.summarize`); ``per_class`` adds the ``(C,)`` accuracies."""
    row = dict(method=method, **summarize(logits, labels, train_counts, shot_thresholds))
    if not per_class:
        row.pop("per_class")
    return row


def posthoc_rows(logits: torch.Tensor, labels: torch.Tensor, train_counts: np.ndarray,
                 variants: Iterable[str], taus: Sequence[float], shot_thresholds: tuple[int, int] = SHOT_THRESHOLDS,
                 prefix: str = "") -> list[dict]:
    """Rows for post-process IIF (each variant) and post-hoc logit adjustment (each tau):
    :func:`iif.posthoc.posthoc_sweep` without tau-normalisation or per-class accuracies.

    Variants that the counts make infinite (a class with no training image) are skipped.
    """
    rows = posthoc_sweep(logits, labels, train_counts, list(variants), list(taus), (),
                         shot_thresholds=shot_thresholds, prefix=prefix)
    for r in rows:
        r.pop("per_class")
    return rows


def score_multilabel(method: str, logits: torch.Tensor, targets: torch.Tensor, train_counts: np.ndarray,
                     thresholds: tuple[int, int] = MULTILABEL_GROUP_THRESHOLDS, per_class: bool = False) -> dict:
    """One multi-label results row of sigmoid ``logits`` ``(N, C)`` against 0/1 ``targets`` ``(N, C)``:
    mAP, head / medium / tail mAP, CF1 and OF1 at probability 0.5, in % (:func:`iif.metrics.summarize_multilabel`);
    ``per_class`` adds the ``(C,)`` APs."""
    row = dict(method=method, **summarize_multilabel(logits, targets, train_counts, thresholds))
    if not per_class:
        row.pop("per_class")
    return row


def multilabel_posthoc_rows(logits: torch.Tensor, targets: torch.Tensor, train_counts: np.ndarray, num_images: int,
                            variants: Iterable[str], thresholds: tuple[int, int] = MULTILABEL_GROUP_THRESHOLDS,
                            per_class: bool = False) -> list[dict]:
    """Rows for post-process IIF of sigmoid logits, each variant with ``K = num_images``
    (:func:`iif.posthoc.multilabel_posthoc_sweep`); variants the counts make infinite are skipped."""
    rows = multilabel_posthoc_sweep(logits, targets, train_counts, num_images, list(variants), thresholds)
    if not per_class:
        for r in rows:
            r.pop("per_class")
    return rows


#: The columns of a multi-label table (:func:`score_multilabel`).
MULTILABEL_COLUMNS = ("map", "head", "medium", "tail", "cf1", "of1")

#: The columns of :func:`format_table` by default, and with calibration.
TABLE_COLUMNS = ("top1", "balanced", "many", "medium", "few")
CALIBRATION_COLUMNS = TABLE_COLUMNS + ("ece", "nll")


def format_table(rows: list[dict], title: Optional[str] = None, columns: Sequence[str] = TABLE_COLUMNS) -> str:
    """A fixed-width text table of results rows (percentages and ECE with one decimal, NLL with three)."""
    width = max([len("method")] + [len(r["method"]) for r in rows])
    cols = tuple(columns)
    lines = [title] if title else []
    lines.append(f"{'method':<{width}}  " + "  ".join(f"{c:>8}" for c in cols))
    lines.append("-" * (width + 2 + 10 * len(cols)))
    for r in rows:
        # An empty shot group (e.g. no class under 20 images) shows as "-", not nan.
        cells = ("       -" if r.get(c) is None or r[c] != r[c] else f"{r[c]:8.3f}" if c == "nll" else f"{r[c]:8.1f}"
                 for c in cols)
        lines.append(f"{r['method']:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
