"""torchvision's MobileNetV2 as a multi-scale backbone, loading its ImageNet weights from a local file.

The weights come from :func:`iif.data.fetch_weights.ensure_mobilenet_v2` (setup time, never run
time). The layers are torchvision's own (``torchvision.models.mobilenet_v2().features``), so the
ImageNet file loads key for key with nothing missing; only its ``classifier.*`` tensors are unused.

``features`` has 19 blocks: ``0`` the stride-2 stem, ``1..17`` the inverted residuals, ``18`` the
final 1x1 conv to 1280 channels. ``out_indices`` name blocks whose output is returned; the default
``(3, 6, 13, 18)`` gives strides 4 / 8 / 16 / 32 with 24 / 32 / 96 / 1280 channels, the levels an
FPN takes (mmdet's own MobileNetV2 returns the same tensors under ``out_indices=(1, 2, 4, 7)``).
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = ["MobileNetV2Backbone"]


class MobileNetV2Backbone(nn.Module):
    """MobileNetV2 feature blocks returning a tuple of maps ``(N, C_i, H/s_i, W/s_i)``.

    Args:
        out_indices: blocks of ``features`` (0-18) whose outputs are returned, increasing.
        pretrained: path of torchvision's ImageNet state dict (``mobilenet_v2-b0353104.pth``),
            ``"imagenet"`` for that file in :func:`iif.data.fetch_weights.default_weights_root`
            (put there at setup time; never downloaded here), or ``None`` for random initialisation. Loaded strictly: every backbone key must be there.
        frozen_stages: blocks ``0..frozen_stages`` get no gradient (-1: none), as mmdet's
            ``frozen_stages`` keeps the pretrained stem fixed.
        norm_eval: keep every BatchNorm in eval mode with its affine parameters frozen. Detection
            batches of 2-4 images give useless batch statistics, so pretrained BN stays as trained
            on ImageNet (detectron's FrozenBN, mmdet's ``norm_eval=True`` plus frozen affine).
        width_mult: torchvision's width multiplier (the ImageNet file is for 1.0).
    """

    def __init__(self, out_indices: Sequence[int] = (3, 6, 13, 18), pretrained: Optional[str] = None,
                 frozen_stages: int = 1, norm_eval: bool = True, width_mult: float = 1.0) -> None:
        super().__init__()
        from torchvision.models import mobilenet_v2

        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or list(out_indices) != sorted(set(out_indices)) or not 0 <= out_indices[0] \
                or out_indices[-1] > 18:
            raise ValueError(f"out_indices must be increasing block indices in 0..18, got {out_indices}")
        if not -1 <= int(frozen_stages) <= 18:
            raise ValueError(f"frozen_stages must be in -1..18, got {frozen_stages}")
        self.out_indices, self.frozen_stages, self.norm_eval = out_indices, int(frozen_stages), bool(norm_eval)
        self.features = mobilenet_v2(weights=None, width_mult=width_mult).features[: out_indices[-1] + 1]
        self.out_channels = tuple(_block_channels(self.features[i]) for i in out_indices)
        if pretrained is not None:
            self.load_imagenet(pretrained)
        self._freeze()

    def load_imagenet(self, path: str) -> None:
        """Load torchvision's ImageNet state dict from ``path``; refuses a file that misses any key.

        A file named ``mobilenet_v2-b0353104.pth`` (the fetched copy) must have the pinned sha256
        (:func:`iif.data.fetch_weights.verify_cached_weights`, checked at every load, hashed once
        per process); every file is read by :func:`iif.safe_load.load_torch_file`.
        """
        from iif.data.fetch_weights import MOBILENET_V2, default_weights_root, verify_cached_weights
        from iif.safe_load import load_torch_file

        if path == "imagenet":
            path = os.path.join(default_weights_root(), MOBILENET_V2.name)
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"MobileNetV2 weights not found at {path!r}; put torchvision's "
                                    f"mobilenet_v2-b0353104.pth there (`python -m iif.data.fetch_weights mobilenet_v2`)")
        if os.path.basename(path) == MOBILENET_V2.name:
            verify_cached_weights(path, MOBILENET_V2)
        state = load_torch_file(path, "MobileNetV2 weights")
        if not isinstance(state, dict):
            raise ValueError(f"{path!r} holds a {type(state).__name__}, expected torchvision's MobileNetV2 state dict")
        ours = self.state_dict()
        missing = [k for k in ours if k not in state]
        bad = [f"{k} {tuple(getattr(state[k], 'shape', ()))} vs {tuple(v.shape)}" for k, v in ours.items()
               if k in state and (not isinstance(state[k], torch.Tensor) or tuple(state[k].shape) != tuple(v.shape))]
        if missing or bad:
            raise ValueError(f"{path!r} is not torchvision's MobileNetV2 (width 1.0): {len(missing)} missing keys "
                             f"(e.g. {missing[:3]}), {len(bad)} shape mismatches (e.g. {bad[:3]})")
        self.load_state_dict({k: state[k] for k in ours}, strict=True)

    def _freeze(self) -> None:
        for i in range(self.frozen_stages + 1):
            for p in self.features[i].parameters():
                p.requires_grad_(False)
        if self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    for p in m.parameters():
                        p.requires_grad_(False)

    def train(self, mode: bool = True) -> "MobileNetV2Backbone":
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``x`` ``(N, 3, H, W)`` normalised with ImageNet's mean / std -> the ``out_indices`` maps."""
        outs = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def _block_channels(block: nn.Module) -> int:
    """Output channels of a torchvision MobileNetV2 block (its last conv's, or the BN after it)."""
    last = [m for m in block.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))][-1]
    return last.num_features if isinstance(last, nn.BatchNorm2d) else last.out_channels
