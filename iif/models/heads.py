"""Classifier heads: features ``(N, D)`` -> logits ``(N, C)``.

Every head exposes ``weight`` ``(C, D)`` (what tau-normalisation, :func:`iif.tau_normalize`,
rescales), ``in_features`` (D) and ``num_classes`` (C).

- :class:`LinearHead`: the usual ``x W^T + b``.
- :class:`CosineHead`: normalised linear classifier ``s * cos(x, W_c)``; the IIF paper's
  "cosine classifier, scale 16" (CIFAR-LT, ImageNet-LT) and, with a learnable ``s``, Places-LT.
  ``feature_norm="squash"`` keeps a squashed feature norm, ``s * ||x||/(1+||x||) * cos(x, W_c)``,
  and ``scale_param="square"`` learns ``s = p**2``: both as in the authors' code
  (kostas1515/iif ``CosNorm_Classifier``), which produced the paper's numbers.
- :class:`LWSHead`: learnable weight scaling (Kang et al., "Decoupling Representation and
  Classifier for Long-Tailed Recognition", ICLR 2020) around a frozen head.
"""
from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LinearHead", "CosineHead", "LWSHead", "HEADS", "FEATURE_NORMS", "SCALE_PARAMS", "build_head"]

logger = logging.getLogger(__name__)

HEADS = ("linear", "cosine", "cosine_learnable")

#: How a cosine head treats the feature norm: ``"unit"`` divides it out (``x / ||x||``, the
#: textbook cosine classifier); ``"squash"`` keeps it squashed into [0, 1):
#: ``x / (1 + ||x||) = (||x|| / (1 + ||x||)) * x / ||x||`` (the authors' ``CosNorm_Classifier``).
FEATURE_NORMS = ("unit", "squash")

