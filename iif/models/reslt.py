"""ResLT networks (Cui et al., "ResLT: Residual Learning for Long-tailed Recognition", TPAMI 2022):
three branches (head, medium, tail) over one shared feature map, one shared classifier.

Two forms, as in the official code (jiequancui/ResLT):

- ``"bn"`` (its CIFAR ResNet-32): three BatchNorm layers on the same last feature map, each
  followed by the shared global average pooling and the shared classifier;
- ``"conv"`` (its ImageNet ResNeXt-50): a 1x1 conv from D to 3D channels + BatchNorm + ReLU,
  pooled and split into three D-channel parts, each through the shared classifier.

The model predicts with the **sum** of the branch logits. ``model(x, return_branches=True)`` gives
the branch logits ``(3, N, C)`` that :class:`iif.ResLTLoss` trains on. Test-time ``gamma``
(the official ImageNet evaluation): in eval mode the shared classifier's rows are divided by
``||W_c||^gamma`` (:func:`iif.tau_normalize`) and its bias is dropped; linear heads only.

Either form works on every backbone: the CIFAR ResNets and ``cnn3`` expose ``forward_map`` (the
map before pooling), timm models ``forward_features``. The official ``conv`` code pools before
the 1x1 conv at test time but after it in training; here the conv always runs on the map, so
train and test compute the same function.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

from ..posthoc import tau_normalize
from .classifier import LTClassifier
from .heads import LWSHead

__all__ = ["ResLTClassifier", "build_reslt_model", "RESLT_FORMS"]

logger = logging.getLogger(__name__)

#: ``model.reslt.form`` values: ``"auto"`` is ``"conv"`` for timm backbones, ``"bn"`` otherwise.
RESLT_FORMS = ("auto", "bn", "conv")
NUM_BRANCHES = 3


def _linear_like(head: nn.Module) -> bool:
    """Whether the head computes ``x W^T (+ b)`` (so that test-time ``gamma`` means ``W_c / ||W_c||^gamma``)."""
    if isinstance(head, LWSHead):
        return _linear_like(head.base)
    return isinstance(head, nn.Linear)


class ResLTClassifier(LTClassifier):
    """Images ``(N, C_in, H, W)`` -> backbone map ``(N, D, h, w)`` -> 3 branch features ``(3, N, D)``
    -> shared head -> branch logits ``(3, N, C)``; ``forward`` returns their sum ``(N, C)``.

    Args:
        backbone: exposes ``forward_map`` (CIFAR ResNets, cnn3) or ``forward_features`` (timm)
            returning the last feature map ``(N, D, h, w)``, and ``num_features`` (D).
        head: the shared classifier (``in_features == D``).
        form: ``"bn"`` or ``"conv"`` (module docstring).
        gamma: test-time classifier normalisation exponent (``>= 0``; 0: none); needs a linear head.

    Buffers: ``branch_active`` ``(3,)`` bool: a dropped branch (its group has no class, see
    :func:`iif.reslt_groups`) gives zero logits, so it neither predicts nor trains.
    Freezing: the branch layers are feature layers: ``set_trainable("classifier")`` freezes them
    with the backbone; ``"last_block"`` trains them (they follow the last stage).
    """

    num_branches = NUM_BRANCHES

    def __init__(self, backbone: nn.Module, head: nn.Module, form: str = "bn", gamma: float = 0.0,
                 last_stage: Optional[str] = None) -> None:
        super().__init__(backbone, head, last_stage)
        if form not in ("bn", "conv"):
            raise ValueError(f"unknown ResLT form {form!r}; expected 'bn' or 'conv' ('auto' is resolved by "
                             f"build_reslt_model)")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma >= 0:
            raise ValueError(f"ResLT gamma must be a number >= 0, got {gamma!r}")
        if gamma > 0 and not _linear_like(head):
            raise ValueError(f"ResLT test-time gamma={gamma} needs a linear head (it divides the rows of W by "
                             f"||W_c||^gamma); got {type(head).__name__}: use model.head='linear' or gamma=0")
        if not callable(getattr(backbone, "forward_map", None)) and not callable(
                getattr(backbone, "forward_features", None)):
            raise ValueError(f"ResLT needs the backbone's last feature map: {type(backbone).__name__} has neither "
                             f"forward_map nor forward_features")
        d = self.num_features
        self.form = form
        self.gamma = float(gamma)
        if form == "bn":
            # One BatchNorm per branch on the same map (official CIFAR code; no ReLU after them).
            self.branches: nn.Module = nn.ModuleList([nn.BatchNorm2d(d) for _ in range(NUM_BRANCHES)])
        else:
            self.branches = nn.Sequential(nn.Conv2d(d, NUM_BRANCHES * d, 1, bias=False),
                                          nn.BatchNorm2d(NUM_BRANCHES * d), nn.ReLU(inplace=True))
            nn.init.kaiming_normal_(self.branches[0].weight, mode="fan_out", nonlinearity="relu")
        self.register_buffer("branch_active", torch.ones(NUM_BRANCHES, dtype=torch.bool))

    # ------------------------------------------------------------------ branches
    def set_active_branches(self, active: Sequence[bool] | Tensor) -> "ResLTClassifier":
        """Keep the branches where ``active`` ``(3,)`` is True (the others give zero logits)."""
        a = torch.as_tensor(active, dtype=torch.bool).flatten()
        if a.shape != (NUM_BRANCHES,) or not bool(a.any()):
            raise ValueError(f"active branches must be 3 booleans (head, medium, tail), at least one True; "
                             f"got {active!r}")
        self.branch_active.copy_(a.to(self.branch_active.device))
        return self

    def feature_map(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W) -> (N, D, h, w)``: the backbone's last map, before pooling."""
        fmap = getattr(self.backbone, "forward_map", None)
        return fmap(x) if fmap is not None else self.backbone.forward_features(x)

    def branch_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W) -> (3, N, D)``: pooled head, medium and tail features."""
        m = self.feature_map(x)
        if self.form == "bn":
            return torch.stack([bn(m).mean(dim=(2, 3)) for bn in self.branches])
        n, d = m.shape[0], self.num_features
        f = self.branches(m).mean(dim=(2, 3))  # (N, 3D): channels [b*D, (b+1)*D) are branch b
        return f.view(n, NUM_BRANCHES, d).transpose(0, 1)

    def branch_logits(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W) -> (3, N, C)``; dropped branches are zeros. In eval mode with
        ``gamma > 0`` the classifier is ``W_c / ||W_c||^gamma`` without bias."""
        f = self.branch_features(x)
        b, n, d = f.shape
        flat = f.reshape(b * n, d)
        if self.gamma > 0 and not self.training:
            if not _linear_like(self.head):
                raise ValueError(f"ResLT test-time gamma={self.gamma} needs a linear head, "
                                 f"got {type(self.head).__name__}")
            z = torch.nn.functional.linear(flat, tau_normalize(self.head.weight, self.gamma).to(flat.dtype))
        else:
            z = self.head(flat)
        z = z.view(b, n, -1)
        return z * self.branch_active.to(z.dtype).view(b, 1, 1)

    def forward(self, x: Tensor, return_branches: bool = False) -> Tensor:
        """Fused logits ``(N, C)`` (the sum of the branches), or with ``return_branches`` the
        branch logits ``(3, N, C)`` (head, medium, tail), whose sum over dim 0 is the former."""
        z = self.branch_logits(x)
        return z if return_branches else z.sum(0)

    def fused_classifier(self, weight: Optional[Tensor], bias: Optional[Tensor], kind: str
                         ) -> tuple[Optional[Tensor], Optional[Tensor], str]:
        """The head's ``(weight, bias, kind)`` as the fused logits see them (post-hoc tau-norm):
        ``sum_b (f_b W^T + b) = (sum_b f_b) W^T + k b`` over the ``k`` kept branches; with
        ``gamma > 0`` the eval logits are already a tau-norm of ``W``, so ``kind`` becomes ``"other"``."""
        if self.gamma > 0:
            return weight, None, "other"
        k = int(self.branch_active.sum())
        return weight, (bias * k if bias is not None else None), kind

    # ------------------------------------------------------------------ freezing
    def set_trainable(self, part: str, bn: Optional[str] = None) -> "ResLTClassifier":
        if bn is None:
            super().set_trainable(part)
        else:
            super().set_trainable(part, bn)
        # Branch layers compute features: frozen with the backbone for classifier retraining,
        # trained with "last_block" since they follow the last stage.
        self.branches.requires_grad_(part != "classifier")
        self.train(self.training)
        return self

    def train(self, mode: bool = True) -> "ResLTClassifier":
        super().train(mode)
        frozen_bn = getattr(self, "_bn_mode", "frozen") == "frozen"
        if mode and self.trainable_part == "classifier" and frozen_bn:
            self.branches.train(False)
        return self

    def extra_repr(self) -> str:
        return f"form={self.form!r}, gamma={self.gamma}, active={self.branch_active.tolist()}"


