"""Sigmoid (multi-label) losses: BCE, focal, ASL, DB-Focal, BAL, IIF-BCE, and CLIP's contrastive loss.

Every classification loss here takes ``logits`` ``(N, C)`` and multi-hot ``targets`` ``(N, C)``
(bool, integer or float; one independent binary problem per class) and ``reduction``
``"mean"`` (over all ``N * C`` elements, as torchvision's ``sigmoid_focal_loss`` and the
reference ASL / DB / TailCLIP code do), ``"sum"`` or ``"none"`` (the ``(N, C)`` elementwise
losses). An empty batch gives 0 (with a zero gradient), as the softmax losses do.

Hard 0/1 targets are required where the loss uses the labels as masks (ASL, BAL, DB-Focal);
BCE, sigmoid focal and IIF-BCE also accept soft targets in ``[0, 1]`` (mixup).

Each function has a module beside it that keeps its per-class vectors as buffers; build them by
name with :func:`iif.build_loss` (names in :data:`iif.losses.MULTILABEL_LOSSES`). Losses that
need the number of training images ``K`` take it as ``num_images``; count it with
:func:`iif.multilabel_counts`.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..weights import ArrayLike, _name_classes, check_counts, compute_weights
from .softmax import _check, _empty, _reduce

__all__ = [
    "binary_cross_entropy",
    "BinaryCrossEntropy",
    "sigmoid_focal_loss",
    "SigmoidFocalLoss",
    "asymmetric_loss",
    "AsymmetricLoss",
    "db_focal_loss",
    "DBFocalLoss",
    "db_rebalance_weights",
    "db_negative_bias",
    "balanced_asymmetric_loss",
    "BalancedAsymmetricLoss",
    "bal_class_weights",
    "iif_binary_cross_entropy",
    "IIFBinaryCrossEntropy",
    "clip_contrastive_loss",
    "CLIPContrastiveLoss",
]

Number = Union[int, float]


# ----------------------------------------------------------------------------- checks


def _check_multilabel(logits: Tensor, targets: Tensor, reduction: str, name: str, hard: bool) -> Tensor:
    """Validate ``(N, C)`` logits and targets; return the targets in the logits' dtype.

    ``hard``: every entry must be 0 or 1; otherwise entries must lie in ``[0, 1]``.
    """
    if not isinstance(targets, Tensor):
        raise ValueError(f"{name}: targets must be a tensor (N, C), got {type(targets).__name__}")
    if logits.dim() != 2 or targets.shape != logits.shape:
        raise ValueError(
            f"{name}: targets of shape {tuple(targets.shape)} do not match logits of shape {tuple(logits.shape)}; "
            f"expected logits (N, C) and multi-hot targets (N, C) of the same shape"
        )
    _check(logits, targets, reduction, name)  # the reduction name (shapes are already checked)
    if targets.dtype == torch.bool or targets.numel() == 0:
        return targets.to(logits.dtype)
    if targets.is_complex() or not (targets.is_floating_point() or targets.dtype in _INT_DTYPES):
        raise ValueError(f"{name}: targets must be bool, integer or float, got dtype {targets.dtype}")
    if hard:
        bad = (targets != 0) & (targets != 1)
        what = "0 or 1 (hard multi-hot labels)"
    else:
        bad = ~((targets >= 0) & (targets <= 1))  # also catches NaN
        what = "in [0, 1]"
    if bool(bad.any()):  # one host sync per call: cheap beside a training step, and it catches bad labels
        row, col = (int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name}: targets must be {what}; entry ({row}, {col}) of the targets of shape "
            f"{tuple(targets.shape)} is {targets[row, col].item()!r}"
        )
    return targets.to(logits.dtype)


_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _empty_multilabel(logits: Tensor, reduction: str) -> Optional[Tensor]:
    """The loss of an empty batch: ``(0, C)`` zeros for ``"none"``, else a graph-connected 0."""
    empty = _empty(logits, reduction)
    if empty is not None and reduction == "none":
        return logits.new_zeros(logits.shape)
    return empty


def _vector(values: ArrayLike | Tensor, num_classes: int, like: Tensor, name: str) -> Tensor:
    """A ``(C,)`` per-class vector on ``like``'s device and dtype."""
    v = torch.as_tensor(values, device=like.device).to(like.dtype)
    if v.shape != (num_classes,):
        raise ValueError(f"{name} must be ({num_classes},), one value per logit column, got shape {tuple(v.shape)}")
    return v


