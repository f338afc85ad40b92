"""An offline long-tailed multi-label set at VOC-MLT's scale, from real Fashion-MNIST / MNIST glyphs.

Each image is a small canvas with a few pasted objects (:func:`iif.data.canvas.paint_canvas`,
the generator behind the toy LVIS too); its labels are the categories of the objects that
stay visible. 20 classes (10 garments, 10 digits, shuffled by the seed so that both kinds are
head and tail classes).

- ``"train"``: 1,142 images (VOC-MLT's count); class ``c`` is placed in
  ``round(n_max * imbalance^(-c / 19))`` images, 560 down to 4 by default, about 2.1 labels per
  image (VOC-MLT: 775 down to 4, 2.05). With the (100, 20) rule that is 7 head, 6 medium and 7
  tail classes; every image has at least one object.
- ``"val"``: a balanced set (``val_per_class`` placements per class) painted from glyphs held out
  from the training canvases' glyphs: choose variants / thresholds here.
- ``"test"``: a balanced set (``test_per_class`` placements per class, 50 by default) painted
  from the IDX *test* glyphs: every class has enough positives for a stable AP.

Deterministic for a seed: each split draws from its own ``numpy.random.default_rng([seed, k])``
stream, so building one split never changes another. Counts are those of the painted labels,
so an object hidden by later ones (rare) is not a label.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from ..metrics import _check_group_thresholds
from .base import Transform, check_split
from .canvas import CATEGORY_NAMES, load_glyph_pools, paint_canvas
from .fetch import default_data_root
from .multilabel import MultiLabelDataset

__all__ = ["ToyMLTSpec", "ToyMLT", "generate_toy_mlt", "toy_mlt_profile", "assign_labels"]

logger = logging.getLogger(__name__)

_SPLITS = ("train", "val", "test")
_HELD_OUT_FRACTION = 1 / 6  # of each class's training glyphs, painted only on validation canvases


@dataclass(frozen=True)
class ToyMLTSpec:
    """Size of the generated set. The defaults mimic VOC-MLT (1,142 training images, 20 classes)."""

    n_max: int = 560  # training images of the most frequent class
    imbalance: float = 140.0  # head / tail training images
    train_images: int = 1142
    max_labels: int = 4  # objects per canvas at most
    val_per_class: int = 10  # placements per class in the validation split
    test_per_class: int = 50  # placements per class in the test split
    labels_per_eval_image: float = 2.0  # val / test images = placements / this
    size: int = 64  # canvas side (square)
    min_object: int = 22  # object side range
    max_object: int = 32
    min_visible_pixels: int = 25  # an object hidden below this is not a label
    seed: int = 0

    def check(self) -> None:
        """Raise ``ValueError`` naming an inconsistent field."""
        c = len(CATEGORY_NAMES)
        if not 1 <= self.max_labels <= c:
            raise ValueError(f"max_labels must be in [1, {c}], got {self.max_labels}")
        if not 1 <= self.n_max <= self.train_images:
            raise ValueError(f"n_max must be in [1, train_images={self.train_images}], got {self.n_max}")
        if not self.imbalance >= 1:
            raise ValueError(f"imbalance must be >= 1, got {self.imbalance}")
        total = sum(toy_mlt_profile(self))
        if not self.train_images <= total <= self.train_images * self.max_labels:
            raise ValueError(f"the profile places {total} labels on train_images={self.train_images} images: "
                             f"need between 1 and max_labels={self.max_labels} per image")
        if self.val_per_class < 1 or self.test_per_class < 1 or not 1 <= self.labels_per_eval_image <= self.max_labels:
            raise ValueError("val_per_class and test_per_class must be >= 1 and labels_per_eval_image in "
                             f"[1, max_labels]; got {self.val_per_class}, {self.test_per_class}, "
                             f"{self.labels_per_eval_image}")
        if not 1 <= self.min_object <= self.max_object <= self.size:
            raise ValueError(f"object sizes must satisfy 1 <= min_object <= max_object <= size, got "
                             f"{self.min_object}, {self.max_object}, {self.size}")


def toy_mlt_profile(spec: ToyMLTSpec) -> list[int]:
    """Planned training images per class ``[n_0, ..., n_19]``: exponential from ``n_max`` by ``imbalance``."""
    c = len(CATEGORY_NAMES)
    return [max(1, int(round(spec.n_max * (1.0 / spec.imbalance) ** (i / (c - 1))))) for i in range(c)]


def assign_labels(counts: Sequence[int], num_images: int, max_labels: int, rng: np.random.Generator
                  ) -> list[list[int]]:
    """Spread ``counts[c]`` placements of each class over ``num_images`` images.

    Every image gets at least one class and at most ``max_labels``, never one class twice, and
    class ``c`` lands in exactly ``counts[c]`` images: the shuffled placements first give each
    image one class, then each remaining placement goes to a uniformly chosen image that lacks
    that class and has room.
    """
    counts = [int(n) for n in counts]
    placements = np.repeat(np.arange(len(counts)), counts)
    if not num_images <= len(placements) <= num_images * max_labels or max(counts) > num_images:
        raise ValueError(f"cannot place {len(placements)} labels (max {max(counts)} of one class) on "
                         f"{num_images} images with 1..{max_labels} labels each")
    rng.shuffle(placements)
    has = np.zeros((num_images, len(counts)), dtype=bool)
    has[np.arange(num_images), placements[:num_images]] = True
    n_labels = np.ones(num_images, dtype=np.int64)
    for c in placements[num_images:]:
        room = np.flatnonzero(~has[:, c] & (n_labels < max_labels))
        if room.size == 0:
            raise ValueError(f"no image left with room for class {c}; raise max_labels or num_images")
        i = room[rng.integers(room.size)]
        has[i, c] = True
        n_labels[i] += 1
    # Paste order within an image is random too (the first placement is not special).
    return [list(rng.permutation(np.flatnonzero(row))) for row in has]


def _split_pools(pools: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each category's training glyphs cut into (train canvases', held-out validation canvases') pools."""
    rng = np.random.default_rng([seed, 4])
    train, held = [], []
    for pool in pools:
        perm = rng.permutation(len(pool))
        cut = max(1, int(len(pool) * _HELD_OUT_FRACTION))
        held.append(pool[perm[:cut]])
        train.append(pool[perm[cut:]])
    return train, held


