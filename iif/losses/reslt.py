"""ResLT: residual head / medium / tail branches (Cui et al., "ResLT: Residual Learning for
Long-tailed Recognition", TPAMI 2022), as a loss over the branches' logits.

A ResLT network (:class:`iif.models.ResLTClassifier`) computes three sets of logits from one
shared feature, ``z_H``, ``z_M``, ``z_T`` (head, medium, tail branch), and predicts with their
sum. Each class is head, medium or tail by its training count (:func:`reslt_groups`, the same
rule as the many/medium/few report columns). The loss is

    ``L = beta * L_branches + (1 - beta) * L_fuse``

- ``L_fuse``: the mean cross-entropy of the fused logits ``z_H + z_M + z_T``;
- ``L_branches = sum_b sum_i m_bi CE(z_b,i, y_i) / sum_b sum_i m_bi``: each branch's CE on the
  samples its mask keeps, averaged over all kept (branch, sample) pairs. The head branch keeps
  every sample, the medium branch samples of medium and tail classes, the tail branch samples of
  tail classes only (``m_bi = 1[group(y_i) >= b]``), as the official code's ``labelH/M/T``.

With IIF weights ``w`` (ResLT + IIF, in neither paper) the CE of the fused logits, of the
branches or of both becomes IIF-CE, ``CE(w * z, y)`` (:func:`iif.iif_cross_entropy`, not
re-implemented here).

A group with no class (say no class under 20 images) drops its branch: it is left out of the
fused logits and of ``L_branches``, and a warning says so. Every sample still has at least one
kept pair (the lowest non-empty group's branch keeps all samples), so the normaliser is never 0.
"""
from __future__ import annotations

import logging
import warnings
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..metrics import SHOT_GROUPS, SHOT_THRESHOLDS, shot_groups
from ..weights import ArrayLike, compute_weights
from .softmax import iif_cross_entropy

__all__ = ["reslt_loss", "reslt_groups", "ResLTLoss", "RESLT_BRANCHES", "RESLT_IIF_ON"]

logger = logging.getLogger(__name__)

#: The branches, in the order of ``branch_logits`` and of the group indices 0, 1, 2.
RESLT_BRANCHES = ("head", "medium", "tail")
#: Where IIF weights apply: the fused logits' CE, the branches' CE, or both.
RESLT_IIF_ON = ("fused", "branches", "both")
_REDUCTIONS = ("none", "mean", "sum")


def _check_thresholds(thresholds: Sequence[int]) -> tuple[int, int]:
    try:
        hi, lo = (int(t) for t in thresholds)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"thresholds must be two integers (hi, lo): head > hi, tail < lo; got {thresholds!r}") from exc
    if not hi >= lo >= 0:
        raise ValueError(f"thresholds must be (hi, lo) with hi >= lo >= 0, got {thresholds!r}")
    return hi, lo


def _empty_group_message(active: Sequence[bool], where: str) -> str:
    dropped = [f"{RESLT_BRANCHES[b]} ({SHOT_GROUPS[b]}-shot)" for b in range(3) if not active[b]]
    return (f"{where}: no class in group(s) {', '.join(dropped)}; the branch(es) of empty groups are dropped "
            f"(left out of the fused logits and of the branch loss)")


