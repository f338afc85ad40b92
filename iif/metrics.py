"""Metrics for long-tailed recognition: top-1, per-class, many/medium/few shots, calibration (ECE, NLL).

:func:`summarize` gives all of them for one set of logits, the row every results table is made of.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor

from .weights import ArrayLike, check_counts

__all__ = ["per_class_accuracy", "ShotAccuracy", "shot_accuracy", "SHOT_THRESHOLDS", "ECE_BINS", "ReliabilityBins",
           "reliability_bins", "expected_calibration_error", "negative_log_likelihood", "summarize"]

#: Default shot groups: many > 100 training images, medium 20..100, few < 20.
SHOT_THRESHOLDS = (100, 20)

#: Confidence bins of the expected calibration error (Guo et al., ICML 2017).
ECE_BINS = 15


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


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width confidence bins over ``[0, 1]`` (bin ``b`` is ``(b/B, (b+1)/B]``; a confidence of 0 joins bin 0).

    All arrays are ``(B,)``: ``count`` samples per bin, their mean ``confidence`` and ``accuracy``
    (NaN for an empty bin), and the bin ``edges`` ``(B+1,)``.
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        """``sum_b |B_b|/N * |acc(B_b) - conf(B_b)|`` (a fraction in [0, 1]; NaN with no samples)."""
        n = self.count.sum()
        if n == 0:
            return float("nan")
        full = self.count > 0
        return float(np.sum(self.count[full] / n * np.abs(self.accuracy[full] - self.confidence[full])))


def _check_logits(logits: Tensor, target: Tensor, name: str) -> None:
    if logits.dim() != 2:
        raise ValueError(f"{name}: logits must be (N, C), got shape {tuple(logits.shape)}")
    if target.shape != logits.shape[:1]:
        raise ValueError(f"{name}: target must be (N,) = ({logits.shape[0]},), got shape {tuple(target.shape)}")


#: Rows per chunk of :func:`_score_pass`: about 4M logits (16 MB in float32), so the exp temporary
#: stays small and cache-friendly however large ``N`` is.
_CHUNK_ELEMENTS = 1 << 22


def _score_pass(logits: Tensor, target: Tensor,
                transform: Optional[Callable[[Tensor], Tensor]] = None
                ) -> tuple[Tensor, np.ndarray, np.ndarray, np.ndarray]:
    """One pass over ``(N, C)`` logits: prediction ``(N,)``, correctness, top-1 softmax confidence
    and per-sample NLL (the last three ``(N,)`` float64 NumPy).

    ``max softmax = 1 / sum exp(z - max z)`` and ``NLL = log sum exp(z - max z) + max z - z_y``
    share the max and the sum of exps, so no ``(N, C)`` softmax or float64 copy is made; the
    exps run in the logits' precision (float32 at least), each row's few results in float64.
    ``transform`` (an elementwise, per-column map such as ``w * z``) is applied to each row chunk,
    which equals scoring ``transform(logits)`` without materialising it.
    """
    z = logits.detach()
    y = target.detach().to(z.device).long()
    n, c = z.shape
    pred = torch.empty(n, dtype=torch.long, device=z.device)
    conf = torch.empty(n, dtype=torch.float64, device=z.device)
    nll = torch.empty(n, dtype=torch.float64, device=z.device)
    step = max(1, _CHUNK_ELEMENTS // max(c, 1))
    for i in range(0, n, step):
        zc, yc = z[i:i + step], y[i:i + step]
        if transform is not None:
            zc = transform(zc)
        if zc.dtype not in (torch.float32, torch.float64):
            zc = zc.float()
        zmax, pred[i:i + step] = zc.max(1)  # first maximal index, as argmax
        s = torch.exp(zc - zmax[:, None]).sum(1).double()
        conf[i:i + step] = 1.0 / s
        nll[i:i + step] = s.log() + (zmax - zc.gather(1, yc[:, None]).squeeze(1)).double()
    pred = pred.cpu()
    correct = (pred == target.detach().cpu()).double().numpy()
    return pred, correct, conf.cpu().numpy(), nll.cpu().numpy()


def _bins(conf: np.ndarray, correct: np.ndarray, n_bins: int) -> ReliabilityBins:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins (Guo et al.'s reference code): conf in (lo, hi]; conf = 0 cannot occur.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        mean_acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return ReliabilityBins(edges=edges, count=count.astype(np.int64), confidence=mean_conf, accuracy=mean_acc)


def _check_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")


def reliability_bins(logits: Tensor, target: Tensor, n_bins: int = ECE_BINS) -> ReliabilityBins:
    """Bin the top-1 confidence ``max softmax(logits)`` of ``(N, C)`` logits and compare it with accuracy."""
    _check_logits(logits, target, "reliability_bins")
    _check_bins(n_bins)
    _, correct, conf, _ = _score_pass(logits, target)
    return _bins(conf, correct, n_bins)


def expected_calibration_error(logits: Tensor, target: Tensor, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of ``softmax(logits)`` ``(N, C)`` against ``target`` ``(N,)``, in percent."""
    return reliability_bins(logits, target, n_bins).ece * 100.0


def negative_log_likelihood(logits: Tensor, target: Tensor) -> float:
    """Mean ``-log softmax(logits)[y]`` over the ``N`` samples (nats); NaN for ``N = 0``."""
    _check_logits(logits, target, "negative_log_likelihood")
    if logits.shape[0] == 0:
        return float("nan")
    return float(_score_pass(logits, target)[3].mean())


def summarize(logits: Tensor, target: Tensor, train_counts: ArrayLike,
              thresholds: tuple[int, int] = SHOT_THRESHOLDS, n_bins: int = ECE_BINS,
              transform: Optional[Callable[[Tensor], Tensor]] = None) -> dict:
    """Every metric of one set of predictions, as a JSON-ready dict.

    Args:
        logits: ``(N, C)`` scores (the softmax of them is the predicted distribution).
        target: ``(N,)`` labels.
        train_counts: ``(C,)`` training images per class (defines the shot groups).
        transform: optional elementwise map of the logits (``lambda z: w * z``), applied chunk by
            chunk: the result equals ``summarize(transform(logits), ...)`` without an ``(N, C)`` copy.

    Returns ``top1``, ``balanced`` (mean per-class), ``many``, ``medium``, ``few`` and ``ece``
    in percent, ``nll`` in nats, and ``per_class`` (``C`` accuracies in percent). Undefined
    values (an empty shot group, a class absent from ``target``) are ``None``, not NaN, so
    that the dict is valid JSON.
    """
    _check_logits(logits, target, "summarize")
    n = check_counts(train_counts, "train_counts")
    if logits.shape[1] != n.shape[0]:
        raise ValueError(f"logits have {logits.shape[1]} classes, train_counts {n.shape[0]}")
    _check_bins(n_bins)
    # One pass over the logits serves every metric (prediction, confidence, NLL).
    pred, correct, conf, nll = _score_pass(logits, target, transform)
    acc = per_class_accuracy(pred, target, logits.shape[1])
    shots = shot_accuracy(acc, n, thresholds)
    empty = len(correct) == 0
    out = dict(top1=float("nan") if empty else float(correct.mean() * 100), balanced=shots.overall,
               many=shots.many, medium=shots.medium, few=shots.few,
               ece=float("nan") if empty else _bins(conf, correct, n_bins).ece * 100.0,
               nll=float("nan") if empty else float(nll.mean()))
    clean = {k: (None if v != v else v) for k, v in out.items()}
    clean["per_class"] = [None if a != a else float(a * 100) for a in acc]
    return clean
