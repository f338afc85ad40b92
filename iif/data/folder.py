"""Long-tailed views of class-per-folder image sets.

Layout (the torchvision ``ImageFolder`` one, with both splits under one root)::

    root/train/<class>/<any name>.<jpg|png|bmp|webp|...>   (any format Pillow reads)
    root/test/<class>/...

The class folders of the two splits must be the same. Classes are numbered in sorted folder-name
order, or in the order of ``classes`` when given; the images of a class in sorted file-name
order. The splits are those of CIFAR-LT (:class:`~iif.data.array.ArrayLTDataset`), drawn by the
same seeded code (:func:`iif.data.longtail.select_split`):

- ``"train"``: the long-tailed subset of ``root/train`` (class 0 the head);
- ``"val"``: ``val_per_class`` images per class of ``root/train`` that the subset left out;
- ``"test"``: all of ``root/test``.

So a folder copy of CIFAR-10 whose files keep the official within-class order gives the
CIFAR-10-LT subset of LDAM / MiSLAS / IIF (12,406 images at imbalance factor 100).
Nothing is downloaded; nothing is written.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .base import LTDataset, Transform, check_shot_thresholds, check_split
from .longtail import long_tailed_counts, select_split

__all__ = ["FolderLTDataset", "image_extensions", "read_image"]

logger = logging.getLogger(__name__)


def image_extensions() -> frozenset[str]:
    """Lower-case file extensions (``".jpg"`` ...) that the installed Pillow can open."""
    return frozenset(ext.lower() for ext in Image.registered_extensions())


def read_image(path: str, grayscale: bool = False) -> torch.Tensor:
    """Decode an image file to ``uint8`` ``(3, H, W)`` (RGB) or ``(1, H, W)`` (``grayscale``).

    Raises ``ValueError`` naming the file when Pillow cannot read it.
    """
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L" if grayscale else "RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # OSError covers PIL.UnidentifiedImageError and "image file is truncated".
        raise ValueError(f"unreadable image {path!r}: {exc}") from exc
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(np.array(arr.transpose(2, 0, 1), order="C"))  # one writable copy, channels first


def _check_header(path: str) -> tuple[int, int]:
    """``(H, W)`` from the file's header (no pixel decoding); ``ValueError`` naming the file."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"unreadable image {path!r}: {exc}") from exc
    return h, w


