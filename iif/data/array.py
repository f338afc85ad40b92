"""``ArrayLTDataset``: in-memory datasets (CIFAR, MNIST) with a long-tailed train split.

Splits:
- ``"train"``: the long-tailed subset of the source training set (``long_tailed_counts`` +
  ``select_long_tailed``, the LDAM / MiSLAS / IIF subset for ``seed=0``).
- ``"val"``: ``val_per_class`` images per class drawn (seeded) from source training images
  that the long-tailed subset did NOT keep: a balanced set for tuning, disjoint from
  ``"train"`` wherever the class has images left (the CIFAR head class keeps all of its
  images, so its validation images are also training images; see ``val_overlap``).
- ``"test"``: the full, balanced source test set. Report on it; never tune on it.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from .base import LTDataset, Transform, check_shot_thresholds, check_split
from .longtail import check_class_counts, long_tailed_counts, select_split

__all__ = ["ArrayLTDataset"]

logger = logging.getLogger(__name__)


class ArrayLTDataset(LTDataset):
    """A long-tailed view of an array dataset held in memory.

    Args:
        root: where the source files are (see the subclass).
        split: ``"train"``, ``"val"`` or ``"test"``.
        transform: applied to each ``uint8`` ``(C, H, W)`` image.
        imbalance_factor: ``n_max / n_min`` of the training split (``>= 1``).
        seed: the legacy numpy seed of the subset selection (0 = the published subsets).
        profile: ``"exp"``, ``"step"`` or ``"pareto"`` (see ``long_tailed_counts``).
        n_max: images of the head class; defaults to the subclass's ``DEFAULT_N_MAX`` or,
            where that is None, ``len(train) // C`` as LDAM computes it.
        val_per_class: images per class of the ``"val"`` split.
        shot_thresholds: ``(hi, lo)`` for many/medium/few; defaults to the profile's.
        counts: explicit images per class ``[n_0, ..., n_{C-1}]`` for ``"train"``, the general form
            of a profile (MNIST-LT of an independent ResLT port: 42, 125, 187, 28, 601, 300, 5918,
            2698, 1188, 67); it replaces ``imbalance_factor`` (which becomes ``max / min``), and
            ``profile`` / ``n_max`` must then be left unset. Set ``shot_thresholds`` with it
            (the default is ``(100, 20)``).

    Attributes (besides :class:`LTDataset`'s):
        images: ``(N, C, H, W)`` uint8 tensor of the split.
        indices: ``(N,)`` int64 positions of the split's images in the source train/test set.
        counts_per_class: the long-tailed profile ``[n_0, ..., n_{C-1}]`` used for ``"train"``.
        val_overlap: ``(C,)`` int64, per class how many ``"val"`` images are also in ``"train"``
            (all zero unless a class kept every image).
    """

    SPLITS: tuple[str, ...] = ("train", "val", "test")
    NUM_CLASSES: int = 0
    CLASSES: tuple[str, ...] = ()
    DEFAULT_N_MAX: int | None = None
    DEFAULT_VAL_PER_CLASS: int = 20

    def __init__(
        self,
        root: str,
        split: str = "train",
        transform: Transform = None,
        *,
        imbalance_factor: float = 100,
        seed: int = 0,
        profile: str = "exp",
        n_max: int | None = None,
        val_per_class: int | None = None,
        shot_thresholds: Sequence[int] | None = None,
        counts: Sequence[int] | None = None,
    ) -> None:
        if counts is not None:
            if profile != "exp" or n_max is not None:
                raise ValueError(f"{type(self).__name__}: counts replace the profile; leave profile ({profile!r}) "
                                 f"and n_max ({n_max!r}) unset when giving counts")
            counts = check_class_counts(counts, self.NUM_CLASSES)
            imbalance_factor = max(counts) / min(counts)
        self.root = str(root)
        self.split = check_split(split, self.SPLITS, type(self).__name__)
        self.transform = transform
        self.num_classes = self.NUM_CLASSES
        self.imbalance_factor = imbalance_factor
        self.seed = seed
        self.profile = profile
        val_per_class = self.DEFAULT_VAL_PER_CLASS if val_per_class is None else val_per_class
        thresholds = self.default_shot_thresholds(profile) if shot_thresholds is None else shot_thresholds
        self.shot_thresholds = check_shot_thresholds(thresholds)

        # Validate the profile before reading any files, so a typo fails fast (a huge
        # stand-in n_max checks the name and the factor when n_max comes from the data).
        if n_max is None:
            n_max = self.DEFAULT_N_MAX
        if counts is None:
            long_tailed_counts(10**9 if n_max is None else n_max, self.num_classes, imbalance_factor, profile)

        images, targets = self.load_arrays(train=self.split != "test")
        self._check_arrays(images, targets)
        self.classes = self.load_class_names()
        self.val_overlap = np.zeros(self.num_classes, dtype=np.int64)
        self.counts_per_class: list[int] = []
        if self.split == "test":
            keep = np.arange(len(targets), dtype=np.int64)
        else:
            keep, self.counts_per_class, self.val_overlap = select_split(
                targets, self.split, self.num_classes, imbalance_factor=imbalance_factor, profile=profile, seed=seed,
                n_max=n_max, val_per_class=val_per_class, counts=counts)
        self.indices = keep
        self.targets = targets[keep].astype(np.int64)
        self.images = torch.from_numpy(np.ascontiguousarray(images[keep]))
        logger.info("%r", self)

    # -- subclass hooks -------------------------------------------------------------
    def load_arrays(self, train: bool) -> tuple[np.ndarray, np.ndarray]:
        """Source ``(images (N, C, H, W) uint8, targets (N,) int64)`` of the train or test set."""
        raise NotImplementedError

    def load_class_names(self) -> list[str]:
        return list(self.CLASSES) if self.CLASSES else [str(c) for c in range(self.num_classes)]

    def default_shot_thresholds(self, profile: str) -> tuple[int, int]:
        return LTDataset.shot_thresholds

    # -------------------------------------------------------------------------------
    def _check_arrays(self, images: np.ndarray, targets: np.ndarray) -> None:
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expected uint8 images (N, C, H, W), got {images.dtype} {images.shape}")
        if targets.shape != (len(images),):
            raise ValueError(f"{type(self).__name__}: {len(images)} images but labels of shape {targets.shape}")
        if len(targets) and (targets.min() < 0 or targets.max() >= self.num_classes):
            raise ValueError(
                f"{type(self).__name__}: labels must lie in [0, {self.num_classes}), "
                f"found {int(targets.min())}..{int(targets.max())}"
            )

    def load_image(self, index: int) -> torch.Tensor:
        return self.images[index]

    def in_memory_images(self) -> torch.Tensor:
        return self.images
