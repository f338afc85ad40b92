"""Softmax losses: IIF cross-entropy and the long-tail baseline losses, with one calling convention.

Every loss takes ``logits`` ``(N, C)`` and ``target``: class indices ``(N,)`` (int64) or,
for mixup-style soft labels, probabilities ``(N, C)``; ``reduction`` is ``"mean"``,
``"sum"`` or ``"none"``. An empty batch gives ``0`` for ``"mean"``/``"sum"`` (with a
gradient of zeros) so that a step with no samples does not produce NaN.

Each function has a module beside it that keeps its per-class vector as a buffer,
following torchvision's ``sigmoid_focal_loss`` / mmdet's ``SeesawLoss`` pattern.
"""
from __future__ import annotations

import math
import weakref
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..weights import ArrayLike, check_counts, compute_weights, effective_number_weights, log_prior

__all__ = [
    "iif_cross_entropy",
    "IIFCrossEntropy",
    "cost_sensitive_cross_entropy",
    "CostSensitiveCrossEntropy",
    "logit_adjusted_cross_entropy",
    "LogitAdjustedLoss",
    "balanced_softmax_loss",
    "BalancedSoftmaxLoss",
    "ldam_margins",
    "ldam_loss",
    "LDAMLoss",
    "focal_loss",
    "FocalLoss",
    "CrossEntropy",
]

_REDUCTIONS = ("none", "mean", "sum")


def _check(logits: Tensor, target: Tensor, reduction: str, name: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: unknown reduction {reduction!r}; expected one of {list(_REDUCTIONS)}")
    if logits.dim() != 2:
        raise ValueError(f"{name}: logits must be (N, C), got shape {tuple(logits.shape)}")
    if target.shape[0] != logits.shape[0] or target.dim() not in (1, 2):
        raise ValueError(
            f"{name}: target must be (N,) class indices or (N, C) probabilities with N={logits.shape[0]}, "
            f"got shape {tuple(target.shape)}"
        )


def _empty(logits: Tensor, reduction: str) -> Optional[Tensor]:
    """The loss of an empty batch (``None`` when the batch is not empty)."""
    if logits.shape[0] != 0:
        return None
    if reduction == "none":
        return logits.new_zeros(0)
    return logits.sum() * 0.0  # keeps the graph so backward() works


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _refuse_non_finite(values: np.ndarray, name: str) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"{name}: weights must be finite numbers; entries {bad[:10].tolist()} are "
                         f"{values[bad[:10]].tolist()}")


#: Weight tensors found finite, by ``id``: ``(weakref, version)``. A module's buffer is checked once
#: (and again after an in-place change, which bumps its version), not at every step: on a GPU the
#: check is a host synchronisation.
_FINITE: dict[int, tuple[weakref.ref, int]] = {}


def _check_finite(w: Tensor, name: str) -> None:
    """Refuse NaN / infinite weights (they would turn every loss and score into NaN), naming them."""
    if not w.is_floating_point() or _functorch_active() or torch.compiler.is_compiling():
        return  # integers are finite; under vmap / grad / compile the values are not concrete
    try:
        version: Optional[int] = w._version
    except RuntimeError:  # inference tensors keep no version counter: check every time
        version = None
    seen = _FINITE.get(id(w))
    if version is not None and seen is not None and seen[0]() is w and seen[1] == version:
        return
    finite = torch.isfinite(w)
    if not bool(finite.all()):
        _refuse_non_finite(w.detach().double().cpu().numpy(), name)
    if version is not None:
        if len(_FINITE) > 256:
            _FINITE.clear()
        _FINITE[id(w)] = (weakref.ref(w), version)


def _weights_like(weights: ArrayLike | Tensor, logits: Tensor, name: str, dtype: Optional[torch.dtype] = None
                  ) -> Tensor:
    """``weights`` (a tensor, list or numpy array) as a tensor of the logits' device and dtype (or ``dtype``).

    Integer logits are refused: multiplying them by float weights in their own dtype would
    truncate the weights to integers. NaN or infinite weights are refused, naming them."""
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name}: logits must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise ValueError(f"{name}: logits must be floating point, got dtype {logits.dtype}; "
                         f"convert them with .float()")
    if isinstance(weights, Tensor):
        w = weights
    else:
        arr = np.asarray(weights, dtype=np.float64)
        _refuse_non_finite(arr, name)
        w = torch.as_tensor(arr)
    if not (w.is_floating_point() or w.dtype in (torch.int32, torch.int64, torch.int16, torch.int8, torch.uint8)):
        raise ValueError(f"{name}: weights must be real numbers, got dtype {w.dtype}")
    _check_finite(w, name)
    return w.to(device=logits.device, dtype=dtype or logits.dtype)


