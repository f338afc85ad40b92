"""Image transforms on ``uint8`` ``(C, H, W)`` tensors (``torchvision.transforms.v2``).

Train order (MiSLAS / IIF): crop -> flip -> AutoAugment / RandAugment -> float -> Cutout ->
Normalize. Cutout comes after the conversion to float and before Normalize, as in MiSLAS's
CIFAR pipeline (``ToTensor, Cutout, Normalize``), so the hole is black (0) in pixel space.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torchvision.transforms import v2

from .randaugment import AuthorsRandAugment

__all__ = ["build_transform", "Cutout", "DATASET_STATS", "AUTOAUGMENT_POLICIES"]

#: Per-channel mean/std presets, for ``build_transform(..., **DATASET_STATS[name])``.
#: "cifar" is the CIFAR-10 statistics LDAM and MiSLAS use for both CIFAR-10 and -100.
DATASET_STATS: dict[str, dict[str, tuple[float, ...]]] = {
    "cifar": {"mean": (0.4914, 0.4822, 0.4465), "std": (0.2023, 0.1994, 0.2010)},
    "cifar10": {"mean": (0.4914, 0.4822, 0.4465), "std": (0.2023, 0.1994, 0.2010)},
    "cifar100": {"mean": (0.5071, 0.4865, 0.4409), "std": (0.2673, 0.2564, 0.2762)},
    "mnist": {"mean": (0.1307,), "std": (0.3081,)},
    "fashion_mnist": {"mean": (0.2860,), "std": (0.3530,)},
    "imagenet": {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
    # the offline multi-label set (iif.data.ToyMLT, seed 0 training split): glyphs on black canvases
    "toy_mlt": {"mean": (0.1213, 0.1205, 0.1212), "std": (0.1713, 0.1700, 0.1714)},
}

#: ``autoaugment`` names -> torchvision policies.
AUTOAUGMENT_POLICIES: dict[str, v2.AutoAugmentPolicy] = {
    "cifar": v2.AutoAugmentPolicy.CIFAR10,
    "cifar10": v2.AutoAugmentPolicy.CIFAR10,
    "imagenet": v2.AutoAugmentPolicy.IMAGENET,
    "svhn": v2.AutoAugmentPolicy.SVHN,
}

_RANDAUGMENT_KEYS = ("num_ops", "magnitude", "num_magnitude_bins", "interpolation", "fill")
#: ``randaugment_policy`` -> the arguments its ``randaugment`` dict may hold.
_RANDAUGMENT_POLICIES = {"torchvision": _RANDAUGMENT_KEYS, "authors": ("prob",)}


class Cutout:
    """Zero one ``size x size`` square (DeVries & Taylor 2017) of a ``(..., H, W)`` image.

    The centre is uniform over the image and the square is clipped at the borders (so near
    an edge less than ``size**2`` pixels are erased), as in the reference Cutout that
    MiSLAS and IIF use. Uses torch's global RNG (seeded per DataLoader worker).
    """

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"cutout size must be a positive integer (square side in pixels), got {size!r}")
        self.size = size

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        cy = int(torch.randint(h, ()).item())
        cx = int(torch.randint(w, ()).item())
        y0, y1 = max(cy - self.size // 2, 0), min(cy + self.size // 2 + self.size % 2, h)
        x0, x1 = max(cx - self.size // 2, 0), min(cx + self.size // 2 + self.size % 2, w)
        img = img.clone()
        img[..., y0:y1, x0:x1] = 0
        return img

    def __repr__(self) -> str:
        return f"Cutout(size={self.size})"


def _check_stats(mean: Sequence[float], std: Sequence[float]) -> tuple[list[float], list[float]]:
    try:
        m, s = [float(x) for x in mean], [float(x) for x in std]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"mean and std must be sequences of numbers, got mean={mean!r}, std={std!r}") from exc
    if not m or len(m) != len(s):
        raise ValueError(f"mean and std need one value per channel and the same length, got mean={mean!r}, std={std!r}")
    if not all(math.isfinite(x) and x > 0 for x in s):
        raise ValueError(f"std must be positive, got {std!r}")
    return m, s


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def build_transform(
    train: bool,
    *,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_padding: int | None = None,
    random_resized_crop: bool = False,
    resize: int | None = None,
    hflip: bool = False,
    autoaugment: str | None = None,
    randaugment: dict | None = None,
    cutout: int = 0,
    color_jitter: float = 0.0,
    randaugment_policy: str = "torchvision",
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A transform from ``uint8`` ``(C, H, W)`` to normalised ``float32`` ``(C, S, S)``.

    Train (``train=True``), in order:
      1. geometry: ``RandomResizedCrop(image_size)`` if ``random_resized_crop``; otherwise
         ``Resize(resize)`` if ``resize`` is set, then ``RandomCrop(image_size, padding=crop_padding)``
         if ``crop_padding`` is set (CIFAR: 32, 4), else ``CenterCrop(image_size)`` after a resize;
      2. ``RandomHorizontalFlip()`` if ``hflip``; then ``ColorJitter(b, b, b)`` with
         ``b = color_jitter`` (brightness, contrast, saturation; ResLT's ImageNet recipe: 0.4) if > 0;
      3. ``AutoAugment`` with policy ``autoaugment`` (``"cifar"``/``"cifar10"``, ``"imagenet"``,
         ``"svhn"``) and/or RandAugment: ``randaugment_policy="torchvision"`` (default) is
         torchvision's ``RandAugment(**randaugment)``; ``"authors"`` is the ``randaugment``
         package's policy the IIF authors train Places-LT with
         (:class:`iif.data.randaugment.AuthorsRandAugment`, ``randaugment`` = its arguments, e.g. ``{}``);
      4. ``ToDtype(float32, scale=True)`` (to ``[0, 1]``);
      5. :class:`Cutout` of side ``cutout`` pixels if ``cutout > 0`` (black hole, before Normalize);
      6. ``Normalize(mean, std)``.
    Eval: ``Resize(resize)`` + ``CenterCrop(image_size)`` if ``resize`` is set, then 4 and 6.
    Without ``resize`` (and without a crop) the image keeps its size.
    """
    image_size = _positive_int(image_size, "image_size")
    m, s = _check_stats(mean, std)
    if resize is not None:
        resize = _positive_int(resize, "resize")
    if crop_padding is not None and (isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0):
        raise ValueError(f"crop_padding must be a non-negative integer or None, got {crop_padding!r}")
    if autoaugment is not None and autoaugment not in AUTOAUGMENT_POLICIES:
        raise ValueError(f"unknown autoaugment policy {autoaugment!r}; expected None or one of {sorted(AUTOAUGMENT_POLICIES)}")
    if not isinstance(randaugment_policy, str) or randaugment_policy not in _RANDAUGMENT_POLICIES:
        raise ValueError(f"unknown randaugment_policy {randaugment_policy!r}; expected one of {list(_RANDAUGMENT_POLICIES)}")
    if randaugment is not None:
        if not isinstance(randaugment, dict):
            raise ValueError(f"randaugment must be a dict of RandAugment arguments or None, got {randaugment!r}")
        allowed = _RANDAUGMENT_POLICIES[randaugment_policy]
        unknown = sorted(set(randaugment) - set(allowed))
        if unknown:
            raise ValueError(f"unknown RandAugment arguments {unknown} for randaugment_policy={randaugment_policy!r}; "
                             f"expected some of {list(allowed)}")
    elif randaugment_policy != "torchvision":
        raise ValueError(f"randaugment_policy={randaugment_policy!r} needs randaugment (a dict of its arguments, "
                         f"e.g. {{}}) to turn RandAugment on")
    if isinstance(color_jitter, bool) or not isinstance(color_jitter, (int, float)) or not color_jitter >= 0:
        raise ValueError(f"color_jitter must be a number >= 0 (0: none), got {color_jitter!r}")
    if isinstance(cutout, bool) or not isinstance(cutout, int) or cutout < 0:
        raise ValueError(f"cutout must be a non-negative integer (square side in pixels), got {cutout!r}")

    ops: list[Callable] = []
    if train:
        if random_resized_crop:
            ops.append(v2.RandomResizedCrop(image_size, antialias=True))
        else:
            if resize is not None:
                ops.append(v2.Resize(resize, antialias=True))
            if crop_padding is not None:
                ops.append(v2.RandomCrop(image_size, padding=crop_padding, pad_if_needed=True))
            elif resize is not None:
                ops.append(v2.CenterCrop(image_size))
        if hflip:
            ops.append(v2.RandomHorizontalFlip())
        if color_jitter > 0:
            ops.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
        if autoaugment is not None:
            ops.append(v2.AutoAugment(AUTOAUGMENT_POLICIES[autoaugment]))
        if randaugment is not None:
            ops.append(AuthorsRandAugment(**randaugment) if randaugment_policy == "authors"
                       else v2.RandAugment(**randaugment))
    elif resize is not None:
        ops += [v2.Resize(resize, antialias=True), v2.CenterCrop(image_size)]
    ops.append(v2.ToDtype(torch.float32, scale=True))
    if train and cutout:
        ops.append(Cutout(cutout))
    ops.append(v2.Normalize(m, s))
    return v2.Compose(ops)