def _one_minus_pt_pow(one_minus_pt: Tensor, gamma: Union[float, Tensor]) -> Tensor:
    """``(1 - p_t)^gamma`` with a finite gradient where ``1 - p_t`` is exactly 0.

    A saturated sigmoid makes ``1 - p_t`` exactly 0 in floating point; ``0^(gamma - 1)`` is
    infinite for ``gamma < 1`` and times the zero derivative gives NaN. Clamping at the smallest
    normal number changes the value by at most ``tiny^gamma`` and zeroes that gradient instead.
    """
    tiny = torch.finfo(one_minus_pt.dtype).tiny
    return one_minus_pt.clamp_min(tiny).pow(gamma)


# ------------------------------------------------------------------------------- BCE


def binary_cross_entropy(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Plain binary cross-entropy of ``sigmoid(logits)`` ``(N, C)`` against targets ``(N, C)`` in [0, 1].

    ``-[y log p + (1 - y) log(1 - p)]``, computed from the logits (log-sum-exp stable).
    """
    y = _check_multilabel(logits, targets, reduction, "binary_cross_entropy", hard=False)
    empty = _empty_multilabel(logits, reduction)
    if empty is not None:
        return empty
    return F.binary_cross_entropy_with_logits(logits, y, reduction=reduction)


class BinaryCrossEntropy(nn.Module):
    """Module form of :func:`binary_cross_entropy`."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return binary_cross_entropy(logits, targets, self.reduction)


# ----------------------------------------------------------------------------- focal


def _check_gamma(gamma: float, name: str) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma >= 0 or gamma == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {gamma!r}")
    return float(gamma)


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, gamma: float = 2.0, alpha: Optional[float] = None,
                       reduction: str = "mean") -> Tensor:
    """Sigmoid focal loss (Lin et al., ICCV 2017), per element ``alpha_t (1 - p_t)^gamma BCE``.

    ``p_t = p y + (1 - p)(1 - y)``; ``alpha_t = alpha y + (1 - alpha)(1 - y)`` when ``alpha`` is
    given (torchvision's default is 0.25; None here, so that ``gamma = 0`` is exactly BCE).
    """
    gamma = _check_gamma(gamma, "gamma")
    if alpha is not None and not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] or None, got {alpha!r}")
    y = _check_multilabel(logits, targets, reduction, "sigmoid_focal_loss", hard=False)
    empty = _empty_multilabel(logits, reduction)
    if empty is not None:
        return empty
    loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    if gamma != 0.0:
        p = torch.sigmoid(logits)
        # 1 - p_t = p (1 - y) + (1 - p) y, written without cancellation for hard targets.
        loss = loss * _one_minus_pt_pow(p * (1 - y) + (1 - p) * y, gamma)
    if alpha is not None:
        loss = loss * (alpha * y + (1.0 - alpha) * (1 - y))
    return _reduce(loss, reduction)


class SigmoidFocalLoss(nn.Module):
    """Module form of :func:`sigmoid_focal_loss`."""

    def __init__(self, gamma: float = 2.0, alpha: Optional[float] = None, reduction: str = "mean") -> None:
        super().__init__()
        self.gamma = _check_gamma(gamma, "gamma")
        self.alpha = alpha
        self.reduction = reduction

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return sigmoid_focal_loss(logits, targets, self.gamma, self.alpha, self.reduction)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}"


# ------------------------------------------------------------------------ ASL and BAL


def _check_clip(clip: float) -> float:
    if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not 0.0 <= clip < 1.0:
        raise ValueError(f"clip (the probability margin m) must be in [0, 1), got {clip!r}")
    return float(clip)


