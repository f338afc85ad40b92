"""Dataset names -> classes, and ``build_dataset``."""
from __future__ import annotations

import inspect

from .base import LTDataset, Transform
from .cifar import CIFAR10LT, CIFAR100LT
from .folder import FolderLTDataset
from .mnist import MNISTLT, FashionMNISTLT
from .multilabel import COCOMLT, VOCMLT
from .splitfile import INat2018, ImageNetLT, PlacesLT
from .toy_mlt import ToyMLT

__all__ = ["DATASETS", "build_dataset", "check_dataset_options"]

#: Dataset name -> class.
DATASETS: dict[str, type[LTDataset]] = {
    "cifar10_lt": CIFAR10LT,
    "cifar100_lt": CIFAR100LT,
    "fashion_mnist_lt": FashionMNISTLT,
    "mnist_lt": MNISTLT,
    "imagenet_lt": ImageNetLT,
    "places_lt": PlacesLT,
    "inat2018": INat2018,
    "folder_lt": FolderLTDataset,
    # multi-label (class attribute multilabel = True): targets (N, C) multi-hot
    "voc_mlt": VOCMLT,
    "coco_mlt": COCOMLT,
    "toy_mlt": ToyMLT,
}


def build_dataset(name: str, root: str, split: str, transform: Transform = None, **kwargs) -> LTDataset:
    """``DATASETS[name](root, split, transform, **kwargs)``.

    Raises ``ValueError`` for an unknown name, split or option (listing the valid ones).
    """
    check_dataset_options(name, kwargs)
    return DATASETS[name](root, split, transform, **kwargs)


def check_dataset_options(name: str, kwargs: dict) -> None:
    """Refuse an unknown dataset name or option (the config's ``data.kwargs``), naming the allowed ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    params = inspect.signature(DATASETS[name].__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = sorted(k for k in params if k not in ("self", "root", "split", "transform"))
    bad = sorted(set(kwargs) - set(allowed))
    if bad:
        raise ValueError(f"unknown option(s) {['data.kwargs.' + k for k in bad]} for dataset {name!r}; "
                         f"expected some of {allowed}")
