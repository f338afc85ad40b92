"""CIFAR-style ResNets (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
Sec. 4.2) with optional Squeeze-and-Excitation (Hu et al., CVPR 2018).

Layout for depth ``6n + 2`` (ResNet-32: n = 5): a 3x3 conv with 16 channels, then three
stages of n BasicBlocks with 16/32/64 channels and strides 1/2/2, then global average
pooling -> 64-d features. The classifier is not part of the backbone (see ``heads.py``).

Shortcut when a block changes shape: option ``"A"`` (default) is the paper's CIFAR choice,
a parameter-free identity that subsamples by 2 and zero-pads the new channels; it gives the
published 0.46M parameters for ResNet-32 (463,504 in the backbone + 650 for a 10-way linear
classifier), and it is what the LDAM-DRW / MiSLAS / IIF CIFAR code uses. Option ``"B"``
is a 1x1 conv + BN projection (+2,752 parameters).

``se_resnet32``: an SE module on the residual branch of every block, after the second BN and
before the addition (Hu et al., Fig. 3), reduction 4 as in the IIF paper's CIFAR recipe.
"""
from __future__ import annotations

import logging
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SEModule", "BasicBlock", "ResNetCifar", "resnet32", "se_resnet32", "SHORTCUTS"]

logger = logging.getLogger(__name__)

SHORTCUTS = ("A", "B")


class SEModule(nn.Module):
    """Squeeze-and-Excitation: ``x * sigmoid(fc2(relu(fc1(mean_hw(x)))))``.

    ``fc1``/``fc2`` are 1x1 convs (with bias) ``C -> C // reduction -> C`` so the module works
    on channels_last tensors without reshapes. ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        if reduction < 1 or channels // reduction < 1:
            raise ValueError(f"SE reduction must be in [1, {channels}] for {channels} channels, got {reduction!r}")
        hidden = channels // reduction
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        s = self.fc2(F.relu(self.fc1(s)))
        return x * torch.sigmoid(s)


class PadShortcut(nn.Module):
    """Option-A shortcut: take every ``stride``-th pixel and zero-pad the extra channels
    (half before, half after, as in the common CIFAR implementations).

    ``(N, C_in, H, W) -> (N, C_out, ceil(H/stride), ceil(W/stride))``; the size matches a 3x3
    conv with padding 1 and the same stride for odd sizes too (28 -> 14 -> 7).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"option-A shortcut cannot reduce channels ({in_channels} -> {out_channels})")
        self.stride = stride
        extra = out_channels - in_channels
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad[0], self.pad[1]))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad={self.pad}"


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection; optional SE before the addition.

    ``(N, C_in, H, W) -> (N, C_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        se_reduction: Optional[int] = None,
        shortcut: str = "A",
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = SEModule(out_channels, se_reduction) if se_reduction else nn.Identity()
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = PadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """CIFAR ResNet backbone: images ``(N, in_chans, H, W)`` -> features ``(N, 64)``.

    Works for any ``H, W >= 1`` (the two stride-2 stages give ceil(H/4) at the end; 8 or more
    is sensible), e.g. 28x28 grayscale with ``in_chans=1`` or 32x32 RGB.

    Args:
        depth: ``6n + 2`` (20, 32, 44, 56, 110).
        in_chans: input channels.
        se_reduction: SE reduction ratio, or ``None`` for a plain ResNet.
        shortcut: ``"A"`` (zero-pad identity, the paper's) or ``"B"`` (1x1 conv projection).
        widths: channels of the stem and the three stages.
    """

    last_stage_name = "layer3"

    def __init__(
        self,
        depth: int = 32,
        in_chans: int = 3,
        se_reduction: Optional[int] = None,
        shortcut: str = "A",
        widths: tuple[int, int, int] = (16, 32, 64),
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110), got {depth!r}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut {shortcut!r}; expected one of {list(SHORTCUTS)}")
        if in_chans < 1:
            raise ValueError(f"in_chans must be >= 1, got {in_chans!r}")
        n = (depth - 2) // 6
        self.depth = depth
        self.se_reduction = se_reduction
        self.conv1 = nn.Conv2d(in_chans, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages = []
        in_ch = widths[0]
        for width, stride in zip(widths, (1, 2, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(in_ch, width, stride if i == 0 else 1, se_reduction, shortcut))
                in_ch = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.num_features = widths[-1]
        self._init_weights()

    def _init_weights(self) -> None:
        # He et al. 2015 ("Delving deep into rectifiers") init for the ReLU network, as the
        # ResNet paper; BN starts as the identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_map(self, x: Tensor) -> Tensor:
        """The last feature map before pooling, ``(N, 64, ceil(H/4), ceil(W/4))`` (ResLT branches on it)."""
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_map(x).mean(dim=(2, 3))


def resnet32(in_chans: int = 3, shortcut: str = "A") -> ResNetCifar:
    """ResNet-32 backbone (463,504 parameters with 3 input channels), 64-d features."""
    return ResNetCifar(32, in_chans=in_chans, se_reduction=None, shortcut=shortcut)


def se_resnet32(in_chans: int = 3, se_reduction: int = 4, shortcut: str = "A") -> ResNetCifar:
    """SE-ResNet-32 backbone, SE reduction 4 (IIF paper, CIFAR-LT), 64-d features."""
    return ResNetCifar(32, in_chans=in_chans, se_reduction=se_reduction, shortcut=shortcut)
