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
import warnings
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .base import LTDataset, Transform, check_shot_thresholds, check_split
from .longtail import long_tailed_counts, select_split

__all__ = ["FolderLTDataset", "image_extensions", "read_image", "MAX_IMAGE_PIXELS", "check_image_pixels", "ImageError"]

logger = logging.getLogger(__name__)


def image_extensions() -> frozenset[str]:
    """Lower-case file extensions (``".jpg"`` ...) that the installed Pillow can open."""
    return frozenset(ext.lower() for ext in Image.registered_extensions())


#: The largest image, in pixels (width x height), that :func:`read_image` decodes: 8192 x 8192
#: (a 192 MiB RGB array). The size is read from the file's header and checked before any pixel is
#: decoded, so a small crafted file (a 140 KB PNG that declares 12000 x 12000) is refused in one
#: line instead of growing the process by gigabytes. Split-file datasets check the same limit. Raise
#: it (``iif.data.folder.MAX_IMAGE_PIXELS = ...``) for genuinely larger images; Pillow's own global
#: ``PIL.Image.MAX_IMAGE_PIXELS`` is left as it is (it is the user's process, not ours to change).
MAX_IMAGE_PIXELS = 8192 * 8192


class ImageError(ValueError, RuntimeError):
    """An image file that cannot be read, or that is refused (too many pixels, no bit depth); names the file.

    A ``ValueError`` (the tools report it in one line); also a ``RuntimeError``, what torchvision's
    decoders raise, for code that caught those."""


def check_image_pixels(path: str, width: int, height: int) -> None:
    """Refuse an image whose header declares more than :data:`MAX_IMAGE_PIXELS` pixels."""
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(f"image {path!r} declares {width}x{height} = {width * height:,} pixels, more than the "
                         f"limit of {MAX_IMAGE_PIXELS:,} (iif.data.folder.MAX_IMAGE_PIXELS); a decompression bomb?")


def _open(path: str) -> Image.Image:
    """``Image.open`` with :data:`MAX_IMAGE_PIXELS` checked on the header (nothing decoded yet)."""
    with warnings.catch_warnings():
        # Pillow warns above its own limit; ours is lower and refuses below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(path)
    try:
        check_image_pixels(path, *im.size)
    except ValueError:
        im.close()
        raise
    return im


