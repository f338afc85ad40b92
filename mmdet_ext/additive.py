"""Additive long-tail baselines for MMDetection's box classifier: Balanced Softmax, post-hoc
logit adjustment and NorCal.

Each is a classification loss that owns its activation (``custom_cls_channels`` /
``custom_activation`` / ``get_activation`` / ``get_accuracy``, as :class:`mmdet_ext.IIFLoss`), on
``(N, C+1)`` logits with the background LAST, so they drop into the stock ``Shared2FCBBoxHead``
and every cascade stage. They differ from IIF in shifting logits by a class-frequency term
instead of scaling them (paper Fig. 1: the additive shift lifts rare classes over the background).

- :class:`BalancedSoftmaxLoss` (Ren et al., NeurIPS 2020): trains ``CE([z_c + log p_c, z_bg], y)``,
  predicts with the plain ``softmax(z)``.
- :class:`PosthocLogitAdjustmentLoss` (Menon et al., ICLR 2021): trains exactly as softmax CE,
  predicts with ``softmax([z_c - tau log p_c, z_bg])``.
- :class:`NorCalLoss` (Pan et al., NeurIPS 2021): trains exactly as softmax CE, predicts with the
  NorCal scores ``p_c / n_c^gamma`` renormalised with the untouched ``p_bg``.

The formulas are :func:`iif.balanced_softmax_loss`, :func:`iif.logit_adjustment` and
:func:`iif.norcal_scores`; nothing is re-implemented here. The two post-hoc heads have the softmax
head's parameters and no persistent state, so a softmax checkpoint loads into them unchanged.

Counts come, in order, from ``counts_file`` (a JSON list of ``C`` counts in label order), from
``ann_file`` (an LVIS/COCO json, counted here), or from :class:`mmdet_ext.ClassFrequencyHook`,
which fills them from the training annotation file before training, validation and testing.
They are a non-persistent buffer: never saved in, nor expected from, a checkpoint.
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.models.losses.accuracy import accuracy
from mmdet.models.losses.cross_entropy_loss import cross_entropy
from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.registry import MODELS
from mmengine.logging import print_log
from torch import Tensor, nn

from iif import FREQUENCY_KINDS, frequencies_from_annotations, logit_adjustment, norcal_scores
from iif.annotations import AnnotationFrequencies
from iif.losses.softmax import balanced_softmax_loss
from iif.weights import check_counts, log_prior

from .iif_loss import head_counts

__all__ = ["ClassCountsLoss", "BalancedSoftmaxLoss", "PosthocLogitAdjustmentLoss", "NorCalLoss"]


def _check_nonnegative(value: Any, name: str, owner: str) -> float:
    """``value`` as a float, refusing a bool, NaN / inf or a negative number with a message naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def load_counts_file(path: str, num_classes: int) -> np.ndarray:
    """``(C,)`` per-class training counts from a JSON file holding a list of ``C`` numbers in label
    order (or ``{"counts": [...]}``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"counts file {path!r} does not exist")
    with open(path) as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"counts file {path!r} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict):
        data = data.get("counts")
    counts = check_counts(data if data is not None else [], f"counts file {path!r}")
    if counts.shape[0] != num_classes:
        raise ValueError(f"counts file {path!r} has {counts.shape[0]} class counts but the box head has "
                         f"num_classes={num_classes}")
    return counts


class ClassCountsLoss(nn.Module):
    """Base of the additive baselines: per-class training counts ``(C,)`` and the ``BBoxHead`` hooks.

    Args:
        num_classes: foreground classes ``C``.
        frequency: ``"image"`` (images containing the class, LVIS ``image_count``: what NorCal and
            BALMS's LVIS code count) or ``"instance"`` (annotations).
        ann_file / counts_file: optional explicit sources (module docstring); otherwise
            :class:`mmdet_ext.ClassFrequencyHook` fills the counts.
        loss_weight, reduction: as mmdet's ``CrossEntropyLoss``.
    """

    def __init__(self, num_classes: int, frequency: str = "image", ann_file: Optional[str] = None,
                 counts_file: Optional[str] = None, loss_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        owner = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{owner}: num_classes must be a positive integer, got {num_classes!r}")
        if frequency not in FREQUENCY_KINDS:
            raise ValueError(f"{owner}: unknown frequency {frequency!r}; expected one of {list(FREQUENCY_KINDS)}")
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"{owner}: unknown reduction {reduction!r}; expected 'none', 'mean' or 'sum'")
        if ann_file is not None and counts_file is not None:
            raise ValueError(f"{owner}: give ann_file or counts_file, not both")
        self.num_classes, self.frequency = num_classes, frequency
        self.loss_weight, self.reduction = float(loss_weight), reduction
        # BBoxHead hooks: C+1 channels, our own scores and accuracy (see mmdet's BBoxHead).
        self.custom_cls_channels = True
        self.custom_activation = True
        self.custom_accuracy = True
        # Not a buffer: counts always come from a file or the hook, so a plain softmax checkpoint
        # (no such key) loads strictly, and a checkpoint never carries counts of another dataset.
        # Kept on the CPU: no device sync per call.
        self._counts_np: Optional[np.ndarray] = None
        self.explicit = ann_file is not None or counts_file is not None
        if counts_file is not None:
            self.set_counts(load_counts_file(counts_file, num_classes))
        elif ann_file is not None:
            self.set_counts_from_annotations(ann_file)

    @property
    def counts(self) -> Tensor:
        """The training counts ``(C,)`` as float32 (set from a file or the hook)."""
        return torch.as_tensor(self._checked_counts(), dtype=torch.float32)

    @property
    def ready(self) -> bool:
        """Whether the counts are set (from a file or the hook)."""
        return self._counts_np is not None

    # ------------------------------------------------------------------ counts
    def set_counts(self, counts: Any) -> None:
        """Use ``(num_classes,)`` training counts; every class needs at least one (log p_c finite)."""
        n = check_counts(counts, f"{type(self).__name__} counts")
        if n.shape[0] != self.num_classes:
            raise ValueError(f"{type(self).__name__} has num_classes={self.num_classes} but got {n.shape[0]} counts")
        log_prior(n)  # refuses a zero count here, naming the classes, rather than at the first forward
        self._counts_np = n

    def set_counts_from_frequencies(self, freqs: AnnotationFrequencies, category_ids: Optional[Sequence[int]] = None,
                                    source: str = "annotations") -> None:
        """Counts of kind ``self.frequency`` from counted annotations, in the order of ``category_ids``
        (the dataset's ``cat_ids``; default: categories sorted by id)."""
        counts, _ = head_counts(freqs, self.num_classes, self.frequency, category_ids, source)
        self.set_counts(counts)
        # MMEngine's logger, so the line lands in the run's log next to the metrics
        print_log(f"{type(self).__name__} {self.frequency} counts from {source}: min {int(counts.min())}, "
                  f"max {int(counts.max())}", logger="current", level=logging.INFO)

    def set_counts_from_annotations(self, ann_file: str, category_ids: Optional[Sequence[int]] = None) -> None:
        """Count ``ann_file`` and set the counts (see :meth:`set_counts_from_frequencies`)."""
        self.set_counts_from_frequencies(frequencies_from_annotations(ann_file), category_ids, source=ann_file)

    def _checked_counts(self) -> np.ndarray:
        if self._counts_np is None:
            raise RuntimeError(f"{type(self).__name__} class counts are not set: add dict(type='ClassFrequencyHook') "
                               f"to custom_hooks, or give loss_cls.ann_file or loss_cls.counts_file")
        return self._counts_np

    # --------------------------------------------------------------- BBoxHead API
    def get_cls_channels(self, num_classes: int) -> int:
        if num_classes != self.num_classes:
            raise ValueError(f"box head num_classes={num_classes} but {type(self).__name__} "
                             f"num_classes={self.num_classes}")
        return num_classes + 1  # the softmax head's shape: checkpoints move between these heads

    def get_accuracy(self, cls_score: Tensor, labels: Tensor) -> dict:
        """Training accuracy of the raw logits ``(N, C+1)``: the classifier that is being trained."""
        return dict(acc=accuracy(cls_score, labels))

    def get_activation(self, cls_score: Tensor) -> Tensor:
        """Plain ``softmax(z)`` over ``(N, C+1)``; the post-hoc heads override this."""
        return F.softmax(cls_score, dim=-1)

    def _reduce(self, loss: Tensor, label_weights: Optional[Tensor], avg_factor: Optional[float],
                reduction_override: Optional[str]) -> Tensor:
        reduction = reduction_override or self.reduction
        if label_weights is not None:
            label_weights = label_weights.float()
        return self.loss_weight * weight_reduce_loss(loss, label_weights, reduction=reduction, avg_factor=avg_factor)

    def forward(self, cls_score: Tensor, labels: Tensor, label_weights: Optional[Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None) -> Tensor:
        """Plain softmax CE of ``cls_score`` ``(N, C+1)`` against ``labels`` ``(N,)`` (C = background):
        mmdet's own ``cross_entropy``, so training equals ``CrossEntropyLoss(use_sigmoid=False)``."""
        reduction = reduction_override or self.reduction
        return self.loss_weight * cross_entropy(cls_score, labels, label_weights, reduction=reduction,
                                                avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, frequency={self.frequency!r}"


@MODELS.register_module()
class BalancedSoftmaxLoss(ClassCountsLoss):
    """Balanced Softmax for a softmax box classifier (Ren et al., NeurIPS 2020).

    Training: ``CE([z_c + log p_c, z_bg], y)`` on ``(N, C+1)`` logits, ``p_c = n_c / sum(n)``, the
    background logit untouched (:func:`iif.balanced_softmax_loss` with ``background=True``; its
    docstring gives the source: the authors' LVIS code has no background logit). Inference: the
    plain ``softmax(z)``, which the loss has trained to be the balanced posterior.
    """

    def forward(self, cls_score: Tensor, labels: Tensor, label_weights: Optional[Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None) -> Tensor:
        loss = balanced_softmax_loss(cls_score, labels, self._checked_counts(), reduction="none", background=True)
        return self._reduce(loss, label_weights, avg_factor, reduction_override)


@MODELS.register_module()
class PosthocLogitAdjustmentLoss(ClassCountsLoss):
    """Post-hoc logit adjustment (Menon et al., ICLR 2021) of a softmax detector.

    Training: plain softmax CE (identical to mmdet's ``CrossEntropyLoss``). Inference:
    ``softmax([z_c - tau log p_c, z_bg])`` ``(N, C+1)`` (:func:`iif.logit_adjustment`).

    Args:
        tau: strength of the adjustment, ``>= 0`` (``0`` is the plain softmax).
        Others: :class:`ClassCountsLoss`.
    """

    def __init__(self, num_classes: int, tau: float = 1.0, **kwargs: Any) -> None:
        tau = _check_nonnegative(tau, "tau", type(self).__name__)  # before counting a file
        super().__init__(num_classes, **kwargs)
        self.tau = tau

    def get_activation(self, cls_score: Tensor) -> Tensor:
        return F.softmax(logit_adjustment(cls_score, self._checked_counts(), self.tau, background=True), dim=-1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, tau={self.tau}"


@MODELS.register_module()
class NorCalLoss(ClassCountsLoss):
    """NorCal (Pan et al., NeurIPS 2021): post-hoc recalibration of a softmax detector.

    Training: plain softmax CE. Inference: :func:`iif.norcal_scores` ``(N, C+1)``: with
    ``p = softmax(z)``, ``s_c = (p_c / n_c^gamma) / Z`` and ``s_bg = p_bg / Z``,
    ``Z = sum_k p_k / n_k^gamma + p_bg``. Counts default to image counts (NorCal's ``image_count``).

    Args:
        gamma: exponent, ``>= 0`` (``0`` is the plain softmax). The authors' config default is
            0.0 (calibration off) and they select gamma on the training set (their Fig. 5), so no
            value is theirs by default; 1.0 here matches :func:`iif.norcal_scores`.
        Others: :class:`ClassCountsLoss`.
    """

    def __init__(self, num_classes: int, gamma: float = 1.0, **kwargs: Any) -> None:
        gamma = _check_nonnegative(gamma, "gamma", type(self).__name__)  # before counting a file
        super().__init__(num_classes, **kwargs)
        self.gamma = gamma

    def get_activation(self, cls_score: Tensor) -> Tensor:
        return norcal_scores(cls_score, self._checked_counts(), self.gamma)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gamma={self.gamma}"
