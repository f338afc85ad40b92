"""A small 3-layer CNN for CPU smoke runs and the Fashion-MNIST default."""
from __future__ import annotations

from torch import Tensor, nn

__all__ = ["SmallCNN", "cnn3"]


def _conv_bn_relu(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """``(N, in_chans, H, W) -> (N, 128)``: conv-BN-ReLU 32 -> maxpool -> 64 -> maxpool -> 128
    -> global average pool. About 93k parameters; any ``H, W >= 4``.

    The three ``layer*`` stages mirror the ResNets so that ``set_trainable("last_block")``
    works here too (``layer3``).
    """

    last_stage_name = "layer3"

    def __init__(self, in_chans: int = 3, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        if in_chans < 1:
            raise ValueError(f"in_chans must be >= 1, got {in_chans!r}")
        self.layer1 = nn.Sequential(*_conv_bn_relu(in_chans, widths[0]), nn.MaxPool2d(2))
        self.layer2 = nn.Sequential(*_conv_bn_relu(widths[0], widths[1]), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(*_conv_bn_relu(widths[1], widths[2]))
        self.num_features = widths[2]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_map(self, x: Tensor) -> Tensor:
        """The last feature map before pooling, ``(N, 128, H/4, W/4)`` (ResLT branches on it)."""
        return self.layer3(self.layer2(self.layer1(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_map(x).mean(dim=(2, 3))


def cnn3(in_chans: int = 3) -> SmallCNN:
    """The ``cnn3`` backbone: 128-d features."""
    return SmallCNN(in_chans=in_chans)
