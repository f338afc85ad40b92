"""The fast path for in-memory datasets: whole-batch augmentation on one uint8 tensor.

:func:`iif.data.build_transform` augments one image at a time inside a ``DataLoader``. For a
dataset that fits in memory (CIFAR, (Fashion-)MNIST, a preloaded image folder) the same
augmentations can run on a whole batch at once, on the device that trains:

- the images stay one ``uint8`` tensor ``(N, C, H, W)`` (on the GPU when training there);
- random crop with padding, horizontal flip, Cutout, ``float`` conversion and normalisation are
  single batched tensor operations;
- AutoAugment draws a sub-policy per image, exactly as torchvision's ``v2.AutoAugment`` does, then
  applies each (operation, magnitude, sign) once to the group of images that drew it, through
  torchvision's own operation table (so every operation and magnitude is torchvision's, and a
  group's result equals applying the operation image by image: ``tests/test_batched.py``).

The draws follow the per-image transform's distributions (crop offsets uniform over the padded
image, flip with probability 1/2, sub-policy uniform, each operation with its probability, sign
1/2, Cutout centre uniform), from torch's global generator, which the trainer seeds per epoch.
The random stream differs from the per-image path's, so runs are not bit-identical across the
two paths; the distribution is the same. :func:`unsupported_reason` names what keeps a transform
on the per-image path (resizes, RandAugment, colour jitter).

:class:`FeatureLoader` batches the decoupled stage's cached backbone features the same way, over
the same sampler (:mod:`iif.engine.feature_cache`).
"""
from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2

from .transforms import AUTOAUGMENT_POLICIES, _check_stats, _positive_int

__all__ = ["BatchTransform", "TensorLoader", "FeatureLoader", "unsupported_reason", "BATCHED_KEYS"]

#: ``build_transform`` keywords the batched transform implements.
BATCHED_KEYS = frozenset({"image_size", "mean", "std", "crop_padding", "hflip", "autoaugment", "cutout"})


def unsupported_reason(kwargs: dict, image_shape: Sequence[int]) -> Optional[str]:
    """Why a transform given as ``build_transform`` keywords cannot run batched on images of
    ``image_shape`` ``(C, H, W)``, or None when it can."""
    extra = sorted(k for k, v in kwargs.items()
                   if k not in BATCHED_KEYS and v not in (None, False, 0, 0.0))
    if extra:
        return f"the transform uses {extra} (batched: {sorted(BATCHED_KEYS)})"
    h, w = int(image_shape[-2]), int(image_shape[-1])
    size = kwargs.get("image_size", h)
    if not (h == w == size):
        return f"images of {h}x{w} with image_size={size!r} need a resize or crop (batched: square images of that size)"
    return None