#: How a learnable cosine scale is stored: ``"log"``: ``s = exp(log_scale)`` (positive, steps by
#: ratios, kept out of weight decay); ``"square"``: ``s = scale_root ** 2`` with ``scale_root``
#: starting at ``sqrt(s)`` (5 for s = 25) and decayed like any weight (the authors' ``lr_cosine``).
SCALE_PARAMS = ("log", "square")


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
        scale: ``s`` (its initial value when learnable); the logits lie in ``[-s, s]``. 16 in
            the IIF paper's recipes; 25 (= 5**2) for the authors' learnable Places-LT scale.
        learnable_scale: learn ``s`` (the paper's Places-LT recipe); see ``scale_param``.
            A fixed scale is a plain float, neither a parameter nor a buffer.
        eps: lower bound on the norms, so that an all-zero feature vector (possible after a
            ReLU) gives logits of 0 rather than NaN.
        feature_norm: ``"unit"`` (default): ``s * cos(x, W_c)``, the feature norm removed;
            ``"squash"``: ``s * ||x||/(1+||x||) * cos(x, W_c) = s * <x/(1+||x||), W_c/||W_c||>``,
            as in the authors' code: a small-norm (uncertain) feature gets small logits, and
            the logits stay within ``(-s, s)``. A zero feature gives 0 without any eps.
        scale_param: how a learnable ``s`` is stored (ignored for a fixed scale):
            ``"log"`` (default): ``log_scale``, ``s = exp(log_scale)``, so ``s`` stays positive
            and a step changes it by a ratio; :func:`iif.engine.builders.build_optimizer` keeps
            it out of weight decay (decay would pull ``s`` towards 1).
            ``"square"``: ``scale_root``, ``s = scale_root ** 2``, initialised to
            ``sqrt(scale)``, under weight decay like the other weights: the authors'
            ``lr_cosine`` (``Parameter(5.0)``, logits ``scale**2 * ...``).

    Shapes: ``x`` ``(N, D)`` -> ``(N, C)``.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        scale: float = 16.0,
        learnable_scale: bool = False,
        eps: float = 1e-6,
        feature_norm: str = "unit",
        scale_param: str = "log",
    ) -> None:
        super().__init__()
        if not scale > 0:
            raise ValueError(f"CosineHead scale must be > 0, got {scale!r}")
        if feature_norm not in FEATURE_NORMS:
            raise ValueError(f"unknown feature_norm {feature_norm!r}; expected one of {list(FEATURE_NORMS)}")
        if scale_param not in SCALE_PARAMS:
            raise ValueError(f"unknown scale_param {scale_param!r}; expected one of {list(SCALE_PARAMS)}")
        self.in_features = int(in_features)
        self.num_classes = int(num_classes)
        self.eps = float(eps)
        self.feature_norm = feature_norm
        self.scale_param = scale_param
        self.learnable_scale = bool(learnable_scale)
        self.weight = nn.Parameter(torch.empty(self.num_classes, self.in_features))
        if self.learnable_scale and scale_param == "log":
            self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
        elif self.learnable_scale:
            self.scale_root = nn.Parameter(torch.tensor(math.sqrt(scale)))
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
        if not self.learnable_scale:
            return self._fixed_scale
        return self.log_scale.exp() if self.scale_param == "log" else self.scale_root.square()

    def scale_parameter(self) -> nn.Parameter | None:
        """The 0-dim parameter a learnable ``s`` is computed from (``log_scale`` or
        ``scale_root``), or None for a fixed scale: what freezing the scale freezes."""
        if not self.learnable_scale:
            return None
        return self.log_scale if self.scale_param == "log" else self.scale_root

    @property
    def scale(self) -> float:
        """The current ``s`` as a Python float (for logging; forward uses the tensor)."""
        s = self._scale()
        return float(s.detach()) if isinstance(s, Tensor) else s

    def forward(self, x: Tensor) -> Tensor:
        # Normalise and multiply in float32, also under autocast: in fp16 eps would underflow to 0
        # (a zero feature vector would give 0/0), and a bf16 cosine (8 bits of mantissa) times a
        # scale of 16 errs by up to ~0.06 in a logit. The (N, D) x (D, C) product costs nothing.
        with torch.autocast(x.device.type, enabled=False):
            return self._cosine_logits(x.float())

    def _cosine_logits(self, x: Tensor) -> Tensor:
        if self.feature_norm == "unit":
            x = F.normalize(x, dim=1, eps=self.eps)
        else:
            # ||x||/(1+||x||) * x/||x|| written as x/(1+||x||): no division by ||x||, so a zero
            # feature vector needs no eps (the authors' form is NaN there).
            x = x / (1.0 + x.norm(dim=1, keepdim=True))
        w = F.normalize(self.weight.float(), dim=1, eps=self.eps)
        return F.linear(x, w) * self._scale()

    def extra_repr(self) -> str:
        kind = f"learnable, {self.scale_param}" if self.learnable_scale else "fixed"
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, scale={self.scale:.4g} ({kind}), "
                f"feature_norm={self.feature_norm}")


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


def build_head(kind: str, in_features: int, num_classes: int, scale: float = 16.0, feature_norm: str = "unit",
               scale_param: str = "log") -> nn.Module:
    """Build a classifier head by name: ``"linear"``, ``"cosine"`` or ``"cosine_learnable"``.

    ``scale`` is the cosine heads' ``s`` (initial value for ``"cosine_learnable"``);
    ``feature_norm`` and ``scale_param`` are :class:`CosineHead`'s (``"unit"`` / ``"log"``:
    the textbook cosine head; ``"squash"`` / ``"square"``: the authors'). The linear head
    ignores all three, but their values are still checked.
    """
    if feature_norm not in FEATURE_NORMS:
        raise ValueError(f"unknown feature_norm {feature_norm!r}; expected one of {list(FEATURE_NORMS)}")
    if scale_param not in SCALE_PARAMS:
        raise ValueError(f"unknown scale_param {scale_param!r}; expected one of {list(SCALE_PARAMS)}")
    if kind == "linear":
        return LinearHead(in_features, num_classes)
    if kind in ("cosine", "cosine_learnable"):
        return CosineHead(in_features, num_classes, scale=scale, learnable_scale=kind == "cosine_learnable",
                          feature_norm=feature_norm, scale_param=scale_param)
    raise ValueError(f"unknown head {kind!r}; expected one of {list(HEADS)}")