def _asymmetric(z: Tensor, y: Tensor, y_s: Tensor, pos_factor: Union[Tensor, float], gamma_pos: float,
                gamma_neg: float, clip: float, detach_focal: bool) -> Tensor:
    """The elementwise asymmetric loss ``-[f y_s log p + (1 - y) log p_m] (1 - p y_s - p_m (1 - y))^g``.

    ``p_m = min(1 - p + clip, 1)`` is the shifted negative probability (ASL's ``1 - max(p - m, 0)``),
    ``g = gamma_pos y_s + gamma_neg (1 - y)`` and ``f`` the positive factor (BAL's ``1 + w_c``).
    With ``y_s = y`` and ``f = 1`` this is ASL (Ridnik et al., ICCV 2021, Eq. 4-6).
    """
    log_p = F.logsigmoid(z)  # exact log p even where sigmoid underflows
    p = torch.sigmoid(z)
    if clip > 0:
        p_neg = (1.0 - p + clip).clamp(max=1.0)
        log_p_neg = torch.log(p_neg)  # p_neg >= clip > 0: finite value and gradient
    else:
        p_neg = torch.sigmoid(-z)
        log_p_neg = F.logsigmoid(-z)
    loss = pos_factor * y_s * log_p + (1 - y) * log_p_neg
    if gamma_pos > 0 or gamma_neg > 0:
        base = 1.0 - p * y_s - p_neg * (1 - y)
        # With label smoothing a negative's base is p - clip - p eps / C, which can dip below 0,
        # where a fractional power is NaN (TailCLIP's code then returns NaN); the clamp in
        # _one_minus_pt_pow holds it at ~0, the value it has without smoothing.
        w = _one_minus_pt_pow(base, gamma_pos * y_s + gamma_neg * (1 - y))
        if detach_focal:  # ASL's reference "disable_torch_grad_focal_loss"
            w = w.detach()
        loss = loss * w
    return -loss


def asymmetric_loss(logits: Tensor, targets: Tensor, gamma_pos: float = 0.0, gamma_neg: float = 4.0,
                    clip: float = 0.05, reduction: str = "mean", detach_focal: bool = False) -> Tensor:
    """Asymmetric loss (ASL; Ridnik et al., ICCV 2021) on ``(N, C)`` logits and hard targets.

    Per element ``-[y (1 - p)^gamma_pos log p + (1 - y) p_m^gamma_neg log(1 - p_m)]`` with the
    shifted probability ``p_m = max(p - clip, 0)`` (the paper's margin ``m``). Defaults: the
    paper's ``gamma_neg = 4``, ``gamma_pos = 0``, ``m = 0.05``. The authors' code sums over the
    batch (``reduction="sum"``; learning rates tuned for it); TailCLIP's copy, like every loss here
    by default, takes the mean.

    ``detach_focal``: whether the focusing weight ``(1 - p_t)^gamma`` is a constant in the backward
    pass. The loss value is the same either way; the gradient is not (up to 0.43 per logit for a
    negative at ``gamma_neg = 4``, ``m = 0.05``, ``z`` near 2; ``tests/test_fidelity.py``). The
    reference code has both: ``AsymmetricLossOptimized`` defaults to ``False`` (the default here, and
    what TailCLIP trains with), while ASL's own ``train.py`` builds ``AsymmetricLoss(...,
    disable_torch_grad_focal_loss=True)`` (Alibaba-MIIL/ASL@8c9e0bd ``train.py`` line 93,
    ``src/loss_functions/losses.py`` lines 57 and 94-100): ``detach_focal=True`` reproduces that
    (``--cfg-options loss.detach_focal=True`` for ``loss.type="asl"``).
    """
    gamma_pos, gamma_neg = _check_gamma(gamma_pos, "gamma_pos"), _check_gamma(gamma_neg, "gamma_neg")
    clip = _check_clip(clip)
    y = _check_multilabel(logits, targets, reduction, "asymmetric_loss", hard=True)
    empty = _empty_multilabel(logits, reduction)
    if empty is not None:
        return empty
    return _reduce(_asymmetric(logits, y, y, 1.0, gamma_pos, gamma_neg, clip, detach_focal), reduction)


class AsymmetricLoss(nn.Module):
    """Module form of :func:`asymmetric_loss`."""

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float = 0.05, reduction: str = "mean",
                 detach_focal: bool = False) -> None:
        super().__init__()
        self.gamma_pos = _check_gamma(gamma_pos, "gamma_pos")
        self.gamma_neg = _check_gamma(gamma_neg, "gamma_neg")
        self.clip = _check_clip(clip)
        self.reduction = reduction
        self.detach_focal = detach_focal

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return asymmetric_loss(logits, targets, self.gamma_pos, self.gamma_neg, self.clip, self.reduction,
                               self.detach_focal)

    def extra_repr(self) -> str:
        return f"gamma_pos={self.gamma_pos}, gamma_neg={self.gamma_neg}, clip={self.clip}"


