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

__all__ = ["per_class_accuracy", "ShotAccuracy", "shot_accuracy", "shot_groups", "SHOT_GROUPS", "SHOT_THRESHOLDS",
           "ECE_BINS", "ReliabilityBins",
           "reliability_bins", "expected_calibration_error", "negative_log_likelihood", "summarize"]

#: Default shot groups: many > 100 training images, medium 20..100, few < 20.
SHOT_THRESHOLDS = (100, 20)

#: Names of the shot groups, by the index :func:`shot_groups` gives them.
SHOT_GROUPS = ("many", "medium", "few")

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


def shot_groups(train_counts: ArrayLike, thresholds: tuple[int, int] = SHOT_THRESHOLDS) -> np.ndarray:
    """Group index of each class ``(C,)`` int64: 0 many (``> hi``), 1 medium (``lo..hi``), 2 few (``< lo``).

    The one grouping rule: the many/medium/few report columns and ResLT's head/medium/tail
    branches (:func:`iif.reslt_groups`) both use it, so training and reporting never disagree.
    """
    hi, lo = thresholds
    n = check_counts(train_counts, "train_counts")
    return np.where(n > hi, 0, np.where(n >= lo, 1, 2)).astype(np.int64)


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

    group = shot_groups(n, (hi, lo))
    return ShotAccuracy(
        overall=mean(np.ones_like(n, dtype=bool)),
        many=mean(group == 0),
        medium=mean(group == 1),
        few=mean(group == 2),
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


# ============================================================================ multi-label
# Average precision per class of sigmoid scores (N, C) against multi-hot targets (N, C), and its
# head / medium / tail means: the VOC-MLT / COCO-MLT report (Wu et al., ECCV 2020).

__all__ += ["MULTILABEL_GROUP_THRESHOLDS", "MULTILABEL_GROUPS", "multilabel_groups", "average_precision",
            "mean_average_precision", "group_mean_average_precision", "multilabel_f1", "summarize_multilabel"]

#: Multi-label class groups by training images: head ``>= 100``, medium ``20..99``, tail ``< 20``
#: (the ``class_split.pkl`` of VOC-MLT / COCO-MLT: VOC-MLT's class with exactly 100 images is head).
MULTILABEL_GROUP_THRESHOLDS = (100, 20)

#: Names of the multi-label groups, by the index :func:`multilabel_groups` gives them.
MULTILABEL_GROUPS = ("head", "medium", "tail")


def multilabel_groups(train_counts: ArrayLike, thresholds: tuple[int, int] = MULTILABEL_GROUP_THRESHOLDS
                      ) -> np.ndarray:
    """Group index of each class ``(C,)`` int64: 0 head (``>= hi``), 1 medium (``lo .. hi-1``), 2 tail (``< lo``).

    Note the head boundary is inclusive here (the MLT benchmarks' rule), unlike the single-label
    many-shot rule ``> hi`` of :func:`shot_groups`.
    """
    hi, lo = _check_group_thresholds(thresholds)
    n = check_counts(train_counts, "train_counts")
    return np.where(n >= hi, 0, np.where(n >= lo, 1, 2)).astype(np.int64)


def _check_group_thresholds(thresholds: tuple[int, int]) -> tuple[int, int]:
    try:
        hi, lo = (int(t) for t in thresholds)
    except (TypeError, ValueError):
        raise ValueError(f"thresholds must be two integers (head >= hi, tail < lo), got {thresholds!r}") from None
    if not hi >= lo >= 0:
        raise ValueError(f"thresholds must be (hi, lo) with hi >= lo >= 0, got {thresholds!r}")
    return hi, lo


def _to_numpy(x: ArrayLike | Tensor) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()  # exact; NumPy has no bfloat16
        return x.cpu().numpy()
    return np.asarray(x)


def _check_multilabel_scores(scores: ArrayLike | Tensor, targets: ArrayLike | Tensor, name: str
                             ) -> tuple[np.ndarray, np.ndarray]:
    """``(scores (N, C) float32/float64, targets (N, C) bool)`` as NumPy arrays."""
    s, t = _to_numpy(scores), _to_numpy(targets)
    if s.ndim != 2 or t.shape != s.shape:
        raise ValueError(f"{name}: scores of shape {tuple(s.shape)} and targets of shape {tuple(t.shape)}; "
                         f"expected two (N, C) arrays of the same shape (multi-hot targets)")
    if s.dtype == np.float16:
        s = s.astype(np.float32)  # exact
    elif s.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(s.dtype, np.integer) or s.dtype == np.bool_):
            raise ValueError(f"{name}: scores must be real numbers, got dtype {s.dtype}")
        s = s.astype(np.float64)
    finite = np.isfinite(s)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        raise ValueError(f"{name}: scores must be finite; entry ({i}, {j}) of the {tuple(s.shape)} scores is "
                         f"{s[i, j].item()}")
    if t.dtype != np.bool_:
        if not np.issubdtype(t.dtype, np.number):
            raise ValueError(f"{name}: targets must be 0/1 multi-hot labels, got dtype {t.dtype}")
        bad = (t != 0) & (t != 1)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(f"{name}: targets must be 0/1 multi-hot labels; entry ({i}, {j}) is {t[i, j].item()!r}")
        t = t != 0
    return s, t