def _compute_dtype(logits: Tensor) -> Tensor:
    """float16 logits as float32: ``w * z`` overflows float16 (max 65504) for large logits, and
    autocast runs cross-entropy in float32 anyway. Other dtypes unchanged (bfloat16 has float32's range)."""
    return logits.float() if logits.dtype == torch.float16 else logits


def _scaled_logits(logits: Tensor, w: Tensor, name: str) -> Tensor:
    """``logits * w`` in the logits' dtype; float16 is multiplied in float32 and handed back as
    float16 only when every product fits (a ``ValueError`` names the largest one otherwise).

    Cheap for other dtypes; for float16, one reduction and a host synchronisation."""
    if logits.dtype != torch.float16:
        return logits * w.to(logits.dtype)
    out = logits.float() * w.float()
    limit = torch.finfo(torch.float16).max
    over = (out.abs() > limit) & torch.isfinite(logits)  # an input that was already inf is not ours to refuse
    if bool(over.any()):
        largest = float(out.abs()[over].max())
        raise ValueError(f"{name}: w * z overflows float16 (largest |w * z| = {largest:.6g} > {limit:.0f}); "
                         f"pass float32 logits (logits.float())")
    return out.to(torch.float16)


def _full_weights(weights: Tensor, num_logits: int, background: bool, fill: float = 1.0,
                  what: str = "weights") -> Tensor:
    """Per-logit vector ``(num_logits,)``: ``weights`` plus, with ``background``, ``fill`` at index C.

    ``fill`` is 1 for multipliers (IIF) and 0 for additive shifts (logit adjustment, NorCal,
    Balanced Softmax), so either way the background logit is left as it is. ``what`` names the
    per-class vector in the error message."""
    c = weights.shape[-1]
    expected = c + 1 if background else c
    if weights.dim() != 1 or num_logits != expected:
        extra = " plus a background column" if background else ""
        raise ValueError(
            f"{what} of shape {tuple(weights.shape)} need logits with {expected} columns "
            f"({c} classes{extra}), got {num_logits}"
        )
    if background:
        # Background is left unscaled (weight exactly 1): it is not a long-tailed class.
        return torch.cat([weights, weights.new_full((1,), fill)])
    return weights


# ----------------------------------------------------------------------------- IIF


def iif_cross_entropy(
    logits: Tensor,
    target: Tensor,
    weights: Tensor,
    reduction: str = "mean",
    background: bool = False,
    ignore_index: int = -100,
) -> Tensor:
    """IIF cross-entropy ``CE(w * z, y)`` (paper Eq. 4-5).

    Args:
        logits: ``(N, C)``, or ``(N, C+1)`` with ``background=True`` (background last, as in MMDetection).
        target: ``(N,)`` class indices (``C`` is background) or ``(N, C[+1])`` probabilities.
        weights: ``(C,)`` IIF weights (:func:`iif.compute_weights`); NaN or infinite ones are refused.
        background: logits carry a background column at index C whose weight is exactly 1.

    The gradient is ``dL/dz_i = w_i (q_i - y_i)`` with ``q = softmax(w * z)`` (paper Eq. 16).
    float16 logits are computed in float32 (``w * z`` would overflow float16 for large logits, as
    autocast computes cross-entropy in float32 too): the loss is float32, the gradient float16.
    """
    _check(logits, target, reduction, "iif_cross_entropy")
    empty = _empty(logits, reduction)
    if empty is not None:
        return empty
    logits = _compute_dtype(logits)
    w = _full_weights(_weights_like(weights, logits, "iif_cross_entropy"), logits.shape[1], background)
    return _scaled_cross_entropy(logits, target, w, reduction, ignore_index)


_REDUCTION_ENUM = {"none": 0, "mean": 1, "sum": 2}  # ATen's at::Reduction


