"""Long-tailed datasets, transforms and samplers for the classification trainer.

    from iif.data import build_dataset, build_transform, DATASET_STATS
    tf = build_transform(True, image_size=32, crop_padding=4, hflip=True, autoaugment="cifar",
                         **DATASET_STATS["cifar"])
    train = build_dataset("cifar10_lt", "/data/cifar", "train", tf, imbalance_factor=100)
    train.class_counts()        # (10,) int64: 5000, 2997, ..., 50
    mine = build_dataset("folder_lt", "/data/my_images", "train", tf)   # root/{train,test}/<class>/*

Nothing here downloads at run time; ``iif.data.fetch`` fetches (Fashion-)MNIST at setup time.
"""
from .array import ArrayLTDataset
from .base import LTDataset
from .cifar import CIFAR10LT, CIFAR100LT
from .folder import FolderLTDataset, read_image
from .idx import read_idx
from .longtail import PROFILES, long_tailed_counts, select_held_out, select_long_tailed, select_split
from .mnist import MNISTLT, FashionMNISTLT
from .multilabel import (COCOMLT, VOCMLT, MultiLabelDataset, MultiLabelSplitFileDataset, load_class_pickle,
                         parse_multilabel_split_file)
from .registry import DATASETS, build_dataset
from .samplers import (MULTILABEL_SAMPLER_MODES, SAMPLER_MODES, ClassAwareSampler, MultiLabelClassAwareSampler,
                       OccurrenceSampler, build_multilabel_sampler, build_sampler, repeat_factors)
from .splitfile import INat2018, ImageNetLT, PlacesLT, SplitFileDataset, parse_split_file
from .toy_mlt import ToyMLT, ToyMLTSpec, generate_toy_mlt
from .transforms import AUTOAUGMENT_POLICIES, DATASET_STATS, Cutout, build_transform

__all__ = [
    "LTDataset",
    "ArrayLTDataset",
    "SplitFileDataset",
    "CIFAR10LT",
    "CIFAR100LT",
    "FashionMNISTLT",
    "MNISTLT",
    "ImageNetLT",
    "PlacesLT",
    "INat2018",
    "FolderLTDataset",
    "read_image",
    "DATASETS",
    "build_dataset",
    "PROFILES",
    "long_tailed_counts",
    "select_long_tailed",
    "select_held_out",
    "select_split",
    "read_idx",
    "parse_split_file",
    "build_transform",
    "Cutout",
    "DATASET_STATS",
    "AUTOAUGMENT_POLICIES",
    "ClassAwareSampler",
    "build_sampler",
    "SAMPLER_MODES",
    "repeat_factors",
]
__all__ += [
    "MultiLabelDataset", "MultiLabelSplitFileDataset", "VOCMLT", "COCOMLT", "ToyMLT", "ToyMLTSpec", "generate_toy_mlt",
    "parse_multilabel_split_file", "load_class_pickle", "OccurrenceSampler", "MultiLabelClassAwareSampler",
    "build_multilabel_sampler", "MULTILABEL_SAMPLER_MODES",
]
