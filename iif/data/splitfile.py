"""Datasets listed in split files: ImageNet-LT, Places-LT, iNaturalist 2018.

A split file is UTF-8 text with one ``relative/path label`` line per image (paths relative to ``root``,
a leading ``/`` ignored; labels in ``[0, num_classes)``); blank lines are skipped. A path that leaves
``root`` (``../../etc/hostname``: a ``..`` that climbs above it, checked on the text, symlinks not
followed) is refused unless the dataset is built with ``allow_outside_root=True``
(``data.kwargs.allow_outside_root``); since a leading ``/`` is ignored, an absolute path names a
file under ``root``. Images are decoded lazily in ``__getitem__`` with
``torchvision.io.decode_image`` to ``uint8`` RGB ``(3, H, W)`` (16-bit PNGs scaled to 8 bits), after
their header is checked against :data:`iif.data.folder.MAX_IMAGE_PIXELS`.
"""
from __future__ import annotations

import logging
import os
import re
from typing import Sequence

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_image

from .base import LTDataset, Transform, check_shot_thresholds, check_split
from .folder import ImageError, _check_header

__all__ = ["SplitFileDataset", "ImageNetLT", "PlacesLT", "INat2018", "parse_split_file"]

logger = logging.getLogger(__name__)

_CPP_LOCATION = re.compile(r"^\w+, \S+\.(?:cpp|h):\d+, ")


def leaves_root(rel: str) -> bool:
    """Whether the split-file path ``rel`` (leading ``/`` ignored) climbs above the directory it is
    relative to, read lexically: ``a/../../b`` does, ``a/../b`` does not."""
    parts = os.path.normpath(rel.lstrip("/")).split(os.sep)
    return bool(parts) and parts[0] == ".."


def parse_split_file(path: str, num_classes: int, *, allow_outside_root: bool = False
                     ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a split file (UTF-8; a byte-order mark is skipped).

    Returns:
        paths: relative image paths, one per image.
        labels: ``(N,)`` int64.
        line_numbers: ``(N,)`` int64, 1-based line of each image in the file (for error messages).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not UTF-8 text, a line is not ``path label``, its label is not an
            integer, the label is outside ``[0, num_classes)``, or the path leaves the root (unless
            ``allow_outside_root``); the message names the file, line number and text.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(f"split file {path!r} is a directory; expected a text file of 'relative/path label' "
                                f"lines")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"split file {path!r} not found; expected lines of 'relative/path label'")
    try:
        with open(path, encoding="utf-8-sig") as f:
            text_lines = f.readlines()
    except UnicodeDecodeError as exc:
        with open(path, "rb") as f:
            head = f.read(2)
        utf16 = " (it starts with a UTF-16 byte-order mark)" if head in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ValueError(f"split file {path!r} is not UTF-8 text{utf16}: byte 0x{exc.object[exc.start]:02x} at "
                         f"offset {exc.start}; save it as UTF-8") from None
    if any("\x00" in line for line in text_lines):
        raise ValueError(f"split file {path!r} holds NUL bytes: not UTF-8 text (UTF-16?); save it as UTF-8")
    paths: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    for lineno, raw in enumerate(text_lines, start=1):
        text = raw.strip()
        if not text:
            continue
        parts = text.rsplit(maxsplit=1)  # rsplit: a path may contain spaces, a label cannot
        if len(parts) != 2:
            raise ValueError(f"{path}:{lineno}: malformed line {text!r}; expected 'relative/path label'")
        rel, lab = parts
        try:
            label = int(lab)
        except ValueError:
            raise ValueError(f"{path}:{lineno}: label {lab!r} is not an integer in line {text!r}") from None
        if not 0 <= label < num_classes:
            raise ValueError(
                f"{path}:{lineno}: label {label} is outside [0, {num_classes}) in line {text!r}"
            )
        if not allow_outside_root and leaves_root(rel):
            raise ValueError(f"{path}:{lineno}: path {rel!r} leaves the data root (a '..' climbs above it); "
                             f"list files under the root, or set data.kwargs.allow_outside_root=True if you "
                             f"trust this list")
        paths.append(rel)
        labels.append(label)
        lines.append(lineno)
    if not paths:
        raise ValueError(f"split file {path!r} lists no images")
    return paths, np.asarray(labels, dtype=np.int64), np.asarray(lines, dtype=np.int64)