def bal_class_weights(counts: ArrayLike, k: float = 0.7) -> Tensor:
    """BAL's class weights ``w_c = (N / n_c)^k`` normalised to a maximum of 1. Shape ``(C,)``.

    ``n_c`` are training images with class ``c`` (TailCLIP's ``class_weights_power = k``).
    ``N`` cancels in the normalisation (``w_c = (n_min / n_c)^k``), so it is not needed.
    """
    n = check_counts(counts, "counts")
    zero = np.flatnonzero(n == 0)
    if zero.size:
        raise ValueError(f"BAL class weights (N / n_c)^k are infinite for classes without training images: "
                         f"{_name_classes(zero)}")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not np.isfinite(k) or k < 0:
        raise ValueError(f"k must be a finite number >= 0, got {k!r}")
    w = np.power(n.min() / n, float(k))
    return torch.as_tensor(w, dtype=torch.float32)


def _check_smoothing(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {eps!r}")
    return float(eps)


def balanced_asymmetric_loss(logits: Tensor, targets: Tensor, weights: Optional[Tensor] = None,
                             gamma_pos: float = 0.0, gamma_neg: float = 12.0, clip: float = 0.05,
                             label_smoothing: float = 0.01, max_normalize: bool = True,
                             reduction: str = "mean", detach_focal: bool = False) -> Tensor:
    """Balanced asymmetric loss (BAL, TailCLIP) on ``(N, C)`` logits and hard targets.

    1. ``x = z / max(z)`` over the whole batch (``max_normalize``; TailCLIP divides so that
       large CLIP logits do not saturate the sigmoid). If that maximum is not positive the
       logits are left as they are: dividing by a negative maximum would flip every sign.
    2. ``p = sigmoid(x)``, ``p_neg = min(1 - p + clip, 1)``, ``y_s = (1 - eps) y + eps / C``.
    3. Per element ``l = [(1 + w_c) y_s log p + (1 - y) log p_neg]
       (1 - p y_s - p_neg (1 - y))^(gamma_pos y_s + gamma_neg (1 - y))``; the loss is ``-l``.

    ``weights`` ``(C,)`` are :func:`bal_class_weights` (None: all 0). Defaults are TailCLIP's
    VOC-MLT RN50 settings (``gamma_neg = 12``, ``gamma_pos = 0``, ``eps = 0.01``, clip 0.05), with
    the focusing weights in the graph (``detach_focal=False``) as TailCLIP's
    ``BalancedAsymmetricLossOptimized`` (damilab/lm-clip@9983999 ``asl_loss.py`` line 199); see
    :func:`asymmetric_loss` for what ``detach_focal=True`` changes.
    With ``weights = 0``, ``label_smoothing = 0`` and ``max_normalize = False`` it equals
    :func:`asymmetric_loss` with the same gammas and clip.
    """
    gamma_pos, gamma_neg = _check_gamma(gamma_pos, "gamma_pos"), _check_gamma(gamma_neg, "gamma_neg")
    clip, eps = _check_clip(clip), _check_smoothing(label_smoothing)
    y = _check_multilabel(logits, targets, reduction, "balanced_asymmetric_loss", hard=True)
    empty = _empty_multilabel(logits, reduction)
    if empty is not None:
        return empty
    c = logits.shape[1]
    pos_factor: Union[Tensor, float] = 1.0
    if weights is not None:
        pos_factor = 1.0 + _vector(weights, c, logits, "weights")
    z = logits
    if max_normalize:
        m = logits.max()  # differentiable, as in TailCLIP's code
        z = logits / torch.where(m > 0, m, torch.ones_like(m))
    y_s = (1.0 - eps) * y + eps / c if eps > 0 else y
    return _reduce(_asymmetric(z, y, y_s, pos_factor, gamma_pos, gamma_neg, clip, detach_focal), reduction)


class BalancedAsymmetricLoss(nn.Module):
    """Module form of :func:`balanced_asymmetric_loss`; the ``(C,)`` class weights are a buffer.

    Build it from class weights, or with :meth:`from_counts` from training image counts and ``k``.
    """

    def __init__(self, weights: Optional[ArrayLike] = None, gamma_pos: float = 0.0, gamma_neg: float = 12.0,
                 clip: float = 0.05, label_smoothing: float = 0.01, max_normalize: bool = True,
                 reduction: str = "mean", detach_focal: bool = False) -> None:
        super().__init__()
        w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if w is not None and w.dim() != 1:
            raise ValueError(f"BAL weights must be (C,), got shape {tuple(w.shape)}")
        self.register_buffer("weights", w)
        self.gamma_pos = _check_gamma(gamma_pos, "gamma_pos")
        self.gamma_neg = _check_gamma(gamma_neg, "gamma_neg")
        self.clip = _check_clip(clip)
        self.label_smoothing = _check_smoothing(label_smoothing)
        self.max_normalize = bool(max_normalize)
        self.reduction = reduction
        self.detach_focal = detach_focal

    @classmethod
    def from_counts(cls, counts: ArrayLike, k: float = 0.7, **kwargs: Any) -> "BalancedAsymmetricLoss":
        """Weights ``(N / n_c)^k / max`` from per-class training image counts ``(C,)``."""
        return cls(bal_class_weights(counts, k), **kwargs)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return balanced_asymmetric_loss(logits, targets, self.weights, self.gamma_pos, self.gamma_neg, self.clip,
                                        self.label_smoothing, self.max_normalize, self.reduction, self.detach_focal)

    def extra_repr(self) -> str:
        return (f"gamma_pos={self.gamma_pos}, gamma_neg={self.gamma_neg}, clip={self.clip}, "
                f"label_smoothing={self.label_smoothing}, max_normalize={self.max_normalize}")


# --------------------------------------------------------------------------- DB-Focal


def _check_num_images(counts: np.ndarray, num_images: Any, name: str) -> int:
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or num_images < 1:
        raise ValueError(f"{name} needs num_images (K, the number of training images) as a positive integer, "
                         f"got {num_images!r}; see iif.multilabel_counts")
    big = np.flatnonzero(counts > num_images)
    if big.size:
        raise ValueError(f"{name}: classes {_name_classes(big)} are counted in more images than "
                         f"num_images={num_images} (max count {counts.max():g})")
    return int(num_images)


def db_negative_bias(counts: ArrayLike, num_images: int, init_bias: float = 0.05, neg_scale: float = 2.0) -> Tensor:
    """DB-Focal's class-specific logit bias ``b_c = -(kappa / lambda) log(N / n_c - 1)``. Shape ``(C,)``.

    Negative-tolerant regularisation (Wu et al., ECCV 2020, Sec. 3.3) as in the authors'
    ``ResampleLoss`` (``logit_reg.init_bias = kappa``, ``neg_scale = lambda``): the bias is
    *added* to every logit before the negative scaling. The paper writes ``z - nu`` with
    ``nu = kappa b_hat``; the code, which produced the published numbers, is followed.
    """
    return torch.as_tensor(_db_bias(check_counts(counts, "counts"), num_images, init_bias, neg_scale),
                           dtype=torch.float32)


def _db_bias(n: np.ndarray, num_images: Any, init_bias: float, neg_scale: float) -> np.ndarray:
    """:func:`db_negative_bias` in float64."""
    k = _check_num_images(n, num_images, "db_negative_bias")
    if init_bias == 0:
        return np.zeros(len(n))
    bad = np.flatnonzero((n == 0) | (n == k))
    if bad.size:
        raise ValueError(f"the DB-Focal bias log(N / n_c - 1) is infinite for classes in no image or in every "
                         f"one of the N={k} images: {_name_classes(bad)}; use init_bias=0")
    return -np.log(k / n - 1.0) * init_bias / neg_scale


def db_rebalance_weights(targets: Tensor, freq_inv: Tensor, alpha: float = 0.1, beta: float = 10.0,
                         mu: float = 0.2) -> Tensor:
    """DB's re-balanced weights ``sigmoid(beta (r - mu)) + alpha`` ``(N, C)``.

    ``r_ik = (1 / n_k) / sum_{c in y_i} (1 / n_c)``: the ratio of the class-level sampling
    probability to the instance-level one of class-aware sampling (Wu et al., Eq. 4-5), for
    positives and negatives alike. ``freq_inv`` is ``1 / n`` ``(C,)``. An image without
    positive labels gets ``r = inf``, weight ``1 + alpha``, as the reference code's division does.
    """
    denom = (targets @ freq_inv).unsqueeze(1)  # (N, 1): sum of 1/n_c over the image's classes
    has_pos = denom > 0
    r = freq_inv.unsqueeze(0) / torch.where(has_pos, denom, torch.ones_like(denom))
    # r -> inf for an image without labels: the limit of beta (r - mu) (beta = 0 would give 0 * inf).
    limit = math.copysign(math.inf, beta) if beta != 0 else 0.0
    arg = torch.where(has_pos, beta * (r - mu), torch.full_like(r, limit))
    return torch.sigmoid(arg) + alpha


def _db_focal(z: Tensor, y: Tensor, freq_inv: Tensor, bias: Tensor, gamma: float, alpha: float, beta: float,
              mu: float, neg_scale: float, balance: float) -> Tensor:
    w = db_rebalance_weights(y, freq_inv, alpha, beta, mu)
    z = z + bias
    pos = y > 0
    # Negatives: (1 / lambda) log(1 + exp(lambda z)), i.e. BCE of lambda z weighted by 1 / lambda.
    z = torch.where(pos, z, z * neg_scale)
    w = torch.where(pos, w, w / neg_scale)
    bce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    one_minus_pt = -torch.expm1(-bce)  # 1 - exp(-BCE) = 1 - p_t, accurate near p_t = 1
    return balance * _one_minus_pt_pow(one_minus_pt, gamma) * w * bce


def _check_db_params(gamma: float, neg_scale: float, beta: float) -> None:
    _check_gamma(gamma, "gamma")
    if isinstance(neg_scale, bool) or not isinstance(neg_scale, (int, float)) or not 0 < neg_scale < float("inf"):
        raise ValueError(f"neg_scale (lambda) must be a finite number > 0, got {neg_scale!r}")
    if not np.isfinite(beta):
        raise ValueError(f"beta must be finite, got {beta!r}")


def _freq_inv(counts: np.ndarray) -> Tensor:
    zero = np.flatnonzero(counts == 0)
    if zero.size:
        raise ValueError(f"DB-Focal's re-balancing weights need 1 / n_c; classes {_name_classes(zero)} have no "
                         f"training image")
    return torch.as_tensor(1.0 / counts, dtype=torch.float32)


def db_focal_loss(logits: Tensor, targets: Tensor, counts: ArrayLike, num_images: int, gamma: float = 2.0,
                  alpha: float = 0.1, beta: float = 10.0, mu: float = 0.2, neg_scale: float = 2.0,
                  init_bias: float = 0.05, balance: float = 2.0, reduction: str = "mean") -> Tensor:
    """Distribution-balanced focal loss (DB-Focal; Wu et al., ECCV 2020) on ``(N, C)`` logits, hard targets.

    Per element, with ``z' = z + b_c`` (:func:`db_negative_bias`), ``w`` the re-balanced weight
    (:func:`db_rebalance_weights`) and ``lambda = neg_scale``:

    - positives: ``balance * (1 - p_t)^gamma * w * BCE(z', 1)``;
    - negatives: ``balance * (1 - p_t)^gamma * (w / lambda) * BCE(lambda z', 0)``,

    where ``p_t = exp(-BCE)`` of the same (scaled) logit. ``counts`` ``(C,)`` are training images
    per class, ``num_images`` is ``N``. Defaults are the COCO-MLT recipe of the authors' config
    (``mu = 0.2``, ``lambda = 2``); VOC-MLT uses ``mu = 0.3``, ``lambda = 5``. ``balance = 2`` is
    the reference's ``focal.balance_param``, a constant scale.
    """
    _check_db_params(gamma, neg_scale, beta)
    y = _check_multilabel(logits, targets, reduction, "db_focal_loss", hard=True)
    n = check_counts(counts, "counts")
    if n.shape[0] != logits.shape[1]:
        raise ValueError(f"db_focal_loss: counts have {n.shape[0]} classes, logits {tuple(logits.shape)}")
    bias = _db_bias(n, num_images, init_bias, neg_scale)
    _freq_inv(n)  # refuses classes without training images
    empty = _empty_multilabel(logits, reduction)
    if empty is not None:
        return empty
    # The per-class vectors in the logits' precision (float64 logits get float64 vectors).
    as_logits = dict(device=logits.device, dtype=logits.dtype)
    loss = _db_focal(logits, y, torch.as_tensor(1.0 / n, **as_logits), torch.as_tensor(bias, **as_logits),
                     float(gamma), alpha, beta, mu, neg_scale, balance)
    return _reduce(loss, reduction)


class DBFocalLoss(nn.Module):
    """Module form of :func:`db_focal_loss`; ``1 / n_c`` and the logit bias are ``(C,)`` buffers."""

    def __init__(self, counts: ArrayLike, num_images: int, gamma: float = 2.0, alpha: float = 0.1,
                 beta: float = 10.0, mu: float = 0.2, neg_scale: float = 2.0, init_bias: float = 0.05,
                 balance: float = 2.0, reduction: str = "mean") -> None:
        super().__init__()
        _check_db_params(gamma, neg_scale, beta)
        n = check_counts(counts, "counts")
        self.register_buffer("bias", db_negative_bias(n, num_images, init_bias, neg_scale))
        self.register_buffer("freq_inv", _freq_inv(n))
        self.num_images = int(num_images)
        self.gamma, self.alpha, self.beta, self.mu = float(gamma), float(alpha), float(beta), float(mu)
        self.neg_scale, self.init_bias, self.balance = float(neg_scale), float(init_bias), float(balance)
        self.reduction = reduction

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        y = _check_multilabel(logits, targets, self.reduction, "DBFocalLoss", hard=True)
        if logits.shape[1] != self.bias.shape[0]:
            raise ValueError(f"DBFocalLoss holds {self.bias.shape[0]} classes, logits have shape {tuple(logits.shape)}")
        empty = _empty_multilabel(logits, self.reduction)
        if empty is not None:
            return empty
        loss = _db_focal(logits, y, self.freq_inv.to(logits.dtype), self.bias.to(logits.dtype), self.gamma,
                         self.alpha, self.beta, self.mu, self.neg_scale, self.balance)
        return _reduce(loss, self.reduction)

    def extra_repr(self) -> str:
        return (f"num_classes={self.bias.shape[0]}, num_images={self.num_images}, gamma={self.gamma}, "
                f"mu={self.mu}, neg_scale={self.neg_scale}, init_bias={self.init_bias}")


# ------------------------------------------------------------------------- IIF-BCE


def iif_binary_cross_entropy(logits: Tensor, targets: Tensor, weights: Tensor, reduction: str = "mean") -> Tensor:
    """IIF for sigmoid logits: ``BCE(sigmoid(w_c z_c), y)`` on ``(N, C)`` logits and targets in [0, 1].

    ``weights`` ``(C,)`` come from :func:`iif.compute_weights` on image frequencies with
    ``total = K`` = the number of training images (:func:`iif.multilabel_counts` gives both):
    the paper's Eq. 4 applied to each class's binary logit. Unit weights give plain BCE.
    """
    y = _check_multilabel(logits, targets, reduction, "iif_binary_cross_entropy", hard=False)
    w = _vector(weights, logits.shape[1], logits, "weights")
    empty = _empty_multilabel(logits, reduction)
    if empty is not None:
        return empty
    return F.binary_cross_entropy_with_logits(logits * w, y, reduction=reduction)


class IIFBinaryCrossEntropy(nn.Module):
    """Module form of :func:`iif_binary_cross_entropy`; the ``(C,)`` weights are a buffer.

    Build it from weights, or with :meth:`from_counts` from image frequencies and ``K``.
    """

    def __init__(self, weights: ArrayLike, reduction: str = "mean") -> None:
        super().__init__()
        w = torch.as_tensor(weights, dtype=torch.float32)
        if w.dim() != 1:
            raise ValueError(f"IIF weights must be (C,), got shape {tuple(w.shape)}")
        self.register_buffer("weights", w)
        self.reduction = reduction

    @classmethod
    def from_counts(cls, counts: ArrayLike, variant: str = "smooth", num_images: Optional[int] = None,
                    **kwargs: Any) -> "IIFBinaryCrossEntropy":
        """``compute_weights(counts, variant, total=num_images)``: ``num_images`` is ``K`` and required,
        since in multi-label data ``sum(counts)`` is not the number of images."""
        n = check_counts(counts, "counts")
        k = _check_num_images(n, num_images, "IIFBinaryCrossEntropy.from_counts")
        return cls(compute_weights(n, variant, total=k), **kwargs)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return iif_binary_cross_entropy(logits, targets, self.weights, self.reduction)

    def adjust(self, logits: Tensor) -> Tensor:
        """``w * z`` ``(N, C)``: a model trained with this loss scores ``sigmoid(w * z)`` at inference too."""
        return logits * self.weights.to(logits.dtype)

    def extra_repr(self) -> str:
        return f"num_classes={self.weights.shape[0]}, reduction={self.reduction!r}"


# ------------------------------------------------------------------- CLIP contrastive


def clip_contrastive_loss(image_emb: Tensor, text_emb: Tensor, logit_scale: Union[Tensor, Number],
                          normalize: bool = True, reduction: str = "mean") -> Tensor:
    """CLIP's symmetric InfoNCE loss (Radford et al., 2021) between paired embeddings ``(N, D)``.

    ``s = logit_scale * img @ txt^T`` ``(N, N)``; image ``i`` and text ``i`` are the positive
    pair: ``(CE(s, arange N) + CE(s^T, arange N)) / 2``. ``logit_scale`` is the multiplier
    itself (CLIP's ``logit_scale.exp()``), a positive number or 0-dim tensor (learnable).
    ``normalize`` L2-normalises both embeddings first (CLIP models hand back raw features).
    ``reduction="none"`` gives the ``(N,)`` per-pair mean of the two directions.
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"clip_contrastive_loss: unknown reduction {reduction!r}; expected one of "
                         f"['none', 'mean', 'sum']")
    if image_emb.dim() != 2 or text_emb.shape != image_emb.shape:
        raise ValueError(f"clip_contrastive_loss: image embeddings of shape {tuple(image_emb.shape)} and text "
                         f"embeddings of shape {tuple(text_emb.shape)}; expected two (N, D) tensors of the same shape")
    scale = torch.as_tensor(logit_scale, device=image_emb.device, dtype=image_emb.dtype)
    if scale.dim() != 0:
        raise ValueError(f"logit_scale must be a scalar, got shape {tuple(scale.shape)}")
    if not isinstance(logit_scale, Tensor) and not logit_scale > 0:
        raise ValueError(f"logit_scale must be > 0, got {logit_scale!r}")
    n = image_emb.shape[0]
    if n == 0:
        return image_emb.new_zeros(0) if reduction == "none" else (image_emb.sum() + text_emb.sum()) * 0.0
    if normalize:
        image_emb = F.normalize(image_emb, dim=1)
        text_emb = F.normalize(text_emb, dim=1)
    s = scale * image_emb @ text_emb.t()
    labels = torch.arange(n, device=image_emb.device)
    per = (F.cross_entropy(s, labels, reduction="none") + F.cross_entropy(s.t(), labels, reduction="none")) / 2
    return _reduce(per, reduction)


class CLIPContrastiveLoss(nn.Module):
    """Module form of :func:`clip_contrastive_loss`, ``forward(image_emb, text_emb, logit_scale)``."""

    def __init__(self, normalize: bool = True, reduction: str = "mean") -> None:
        super().__init__()
        self.normalize = normalize
        self.reduction = reduction

    def forward(self, image_emb: Tensor, text_emb: Tensor, logit_scale: Union[Tensor, Number]) -> Tensor:
        return clip_contrastive_loss(image_emb, text_emb, logit_scale, self.normalize, self.reduction)


# ------------------------------------------------------------------ registry builders
# build_loss(name, counts, num_images=K, **options): every multi-label builder takes the training
# image counts (C,) and K, so a trainer can build any of them the same way; K is ignored where
# the loss does not need it.


def _build_bce(counts: ArrayLike, num_images: Optional[int] = None, **kw: Any) -> nn.Module:
    return BinaryCrossEntropy(**kw)


def _build_sigmoid_focal(counts: ArrayLike, num_images: Optional[int] = None, **kw: Any) -> nn.Module:
    return SigmoidFocalLoss(**kw)


def _build_asl(counts: ArrayLike, num_images: Optional[int] = None, **kw: Any) -> nn.Module:
    return AsymmetricLoss(**kw)


def _build_bal(counts: ArrayLike, num_images: Optional[int] = None, k: float = 0.7, **kw: Any) -> nn.Module:
    return BalancedAsymmetricLoss.from_counts(counts, k, **kw)


def _build_db_focal(counts: ArrayLike, num_images: Optional[int] = None, **kw: Any) -> nn.Module:
    return DBFocalLoss(counts, num_images, **kw)  # type: ignore[arg-type]  (checked there)


def _build_iif_bce(counts: ArrayLike, num_images: Optional[int] = None, variant: str = "smooth",
                   **kw: Any) -> nn.Module:
    return IIFBinaryCrossEntropy.from_counts(counts, variant, num_images, **kw)


#: Multi-label loss names -> builders ``(counts, num_images=None, **options)`` (merged into ``LOSSES``).
MULTILABEL_BUILDERS: dict[str, Any] = {
    "bce": _build_bce,
    "sigmoid_focal": _build_sigmoid_focal,
    "asl": _build_asl,
    "bal": _build_bal,
    "db_focal": _build_db_focal,
    "iif_bce": _build_iif_bce,
}

#: Where their options are declared (the builder's own, then the class's), for ``loss_options``.
MULTILABEL_OPTION_SOURCES: dict[str, Any] = {
    "bce": (_build_bce, BinaryCrossEntropy),
    "sigmoid_focal": (_build_sigmoid_focal, SigmoidFocalLoss),
    "asl": (_build_asl, AsymmetricLoss),
    "bal": (_build_bal, BalancedAsymmetricLoss),
    "db_focal": (_build_db_focal, DBFocalLoss),
    "iif_bce": (_build_iif_bce, IIFBinaryCrossEntropy),
}
