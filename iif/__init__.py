"""IIF: Inverse Image Frequency for long-tailed image recognition (Alexandridis et al., IEEE TIP 2023).

The core needs only torch, numpy and scipy::

    import iif
    w = iif.compute_weights(counts, "smooth")           # (C,) float32
    loss = iif.iif_cross_entropy(logits, target, w)      # end-to-end / decoupled
    scores = iif.adjust_logits(logits, w).softmax(-1)    # post-process
"""
from .annotations import (
    FREQUENCY_KINDS,
    AnnotationFrequencies,
    frequencies_from_annotations,
    weights_from_annotations,
)
from .losses import (
    LOSSES,
    BalancedSoftmaxLoss,
    CostSensitiveCrossEntropy,
    CrossEntropy,
    FocalLoss,
    IIFCrossEntropy,
    LDAMLoss,
    LogitAdjustedLoss,
    ResLTLoss,
    balanced_softmax_loss,
    build_loss,
    cost_sensitive_cross_entropy,
    focal_loss,
    iif_cross_entropy,
    ldam_loss,
    ldam_margins,
    logit_adjusted_cross_entropy,
    reslt_groups,
    reslt_loss,
)
from .metrics import (
    ShotAccuracy,
    expected_calibration_error,
    negative_log_likelihood,
    per_class_accuracy,
    reliability_bins,
    shot_accuracy,
    shot_groups,
    summarize,
)
from .posthoc import (
    adjust_logits,
    logit_adjustment,
    posthoc_adjustments,
    posthoc_sweep,
    select_on_validation,
    tau_normalize,
    tau_normalized_logits,
)
from .weights import (
    VARIANTS,
    ZERO_SAFE_VARIANTS,
    class_counts,
    compute_weights,
    effective_number_weights,
    log_prior,
)

__version__ = "0.1.0"
