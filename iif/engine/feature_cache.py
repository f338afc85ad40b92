"""A feature cache for the decoupled stage (``strategy.feature_cache``).

The decoupled stage (paper Fig. 3) freezes the backbone and retrains the classifier. When the
backbone's output for an image is the same every epoch, every epoch recomputes the same features:
that holds when BatchNorm is frozen (``strategy.bn="frozen"``: eval mode, stage 1's running
statistics), the training transform draws nothing (no random crop, flip, AutoAugment, RandAugment,
Cutout or colour jitter; a resize or centre crop is fine) and mixup is off. With
``strategy.feature_cache=True`` the stage then computes the features once, for the training and
the evaluation set, stores them on disk, and trains only the head on them:

- the batches follow the run's own sampler (:class:`iif.data.batched.FeatureLoader`), so the
  batch order, the optimiser's steps and the trained classifier equal those of the run without
  the cache, to float tolerance (``tests/test_feature_cache.py``: decoupled IIF, cRT and LWS);
- checkpoints still hold the whole model (the unchanged backbone and the trained head), so
  evaluation, ``--resume`` and ``tools/test_cls.py`` work as before;
- the file ``<cache dir>/<key>.npz`` is named by a sha256 (:func:`cache_key`) over the backbone's
  weights and buffers (the stage-1 checkpoint's), the data (dataset name and options, the
  evaluation split, every target, and the images' bytes when they are in memory, else each file's
  path, size and modification time), the transforms actually applied, the model config, AMP,
  ``channels_last``, the device type and the torch version: what changes a feature changes the
  key, so a new stage-1 checkpoint gets new features while the decoupled IIF, cRT and LWS runs on
  one checkpoint share one file;
- it is written atomically (:func:`iif.atomic.atomic_write`) and read as untrusted input, with
  :func:`iif.safe_load.load_npz` (no pickles, each array's declared size checked against the
  archive before it is allocated), then checked against the key, the targets and the shapes; a
  file that fails any check is recomputed, with a warning;
- the directory is ``$IIF_FEATURE_CACHE``, else ``features/`` beside the data root
  (``~/.cache/iif/features``); delete it to reclaim the space (CIFAR-10-LT with MobileNetV2's
  1280 features: 12,406 + 10,000 images, about 115 MB per stage-1 checkpoint).

Refused, naming the reason (:func:`check_feature_cache_config`, at config validation), when the
features would change from epoch to epoch: BatchNorm in train mode (the authors' decoupled stage:
each batch is normalised with its own statistics, and the running ones move), a random training
transform, or mixup; and whenever nothing can be cached: a strategy other than ``decoupled`` (the
backbone trains, or nothing trains), or a model whose logits are not ``head(backbone(x))``
(ResLT's branches sit between the two; CLIP scores text prompts).

``strategy.feature_cache="approximate"`` caches anyway where only the first three reasons stand,
and then approximates, exactly as follows:

- BatchNorm in train mode: the features come from the backbone in eval mode (stage 1's running
  statistics), not from batch statistics, and the running statistics are not updated during the
  stage, so the saved backbone is stage 1's (as with ``strategy.bn="frozen"``);
- a random training transform: the training images go through the evaluation transform
  (``data.test_transform``: no augmentation; a resize and centre crop if it has them), one view
  per image for every epoch instead of a new random view each epoch;
- mixup: applied to the cached features (convex combinations of pooled features and of the
  targets, with the same Beta(alpha, alpha) draws as ``v2.MixUp``) instead of to the images.

An approximate run is therefore the frozen-BatchNorm stage without augmentation (with mixup in
feature space): a different recipe, which the log says at the start of the run.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..atomic import atomic_write
from ..data.batched import FeatureLoader, TensorLoader
from ..data.fetch import default_data_root
from ..safe_load import load_npz

__all__ = ["CACHE_MODES", "random_transform_keys", "varying_reasons", "check_feature_cache_config",
           "unseparable_reason", "cache_dir", "cache_key", "compute_features", "cached_stage", "FeatureMixup"]

logger = logging.getLogger(__name__)

#: ``strategy.feature_cache``: off, exact (refused unless the features are the same every epoch), or
#: approximate (module docstring).
CACHE_MODES = (False, True, "approximate")

#: Changes whenever the file's layout or the key's contents change (old files are then never read).
_FORMAT = "iif-feature-cache-1"


def random_transform_keys(train_transform: Mapping[str, Any]) -> list[str]:
    """``key=value`` for each :func:`iif.data.build_transform` keyword of a training transform that
    draws random numbers (random crop, resized crop, flip, colour jitter, AutoAugment, RandAugment,
    Cutout); empty for a deterministic one (resize, centre crop, normalisation)."""
    kw = dict(train_transform)
    draws = {
        "crop_padding": kw.get("crop_padding") is not None,
        "random_resized_crop": bool(kw.get("random_resized_crop")),
        "hflip": bool(kw.get("hflip")),
        "color_jitter": bool(kw.get("color_jitter")),
        "autoaugment": kw.get("autoaugment") is not None,
        "randaugment": kw.get("randaugment") is not None,
        "cutout": bool(kw.get("cutout")),
    }
    return [f"{k}={kw[k]!r}" for k, random in draws.items() if random]


def varying_reasons(cfg: Mapping[str, Any]) -> list[str]:
    """Why the decoupled stage's features of ``cfg`` would differ between epochs (empty: they do
    not, and the cache is exact)."""
    out = []
    if cfg["strategy"]["bn"] == "train":
        out.append("strategy.bn='train' (BatchNorm normalises each batch with its own statistics, so an image's "
                   "feature depends on its batch)")
    keys = random_transform_keys(cfg["data"]["train_transform"])
    if keys:
        out.append(f"data.train_transform draws random numbers ({', '.join(keys)}: a new view of each image every "
                   f"epoch)")
    alpha = cfg["mixup"]["alpha"]
    if alpha > 0:
        out.append(f"mixup.alpha={alpha!r} (the backbone sees mixed images, new ones every epoch)")
    return out


def check_feature_cache_config(cfg: Mapping[str, Any]) -> list[str]:
    """Config errors of ``strategy.feature_cache`` (a validated, merged config): at most one, naming
    every reason it is refused."""
    mode = cfg["strategy"]["feature_cache"]
    if not (isinstance(mode, bool) or mode == "approximate"):
        return [f"strategy.feature_cache must be False, True or 'approximate', got {mode!r}"]
    if mode is False:
        return []
    if cfg["strategy"]["type"] != "decoupled":
        return [f"strategy.feature_cache={mode!r} caches the features of a frozen backbone: it needs "
                f"strategy.type='decoupled', got {cfg['strategy']['type']!r}"]
    structural = _unseparable_config(cfg)
    if structural:
        return [f"strategy.feature_cache={mode!r}: {structural}; set strategy.feature_cache=False"]
    reasons = varying_reasons(cfg)
    if mode is True and reasons:
        return [f"strategy.feature_cache=True needs features that are the same every epoch, but "
                f"{'; '.join(reasons)}. Set strategy.bn='frozen', a training transform without random draws and "
                f"mixup.alpha=0, or strategy.feature_cache='approximate' to compute the features once anyway "
                f"(BatchNorm in eval mode, the test transform, mixup on the features: see iif.engine.feature_cache)"]
    return []


def _unseparable_config(cfg: Mapping[str, Any]) -> str:
    """Why ``cfg``'s model has no backbone whose output the head alone turns into logits ('' if it has)."""
    m = cfg["model"]
    if m["reslt"]["enabled"]:
        return ("model.reslt.enabled=True: the ResLT model has no separable backbone and head (its branches sit "
                "between the backbone's map and the head)")
    from ..models import CLASSIFIERS  # deferred: only when the cache is asked for

    if m["name"] in CLASSIFIERS:
        return f"model {m['name']!r} has no separable backbone and head (it is not backbone + classifier)"
    return ""