def _sorted_keys(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """One sorted int64 key per entry of ``(N, C)`` scores: ``class << 34 | rank << 1 | label``.

    ``rank`` is an order-preserving integer image of the score below ``2^32`` (equal scores, equal
    ranks): for float32 the bit pattern itself (negative floats get their magnitude bits flipped),
    otherwise the score's index among the distinct values. After one flat sort the keys run class
    by class, each class's scores increasing, tied scores adjacent (their order within a tie does
    not change AP). NumPy's SIMD sort of these keys is several times faster than an argsort
    followed by gathers.
    """
    n, c = s.shape
    if s.dtype == np.float32:
        bits = (s + np.float32(0.0)).view(np.int32)  # + 0 turns -0.0 into 0.0, which ties with it
        bits ^= (bits >> 31) & 0x7FFFFFFF  # signed order of the ints = order of the floats
        key = np.left_shift(bits, 1, dtype=np.int64)  # rank << 1, up to the offset below
        offset = 1 << 32  # the signed ints start at -2^31: shift them to >= 0
    else:
        # Exact for any dtype: float64 scores do not fit beside the class and label bits.
        key = np.unique(s, return_inverse=True)[1].reshape(n, c).astype(np.int64) << 1
        offset = 0
    key += (np.arange(c, dtype=np.int64) << 34) + offset  # broadcast over the class columns
    key |= t
    flat = key.ravel()  # (N*C,) in (image, class) order; sorted, it is in (class, score) order
    flat.sort()
    return flat


def average_precision(scores: ArrayLike | Tensor, targets: ArrayLike | Tensor) -> np.ndarray:
    """Average precision of each class ``(C,)`` (float64, in [0, 1]); NaN for a class without positives.

    ``scores`` ``(N, C)`` rank the images for each class (logits or sigmoid probabilities give
    the same AP; logits avoid the ties of a saturated float32 sigmoid); ``targets`` ``(N, C)`` 0/1.
    Tensors (any device) or arrays.

    ``AP_c = sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds ``k`` in decreasing
    order, tied scores forming one threshold: exactly scikit-learn's
    ``average_precision_score(targets[:, c], scores[:, c])`` (no interpolation). A class with no
    positive target is NaN (its AP is undefined; scikit-learn warns and returns 0), so means
    over classes skip it.

    Vectorised over classes: one sort of every score at once (keys carry the class), then work
    on the positives only. Each positive adds the precision at the threshold of its score,
    ``#positives >= s / #images >= s``, counted from its tie group's first position.
    """
    s, t = _check_multilabel_scores(scores, targets, "average_precision")
    n, c = s.shape
    if n == 0 or c == 0:
        return np.full(c, np.nan)
    if n * c >= 1 << 31:
        raise ValueError(f"average_precision: {n} x {c} scores are too many for one call; split the classes")
    key = _sorted_keys(s, t)
    q = np.flatnonzero(key & 1)  # the positives (sorted positions): precision is needed only there
    rows = q // n  # their classes (each class holds n consecutive positions)
    n_pos = np.bincount(rows, minlength=c)
    # Precision at a positive's threshold: positives with score >= its score over images with
    # score >= its score, both counted from the first position of its tie group, which is the
    # first key >= its key with the label bit cleared.
    first = np.searchsorted(key, key[q] & ~1, side="left")
    below = np.searchsorted(q, first, side="left")  # positives (of all classes) before that position
    row_start = np.concatenate(([0], np.cumsum(n_pos)[:-1]))
    positives_above = n_pos[rows] - (below - row_start[rows])
    precision = positives_above / (n - (first - rows * n))
    hits = np.bincount(rows, weights=precision, minlength=c)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pos > 0, hits / n_pos, np.nan)


def mean_average_precision(scores: ArrayLike | Tensor, targets: ArrayLike | Tensor) -> float:
    """Mean of :func:`average_precision` over the classes with at least one positive (in [0, 1]).

    NaN when no class has a positive.
    """
    ap = average_precision(scores, targets)
    return float(np.nanmean(ap)) if np.any(~np.isnan(ap)) else float("nan")


