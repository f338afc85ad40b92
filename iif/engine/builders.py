"""Turn a validated config (see :mod:`iif.engine.config`) into datasets, loaders, a model, a loss, an optimizer."""
from __future__ import annotations

import logging
import os
import warnings
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import (DATASET_STATS, DATASETS, LTDataset, MultiLabelDataset, build_dataset, build_multilabel_sampler,
                    build_sampler, build_transform)
from ..data.batched import BatchTransform, TensorLoader, unsupported_reason
from ..data.fetch import default_data_root
from ..data.registry import check_dataset_options
from ..losses import LOSSES, MULTILABEL_LOSSES, RESLT_BRANCHES, build_loss, reslt_groups
from ..metrics import SHOT_THRESHOLDS
from ..models import LWSHead, build_head, build_model, build_reslt_model
from .task import TextContrastiveLoss

__all__ = ["build_datasets", "build_loaders", "build_tensor_loaders", "transform_kwargs", "build_classifier", "apply_strategy", "check_state_fits", "build_criterion", "build_optimizer",
           "FakeLTDataset", "FakeMultiLabelDataset"]

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
    # Classes and image size come from the files (iif.data.FolderLTDataset); ImageNet statistics
    # unless the transforms give mean/std.
    "folder_lt": dict(num_classes=None, shape=None, stats="imagenet"),
    # multi-label (iif.engine.task): images of any size, resized by the transforms to `shape`
    "voc_mlt": dict(num_classes=20, shape=(3, 224, 224), stats="imagenet"),
    "coco_mlt": dict(num_classes=80, shape=(3, 224, 224), stats="imagenet"),
    # generated from the fetched Fashion-MNIST / MNIST glyphs: the root holds fashion_mnist/ and mnist/
    "toy_mlt": dict(num_classes=20, shape=(3, 64, 64), stats="toy_mlt", cache=""),
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

    def in_memory_images(self) -> torch.Tensor:
        return self.images


class FakeMultiLabelDataset(MultiLabelDataset):
    """Random uint8 images with multi-hot targets ``(N, C)`` (smoke tests of the multi-label task).

    Image ``i`` holds class ``i mod C``; every other image also holds class 0 (a head class), and
    every class is in at least one image, so each class has a count >= 1 and every loss builds.
    """

    def __init__(self, num_classes: int, shape: tuple[int, int, int], size: int, seed: int = 0,
                 transform=None) -> None:
        g = torch.Generator().manual_seed(seed)
        size = max(1, size)
        self.num_classes = num_classes
        y = np.zeros((size, num_classes), dtype=np.uint8)
        y[np.arange(size), np.arange(size) % num_classes] = 1
        y[np.arange(num_classes) % size, np.arange(num_classes)] = 1
        y[::2, 0] = 1
        self.targets = y
        self.classes = [str(i) for i in range(num_classes)]
        self.images = torch.randint(0, 256, (size, *shape), dtype=torch.uint8, generator=g)
        self.transform = transform
        self.split = "fake"

    def load_image(self, index: int) -> torch.Tensor:
        return self.images[index]

    def in_memory_images(self) -> torch.Tensor:
        return self.images


def _transform(data_cfg: dict, train: bool, image_size: Optional[int] = None) -> Any:
    """The split's transform; ``image_size`` is the default side when the dataset's spec has no
    fixed shape (folder datasets)."""
    return build_transform(train, **transform_kwargs(data_cfg, train, image_size))


def transform_kwargs(data_cfg: dict, train: bool, image_size: Optional[int] = None) -> dict:
    """The keywords of :func:`iif.data.build_transform` for the split (presets resolved)."""
    spec = _SPECS.get(data_cfg["name"], {})
    key = "train_transform" if train else "test_transform"
    kw = dict(data_cfg[key])
    # `stats`: a preset of DATASET_STATS instead of the dataset's own, e.g. "imagenet" for a
    # backbone pretrained on ImageNet (its weights expect inputs normalised that way).
    stats = kw.pop("stats", None)
    if stats is not None:
        if stats not in DATASET_STATS:
            raise ValueError(f"data.{key}.stats={stats!r} is not one of {sorted(DATASET_STATS)}")
        if "mean" in kw or "std" in kw:
            raise ValueError(f"data.{key}: give stats or mean / std, not both")
        kw.update(DATASET_STATS[stats])
    if "mean" not in kw and spec:
        kw.update({k: v for k, v in DATASET_STATS[spec["stats"]].items() if k not in kw})
    if "image_size" not in kw and (image_size or spec.get("shape")):
        kw["image_size"] = image_size or spec["shape"][-1]
    return kw


