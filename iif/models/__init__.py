"""Backbones and classifier heads for long-tailed classification.

::

    from iif.models import build_model
    model = build_model("se_resnet32", num_classes=100, head="cosine", scale=16.0)
    logits = model(images)                      # (N, 100)
    model.set_trainable("classifier")           # decoupled stage: head only, BN frozen

Backbones (``MODELS``; features ``D`` in brackets):

- ``resnet32``, ``se_resnet32``: CIFAR ResNet-32 (64), SE reduction 4 (IIF paper, CIFAR-LT);
- ``cnn3``: a 3-layer CNN for CPU smoke runs / Fashion-MNIST (128);
- ``se_resnet50``, ``se_resnext50_32x4d`` (ImageNet-LT), ``se_resnet152`` (Places-LT),
  ``resnet50``: timm, SE reduction 16 (2048); ``resnext50_32x4d`` (no SE; ResLT's ImageNet-LT network);
- ``mobilenet_v2``: torchvision's MobileNetV2 (1280), ImageNet weights from a local file
  (``pretrained="imagenet"`` or a path; :mod:`.mobilenet_cls`).

Whole classifiers (``CLASSIFIERS``; no separate head): ``clip``, open_clip's image and text towers
scoring class prompts, weights from a local file only (:mod:`.clip`).

ResLT (``build_reslt_model``, :class:`ResLTClassifier`): head / medium / tail branches between
any of these backbones and its head; ``model(x)`` gives the fused logits, ``model(x,
return_branches=True)`` the ``(3, N, C)`` branch logits.
"""
from __future__ import annotations

import inspect
import logging
import os
from typing import Any, Callable, Optional

from torch import nn

from .checkpoint import LoadResult, extract_state_dict, load_pretrained
from .classifier import BN_MODES, TRAINABLE_PARTS, LTClassifier
from .clip import CLIPClassifier, build_clip_classifier
from .cnn import SmallCNN, cnn3
from .heads import FEATURE_NORMS, HEADS, SCALE_PARAMS, CosineHead, LinearHead, LWSHead, build_head
from .mobilenet_cls import mobilenet_v2
from .reslt import RESLT_FORMS, ResLTClassifier, build_reslt_model
from .resnet_cifar import ResNetCifar, SEModule, resnet32, se_resnet32
from .timm_backbones import TIMM_ARCHS, timm_backbone, timm_builders

__all__ = [
    "MODELS",
    "CLASSIFIERS",
    "CLIPClassifier",
    "HEADS",
    "FEATURE_NORMS",
    "SCALE_PARAMS",
    "BN_MODES",
    "TRAINABLE_PARTS",
    "build_model",
    "build_backbone",
    "build_head",
    "LTClassifier",
    "ResLTClassifier",
    "build_reslt_model",
    "RESLT_FORMS",
    "LinearHead",
    "CosineHead",
    "LWSHead",
    "ResNetCifar",
    "SEModule",
    "SmallCNN",
    "resnet32",
    "se_resnet32",
    "cnn3",
    "timm_backbone",
    "TIMM_ARCHS",
    "load_pretrained",
    "extract_state_dict",
    "LoadResult",
]

logger = logging.getLogger(__name__)

# name -> backbone builder ``(in_chans=3, **kwargs) -> nn.Module`` returning ``(N, D)``
# features and exposing ``num_features`` (D) and ``last_stage_name``.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet32": resnet32,
    "se_resnet32": se_resnet32,
    "cnn3": cnn3,
    **timm_builders(),
    "mobilenet_v2": mobilenet_v2,
}

# name -> builder ``(num_classes, in_chans=3, pretrained=None, **kwargs) -> nn.Module`` of a model
# that is not backbone + head (CLIP scores class prompts with its text tower), with the freezing
# API of LTClassifier (``set_trainable``).
CLASSIFIERS: dict[str, Callable[..., nn.Module]] = {
    "clip": build_clip_classifier,
}


def build_backbone(name: str, in_chans: int = 3, **kwargs: Any) -> nn.Module:
    """The backbone registered as ``name`` in :data:`MODELS`; ``kwargs`` go to its builder
    (``se_reduction``/``shortcut`` for the CIFAR ResNets, ``timm.create_model`` options for
    the timm ones)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    if not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"in_chans must be a positive int, got {in_chans!r}")
    builder = MODELS[name]
    params = inspect.signature(builder).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = sorted(k for k in params if k != "in_chans")
        bad = sorted(set(kwargs) - set(allowed))
        if bad:
            raise ValueError(f"unknown option(s) {bad} for model {name!r}; expected a subset of {allowed}")
    return builder(in_chans=in_chans, **kwargs)


def build_model(
    name: str,
    num_classes: int,
    head: str = "linear",
    scale: float = 16.0,
    in_chans: int = 3,
    pretrained: Optional[str | os.PathLike] = None,
    feature_norm: str = "unit",
    scale_param: str = "log",
    **kwargs: Any,
) -> LTClassifier:
    """Backbone ``name`` + a ``head`` (``"linear"``, ``"cosine"``, ``"cosine_learnable"``)
    for ``num_classes`` classes.

    Args:
        scale: the cosine heads' ``s`` (16 in the paper; the initial value when learnable).
        feature_norm, scale_param: the cosine heads' options (see :class:`CosineHead`):
            ``"unit"`` / ``"log"`` (default) or the authors' ``"squash"`` / ``"square"``.
        in_chans: image channels (1 for MNIST-like data).
        pretrained: path of a local checkpoint to load into the backbone
            (see :func:`load_pretrained`), or the backbone's own value where its builder takes
            ``pretrained`` (``mobilenet_v2``: ``"imagenet"``); never a download.
        kwargs: backbone options (``se_reduction=4`` for ``se_resnet32``, ...).

    Returns an :class:`LTClassifier`: ``(N, in_chans, H, W) -> (N, num_classes)``; for a name in
    :data:`CLASSIFIERS` that model (``kwargs`` to its builder; no head options).
    """
    if name in CLASSIFIERS:
        if head != "linear":
            raise ValueError(f"model {name!r} has no separate head (model.head={head!r}); leave model.head='linear'")
        return CLASSIFIERS[name](num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS) + sorted(CLASSIFIERS)}")
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; expected one of {list(HEADS)}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if "pretrained" in inspect.signature(MODELS[name]).parameters:
        # The backbone loads its own weights (strictly, and it knows "imagenet": mobilenet_v2).
        backbone = build_backbone(name, in_chans=in_chans, pretrained=pretrained, **kwargs)
    else:
        backbone = build_backbone(name, in_chans=in_chans, **kwargs)
        if pretrained is not None:
            load_pretrained(backbone, pretrained)
    model = LTClassifier(backbone, build_head(head, backbone.num_features, num_classes, scale=scale,
                                              feature_norm=feature_norm, scale_param=scale_param))
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("built %s + %s head (%d classes): %.2fM parameters", name, head, num_classes, n_params / 1e6)
    return model
