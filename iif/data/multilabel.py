"""Multi-label long-tailed datasets: the common interface and the VOC-MLT / COCO-MLT readers.

A multi-label dataset's ``targets`` is an ``(N, C)`` multi-hot ``uint8`` array and
``class_counts()`` counts *images* per class (``IF_c``; ``K = N``, see :func:`iif.multilabel_counts`).
``dataset[i]`` is ``(transform(image), labels)`` with ``labels`` a float32 ``(C,)`` multi-hot
tensor, so a DataLoader batches them to ``(B, C)`` as the sigmoid losses take them.

VOC-MLT and COCO-MLT (Wu et al., ECCV 2020, in the split-list form TailCLIP distributes) are read
from a directory the user provides; nothing is shipped or downloaded (the lists are for
non-commercial research use). Layout, with ``root`` the folder the paths in the lists are
relative to::

    root/longtail2012/voc_lt_train.txt     VOCdevkit/VOC2012/JPEGImages/2008_000023.jpg 14 4 19
    root/longtail2012/voc_lt_test.txt      VOCdevkit/VOC2007/JPEGImages/000001.jpg 14 11
    root/longtail2012/voc_labels.txt       "aeroplane 0" ... one "name index" line per class (optional)
    root/longtail2012/class_freq.pkl       optional: {"class_freq": (C,), "neg_class_freq": (C,), ...}
    root/longtail2012/class_split.pkl      optional: {"head": set, "middle": set, "tail": set}
    root/VOCdevkit/...                     the images

(COCO-MLT: ``longtail2017/coco_lt_{train,test}.txt``, ``coco_labels.txt``, images under
``root/train2017``, ``root/val2017``.) One image a line: a relative path, then its 0-based class
indices separated by spaces (none for an image without labels). When the pickles are present
they are checked against the list: ``class_freq`` must equal the counts of the training list,
and a ``class_split`` that disagrees with the head >= 100 / tail < 20 rule is reported. The
pickles are read by a restricted unpickler that builds only NumPy arrays, sets and dicts.
"""
from __future__ import annotations

import logging
import os
from typing import Optional, Sequence

import numpy as np
import torch

from ..metrics import MULTILABEL_GROUP_THRESHOLDS, MULTILABEL_GROUPS, _check_group_thresholds, multilabel_groups
from ..safe_load import restricted_pickle_load
from ..weights import multilabel_counts
from .base import LTDataset, Transform, check_split
from .folder import read_image
from .splitfile import leaves_root

__all__ = ["MultiLabelDataset", "MultiLabelSplitFileDataset", "VOCMLT", "COCOMLT", "parse_multilabel_split_file",
           "parse_label_names", "load_class_pickle", "VOC_CLASSES", "COCO_NUM_CLASSES"]

logger = logging.getLogger(__name__)

#: VOC's 20 classes in index order (VOC-MLT's voc_labels.txt).
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
COCO_NUM_CLASSES = 80


