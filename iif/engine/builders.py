"""Turn a validated config (see :mod:`iif.engine.config`) into datasets, loaders, a model, a loss, an optimizer."""
from __future__ import annotations

import logging
import os
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import DATASET_STATS, DATASETS, LTDataset, build_dataset, build_sampler, build_transform
from ..data.fetch import default_data_root
from ..losses import build_loss
from ..models import LWSHead, build_head, build_model

__all__ = ["build_datasets", "build_loaders", "build_classifier", "apply_strategy", "build_criterion", "build_optimizer",
           "FakeLTDataset"]

logger = logging.getLogger(__name__)

# Shapes, classes and normalisation of each dataset, for transforms and fake data.
_SPECS: dict[str, dict[str, Any]] = {
    "cifar10_lt": dict(num_classes=10, shape=(3, 32, 32), stats="cifar"),
    "cifar100_lt": dict(num_classes=100, shape=(3, 32, 32), stats="cifar"),
    "fashion_mnist_lt": dict(num_classes=10, shape=(1, 28, 28), stats="fashion_mnist", cache="fashion_mnist"),
    "mnist_lt": dict(num_classes=10, shape=(1, 28, 28), stats="mnist", cache="mnist"),
    "imagenet_lt": dict(num_classes=1000, shape=(3, 256, 256), stats="imagenet"),
    "places_lt": dict(num_classes=365, shape=(3, 256, 256), stats="imagenet"),
    "inat2018": dict(num_classes=8142, shape=(3, 256, 256), stats="imagenet"),
}


class FakeLTDataset(LTDataset):
    """Random uint8 images of a dataset's real shape, labels cycling over the classes (smoke tests)."""

    def __init__(self, num_classes: int, shape: tuple[int, int, int], size: int, seed: int = 0,
                 transform=None) -> None:
        g = torch.Generator().manual_seed(seed)
        self.num_classes = num_classes
        self.targets = (np.arange(size) % num_classes).astype(np.int64)
        self.classes = [str(i) for i in range(num_classes)]
        self.images = torch.randint(0, 256, (size, *shape), dtype=torch.uint8, generator=g)
        self.transform = transform

    def class_counts(self) -> np.ndarray:
        # At least one per class, so that every loss (LDAM, Balanced Softmax, raw IIF) builds
        # even when there are fewer fake images than classes.
        return np.maximum(super().class_counts(), 1)

    def load_image(self, index: int) -> torch.Tensor:
        return self.images[index]


def _transform(data_cfg: dict, train: bool) -> Any:
    spec = _SPECS.get(data_cfg["name"], {})
    kw = dict(data_cfg["train_transform" if train else "test_transform"])
    if "mean" not in kw and spec:
        kw.update({k: v for k, v in DATASET_STATS[spec["stats"]].items() if k not in kw})
    if "image_size" not in kw and spec:
        kw["image_size"] = spec["shape"][-1]
    return build_transform(train, **kw)


def _root(data_cfg: dict) -> str:
    if data_cfg["root"]:
        return os.path.expanduser(data_cfg["root"])
    cache = _SPECS.get(data_cfg["name"], {}).get("cache")
    if cache is None:
        raise ValueError(f"data.root is required for dataset {data_cfg['name']!r} (the directory holding its files)")
    return os.path.join(default_data_root(), cache)


