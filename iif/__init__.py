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
    norcal_scores,
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

# Multi-label (sigmoid) recognition: losses on multi-hot targets (N, C), post-process IIF of
# sigmoid logits, per-class AP / mAP with head / medium / tail groups.
from .losses import (  # noqa: E402
    MULTILABEL_LOSSES,
    AsymmetricLoss,
    BalancedAsymmetricLoss,
    BinaryCrossEntropy,
    CLIPContrastiveLoss,
    DBFocalLoss,
    IIFBinaryCrossEntropy,
    SigmoidFocalLoss,
    asymmetric_loss,
    bal_class_weights,
    balanced_asymmetric_loss,
    binary_cross_entropy,
    clip_contrastive_loss,
    db_focal_loss,
    iif_binary_cross_entropy,
    sigmoid_focal_loss,
)
from .metrics import (  # noqa: E402
    MULTILABEL_GROUP_THRESHOLDS,
    average_precision,
    group_mean_average_precision,
    mean_average_precision,
    multilabel_f1,
    multilabel_groups,
    summarize_multilabel,
)
from .posthoc import multilabel_posthoc_adjustments, multilabel_posthoc_sweep  # noqa: E402
from .weights import multilabel_counts  # noqa: E402

__version__ = "0.1.0"