def _class_names_from_paths(paths: Sequence[str], labels: np.ndarray, num_classes: int) -> list[str]:
    """Parent-directory names as class names when they map one-to-one to labels, else ``"0"``, ``"1"`` ..."""
    generic = [str(c) for c in range(num_classes)]
    names: dict[int, str] = {}
    for rel, label in zip(paths, labels.tolist()):
        parent = os.path.basename(os.path.dirname(rel))
        if not parent or names.setdefault(label, parent) != parent:
            return generic
    if len(set(names.values())) != len(names):
        return generic
    return [names.get(c, generic[c]) for c in range(num_classes)]


class SplitFileDataset(LTDataset):
    """Images under ``root`` listed in a split file.

    Args:
        root: the image root the split file's paths are relative to.
        split: one of ``SPLITS``.
        transform: applied to each ``uint8`` ``(3, H, W)`` image.
        split_file: the split file; defaults to ``root / SPLIT_FILE.format(split=split)``.
        shot_thresholds: ``(hi, lo)`` for many/medium/few (default (100, 20)).
        allow_outside_root: accept listed paths whose ``..`` climbs above ``root`` (refused by
            default: a list from elsewhere must not read any file the user can read).

    Attributes (besides :class:`LTDataset`'s): ``paths`` (relative paths), ``line_numbers``
    (``(N,)`` line of each image in ``split_file``), ``split_file``.
    """

    SPLITS: tuple[str, ...] = ("train", "val", "test")
    NUM_CLASSES: int = 0
    SPLIT_FILE: str = ""

    def __init__(
        self,
        root: str,
        split: str = "train",
        transform: Transform = None,
        *,
        split_file: str | None = None,
        shot_thresholds: Sequence[int] | None = None,
        allow_outside_root: bool = False,
    ) -> None:
        self.root = str(root)
        self.split = check_split(split, self.SPLITS, type(self).__name__)
        self.transform = transform
        self.num_classes = self.NUM_CLASSES
        if shot_thresholds is not None:
            self.shot_thresholds = check_shot_thresholds(shot_thresholds)
        self.split_file = split_file or os.path.join(self.root, self.SPLIT_FILE.format(split=split))
        self.paths, self.targets, self.line_numbers = parse_split_file(
            self.split_file, self.num_classes, allow_outside_root=bool(allow_outside_root))
        self.classes = _class_names_from_paths(self.paths, self.targets, self.num_classes)
        if self.split == "train":
            missing = np.flatnonzero(self.class_counts() == 0)
            if missing.size:
                logger.warning(
                    "%s: %d classes have no training image in %s (first: %s)",
                    type(self).__name__, missing.size, self.split_file, missing[:10].tolist(),
                )
        logger.info("%r", self)

    def load_image(self, index: int) -> torch.Tensor:
        # Paths are relative to root; a leading "/" (as in some Places365 lists) would make
        # os.path.join drop root, so it is stripped.
        path = os.path.join(self.root, self.paths[index].lstrip("/"))
        where = f"{self.split_file}:{int(self.line_numbers[index])}"
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image {path!r} (listed at {where}) does not exist")
        try:
            _check_header(path)  # Pillow reads the header only: the pixel limit before any decoding
        except ImageError as exc:
            if exc.__cause__ is None:  # refused by the limit; a header Pillow cannot read is the decoder's to judge
                raise ImageError(f"{exc} (listed at {where})") from None
        try:
            img = decode_image(path, mode=ImageReadMode.RGB)
        except (RuntimeError, ValueError, OSError) as exc:
            # torchvision prefixes its messages with the C++ source location; keep the words.
            reason = _CPP_LOCATION.sub("", str(exc))
            raise ImageError(f"cannot decode image {path!r} (listed at {where}): {reason}") from exc
        if img.dtype == torch.uint16:  # a 16-bit PNG: scale by the bit depth, round(v * 255 / 65535)
            img = ((img.to(torch.int32) * 255 + 32767) // 65535).to(torch.uint8)
        return img


class ImageNetLT(SplitFileDataset):
    """ImageNet-LT (Liu et al. 2019): 1000 classes, 1280 ... 5 training images; splits train/val/test."""

    NUM_CLASSES = 1000
    SPLIT_FILE = "ImageNet_LT_{split}.txt"


class PlacesLT(SplitFileDataset):
    """Places-LT (Liu et al. 2019): 365 classes, 4980 ... 5 training images; splits train/val/test."""

    NUM_CLASSES = 365
    SPLIT_FILE = "Places_LT_{split}.txt"


class INat2018(SplitFileDataset):
    """iNaturalist 2018: 8142 classes; splits train/val (val is the usual test set)."""

    SPLITS = ("train", "val")
    NUM_CLASSES = 8142
    SPLIT_FILE = "iNaturalist18_{split}.txt"