def reslt_groups(counts: ArrayLike, thresholds: Sequence[int] = SHOT_THRESHOLDS) -> Tensor:
    """ResLT group of each class from its training count: ``(C,)`` int64, 0 head, 1 medium, 2 tail.

    Head ``> hi``, medium ``lo..hi``, tail ``< lo`` images: the many/medium/few rule of the
    reports (:func:`iif.metrics.shot_groups`), with the dataset's thresholds (``(100, 20)`` by
    default, ``(1000, 100)`` for MNIST-LT's Pareto profile). An empty group is warned about: its
    branch will be dropped.

    The official code does not group by count: it slices class indices, the same slices at every
    imbalance factor (CIFAR-100: head 0-34, medium 35-69, tail 70-99; jiequancui/ResLT@9650d93
    ``CIFAR/cifarTrain_reslt_cifar100.py`` lines 148-149). On CIFAR-100-LT the default thresholds
    give those slices only at imbalance factor 100; at 50 they give 41 / 41 / 18 classes and at 10
    69 / 31 / 0 (no tail branch). Thresholds that reproduce the slices from the counts (in a config:
    ``data.kwargs.shot_thresholds``): ``(125, 32)`` at IF 50, ``(221, 100)`` at IF 10; CIFAR-10's in
    ``configs/cls/cifar10_lt/reslt_r32.py``; ``docs/FIDELITY.md`` lists them.
    """
    groups = torch.as_tensor(shot_groups(counts, _check_thresholds(thresholds)))
    active = np.bincount(groups.numpy(), minlength=3) > 0
    if not active.all():
        warnings.warn(_empty_group_message(active, f"ResLT groups from thresholds {tuple(thresholds)}"),
                      stacklevel=2)
    return groups


def _check_groups(groups: Tensor, num_classes: int) -> Tensor:
    groups = torch.as_tensor(groups)
    if groups.dim() != 1 or groups.shape[0] != num_classes or groups.is_floating_point() or groups.is_complex():
        raise ValueError(f"groups must be a ({num_classes},) integer tensor of 0/1/2 (head/medium/tail), "
                         f"got {groups.dtype} of shape {tuple(groups.shape)}")
    bad = sorted(set(groups.tolist()) - {0, 1, 2})
    if bad:
        raise ValueError(f"groups must hold 0 (head), 1 (medium) or 2 (tail); got values {bad[:10]}")
    return groups.long()


def _per_sample_ce(logits: Tensor, target: Tensor, weights: Optional[Tensor]) -> Tensor:
    """``(M, C) -> (M,)``: plain CE, or IIF-CE ``CE(w * z, y)`` when ``weights`` is given."""
    if weights is None:
        return F.cross_entropy(logits, target, reduction="none")
    return iif_cross_entropy(logits, target, weights, reduction="none")


def _reslt(branch_logits: Tensor, target: Tensor, groups: Tensor, active: Tensor, beta: float,
           weights: Optional[Tensor], iif_on: str, reduction: str) -> Tensor:
    """The loss without input checks (the module calls it every iteration).

    ``branch_logits`` ``(3, N, C)``, ``groups`` ``(C,)`` int64 and ``active`` ``(3,)`` bool on the
    logits' device. No host synchronisation: masks stay tensors.
    """
    b, n, c = branch_logits.shape
    if n == 0:
        if reduction == "none":
            return branch_logits.new_zeros(0)
        return branch_logits.sum() * 0.0  # keeps the graph so backward() works
    # Mixup / soft targets: the mask follows the class with the largest share of the sample.
    cls = target if target.dim() == 1 else target.argmax(1)
    sample_group = groups[cls]  # (N,)
    branch = torch.arange(b, device=branch_logits.device)
    # m_bi = 1[group(y_i) >= b]: head branch all samples, medium branch medium + tail, tail branch tail.
    mask = (sample_group.unsqueeze(0) >= branch.unsqueeze(1)) & active.unsqueeze(1)  # (3, N)

    w_branch = weights if weights is not None and iif_on in ("branches", "both") else None
    w_fused = weights if weights is not None and iif_on in ("fused", "both") else None
    # One CE call over the 3N (branch, sample) pairs, the target repeated per branch.
    flat_target = target.repeat(b) if target.dim() == 1 else target.repeat(b, 1)
    ce = _per_sample_ce(branch_logits.reshape(b * n, c), flat_target, w_branch).view(b, n)
    # where (not a product): pairs a mask drops get an exactly-zero gradient even if their CE is inf.
    kept = torch.where(mask, ce, ce.new_zeros(()))
    pairs = mask.sum().clamp_min(1).to(ce.dtype)
    fused = (branch_logits * active.to(branch_logits.dtype).view(b, 1, 1)).sum(0)
    fuse_ce = _per_sample_ce(fused, target, w_fused)  # (N,)
    if reduction == "mean":
        return beta * kept.sum() / pairs + (1.0 - beta) * fuse_ce.mean()
    # Per sample: the branch term rescaled by N / pairs, so that the mean of "none" is the "mean" loss.
    per_sample = beta * kept.sum(0) * (n / pairs) + (1.0 - beta) * fuse_ce
    return per_sample.sum() if reduction == "sum" else per_sample


