"""MMDetection plugin for IIF (load with ``custom_imports=dict(imports=['mmdet_ext'])``).

Registers :class:`IIFLoss` and the additive baselines :class:`BalancedSoftmaxLoss`,
:class:`PosthocLogitAdjustmentLoss`, :class:`NorCalLoss` (MODELS), :class:`ClassFrequencyHook`
(HOOKS; also under its former name ``IIFWeightsHook``) and :class:`FasterLVISMetric` (METRICS).
The IIF math is imported from :mod:`iif`.
Importing it also lets MMEngine checkpoints load with torch's safe (weights-only) unpickling
(:func:`iif.safe_load.allow_mmengine_checkpoints`), so ``mim train ... --resume`` works as is.
"""
from iif.safe_load import allow_mmengine_checkpoints

from .backbones import TVMobileNetV2
from .fasa import FASAHook, FASAShared2FCBBoxHead
from .additive import BalancedSoftmaxLoss, ClassCountsLoss, NorCalLoss, PosthocLogitAdjustmentLoss
from .hooks import ClassFrequencyHook, IIFWeightsHook, training_annotation_file
from .iif_loss import IIFLoss
from .lvis_eval import evaluate_lvis
from .metrics import FasterLVISMetric

allow_mmengine_checkpoints()

__all__ = ["TVMobileNetV2", "IIFLoss", "BalancedSoftmaxLoss", "PosthocLogitAdjustmentLoss", "NorCalLoss",
           "ClassCountsLoss", "ClassFrequencyHook", "IIFWeightsHook", "FasterLVISMetric", "evaluate_lvis",
           "training_annotation_file", "FASAShared2FCBBoxHead", "FASAHook"]