class BatchTransform:
    """``build_transform(train, **kwargs)`` for a whole batch: ``uint8`` ``(B, C, S, S)`` in,
    normalised ``float32`` ``(B, C, S, S)`` out, on the batch's device.

    Train order as in :func:`iif.data.build_transform`: crop -> flip -> AutoAugment -> float ->
    Cutout -> Normalize; eval: float -> Normalize. Only the keywords of :data:`BATCHED_KEYS`.
    """

    def __init__(self, train: bool, *, image_size: int, mean: Sequence[float], std: Sequence[float],
                 crop_padding: Optional[int] = None, hflip: bool = False, autoaugment: Optional[str] = None,
                 cutout: int = 0) -> None:
        self.train = train
        self.image_size = _positive_int(image_size, "image_size")
        self.mean, self.std = _check_stats(mean, std)
        if crop_padding is not None and (isinstance(crop_padding, bool) or not isinstance(crop_padding, int)
                                         or crop_padding < 0):
            raise ValueError(f"crop_padding must be a non-negative integer or None, got {crop_padding!r}")
        if isinstance(cutout, bool) or not isinstance(cutout, int) or cutout < 0:
            raise ValueError(f"cutout must be a non-negative integer (square side in pixels), got {cutout!r}")
        if autoaugment is not None and autoaugment not in AUTOAUGMENT_POLICIES:
            raise ValueError(f"unknown autoaugment policy {autoaugment!r}; expected None or one of "
                             f"{sorted(AUTOAUGMENT_POLICIES)}")
        self.crop_padding = crop_padding if train else None
        self.hflip = bool(hflip) and train
        self.cutout = cutout if train else 0
        # torchvision's own AutoAugment object: its policy table, magnitude bins and operations.
        self.autoaugment = v2.AutoAugment(AUTOAUGMENT_POLICIES[autoaugment]) if (train and autoaugment) else None
        self._stats: dict[tuple, tuple[Tensor, Tensor]] = {}

    # ------------------------------------------------------------------ the steps
    def crop(self, images: Tensor, top: Tensor, left: Tensor) -> Tensor:
        """Pad by ``crop_padding`` (zeros) and cut ``(S, S)`` at per-image offsets ``top``, ``left`` ``(B,)``."""
        p, s = self.crop_padding or 0, self.image_size
        padded = F.pad(images, (p, p, p, p)) if p else images
        b = images.shape[0]
        ar = torch.arange(s, device=images.device)
        rows = (top.to(images.device)[:, None] + ar)[:, :, None]          # (B, S, 1)
        cols = (left.to(images.device)[:, None] + ar)[:, None, :]         # (B, 1, S)
        batch = torch.arange(b, device=images.device)[:, None, None]
        return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()

    @staticmethod
    def flip(images: Tensor, mask: Tensor) -> Tensor:
        """Mirror the images where ``mask`` ``(B,)`` is true."""
        return torch.where(mask.to(images.device)[:, None, None, None], images.flip(-1), images)

    def autoaugment_draw(self, b: int, height: int, width: int) -> list[list[tuple[str, float] | None]]:
        """Per image, the operations of its sub-policy that fire: ``[(op, magnitude) or None] * 2``.

        The same draws as ``v2.AutoAugment.forward`` per image: a sub-policy uniformly, then for each
        of its operations ``rand() <= probability``, and for a signed one a negative magnitude with
        probability 1/2."""
        aa = self.autoaugment
        policies = aa._policies
        choice = torch.randint(len(policies), (b,)).tolist()
        fire = torch.rand(b, 2).tolist()
        sign = torch.rand(b, 2).tolist()
        out: list[list[tuple[str, float] | None]] = []
        cache: dict[str, Optional[Tensor]] = {}
        for i in range(b):
            ops: list[tuple[str, float] | None] = []
            for slot, (op, prob, mag_idx) in enumerate(policies[choice[i]]):
                if not fire[i][slot] <= prob:
                    ops.append(None)
                    continue
                fn, signed = aa._AUGMENTATION_SPACE[op]
                if op not in cache:
                    cache[op] = fn(10, height, width)
                mags = cache[op]
                if mags is None:
                    magnitude = 0.0
                else:
                    magnitude = float(mags[mag_idx])
                    if signed and sign[i][slot] <= 0.5:
                        magnitude *= -1
                ops.append((op, magnitude))
            out.append(ops)
        return out

    def apply_ops(self, images: Tensor, ops: list[list[tuple[str, float] | None]]) -> Tensor:
        """Apply per-image operations slot by slot, each distinct (op, magnitude) once on its group."""
        aa = self.autoaugment
        images = images.clone()
        for slot in range(2):
            groups: dict[tuple[str, float], list[int]] = {}
            for i, per_image in enumerate(ops):
                if per_image[slot] is not None:
                    groups.setdefault(per_image[slot], []).append(i)
            for (op, magnitude), members in groups.items():
                idx = torch.tensor(members, device=images.device)
                images[idx] = aa._apply_image_or_video_transform(
                    images[idx], op, magnitude, interpolation=aa.interpolation, fill=aa._fill)
        return images

    def cutout_mask(self, b: int, h: int, w: int, cy: Tensor, cx: Tensor, device: torch.device) -> Tensor:
        """``(B, 1, H, W)`` bool: the Cutout square of each image, clipped at the borders (as :class:`Cutout`)."""
        size = self.cutout
        cy, cx = cy.to(device), cx.to(device)
        y0, y1 = (cy - size // 2).clamp(min=0), (cy + size // 2 + size % 2).clamp(max=h)
        x0, x1 = (cx - size // 2).clamp(min=0), (cx + size // 2 + size % 2).clamp(max=w)
        ys = torch.arange(h, device=device)
        xs = torch.arange(w, device=device)
        in_y = (ys[None] >= y0[:, None]) & (ys[None] < y1[:, None])      # (B, H)
        in_x = (xs[None] >= x0[:, None]) & (xs[None] < x1[:, None])      # (B, W)
        return (in_y[:, :, None] & in_x[:, None, :])[:, None]

    def normalize(self, x: Tensor) -> Tensor:
        """``(x - mean) / std`` per channel, in place on a float batch in [0, 1] (``v2.Normalize``)."""
        key = (x.device, x.shape[1])
        if key not in self._stats:
            if len(self.mean) != x.shape[1]:
                raise ValueError(f"mean/std have {len(self.mean)} channels, the images {x.shape[1]}")
            self._stats[key] = (torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1),
                                torch.tensor(self.std, device=x.device).view(1, -1, 1, 1))
        mean, std = self._stats[key]
        return x.sub_(mean).div_(std)

    # ------------------------------------------------------------------ all together
    def __call__(self, images: Tensor) -> Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"BatchTransform takes uint8 (B, C, H, W) images, got {images.dtype} {tuple(images.shape)}")
        b = images.shape[0]
        if self.train:
            h, w = images.shape[-2:]
            p, s = self.crop_padding or 0, self.image_size
            if self.crop_padding is not None:
                top = torch.randint(0, h + 2 * p - s + 1, (b,))
                left = torch.randint(0, w + 2 * p - s + 1, (b,))
                images = self.crop(images, top, left)
            if self.hflip:
                images = self.flip(images, torch.rand(b) < 0.5)
            if self.autoaugment is not None:
                images = self.apply_ops(images, self.autoaugment_draw(b, *images.shape[-2:]))
        x = images.float().mul_(1.0 / 255)  # v2.ToDtype(float32, scale=True), the same arithmetic
        if self.cutout:
            # Cutout before Normalize, as in the per-image path: the hole is black in pixel space.
            h, w = x.shape[-2:]
            cy, cx = torch.randint(h, (b,)), torch.randint(w, (b,))
            x.masked_fill_(self.cutout_mask(b, h, w, cy, cx, x.device), 0.0)
        return self.normalize(x)

    def __repr__(self) -> str:
        parts = [f"train={self.train}", f"image_size={self.image_size}"]
        if self.train:
            parts += [f"crop_padding={self.crop_padding}", f"hflip={self.hflip}",
                      f"autoaugment={self.autoaugment.policy.name if self.autoaugment else None}",
                      f"cutout={self.cutout}"]
        return f"BatchTransform({', '.join(parts)})"


