"""IIF for MMDetection's box classifier: the loss, and the softmax that scores detections.

Design: MMDetection's ``BBoxHead`` already lets a classification loss own the activation
(``custom_cls_channels`` / ``custom_activation`` / ``get_activation``, the pattern of
mmdet's ``SeesawLoss``). :class:`IIFLoss` uses it, so IIF works in the stock
``Shared2FCBBoxHead`` and in every stage of Cascade Mask R-CNN and HTC without a new head
class. The cosine box classifier and the normalised mask predictor are mmdet's own
``NormedLinear`` / ``NormedConv2d`` (``cls_predictor_cfg`` / ``predictor_cfg``).

Paper Eq. 4-5 on ``(N, C+1)`` logits, background last: ``p = softmax(w * z)`` with the
background weight exactly 1, both in the training loss and at inference. The math is
:func:`iif.iif_cross_entropy` / :func:`iif.adjust_logits`; nothing is re-implemented here.
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.models.losses.accuracy import accuracy
from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.registry import MODELS
from mmengine.logging import print_log
from torch import Tensor, nn

from iif import FREQUENCY_KINDS, VARIANTS, adjust_logits, compute_weights, frequencies_from_annotations
from iif import iif_cross_entropy
from iif.annotations import AnnotationFrequencies
from iif.weights_io import load_weights_csv

__all__ = ["IIFLoss", "head_counts"]


def head_counts(freqs: AnnotationFrequencies, num_classes: int, kind: str,
                category_ids: Optional[Sequence[int]] = None, source: str = "annotations") -> tuple[np.ndarray, int]:
    """``(C,)`` counts of ``kind`` (``"image"`` / ``"instance"``) and their total ``K`` for a box head
    of ``num_classes``, in the order of ``category_ids`` (the dataset's ``cat_ids``; default:
    categories sorted by id). Refuses a file whose category count is not the head's."""
    if freqs.num_classes != num_classes:
        raise ValueError(f"annotation file {source!r} has {freqs.num_classes} categories but the box head "
                         f"has num_classes={num_classes}")
    if category_ids is not None:
        freqs = freqs.in_order(category_ids)
    return freqs.counts(kind)


@MODELS.register_module()
class IIFLoss(nn.Module):
    """IIF cross-entropy for a ``BBoxHead`` whose classifier gives ``num_classes + 1`` logits.

    Weights come from, in order: ``weights_file`` (CSV, :mod:`iif.weights_io`); ``ann_file``
    (an LVIS/COCO json, counted here); otherwise :class:`mmdet_ext.IIFWeightsHook` fills them
    from the training dataset's annotation file before training, and a checkpoint restores
    them for testing (they are a buffer).

    Args:
        num_classes: foreground classes ``C``.
        variant: an IIF variant (:data:`iif.VARIANTS`); the paper's best LVIS setting is ``base10``.
        frequency: ``"instance"`` (IOF, K = number of annotations) or ``"image"`` (IIF, K = images).
        ann_file / weights_file: optional explicit sources (see above).
        loss_weight: multiplier of the loss.
    """

    def __init__(self, num_classes: int, variant: str = "base10", frequency: str = "instance",
                 ann_file: Optional[str] = None, weights_file: Optional[str] = None, loss_weight: float = 1.0,
                 reduction: str = "mean") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown IIF variant {variant!r}; expected one of {sorted(VARIANTS)}")
        if frequency not in FREQUENCY_KINDS:
            raise ValueError(f"unknown frequency {frequency!r}; expected one of {list(FREQUENCY_KINDS)}")
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"unknown reduction {reduction!r}; expected 'none', 'mean' or 'sum'")
        self.num_classes = int(num_classes)
        self.variant, self.frequency = variant, frequency
        self.loss_weight, self.reduction = float(loss_weight), reduction
        # BBoxHead hooks (see module docstring).
        self.custom_cls_channels = True
        self.custom_activation = True
        self.custom_accuracy = True
        self.register_buffer("weights", torch.ones(self.num_classes))
        self.ready = False  # weights set from a file, the hook or a checkpoint
        self.explicit = weights_file is not None or ann_file is not None
        if weights_file is not None:
            self.set_weights(load_weights_csv(weights_file, self.num_classes)[0])
        elif ann_file is not None:
            self.set_weights_from_annotations(ann_file)

    # ------------------------------------------------------------------ weights
    def set_weights(self, weights: Tensor) -> None:
        """Use ``(num_classes,)`` foreground weights (the background's is always 1)."""
        weights = torch.as_tensor(weights, dtype=torch.float32)
        if weights.shape != (self.num_classes,):
            raise ValueError(f"IIFLoss has num_classes={self.num_classes} but got {tuple(weights.shape)} weights")
        self.weights.copy_(weights.to(self.weights.device))
        self.ready = True

    def set_weights_from_annotations(self, ann_file: str, category_ids: Optional[list[int]] = None) -> None:
        """Count ``ann_file`` and set the weights; ``category_ids`` gives the label order (the
        dataset's ``cat_ids``), default: categories sorted by id."""
        counts, total = head_counts(frequencies_from_annotations(ann_file), self.num_classes, self.frequency,
                                    category_ids, ann_file)
        self.set_weights(compute_weights(counts, self.variant, total=total))
        # MMEngine's logger, so the line lands in the run's log file next to the losses
        print_log(f"IIF {self.variant} {'IOF' if self.frequency == 'instance' else 'IIF'} weights from {ann_file} "
                  f"(K={total}): min {float(self.weights.min()):.3f}, max {float(self.weights.max()):.3f}",
                  logger="current", level=logging.INFO)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if prefix + "weights" in state_dict:
            self.ready = True  # weights restored from a checkpoint

    def _check_ready(self) -> None:
        if not self.ready:
            raise RuntimeError("IIFLoss weights are not set: train with mmdet_ext.IIFWeightsHook in custom_hooks, "
                               "give loss_cls.ann_file or loss_cls.weights_file, or load a checkpoint trained with IIF")

    # --------------------------------------------------------------- BBoxHead API
    def get_cls_channels(self, num_classes: int) -> int:
        if num_classes != self.num_classes:
            raise ValueError(f"box head num_classes={num_classes} but IIFLoss num_classes={self.num_classes}")
        return num_classes + 1

    def adjust(self, cls_score: Tensor) -> Tensor:
        """``w * z`` with background weight 1 (paper Eq. 4); ``(N, C+1)``."""
        self._check_ready()
        return adjust_logits(cls_score, self.weights, background=True)

    def get_activation(self, cls_score: Tensor) -> Tensor:
        """Detection scores ``softmax(w * z)`` ``(N, C+1)`` (paper Eq. 5)."""
        return F.softmax(self.adjust(cls_score), dim=-1)

    def get_accuracy(self, cls_score: Tensor, labels: Tensor) -> dict:
        return dict(acc=accuracy(self.adjust(cls_score), labels))

    def forward(self, cls_score: Tensor, labels: Tensor, label_weights: Optional[Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None) -> Tensor:
        """IIF-CE of ``cls_score`` ``(N, C+1)`` against ``labels`` ``(N,)`` (C = background)."""
        self._check_ready()
        reduction = reduction_override or self.reduction
        loss = iif_cross_entropy(cls_score, labels, self.weights, reduction="none", background=True)
        if label_weights is not None:
            label_weights = label_weights.float()
        return self.loss_weight * weight_reduce_loss(loss, label_weights, reduction=reduction, avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, variant={self.variant!r}, frequency={self.frequency!r}"
