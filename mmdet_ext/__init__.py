"""MMDetection plugin for IIF (load with ``custom_imports=dict(imports=['mmdet_ext'])``).

Registers :class:`IIFLoss` (MODELS), :class:`IIFWeightsHook` (HOOKS) and
:class:`FasterLVISMetric` (METRICS). The IIF math is imported from :mod:`iif`.
Importing it also lets MMEngine checkpoints load with torch's safe (weights-only) unpickling
(:func:`iif.safe_load.allow_mmengine_checkpoints`), so ``mim train ... --resume`` works as is.
"""
from iif.safe_load import allow_mmengine_checkpoints

from .fasa import FASAHook, FASAShared2FCBBoxHead
from .hooks import IIFWeightsHook, training_annotation_file
from .iif_loss import IIFLoss
from .lvis_eval import evaluate_lvis
from .metrics import FasterLVISMetric

allow_mmengine_checkpoints()

__all__ = ["IIFLoss", "IIFWeightsHook", "FasterLVISMetric", "evaluate_lvis", "training_annotation_file",
           "FASAShared2FCBBoxHead", "FASAHook"]
