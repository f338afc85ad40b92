"""Datasets listed in split files: ImageNet-LT, Places-LT, iNaturalist 2018.

A split file has one ``relative/path label`` line per image (paths relative to ``root``,
a leading ``/`` ignored; labels in ``[0, num_classes)``); blank lines are skipped. Images are decoded lazily in
``__getitem__`` with ``torchvision.io.decode_image`` to ``uint8`` RGB ``(3, H, W)``.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_image

from .base import LTDataset, Transform, check_shot_thresholds, check_split

__all__ = ["SplitFileDataset", "ImageNetLT", "PlacesLT", "INat2018", "parse_split_file"]

logger = logging.getLogger(__name__)


def parse_split_file(path: str, num_classes: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a split file.

    Returns:
        paths: relative image paths, one per image.
        labels: ``(N,)`` int64.
        line_numbers: ``(N,)`` int64, 1-based line of each image in the file (for error messages).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a line is not ``path label``, its label is not an integer, or the label is
            outside ``[0, num_classes)``; the message names the file, line number and text.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"split file {path!r} not found; expected lines of 'relative/path label'")
    paths: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
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
    ) -> None:
        self.root = str(root)
        self.split = check_split(split, self.SPLITS, type(self).__name__)
        self.transform = transform
        self.num_classes = self.NUM_CLASSES
        if shot_thresholds is not None:
            self.shot_thresholds = check_shot_thresholds(shot_thresholds)
        self.split_file = split_file or os.path.join(self.root, self.SPLIT_FILE.format(split=split))
        self.paths, self.targets, self.line_numbers = parse_split_file(self.split_file, self.num_classes)
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
            return decode_image(path, mode=ImageReadMode.RGB)
        except (RuntimeError, ValueError, OSError) as exc:
            raise RuntimeError(f"cannot decode image {path!r} (listed at {where}): {exc}") from exc


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
