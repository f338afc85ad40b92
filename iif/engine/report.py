"""Evaluate a checkpoint once, keep its logits, and score every post-hoc variant from them.

::

    pred = predict_checkpoint("work_dirs/fashion_mnist_lt/softmax/last.pth")   # one inference pass
    save_predictions(pred, "predictions.npz")                                 # logits, labels, counts
    report = evaluate_predictions(load_predictions("predictions.npz"))        # seconds, no model
    print(format_report(report)); write_report(report, "eval/")               # table, CSV, JSON

The inference pass covers the validation split (where the dataset has one) and the test split.
:func:`evaluate_predictions` scores the model as trained, post-process IIF (all 7 variants),
additive logit adjustment and tau-normalisation over tau grids, each with top-1, per-class,
many/medium/few, ECE (15 bins) and NLL; then it picks each family's variant / tau on the
validation split and reports that choice on test (:func:`iif.posthoc.select_on_validation`).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..metrics import SHOT_THRESHOLDS
from ..models import CosineHead, LinearHead, LWSHead
from ..posthoc import DEFAULT_TAUS, FAMILIES, SELECT_METRICS, adjust_logits, select_on_validation
from ..safe_load import load_npz
from ..weights import VARIANTS
from .builders import apply_strategy, build_classifier, check_state_fits, build_criterion, build_datasets, build_loaders
from .checkpoint import _json_safe, atomic_write, atomic_write_json, atomic_write_text, load_checkpoint
from .config import validate_config, without_later_defaults
from .evaluate import collect_logits, format_table
from .task import build_task, resolve_task
from .trainer import check_finite_logits, method_name, resolve_device

__all__ = ["Predictions", "classifier_parameters", "predict_checkpoint", "save_predictions", "load_predictions",
           "cached_predictions", "stored_config", "config_digest", "posthoc_applies", "evaluate_predictions", "format_report", "write_report", "file_digest", "CSV_FIELDS", "MULTILABEL_CSV_FIELDS", "GROUP_LABELS"]

logger = logging.getLogger(__name__)

#: Names of the selection groups: one per post-hoc family, and "any" over every row
#: (the unadjusted model included).
GROUP_LABELS = {"iif": "IIF variant", "logit_adjustment": "logit-adj. tau", "tau_norm": "tau-norm tau",
                "any": "any method"}

#: Columns of the CSV written by :func:`write_report`.
CSV_FIELDS = ("split", "method", "family", "param", "selected_on", "top1", "balanced", "many", "medium", "few",
              "ece", "nll")
#: ... and of a multi-label report.
MULTILABEL_CSV_FIELDS = ("split", "method", "family", "param", "selected_on", "map", "head", "medium", "tail", "cf1",
                         "of1")


@dataclass
class Predictions:
    """What one inference pass keeps: enough to score any post-hoc adjustment without the model.

    Attributes:
        splits: ``{"test": (logits (N, C), labels (N,)), "val": ...}``; raw model outputs ``z``;
            multi-label: labels are ``(N, C)`` 0/1 targets (stored as uint8).
        train_counts: ``(C,)`` training images per class.
        shot_thresholds: ``(hi, lo)`` of the many/medium/few groups (multi-label: head/medium/tail).
        predict_weights: ``(C,)`` for a model trained with IIF-CE, which predicts with ``w * z``
            (paper Eq. 4); None when it predicts with ``z``.
        head_weight: ``(C, D)`` the classifier's (effective) weight; None if it has none.
        head_bias: ``(C,)`` or None.
        head_type: ``"linear"`` (tau-normalisation applies), ``"cosine"`` or ``"other"``.
        meta: method name, loss, strategy, dataset, config, checkpoint and its digest, class names.
        task: ``"single_label"`` or ``"multi_label"`` (:mod:`iif.engine.task`).
        num_images: ``K``, the number of training images (multi-label; None for single-label, where
            it is ``sum(train_counts)``).
    """

    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
    train_counts: np.ndarray
    shot_thresholds: tuple[int, int] = SHOT_THRESHOLDS
    predict_weights: Optional[np.ndarray] = None
    head_weight: Optional[torch.Tensor] = None
    head_bias: Optional[torch.Tensor] = None
    head_type: str = "other"
    meta: dict[str, Any] = field(default_factory=dict)
    task: str = "single_label"
    num_images: Optional[int] = None

    def as_trained(self, split: str) -> torch.Tensor:
        """The model's own scores on ``split``: ``w * z`` for an IIF-trained model, else ``z``."""
        logits = self.splits[split][0]
        if self.predict_weights is None:
            return logits
        return adjust_logits(logits, torch.as_tensor(self.predict_weights, dtype=logits.dtype))