def _check_common(beta: float, iif_on: str, reduction: str, name: str) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta <= 1.0:
        raise ValueError(f"{name}: beta must be a number in [0, 1], got {beta!r}")
    if iif_on not in RESLT_IIF_ON:
        raise ValueError(f"{name}: unknown iif_on {iif_on!r}; expected one of {list(RESLT_IIF_ON)}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: unknown reduction {reduction!r}; expected one of {list(_REDUCTIONS)}")
    return float(beta)


def _check_inputs(branch_logits: Tensor, target: Tensor, name: str) -> None:
    if branch_logits.dim() != 3 or branch_logits.shape[0] != 3:
        raise ValueError(f"{name}: branch_logits must be (3, N, C) (head, medium, tail), "
                         f"got shape {tuple(branch_logits.shape)}")
    n, c = branch_logits.shape[1:]
    if target.dim() == 1:
        ok = target.shape[0] == n and not target.is_floating_point()
    else:
        ok = target.dim() == 2 and tuple(target.shape) == (n, c)
    if not ok:
        raise ValueError(f"{name}: target must be ({n},) class indices or ({n}, {c}) probabilities, "
                         f"got {target.dtype} of shape {tuple(target.shape)}")


def reslt_loss(
    branch_logits: Tensor,
    target: Tensor,
    groups: Tensor,
    beta: float,
    reduction: str = "mean",
    weights: Optional[Tensor] = None,
    iif_on: str = "both",
) -> Tensor:
    """ResLT loss ``beta * L_branches + (1 - beta) * L_fuse`` (see the module docstring).

    Args:
        branch_logits: ``(3, N, C)``: head, medium and tail branch logits.
        target: ``(N,)`` class indices, or ``(N, C)`` probabilities (mixup): the CEs use the soft
            target, the branch masks the class with the largest probability.
        groups: ``(C,)`` integer tensor, 0 head, 1 medium, 2 tail (:func:`reslt_groups`).
        beta: weight of the branch term, in ``[0, 1]``. 0 is the CE of the fused logits, 1 the
            branch term alone.
        reduction: ``"mean"`` (the formula); ``"none"`` per-sample ``(N,)`` values whose mean is
            the formula (the branch term of sample ``i`` scaled by ``N / sum m``); ``"sum"`` their sum.
        weights: optional ``(C,)`` IIF weights (:func:`iif.compute_weights`): ResLT + IIF.
        iif_on: where the weights apply: ``"fused"``, ``"branches"`` or ``"both"``.

    An empty group drops its branch (with a warning). An empty batch gives 0 with a gradient.
    """
    beta = _check_common(beta, iif_on, reduction, "reslt_loss")
    _check_inputs(branch_logits, target, "reslt_loss")
    groups = _check_groups(groups, branch_logits.shape[2]).to(branch_logits.device)
    active = torch.bincount(groups, minlength=3) > 0
    if not bool(active.all()):
        warnings.warn(_empty_group_message(active.tolist(), "reslt_loss"), stacklevel=2)
    if weights is not None:
        weights = torch.as_tensor(weights)
        if weights.shape != (branch_logits.shape[2],):
            raise ValueError(f"reslt_loss: weights must be ({branch_logits.shape[2]},), got {tuple(weights.shape)}")
        weights = weights.to(device=branch_logits.device, dtype=branch_logits.dtype)
    return _reslt(branch_logits, target, groups, active, beta, weights, iif_on, reduction)


