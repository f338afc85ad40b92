"""Inference-time adjustments of a trained classifier (paper Fig. 3, "post-process").

All of them are free at training time: they act on logits ``(N, C)`` or on the
classifier's weight matrix ``(C, D)`` after training.

:func:`posthoc_sweep` scores every adjustment (7 IIF variants, logit adjustment and
tau-normalisation over tau grids) on one set of saved logits; :func:`select_on_validation`
picks the variant / tau of each family on a validation split and reports that choice on
test, never selecting on test.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from .losses import _full_weights, _scaled_logits, _weights_like, check_tau
from .metrics import SHOT_THRESHOLDS, summarize
from .weights import VARIANTS, ArrayLike, check_counts, compute_weights, log_prior

__all__ = ["adjust_logits", "logit_adjustment", "norcal_scores", "tau_normalize", "tau_normalized_logits", "FAMILIES",
           "DEFAULT_TAUS", "SELECT_METRICS", "Adjustment", "posthoc_adjustments", "posthoc_sweep",
           "select_on_validation"]

logger = logging.getLogger(__name__)

#: Post-hoc families, in table order: multiplicative IIF (paper Eq. 4), additive logit
#: adjustment (Menon et al.), tau-normalised classifier (Kang et al.).
FAMILIES = ("iif", "logit_adjustment", "tau_norm")

#: The default tau grid of logit adjustment and tau-normalisation: 0, 0.25, ..., 2.
DEFAULT_TAUS: tuple[float, ...] = tuple(i / 4 for i in range(9))

#: Metrics :func:`select_on_validation` can select by, and whether higher is better.
SELECT_METRICS = {"balanced": True, "top1": True, "nll": False, "ece": False,
                  # multi-label rows (summarize_multilabel): mAP and the thresholded F1 scores
                  "map": True, "cf1": True, "of1": True}


def adjust_logits(logits: Tensor, weights: Tensor, background: bool = False) -> Tensor:
    """Post-process IIF: ``z' = w * z`` (paper Eq. 4).

    Args:
        logits: ``(..., C)``, or ``(..., C+1)`` with ``background=True`` (background last).
        weights: ``(C,)`` IIF weights; the background column, if any, is left alone.

    Weights from :func:`iif.compute_weights` are positive for every variant except
    ``rel``/``normit`` with a class above K/2, so the sign of each logit is kept. NaN or infinite
    weights are refused. float16 logits are multiplied in float32 and returned as float16 when
    every product fits; a product beyond float16's 65504 is refused (pass ``logits.float()``)
    rather than silently turned into ``inf``.
    """
    if not isinstance(logits, Tensor) or logits.dim() < 1:
        raise ValueError("adjust_logits: logits must be a tensor with a class dimension")
    dtype = torch.float32 if logits.dtype == torch.float16 else None  # float16: the product in float32
    w = _full_weights(_weights_like(weights, logits, "adjust_logits", dtype), logits.shape[-1], background)
    return _scaled_logits(logits, w, "adjust_logits")


def logit_adjustment(logits: Tensor, counts: ArrayLike, tau: float = 1.0, background: bool = False) -> Tensor:
    """Post-hoc additive logit adjustment (Menon et al., ICLR 2021): ``z - tau * log(prior)``.

    ``logits`` ``(..., C)``; ``counts`` ``(C,)`` training counts. With ``background=True`` (a
    softmax detector's ``(..., C+1)`` logits, background last as in MMDetection) the foreground
    logits become ``z_c - tau * log p_c`` and the background logit is left untouched. Since
    ``log p_c < 0`` every foreground logit rises against the background, by at least
    ``tau * log(C)`` on average: the additive shift that the IIF paper (Fig. 1) says turns
    background into rare-class false positives.
    """
    tau = check_tau(tau, "logit_adjustment")
    prior = log_prior(counts, device=logits.device).to(logits.dtype)
    if background:
        return logits - _full_weights(tau * prior, logits.shape[-1], True, fill=0.0, what="counts")
    if prior.shape[0] != logits.shape[-1]:
        raise ValueError(f"counts have {prior.shape[0]} classes, logits {logits.shape[-1]}")
    return logits - tau * prior


def norcal_scores(logits: Tensor, counts: ArrayLike, gamma: float = 1.0) -> Tensor:
    """NorCal (Pan et al., NeurIPS 2021): a softmax detector's scores recalibrated by training frequency.

    ``logits`` ``(..., C+1)``, background last (MMDetection); ``counts`` ``(C,)`` training
    frequencies (NorCal uses each category's training ``image_count``). With ``p = softmax(z)``,
    each foreground score is divided by ``n_c^gamma``, the background score is kept, and the
    ``C+1`` scores are renormalised to sum to 1:

        ``s_c = (p_c / n_c^gamma) / (sum_k p_k / n_k^gamma + p_bg)``,   ``s_bg = p_bg / (same)``.

    Returns the ``(..., C+1)`` scores. Computed as ``softmax([z_c - gamma * log n_c, z_bg])``, which
    is the same (the softmax's normaliser cancels in the renormalisation) and stays finite for
    large logits; this is the authors' default ``exps`` mode (their ``probs`` mode gives the same
    scores). ``gamma = 0`` is the plain softmax. Unlike :func:`logit_adjustment`, the shift uses
    counts, not the prior: against the background it lowers every foreground score.
    """
    if not isinstance(logits, Tensor) or not logits.is_floating_point() or logits.dim() < 1:
        raise ValueError(f"norcal_scores: logits must be a floating-point tensor (..., C+1), got "
                         f"{type(logits).__name__} {getattr(logits, 'dtype', '')} {tuple(getattr(logits, 'shape', ()))}")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) or gamma < 0:
        raise ValueError(f"norcal_scores: gamma must be a finite number >= 0, got {gamma!r}")
    n = check_counts(counts, "counts")
    # log n_c = log p_c + log sum(n); log_prior refuses a class with no training sample (n_c^-gamma infinite).
    log_n = log_prior(n, device=logits.device).double() + math.log(n.sum())
    shift = _full_weights((-gamma * log_n).to(logits.dtype), logits.shape[-1], True, fill=0.0, what="counts")
    return torch.softmax(logits + shift, dim=-1)


def tau_normalize(weight: Tensor, tau: float = 1.0) -> Tensor:
    """tau-normalisation (Kang et al., ICLR 2020): ``W_j / ||W_j||^tau`` for each class row.

    ``weight`` ``(C, D)`` is a linear classifier's weight; returns a new ``(C, D)`` tensor.
    ``tau = 0`` leaves it unchanged, ``tau = 1`` makes every row unit-norm. The bias is
    conventionally dropped when using the result.
    """
    if weight.dim() != 2:
        raise ValueError(f"classifier weight must be (C, D), got shape {tuple(weight.shape)}")
    if tau < 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    norms = weight.norm(dim=1, keepdim=True).clamp_min(torch.finfo(weight.dtype).tiny)
    return weight / norms.pow(tau)


def tau_normalized_logits(logits: Tensor, weight: Tensor, bias: Optional[Tensor], tau: float) -> Tensor:
    """Logits of the tau-normalised classifier, computed from the original logits (no features needed).

    A linear classifier gives ``z = x W^T + b``; the tau-normalised one (bias dropped, Kang et al.)
    gives ``x (W_c / ||W_c||^tau)^T = (z_c - b_c) / ||W_c||^tau``, which is what this returns.

    Args:
        logits: ``(N, C)`` outputs of the linear classifier with weight ``(C, D)`` and ``bias`` ``(C,)`` or None.
    """
    if weight.dim() != 2 or weight.shape[0] != logits.shape[-1]:
        raise ValueError(f"classifier weight must be (C, D) with C = {logits.shape[-1]}, got {tuple(weight.shape)}")
    if tau < 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    w = weight.to(device=logits.device, dtype=torch.float64)
    # The ratio ||tau_normalize(W)_c|| / ||W_c|| is ||W_c||^-tau: the formula stays in tau_normalize.
    factor = tau_normalize(w, tau).norm(dim=1) / w.norm(dim=1).clamp_min(torch.finfo(w.dtype).tiny)
    z = logits.double()
    if bias is not None:
        z = z - bias.to(device=logits.device, dtype=torch.float64)
    return (z * factor).to(logits.dtype)


@dataclass(frozen=True)
class Adjustment:
    """One post-hoc adjustment: ``family`` (one of :data:`FAMILIES`), ``param`` (IIF variant or tau)
    and its table name ``method``."""

    method: str
    family: str
    param: object


def _check_taus(taus: Sequence[float], name: str) -> list[float]:
    out = []
    for t in taus:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise ValueError(f"{name}: every tau must be a finite number >= 0, got {t!r} in {list(taus)}")
        out.append(float(t))
    return out


def _adjustment_ops(logits: Tensor, train_counts: ArrayLike, variants: Sequence[str], la_taus: Sequence[float],
                    tn_taus: Sequence[float], head_weight: Optional[Tensor], head_bias: Optional[Tensor],
                    prefix: str) -> Iterator[tuple[Adjustment, Optional[Callable[[Tensor], Tensor]], Optional[Tensor]]]:
    """``(adjustment, op, adjusted)`` for every method: ``op`` an elementwise map of logit rows
    (IIF, logit adjustment), or ``adjusted`` the ``(N, C)`` result (tau-norm, which needs the head)."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown IIF variant(s) {unknown}; expected some of {list(VARIANTS)}")
    la_taus, tn_taus = _check_taus(la_taus, "la_taus"), _check_taus(tn_taus, "tn_taus")
    counts = check_counts(train_counts, "train_counts")
    if counts.shape[0] != logits.shape[-1]:
        raise ValueError(f"train_counts have {counts.shape[0]} classes, logits {logits.shape[-1]}")
    for v in variants:
        try:
            w = compute_weights(counts, v)
        except ValueError as exc:
            logger.info("post-process IIF %s skipped: %s", v, exc)
            continue
        yield Adjustment(f"{prefix}post-process IIF {v}", "iif", v), (lambda z, w=w: adjust_logits(z, w)), None
    if la_taus and np.all(counts > 0):
        for tau in la_taus:
            yield (Adjustment(f"{prefix}post-hoc logit adj. tau={tau:g}", "logit_adjustment", tau),
                   (lambda z, tau=tau: logit_adjustment(z, counts, tau)), None)
    elif la_taus:
        logger.info("post-hoc logit adjustment skipped: a class has no training image (log-prior -inf)")
    if tn_taus:
        if head_weight is None:
            raise ValueError("tau-normalisation needs head_weight (C, D), the linear classifier's weight; "
                             "pass tn_taus=() for a model without one")
        for tau in tn_taus:
            yield (Adjustment(f"{prefix}tau-norm tau={tau:g}", "tau_norm", tau), None,
                   tau_normalized_logits(logits, head_weight, head_bias, tau))


def posthoc_adjustments(logits: Tensor, train_counts: ArrayLike, variants: Sequence[str] = VARIANTS,
                        la_taus: Sequence[float] = DEFAULT_TAUS, tn_taus: Sequence[float] = (),
                        head_weight: Optional[Tensor] = None, head_bias: Optional[Tensor] = None,
                        prefix: str = "") -> Iterator[tuple[Adjustment, Tensor]]:
    """Yield ``(adjustment, adjusted logits (N, C))`` for every post-hoc method.

    - post-process IIF, one per ``variants`` entry (``w * z``); a variant that the counts make
      infinite (a class without training images) is skipped with a log message;
    - additive logit adjustment for each ``la_taus`` (skipped if a class has no training image);
    - tau-normalisation for each ``tn_taus`` (needs ``head_weight`` ``(C, D)`` of a linear classifier).
    """
    for adj, op, adjusted in _adjustment_ops(logits, train_counts, variants, la_taus, tn_taus, head_weight,
                                             head_bias, prefix):
        yield adj, (op(logits) if op is not None else adjusted)


def posthoc_sweep(logits: Tensor, labels: Tensor, train_counts: ArrayLike, variants: Sequence[str] = VARIANTS,
                  la_taus: Sequence[float] = DEFAULT_TAUS, tn_taus: Sequence[float] = (),
                  head_weight: Optional[Tensor] = None, head_bias: Optional[Tensor] = None,
                  shot_thresholds: tuple[int, int] = SHOT_THRESHOLDS, prefix: str = "") -> list[dict]:
    """Score every post-hoc adjustment of ``logits`` ``(N, C)`` against ``labels`` ``(N,)``.

    One row per :func:`posthoc_adjustments` entry: ``method``, ``family``, ``param`` plus the
    metrics of :func:`iif.metrics.summarize`. Equal, row for row, to adjusting and scoring each
    method separately; IIF and logit adjustment are applied chunk by chunk inside the scoring
    pass, so no adjusted ``(N, C)`` copy is made (docs/BENCHMARKS.md, row 4).
    """
    rows = []
    for adj, op, adjusted in _adjustment_ops(logits, train_counts, variants, la_taus, tn_taus, head_weight,
                                             head_bias, prefix):
        metrics = (summarize(logits, labels, train_counts, shot_thresholds, transform=op) if op is not None
                   else summarize(adjusted, labels, train_counts, shot_thresholds))
        rows.append(dict(method=adj.method, family=adj.family, param=adj.param, **metrics))
    return rows


def select_on_validation(val_rows: Sequence[dict], test_rows: Sequence[dict], metric: str = "balanced",
                         groups: Optional[dict[str, Sequence[str]]] = None) -> list[dict]:
    """Choose within each group the method that is best on the validation split; report it on test.

    Args:
        val_rows, test_rows: rows with a ``method`` name and metrics (e.g. from :func:`posthoc_sweep`
            on the validation and the test logits); the same methods on both splits.
        metric: one of :data:`SELECT_METRICS` (higher is better for accuracies, lower for NLL / ECE).
        groups: ``{group name: [methods]}``; default: one group per ``family`` present, plus
            ``"any"`` over every row.

    Returns one row per group: the *test* row of the chosen method, with ``method`` renamed
    ``"<group> chosen on val: <method>"`` and ``selected``, ``group``, ``val_<metric>`` added.
    Test numbers never influence the choice; ties go to the earlier row.
    """
    if metric not in SELECT_METRICS:
        raise ValueError(f"unknown selection metric {metric!r}; expected one of {list(SELECT_METRICS)}")
    higher = SELECT_METRICS[metric]
    val = {r["method"]: r for r in val_rows}
    test = {r["method"]: r for r in test_rows}
    if set(val) != set(test):
        raise ValueError(f"validation and test rows must cover the same methods; only on validation: "
                         f"{sorted(set(val) - set(test))[:5]}, only on test: {sorted(set(test) - set(val))[:5]}")
    if groups is None:
        groups = {}
        for r in val_rows:
            if r.get("family"):
                groups.setdefault(r["family"], []).append(r["method"])
        groups["any"] = [r["method"] for r in val_rows]
    out = []
    for name, methods in groups.items():
        unknown = [m for m in methods if m not in val]
        if unknown:
            raise ValueError(f"group {name!r} names methods without rows: {unknown[:5]}")
        scored = [(val[m][metric], i, m) for i, m in enumerate(methods) if val[m][metric] is not None]
        if not scored:
            logger.info("group %r: no method has a validation %s; nothing selected", name, metric)
            continue
        best = max(scored, key=lambda t: (t[0] if higher else -t[0], -t[1]))
        chosen = best[2]
        row = dict(test[chosen])
        row.update(method=f"{name} chosen on val: {chosen}", selected=chosen, group=name,
                   **{f"val_{metric}": best[0]})
        out.append(row)
    return out


# ----------------------------------------------------------------------------- multi-label

__all__ += ["multilabel_posthoc_adjustments", "multilabel_posthoc_sweep"]


def _multilabel_weights(logits: Tensor, train_counts: ArrayLike, num_images: int,
                        variants: Sequence[str]) -> Iterator[tuple[str, Tensor]]:
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown IIF variant(s) {unknown}; expected some of {list(VARIANTS)}")
    counts = check_counts(train_counts, "train_counts")
    if logits.dim() != 2 or counts.shape[0] != logits.shape[-1]:
        raise ValueError(f"train_counts have {counts.shape[0]} classes, logits have shape {tuple(logits.shape)}; "
                         f"expected (N, {counts.shape[0]})")
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or num_images < 1:
        raise ValueError(f"num_images (K, the number of training images) must be a positive integer, "
                         f"got {num_images!r}")
    for v in variants:
        try:
            # K = training images: in multi-label data sum(counts) counts an image once per label.
            yield v, compute_weights(counts, v, total=int(num_images))
        except ValueError as exc:
            logger.info("post-process IIF %s skipped: %s", v, exc)


def multilabel_posthoc_adjustments(logits: Tensor, train_counts: ArrayLike, num_images: int,
                                   variants: Sequence[str] = VARIANTS, prefix: str = ""
                                   ) -> Iterator[tuple[Adjustment, Tensor]]:
    """Post-process IIF of sigmoid logits: yield ``(adjustment, w * z (N, C))`` for every variant.

    ``train_counts`` ``(C,)`` are training images per class and ``num_images`` is ``K`` (see
    :func:`iif.multilabel_counts`). Each class's binary logit is scaled by its weight,
    ``sigmoid(w_c z_c)``, the paper's Eq. 4 per class. A variant that the counts make infinite
    is skipped with a log message.

    A positive weight does not change the order of a class's scores, so it leaves that class's
    AP (and mAP) unchanged; nor the sign of a logit, so ``sigmoid(w z) >= 0.5`` exactly when
    ``sigmoid(z) >= 0.5`` and CF1 / OF1 at 0.5 are unchanged too. Only the probabilities move
    (calibration, other thresholds, rankings across classes within an image), and a negative
    weight (``rel`` / ``normit`` for a class in more than half the images) flips that class.
    """
    for v, w in _multilabel_weights(logits, train_counts, num_images, variants):
        yield Adjustment(f"{prefix}post-process IIF {v}", "iif", v), adjust_logits(logits, w)


def multilabel_posthoc_sweep(logits: Tensor, targets: Tensor, train_counts: ArrayLike, num_images: int,
                             variants: Sequence[str] = VARIANTS, thresholds: Optional[tuple[int, int]] = None,
                             prob_threshold: float = 0.5, prefix: str = "") -> list[dict]:
    """Score post-process IIF of every variant on sigmoid ``logits`` ``(N, C)`` against ``targets`` ``(N, C)``.

    One row per :func:`multilabel_posthoc_adjustments` entry: ``method``, ``family``, ``param``
    plus the metrics of :func:`iif.metrics.summarize_multilabel` (``map``, ``head`` ... ``of1``).
    Select a variant on validation rows with :func:`select_on_validation` (``metric="map"`` or
    ``"cf1"``), never on test.
    """
    from .metrics import MULTILABEL_GROUP_THRESHOLDS, summarize_multilabel

    thresholds = MULTILABEL_GROUP_THRESHOLDS if thresholds is None else thresholds
    rows = []
    for v, w in _multilabel_weights(logits, train_counts, num_images, variants):
        metrics = summarize_multilabel(logits, targets, train_counts, thresholds,
                                       transform=lambda z, w=w: adjust_logits(z, w), prob_threshold=prob_threshold)
        rows.append(dict(method=f"{prefix}post-process IIF {v}", family="iif", param=v, **metrics))
    return rows
