"""Fashion-MNIST-LT and MNIST-LT from the four IDX files (raw or ``.gz``).

``root`` is a directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``), or
its parent when the files are in ``root/fashion_mnist`` / ``root/mnist``, the layout
``python -m iif.data.fetch`` writes. The training split is long-tailed with
``n_max = 5000`` (IF 100, exp: 12,406 images, 5000 ... 50).
"""
from __future__ import annotations

import os

import numpy as np

from .array import ArrayLTDataset
from .idx import read_idx

__all__ = ["FashionMNISTLT", "MNISTLT", "IDX_FILES", "find_idx_file"]

#: The four IDX files of (Fashion-)MNIST: (train images, train labels, test images, test labels).
IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def find_idx_file(directory: str, name: str) -> str | None:
    """``directory/name`` or ``directory/name.gz``, whichever exists (raw first), else None."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


class _IDXLT(ArrayLTDataset):
    SUBDIR = ""
    DEFAULT_N_MAX = 5000
    DEFAULT_VAL_PER_CLASS = 100

    def _data_dir(self) -> str:
        for d in (self.root, os.path.join(self.root, self.SUBDIR)):
            if all(find_idx_file(d, n) for n in IDX_FILES):
                return d
        raise FileNotFoundError(
            f"{type(self).__name__}: the IDX files are not in {self.root!r} (nor in "
            f"{os.path.join(self.root, self.SUBDIR)!r}); expected {', '.join(IDX_FILES)} (each raw or .gz). "
            f"Run `python -m iif.data.fetch {self.SUBDIR}` to fetch them into the default data root"
        )

    def load_arrays(self, train: bool) -> tuple[np.ndarray, np.ndarray]:
        d = self._data_dir()
        img_name, lbl_name = IDX_FILES[:2] if train else IDX_FILES[2:]
        img_path, lbl_path = find_idx_file(d, img_name), find_idx_file(d, lbl_name)
        images, labels = read_idx(img_path), read_idx(lbl_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{img_path}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
        if labels.shape != (len(images),):
            raise ValueError(f"{lbl_path}: {labels.shape} labels for {len(images)} images in {img_path}")
        return images[:, None], labels.astype(np.int64)


class FashionMNISTLT(_IDXLT):
    """Fashion-MNIST-LT: 10 classes, 6000 training images each before subsetting; ``val_per_class`` 100."""

    NUM_CLASSES = 10
    SUBDIR = "fashion_mnist"
    CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class MNISTLT(_IDXLT):
    """MNIST-LT: digits 0-9 (5421 ... 6742 training images each); ``val_per_class`` 100.

    ``profile="pareto"`` is the second benchmark profile: its shot groups are many > 1000,
    few < 100 (``shot_thresholds=(1000, 100)``), since the default (100, 20) would leave
    10 classes of 50+ images almost all "many".
    """

    NUM_CLASSES = 10
    SUBDIR = "mnist"
    CLASSES = tuple(str(i) for i in range(10))
    PARETO_SHOT_THRESHOLDS = (1000, 100)

    def default_shot_thresholds(self, profile: str) -> tuple[int, int]:
        return self.PARETO_SHOT_THRESHOLDS if profile == "pareto" else super().default_shot_thresholds(profile)