class _ScaledCrossEntropyCPU(torch.autograd.Function):
    """``CE(z * w, y)`` for class-index targets, with the backward ``w * dCE/ds`` computed in place.

    The same ATen kernels as ``F.cross_entropy(z * w, y)`` (log-softmax, NLL and their
    backwards), so values and gradients are bit-identical to it; the difference is that the
    multiply's backward reuses the gradient buffer instead of allocating a second
    ``(N, C)`` tensor, which on CPU saves a memory pass and the page faults of a fresh
    allocation (see docs/BENCHMARKS.md). Double backward (``create_graph=True``) recomputes
    the composite so that higher-order gradients stay exact. ``torch.func`` transforms take
    the composite path (:func:`_scaled_cross_entropy`).
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, weights: Tensor, target: Tensor, reduction: int,
                ignore_index: int) -> Tensor:
        log_p = torch.log_softmax(logits * weights, 1)
        loss, total_weight = torch.ops.aten.nll_loss_forward(log_p, target, None, reduction, ignore_index)
        ctx.save_for_backward(logits, weights, target, log_p, total_weight)
        ctx.reduction, ctx.ignore_index = reduction, ignore_index
        return loss

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        logits, weights, target, log_p, total_weight = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: differentiate the composite instead
            with torch.enable_grad():
                names = {v: k for k, v in _REDUCTION_ENUM.items()}
                loss = F.cross_entropy(logits * weights, target, reduction=names[ctx.reduction],
                                       ignore_index=ctx.ignore_index)
            return torch.autograd.grad(loss, logits, grad, create_graph=True)[0], None, None, None, None
        g = torch.ops.aten.nll_loss_backward(grad, log_p, target, None, ctx.reduction, ctx.ignore_index,
                                             total_weight)
        g = torch.ops.aten._log_softmax_backward_data(g, log_p, 1, log_p.dtype)
        return g.mul_(weights), None, None, None, None


def _functorch_active() -> bool:
    check = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(check()) if check is not None else True


def _scaled_cross_entropy(logits: Tensor, target: Tensor, w: Tensor, reduction: str, ignore_index: int) -> Tensor:
    """``F.cross_entropy(logits * w, target)``; on CPU, for class indices, through the in-place backward.

    ``"mean"`` over class indices is the sum over the kept targets divided by their number (at
    least 1), so a batch whose targets are all ``ignore_index`` gives 0, not torch's 0/0 = NaN.
    """
    if reduction == "mean" and target.dim() == 1:
        kept = (target != ignore_index).sum().clamp_min(1)
        return _scaled_cross_entropy(logits, target, w, "sum", ignore_index) / kept
    if (logits.device.type == "cpu" and target.dim() == 1 and logits.requires_grad and not w.requires_grad
            and logits.dtype in (torch.float32, torch.float64) and torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu") and not _functorch_active()):
        return _ScaledCrossEntropyCPU.apply(logits, w, target, _REDUCTION_ENUM[reduction], ignore_index)
    return F.cross_entropy(logits * w, target, reduction=reduction, ignore_index=ignore_index)


class IIFCrossEntropy(nn.Module):
    """Module form of :func:`iif_cross_entropy`; the ``(C[+1],)`` multipliers are a buffer.

    Build it from weights, or with :meth:`from_counts` from per-class frequencies.
    """

    def __init__(self, weights: ArrayLike, background: bool = False, reduction: str = "mean",
                 ignore_index: int = -100) -> None:
        super().__init__()
        w = torch.as_tensor(weights, dtype=torch.float32)
        if w.dim() != 1:
            raise ValueError(f"IIF weights must be (C,), got shape {tuple(w.shape)}")
        _check_finite(w, "IIFCrossEntropy")
        self.num_classes = w.shape[0]
        self.background = background
        self.reduction = reduction
        self.ignore_index = ignore_index
        # Store the full per-logit vector once so forward() does no concatenation.
        self.register_buffer("weights", _full_weights(w, w.shape[0] + int(background), background))

    @classmethod
    def from_counts(cls, counts: ArrayLike, variant: str = "smooth", total: float | None = None,
                    **kwargs: Any) -> "IIFCrossEntropy":
        return cls(compute_weights(counts, variant, total=total), **kwargs)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        _check(logits, target, self.reduction, "IIFCrossEntropy")
        empty = _empty(logits, self.reduction)
        if empty is not None:
            return empty
        if logits.shape[1] != self.weights.shape[0]:
            raise ValueError(f"IIFCrossEntropy holds {self.weights.shape[0]} weights, logits have {logits.shape[1]} columns")
        _check_finite(self.weights, "IIFCrossEntropy")  # once per change of the buffer (load_state_dict, ...)
        logits = _compute_dtype(logits)  # float16: in float32, as iif_cross_entropy
        return _scaled_cross_entropy(logits, target, self.weights.to(logits.dtype), self.reduction, self.ignore_index)

    def adjust(self, logits: Tensor) -> Tensor:
        """The classifier output of paper Eq. 4, ``w * z`` ``(N, C[+1])``.

        A model trained with this loss predicts with ``w * z`` at inference too: the loss
        fits ``softmax(w * z)`` to the labels, so ``z`` alone would undo the adjustment.
        float16 logits: as :func:`iif.adjust_logits` (an overflow is refused).
        """
        return _scaled_logits(logits, self.weights, "IIFCrossEntropy.adjust")

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, background={self.background}, reduction={self.reduction!r}"


# ------------------------------------------------------------------- plain CE / CSL


class CrossEntropy(nn.Module):
    """Plain softmax cross-entropy, with the same constructor shape as the other losses."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        _check(logits, target, self.reduction, "CrossEntropy")
        empty = _empty(logits, self.reduction)
        if empty is not None:
            return empty
        return F.cross_entropy(logits, target, reduction=self.reduction)


