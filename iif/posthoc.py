"""Inference-time adjustments of a trained classifier (paper Fig. 3, "post-process").

All of them are free at training time: they act on logits ``(N, C)`` or on the
classifier's weight matrix ``(C, D)`` after training.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .losses import _full_weights
from .weights import ArrayLike, log_prior

__all__ = ["adjust_logits", "logit_adjustment", "tau_normalize"]


def adjust_logits(logits: Tensor, weights: Tensor, background: bool = False) -> Tensor:
    """Post-process IIF: ``z' = w * z`` (paper Eq. 4).

    Args:
        logits: ``(..., C)``, or ``(..., C+1)`` with ``background=True`` (background last).
        weights: ``(C,)`` IIF weights; the background column, if any, is left alone.

    Weights from :func:`iif.compute_weights` are positive for every variant except
    ``rel``/``normit`` with a class above K/2, so the sign of each logit is kept.
    """
    if logits.dim() < 1:
        raise ValueError("logits must have a class dimension")
    w = _full_weights(weights.to(device=logits.device, dtype=logits.dtype), logits.shape[-1], background)
    return logits * w


def logit_adjustment(logits: Tensor, counts: ArrayLike, tau: float = 1.0) -> Tensor:
    """Post-hoc additive logit adjustment (Menon et al., ICLR 2021): ``z - tau * log(prior)``.

    ``logits`` ``(..., C)``; ``counts`` ``(C,)`` training counts.
    """
    prior = log_prior(counts, device=logits.device).to(logits.dtype)
    if prior.shape[0] != logits.shape[-1]:
        raise ValueError(f"counts have {prior.shape[0]} classes, logits {logits.shape[-1]}")
    return logits - tau * prior


def tau_normalize(weight: Tensor, tau: float = 1.0) -> Tensor:
    """tau-normalisation (Kang et al., ICLR 2020): ``W_j / ||W_j||^tau`` for each class row.

    ``weight`` ``(C, D)`` is a linear classifier's weight; returns a new ``(C, D)`` tensor.
    ``tau = 0`` leaves it unchanged, ``tau = 1`` makes every row unit-norm. The bias is
    conventionally dropped when using the result.
    """
    if weight.dim() != 2:
        raise ValueError(f"classifier weight must be (C, D), got shape {tuple(weight.shape)}")
    if tau < 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    norms = weight.norm(dim=1, keepdim=True).clamp_min(torch.finfo(weight.dtype).tiny)
    return weight / norms.pow(tau)