def unseparable_reason(model: nn.Module) -> str:
    """Why ``model``'s logits are not ``model.head(model.forward_features(x))`` ('' when they are)."""
    from ..models import LTClassifier

    if not isinstance(model, LTClassifier):
        return f"{type(model).__name__} has no separable backbone and head"
    if type(model).forward is not LTClassifier.forward:
        return f"{type(model).__name__} has no separable backbone and head (its forward is not head(backbone(x)))"
    return ""


def cache_dir() -> str:
    """``$IIF_FEATURE_CACHE``, else ``features/`` beside the data root (``~/.cache/iif/features``)."""
    env = os.environ.get("IIF_FEATURE_CACHE")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.join(os.path.dirname(default_data_root()), "features")


# ------------------------------------------------------------------------------------- the key


class _Digest:
    """sha256 over tagged, length-prefixed parts (so that no two sequences of parts collide)."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def add(self, tag: str, data: Any) -> None:
        view = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else memoryview(data)
        self.h.update(tag.encode() + b"\0" + len(view).to_bytes(8, "little"))
        self.h.update(view)

    def add_tensor(self, tag: str, t: Tensor) -> None:
        t = t.detach().cpu().contiguous()
        self.add(tag + f":{t.dtype}:{tuple(t.shape)}", t.reshape(-1).view(torch.uint8).numpy())

    def add_json(self, tag: str, obj: Any) -> None:
        self.add(tag, json.dumps(obj, sort_keys=True, default=str).encode())


def _add_data(d: _Digest, tag: str, dataset: Any) -> None:
    """The targets, and the images' bytes (in memory) or each file's path, size and mtime."""
    targets = np.ascontiguousarray(np.asarray(dataset.targets))
    d.add(f"{tag}.targets:{targets.dtype}:{targets.shape}", targets)
    images = dataset.in_memory_images() if hasattr(dataset, "in_memory_images") else None
    if images is not None:
        d.add_tensor(f"{tag}.images", images)
        return
    paths = getattr(dataset, "paths", None)
    if paths is None:
        raise ValueError(f"strategy.feature_cache: cannot fingerprint the images of {type(dataset).__name__} (they "
                         f"are neither in memory nor files with paths); set strategy.feature_cache=False")
    root = str(getattr(dataset, "root", ""))
    files = []
    for p in paths:
        full = p if os.path.isabs(p) else os.path.join(root, p)
        try:
            st = os.stat(full)
            files.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            files.append((str(p), -1, -1))
    d.add_json(f"{tag}.files", files)


def cache_key(cfg: Mapping[str, Any], model: nn.Module, train_set: Any, eval_set: Any, train_transform: Any,
              eval_transform: Any, device: torch.device) -> str:
    """Hex sha256 naming the cached features of ``model``'s backbone on both sets (module docstring).

    The features are always those of the backbone in eval mode, so the transforms actually applied
    (``train_transform``, ``eval_transform``) say the rest: an approximate run whose training
    transform is deterministic shares the exact run's file."""
    d = _Digest()
    m, data = cfg["model"], cfg["data"]
    kwargs = {k: v for k, v in dict(m["kwargs"]).items() if k != "pretrained"}  # the weights are hashed below
    d.add_json("meta", dict(
        format=_FORMAT, torch=torch.__version__, device=device.type, amp=cfg["train"]["amp"],
        channels_last=cfg["train"]["channels_last"],
        model=dict(name=m["name"], in_chans=m["in_chans"], kwargs=kwargs),
        data=dict(name=data["name"], kwargs=data["kwargs"], eval_split=data["eval_split"], fake=data["fake"],
                  train_transform=data["train_transform"], test_transform=data["test_transform"]),
        # the transforms as built (image size, statistics and every operation's parameters)
        train_transform_built=repr(train_transform), eval_transform_built=repr(eval_transform)))
    for name, t in sorted(model.backbone.state_dict().items()):
        d.add_tensor(f"backbone.{name}", t)
    _add_data(d, "train", train_set)
    _add_data(d, "eval", eval_set)
    return d.h.hexdigest()