def _to_8bit(im: Image.Image, path: str) -> Image.Image:
    """16-bit (and 32-bit integer) grayscale scaled to 8 bits by the bit depth, ``round(v * 255 / 65535)``.

    Pillow opens a 16-bit grayscale PNG / TIFF as mode ``I;16`` (or ``I``), and its ``convert("L")``
    clips every value above 255 instead of scaling: a 16-bit image came out 99.6% white. 16-bit
    RGB(A) PNGs already open as 8-bit ``RGB(A)`` (the high byte), which is right. Integer values
    outside 0..65535 and float pixels (mode ``F``) have no bit depth to scale by: refused.
    """
    if im.mode == "F":
        raise ImageError(f"unreadable image {path!r}: 32-bit float pixels (mode 'F') have no bit depth to scale "
                         f"to 8 bits; convert the file to an 8- or 16-bit image")
    if not im.mode.startswith("I"):
        return im
    arr = np.asarray(im).astype(np.int64)
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise ImageError(f"unreadable image {path!r}: integer pixels from {lo} to {hi} (mode {im.mode!r}) are not "
                         f"16-bit values 0..65535; convert the file to an 8- or 16-bit image")
    return Image.fromarray(((arr * 255 + 32767) // 65535).astype(np.uint8), "L")


def read_image(path: str, grayscale: bool = False) -> torch.Tensor:
    """Decode an image file to ``uint8`` ``(3, H, W)`` (RGB) or ``(1, H, W)`` (``grayscale``).

    16-bit images are scaled to 8 bits by their bit depth (see ``_to_8bit``). Raises
    ``ValueError`` naming the file when Pillow cannot read it or it has more than
    :data:`MAX_IMAGE_PIXELS` pixels.
    """
    try:
        with _open(path) as im:
            arr = np.asarray(_to_8bit(im, path).convert("L" if grayscale else "RGB"))
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # OSError covers PIL.UnidentifiedImageError and "image file is truncated".
        raise ImageError(f"unreadable image {path!r}: {exc}") from exc
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(np.array(arr.transpose(2, 0, 1), order="C"))  # one writable copy, channels first


def _check_header(path: str) -> tuple[int, int]:
    """``(H, W)`` from the file's header (no pixel decoding); ``ValueError`` naming the file."""
    try:
        with _open(path) as im:
            w, h = im.size
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError(f"unreadable image {path!r}: {exc}") from exc
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
        ValueError: fewer than two classes, the class folders of the two splits differ, a class
            folder has no image, ``classes`` does not match the folders, or an image cannot be read
            or has more than :data:`MAX_IMAGE_PIXELS` pixels (naming the file).

    Attributes (besides :class:`LTDataset`'s): ``paths`` (the split's image files), ``indices``
    (``(N,)`` positions of those files in the source split's sorted file list),
    ``counts_per_class`` (the long-tailed profile), ``val_overlap`` (see
    :class:`~iif.data.array.ArrayLTDataset`), ``image_size`` (``(H, W)`` of the first image),
    ``mixed_sizes`` (None, or ``(path_a, (H, W), path_b, (H, W))``: two files of the split whose
    sizes differ).
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
        if len(found_train) < 2:
            # One class: every prediction is right, and the run would report 100% accuracy.
            raise ValueError(f"{train_dir!r} has fewer than two classes (class folders: {found_train}); a "
                             f"classifier needs at least two")
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
            sizes = [tuple(t.shape[1:]) for t in self._cache]
        else:
            sizes = [_check_header(p) for p in self.paths]
        self.image_size = tuple(sizes[0])
        # Two files of different sizes, or None: a batch of them only stacks after a resizing transform.
        self.mixed_sizes = next(((self.paths[0], tuple(sizes[0]), p, tuple(hw)) for p, hw in zip(self.paths, sizes)
                                 if tuple(hw) != tuple(sizes[0])), None)
        logger.info("%r", self)

    def load_image(self, index: int) -> torch.Tensor:
        if self._cache is not None:
            return self._cache[index]
        return read_image(self.paths[index], self.grayscale)

    def in_memory_images(self) -> torch.Tensor | None:
        """The preloaded images stacked once (``preload=True`` and one image size), else None."""
        if self._cache is None or len({tuple(t.shape) for t in self._cache}) != 1:
            return None
        if getattr(self, "_stacked", None) is None:
            self._stacked = torch.stack(self._cache)
        return self._stacked

    def mixed_sizes_message(self) -> str:
        """Words for :attr:`mixed_sizes` (empty when every image has one size)."""
        if self.mixed_sizes is None:
            return ""
        a, (ha, wa), b, (hb, wb) = self.mixed_sizes
        return f"the images of {self.root!r} differ in size ({a!r} is {ha}x{wa}, {b!r} is {hb}x{wb})"

    def square_size(self) -> int:
        """The side of the (square) first image: the ``image_size`` a transform defaults to.
        Raises ``ValueError`` for a non-square image or images of several sizes (set the
        transforms' ``image_size`` with ``resize``)."""
        if self.mixed_sizes is not None:
            raise ValueError(f"{self.mixed_sizes_message()}; set data.train_transform and data.test_transform "
                             f"image_size and resize so that every image comes out the same size")
        h, w = self.image_size
        if h != w:
            raise ValueError(f"the images of {self.root!r} are not square (first: {h}x{w}); set "
                             f"data.train_transform.image_size and data.test_transform.image_size (with resize)")
        return int(h)
