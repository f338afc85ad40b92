"""Inference and the results table: the trained model as is, and every post-hoc adjustment of its logits."""
from __future__ import annotations

import contextlib
from typing import Iterable, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..metrics import per_class_accuracy, shot_accuracy
from ..posthoc import adjust_logits, logit_adjustment
from ..weights import compute_weights

__all__ = ["collect_logits", "score", "posthoc_rows", "format_table"]


@torch.no_grad()
def collect_logits(model: nn.Module, loader: DataLoader, device: torch.device, amp: bool = False,
                   channels_last: bool = False, desc: str = "eval") -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` over ``loader``; returns float32 CPU logits ``(N, C)`` and labels ``(N,)``."""
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
        labels.append(torch.as_tensor(target))
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def score(method: str, logits: torch.Tensor, labels: torch.Tensor, train_counts: np.ndarray,
          shot_thresholds: tuple[int, int] = (100, 20)) -> dict:
    """One results row: top-1 (%), balanced (mean per-class) accuracy and many/medium/few."""
    num_classes = len(train_counts)
    acc = per_class_accuracy(logits, labels, num_classes)
    shots = shot_accuracy(acc, train_counts, shot_thresholds)
    top1 = float((logits.argmax(1) == labels).float().mean() * 100) if len(labels) else float("nan")
    # None (JSON null) for an empty shot group: NaN is not valid JSON.
    clean = {k: (None if v != v else v) for k, v in
             dict(top1=top1, balanced=shots.overall, many=shots.many, medium=shots.medium, few=shots.few).items()}
    return dict(method=method, **clean)


def posthoc_rows(logits: torch.Tensor, labels: torch.Tensor, train_counts: np.ndarray,
                 variants: Iterable[str], taus: Sequence[float], shot_thresholds: tuple[int, int] = (100, 20),
                 prefix: str = "") -> list[dict]:
    """Rows for post-process IIF (each variant) and post-hoc logit adjustment (each tau).

    Variants that the counts make infinite (a class with no training image) are skipped.
    """
    rows = []
    for v in variants:
        try:
            w = compute_weights(train_counts, v)
        except ValueError:
            continue
        rows.append(score(f"{prefix}post-process IIF {v}", adjust_logits(logits, w), labels, train_counts,
                          shot_thresholds))
    if np.all(np.asarray(train_counts) > 0):
        for tau in taus:
            rows.append(score(f"{prefix}post-hoc logit adj. tau={tau:g}", logit_adjustment(logits, train_counts, tau),
                              labels, train_counts, shot_thresholds))
    return rows


def format_table(rows: list[dict], title: Optional[str] = None) -> str:
    """A fixed-width text table of results rows (percentages, one decimal)."""
    width = max([len("method")] + [len(r["method"]) for r in rows])
    cols = ("top1", "balanced", "many", "medium", "few")
    lines = [title] if title else []
    lines.append(f"{'method':<{width}}  " + "  ".join(f"{c:>8}" for c in cols))
    lines.append("-" * (width + 2 + 10 * len(cols)))
    for r in rows:
        # An empty shot group (e.g. no class under 20 images) shows as "-", not nan.
        cells = ("       -" if r[c] is None or r[c] != r[c] else f"{r[c]:8.1f}" for c in cols)
        lines.append(f"{r['method']:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