# ------------------------------------------------------------------------------- the features


@torch.no_grad()
def compute_features(model: nn.Module, loader: Any, device: torch.device, amp: bool = False,
                     channels_last: bool = False, desc: str = "features") -> tuple[Tensor, Tensor]:
    """``model.forward_features`` over ``loader`` with the model in eval mode (as the frozen
    backbone of the decoupled stage runs with ``strategy.bn="frozen"``): float32 CPU features
    ``(N, D)`` and the loader's targets, in the loader's order."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    feats, targets = [], []
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    try:
        for images, target in tqdm(loader, desc=desc, leave=False, disable=None):
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with autocast:
                out = model.forward_features(images)
            # float32 holds a bf16 feature exactly; the head gets the value it would have got
            feats.append(out.float().cpu())
            targets.append(torch.as_tensor(target).cpu())
    finally:
        model.train(was_training)
    return torch.cat(feats), torch.cat(targets)


def _ordered_loader(dataset: Any, like: Any, transform: Any, batch_size: int, num_workers: int,
                    device: torch.device) -> Any:
    """The images of ``dataset`` in index order through ``transform``: a :class:`TensorLoader` when
    the run's loader ``like`` is one (the batched path), else a ``DataLoader``."""
    if isinstance(like, TensorLoader):
        return TensorLoader(like.images, like.targets, batch_size, range(len(dataset)), transform, device)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)


