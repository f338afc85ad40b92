"""What a classification *task* decides for the trainer: targets, activation, loss family, metrics.

One trainer runs both tasks (design notes, section 4: a task abstraction, not a second trainer);
checkpoints, resume, DDP, logs and reports are shared. A task object holds only what differs:

====================  =====================================  ==========================================
                      :class:`SingleLabelTask`               :class:`MultiLabelTask`
====================  =====================================  ==========================================
targets               class index ``(N,)`` int64             multi-hot ``(N, C)`` float32
scores                softmax of the logits                  a sigmoid per class
losses                ``ce``, ``iif``, LDAM, ...             :data:`iif.losses.MULTILABEL_LOSSES`
``K`` for IIF         ``sum(counts)`` (= images)             the number of training images
groups                many / medium / few (``> hi``)         head / medium / tail (``>= hi``)
table                 top-1, balanced, many, medium, few     mAP, head, medium, tail, CF1, OF1
post-hoc rows         IIF variants, logit adj., tau-norm     IIF variants on the sigmoid logits
mixup                 torchvision ``v2.MixUp`` (indices)     the multi-hot targets mixed the same way
====================  =====================================  ==========================================

A config says which task it is (``task="single_label" | "multi_label"``) or leaves it to the
dataset (``multilabel = True`` on the dataset class); :func:`check_task_config` refuses a task,
loss, sampler or mixup setting that does not fit.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..data.registry import DATASETS
from ..data.samplers import MULTILABEL_SAMPLER_MODES, SAMPLER_MODES
from ..losses import LOSSES, MULTILABEL_LOSSES, clip_contrastive_loss
from ..metrics import MULTILABEL_GROUP_THRESHOLDS, SHOT_THRESHOLDS

__all__ = ["TASKS", "Task", "SingleLabelTask", "MultiLabelTask", "MultiHotMixUp", "build_task", "dataset_task",
           "resolve_task", "check_task_config", "SOFT_TARGET_LOSSES", "TEXT_MODELS", "TextContrastiveLoss",
           "label_text_contrastive"]

#: The tasks a config's ``task`` key names.
TASKS = ("single_label", "multi_label")

#: Multi-label losses that accept soft targets in [0, 1] (mixup); ASL, BAL and DB-Focal use the
#: labels as masks and need hard 0/1 targets (iif/losses/sigmoid.py).
SOFT_TARGET_LOSSES = frozenset({"bce", "sigmoid_focal", "iif_bce"})


class MultiHotMixUp:
    """Mixup of images ``(B, ...)`` and multi-hot targets ``(B, C)`` (Zhang et al., 2018).

    ``lam ~ Beta(alpha, alpha)`` from torch's global RNG (which the trainer reseeds every epoch,
    so resumed runs draw the same values), each sample mixed with the next one in the batch
    (``roll(1)``): torchvision's ``v2.MixUp`` draws and pairs the same way, but it wants class
    indices and one-hot encodes them; a multi-label target is already the vector to mix.
    """

    def __init__(self, alpha: float) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"mixup alpha must be a number > 0, got {alpha!r}")
        self.alpha = float(alpha)
        self._beta = torch.distributions.Beta(torch.tensor([self.alpha]), torch.tensor([self.alpha]))

    def __call__(self, images: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        if targets.dim() != 2 or targets.shape[0] != images.shape[0]:
            raise ValueError(f"MultiHotMixUp: targets of shape {tuple(targets.shape)} for {images.shape[0]} images; "
                             f"expected ({images.shape[0]}, C) multi-hot")
        lam = float(self._beta.sample(()))
        mixed = images.roll(1, 0).mul_(1.0 - lam).add_(images.mul(lam))
        y = targets.to(torch.float32)
        return mixed, y.roll(1, 0).mul_(1.0 - lam).add_(y.mul(lam))


#: Models with a text tower, whose embeddings a text-contrastive term (``loss.contrastive_weight``) reads.
TEXT_MODELS = frozenset({"clip"})


def label_text_contrastive(image_emb: Tensor, class_emb: Tensor, targets: Tensor,
                           logit_scale: Tensor | float) -> Tensor:
    """CLIP's contrastive loss with each image's text made from its labels.

    Image ``i`` (``image_emb`` ``(N, D)``) is paired with ``targets[i] @ class_emb``, the sum of
    its classes' prompt embeddings (``class_emb`` ``(C, D)``; a soft target weighs them), which
    :func:`iif.losses.clip_contrastive_loss` normalises; the other images' texts in the batch are
    its negatives. Images without a positive label have no text and are left out.
    """
    keep = targets.sum(1) > 0
    text = targets[keep].to(class_emb.dtype) @ class_emb
    return clip_contrastive_loss(image_emb[keep], text, logit_scale)


class TextContrastiveLoss(nn.Module):
    """``base(logits, targets) + weight * label_text_contrastive(...)`` for a model with a text tower.

    The trainer calls ``criterion(model(images), targets)``; the model (:class:`iif.models.CLIPClassifier`)
    keeps the embeddings of that training forward in ``last_embeddings``, read here and cleared.
    The model is held by a weak reference: the loss does not own it (no state, no ``.to``).
    ``adjust`` / ``set_epoch`` of the base loss stay reachable, as the trainer looks for them.
    """

    def __init__(self, base: nn.Module, weight: float, model: Optional[nn.Module]) -> None:
        super().__init__()
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise ValueError(f"loss.contrastive_weight must be a number >= 0, got {weight!r}")
        if model is None or not hasattr(model, "last_embeddings"):
            raise ValueError(f"loss.contrastive_weight needs a model with a text tower ({sorted(TEXT_MODELS)}), "
                             f"got {type(model).__name__ if model is not None else 'no model'}")
        self.base = base
        self.weight = float(weight)
        self._model = weakref.ref(model)
        for name in ("adjust", "set_epoch"):
            if hasattr(base, name):
                setattr(self, name, getattr(base, name))

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        """``logits`` ``(N, C)``, multi-hot ``targets`` ``(N, C)`` -> 0-dim loss."""
        model = self._model()
        emb = getattr(model, "last_embeddings", None)
        if emb is None or emb.image.shape[0] != logits.shape[0]:
            raise RuntimeError("TextContrastiveLoss: no embeddings of this batch; call the model in training mode "
                               "with grad enabled right before the loss")
        model.last_embeddings = None  # one loss per forward; frees the references
        return self.base(logits, targets) + self.weight * label_text_contrastive(
            emb.image.float(), emb.text.float(), targets.float(), emb.scale.float())


class Task:
    """The task-specific parts of training and evaluation (subclasses fill them in)."""

    #: ``"single_label"`` or ``"multi_label"``.
    name: str = ""
    multilabel: bool = False
    #: The loss of the plain model whose logits get post-hoc rows under ``evaluate.posthoc="auto"``.
    plain_loss: str = ""
    #: The headline metric (log lines, TensorBoard) and the default post-hoc selection metric.
    primary: str = ""
    default_select_metric: str = ""
    #: Metrics a post-hoc variant can be chosen by on validation.
    select_metrics: tuple[str, ...] = ()
    #: Columns of the trainer's table, and of the evaluation report (plus calibration for single-label).
    columns: tuple[str, ...] = ()
    report_columns: tuple[str, ...] = ()
    #: What the numbers are, for table titles.
    units: str = ""

    def thresholds(self, dataset: Any) -> tuple[int, int]:
        """The dataset's ``(hi, lo)`` group thresholds (from its training counts)."""
        raise NotImplementedError

    def build_mixup(self, alpha: float, num_classes: int) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
        raise NotImplementedError

    def score(self, method: str, logits: Tensor, labels: Tensor, train_counts: np.ndarray,
              thresholds: tuple[int, int], per_class: bool = False) -> dict:
        """One results row for ``logits`` ``(N, C)`` against ``labels`` (the task's targets)."""
        raise NotImplementedError

    def posthoc_rows(self, logits: Tensor, labels: Tensor, train_counts: np.ndarray, thresholds: tuple[int, int],
                     variants: Iterable[str], la_taus: Sequence[float] = (), tn_taus: Sequence[float] = (),
                     head_weight: Optional[Tensor] = None, head_bias: Optional[Tensor] = None,
                     num_images: Optional[int] = None, per_class: bool = False) -> list[dict]:
        """Rows of every post-hoc adjustment of ``logits`` (each with ``method``, ``family``, ``param``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SingleLabelTask(Task):
    """Softmax over the classes; top-1, balanced accuracy, many / medium / few, ECE, NLL."""

    name = "single_label"
    multilabel = False
    plain_loss = "ce"
    primary = "top1"
    default_select_metric = "balanced"
    select_metrics = ("balanced", "top1", "nll", "ece")
    columns = ("top1", "balanced", "many", "medium", "few")
    report_columns = columns + ("ece", "nll")
    units = "accuracies and ECE in %, NLL in nats"

    def thresholds(self, dataset: Any) -> tuple[int, int]:
        return tuple(int(t) for t in getattr(dataset, "shot_thresholds", SHOT_THRESHOLDS))  # type: ignore[return-value]

    def build_mixup(self, alpha: float, num_classes: int):
        from torchvision.transforms import v2

        return v2.MixUp(alpha=alpha, num_classes=num_classes)

    def score(self, method, logits, labels, train_counts, thresholds, per_class=False):
        from .evaluate import score

        return score(method, logits, labels, train_counts, thresholds, per_class=per_class)

    def posthoc_rows(self, logits, labels, train_counts, thresholds, variants, la_taus=(), tn_taus=(),
                     head_weight=None, head_bias=None, num_images=None, per_class=False):
        from ..posthoc import posthoc_sweep

        rows = posthoc_sweep(logits, labels, train_counts, list(variants), list(la_taus), list(tn_taus),
                             head_weight, head_bias, thresholds)
        if not per_class:
            for r in rows:
                r.pop("per_class")
        return rows


class MultiLabelTask(Task):
    """A sigmoid per class; mAP, head / medium / tail mAP, CF1 and OF1 at probability 0.5.

    Post-hoc rows are post-process IIF of every variant with ``K`` = training images
    (:func:`iif.posthoc.multilabel_posthoc_sweep`). A positive weight keeps each class's ranking
    (so its AP) and the sign of every logit (so ``sigmoid(w z) >= 0.5`` exactly when
    ``sigmoid(z) >= 0.5``: CF1 / OF1 at 0.5 too): such rows equal the model's own, and only a
    ``rel`` / ``normit`` weight made negative by a class in more than half the images changes
    anything (it flips that class). Logit adjustment and tau-normalisation are single-label
    (softmax) adjustments and are not scored.
    """

    name = "multi_label"
    multilabel = True
    plain_loss = "bce"
    primary = "map"
    default_select_metric = "map"
    select_metrics = ("map", "cf1", "of1")
    columns = ("map", "head", "medium", "tail", "cf1", "of1")
    report_columns = columns
    units = "mAP and F1 in %"

    def thresholds(self, dataset: Any) -> tuple[int, int]:
        return tuple(int(t) for t in getattr(dataset, "group_thresholds", MULTILABEL_GROUP_THRESHOLDS))  # type: ignore[return-value]

    def build_mixup(self, alpha: float, num_classes: int):
        return MultiHotMixUp(alpha)

    def score(self, method, logits, labels, train_counts, thresholds, per_class=False):
        from .evaluate import score_multilabel

        return score_multilabel(method, logits, labels, train_counts, thresholds, per_class=per_class)

    def posthoc_rows(self, logits, labels, train_counts, thresholds, variants, la_taus=(), tn_taus=(),
                     head_weight=None, head_bias=None, num_images=None, per_class=False):
        from .evaluate import multilabel_posthoc_rows

        if num_images is None:
            raise ValueError("multi-label post-hoc rows need num_images (K, the number of training images)")
        return multilabel_posthoc_rows(logits, labels, train_counts, int(num_images), variants, thresholds,
                                       per_class=per_class)


_TASKS: dict[str, Task] = {"single_label": SingleLabelTask(), "multi_label": MultiLabelTask()}


def build_task(name: str) -> Task:
    """The task object of ``name`` (one of :data:`TASKS`)."""
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {list(TASKS)}")
    return _TASKS[name]


def dataset_task(name: str) -> Optional[str]:
    """The task a dataset's targets make (its class's ``multilabel`` flag); None for an unknown name."""
    cls = DATASETS.get(name)
    if cls is None:
        return None
    return "multi_label" if getattr(cls, "multilabel", False) else "single_label"


def resolve_task(cfg: Mapping[str, Any]) -> str:
    """``cfg["task"]`` when set, else the dataset's task (``"single_label"`` for an unknown dataset)."""
    return cfg.get("task") or dataset_task(cfg["data"]["name"]) or "single_label"