def generate_toy_mlt(split: str, spec: ToyMLTSpec, train_pools: list[np.ndarray],
                     test_pools: Optional[list[np.ndarray]] = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Paint one split: ``(images (N, 3, S, S) uint8, targets (N, 20) uint8, class names)``.

    ``train_pools`` are the 20 categories' glyphs from the IDX training files (train and val
    canvases, disjointly), ``test_pools`` those of the test files (test canvases; required for
    ``"test"``). Both in :data:`~iif.data.canvas.CATEGORY_NAMES` order.
    """
    check_split(split, _SPLITS, "ToyMLT")
    spec.check()
    n_cat = len(CATEGORY_NAMES)
    if len(train_pools) != n_cat or (test_pools is not None and len(test_pools) != n_cat):
        raise ValueError(f"expected {n_cat} glyph pools (one per category), got {len(train_pools)}"
                         f"{'' if test_pools is None else f' and {len(test_pools)}'}")
    order = np.random.default_rng([spec.seed, 0]).permutation(n_cat)  # class i shows category order[i]
    names = [CATEGORY_NAMES[o] for o in order]
    if split == "test":
        if test_pools is None:
            raise ValueError("the test split is painted from the IDX test glyphs: pass test_pools")
        sources = test_pools
    else:
        train_part, held_out = _split_pools(list(train_pools), spec.seed)
        sources = train_part if split == "train" else held_out
    pools = [sources[o] for o in order]
    rng = np.random.default_rng([spec.seed, 1 + _SPLITS.index(split)])
    if split == "train":
        counts, num_images = toy_mlt_profile(spec), spec.train_images
    else:
        per_class = spec.val_per_class if split == "val" else spec.test_per_class
        counts = [per_class] * n_cat
        num_images = max(per_class, math.ceil(per_class * n_cat / spec.labels_per_eval_image))
    labels = assign_labels(counts, num_images, spec.max_labels, rng)
    images = np.empty((num_images, 3, spec.size, spec.size), dtype=np.uint8)
    targets = np.zeros((num_images, n_cat), dtype=np.uint8)
    for i, cats in enumerate(labels):
        canvas, objects = paint_canvas(cats, pools, rng, spec.size, spec.size, (spec.min_object, spec.max_object),
                                       min_visible_pixels=spec.min_visible_pixels)
        images[i] = canvas.transpose(2, 0, 1)
        for cat, _ in objects:
            targets[i, cat] = 1
    return images, targets, names


class ToyMLT(MultiLabelDataset):
    """The offline long-tailed multi-label set (module docstring), generated in memory.

    Args:
        root: a directory with ``fashion_mnist/`` and ``mnist/`` IDX files (the layout
            ``python -m iif.data.fetch`` writes); None for its default data root.
        split: ``"train"``, ``"val"`` or ``"test"``.
        transform: applied to each ``uint8`` ``(3, 64, 64)`` image.
        seed and the other keywords: fields of :class:`ToyMLTSpec`.
        group_thresholds: ``(hi, lo)`` head / tail thresholds (default (100, 20)).

    Attributes (besides :class:`MultiLabelDataset`'s): ``images`` ``(N, 3, S, S)`` uint8 tensor,
    ``spec``, ``planned_counts`` (the profile before painting; ``class_counts()`` are the painted ones).
    """

    SPLITS = _SPLITS
    NUM_CLASSES = len(CATEGORY_NAMES)

    def __init__(self, root: Optional[str] = None, split: str = "train", transform: Transform = None, *,
                 seed: int = 0, n_max: int = ToyMLTSpec.n_max, imbalance: float = ToyMLTSpec.imbalance,
                 train_images: int = ToyMLTSpec.train_images, max_labels: int = ToyMLTSpec.max_labels,
                 val_per_class: int = ToyMLTSpec.val_per_class, test_per_class: int = ToyMLTSpec.test_per_class,
                 group_thresholds: Optional[Sequence[int]] = None) -> None:
        self.root = str(root) if root is not None else default_data_root()
        self.split = check_split(split, self.SPLITS, type(self).__name__)
        self.transform = transform
        self.num_classes = self.NUM_CLASSES
        self.spec = ToyMLTSpec(n_max=n_max, imbalance=imbalance, train_images=train_images, max_labels=max_labels,
                               val_per_class=val_per_class, test_per_class=test_per_class, seed=seed)
        self.spec.check()
        if group_thresholds is not None:
            self.group_thresholds = _check_group_thresholds(tuple(group_thresholds))
        dirs = [os.path.join(self.root, d) for d in ("fashion_mnist", "mnist")]
        train_pools = load_glyph_pools(*dirs, train=True)
        test_pools = load_glyph_pools(*dirs, train=False) if split == "test" else None
        images, self.targets, self.classes = generate_toy_mlt(split, self.spec, train_pools, test_pools)
        self.images = torch.from_numpy(images)
        self.planned_counts = toy_mlt_profile(self.spec)
        logger.info("%r (spec %s)", self, asdict(self.spec))

    def load_image(self, index: int) -> torch.Tensor:
        return self.images[index]

    def in_memory_images(self) -> torch.Tensor:
        return self.images