def build_datasets(cfg: dict) -> tuple[LTDataset, LTDataset]:
    """The training set and the evaluation set (``data.eval_split``), with their transforms."""
    d = cfg["data"]
    if d["name"] not in DATASETS:
        raise ValueError(f"unknown dataset {d['name']!r}; expected one of {sorted(DATASETS)}")
    train_tf, test_tf = _transform(d, True), _transform(d, False)
    if d["fake"]:
        spec = _SPECS[d["name"]]
        shape = (cfg["model"]["in_chans"], *spec["shape"][1:])
        return (FakeLTDataset(spec["num_classes"], shape, d["fake_size"], cfg["seed"], train_tf),
                FakeLTDataset(spec["num_classes"], shape, max(8, d["fake_size"] // 4), cfg["seed"] + 1, test_tf))
    root = _root(d)
    train = build_dataset(d["name"], root, "train", transform=train_tf, **d["kwargs"])
    evaluation = build_dataset(d["name"], root, d["eval_split"], transform=test_tf, **d["kwargs"])
    return train, evaluation


def build_loaders(cfg: dict, train_set: Dataset, eval_set: Dataset, rank: int = 0, world_size: int = 1
                  ) -> tuple[DataLoader, DataLoader, Any]:
    """Loaders plus the training sampler (call its ``set_epoch`` each epoch)."""
    d = cfg["data"]
    sampler = build_sampler(d["sampler"] or "random", np.asarray(train_set.targets), seed=cfg["seed"],
                            num_replicas=world_size, rank=rank)
    pin = cfg["_device"].type == "cuda"
    common = dict(num_workers=d["num_workers"], pin_memory=pin, persistent_workers=d["num_workers"] > 0)
    per_rank = max(1, d["batch_size"] // world_size)
    train = DataLoader(train_set, batch_size=per_rank, sampler=sampler, drop_last=len(sampler) > per_rank, **common)
    evaluation = DataLoader(eval_set, batch_size=d["test_batch_size"], shuffle=False, **common)
    return train, evaluation, sampler


def build_classifier(cfg: dict, num_classes: int) -> nn.Module:
    m = cfg["model"]
    return build_model(m["name"], num_classes, head=m["head"], scale=m["scale"], in_chans=m["in_chans"],
                       pretrained=m["pretrained"], **m["kwargs"])


def apply_strategy(model: nn.Module, cfg: dict, stage1_state: Optional[dict]) -> nn.Module:
    """Load the stage-1 weights and set what trains (paper Fig. 3).

    end-to-end: ``model.trainable`` (all, or last block + classifier for Places-LT).
    decoupled: classifier only; ``iif`` retrains the existing classifier with ``loss``,
    ``crt`` re-initialises it (Kang et al.), ``lws`` learns a per-class scale on top of it.
    """
    s = cfg["strategy"]
    if stage1_state is not None:
        missing, unexpected = model.load_state_dict(stage1_state, strict=False)
        if unexpected or any(not k.startswith("head.") for k in missing):
            raise ValueError(f"stage-1 checkpoint does not fit model {cfg['model']['name']!r}: "
                             f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    if s["type"] != "decoupled":
        model.set_trainable(cfg["model"]["trainable"])
        return model
    if s["method"] == "crt":
        model.replace_head(build_head(cfg["model"]["head"], model.num_features, model.num_classes,
                                      scale=cfg["model"]["scale"]))
    elif s["method"] == "lws":
        model.replace_head(LWSHead(model.head))
    model.set_trainable("classifier")  # an LWSHead keeps its base frozen: only its scales train
    return model


def build_criterion(cfg: dict, counts: np.ndarray) -> nn.Module:
    loss_cfg = dict(cfg["loss"])
    name = loss_cfg.pop("type")
    try:
        return build_loss(name, counts, **loss_cfg)
    except ValueError as exc:
        if "bad arguments" not in str(exc):
            raise
        # The usual cause: loss keys inherited from a _base_ config that the new type does not take.
        raise ValueError(f"{exc}; to replace an inherited loss whole, write loss=dict(_delete_=True, ...) "
                         f"in the config or pass --cfg-options loss._delete_=True loss.type=...") from exc


def build_optimizer(cfg: dict, model: nn.Module) -> torch.optim.Optimizer:
    o = cfg["optimizer"]
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("no trainable parameters: check model.trainable / strategy")
    # Weight decay everywhere, as in the reference recipes, except a learnable cosine scale:
    # decaying log(s) would pull the scale towards 1.
    groups = [{"params": [p for n, p in named if not n.endswith("log_scale")]},
              {"params": [p for n, p in named if n.endswith("log_scale")], "weight_decay": 0.0}]
    return torch.optim.SGD([g for g in groups if g["params"]], lr=o["lr"], momentum=o["momentum"],
                           nesterov=o["nesterov"] and o["momentum"] > 0, weight_decay=o["weight_decay"])