def check_task_config(cfg: Mapping[str, Any]) -> list[str]:
    """Problems of a merged config's task settings (one message each; empty when it fits).

    - ``task`` set and not what the dataset's targets are;
    - a multi-label (sigmoid) loss on a single-label task, or the other way round;
    - a sampler of the other task (``occurrence`` / ``class_aware`` are multi-label samplers);
    - mixup on a multi-label task with a loss that needs hard 0/1 targets (ASL, BAL, DB-Focal);
    - ``loss.num_images``: ``K`` is counted from the training set;
    - ``loss.contrastive_weight`` outside the multi-label task or without a text-tower model.
    """
    out: list[str] = []
    task = cfg.get("task")
    name = cfg["data"]["name"]
    if task is not None and task not in TASKS:
        return [f"task={task!r} is not one of {list(TASKS)} (or None: the dataset's)"]
    from_data = dataset_task(name)
    if task is not None and from_data is not None and task != from_data:
        kind = "multi-hot (N, C)" if from_data == "multi_label" else "class-index (N,)"
        out.append(f"task={task!r} does not fit dataset {name!r}, whose targets are {kind}: set task={from_data!r} "
                   f"or leave task unset (None) to take it from the dataset")
        return out
    task = task or from_data or "single_label"
    loss = cfg["loss"].get("type")
    if loss in LOSSES:
        if task == "single_label" and loss in MULTILABEL_LOSSES:
            out.append(f"loss.type={loss!r} is a multi-label (sigmoid) loss, but the task is 'single_label' "
                       f"(dataset {name!r}); expected one of {sorted(set(LOSSES) - MULTILABEL_LOSSES)}")
        elif task == "multi_label" and loss not in MULTILABEL_LOSSES:
            out.append(f"loss.type={loss!r} is a single-label (softmax) loss, but the task is 'multi_label' "
                       f"(dataset {name!r}); expected one of {sorted(MULTILABEL_LOSSES)}")
    weight = cfg["loss"].get("contrastive_weight")
    if weight is not None:
        if task != "multi_label":
            out.append("loss.contrastive_weight is a multi-label option (a text-contrastive term); the task is "
                       f"{task!r}")
        elif cfg.get("model", {}).get("name") not in TEXT_MODELS:
            out.append(f"loss.contrastive_weight needs a model with a text tower ({sorted(TEXT_MODELS)}), "
                       f"got model.name={cfg.get('model', {}).get('name')!r}")
        elif isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            out.append(f"loss.contrastive_weight must be a number >= 0, got {weight!r}")
    if "num_images" in cfg["loss"]:
        out.append("loss.num_images: K (the number of training images) is counted from the training set; "
                   "remove it from the config")
    sampler = cfg["data"].get("sampler")
    if sampler is not None:
        if task == "multi_label" and sampler not in MULTILABEL_SAMPLER_MODES:
            out.append(f"data.sampler={sampler!r} is not a multi-label sampler; expected None or one of "
                       f"{list(MULTILABEL_SAMPLER_MODES)}")
        elif task == "single_label" and sampler not in SAMPLER_MODES:
            out.append(f"data.sampler={sampler!r} is not a single-label sampler; expected None or one of "
                       f"{list(SAMPLER_MODES)}" + (" (occurrence / class_aware sample multi-label data)"
                                                   if sampler in MULTILABEL_SAMPLER_MODES else ""))
    alpha = cfg.get("mixup", {}).get("alpha", 0.0)
    if task == "multi_label" and alpha > 0 and loss in MULTILABEL_LOSSES and loss not in SOFT_TARGET_LOSSES:
        out.append(f"mixup.alpha={alpha!r} mixes the multi-hot targets into soft ones, which loss {loss!r} refuses "
                   f"(it needs hard 0/1 targets); set mixup.alpha=0 or use one of {sorted(SOFT_TARGET_LOSSES)}")
    return out
