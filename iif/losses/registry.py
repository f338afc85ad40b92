"""Loss registry: every loss of :mod:`iif.losses` by the name configs use (``loss.type``)."""
from __future__ import annotations

import inspect
from typing import Any, Optional, Sequence

from torch import nn

from ..metrics import SHOT_THRESHOLDS
from ..weights import ArrayLike
from .softmax import (
    BalancedSoftmaxLoss,
    CostSensitiveCrossEntropy,
    CrossEntropy,
    FocalLoss,
    IIFCrossEntropy,
    LDAMLoss,
    LogitAdjustedLoss,
)
from .reslt import ResLTLoss
from .sigmoid import MULTILABEL_BUILDERS, MULTILABEL_OPTION_SOURCES

__all__ = ["LOSSES", "MULTILABEL_LOSSES", "OPTION_SOURCES", "build_loss", "loss_options"]


def _iif(counts: ArrayLike, variant: str = "smooth", **kw: Any) -> nn.Module:
    return IIFCrossEntropy.from_counts(counts, variant, **kw)


def _csl(counts: ArrayLike, variant: str = "smooth", **kw: Any) -> nn.Module:
    return CostSensitiveCrossEntropy.from_counts(counts, variant, **kw)


def _reslt(counts: ArrayLike, beta: float, shot_thresholds: Sequence[int] = SHOT_THRESHOLDS,
           iif_variant: Optional[str] = None, iif_on: str = "both", reduction: str = "mean") -> nn.Module:
    return ResLTLoss.from_counts(counts, beta, shot_thresholds, iif_variant, iif_on, reduction)


# ResLT's groups must come from the dataset's shot thresholds (the reports' grouping), so the
# trainer passes them in rather than the config (iif.engine.builders.build_criterion).
_reslt.takes_shot_thresholds = True  # type: ignore[attr-defined]

#: Loss names accepted by :func:`build_loss` (and the trainer's ``loss.type``). ``reslt`` takes
#: branch logits ``(3, N, C)`` (a ResLT model's), every other loss ``(N, C)`` logits.
LOSSES: dict[str, Any] = {
    "ce": lambda counts, **kw: CrossEntropy(**kw),
    "iif": _iif,
    "iif_csl": _csl,
    "balanced_softmax": lambda counts, **kw: BalancedSoftmaxLoss(counts, **kw),
    "logit_adjusted": lambda counts, **kw: LogitAdjustedLoss(counts, **kw),
    "ldam": lambda counts, **kw: LDAMLoss(counts, **kw),
    "focal": lambda counts, **kw: FocalLoss(**kw),
    "reslt": _reslt,
}


#: Where each loss's options are declared, for the loss names whose builder above is a lambda
#: taking ``**kw`` (other builders declare their options in their own signature).
OPTION_SOURCES: dict[str, Any] = {
    "ce": CrossEntropy,
    # from_counts(counts, variant, ..., **kwargs) forwards **kwargs to the class
    "iif": (IIFCrossEntropy.from_counts, IIFCrossEntropy),
    "iif_csl": (CostSensitiveCrossEntropy.from_counts, CostSensitiveCrossEntropy),
    "balanced_softmax": BalancedSoftmaxLoss,
    "logit_adjusted": LogitAdjustedLoss,
    "ldam": LDAMLoss,
    "focal": FocalLoss,
}

# Multi-label (sigmoid) losses: logits (N, C) against multi-hot targets (N, C); built with
# build_loss(name, counts, num_images=K, ...) where counts are training images per class.
LOSSES.update(MULTILABEL_BUILDERS)
OPTION_SOURCES.update(MULTILABEL_OPTION_SOURCES)
#: The names in :data:`LOSSES` that take multi-hot targets ``(N, C)`` (a multi-label task's losses).
MULTILABEL_LOSSES: frozenset[str] = frozenset(MULTILABEL_BUILDERS)

_NOT_OPTIONS = {"self", "cls", "counts", "num_classes"}


def loss_options(name: str) -> Optional[list[str]]:
    """The keyword options loss ``name`` accepts (``None`` when they cannot be read off a signature)."""
    source = OPTION_SOURCES.get(name, LOSSES.get(name))
    if source is None:
        return None
    options: set[str] = set()
    for target in source if isinstance(source, tuple) else (source,):
        params = inspect.signature(target).parameters
        options |= {k for k, p in params.items() if k not in _NOT_OPTIONS and k != "weights"
                    and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return sorted(options)  # a signature without **kwargs closes the list
    return None


def build_loss(name: str, counts: ArrayLike, **kwargs: Any) -> nn.Module:
    """Build a loss module by name from the training counts ``(C,)``.

    Examples: ``build_loss("iif", counts, variant="raw")``, ``build_loss("ldam", counts, drw_epoch=160)``.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    allowed = loss_options(name)
    bad = sorted(set(kwargs) - set(allowed)) if allowed is not None else []
    if bad:
        others = sorted({k for n in LOSSES if n != name for k in (loss_options(n) or ()) if k in bad})
        hint = (f"; {others} belong to other losses: if they come from a _base_ config, replace the loss whole "
                f"with loss=dict(_delete_=True, type={name!r}, ...) or --cfg-options loss._delete_=True"
                if others else "")
        raise ValueError(f"unknown option(s) {['loss.' + k for k in bad]} for loss {name!r}; "
                         f"expected some of {allowed}{hint}")
    try:
        return LOSSES[name](counts, **kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments {sorted(kwargs)} for loss {name!r}: {exc}") from exc
