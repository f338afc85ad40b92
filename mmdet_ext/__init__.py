"""MMDetection plugin for IIF (load with ``custom_imports=dict(imports=['mmdet_ext'])``).

Registers :class:`IIFLoss` (MODELS), :class:`IIFWeightsHook` (HOOKS) and
:class:`FasterLVISMetric` (METRICS). The IIF math is imported from :mod:`iif`.
"""
from .hooks import IIFWeightsHook, training_annotation_file
from .iif_loss import IIFLoss
from .lvis_eval import evaluate_lvis
from .metrics import FasterLVISMetric

__all__ = ["IIFLoss", "IIFWeightsHook", "FasterLVISMetric", "evaluate_lvis", "training_annotation_file"]
