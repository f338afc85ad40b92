"""Dataset names -> classes, and ``build_dataset``."""
from __future__ import annotations

from .base import LTDataset, Transform
from .cifar import CIFAR10LT, CIFAR100LT
from .mnist import MNISTLT, FashionMNISTLT
from .splitfile import INat2018, ImageNetLT, PlacesLT

__all__ = ["DATASETS", "build_dataset"]

#: Dataset name -> class.
DATASETS: dict[str, type[LTDataset]] = {
    "cifar10_lt": CIFAR10LT,
    "cifar100_lt": CIFAR100LT,
    "fashion_mnist_lt": FashionMNISTLT,
    "mnist_lt": MNISTLT,
    "imagenet_lt": ImageNetLT,
    "places_lt": PlacesLT,
    "inat2018": INat2018,
}


def build_dataset(name: str, root: str, split: str, transform: Transform = None, **kwargs) -> LTDataset:
    """``DATASETS[name](root, split, transform, **kwargs)``.

    Raises ``ValueError`` for an unknown name or split (listing the valid ones); unknown
    ``kwargs`` raise ``TypeError`` from the dataset's constructor.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[name](root, split, transform, **kwargs)