def cost_sensitive_cross_entropy(logits: Tensor, target: Tensor, weights: Tensor, reduction: str = "mean") -> Tensor:
    """Cost-sensitive CE (the paper's IIF_CSL row): sample ``i`` is weighted by ``weights[y_i]``.

    With ``reduction="mean"`` the sum is divided by the sum of the batch's weights, as
    ``nn.CrossEntropyLoss(weight=...)`` does, so the loss scale does not grow with ``w``.
    """
    _check(logits, target, reduction, "cost_sensitive_cross_entropy")
    empty = _empty(logits, reduction)
    if empty is not None:
        return empty
    if weights.shape != (logits.shape[1],):
        raise ValueError(f"weights must be ({logits.shape[1]},), got {tuple(weights.shape)}")
    return F.cross_entropy(logits, target, weight=weights.to(device=logits.device, dtype=logits.dtype),
                           reduction=reduction)


class CostSensitiveCrossEntropy(nn.Module):
    """Module form of :func:`cost_sensitive_cross_entropy`."""

    def __init__(self, weights: ArrayLike, reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))
        self.reduction = reduction

    @classmethod
    def from_counts(cls, counts: ArrayLike, variant: str = "smooth", **kwargs: Any) -> "CostSensitiveCrossEntropy":
        return cls(compute_weights(counts, variant), **kwargs)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return cost_sensitive_cross_entropy(logits, target, self.weights, self.reduction)


# ------------------------------------------------- logit adjustment / balanced softmax


def check_tau(tau: Any, name: str) -> float:
    """``tau`` of logit adjustment as a float: a finite number >= 0 (a NaN tau makes every logit NaN)."""
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.floating, np.integer)) \
            or not math.isfinite(tau) or tau < 0:
        raise ValueError(f"{name}: tau must be a finite number >= 0, got {tau!r}")
    return float(tau)


def logit_adjusted_cross_entropy(logits: Tensor, target: Tensor, counts: ArrayLike | Tensor, tau: float = 1.0,
                                 reduction: str = "mean", background: bool = False) -> Tensor:
    """Logit-adjusted CE (Menon et al., ICLR 2021): ``CE(z + tau * log(prior), y)``.

    ``counts`` ``(C,)`` are training counts, or a precomputed ``log_prior`` tensor is
    accepted through :class:`LogitAdjustedLoss`. With ``background=True`` the logits are
    ``(N, C+1)`` with background last (MMDetection) and only the ``C`` foreground logits are
    shifted: the background logit is not a class with a training frequency.
    """
    _check(logits, target, reduction, "logit_adjusted_cross_entropy")
    tau = check_tau(tau, "logit_adjusted_cross_entropy")
    empty = _empty(logits, reduction)
    if empty is not None:
        return empty
    prior = log_prior(counts, device=logits.device).to(logits.dtype)
    return _logit_adjusted(logits, target, prior, tau, reduction, background)


