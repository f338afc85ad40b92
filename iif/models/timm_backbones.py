"""ImageNet-scale SE-ResNets from timm, as pooled-feature backbones.

timm's ``seresnet*`` / ``seresnext*`` use SE reduction 16, the IIF paper's. Models are
created with ``pretrained=False`` (nothing is ever downloaded; pass a local checkpoint
through ``build_model(pretrained=...)``) and ``num_classes=0``, which makes timm return
globally pooled features ``(N, 2048)``. Their state-dict keys are torchvision's
(``conv1``, ``layer1`` ... ``layer4``, ``fc``), so torchvision/timm ImageNet checkpoints load.
timm is imported on first use so that ``import iif.models`` stays light.
"""
from __future__ import annotations

import logging
from functools import partial
from typing import Any, Callable

from torch import nn

__all__ = ["TIMM_ARCHS", "timm_backbone", "timm_builders"]

logger = logging.getLogger(__name__)

# our name -> timm's name (paper recipes: DESIGN.md section 3)
TIMM_ARCHS = {
    "se_resnet50": "seresnet50",  # ImageNet-LT
    "se_resnext50_32x4d": "seresnext50_32x4d",  # ImageNet-LT
    "se_resnet152": "seresnet152",  # Places-LT
    "resnet50": "resnet50",  # the usual non-SE baseline
    "resnext50_32x4d": "resnext50_32x4d",  # ResLT's ImageNet-LT network (no SE)
}


def timm_backbone(timm_name: str, in_chans: int = 3, **kwargs: Any) -> nn.Module:
    """Create a timm ResNet-family model as a backbone: ``(N, in_chans, H, W) -> (N, 2048)``.

    ``kwargs`` go to ``timm.create_model`` (e.g. ``drop_path_rate``); ``pretrained`` and
    ``num_classes`` are fixed here, and timm's own ``checkpoint_path`` is refused: a checkpoint is
    read only through ``build_model(pretrained=...)`` (:func:`iif.safe_load.load_torch_file`:
    weights-only, decompression bombs refused).
    """
    for fixed in ("pretrained", "num_classes", "checkpoint_path"):
        if fixed in kwargs:
            raise ValueError(
                f"{fixed!r} cannot be passed to a timm backbone: weights come only from a local "
                "checkpoint (build_model(pretrained=PATH)) and the classifier is a separate head"
            )
    import timm  # deferred: heavy import

    model = timm.create_model(timm_name, pretrained=False, num_classes=0, in_chans=in_chans, **kwargs)
    # The stage `set_trainable("last_block")` unfreezes (the Places-LT recipe).
    model.last_stage_name = "layer4"
    logger.debug("created timm %s (in_chans=%d, %d features)", timm_name, in_chans, model.num_features)
    return model


def timm_builders() -> dict[str, Callable[..., nn.Module]]:
    """One builder per name in :data:`TIMM_ARCHS`."""
    return {name: partial(timm_backbone, timm_name) for name, timm_name in TIMM_ARCHS.items()}
