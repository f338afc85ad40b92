"""Fill every frequency-dependent loss of a model (IIF weights, additive baselines' counts) from
the training set's own annotation file."""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS
from torch import nn

from iif import frequencies_from_annotations

from .additive import ClassCountsLoss
from .iif_loss import IIFLoss

__all__ = ["ClassFrequencyHook", "IIFWeightsHook", "training_annotation_file", "training_annotation_file_from_cfg"]


def _annotated(dataset: Any) -> Any:
    """The innermost dataset with an ``ann_file``, through wrappers such as ``ClassBalancedDataset``
    (repeat-factor sampling) or ``RepeatDataset``."""
    seen = dataset
    while not hasattr(seen, "ann_file") and hasattr(seen, "dataset"):
        seen = seen.dataset
    return seen


def _category_ids(dataset: Any) -> Optional[list[int]]:
    """The label order (``cat_ids``) of a built dataset, or None when it has none."""
    cat_ids = getattr(_annotated(dataset), "cat_ids", None)
    return list(cat_ids) if cat_ids is not None else None


def training_annotation_file(dataset: Any) -> tuple[str, Optional[list[int]]]:
    """The annotation file and label order (``cat_ids``) of a built dataset, through wrappers."""
    ann_file = getattr(_annotated(dataset), "ann_file", None)
    if not ann_file:
        raise ValueError(f"cannot find an annotation file in the training dataset {type(dataset).__name__}; "
                         f"give loss_cls.ann_file (or weights_file / counts_file)")
    return ann_file, _category_ids(dataset)


def training_annotation_file_from_cfg(dataloader_cfg: Optional[Mapping[str, Any]]) -> str:
    """The training annotation file named by a ``train_dataloader`` config, without building the
    dataset (testing needs only the file): the innermost ``dataset`` with an ``ann_file``, joined
    with its ``data_root`` when relative, as MMEngine's ``BaseDataset`` does."""
    ds = dataloader_cfg.get("dataset") if isinstance(dataloader_cfg, Mapping) else None
    while isinstance(ds, Mapping) and not ds.get("ann_file"):
        ds = ds.get("dataset")
    if not isinstance(ds, Mapping):
        raise ValueError("the config has no train_dataloader dataset with an ann_file to count the training "
                         "classes from; give loss_cls.ann_file or loss_cls.counts_file")
    ann_file, root = str(ds["ann_file"]), ds.get("data_root")
    return os.path.join(root, ann_file) if root and not os.path.isabs(ann_file) else ann_file


def _needs_filling(module: nn.Module, stage: str) -> bool:
    """Before training every loss without an explicit source is (re)computed, so a resumed run gets
    the same values; before validation / testing only those still unset (a checkpoint restored
    IIF weights; the hook or a file already gave the counts)."""
    if not isinstance(module, (IIFLoss, ClassCountsLoss)) or module.explicit:
        return False
    return stage == "train" or not module.ready


@HOOKS.register_module()
class ClassFrequencyHook(Hook):
    """Fill each :class:`IIFLoss` (weights) and :class:`ClassCountsLoss` (counts) without an explicit
    source from the TRAINING annotation file, in the label order of the dataset at hand.

    - before training: from the training dataloader's dataset;
    - before validation / testing: losses still unset, e.g. a post-hoc head (logit adjustment,
      NorCal) on a plain softmax checkpoint, are filled from the ``train_dataloader`` config's
      annotation file (not built), in the label order of the evaluated dataset. An IIF head on a
      softmax checkpoint becomes post-process IIF the same way.
    """

    priority = "VERY_HIGH"

    def before_train(self, runner) -> None:  # noqa: ANN001
        self._fill(runner, "train")

    def before_val(self, runner) -> None:  # noqa: ANN001
        self._fill(runner, "val")

    def before_test(self, runner) -> None:  # noqa: ANN001
        self._fill(runner, "test")

    def _fill(self, runner, stage: str) -> None:  # noqa: ANN001
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        losses = [m for m in model.modules() if _needs_filling(m, stage)]
        if not losses:
            return
        if stage == "train":
            ann_file, cat_ids = training_annotation_file(runner.train_dataloader.dataset)
        else:
            ann_file = training_annotation_file_from_cfg(runner.cfg.get("train_dataloader"))
            loader = runner.val_dataloader if stage == "val" else runner.test_dataloader
            cat_ids = _category_ids(loader.dataset)
        freqs = None  # counted once for every head (three in a cascade)
        for loss in losses:
            if isinstance(loss, IIFLoss):
                loss.set_weights_from_annotations(ann_file, cat_ids)
            else:
                freqs = freqs if freqs is not None else frequencies_from_annotations(ann_file)
                loss.set_counts_from_frequencies(freqs, cat_ids, source=ann_file)


# The name of the configs written before the additive baselines: the same hook.
HOOKS.register_module(name="IIFWeightsHook", module=ClassFrequencyHook)
IIFWeightsHook = ClassFrequencyHook