def group_mean_average_precision(ap: np.ndarray, train_counts: ArrayLike,
                                 thresholds: tuple[int, int] = MULTILABEL_GROUP_THRESHOLDS) -> dict[str, float]:
    """Mean AP of the ``head`` / ``medium`` / ``tail`` classes (:func:`multilabel_groups`), in [0, 1].

    ``ap`` ``(C,)`` from :func:`average_precision`; classes with NaN AP (no test positive) are
    skipped; a group with no scored class is NaN.
    """
    ap = np.asarray(ap, dtype=np.float64)
    groups = multilabel_groups(train_counts, thresholds)
    if ap.shape != groups.shape:
        raise ValueError(f"ap has shape {ap.shape}, train_counts {groups.shape}; expected one AP per class")
    out = {}
    for g, name in enumerate(MULTILABEL_GROUPS):
        vals = ap[(groups == g) & ~np.isnan(ap)]
        out[name] = float(vals.mean()) if vals.size else float("nan")
    return out


def multilabel_f1(probs: ArrayLike | Tensor, targets: ArrayLike | Tensor, threshold: float = 0.5
                  ) -> dict[str, float]:
    """Thresholded multi-label scores (in [0, 1]) of ``probs >= threshold`` ``(N, C)``.

    ``CP`` / ``CR``: mean per-class precision / recall (a class never predicted has precision 0,
    a class without positives is left out of ``CR``), ``CF1 = 2 CP CR / (CP + CR)``; ``OP`` /
    ``OR`` / ``OF1``: the same from counts pooled over all classes (the ML-GCN convention).
    Unlike AP, these change when a per-class rescaling moves scores across the threshold; scaling
    a logit by a positive weight (post-process IIF) keeps its sign, so at 0.5 it never does.
    """
    p, t = _check_multilabel_scores(probs, targets, "multilabel_f1")
    pred = p >= threshold
    tp = np.count_nonzero(pred & t, axis=0).astype(np.float64)
    n_pred = np.count_nonzero(pred, axis=0).astype(np.float64)
    n_pos = np.count_nonzero(t, axis=0).astype(np.float64)
    cp = float(np.mean(np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 0.0))) if p.shape[1] else float("nan")
    has_pos = n_pos > 0
    cr = float(np.mean(tp[has_pos] / n_pos[has_pos])) if has_pos.any() else float("nan")
    op = float(tp.sum() / n_pred.sum()) if n_pred.sum() > 0 else 0.0
    orr = float(tp.sum() / n_pos.sum()) if n_pos.sum() > 0 else float("nan")

    def f1(a: float, b: float) -> float:
        if a != a or b != b:
            return float("nan")
        return 2 * a * b / (a + b) if a + b > 0 else 0.0

    return {"cp": cp, "cr": cr, "cf1": f1(cp, cr), "op": op, "or": orr, "of1": f1(op, orr)}


def summarize_multilabel(logits: Tensor, targets: ArrayLike | Tensor, train_counts: ArrayLike,
                         thresholds: tuple[int, int] = MULTILABEL_GROUP_THRESHOLDS,
                         transform: Optional[Callable[[Tensor], Tensor]] = None,
                         prob_threshold: float = 0.5) -> dict:
    """Every multi-label metric of one set of sigmoid logits, as a JSON-ready dict (percent).

    Args:
        logits: ``(N, C)`` sigmoid logits (``sigmoid(logits)`` are the predicted probabilities).
        targets: ``(N, C)`` 0/1 labels.
        train_counts: ``(C,)`` training images per class (defines head / medium / tail).
        transform: optional elementwise map of the logits (``lambda z: w * z``) applied first.
        prob_threshold: the probability above which a label is predicted (for CF1 / OF1).

    Returns ``map``, ``head``, ``medium``, ``tail`` (mean AP over classes with a positive),
    ``cf1``, ``of1`` (at ``prob_threshold``) in percent, ``classes_scored`` (classes with at least
    one positive) and ``per_class`` (``C`` APs in percent). Undefined values are ``None``.
    """
    z = logits.detach() if isinstance(logits, Tensor) else torch.as_tensor(np.asarray(logits))
    n = check_counts(train_counts, "train_counts")
    if z.dim() != 2 or z.shape[1] != n.shape[0]:
        raise ValueError(f"summarize_multilabel: logits of shape {tuple(z.shape)} for {n.shape[0]} classes in "
                         f"train_counts; expected (N, {n.shape[0]})")
    if transform is not None:
        z = transform(z)
    ap = average_precision(z, targets)
    groups = group_mean_average_precision(ap, n, thresholds)
    f1 = multilabel_f1(torch.sigmoid(z.double()), targets, prob_threshold)  # float64: no saturation at 1
    scored = ~np.isnan(ap)
    out = dict(map=float(ap[scored].mean()) * 100 if scored.any() else float("nan"),
               head=groups["head"] * 100, medium=groups["medium"] * 100, tail=groups["tail"] * 100,
               cf1=f1["cf1"] * 100, of1=f1["of1"] * 100)
    clean: dict = {k: (None if v != v else v) for k, v in out.items()}
    clean["classes_scored"] = int(scored.sum())
    clean["per_class"] = [None if a != a else float(a * 100) for a in ap]
    return clean