def _logit_adjusted(logits: Tensor, target: Tensor, prior: Tensor, tau: float, reduction: str,
                    background: bool = False) -> Tensor:
    if background:
        # (C+1,) shift, 0 at the background column; _full_weights names the shapes if they disagree.
        shift = _full_weights(tau * prior.to(logits.dtype), logits.shape[1], True, fill=0.0, what="counts")
        return F.cross_entropy(logits + shift, target, reduction=reduction)
    if prior.shape != (logits.shape[1],):
        raise ValueError(f"counts must have {logits.shape[1]} entries (one per logit), got {tuple(prior.shape)}")
    return F.cross_entropy(logits + tau * prior.to(logits.dtype), target, reduction=reduction)


def balanced_softmax_loss(logits: Tensor, target: Tensor, counts: ArrayLike | Tensor, reduction: str = "mean",
                          background: bool = False) -> Tensor:
    """Balanced Softmax (Ren et al., NeurIPS 2020): ``CE(z + log n, y)``.

    Identical to logit-adjusted CE with ``tau = 1`` (``log sum(n)`` cancels in the softmax).

    Detection (``background=True``, logits ``(N, C+1)``, background last): ``CE([z_c + log p_c,
    z_bg], y)`` with ``p_c = n_c / sum(n)``, the background logit untouched. Source: the authors'
    LVIS code (BalancedMetaSoftmax-InstanceSeg, ``BalancedSoftmaxFastRCNNOutputs``) is a sigmoid
    variant without a background logit that shifts the foreground logits of foreground RoIs only;
    neither it nor the paper defines a softmax with a background column, so the background is left
    as it is, and the foreground shift is the log-prior, which makes this the training-time twin of
    :func:`iif.logit_adjustment` with ``background=True``. Here ``log sum(n)`` does not cancel: the
    counts' form ``z_c + log n_c`` would move every foreground logit by ``log sum(n)`` against
    the background.
    """
    return logit_adjusted_cross_entropy(logits, target, counts, tau=1.0, reduction=reduction, background=background)


class LogitAdjustedLoss(nn.Module):
    """Module form of :func:`logit_adjusted_cross_entropy`; the log-prior is a buffer."""

    def __init__(self, counts: ArrayLike, tau: float = 1.0, reduction: str = "mean", background: bool = False) -> None:
        super().__init__()
        self.register_buffer("log_prior", log_prior(counts))
        self.tau = check_tau(tau, type(self).__name__)
        self.reduction = reduction
        self.background = bool(background)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        _check(logits, target, self.reduction, type(self).__name__)
        empty = _empty(logits, self.reduction)
        if empty is not None:
            return empty
        return _logit_adjusted(logits, target, self.log_prior, self.tau, self.reduction, self.background)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, background={self.background}"


class BalancedSoftmaxLoss(LogitAdjustedLoss):
    """Module form of :func:`balanced_softmax_loss` (``background=True``: detection, see there)."""

    def __init__(self, counts: ArrayLike, reduction: str = "mean", background: bool = False) -> None:
        super().__init__(counts, tau=1.0, reduction=reduction, background=background)


# ------------------------------------------------------------------------------ LDAM


def ldam_margins(counts: ArrayLike, max_margin: float = 0.5) -> Tensor:
    """LDAM margins ``m_y = C / n_y^{1/4}`` scaled so the largest is ``max_margin``. Shape ``(C,)``."""
    n = check_counts(counts, "counts")
    if np.any(n == 0):
        raise ValueError("LDAM margins need every class present; some classes have 0 samples")
    if max_margin <= 0:
        raise ValueError(f"max_margin must be > 0, got {max_margin}")
    m = 1.0 / np.power(n, 0.25)
    return torch.as_tensor(m * (max_margin / m.max()), dtype=torch.float32)


