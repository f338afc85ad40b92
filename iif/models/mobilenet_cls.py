"""MobileNetV2 (torchvision's layers, ImageNet weights from a local file) as a pooled-feature backbone.

Built on :class:`iif.models.mobilenet.MobileNetV2Backbone` (the detection backbone): its last block
(18, the 1x1 conv to 1280 channels) is globally average-pooled into ``(N, 1280)`` features, the
contract of :data:`iif.models.MODELS`. State-dict keys stay torchvision's (``features.<i>.*``), so
``pretrained`` takes torchvision's ``mobilenet_v2-b0353104.pth`` (``"imagenet"``: the copy that
``python -m iif.data.fetch_weights mobilenet_v2`` put in ``~/.cache/iif/weights``), loaded strictly.
Inputs should be normalised with ImageNet's mean / std (``data.*_transform.stats="imagenet"``).
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Optional

from torch import Tensor, nn

__all__ = ["mobilenet_v2", "MOBILENET_V2_FEATURES"]

#: Channels of block 18, the pooled feature size ``D``.
MOBILENET_V2_FEATURES = 1280


@lru_cache(maxsize=None)  # one class object: isinstance checks hold across builds
def _classifier_backbone_class() -> type:
    # Deferred so that `import iif.models` does not depend on the detection backbone's module.
    from .mobilenet import MobileNetV2Backbone

    class MobileNetV2Features(MobileNetV2Backbone):
        """``(N, 3, H, W)`` (ImageNet-normalised) -> pooled block-18 features ``(N, 1280)``.

        ``frozen_stages`` / ``norm_eval`` keep their meaning (frozen stem; BatchNorm in eval mode
        with frozen affine parameters) through :meth:`LTClassifier.set_trainable`, which sets
        ``requires_grad`` on the whole backbone.
        """

        num_features = MOBILENET_V2_FEATURES
        # No residual "stage" to single out: model.trainable="last_block" is refused by name.
        last_stage_name = None

        def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
            return super().forward(x)[-1].mean(dim=(2, 3))

        def requires_grad_(self, requires_grad: bool = True) -> "MobileNetV2Features":
            super().requires_grad_(requires_grad)
            if requires_grad:
                self._freeze()  # unfreezing "everything" must not undo frozen_stages / norm_eval
            return self

    return MobileNetV2Features


def mobilenet_v2(in_chans: int = 3, pretrained: Optional[str | os.PathLike] = None, frozen_stages: int = -1,
                 norm_eval: bool = False) -> nn.Module:
    """torchvision's MobileNetV2 (width 1.0) as a backbone ``(N, 3, H, W) -> (N, 1280)``.

    Args:
        pretrained: torchvision's ImageNet state dict: a path, or ``"imagenet"`` for the fetched
            file; None: random initialisation. Every backbone key must be in the file.
        frozen_stages: blocks ``0..frozen_stages`` get no gradient (-1: none; 1: the stem).
        norm_eval: BatchNorm in eval mode with frozen affine parameters (ImageNet statistics kept;
            for tiny batches). Off by default: classification batches re-estimate them fine.
    """
    if in_chans != 3:
        raise ValueError(f"mobilenet_v2 takes RGB images (in_chans=3), got in_chans={in_chans}")
    cls = _classifier_backbone_class()
    return cls(out_indices=(18,), pretrained=None if pretrained is None else os.fspath(pretrained),
               frozen_stages=frozen_stages, norm_eval=norm_eval)
