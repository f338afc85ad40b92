"""Fill every :class:`IIFLoss` of a model from the training set's own annotation file."""
from __future__ import annotations

from typing import Any

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from .iif_loss import IIFLoss

__all__ = ["IIFWeightsHook", "training_annotation_file"]


def training_annotation_file(dataset: Any) -> tuple[str, list[int]]:
    """The annotation file and label order (``cat_ids``) of a dataset, through wrappers such as
    ``ClassBalancedDataset`` (repeat-factor sampling) or ``RepeatDataset``."""
    seen = dataset
    while not hasattr(seen, "ann_file") and hasattr(seen, "dataset"):
        seen = seen.dataset
    ann_file = getattr(seen, "ann_file", None)
    if not ann_file:
        raise ValueError(f"cannot find an annotation file in the training dataset {type(dataset).__name__}; "
                         f"give loss_cls.ann_file or loss_cls.weights_file")
    cat_ids = getattr(seen, "cat_ids", None)
    return ann_file, (list(cat_ids) if cat_ids is not None else None)


@HOOKS.register_module()
class IIFWeightsHook(Hook):
    """Before training, compute the IIF weights of each ``IIFLoss`` that has no explicit source
    from the training dataloader's annotation file (K = images for IIF, annotations for IOF),
    in the dataset's label order. A resumed run recomputes the same weights.
    """

    priority = "VERY_HIGH"

    def before_train(self, runner) -> None:  # noqa: ANN001
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        losses = [m for m in model.modules() if isinstance(m, IIFLoss) and not m.explicit]
        if not losses:
            return
        ann_file, cat_ids = training_annotation_file(runner.train_dataloader.dataset)
        for loss in losses:
            loss.set_weights_from_annotations(ann_file, cat_ids)