class MultiLabelDataset(LTDataset):
    """A multi-label image dataset with its class statistics.

    Attributes:
        multilabel: ``True`` (how a trainer tells these datasets from the single-label ones).
        num_classes: ``C``.
        targets: ``(N, C)`` uint8 multi-hot labels.
        classes: ``C`` class names.
        group_thresholds: ``(hi, lo)``: head ``>= hi``, tail ``< lo`` training images
            (:func:`iif.metrics.multilabel_groups`; VOC-MLT / COCO-MLT: (100, 20)).
        transform: applied to the ``uint8`` ``(C, H, W)`` image in ``__getitem__``; settable.

    Subclasses set the attributes and implement :meth:`load_image`.
    """

    multilabel = True
    group_thresholds: tuple[int, int] = MULTILABEL_GROUP_THRESHOLDS

    def class_counts(self) -> np.ndarray:
        """Images per class ``(C,)`` int64 (an image counts once for each class it contains)."""
        return multilabel_counts(self.targets)[0]

    @property
    def num_images(self) -> int:
        """``K``: the number of images (the IIF total of a multi-label training set)."""
        return int(self.targets.shape[0])

    def class_groups(self) -> np.ndarray:
        """Group of each class ``(C,)``: 0 head, 1 medium, 2 tail (names in ``MULTILABEL_GROUPS``)."""
        return multilabel_groups(self.class_counts(), self.group_thresholds)

    def __getitem__(self, index: int) -> tuple[object, torch.Tensor]:
        """``(transform(img), labels)``: ``img`` uint8 ``(C, H, W)``, ``labels`` float32 ``(C,)`` multi-hot."""
        img = self.load_image(index)
        if self.transform is not None:
            img = self.transform(img)
        return img, torch.from_numpy(self.targets[index].astype(np.float32))

    def __repr__(self) -> str:
        counts = self.class_counts()
        split = getattr(self, "split", "?")
        groups = ""
        if split == "train":  # groups come from training counts
            g = np.bincount(multilabel_groups(counts, self.group_thresholds), minlength=3)
            groups = f", head/medium/tail classes={g.tolist()}"
        return (f"{type(self).__name__}(split={split!r}, images={len(self)}, classes={self.num_classes}, "
                f"labels/image={self.targets.sum(1).mean():.2f}, "
                f"max/min images per class={counts.max()}/{counts.min()}{groups})")


# ---------------------------------------------------------------------------- parsing


def parse_multilabel_split_file(path: str, num_classes: int, *, allow_outside_root: bool = False
                                ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a multi-label split list: one ``relative/path label label ...`` line per image.

    Labels are 0-based class indices separated by whitespace (a repeated index counts once);
    a line with a path only is an image without labels. Blank lines are skipped.

    Returns:
        paths: relative image paths.
        targets: ``(N, num_classes)`` uint8 multi-hot.
        line_numbers: ``(N,)`` int64, the 1-based line of each image (for error messages).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a label is not an integer or not in ``[0, num_classes)``, a path climbs above
            the root (``../``; unless ``allow_outside_root``), or the file lists no image; the message
            names the file, line number and line.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"split list {path!r} not found; expected lines of 'relative/path label label ...'")
    paths: list[str] = []
    rows: list[list[int]] = []
    lines: list[int] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            parts = raw.split()
            if not parts:
                continue
            if not allow_outside_root and leaves_root(parts[0]):
                raise ValueError(f"{path}:{lineno}: image path {parts[0]!r} leaves the data root; list files under "
                                 f"the root, or set data.kwargs.allow_outside_root=True if you mean it")
            labels = []
            for tok in parts[1:]:
                try:
                    label = int(tok)
                except ValueError:
                    raise ValueError(f"{path}:{lineno}: label {tok!r} is not an integer in line {raw.strip()!r}; "
                                     f"expected 'relative/path label label ...'") from None
                if not 0 <= label < num_classes:
                    raise ValueError(f"{path}:{lineno}: label {label} is outside [0, {num_classes}) in line "
                                     f"{raw.strip()!r}")
                labels.append(label)
            paths.append(parts[0])
            rows.append(labels)
            lines.append(lineno)
    if not paths:
        raise ValueError(f"split list {path!r} lists no images")
    targets = np.zeros((len(paths), num_classes), dtype=np.uint8)
    for i, labels in enumerate(rows):
        targets[i, labels] = 1
    return paths, targets, np.asarray(lines, dtype=np.int64)


def parse_label_names(path: str, num_classes: int) -> list[str]:
    """Class names from a ``name index`` per line file (``voc_labels.txt``); every index once.

    Raises ``ValueError`` naming file and line for a malformed line, a bad or repeated index,
    or missing classes.
    """
    names: dict[int, str] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = raw.strip()
            if not text:
                continue
            parts = text.rsplit(maxsplit=1)
            try:
                if len(parts) != 2:
                    raise ValueError
                index = int(parts[1])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: malformed line {text!r}; expected 'class_name index'") from None
            if not 0 <= index < num_classes or index in names:
                raise ValueError(f"{path}:{lineno}: index {index} is out of [0, {num_classes}) or repeated in line "
                                 f"{text!r}")
            names[index] = parts[0]
    missing = sorted(set(range(num_classes)) - set(names))
    if missing:
        raise ValueError(f"{path}: no name for classes {missing[:10]}; expected one 'name index' line per class")
    return [names[i] for i in range(num_classes)]


