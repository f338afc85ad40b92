"""torchvision's MobileNetV2 as an MMDetection backbone (``type='TVMobileNetV2'``).

A thin registered wrapper around :class:`iif.models.mobilenet.MobileNetV2Backbone`, so the
ImageNet file that :mod:`iif.data.fetch_weights` extracts loads key for key (no mapping to
mmdet's own MobileNetV2 key names, nothing downloaded). Give the file as ``pretrained``; the
outputs feed an FPN with ``in_channels=[24, 32, 96, 1280]`` at the default ``out_indices``.
"""
from __future__ import annotations

from typing import Optional, Sequence

from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from iif.models.mobilenet import MobileNetV2Backbone

__all__ = ["TVMobileNetV2"]


@MODELS.register_module()
class TVMobileNetV2(BaseModule):
    """See :class:`iif.models.mobilenet.MobileNetV2Backbone` for the arguments.

    The weights are loaded at construction; ``init_weights`` leaves them alone (MMEngine calls it
    after building, and a pretrained backbone must not be re-initialised).
    """

    def __init__(self, out_indices: Sequence[int] = (3, 6, 13, 18), pretrained: Optional[str] = None,
                 frozen_stages: int = 1, norm_eval: bool = True, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.body = MobileNetV2Backbone(out_indices, pretrained, frozen_stages, norm_eval)
        self.out_channels = self.body.out_channels

    def init_weights(self) -> None:
        if self.body is not None and self.init_cfg is None:
            return  # torchvision's own init, or the loaded ImageNet weights
        super().init_weights()

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        return self.body(x)