class _SamplerBatches:
    """Cuts a sampler's indices into batches exactly as ``DataLoader(batch_size, sampler, drop_last)``
    does, and hands each index batch (on ``device``) to :meth:`_batch`."""

    def __init__(self, rows: Tensor, targets: Any, batch_size: int, sampler: Any, device: torch.device | str,
                 drop_last: bool, what: str) -> None:
        self.targets = torch.as_tensor(targets).to(device)
        if self.targets.shape[0] != rows.shape[0]:
            raise ValueError(f"{self.targets.shape[0]} targets for {rows.shape[0]} {what}")
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.sampler = sampler
        self.drop_last = drop_last
        self.device = torch.device(device)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long)
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size].to(self.device)
            yield self._batch(idx), self.targets[idx]

    def _batch(self, idx: Tensor) -> Tensor:
        raise NotImplementedError


class TensorLoader(_SamplerBatches):
    """Batches of ``(transform(images[idx]), targets[idx])`` over a sampler, without a ``DataLoader``.

    ``images``: ``uint8`` ``(N, C, H, W)``, moved once to ``device``; ``targets``: ``(N,)`` or
    ``(N, C)``. Batches follow ``sampler`` (any iterable of indices with ``__len__``, e.g. the
    trainer's long-tail samplers) like ``DataLoader(batch_size, sampler, drop_last)``.
    """

    def __init__(self, images: Tensor, targets: Any, batch_size: int, sampler: Any, transform: BatchTransform,
                 device: torch.device | str = "cpu", drop_last: bool = False) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"TensorLoader needs uint8 (N, C, H, W) images, got {images.dtype} {tuple(images.shape)}")
        super().__init__(images, targets, batch_size, sampler, device, drop_last, "images")
        self.images = images.to(device)
        self.transform = transform

    def _batch(self, idx: Tensor) -> Tensor:
        return self.transform(self.images[idx])


class FeatureLoader(_SamplerBatches):
    """Batches of ``(features[idx], targets[idx])`` over a sampler: the decoupled stage's cached
    backbone features (:mod:`iif.engine.feature_cache`).

    ``features``: ``(N, D)``, moved once to ``device``; ``targets``: ``(N,)`` or ``(N, C)``. Batches
    follow ``sampler`` exactly as ``DataLoader(batch_size, sampler, drop_last)`` and
    :class:`TensorLoader` cut it, so a run on cached features sees the batches, in the order, of the
    run that computes them every epoch.
    """

    def __init__(self, features: Tensor, targets: Any, batch_size: int, sampler: Any,
                 device: torch.device | str = "cpu", drop_last: bool = False) -> None:
        if features.dim() != 2 or not features.is_floating_point():
            raise ValueError(f"FeatureLoader needs float (N, D) features, got {features.dtype} {tuple(features.shape)}")
        super().__init__(features, targets, batch_size, sampler, device, drop_last, "feature vectors")
        self.features = features.to(device)

    def _batch(self, idx: Tensor) -> Tensor:
        return self.features[idx]

    def __repr__(self) -> str:
        return (f"FeatureLoader({self.features.shape[0]} x {self.features.shape[1]} features, "
                f"batch_size={self.batch_size}, drop_last={self.drop_last})")
