"""CIFAR-10-LT and CIFAR-100-LT from the standard CIFAR "python version" batches.

Nothing is downloaded: ``root`` must hold ``cifar-10-batches-py/`` (``data_batch_1`` ..
``data_batch_5``, ``test_batch``, optional ``batches.meta``) or ``cifar-100-python/``
(``train``, ``test``, optional ``meta``), as unpacked from the official tarballs. ``root``
may also be that directory itself.

The batches are pickles, read with :class:`iif.safe_load.RestrictedUnpickler`: a file that names
anything but dicts, lists, strings, numbers and NumPy arrays is refused before any code runs, and
the result must be a dict of str / bytes keys holding lists, ints, strings and uint8 arrays.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..safe_load import restricted_pickle_load
from .array import ArrayLTDataset

__all__ = ["CIFAR10LT", "CIFAR100LT", "load_cifar_pickle"]


def _plain(value: Any, depth: int = 0) -> bool:
    """A CIFAR batch's values: ints, strings / bytes, uint8 arrays, and lists / tuples of those."""
    if isinstance(value, (bool, int, str, bytes)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype == np.uint8 or (value.dtype.kind in "iu" and value.ndim <= 1)
    if isinstance(value, (list, tuple)) and depth == 0:
        return all(_plain(v, 1) for v in value)
    return False


def load_cifar_pickle(path: str) -> dict[str, Any]:
    """A CIFAR batch as a dict with ``str`` keys, read without running code.

    The official files are Python 2 pickles: ``encoding="latin1"`` reads their byte strings
    as ``str``; files pickled by Python 3 with ``bytes`` keys (``b"data"``) are accepted too.

    Raises:
        ValueError: naming the file, when it is not such a pickle (a refused global, a truncated
            file, another structure).
    """
    try:
        d = restricted_pickle_load(path, "CIFAR batch")
    except ValueError as exc:
        raise ValueError(f"corrupt CIFAR batch {path}: {exc}") from None
    if not isinstance(d, dict):
        raise ValueError(f"corrupt CIFAR batch {path}: expected a pickled dict, got {type(d).__name__}")
    bad = [repr(k) for k, v in d.items() if not isinstance(k, (str, bytes)) or not _plain(v)]
    if bad:
        raise ValueError(f"corrupt CIFAR batch {path}: entries {', '.join(bad[:5])} are not lists, ints, strings or "
                         f"uint8 arrays (expected a dict of str keys: 'data' (N, 3072) uint8, labels, names)")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


class _CIFARLT(ArrayLTDataset):
    DIRNAME = ""
    TARBALL = ""
    TRAIN_FILES: tuple[str, ...] = ()
    TEST_FILES: tuple[str, ...] = ()
    META_FILE = ""
    LABEL_KEY = ""
    NAMES_KEY = ""

    def _base_dir(self) -> str:
        candidates = [os.path.join(self.root, self.DIRNAME), self.root]
        for d in candidates:
            if all(os.path.isfile(os.path.join(d, f)) for f in self.TRAIN_FILES + self.TEST_FILES):
                return d
        expected = ", ".join(self.TRAIN_FILES + self.TEST_FILES)
        raise FileNotFoundError(
            f"{type(self).__name__}: no CIFAR files under {os.path.join(self.root, self.DIRNAME)!r}; expected the "
            f"python-version batches {expected} there (unpack {self.TARBALL} from https://www.cs.toronto.edu/~kriz/cifar.html "
            f"into {self.root!r}; nothing is downloaded)"
        )

    def load_arrays(self, train: bool) -> tuple[np.ndarray, np.ndarray]:
        base = self._base_dir()
        images, labels = [], []
        for name in self.TRAIN_FILES if train else self.TEST_FILES:
            path = os.path.join(base, name)
            d = load_cifar_pickle(path)
            if "data" not in d or self.LABEL_KEY not in d:
                raise ValueError(f"corrupt CIFAR batch {path}: keys {sorted(d)}; expected 'data' and {self.LABEL_KEY!r}")
            data = np.asarray(d["data"], dtype=np.uint8)
            y = np.asarray(d[self.LABEL_KEY], dtype=np.int64)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or y.shape != (len(data),):
                raise ValueError(
                    f"corrupt CIFAR batch {path}: data {data.shape} and labels {y.shape}; "
                    f"expected (N, 3072) and (N,)"
                )
            # Rows are 1024 red, 1024 green, 1024 blue values: already channels-first.
            images.append(data.reshape(-1, 3, 32, 32))
            labels.append(y)
        return np.concatenate(images), np.concatenate(labels)

    def load_class_names(self) -> list[str]:
        path = os.path.join(self._base_dir(), self.META_FILE)
        if os.path.isfile(path):
            names = load_cifar_pickle(path).get(self.NAMES_KEY)
            if names is not None and len(names) == self.num_classes:
                return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        return super().load_class_names()


class CIFAR10LT(_CIFARLT):
    """CIFAR-10-LT (IF 100: 12,406 training images, 5000 ... 50; ``val_per_class`` 20).

    See :class:`~iif.data.array.ArrayLTDataset` for the arguments and splits.
    """

    NUM_CLASSES = 10
    CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    DIRNAME = "cifar-10-batches-py"
    TARBALL = "cifar-10-python.tar.gz"
    TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
    TEST_FILES = ("test_batch",)
    META_FILE = "batches.meta"
    LABEL_KEY = "labels"
    NAMES_KEY = "label_names"


class CIFAR100LT(_CIFARLT):
    """CIFAR-100-LT (IF 100: 10,847 training images, 500 ... 5; ``val_per_class`` 20).

    See :class:`~iif.data.array.ArrayLTDataset` for the arguments and splits.
    """

    NUM_CLASSES = 100
    DIRNAME = "cifar-100-python"
    TARBALL = "cifar-100-python.tar.gz"
    TRAIN_FILES = ("train",)
    TEST_FILES = ("test",)
    META_FILE = "meta"
    LABEL_KEY = "fine_labels"
    NAMES_KEY = "fine_label_names"
