"""Classifier heads: features ``(N, D)`` -> logits ``(N, C)``.

Every head exposes ``weight`` ``(C, D)`` (what tau-normalisation, :func:`iif.tau_normalize`,
rescales), ``in_features`` (D) and ``num_classes`` (C).

- :class:`LinearHead`: the usual ``x W^T + b``.
- :class:`CosineHead`: normalised linear classifier ``s * cos(x, W_c)``; the IIF paper's
  "cosine classifier, scale 16" (CIFAR-LT, ImageNet-LT) and, with a learnable ``s``, Places-LT.
- :class:`LWSHead`: learnable weight scaling (Kang et al., "Decoupling Representation and
  Classifier for Long-Tailed Recognition", ICLR 2020) around a frozen head.
"""
from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LinearHead", "CosineHead", "LWSHead", "HEADS", "build_head"]

logger = logging.getLogger(__name__)

HEADS = ("linear", "cosine", "cosine_learnable")


class LinearHead(nn.Linear):
    """Plain linear classifier: ``(N, D) -> (N, C)``, ``weight`` ``(C, D)``, ``bias`` ``(C,)``."""

    def __init__(self, in_features: int, num_classes: int, bias: bool = True) -> None:
        super().__init__(in_features, num_classes, bias=bias)

    @property
    def num_classes(self) -> int:
        return self.out_features


class CosineHead(nn.Module):
    """Cosine (normalised linear) classifier: ``logits = s * <x/||x||, W_c/||W_c||>``.

    Args:
        in_features: feature size D.
        num_classes: number of classes C.
        scale: ``s``; the logits lie in ``[-s, s]``. 16 in the IIF paper's recipes.
        learnable_scale: learn ``s`` (the paper's Places-LT recipe). It is stored as
            ``log_scale`` (a 0-dim ``nn.Parameter``, ``s = exp(log_scale)``) so ``s`` stays
            positive and a gradient step changes it by a ratio, whatever its size. Exclude it
            from weight decay, as one does for biases: decay would pull ``s`` towards 1.
            A fixed scale is a plain float, neither a parameter nor a buffer.
        eps: lower bound on the norms, so that an all-zero feature vector (possible after a
            ReLU) gives logits of 0 rather than NaN.

    Shapes: ``x`` ``(N, D)`` -> ``(N, C)``.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        scale: float = 16.0,
        learnable_scale: bool = False,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if not scale > 0:
            raise ValueError(f"CosineHead scale must be > 0, got {scale!r}")
        self.in_features = int(in_features)
        self.num_classes = int(num_classes)
        self.eps = float(eps)
        self.learnable_scale = bool(learnable_scale)
        self.weight = nn.Parameter(torch.empty(self.num_classes, self.in_features))
        if self.learnable_scale:
            self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
        else:
            self._fixed_scale = float(scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Rows start at unit norm (as LDAM's NormedLinear): only directions matter for the
        # logits, and the gradient w.r.t. W_c scales as 1/||W_c||, so unit rows make the
        # effective learning rate independent of D.
        with torch.no_grad():
            nn.init.normal_(self.weight)
            self.weight.div_(self.weight.norm(dim=1, keepdim=True).clamp_min(self.eps))

    def _scale(self) -> Tensor | float:
        return self.log_scale.exp() if self.learnable_scale else self._fixed_scale

    @property
    def scale(self) -> float:
        """The current ``s`` as a Python float (for logging; forward uses the tensor)."""
        s = self._scale()
        return float(s.detach()) if isinstance(s, Tensor) else s

    def forward(self, x: Tensor) -> Tensor:
        # Normalise in float32: under fp16 autocast eps would underflow to 0 and a zero
        # feature vector would give 0/0. The matmul itself may still run in low precision.
        x = F.normalize(x.float(), dim=1, eps=self.eps)
        w = F.normalize(self.weight.float(), dim=1, eps=self.eps)
        return F.linear(x, w) * self._scale()

    def extra_repr(self) -> str:
        kind = "learnable" if self.learnable_scale else "fixed"
        return f"in_features={self.in_features}, num_classes={self.num_classes}, scale={self.scale:.4g} ({kind})"


class LWSHead(nn.Module):
    """Learnable weight scaling (Kang et al., ICLR 2020): ``logits = f * base(x)``.

    ``f`` (``scale``, shape ``(C,)``, initialised to 1) is the only trainable tensor: the base
    head is frozen here and stays frozen through :meth:`requires_grad_` and :meth:`train`, so
    ``LTClassifier.set_trainable("classifier")`` trains ``f`` alone. At initialisation the
    output equals the base head's. The bias, if any, is scaled too (the whole logit is).

    Shapes: ``x`` ``(N, D)`` -> ``(N, C)``.
    """

    def __init__(self, base_head: nn.Module) -> None:
        super().__init__()
        for attr in ("weight", "in_features", "num_classes"):
            if not hasattr(base_head, attr):
                raise ValueError(f"LWSHead needs a head with `{attr}`, got {type(base_head).__name__}")
        self.base = base_head
        self.base.requires_grad_(False)
        self.in_features = int(base_head.in_features)
        self.num_classes = int(base_head.num_classes)
        w = base_head.weight
        self.scale = nn.Parameter(torch.ones(self.num_classes, device=w.device, dtype=w.dtype))
        self.base.train(False)

    @property
    def weight(self) -> Tensor:
        """``(C, D)``: the base head's weight with row ``c`` multiplied by ``f_c``."""
        return self.base.weight * self.scale.unsqueeze(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) * self.scale

    def requires_grad_(self, requires_grad: bool = True) -> "LWSHead":
        # Only f is ever trainable: LWS retrains the scales of a fixed classifier.
        self.scale.requires_grad_(requires_grad)
        return self

    def train(self, mode: bool = True) -> "LWSHead":
        super().train(mode)
        self.base.train(False)
        return self


def build_head(kind: str, in_features: int, num_classes: int, scale: float = 16.0) -> nn.Module:
    """Build a classifier head by name: ``"linear"``, ``"cosine"`` or ``"cosine_learnable"``.

    ``scale`` is the cosine heads' ``s`` (initial value for ``"cosine_learnable"``); the
    linear head ignores it.
    """
    if kind == "linear":
        return LinearHead(in_features, num_classes)
    if kind == "cosine":
        return CosineHead(in_features, num_classes, scale=scale, learnable_scale=False)
    if kind == "cosine_learnable":
        return CosineHead(in_features, num_classes, scale=scale, learnable_scale=True)
    raise ValueError(f"unknown head {kind!r}; expected one of {list(HEADS)}")