def classifier_parameters(head: nn.Module) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor], str]:
    """``(weight (C, D), bias (C,) or None, kind)`` of a classifier head.

    ``kind`` is ``"linear"`` when the logits are ``x W^T + b`` (a linear head, or LWS around one:
    its weight and bias are scaled by the learnt per-class factors), ``"cosine"`` for a cosine
    head (the logits use only the directions of the rows, so tau-normalisation is the identity),
    ``"other"`` otherwise.
    """
    if isinstance(head, LWSHead):
        w, b, kind = classifier_parameters(head.base)
        f = head.scale.detach().float().cpu()
        if kind == "linear":
            return w * f[:, None], (b * f if b is not None else None), "linear"
        return (w * f[:, None] if w is not None else None), None, kind
    if isinstance(head, LinearHead) or type(head) is nn.Linear:
        b = head.bias.detach().float().cpu().clone() if head.bias is not None else None
        return head.weight.detach().float().cpu().clone(), b, "linear"
    if isinstance(head, CosineHead):
        return head.weight.detach().float().cpu().clone(), None, "cosine"
    w = getattr(head, "weight", None)
    return (w.detach().float().cpu().clone() if isinstance(w, torch.Tensor) else None), None, "other"


def config_digest(cfg: dict) -> str:
    """sha256 of a resolved config (every key, defaults included; internal ``_`` keys and the
    settings that cannot change the logits left out): saved logits are reused only for an equal one."""
    # Keys that joined the schema later count only when they differ from their default, so the
    # digests of configs written before them (and their cached logits) stay valid.
    keep = {k: v for k, v in without_later_defaults(cfg).items()
            if not k.startswith("_") and k not in ("work_dir", "evaluate")}
    text = json.dumps(_json_safe(keep), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: str) -> str:
    """sha256 of a file, hex (identifies the checkpoint that saved predictions came from)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _without_pretrained(cfg: dict) -> dict:
    """``cfg`` with no pretrained weights to load: a checkpoint holds every weight of its model, and
    the weight paths its stored config names are untrusted (a TorchScript archive there would run
    code), so evaluation never reads them."""
    model = dict(cfg["model"], pretrained=None)
    model["kwargs"] = {k: v for k, v in dict(model.get("kwargs") or {}).items() if k != "pretrained"}
    return dict(cfg, model=model)


def _load_model(cfg: dict, state: dict, num_classes: int) -> nn.Module:
    # The architecture the trainer built: cRT's fresh head and LWS's wrapper are part of it. Built
    # without pretrained weights (the checkpoint's state replaces them all).
    model = apply_strategy(build_classifier(_without_pretrained(cfg), num_classes), cfg, None)
    check_state_fits(model, state, "the checkpoint")
    model.load_state_dict(state)
    return model


def stored_config(checkpoint: str, options: Optional[dict] = None) -> dict:
    """The validated config stored in a trainer checkpoint, with ``--cfg-options``-style
    ``{"a.b": value}`` overrides applied."""
    return _config_of(load_checkpoint(checkpoint), checkpoint, options)


def _config_of(ckpt: dict, checkpoint: str, options: Optional[dict] = None) -> dict:
    """:func:`stored_config` of an already loaded checkpoint (no second read of the file)."""
    from mmengine.config import Config

    if "config" not in ckpt:
        raise ValueError(f"{checkpoint!r} holds no config; pass the config file (--config)")
    cfg = Config(dict(ckpt["config"]))
    if options:
        cfg.merge_from_dict(dict(options))
    return validate_config(cfg.to_dict())


def predict_checkpoint(checkpoint: str, cfg: Optional[dict] = None, splits: Sequence[str] = ("val", "test"),
                       device: Optional[str] = None) -> Predictions:
    """Run the checkpoint's model once over ``splits`` and keep what scoring needs.

    Paths stored in the checkpoint are untrusted: its model is built without pretrained weights
    (``model.pretrained`` and ``model.kwargs.pretrained`` are never read; the checkpoint holds the
    weights), and its data paths (``data.root``, split files) are read only by readers that cannot
    run code (restricted unpicklers, image decoders, text parsers). Give ``cfg`` (``--config`` /
    ``--cfg-options data.root=DIR``) to read the data from elsewhere.

    Args:
        checkpoint: a trainer checkpoint (``last.pth``).
        cfg: a validated config (:func:`iif.engine.load_config`); default: the one stored in the checkpoint.
        splits: evaluation splits; a split the dataset does not have (``"val"`` of ImageNet-LT without
            its split file, say) is skipped with a log message. ``"test"`` must exist.
        device: overrides ``cfg["device"]``.
    """
    ckpt = load_checkpoint(checkpoint)
    if cfg is None:
        cfg = _config_of(ckpt, checkpoint)
    cfg = dict(cfg)
    dev = resolve_device(device or cfg["device"])
    cfg["_device"] = dev
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    counts, thresholds, class_names, model, num_images = None, SHOT_THRESHOLDS, None, None, None
    task = build_task(resolve_task(cfg))
    for split in splits:
        split_cfg = dict(cfg, data=dict(cfg["data"], eval_split=split))
        try:
            train_set, eval_set = build_datasets(split_cfg)
        except (ValueError, FileNotFoundError) as exc:
            if split == "test":
                raise
            logger.info("no %r split for %s (%s): skipped", split, cfg["data"]["name"], exc)
            continue
        if counts is None:
            counts = np.asarray(train_set.class_counts(), dtype=np.int64)
            thresholds = task.thresholds(train_set)
            num_images = int(train_set.num_images) if task.multilabel else None
            class_names = [str(c) for c in getattr(train_set, "classes", range(len(counts)))]
            saved = ckpt.get("class_counts")
            if saved is not None and not np.array_equal(np.asarray(saved), counts):
                raise ValueError(f"{checkpoint!r} was trained on class counts {np.asarray(saved).tolist()[:10]}..., "
                                 f"the config's training set has {counts.tolist()[:10]}...: wrong --config?")
            model = _load_model(cfg, ckpt["model"], len(counts)).to(dev)
        _, loader, _ = build_loaders(split_cfg, train_set, eval_set)
        out[split] = collect_logits(model, loader, dev, amp=cfg["train"]["amp"], desc=f"inference ({split})")
        logger.info("%s split: %d images", split, len(out[split][1]))
    if "test" not in out:
        raise ValueError(f"splits must include 'test', got {list(splits)}")
    predict_weights = None
    # The prediction-time adjustment belongs to the base loss (a text-contrastive term has none).
    base_loss = {k: v for k, v in cfg["loss"].items() if k != "contrastive_weight"}
    adjust = getattr(build_criterion({**cfg, "loss": base_loss}, counts, thresholds, num_images), "adjust", None)
    if adjust is not None:
        # IIF-CE models predict with w * z; keep w so the raw z stay available for the figures.
        with torch.no_grad():
            w = adjust(torch.ones(1, len(counts)))[0].double()
            z = out["test"][0]
            if not torch.allclose(adjust(z).double(), z.double() * w, rtol=1e-5, atol=1e-5):
                raise ValueError(f"loss {cfg['loss']['type']!r} adjusts logits non-multiplicatively; "
                                 f"predictions cannot store it as per-class weights")
        predict_weights = w.numpy()
    weight, bias, kind = classifier_parameters(model.head)
    fused = getattr(model, "fused_classifier", None)
    if fused is not None:  # ResLT: the fused logits sum the shared head over the branches
        weight, bias, kind = fused(weight, bias, kind)
    meta = dict(method=method_name(cfg), loss=cfg["loss"]["type"], strategy=cfg["strategy"]["type"],
                posthoc=cfg["evaluate"].get("posthoc", "auto"),
                dataset=cfg["data"]["name"], config=cfg.get("_config_path"), checkpoint=os.path.abspath(checkpoint),
                checkpoint_sha256=file_digest(checkpoint), class_names=class_names, model=cfg["model"]["name"],
                head=cfg["model"]["head"], config_sha256=config_digest(cfg))
    if task.multilabel:
        meta["task"] = task.name
    return Predictions(splits=out, train_counts=counts, shot_thresholds=thresholds, predict_weights=predict_weights,
                       head_weight=weight, head_bias=bias, head_type=kind, meta=meta, task=task.name,
                       num_images=num_images)


def cached_predictions(checkpoint: str, path: str, cfg: Optional[dict] = None, recompute: bool = False,
                       device: Optional[str] = None) -> tuple[Predictions, bool]:
    """Predictions of ``checkpoint``, read from ``path`` when that file came from the same checkpoint
    (same sha256) and ``recompute`` is off, else computed and written there.

    Returns ``(predictions, reused)``.
    """
    if cfg is None:
        cfg = stored_config(checkpoint)
    if not recompute and os.path.isfile(path):
        try:
            pred = load_predictions(path)
        except (ValueError, OSError, KeyError, EOFError, MemoryError) as exc:
            # A bad cache (truncated, a bomb, labels out of range) is recomputed, never a crash.
            logger.warning("ignoring unreadable saved predictions (recomputing them): %s", exc)
        else:
            # Any changed key (a test transform, a data option, --cfg-options) changes the logits.
            same_config = pred.meta.get("config_sha256") == config_digest(cfg)
            if pred.meta.get("checkpoint_sha256") == file_digest(checkpoint) and same_config:
                return pred, True
            logger.info("%s came from another checkpoint or config: recomputing", path)
    pred = predict_checkpoint(checkpoint, cfg, device=device)
    save_predictions(pred, path)
    return pred, False


def save_predictions(pred: Predictions, path: str) -> None:
    """Write ``pred`` to an ``.npz`` atomically (``{split}_logits``, ``{split}_labels``, ``train_counts``, ...)."""
    arrays: dict[str, np.ndarray] = dict(train_counts=np.asarray(pred.train_counts, dtype=np.int64),
                                         shot_thresholds=np.asarray(pred.shot_thresholds, dtype=np.int64),
                                         head_type=np.asarray(pred.head_type),
                                         meta=np.asarray(json.dumps(pred.meta)))
    if pred.task != "single_label":  # single-label files stay as they were
        arrays["task"] = np.asarray(pred.task)
    if pred.num_images is not None:
        arrays["num_images"] = np.asarray(int(pred.num_images), dtype=np.int64)
    for split, (logits, labels) in pred.splits.items():
        arrays[f"{split}_logits"] = logits.float().numpy()
        # multi-hot (N, C) targets as uint8 (0/1; an eighth of int64), class indices (N,) as int64
        arrays[f"{split}_labels"] = labels.to(torch.uint8).numpy() if labels.dim() == 2 else labels.long().numpy()
    for key in ("predict_weights", "head_weight", "head_bias"):
        value = getattr(pred, key)
        if value is not None:
            arrays[key] = np.asarray(value, dtype=np.float32 if key != "predict_weights" else np.float64)
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def load_predictions(path: str) -> Predictions:
    """Read an ``.npz`` written by :func:`save_predictions`.

    Read through :func:`iif.safe_load.load_npz` (no pickles; sizes checked before anything is
    allocated, so a decompression bomb is refused) and checked: logits ``(N, C)`` with ``C`` the
    length of ``train_counts``, labels ``(N,)`` in ``0..C-1`` (multi-label: ``(N, C)`` of 0/1).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: naming the file and what is wrong with it.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"predictions file {path!r} does not exist")
    z = load_npz(path, "predictions file")
    keys = set(z)
    if "test_logits" not in keys or "train_counts" not in keys:
        raise ValueError(f"{path!r} is not a predictions file (keys {sorted(keys)}); "
                         f"write one with tools/test_cls.py")

    def bad(what: str) -> ValueError:
        return ValueError(f"predictions file {path!r}: {what}; write it again with tools/test_cls.py --recompute")

    counts = z["train_counts"]
    if counts.ndim != 1 or counts.size == 0 or counts.dtype.kind not in "iu" or (counts < 0).any():
        raise bad(f"train_counts must be non-negative integers of shape (C,), got {counts.dtype} {counts.shape}")
    num_classes = len(counts)
    task = str(z["task"]) if "task" in keys else "single_label"
    if task not in ("single_label", "multi_label"):
        raise bad(f"task {task!r} is not 'single_label' or 'multi_label'")
    splits = {}
    for key in sorted(keys):
        if not key.endswith("_logits"):
            continue
        split = key[: -len("_logits")]
        logits, labels = z[key], z.get(f"{split}_labels")
        if labels is None:
            raise bad(f"{key} has no {split}_labels")
        if logits.ndim != 2 or logits.shape[1] != num_classes or logits.dtype.kind != "f":
            raise bad(f"{key} must be float (N, {num_classes}) logits, got {logits.dtype} {logits.shape}")
        n = len(logits)
        if task == "multi_label":
            if labels.shape != (n, num_classes) or not np.isin(labels, (0, 1)).all():
                raise bad(f"{split}_labels must be (N, C) = ({n}, {num_classes}) 0/1 targets, got {labels.dtype} "
                          f"{labels.shape}")
        else:
            if labels.shape != (n,) or labels.dtype.kind not in "iu":
                raise bad(f"{split}_labels must be ({n},) integer class indices, got {labels.dtype} {labels.shape}")
            if n and (labels.min() < 0 or labels.max() >= num_classes):
                raise bad(f"{split}_labels has class indices {int(labels.min())}..{int(labels.max())}, outside "
                          f"0..{num_classes - 1}")
        splits[split] = (torch.from_numpy(np.ascontiguousarray(logits)), torch.from_numpy(np.ascontiguousarray(labels)))
    thresholds = z.get("shot_thresholds", np.asarray(SHOT_THRESHOLDS))
    if thresholds.shape != (2,) or thresholds.dtype.kind not in "iu":
        raise bad(f"shot_thresholds must be 2 integers, got {thresholds.dtype} {thresholds.shape}")
    for key, shape in (("predict_weights", (num_classes,)), ("head_bias", (num_classes,))):
        if key in keys and z[key].shape != shape:
            raise bad(f"{key} must have shape {shape}, got {z[key].shape}")
    if "head_weight" in keys and (z["head_weight"].ndim != 2 or len(z["head_weight"]) != num_classes):
        raise bad(f"head_weight must have shape ({num_classes}, D), got {z['head_weight'].shape}")
    try:
        meta = json.loads(str(z["meta"])) if "meta" in keys else {}
    except ValueError as exc:
        raise bad(f"its meta entry is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise bad(f"its meta entry holds a {type(meta).__name__}, expected a dict")
    num_images = int(z["num_images"]) if "num_images" in keys and z["num_images"].size == 1 else None
    return Predictions(
        splits=splits, train_counts=counts,
        shot_thresholds=tuple(int(t) for t in thresholds),
        predict_weights=z.get("predict_weights"),
        head_weight=torch.from_numpy(z["head_weight"]) if "head_weight" in keys else None,
        head_bias=torch.from_numpy(z["head_bias"]) if "head_bias" in keys else None,
        head_type=str(z["head_type"]) if "head_type" in keys else "other", meta=meta,
        task=task, num_images=num_images)


POSTHOC_MODES = ("auto", "always", "never")


def posthoc_applies(meta: dict, mode: str = "auto") -> tuple[bool, str]:
    """Whether post-hoc rows belong in the table, and why not.

    ``"auto"``: only for a model trained end-to-end with plain CE (softmax); on top of a long-tail
    loss or a retrained classifier they would adjust twice (the trainer's rule too), unless the run's
    own ``evaluate.posthoc`` (``meta["posthoc"]``) says ``"always"`` or ``"never"``.
    """
    if mode not in POSTHOC_MODES:
        raise ValueError(f"unknown posthoc mode {mode!r}; expected one of {list(POSTHOC_MODES)}")
    if mode == "auto" and meta.get("posthoc", "auto") != "auto":
        mode = meta["posthoc"]  # the run's own evaluate.posthoc
    if mode != "auto":
        return mode == "always", "post-hoc rows switched off (posthoc='never')"
    plain = build_task(meta.get("task", "single_label")).plain_loss  # softmax CE, or BCE for multi-label
    if meta.get("loss") == plain and meta.get("strategy") != "decoupled":
        return True, ""
    return False, (f"post-hoc rows skipped: the model was trained with loss {meta.get('loss')!r} / strategy "
                   f"{meta.get('strategy')!r}, and adjusting it again would adjust twice (posthoc='always' forces them)")


def _split_rows(pred: Predictions, split: str, do_posthoc: bool, variants: Sequence[str], la_taus: Sequence[float],
                tn_taus: Sequence[float]) -> list[dict]:
    logits, labels = pred.splits[split]
    counts = pred.train_counts
    task = build_task(pred.task)
    first = task.score(f"as trained ({pred.meta.get('method', 'model')})", pred.as_trained(split), labels, counts,
                       pred.shot_thresholds, per_class=True)
    first.update(family=None, param=None)
    rows = [first]
    if do_posthoc:
        rows += task.posthoc_rows(logits, labels, counts, pred.shot_thresholds, variants, la_taus, tn_taus,
                                  pred.head_weight, pred.head_bias, num_images=pred.num_images, per_class=True)
    return rows


def evaluate_predictions(pred: Predictions, variants: Sequence[str] = VARIANTS, la_taus: Sequence[float] = DEFAULT_TAUS,
                         tn_taus: Sequence[float] = DEFAULT_TAUS, select_metric: Optional[str] = None,
                         posthoc: str = "auto") -> dict:
    """Score the model as trained and every post-hoc variant on each split; select on validation.

    Returns a JSON-ready dict: ``meta``, ``splits`` (``{split: rows}``; each row has ``method``,
    ``family``, ``param``, top1/balanced/many/medium/few/ECE in %, NLL, ``per_class``),
    ``selected`` (test rows of the methods chosen on validation, one per family and one over
    everything incl. the unadjusted model; empty without a validation split), ``select_metric``,
    ``train_counts``, ``shot_thresholds`` and ``notes`` (what was skipped and why, how selection works).

    Multi-label predictions (``pred.task == "multi_label"``) get mAP rows (mAP, head / medium /
    tail, CF1, OF1) and post-process IIF of every variant with ``K = pred.num_images``; their
    report also holds ``task`` and ``num_images``. ``select_metric`` None is the task's default
    (``"balanced"``, or ``"map"`` for multi-label); it must be one of the task's metrics.
    """
    task = build_task(pred.task)
    if select_metric is None:
        select_metric = task.default_select_metric
    if select_metric not in SELECT_METRICS:
        raise ValueError(f"unknown selection metric {select_metric!r}; expected one of {list(SELECT_METRICS)}")
    if select_metric not in task.select_metrics:
        raise ValueError(f"selection metric {select_metric!r} is not a {task.name} metric; expected one of "
                         f"{list(task.select_metrics)}")
    for split, (logits, _) in pred.splits.items():
        check_finite_logits(logits, f"{split} split of {pred.meta.get('checkpoint', 'the predictions')}")
    notes = []
    do_posthoc, why = posthoc_applies(pred.meta, posthoc)
    if not do_posthoc:
        notes.append(why)
    if do_posthoc and task.multilabel:
        notes.append("multi-label: post-process IIF (every variant, K = training images) scales each sigmoid "
                     "logit; a positive weight keeps each class's ranking and each logit's sign, so AP and "
                     "CF1 / OF1 at 0.5 equal the model's own; only a negative rel / normit weight (a class in "
                     "more than half the images) changes them (logit adjustment and tau-normalisation are "
                     "softmax adjustments: not scored)")
        la_taus, tn_taus = (), ()
    if do_posthoc and tn_taus and pred.head_type != "linear":
        notes.append(f"tau-normalisation not evaluated: the classifier is {pred.head_type!r}, not linear"
                     + (" (a cosine head uses only the directions of its rows, so tau-norm is the identity)"
                        if pred.head_type == "cosine" else ""))
        tn_taus = ()
    splits = {s: _split_rows(pred, s, do_posthoc, variants, la_taus, tn_taus) for s in pred.splits}
    selected: list[dict] = []
    if "val" in splits and len(splits["val"]) > 1:
        n_val = len(pred.splits["val"][1])
        groups: dict[str, list[str]] = {}
        for r in splits["val"][1:]:
            groups.setdefault(r["family"], []).append(r["method"])
        groups = {GROUP_LABELS[f]: groups[f] for f in FAMILIES if f in groups}
        groups[GROUP_LABELS["any"]] = [r["method"] for r in splits["val"]]  # the unadjusted model may win too
        selected = select_on_validation(splits["val"], splits["test"], select_metric, groups)
        notes.append(f"selection: each family's variant / tau is chosen by validation {select_metric} "
                     f"({n_val} images of the 'val' split); the test numbers of that choice are reported "
                     f"and test is never used to choose")
    elif do_posthoc:
        notes.append("no validation split: nothing is selected; choosing a row below by its test accuracy "
                     "would overstate it")
    report = dict(meta=pred.meta, train_counts=[int(c) for c in pred.train_counts],
                  shot_thresholds=list(pred.shot_thresholds), select_metric=select_metric, splits=splits,
                  selected=selected, notes=notes)
    if task.multilabel:
        report.update(task=task.name, num_images=pred.num_images)
    return report


def format_report(report: dict) -> str:
    """The text tables of a report: test rows, the validation-selected rows, then the notes."""
    meta = report["meta"]
    counts = report["train_counts"]
    task = build_task(report.get("task", "single_label"))
    # Multi-label: an image counts once per label in sum(counts); K is the number of images.
    images = report.get("num_images") or sum(counts)
    head = (f"{meta.get('dataset')} ({len(counts)} classes, {images} training images, "
            f"{min(counts)}..{max(counts)} per class); checkpoint {meta.get('checkpoint')}")
    parts = [head, "", format_table(report["splits"]["test"], f"test split; {task.units}", task.report_columns)]
    if report["selected"]:
        parts += ["", format_table(report["selected"], f"chosen on the validation split by {report['select_metric']}"
                                   f", reported on test", task.report_columns)]
    parts += [""] + [f"note: {n}" for n in report["notes"]]
    return "\n".join(parts)


def _csv_rows(report: dict) -> list[dict]:
    out = []
    for split, rows in report["splits"].items():
        out += [dict(r, split=split, selected_on="") for r in rows]
    out += [dict(r, split="test", selected_on="val") for r in report["selected"]]
    return [{k: ("" if r.get(k) is None else r.get(k)) for k in _csv_fields(report)} for r in out]


def _csv_fields(report: dict) -> tuple[str, ...]:
    return MULTILABEL_CSV_FIELDS if report.get("task") == "multi_label" else CSV_FIELDS


def write_report(report: dict, out_dir: str, stem: str = "results") -> dict[str, str]:
    """Write ``<stem>.json`` (everything, per-class accuracies included), ``<stem>.csv`` (one line per
    split and method) and ``<stem>.txt`` (the printed tables) atomically; returns their paths."""
    paths = {ext: os.path.join(out_dir, f"{stem}.{ext}") for ext in ("json", "csv", "txt")}
    atomic_write_json(report, paths["json"])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_csv_fields(report), lineterminator="\n")
    writer.writeheader()
    writer.writerows(_csv_rows(report))
    atomic_write_text(buf.getvalue(), paths["csv"])
    atomic_write_text(format_report(report) + "\n", paths["txt"])
    return paths