def _targets_tensor(dataset: Any) -> Tensor:
    t = torch.as_tensor(np.asarray(dataset.targets))
    return t.float() if t.dim() == 2 else t  # multi-hot (N, C) as MultiLabelDataset gives them


def _read(path: str, key: str, sizes: tuple[int, int], dim: int,
          targets: tuple[Tensor, Tensor]) -> Optional[tuple[Tensor, Tensor]]:
    """The cached ``(train, eval)`` features of ``path``, or None (with a warning) when the file is
    unreadable or does not hold what ``key`` names."""
    try:
        z = load_npz(path, "feature cache")
        problems = []
        if "key" not in z or str(z["key"]) != key:
            problems.append("its key is not this run's")
        out = []
        for split, n, y in (("train", sizes[0], targets[0]), ("eval", sizes[1], targets[1])):
            f = z.get(f"{split}_features")
            t = z.get(f"{split}_targets")
            if f is None or t is None:
                problems.append(f"no {split} arrays")
                continue
            if f.dtype != np.float32 or f.shape != (n, dim):
                problems.append(f"{split} features are {f.dtype} {f.shape}, expected float32 {(n, dim)}")
            elif not np.isfinite(f).all():
                problems.append(f"{split} features hold NaN or inf")
            elif t.shape != tuple(y.shape) or not np.array_equal(t, y.numpy()):
                problems.append(f"{split} targets differ from the dataset's")
            else:
                out.append(torch.from_numpy(f))
        if problems:
            raise ValueError("; ".join(problems))
    except (ValueError, OSError, KeyError, EOFError, MemoryError) as exc:
        logger.warning("feature cache %s is unreadable or not this run's (%s): recomputing it", path, exc)
        return None
    return out[0], out[1]


def _write(path: str, key: str, train: tuple[Tensor, Tensor], evaluation: tuple[Tensor, Tensor]) -> None:
    arrays = dict(key=np.asarray(key), train_features=train[0].numpy(), train_targets=train[1].numpy(),
                  eval_features=evaluation[0].numpy(), eval_targets=evaluation[1].numpy())
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