def build_reslt_model(name: str, num_classes: int, head: str = "linear", scale: float = 16.0, in_chans: int = 3,
                      pretrained: Optional[str | os.PathLike] = None, form: str = "auto", gamma: float = 0.0,
                      **kwargs: Any) -> ResLTClassifier:
    """:func:`iif.models.build_model`'s backbone and head, with ResLT branches between them.

    ``form`` ``"auto"`` picks ``"conv"`` for the timm backbones (the official ImageNet form) and
    ``"bn"`` for the CIFAR ResNets and cnn3 (the official CIFAR form).
    """
    from . import build_model  # here: the package imports this module
    from .timm_backbones import TIMM_ARCHS

    if form not in RESLT_FORMS:
        raise ValueError(f"unknown ResLT form {form!r}; expected one of {list(RESLT_FORMS)}")
    if form == "auto":
        form = "conv" if name in TIMM_ARCHS else "bn"
    base = build_model(name, num_classes, head=head, scale=scale, in_chans=in_chans, pretrained=pretrained, **kwargs)
    model = ResLTClassifier(base.backbone, base.head, form=form, gamma=gamma, last_stage=base.last_stage_name)
    extra = sum(p.numel() for p in model.branches.parameters())
    logger.info("ResLT %s form on %s (gamma %g): %d branch parameters", form, name, gamma, extra)
    return model