def load_class_pickle(path: str) -> dict:
    """Read ``class_freq.pkl`` / ``class_split.pkl`` with a restricted unpickler (no code runs:
    :class:`iif.safe_load.RestrictedUnpickler`, shared with the CIFAR batches)."""
    data = restricted_pickle_load(path, "class pickle")
    if not isinstance(data, dict):
        raise ValueError(f"{path!r} holds a {type(data).__name__}, expected a dict")
    return data


# ------------------------------------------------------------------------- split lists


class MultiLabelSplitFileDataset(MultiLabelDataset):
    """Images under ``root`` listed in a multi-label split list (see the module docstring).

    Args:
        root: the folder the list's image paths are relative to.
        split: ``"train"``, ``"val"`` or ``"test"``. VOC-MLT / COCO-MLT have no validation list:
            ``"val"`` needs ``split_file`` (e.g. a list held out from the training images), so
            that nothing is tuned on the test list.
        transform: applied to each ``uint8`` ``(3, H, W)`` image.
        split_file: the list; default ``root / SPLIT_FILE.format(split=split)``.
        labels_file: ``name index`` lines; default ``root / LABELS_FILE`` if it exists.
        class_freq_file, class_split_file: the optional pickles; default ``root / ...`` if they exist.
        group_thresholds: ``(hi, lo)`` head / tail thresholds (default (100, 20)).
        allow_outside_root: accept listed paths whose ``..`` climbs above ``root`` (refused by default).

    Attributes (besides :class:`MultiLabelDataset`'s): ``paths``, ``line_numbers``, ``split_file``,
    ``class_split`` (``(C,)`` group index from ``class_split.pkl``, or None).
    """

    SPLITS: tuple[str, ...] = ("train", "val", "test")
    NUM_CLASSES: int = 0
    SPLIT_FILE: str = ""
    LABELS_FILE: str = ""
    CLASS_FREQ_FILE: str = ""
    CLASS_SPLIT_FILE: str = ""
    CLASSES: tuple[str, ...] = ()

    def __init__(self, root: str, split: str = "train", transform: Transform = None, *,
                 split_file: Optional[str] = None, labels_file: Optional[str] = None,
                 class_freq_file: Optional[str] = None, class_split_file: Optional[str] = None,
                 group_thresholds: Optional[Sequence[int]] = None, allow_outside_root: bool = False) -> None:
        self.root = str(root)
        self.split = check_split(split, self.SPLITS, type(self).__name__)
        self.transform = transform
        self.num_classes = self.NUM_CLASSES
        if group_thresholds is not None:
            self.group_thresholds = _check_group_thresholds(tuple(group_thresholds))
        default = os.path.join(self.root, self.SPLIT_FILE.format(split=split))
        if split_file is None and split == "val" and not os.path.isfile(default):
            raise FileNotFoundError(
                f"{type(self).__name__} has no validation list ({default!r} does not exist); pass split_file= "
                f"a list held out from the training images, and keep the test list for the final report"
            )
        self.split_file = split_file or default
        self.paths, self.targets, self.line_numbers = parse_multilabel_split_file(self.split_file, self.num_classes,
                                                                                  allow_outside_root=allow_outside_root)
        labels_file = labels_file or self._optional(self.LABELS_FILE)
        self.classes = (parse_label_names(labels_file, self.num_classes) if labels_file
                        else list(self.CLASSES) or [str(c) for c in range(self.num_classes)])
        self.class_split: Optional[np.ndarray] = None
        freq_file = class_freq_file or self._optional(self.CLASS_FREQ_FILE)
        if freq_file and self.split == "train":
            self._check_class_freq(freq_file)
        split_pkl = class_split_file or self._optional(self.CLASS_SPLIT_FILE)
        if split_pkl:
            self.class_split = self._read_class_split(split_pkl)
        empty = int(np.count_nonzero(self.targets.sum(1) == 0))
        if empty and self.split == "train":
            logger.warning("%s: %d training images in %s have no label", type(self).__name__, empty, self.split_file)
        logger.info("%r", self)

    def _optional(self, name: str) -> Optional[str]:
        path = os.path.join(self.root, name) if name else ""
        return path if path and os.path.isfile(path) else None

    def _check_class_freq(self, path: str) -> None:
        data = load_class_pickle(path)
        if "class_freq" not in data:
            raise ValueError(f"{path!r} has no 'class_freq' entry (keys: {sorted(data)})")
        freq = np.asarray(data["class_freq"]).astype(np.int64).ravel()
        counts = self.class_counts()
        if freq.shape != counts.shape or np.any(freq != counts):
            same_shape = freq.shape == counts.shape
            bad = np.flatnonzero(freq != counts) if same_shape else np.arange(min(len(freq), len(counts)))
            raise ValueError(
                f"{path!r} disagrees with {self.split_file!r}: class_freq {freq[bad[:10]].tolist()} vs counted "
                f"{counts[bad[:10]].tolist()} images for classes {bad[:10].tolist()} (shapes {freq.shape} / "
                f"{counts.shape}); are the list and the pickles from the same dataset?"
            )

    def _read_class_split(self, path: str) -> np.ndarray:
        data = load_class_pickle(path)
        keys = ("head", "middle", "tail")
        if set(data) != set(keys):
            raise ValueError(f"{path!r} has keys {sorted(data)}, expected {list(keys)}")
        groups = np.full(self.num_classes, -1, dtype=np.int64)
        for g, key in enumerate(keys):
            for c in data[key]:
                c = int(c)
                if not 0 <= c < self.num_classes or groups[c] != -1:
                    raise ValueError(f"{path!r}: class {c} is out of range or in two groups")
                groups[c] = g
        if np.any(groups < 0):
            raise ValueError(f"{path!r} leaves classes {np.flatnonzero(groups < 0)[:10].tolist()} in no group")
        if self.split == "train":
            ours = self.class_groups()
            if np.any(ours != groups):
                bad = np.flatnonzero(ours != groups)
                logger.warning("%s: %s puts classes %s in %s, the (%d, %d) rule on the training counts in %s",
                               type(self).__name__, path, bad[:10].tolist(),
                               [MULTILABEL_GROUPS[g] for g in groups[bad[:10]]], *self.group_thresholds,
                               [MULTILABEL_GROUPS[g] for g in ours[bad[:10]]])
        return groups

    def load_image(self, index: int) -> torch.Tensor:
        path = os.path.join(self.root, self.paths[index].lstrip("/"))
        where = f"{self.split_file}:{int(self.line_numbers[index])}"
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image {path!r} (listed at {where}) does not exist")
        try:
            return read_image(path)
        except ValueError as exc:
            raise ValueError(f"{exc} (listed at {where})") from exc


class VOCMLT(MultiLabelSplitFileDataset):
    """VOC-MLT: 1,142 VOC2012 trainval images over 20 classes (775 ... 4 images); test = VOC2007 test (4,952)."""

    NUM_CLASSES = 20
    SPLIT_FILE = "longtail2012/voc_lt_{split}.txt"
    LABELS_FILE = "longtail2012/voc_labels.txt"
    CLASS_FREQ_FILE = "longtail2012/class_freq.pkl"
    CLASS_SPLIT_FILE = "longtail2012/class_split.pkl"
    CLASSES = VOC_CLASSES


class COCOMLT(MultiLabelSplitFileDataset):
    """COCO-MLT: 1,909 COCO2017 train images over 80 classes (1,128 ... 6 images); test = val2017 (5,000)."""

    NUM_CLASSES = COCO_NUM_CLASSES
    SPLIT_FILE = "longtail2017/coco_lt_{split}.txt"
    LABELS_FILE = "longtail2017/coco_labels.txt"
    CLASS_FREQ_FILE = "longtail2017/class_freq.pkl"
    CLASS_SPLIT_FILE = "longtail2017/class_split.pkl"