class FeatureMixup:
    """``mixup`` (``v2.MixUp`` or the multi-label task's) on features ``(N, D)``: they pass as
    ``(N, D, 1, 1)`` "images", so the draws and the label mixing are the image mixup's own."""

    def __init__(self, mixup: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]) -> None:
        self.mixup = mixup

    def __call__(self, features: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        mixed, target = self.mixup(features[:, :, None, None], target)
        return mixed.flatten(1), target

    def __repr__(self) -> str:
        return f"FeatureMixup({self.mixup!r})"


def cached_stage(cfg: Mapping[str, Any], model: nn.Module, train_set: Any, eval_set: Any, sampler: Any,
                 train_loader: Any, eval_loader: Any, device: torch.device,
                 world_size: int = 1) -> tuple[FeatureLoader, FeatureLoader, nn.Module]:
    """The decoupled stage on cached features: ``(train_loader, eval_loader, net)``.

    ``train_loader`` yields ``(features (B, D), targets)`` in the order of ``sampler`` (batches as
    the run's own loader would give them); ``eval_loader`` the evaluation set's, in order; ``net``
    is ``model.head``, the module that trains (its parameters are ``model``'s, so checkpoints of
    ``model`` hold the trained head). The features are read from the cache when it holds this
    run's (:func:`cache_key`), else computed with ``model``'s backbone and written there.
    """
    why = unseparable_reason(model)
    if why:
        raise ValueError(f"strategy.feature_cache: {why}; set strategy.feature_cache=False")
    d = cfg["data"]
    reasons = varying_reasons(cfg)
    approximate = bool(reasons)
    if approximate and cfg["strategy"]["feature_cache"] is not True:
        logger.warning("strategy.feature_cache='approximate': %s; the features are computed once with BatchNorm in "
                       "eval mode%s%s (iif.engine.feature_cache)", "; ".join(reasons),
                       ", the training images through the test transform"
                       if random_transform_keys(d["train_transform"]) else "",
                       ", mixup applied to the features" if cfg["mixup"]["alpha"] > 0 else "")
    elif approximate:  # validate_config refuses this; a config built by hand may not have been validated
        raise ValueError(f"strategy.feature_cache=True but {'; '.join(reasons)}")
    # the training images' transform: the run's own (deterministic), or the test transform
    use_eval_view = bool(random_transform_keys(d["train_transform"]))
    eval_tf = eval_loader.transform if isinstance(eval_loader, TensorLoader) else eval_set.transform
    train_tf = eval_tf if use_eval_view else (train_loader.transform if isinstance(train_loader, TensorLoader)
                                              else train_set.transform)
    key = cache_key(cfg, model, train_set, eval_set, train_tf, eval_tf, device)
    path = os.path.join(cache_dir(), f"{key}.npz")
    amp, channels_last = cfg["train"]["amp"], cfg["train"]["channels_last"]
    targets = (_targets_tensor(train_set), _targets_tensor(eval_set))
    per_rank = max(1, d["batch_size"] // world_size)
    cached = None
    if os.path.isfile(path):
        cached = _read(path, key, (len(train_set), len(eval_set)), int(model.num_features), targets)
    if cached is not None:
        train_feats, eval_feats = cached
        logger.info("feature cache: read %s (train %s, eval %s)", path, tuple(train_feats.shape),
                    tuple(eval_feats.shape))
    else:
        t0 = time.perf_counter()
        saved = train_set.transform
        try:
            if not isinstance(train_loader, TensorLoader):
                train_set.transform = train_tf
            # batches of the training batch size: the convolutions the uncached run's batches take
            # (and, on a CPU, faster per image than the larger evaluation batches)
            order = _ordered_loader(train_set, train_loader, train_tf, per_rank, d["num_workers"], device)
            train_feats, _ = compute_features(model, order, device, amp, channels_last, "train features")
        finally:
            train_set.transform = saved
        ordered_eval = _ordered_loader(eval_set, eval_loader, eval_tf, d["test_batch_size"], d["num_workers"], device)
        eval_feats, _ = compute_features(model, ordered_eval, device, amp, channels_last, "eval features")
        try:
            _write(path, key, (train_feats, targets[0]), (eval_feats, targets[1]))
        except OSError as exc:  # a full disk or a read-only cache: this run has its features anyway
            logger.warning("feature cache: could not write %s (%s); this run goes on without saving them "
                           "(set $IIF_FEATURE_CACHE to a writable directory)", path, exc)
        else:
            logger.info("feature cache: computed train %s and eval %s features in %.1f s, wrote %s",
                        tuple(train_feats.shape), tuple(eval_feats.shape), time.perf_counter() - t0, path)
    train = FeatureLoader(train_feats, targets[0], per_rank, sampler, device, drop_last=len(sampler) > per_rank)
    evaluation = FeatureLoader(eval_feats, targets[1], d["test_batch_size"], range(len(eval_set)), device)
    return train, evaluation, model.head