def _folder_datasets(cfg: dict) -> tuple[LTDataset, LTDataset]:
    """``folder_lt``: the classes are the folders, the transforms' default size is the images' side."""
    d = cfg["data"]
    size = d["train_transform"].get("image_size")
    if d["fake"]:
        classes = d["kwargs"].get("classes")
        if not classes or size is None:
            raise ValueError(f"data.fake=True with dataset {d['name']!r} needs data.kwargs.classes (the class folder "
                             f"names) and data.train_transform.image_size: without the files, nothing else gives "
                             f"the number of classes and the image shape")
        if len(classes) < 2:
            raise ValueError(f"data.kwargs.classes={list(classes)!r} has fewer than two classes; a classifier needs "
                             f"at least two")
        shape = (cfg["model"]["in_chans"], size, size)
        return (FakeLTDataset(len(classes), shape, d["fake_size"], cfg["seed"], _transform(d, True, size)),
                FakeLTDataset(len(classes), shape, max(8, d["fake_size"] // 4), cfg["seed"] + 1,
                              _transform(d, False, size)))
    root = _root(d)
    _check_channels(cfg, 3 if not d["kwargs"].get("grayscale") else 1)
    train = build_dataset(d["name"], root, "train", **d["kwargs"])
    evaluation = build_dataset(d["name"], root, d["eval_split"], **d["kwargs"])
    if size is None:
        size = train.square_size()
    for dataset, train_split in ((train, True), (evaluation, False)):
        kw = transform_kwargs(d, train_split, size)
        fixed = kw.get("resize") is not None or (train_split and (kw.get("random_resized_crop")
                                                                  or kw.get("crop_padding") is not None))
        if dataset.mixed_sizes is not None and not fixed:
            key = "train_transform" if train_split else "test_transform"
            raise ValueError(f"{dataset.mixed_sizes_message()}: a batch of them cannot be stacked; set "
                             f"data.{key}.resize (with image_size) so that every image comes out the same size")
    train.transform, evaluation.transform = _transform(d, True, size), _transform(d, False, size)
    return train, evaluation


def _check_channels(cfg: dict, channels: int) -> None:
    """``model.in_chans`` against the channels the dataset decodes to (a mismatch would otherwise end
    in a traceback from the model's first convolution)."""
    want = cfg["model"]["in_chans"]
    if want != channels:
        hint = (" (or data.kwargs.grayscale=True: decode to one channel)"
                if cfg["data"]["name"] == "folder_lt" and want == 1 else "")
        raise ValueError(f"model.in_chans={want} but dataset {cfg['data']['name']!r} gives images of {channels} "
                         f"channel{'s' if channels != 1 else ''}; set model.in_chans={channels}{hint}")


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
    check_dataset_options(d["name"], d["kwargs"])  # also with fake data: a typo is a typo
    if _SPECS.get(d["name"], {}).get("shape", ()) is None:
        return _folder_datasets(cfg)
    train_tf, test_tf = _transform(d, True), _transform(d, False)
    if d["fake"]:
        spec = _SPECS[d["name"]]
        shape = (cfg["model"]["in_chans"], *spec["shape"][1:])
        fake = FakeMultiLabelDataset if getattr(DATASETS[d["name"]], "multilabel", False) else FakeLTDataset
        return (fake(spec["num_classes"], shape, d["fake_size"], cfg["seed"], train_tf),
                fake(spec["num_classes"], shape, max(8, d["fake_size"] // 4), cfg["seed"] + 1, test_tf))
    root = _root(d)
    spec = _SPECS.get(d["name"])
    if spec is not None and spec.get("shape"):
        _check_channels(cfg, spec["shape"][0])
    train = build_dataset(d["name"], root, "train", transform=train_tf, **d["kwargs"])
    evaluation = build_dataset(d["name"], root, d["eval_split"], transform=test_tf, **d["kwargs"])
    return train, evaluation


def build_loaders(cfg: dict, train_set: Dataset, eval_set: Dataset, rank: int = 0, world_size: int = 1
                  ) -> tuple[DataLoader, DataLoader, Any]:
    """Loaders plus the training sampler (call its ``set_epoch`` each epoch)."""
    d = cfg["data"]
    # Multi-label targets (N, C) take the multi-label samplers (occurrence, class-aware, shuffle).
    multilabel = bool(getattr(train_set, "multilabel", False))
    build = build_multilabel_sampler if multilabel else build_sampler
    options = dict(d.get("sampler_kwargs") or {})
    fixed = sorted({"seed", "num_replicas", "rank"} & set(options))
    if fixed:
        raise ValueError(f"data.sampler_kwargs may not set {fixed}: they come from the run (seed) and DDP")
    try:
        sampler = build(d["sampler"] or "random", np.asarray(train_set.targets), seed=cfg["seed"],
                        num_replicas=world_size, rank=rank, **options)
    except TypeError as exc:
        raise ValueError(f"data.sampler_kwargs {sorted(options)} do not fit sampler {d['sampler'] or 'random'!r}: "
                         f"{exc}") from None
    pin = cfg["_device"].type == "cuda"
    common = dict(num_workers=d["num_workers"], pin_memory=pin, persistent_workers=d["num_workers"] > 0)
    if d["batch_size"] < world_size:
        raise ValueError(f"data.batch_size={d['batch_size']} is smaller than the {world_size} processes: each needs "
                         f"at least one image per batch")
    per_rank = d["batch_size"] // world_size
    train = DataLoader(train_set, batch_size=per_rank, sampler=sampler, drop_last=len(sampler) > per_rank, **common)
    evaluation = DataLoader(eval_set, batch_size=d["test_batch_size"], shuffle=False, **common)
    return train, evaluation, sampler


def build_tensor_loaders(cfg: dict, train_set: Dataset, eval_set: Dataset, sampler: Any, device: torch.device,
                         world_size: int = 1) -> tuple[Optional[tuple[TensorLoader, TensorLoader]], str]:
    """The fast path of ``data.loader`` (:mod:`iif.data.batched`): both sets' images kept as one
    uint8 tensor on ``device``, augmented a batch at a time. Returns ``(loaders, "")``, or
    ``(None, reason)`` when a set is not in memory or its transform cannot run batched."""
    d = cfg["data"]
    loaders = []
    for name, dataset, train in (("training", train_set, True), ("evaluation", eval_set, False)):
        images = dataset.in_memory_images() if hasattr(dataset, "in_memory_images") else None
        if images is None:
            return None, f"the {name} set is not held in memory at one image size"
        kw = transform_kwargs(d, train, images.shape[-1])
        reason = unsupported_reason(kw, images.shape[1:])
        if reason:
            return None, f"{name} transform: {reason}"
        targets = torch.as_tensor(np.asarray(dataset.targets))
        if targets.dim() == 2:  # multi-hot, as MultiLabelDataset.__getitem__ gives them
            targets = targets.float()
        if train:
            per_rank = max(1, d["batch_size"] // world_size)
            loaders.append(TensorLoader(images, targets, per_rank, sampler, BatchTransform(True, **kw), device,
                                        drop_last=len(sampler) > per_rank))
        else:
            order = range(len(dataset))
            loaders.append(TensorLoader(images, targets, d["test_batch_size"], order, BatchTransform(False, **kw),
                                        device))
    return (loaders[0], loaders[1]), ""


def build_classifier(cfg: dict, num_classes: int, counts: Optional[np.ndarray] = None,
                     shot_thresholds: Optional[Sequence[int]] = None) -> nn.Module:
    """The model of ``cfg["model"]``. A ResLT model (``model.reslt.enabled``) built with the training
    ``counts`` and the dataset's ``shot_thresholds`` drops the branches of empty groups (a saved
    model keeps that choice in its ``branch_active`` buffer)."""
    m = cfg["model"]
    options = dict(m["kwargs"])
    pretrained = m["pretrained"]
    if "pretrained" in options:  # model.kwargs.pretrained=imagenet reads as model.pretrained
        if pretrained is not None:
            raise ValueError("set model.pretrained or model.kwargs.pretrained, not both")
        pretrained = options.pop("pretrained")
    kw = dict(head=m["head"], scale=m["scale"], in_chans=m["in_chans"], pretrained=pretrained,
              feature_norm=m["feature_norm"], scale_param=m["scale_param"], **options)
    if not m["reslt"]["enabled"]:
        return build_model(m["name"], num_classes, **kw)
    model = build_reslt_model(m["name"], num_classes, form=m["reslt"]["form"], gamma=m["reslt"]["gamma"], **kw)
    if counts is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the ResLT loss warns about empty groups; log it here
            groups = reslt_groups(counts, tuple(shot_thresholds or SHOT_THRESHOLDS))
        active = torch.bincount(groups, minlength=3) > 0
        model.set_active_branches(active)
        if not bool(active.all()):
            logger.warning("ResLT: branches %s have no class in their group and are dropped",
                           [RESLT_BRANCHES[b] for b in range(3) if not active[b]])
    return model


def check_state_fits(model: nn.Module, state: dict, what: str, allow_missing: tuple[str, ...] = ()) -> None:
    """A one-paragraph error (not torch's list of every key) when ``state`` does not fit ``model``:
    counts and a few examples of missing, unexpected and wrongly shaped entries."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(allow_missing)]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{len(v)} {name} (e.g. {', '.join(v[:3])})"
                 for name, v in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)) if v]
        raise ValueError(f"{what} does not fit the model: {'; '.join(parts)}. Is it a checkpoint of another "
                         f"architecture or class count?")


def apply_strategy(model: nn.Module, cfg: dict, stage1_state: Optional[dict]) -> nn.Module:
    """Load the stage-1 weights and set what trains (paper Fig. 3).

    end-to-end: ``model.trainable`` (all, or last block + classifier for Places-LT).
    decoupled: classifier only; ``iif`` retrains the existing classifier with ``loss``,
    ``crt`` re-initialises it (Kang et al.), ``lws`` learns a per-class scale on top of it.
    ``strategy.bn`` says what the frozen backbone's BatchNorm does in training (``"frozen"``:
    eval mode; ``"train"``: batch statistics, as in the authors' decoupled stage), and
    ``strategy.freeze_scale`` keeps a learnable cosine scale fixed in the decoupled stage (the
    authors' code trains only the classifier's weight there).
    """
    s = cfg["strategy"]
    if stage1_state is not None:
        check_state_fits(model, stage1_state, f"stage-1 checkpoint for model {cfg['model']['name']!r}",
                         allow_missing=("head.",))
        model.load_state_dict(stage1_state, strict=False)
    if s["type"] != "decoupled":
        model.set_trainable(cfg["model"]["trainable"], bn=s["bn"])
        return model
    m = cfg["model"]
    if s["method"] == "crt":
        model.replace_head(build_head(m["head"], model.num_features, model.num_classes, scale=m["scale"],
                                      feature_norm=m["feature_norm"], scale_param=m["scale_param"]))
    elif s["method"] == "lws":
        model.replace_head(LWSHead(model.head))
    model.set_trainable("classifier", bn=s["bn"])  # an LWSHead keeps its base frozen: only its scales train
    if s["freeze_scale"]:
        # Last, after set_trainable made the whole head trainable again.
        for module in model.head.modules():
            param = module.scale_parameter() if hasattr(module, "scale_parameter") else None
            if param is not None:
                param.requires_grad_(False)
    return model


def build_criterion(cfg: dict, counts: np.ndarray, shot_thresholds: Optional[Sequence[int]] = None,
                    num_images: Optional[int] = None, model: Optional[nn.Module] = None) -> nn.Module:
    """The loss of ``cfg["loss"]`` for training ``counts`` ``(C,)``. Losses that group classes
    (ResLT) get the dataset's ``shot_thresholds``, the grouping the reports use. Multi-label
    losses get ``num_images`` (``K``, the number of training images; ``counts`` are images per
    class, whose sum exceeds ``K`` when images have several labels).

    ``loss.contrastive_weight`` (multi-label, a model with a text tower such as ``clip``) adds
    the text-contrastive term (:class:`iif.engine.task.TextContrastiveLoss`) over the
    embeddings of ``model``, the run's model (required then)."""
    loss_cfg = dict(cfg["loss"])
    name = loss_cfg.pop("type")
    if name in MULTILABEL_LOSSES:
        if num_images is None:
            raise ValueError(f"loss {name!r} is a multi-label loss: it needs num_images (K, the number of "
                             f"training images)")
        weight = loss_cfg.pop("contrastive_weight", 0.0)
        base = build_loss(name, counts, num_images=int(num_images), **loss_cfg)
        if not weight:
            return base
        return TextContrastiveLoss(base, weight, model)
    if getattr(LOSSES.get(name), "takes_shot_thresholds", False):
        if "shot_thresholds" in loss_cfg:
            raise ValueError("loss.shot_thresholds: the groups use the dataset's shot thresholds (the reports' "
                             "grouping); set data.kwargs.shot_thresholds instead")
        loss_cfg["shot_thresholds"] = tuple(shot_thresholds or SHOT_THRESHOLDS)
    return build_loss(name, counts, **loss_cfg)  # names an unknown option as loss.<key>


def build_optimizer(cfg: dict, model: nn.Module) -> torch.optim.Optimizer:
    o = cfg["optimizer"]
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("no trainable parameters: check model.trainable / strategy")
    # Weight decay everywhere, as in the reference recipes, except a learnable cosine scale stored
    # as log(s) (model.scale_param="log"): decaying log(s) would pull the scale towards 1. The
    # authors' form (scale_param="square", parameter `scale_root`) is decayed, as in their code.
    groups = [{"params": [p for n, p in named if not n.endswith("log_scale")]},
              {"params": [p for n, p in named if n.endswith("log_scale")], "weight_decay": 0.0}]
    kind = o.get("type", "sgd")
    if kind == "adamw":  # TailCLIP's recipe: AdamW(lr, betas=(0.9, 0.98), weight_decay=0.01)
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=o["lr"], betas=tuple(o["betas"]),
                                 weight_decay=o["weight_decay"])
    if kind != "sgd":
        raise ValueError(f"unknown optimizer.type {kind!r}; expected one of ['sgd', 'adamw']")
    return torch.optim.SGD([g for g in groups if g["params"]], lr=o["lr"], momentum=o["momentum"],
                           nesterov=o["nesterov"] and o["momentum"] > 0, weight_decay=o["weight_decay"])
