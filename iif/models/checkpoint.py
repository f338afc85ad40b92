"""Load a local checkpoint into a backbone (ImageNet pre-training, or a stage-1 model)."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from torch import Tensor, nn

from ..safe_load import load_torch_file

__all__ = ["LoadResult", "extract_state_dict", "load_pretrained", "STRIP_PREFIXES", "CLASSIFIER_PREFIXES"]

logger = logging.getLogger(__name__)

# Wrappers that prefix keys: DistributedDataParallel ("module."), LTClassifier and MMEngine
# models ("backbone."), torch.compile ("_orig_mod.").
STRIP_PREFIXES = ("module.", "_orig_mod.", "backbone.")
# Top-level classifier keys of torchvision/timm ResNets ("fc.") and of LTClassifier ("head.").
CLASSIFIER_PREFIXES = ("fc.", "head.")


@dataclass
class LoadResult:
    """What :func:`load_pretrained` did; keys are the backbone's."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped_classifier: list[str] = field(default_factory=list)


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in STRIP_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def extract_state_dict(checkpoint: Any) -> dict[str, Tensor]:
    """The tensor dict inside a loaded checkpoint: the object itself, or its ``"state_dict"``
    (MMEngine, Lightning) or ``"model"`` (timm/DeiT, torchvision references) entry."""
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model"):
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping):
                checkpoint = inner
                break
        tensors = {k: v for k, v in checkpoint.items() if isinstance(k, str) and isinstance(v, Tensor)}
        if tensors:
            return tensors
    raise ValueError(
        "checkpoint holds no state dict: expected a dict of tensors, or a dict with a "
        f"'state_dict' or 'model' entry; got {type(checkpoint).__name__}"
    )


def load_pretrained(backbone: nn.Module, path: str | os.PathLike, *, weights_only: Optional[bool] = None) -> LoadResult:
    """Load ``path`` into ``backbone`` non-strictly.

    Keys lose the prefixes in :data:`STRIP_PREFIXES` (repeatedly, so ``module.backbone.``
    goes too); classifier keys (``fc.``/``head.``) that the backbone has no same-shaped slot
    for are dropped, since the classifier is rebuilt for the new label set. Missing and
    unexpected keys are logged.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: no key matched the backbone at all (wrong file or wrong architecture), or a
            non-classifier tensor has a different shape than the backbone's; or the file is refused
            by :func:`iif.safe_load.load_torch_file` (pickled objects, a TorchScript archive, a
            decompression bomb, a truncated or foreign file).

    ``weights_only=False`` allows checkpoints that pickle arbitrary objects; only use it for
    files you trust. None (default): safe unless ``--unsafe-load`` (:func:`iif.safe_load.allow_unsafe_load`).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained checkpoint not found: {path!r}")
    raw = load_torch_file(path, "pretrained checkpoint", weights_only=weights_only)
    source = {_strip(k): v for k, v in extract_state_dict(raw).items()}
    target = backbone.state_dict()

    result = LoadResult()
    to_load: dict[str, Tensor] = {}
    mismatched: list[str] = []
    for key, value in source.items():
        same_slot = key in target and target[key].shape == value.shape
        if key.startswith(CLASSIFIER_PREFIXES) and not same_slot:
            result.dropped_classifier.append(key)
        elif key not in target:
            result.unexpected.append(key)
        elif not same_slot:
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(target[key].shape)}")
        else:
            to_load[key] = value
    if mismatched:
        raise ValueError(f"{path!r} does not fit the backbone; shape mismatch for: " + "; ".join(mismatched[:10]))
    if not to_load:
        raise ValueError(
            f"no key of {path!r} matches the backbone {type(backbone).__name__}: checkpoint keys "
            f"start {sorted(source)[:5]}, backbone keys start {sorted(target)[:5]}"
        )
    backbone.load_state_dict(to_load, strict=False)
    result.loaded = sorted(to_load)
    result.missing = sorted(k for k in target if k not in to_load)
    result.unexpected.sort()
    result.dropped_classifier.sort()

    logger.info("loaded %d/%d backbone tensors from %s", len(to_load), len(target), path)
    # Old checkpoints lack BN's num_batches_tracked; it is only a counter.
    important_missing = [k for k in result.missing if not k.endswith("num_batches_tracked")]
    if important_missing:
        logger.warning("%d backbone keys not in %s (kept at init): %s", len(important_missing), path, important_missing[:20])
    if result.unexpected:
        logger.warning("%d keys of %s unused by the backbone: %s", len(result.unexpected), path, result.unexpected[:20])
    if result.dropped_classifier:
        logger.info("dropped classifier keys from %s: %s", path, result.dropped_classifier)
    return result