def _class_dirs(directory: str) -> list[str]:
    """Names of the (non-hidden) sub-directories of ``directory``, sorted."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"no directory {directory!r}; FolderLTDataset expects root/train/<class>/* and root/test/<class>/*")
    return sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))


def _list_images(directory: str, classes: Sequence[str], extensions: frozenset[str]) -> tuple[list[str], np.ndarray]:
    """Image paths of every class folder under ``directory`` (class order, then sorted names) and
    their ``(N,)`` int64 labels. Raises ``ValueError`` for a class folder without images."""
    paths: list[str] = []
    labels: list[np.ndarray] = []
    skipped: list[str] = []
    for c, name in enumerate(classes):
        folder = os.path.join(directory, name)
        files = []
        for e in os.scandir(folder):
            if e.name.startswith(".") or not e.is_file():
                continue
            if os.path.splitext(e.name)[1].lower() in extensions:
                files.append(e.name)
            else:
                skipped.append(os.path.join(folder, e.name))
        if not files:
            raise ValueError(f"empty class {name!r}: {folder!r} holds no image file (extensions Pillow reads: "
                             f"{', '.join(sorted(extensions)[:8])}, ...); remove the folder or add images")
        files.sort()
        paths += [os.path.join(folder, f) for f in files]
        labels.append(np.full(len(files), c, dtype=np.int64))
    if skipped:
        logger.warning("%s: ignored %d files that are not images by their extension (e.g. %s)",
                       directory, len(skipped), skipped[0])
    return paths, np.concatenate(labels)


class FolderLTDataset(LTDataset):
    """A long-tailed view of ``root/train/<class>/*`` with ``root/test/<class>/*`` as its test set.

    Args:
        root: the directory holding ``train/`` and ``test/``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        transform: applied to each ``uint8`` ``(C, H, W)`` image.
        imbalance_factor: ``n_max / n_min`` of the training split (``>= 1``; 1 keeps ``n_max``
            images of every class).
        seed: the legacy numpy seed of the subset selection (0 = the published CIFAR-LT subsets).
        profile: ``"exp"``, ``"step"`` or ``"pareto"`` (see :func:`~iif.data.longtail.long_tailed_counts`).
        n_max: images of the head class (class 0); default: the smallest class of ``root/train``,
            the largest head every class can supply (``len / C`` on a balanced set, as LDAM).
        val_per_class: images per class of the ``"val"`` split.
        shot_thresholds: ``(hi, lo)`` for many/medium/few (default (100, 20)).
        classes: the class folder names in label order. Default: every folder, sorted. When
            given, the folders must be exactly these (pins the label order and guards against a
            missing or stray folder).
        preload: decode the split's images once, here, and keep them in memory (fast epochs for
            small images such as CIFAR's; every file is then checked at construction). Without
            it each image is decoded when read, and only its header is checked here.
        grayscale: decode to one channel (``(1, H, W)``) instead of RGB.

    Raises:
        FileNotFoundError: ``root/train`` or ``root/test`` is missing.
        ValueError: the class folders of the two splits differ, a class folder has no image,
            ``classes`` does not match the folders, or an image cannot be read (naming the file).

    Attributes (besides :class:`LTDataset`'s): ``paths`` (the split's image files), ``indices``
    (``(N,)`` positions of those files in the source split's sorted file list),
    ``counts_per_class`` (the long-tailed profile), ``val_overlap`` (see
    :class:`~iif.data.array.ArrayLTDataset`), ``image_size`` (``(H, W)`` of the first image).
    """

    SPLITS: tuple[str, ...] = ("train", "val", "test")

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
        val_per_class: int = 20,
        shot_thresholds: Sequence[int] | None = None,
        classes: Sequence[str] | None = None,
        preload: bool = False,
        grayscale: bool = False,
    ) -> None:
        self.root = os.path.expanduser(str(root))
        self.split = check_split(split, self.SPLITS, type(self).__name__)
        self.transform = transform
        self.imbalance_factor = imbalance_factor
        self.seed = seed
        self.profile = profile
        self.grayscale = bool(grayscale)
        if shot_thresholds is not None:
            self.shot_thresholds = check_shot_thresholds(shot_thresholds)
        # Check the profile before touching the disk, so that a typo fails fast.
        long_tailed_counts(10**9 if n_max is None else n_max, 1 if classes is None else max(1, len(classes)),
                           imbalance_factor, profile)

        train_dir, test_dir = os.path.join(self.root, "train"), os.path.join(self.root, "test")
        found_train, found_test = _class_dirs(train_dir), _class_dirs(test_dir)
        if found_train != found_test:
            only_train = sorted(set(found_train) - set(found_test))
            only_test = sorted(set(found_test) - set(found_train))
            raise ValueError(f"class folders differ between {train_dir!r} and {test_dir!r}: only in train: "
                             f"{only_train[:10]}, only in test: {only_test[:10]}; both splits need the same classes")
        if not found_train:
            raise ValueError(f"{train_dir!r} has no class folder; expected train/<class>/<image files>")
        if classes is not None:
            classes = [str(c) for c in classes]
            if sorted(classes) != found_train or len(set(classes)) != len(classes):
                raise ValueError(f"classes={classes[:10]}{'...' if len(classes) > 10 else ''} do not match the class "
                                 f"folders of {train_dir!r}: {found_train[:10]}{'...' if len(found_train) > 10 else ''}")
        self.classes = list(classes) if classes is not None else found_train
        self.num_classes = len(self.classes)

        extensions = image_extensions()
        train_paths, train_targets = _list_images(train_dir, self.classes, extensions)
        test_paths, test_targets = _list_images(test_dir, self.classes, extensions)
        self.val_overlap = np.zeros(self.num_classes, dtype=np.int64)
        self.counts_per_class: list[int] = []
        if self.split == "test":
            source_paths, targets = test_paths, test_targets
            keep = np.arange(len(targets), dtype=np.int64)
        else:
            source_paths, targets = train_paths, train_targets
            if n_max is None:
                n_max = int(np.bincount(targets, minlength=self.num_classes).min())
            keep, self.counts_per_class, self.val_overlap = select_split(
                targets, self.split, self.num_classes, imbalance_factor=imbalance_factor, profile=profile, seed=seed,
                n_max=n_max, val_per_class=val_per_class)
        self.indices = keep
        self.targets = targets[keep].astype(np.int64)
        self.paths = [source_paths[i] for i in keep.tolist()]
        self._cache: list[torch.Tensor] | None = None
        if preload:
            self._cache = [read_image(p, self.grayscale) for p in self.paths]
            self.image_size = tuple(self._cache[0].shape[1:])
        else:
            sizes = [_check_header(p) for p in self.paths]
            self.image_size = sizes[0]
        logger.info("%r", self)

    def load_image(self, index: int) -> torch.Tensor:
        if self._cache is not None:
            return self._cache[index]
        return read_image(self.paths[index], self.grayscale)

    def square_size(self) -> int:
        """The side of the (square) first image: the ``image_size`` a transform defaults to.
        Raises ``ValueError`` for a non-square image (set the transform's ``image_size``)."""
        h, w = self.image_size
        if h != w:
            raise ValueError(f"the images of {self.root!r} are not square (first: {h}x{w}); set "
                             f"data.train_transform.image_size and data.test_transform.image_size (with resize)")
        return int(h)