def _ldam(logits: Tensor, target: Tensor, margins: Tensor, scale: float, weight: Optional[Tensor],
          reduction: str) -> Tensor:
    margins = margins.to(device=logits.device, dtype=logits.dtype)
    if target.dim() == 1:
        # Subtract the target's margin from the target logit only (Cao et al., Eq. 13).
        shifted = logits.scatter_add(1, target.unsqueeze(1), -margins[target].unsqueeze(1))
    else:
        shifted = logits - target.to(logits.dtype) * margins
    if weight is not None:
        weight = weight.to(device=logits.device, dtype=logits.dtype)
    return F.cross_entropy(scale * shifted, target, weight=weight, reduction=reduction)


def ldam_loss(logits: Tensor, target: Tensor, counts: ArrayLike, max_margin: float = 0.5, scale: float = 30.0,
              weight: Optional[Tensor] = None, reduction: str = "mean") -> Tensor:
    """LDAM loss (Cao et al., NeurIPS 2019): ``CE(s * (z - m_y 1_y), y; weight)``.

    ``weight`` ``(C,)`` is the DRW re-weighting (:func:`iif.effective_number_weights`),
    ``None`` before the DRW epoch. ``scale`` assumes cosine-normalised logits.
    """
    _check(logits, target, reduction, "ldam_loss")
    empty = _empty(logits, reduction)
    if empty is not None:
        return empty
    return _ldam(logits, target, ldam_margins(counts, max_margin), scale, weight, reduction)


class LDAMLoss(nn.Module):
    """Module form of :func:`ldam_loss`, with the deferred re-weighting (DRW) schedule.

    Call :meth:`set_epoch` each epoch: from ``drw_epoch`` on, samples are weighted by the
    class-balanced (effective number, ``beta``) weights; ``drw_epoch=None`` never re-weights.
    """

    def __init__(self, counts: ArrayLike, max_margin: float = 0.5, scale: float = 30.0,
                 drw_epoch: Optional[int] = None, beta: float = 0.9999, reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("margins", ldam_margins(counts, max_margin))
        self.register_buffer("drw_weights", effective_number_weights(counts, beta))
        self.weight: Optional[Tensor] = None
        self.scale = float(scale)
        self.drw_epoch = drw_epoch
        self.reduction = reduction

    def set_epoch(self, epoch: int) -> None:
        """Switch the class-balanced weights on once ``epoch >= drw_epoch`` (epochs count from 0)."""
        on = self.drw_epoch is not None and epoch >= self.drw_epoch
        self.weight = self.drw_weights if on else None

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        _check(logits, target, self.reduction, "LDAMLoss")
        empty = _empty(logits, self.reduction)
        if empty is not None:
            return empty
        return _ldam(logits, target, self.margins, self.scale, self.weight, self.reduction)


# ----------------------------------------------------------------------------- focal


def focal_loss(logits: Tensor, target: Tensor, gamma: float = 2.0, alpha: Optional[Tensor] = None,
               reduction: str = "mean") -> Tensor:
    """Softmax focal loss (Lin et al., ICCV 2017): ``-alpha_y (1 - p_y)^gamma log p_y``.

    ``gamma = 0`` and no ``alpha`` is exactly cross-entropy. Soft targets ``(N, C)`` give
    ``-sum_c t_c alpha_c (1 - p_c)^gamma log p_c``.
    """
    _check(logits, target, reduction, "focal_loss")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    empty = _empty(logits, reduction)
    if empty is not None:
        return empty
    logp = F.log_softmax(logits, dim=1)
    if target.dim() == 1:
        logp_t = logp.gather(1, target.unsqueeze(1)).squeeze(1)
        loss = -torch.pow(1.0 - logp_t.exp(), gamma) * logp_t
        if alpha is not None:
            loss = loss * alpha.to(device=logits.device, dtype=logits.dtype)[target]
    else:
        per = -target.to(logits.dtype) * torch.pow(1.0 - logp.exp(), gamma) * logp
        if alpha is not None:
            per = per * alpha.to(device=logits.device, dtype=logits.dtype)
        loss = per.sum(1)
    return _reduce(loss, reduction)


class FocalLoss(nn.Module):
    """Module form of :func:`focal_loss`; ``alpha`` ``(C,)`` is an optional buffer."""

    def __init__(self, gamma: float = 2.0, alpha: Optional[ArrayLike] = None, reduction: str = "mean") -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.register_buffer("alpha", None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32))
        self.reduction = reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return focal_loss(logits, target, self.gamma, self.alpha, self.reduction)