class ResLTLoss(nn.Module):
    """Module form of :func:`reslt_loss`; ``groups`` ``(C,)``, the kept branches ``active`` ``(3,)``
    and the optional IIF ``weights`` ``(C,)`` are buffers.

    It takes the branch logits ``(3, N, C)``, not the fused ones: ``takes_branch_logits`` tells
    the trainer to ask the model for them (``model(x, return_branches=True)``).
    Build it from training counts with :meth:`from_counts`.
    """

    takes_branch_logits = True

    def __init__(self, groups: ArrayLike, beta: float, weights: Optional[ArrayLike] = None, iif_on: str = "both",
                 reduction: str = "mean") -> None:
        super().__init__()
        self.beta = _check_common(beta, iif_on, reduction, "ResLTLoss")
        g = torch.as_tensor(np.asarray(groups) if not isinstance(groups, Tensor) else groups)
        g = _check_groups(g, int(g.shape[0]) if g.dim() == 1 else -1)
        active = torch.bincount(g, minlength=3) > 0
        if not bool(active.all()):
            warnings.warn(_empty_group_message(active.tolist(), "ResLTLoss"), stacklevel=2)
        self.register_buffer("groups", g)
        self.register_buffer("active", active)
        w = None
        if weights is not None:
            w = torch.as_tensor(weights, dtype=torch.float32)
            if w.shape != g.shape:
                raise ValueError(f"ResLTLoss: weights must be ({g.shape[0]},) like groups, got {tuple(w.shape)}")
        self.register_buffer("weights", w)
        self.iif_on = iif_on
        self.reduction = reduction

    @classmethod
    def from_counts(cls, counts: ArrayLike, beta: float, shot_thresholds: Sequence[int] = SHOT_THRESHOLDS,
                    iif_variant: Optional[str] = None, iif_on: str = "both", reduction: str = "mean") -> "ResLTLoss":
        """Groups from the training counts ``(C,)`` and the dataset's shot thresholds; with
        ``iif_variant`` (``"smooth"``, ``"raw"`` ...) IIF weights from the same counts."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the constructor warns once about empty groups
            groups = reslt_groups(counts, shot_thresholds)
        weights = None if iif_variant is None else compute_weights(counts, iif_variant)
        return cls(groups, beta, weights, iif_on, reduction)

    @property
    def num_classes(self) -> int:
        return int(self.groups.shape[0])

    def forward(self, branch_logits: Tensor, target: Tensor) -> Tensor:
        _check_inputs(branch_logits, target, "ResLTLoss")
        if branch_logits.shape[2] != self.num_classes:
            raise ValueError(f"ResLTLoss holds groups for {self.num_classes} classes, "
                             f"branch logits have {branch_logits.shape[2]}")
        # The float32 buffer itself: iif_cross_entropy casts it, and checks it for NaN once, not every step.
        return _reslt(branch_logits, target, self.groups, self.active, self.beta, self.weights, self.iif_on,
                      self.reduction)

    @property
    def adjust(self) -> Optional[Callable[[Tensor], Tensor]]:
        """``w * z`` on the fused logits ``(N, C)`` when IIF weights the fused CE (the model then
        predicts with ``w * z``, paper Eq. 4, as an IIF-CE model does); None otherwise."""
        if self.weights is None or self.iif_on == "branches":
            return None
        return lambda logits: logits * self.weights.to(device=logits.device, dtype=logits.dtype)

    def extra_repr(self) -> str:
        sizes = torch.bincount(self.groups, minlength=3).tolist()
        iif = f", IIF on {self.iif_on}" if self.weights is not None else ""
        return (f"beta={self.beta}, classes per group (head, medium, tail)={tuple(sizes)}{iif}, "
                f"reduction={self.reduction!r}")
