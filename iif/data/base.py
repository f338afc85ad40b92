"""``LTDataset``: the interface every long-tailed dataset gives the trainer."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..metrics import SHOT_THRESHOLDS
from ..weights import class_counts

__all__ = ["LTDataset", "check_split", "check_shot_thresholds"]

Transform = Optional[Callable[[torch.Tensor], object]]


def check_split(split: str, splits: Sequence[str], name: str) -> str:
    """Return ``split`` or raise ``ValueError`` listing ``splits``."""
    if split not in splits:
        raise ValueError(f"unknown split {split!r} for {name}; expected one of {list(splits)}")
    return split


def check_shot_thresholds(thresholds: Sequence[int]) -> tuple[int, int]:
    """``(hi, lo)`` with ``hi >= lo >= 0``: many ``> hi``, few ``< lo`` training images."""
    try:
        hi, lo = (int(t) for t in thresholds)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"shot_thresholds must be two integers (many > hi, few < lo), got {thresholds!r}") from exc
    if not hi >= lo >= 0:
        raise ValueError(f"shot_thresholds must be (hi, lo) with hi >= lo >= 0, got {thresholds!r}")
    return hi, lo


class LTDataset(Dataset):
    """A single-label image dataset with its class statistics.

    Attributes:
        num_classes: ``C``.
        targets: ``(N,)`` int64 class indices.
        classes: ``C`` class names (generic ``"0"``, ``"1"`` ... where none are known).
        shot_thresholds: ``(hi, lo)``; many-shot ``> hi``, few-shot ``< lo`` training images.
        transform: applied to the ``uint8`` ``(C, H, W)`` image in ``__getitem__``; settable.

    Subclasses set the attributes and implement :meth:`load_image`.
    """

    num_classes: int
    targets: np.ndarray
    classes: list[str]
    shot_thresholds: tuple[int, int] = SHOT_THRESHOLDS
    transform: Transform = None

    def load_image(self, index: int) -> torch.Tensor:
        """The raw image ``index`` as ``uint8`` ``(C, H, W)``."""
        raise NotImplementedError

    def in_memory_images(self) -> Optional[torch.Tensor]:
        """All images as one ``uint8`` ``(N, C, H, W)`` tensor when the dataset holds them in memory
        at one size (what the batched fast path, :mod:`iif.data.batched`, needs), else None."""
        return None

    def class_counts(self) -> np.ndarray:
        """Images per class ``(C,)`` int64 (zeros for absent classes)."""
        return class_counts(self.targets, self.num_classes)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[object, int]:
        """``(transform(img), label)`` with ``img`` ``uint8`` ``(C, H, W)``; ``img`` itself without a transform."""
        img = self.load_image(index)
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.targets[index])

    def __repr__(self) -> str:
        counts = self.class_counts()
        return (
            f"{type(self).__name__}(split={getattr(self, 'split', '?')!r}, images={len(self)}, "
            f"classes={self.num_classes}, max/min per class={counts.max()}/{counts.min()})"
        )
