"""FASA (Zang et al., ICCV 2021): Feature Augmentation and Sampling Adaptation, for mmdet 3.

Read from the authors' code, github.com/yuhangzang/FASA at commit ``01d08a7`` ("FASA code"
below; ``fasa/fasa_bbox_head.py`` unless another file is named). kostas1515/iif's FASA head,
used for IIF's 26.3 recipe, is the same file with the same ``fasa_cfg``.

* Features: the input of the box classifier ``fc_cls`` (after the shared FCs + ReLU), taken
  from positive RoIs only (FASA code: ``forward`` ~l.111-114 returns ``x_cls``; ``loss``
  ~l.258-262 keeps ``labels < num_classes``).
* Statistics, per class ``c`` in a batch with ``n`` RoIs: batch mean and *unbiased* variance
  (``n/(n-1)``; 0 when ``n == 1``, ~l.131-137); the first batch of a class sets them, later ones
  move them by ``momentum`` (``decay_ratio=0.1``): ``new = 0.1 * batch + 0.9 * old`` (~l.139-148).
  The stored ``feature_std`` is a variance (``sqrt`` at sampling, ~l.160); it is not scaled.
* Virtual features: each iteration, class ``c`` is drawn with probability ``rate_c`` (one
  Bernoulli per class, ~l.150-152); a drawn class that has statistics gives ONE feature
  ``mean_c + sqrt(var_c) * N(0, I)`` (~l.156-164). So about ``sum(rates)`` features an iteration
  (1 at the start: the initial rates sum to 1).
* Loss: the head's own ``loss_cls`` on ``fc_cls(virtual)`` with per-feature weight
  ``loss_aug_weight=0.1`` and ``avg_factor`` = number of virtual features (0.1 x their mean
  loss), added to the classification loss (~l.283-299). It starts at the second epoch
  (``self.epoch >= 1``, ~l.283; ``fasa/epoch_based_dynamic_runner.py`` ~l.28-29 sets the
  0-based epoch).
* Initial rates: ``scale * ((1/n_c) / sum_j (1/n_j)) ** power``, clamped to [0, 1], ``n_c`` the
  class's training instances, ``instance_prob_power=1``, ``instance_prob_scale=1`` (~l.51-61;
  LVIS v1 counts hard-coded in ``fasa/lvis_instances.py``).
* Sampling adaptation, once an epoch (``epoch_based_dynamic_runner.py`` ~l.55-72, workflow
  ``[('train', 1), ('val', 1)]`` in the config, ``train.py`` ~l.167-170 gives the val set the
  *train* pipeline): the per-RoI classification loss of the real RoIs over the val set, summed
  per label (background too) and divided by the number of RoIs (``cross_entropy_loss.py``
  ~l.92-97, ``dynamic_sampling`` ~l.177-181). Classes are grouped by affinity propagation on
  the squared distances between class means (~l.186-197, ``random_state=1``); for each group,
  if its summed loss rose since the previous epoch its rates are multiplied by
  ``dynamic_down=0.9``, if it fell by ``dynamic_up=1.1``, then clamped to [0, 1] (~l.199-210).
  The first epoch only records the loss (~l.183-184).

Differences (see docs/FIDELITY.md): FASA's code passes the squared *distances* to
``AffinityPropagation(affinity='precomputed')``, which reads them as *similarities*; we pass
their negatives (sklearn's own euclidean affinity), so similar classes share a group (and
fall back to one group a class if it does not converge). The virtual loss is its own key,
``loss_cls_fasa`` (FASA adds it into ``loss_cls``; the total is the same). Initial rates
come from the run's training annotation file (FASA: hard-coded LVIS v1 counts); a class
with no instances gets rate 0. Statistics stay per process, as in FASA's code; adapted
rates are broadcast from rank 0 so every process samples with the same rates.

Use: ``bbox_head=dict(type='FASAShared2FCBBoxHead', fasa_cfg=dict(...))`` and
``custom_hooks=[dict(type='FASAHook')]`` (sets the epoch, the initial rates from the training
annotation file, and runs the adaptation). Nothing changes at test time.
"""
from __future__ import annotations

import copy
import logging
import math
from typing import Any, Optional, Sequence

import numpy as np
import torch
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.registry import HOOKS, MODELS
from mmengine.dist import all_reduce, broadcast, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

__all__ = ["FASAShared2FCBBoxHead", "FASAHook", "initial_rates", "adapt_rates", "update_class_statistics"]

# fasa_cfg keys and defaults; the FASA code's name in brackets (fasa_bbox_head.py l.46-56).
FASA_DEFAULTS: dict[str, Any] = dict(
    momentum=0.1,          # [decay_ratio] weight of the new batch in the running mean / variance
    loss_weight=0.1,       # [loss_aug_weight] per-virtual-feature weight in loss_cls
    rate_power=1.0,        # [instance_prob_power]
    rate_scale=1.0,        # [instance_prob_scale]
    rate_up=1.1,           # [dynamic_up] rate multiplier when a group's val loss falls
    rate_down=0.9,         # [dynamic_down] rate multiplier when it rises
    start_epoch=1,         # [epoch >= 1] first 0-based epoch with virtual features
    group_by="affinity",   # "affinity" (FASA) or "class" (each class its own group)
    instance_counts=None,  # (C,) training instances; else FASAHook counts the training file
    rates=None,            # (C,) explicit initial rates in [0, 1] (overrides instance_counts)
)


def _check_cfg(cfg: dict, num_classes: int) -> dict:
    """``fasa_cfg`` with defaults filled in; ``ValueError`` naming any bad key or value."""
    unknown = sorted(set(cfg) - set(FASA_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown fasa_cfg keys {unknown}; expected some of {sorted(FASA_DEFAULTS)}")
    out = {**FASA_DEFAULTS, **cfg}

    def number(key: str) -> float:
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"fasa_cfg.{key} must be a finite number, got {v!r}")
        return float(v)

    if not 0.0 < number("momentum") <= 1.0:
        raise ValueError(f"fasa_cfg.momentum must be in (0, 1], got {out['momentum']!r}")
    if number("loss_weight") < 0:
        raise ValueError(f"fasa_cfg.loss_weight must be >= 0, got {out['loss_weight']!r}")
    for key in ("rate_power", "rate_scale"):
        if number(key) <= 0:
            raise ValueError(f"fasa_cfg.{key} must be > 0, got {out[key]!r}")
    if number("rate_up") < 1.0:
        raise ValueError(f"fasa_cfg.rate_up must be >= 1 (it raises rates), got {out['rate_up']!r}")
    if not 0.0 < number("rate_down") <= 1.0:
        raise ValueError(f"fasa_cfg.rate_down must be in (0, 1] (it lowers rates), got {out['rate_down']!r}")
    if isinstance(out["start_epoch"], bool) or not isinstance(out["start_epoch"], int) or out["start_epoch"] < 0:
        raise ValueError(f"fasa_cfg.start_epoch must be an int >= 0, got {out['start_epoch']!r}")
    if out["group_by"] not in ("affinity", "class"):
        raise ValueError(f"fasa_cfg.group_by must be 'affinity' or 'class', got {out['group_by']!r}")
    for key in ("instance_counts", "rates"):
        if out[key] is None:
            continue
        v = np.asarray(out[key], dtype=np.float64)
        if v.shape != (num_classes,):
            raise ValueError(f"fasa_cfg.{key} needs {num_classes} values (num_classes), got shape {v.shape}")
        bad = ~np.isfinite(v) | (v < 0) | ((v > 1) if key == "rates" else False)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            rng = "[0, 1]" if key == "rates" else "[0, inf)"
            raise ValueError(f"fasa_cfg.{key} must be in {rng}, got {float(v[i])} for class {i}")
    return out


def initial_rates(instance_counts: Sequence[float] | Tensor, power: float = 1.0, scale: float = 1.0) -> Tensor:
    """FASA's initial sampling rates ``(C,)``: ``scale * (p_c / sum p) ** power`` clamped to
    [0, 1], ``p_c = 1 / n_c`` (FASA code ~l.55-61); a class with no instances gets 0 (never sampled)."""
    n = torch.as_tensor(instance_counts, dtype=torch.float64)
    inv = torch.where(n > 0, 1.0 / n.clamp(min=1), torch.zeros_like(n))
    if inv.sum() <= 0:
        raise ValueError("initial_rates: every class has 0 instances")
    return (scale * (inv / inv.sum()) ** power).clamp(0, 1).float()


def adapt_rates(rates: Tensor, prev_loss: Tensor, loss: Tensor, groups: Sequence[Tensor],
                up: float = 1.1, down: float = 0.9) -> Tensor:
    """One sampling-adaptation step (FASA code ~l.199-210): for each group of class indices,
    rates x ``down`` if the group's summed loss rose (``loss > prev_loss``), x ``up`` if it fell,
    unchanged if equal; clamped to [0, 1]. ``rates`` ``(C,)``; losses ``(C,)`` or ``(C+1,)``."""
    new = rates.clone()
    for g in groups:
        delta = loss[g].sum() - prev_loss[g].sum()
        if delta > 0:
            new[g] = new[g] * down
        elif delta < 0:
            new[g] = new[g] * up
    return new.clamp(0, 1)


@torch.no_grad()
def update_class_statistics(mean: Tensor, var: Tensor, count: Tensor, feats: Tensor, labels: Tensor,
                            momentum: float) -> None:
    """In place: fold ``feats`` ``(N, D)`` of classes ``labels`` ``(N,)`` into ``mean``/``var``
    ``(C, D)`` and the per-class update ``count`` ``(C,)`` (FASA code ~l.118-148): batch mean and
    unbiased variance per class (variance 0 for a single RoI); a class's first batch sets them,
    later batches blend ``momentum * batch + (1 - momentum) * old``."""
    if labels.numel() == 0:
        return
    feats = feats.detach().to(mean.dtype)
    classes, inverse, n = torch.unique(labels, return_inverse=True, return_counts=True)
    sums = feats.new_zeros(len(classes), feats.shape[1]).index_add_(0, inverse, feats)
    batch_mean = sums / n[:, None]
    sq = feats.new_zeros(len(classes), feats.shape[1]).index_add_(0, inverse, (feats - batch_mean[inverse]) ** 2)
    # unbiased (n - 1) like FASA; one RoI gives variance 0 (FASA: var(unbiased=False) of 1 sample)
    batch_var = sq / (n[:, None] - 1).clamp(min=1)
    seen = count[classes] > 0
    m = torch.where(seen, torch.full_like(n, momentum, dtype=mean.dtype), torch.ones_like(n, dtype=mean.dtype))
    mean[classes] = m[:, None] * batch_mean + (1 - m[:, None]) * mean[classes]
    var[classes] = m[:, None] * batch_var + (1 - m[:, None]) * var[classes]
    count[classes] += 1


@MODELS.register_module()
class FASAShared2FCBBoxHead(Shared2FCBBoxHead):
    """mmdet's ``Shared2FCBBoxHead`` plus FASA (module docstring; FASA code's ``Shared2FCFASABBoxHead``).

    The features entering ``fc_cls`` are caught by a forward pre-hook (so ``forward`` stays
    mmdet's); :meth:`loss_and_target` updates the class statistics from the positive RoIs,
    draws virtual features and adds ``loss_cls_fasa`` (the head's own ``loss_cls``, so plain
    cross-entropy, :class:`IIFLoss` and a ``NormedLinear`` classifier all work).

    Buffers (kept by checkpoints): ``fasa_mean`` / ``fasa_var`` ``(C, D)``, ``fasa_count``
    ``(C,)`` (statistics updates), ``fasa_rate`` ``(C,)`` (sampling rates), ``fasa_rate_set``,
    ``fasa_prev_loss`` ``(C+1,)`` (last adaptation loss). ``D = cls_last_dim``.
    """

    def __init__(self, *args: Any, fasa_cfg: Optional[dict] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.with_cls:
            raise ValueError("FASAShared2FCBBoxHead needs the classification branch (with_cls=True)")
        cfg = _check_cfg(dict(fasa_cfg or {}), self.num_classes)
        self.fasa_cfg = cfg
        C, D = self.num_classes, self.cls_last_dim
        self.register_buffer("fasa_mean", torch.zeros(C, D))
        self.register_buffer("fasa_var", torch.zeros(C, D))
        self.register_buffer("fasa_count", torch.zeros(C))
        self.register_buffer("fasa_rate", torch.zeros(C))
        self.register_buffer("fasa_rate_set", torch.tensor(False))
        self.register_buffer("fasa_prev_loss", torch.zeros(C + 1))
        # adaptation-pass accumulators: per label summed loss and RoI count (not checkpointed)
        self.register_buffer("fasa_loss_sum", torch.zeros(C + 1), persistent=False)
        self.register_buffer("fasa_loss_n", torch.zeros(C + 1), persistent=False)
        self.recording = False
        self.epoch = 0  # 0-based training epoch, set by FASAHook
        self._cls_feats: Optional[Tensor] = None
        self.fc_cls.register_forward_pre_hook(self._catch_cls_feats)
        if cfg["rates"] is not None:
            self.set_rates(torch.as_tensor(cfg["rates"], dtype=torch.float32))
        elif cfg["instance_counts"] is not None:
            self.set_rates_from_counts(cfg["instance_counts"])

    # ------------------------------------------------------------------ rates
    def set_rates(self, rates: Tensor) -> None:
        """Use ``(C,)`` sampling rates in [0, 1]."""
        rates = torch.as_tensor(rates, dtype=torch.float32)
        if rates.shape != (self.num_classes,):
            raise ValueError(f"FASA head has num_classes={self.num_classes} but got {tuple(rates.shape)} rates")
        if not torch.isfinite(rates).all() or (rates < 0).any() or (rates > 1).any():
            raise ValueError(f"FASA rates must be in [0, 1], got min {float(rates.min())}, max {float(rates.max())}")
        self.fasa_rate.copy_(rates.to(self.fasa_rate.device))
        self.fasa_rate_set.fill_(True)

    def set_rates_from_counts(self, instance_counts: Sequence[float] | Tensor) -> None:
        """FASA's initial rates from the ``(C,)`` training instance counts."""
        self.set_rates(initial_rates(instance_counts, self.fasa_cfg["rate_power"], self.fasa_cfg["rate_scale"]))

    # ----------------------------------------------------------- features
    def _catch_cls_feats(self, module: nn.Module, args: tuple) -> None:
        # only training needs them; at test time nothing is kept
        self._cls_feats = args[0] if self.training else None

    def sample_virtual(self) -> tuple[Tensor, Tensor]:
        """Virtual features ``(V, D)`` and labels ``(V,)``: each class with statistics is drawn
        with probability ``fasa_rate[c]`` and gives one ``mean_c + sqrt(var_c) * N(0, I)``."""
        drawn = (torch.rand_like(self.fasa_rate) < self.fasa_rate) & (self.fasa_count > 0)
        labels = drawn.nonzero(as_tuple=True)[0]
        mean = self.fasa_mean[labels]
        feats = mean + self.fasa_var[labels].clamp(min=0).sqrt() * torch.randn_like(mean)
        return feats, labels

    def _virtual_loss(self, like: Tensor) -> dict:
        """``loss_cls_fasa``: the head's ``loss_cls`` on ``fc_cls`` of the virtual features, weight
        ``loss_weight`` each, averaged over them (0 when none is drawn, so the key is always there)."""
        feats, labels = self.sample_virtual()
        if labels.numel() == 0 or self.fasa_cfg["loss_weight"] == 0:
            return dict(loss_cls_fasa=like.sum() * 0)
        feats = feats.to(self.fc_cls.weight.dtype)
        weights = feats.new_full((len(labels),), self.fasa_cfg["loss_weight"])
        loss = self.loss_cls(self.fc_cls(feats), labels, weights, avg_factor=float(len(labels)))
        if isinstance(loss, dict):  # losses that return several terms (e.g. Seesaw)
            return {f"{k}_fasa": v for k, v in loss.items() if "loss" in k}
        return dict(loss_cls_fasa=loss)

    # -------------------------------------------------------------- loss
    def loss_and_target(self, cls_score: Tensor, bbox_pred: Tensor, rois: Tensor, sampling_results: list,
                        rcnn_train_cfg: Any, concat: bool = True, reduction_override: Optional[str] = None) -> dict:
        """mmdet's loss, plus FASA in training (statistics, ``loss_cls_fasa``) and the per-class
        loss record during :class:`FASAHook`'s adaptation pass."""
        out = super().loss_and_target(cls_score, bbox_pred, rois, sampling_results, rcnn_train_cfg,
                                      concat=concat, reduction_override=reduction_override)
        feats, self._cls_feats = self._cls_feats, None
        labels, label_weights = out["bbox_targets"][0], out["bbox_targets"][1]
        if isinstance(labels, (list, tuple)):
            labels, label_weights = torch.cat(labels), torch.cat(label_weights)
        if self.recording:
            self._record(cls_score, labels, label_weights)
        if not self.training:
            return out
        if not bool(self.fasa_rate_set):
            raise RuntimeError("FASA sampling rates are not set: add dict(type='FASAHook') to custom_hooks, give "
                               "fasa_cfg.instance_counts or fasa_cfg.rates, or load a FASA checkpoint")
        if feats is None or feats.shape[0] != labels.shape[0]:
            raise RuntimeError(f"FASA caught {None if feats is None else feats.shape[0]} classifier inputs for "
                               f"{labels.shape[0]} RoIs: call forward right before loss_and_target")
        pos = (labels >= 0) & (labels < self.num_classes)
        update_class_statistics(self.fasa_mean, self.fasa_var, self.fasa_count, feats[pos], labels[pos],
                                self.fasa_cfg["momentum"])
        if self.epoch >= self.fasa_cfg["start_epoch"]:
            out["loss_bbox"].update(self._virtual_loss(cls_score))
        return out

    @torch.no_grad()
    def _record(self, cls_score: Tensor, labels: Tensor, label_weights: Tensor) -> None:
        """Add the per-RoI classification loss of the real RoIs, per label, to the accumulators."""
        per_roi = self.loss_cls(cls_score, labels, label_weights, reduction_override="none")
        if isinstance(per_roi, dict):
            raise TypeError("FASA adaptation needs a loss_cls that returns one per-RoI tensor")
        self.fasa_loss_sum.index_add_(0, labels, per_roi.reshape(len(labels)).float())
        self.fasa_loss_n.index_add_(0, labels, torch.ones_like(self.fasa_loss_n[labels]))

    # -------------------------------------------------------- adaptation
    def start_recording(self) -> None:
        self.fasa_loss_sum.zero_()
        self.fasa_loss_n.zero_()
        self.recording = True

    def stop_recording(self) -> tuple[Tensor, Tensor]:
        """``(loss_sum, roi_count)``, each ``(C+1,)`` (background last)."""
        self.recording = False
        return self.fasa_loss_sum.clone(), self.fasa_loss_n.clone()

    def class_groups(self) -> list[Tensor]:
        """Groups of class indices for the adaptation: affinity propagation on ``-||mean_i -
        mean_j||^2`` (``group_by='affinity'``), or one class each (``'class'``, or when
        affinity propagation does not converge)."""
        C = self.num_classes
        singles = [torch.tensor([c]) for c in range(C)]
        if self.fasa_cfg["group_by"] == "class":
            return singles
        import warnings

        from sklearn.cluster import AffinityPropagation
        m = self.fasa_mean.double()
        sim = -(m.square().sum(1, keepdim=True) - 2 * m @ m.T + m.square().sum(1)[None]).cpu().numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: handled below
            labels = AffinityPropagation(affinity="precomputed", random_state=1).fit(sim).labels_
        if (labels < 0).any():
            return singles
        return [torch.from_numpy(np.flatnonzero(labels == k)) for k in np.unique(labels)]

    def adapt_sampling_rates(self, loss_sum: Tensor, roi_count: Tensor) -> None:
        """Sampling adaptation from one pass's per-label ``loss_sum`` / ``roi_count`` ``(C+1,)``:
        the loss is normalised by all RoIs; the first pass only stores it (FASA code ~l.177-213)."""
        total = roi_count.sum()
        if total <= 0:
            return
        loss = (loss_sum / total).to(self.fasa_prev_loss)
        if self.fasa_prev_loss.sum() > 0:
            groups = [g.to(loss.device) for g in self.class_groups()]
            self.fasa_rate.copy_(adapt_rates(self.fasa_rate, self.fasa_prev_loss, loss, groups,
                                             self.fasa_cfg["rate_up"], self.fasa_cfg["rate_down"]))
        self.fasa_prev_loss.copy_(loss)


@HOOKS.register_module()
class FASAHook(Hook):
    """Drives every :class:`FASAShared2FCBBoxHead` of the model.

    before_train: initial rates from the training annotation file's instance counts (in the
    dataset's label order) for heads without rates (a resumed run keeps its checkpoint's).
    before_train_epoch: tells the heads the epoch (virtual features from ``start_epoch``).
    after_train_epoch: if ``adapt``, one no-grad loss pass in eval mode over ``dataloader``
    (default: the run's ``val_dataloader`` with the training pipeline, as FASA) records the
    per-class classification loss, then each head adapts its rates.
    """

    priority = "NORMAL"

    def __init__(self, adapt: bool = True, dataloader: Optional[dict] = None) -> None:
        self.adapt = bool(adapt)
        self.dataloader_cfg = dataloader
        self._loader = None

    @staticmethod
    def heads(runner: Any) -> list[FASAShared2FCBBoxHead]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return [m for m in model.modules() if isinstance(m, FASAShared2FCBBoxHead)]

    def before_train(self, runner: Any) -> None:
        todo = [h for h in self.heads(runner) if not bool(h.fasa_rate_set)]
        if not todo:
            return
        from iif import frequencies_from_annotations

        from .hooks import training_annotation_file
        ann_file, cat_ids = training_annotation_file(runner.train_dataloader.dataset)
        freqs = frequencies_from_annotations(ann_file)
        if cat_ids is not None:
            freqs = freqs.in_order(cat_ids)
        for head in todo:
            head.set_rates_from_counts(freqs.instance_counts)
        r = todo[0].fasa_rate
        print_log(f"FASA initial sampling rates from {ann_file}: sum {float(r.sum()):.3f}, "
                  f"max {float(r.max()):.4f}", logger="current", level=logging.INFO)

    def before_train_epoch(self, runner: Any) -> None:
        for head in self.heads(runner):
            head.epoch = runner.epoch

    def _adapt_loader(self, runner: Any) -> Any:
        if self._loader is None:
            cfg = self.dataloader_cfg if self.dataloader_cfg is not None else self.default_dataloader_cfg(runner.cfg)
            self._loader = runner.build_dataloader(copy.deepcopy(cfg), seed=runner.seed)
        return self._loader

    @staticmethod
    def default_dataloader_cfg(cfg: Any) -> dict:
        """The run's ``val_dataloader`` with the *training* pipeline (FASA's ``train.py`` ~l.167-170):
        mmdet 3's test pipelines load the boxes after ``Resize``, unscaled, which suits evaluation
        but not a loss."""
        if cfg.get("val_dataloader") is None:
            raise ValueError("FASAHook's adaptation pass needs a val_dataloader in the config, or "
                             "FASAHook(dataloader=...), or FASAHook(adapt=False)")
        loader = copy.deepcopy(cfg.val_dataloader)
        train_ds = cfg.train_dataloader.dataset
        while "pipeline" not in train_ds and "dataset" in train_ds:  # through RFS / repeat wrappers
            train_ds = train_ds.dataset
        loader.dataset.pipeline = copy.deepcopy(train_ds.pipeline)
        return loader

    def after_train_epoch(self, runner: Any) -> None:
        heads = self.heads(runner)
        if not (self.adapt and heads):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        was_training = model.training
        model.eval()  # like FASA's val workflow: no statistics updates, no virtual features
        for head in heads:
            head.start_recording()
        try:
            with torch.no_grad():
                for data in self._adapt_loader(runner):
                    data = model.data_preprocessor(data, True)
                    model._run_forward(data, mode="loss")
        finally:
            results = [head.stop_recording() for head in heads]
            model.train(was_training)
        for head, (loss_sum, roi_count) in zip(heads, results):
            if get_world_size() > 1:
                all_reduce(loss_sum, op="sum")
                all_reduce(roi_count, op="sum")
            head.adapt_sampling_rates(loss_sum, roi_count)
            if get_world_size() > 1:
                # class means differ per process, so the groups may too: rank 0's rates for all
                broadcast(head.fasa_rate, src=0)
        r = heads[0].fasa_rate
        print_log(f"FASA sampling rates after epoch {runner.epoch + 1}: sum {float(r.sum()):.3f}, "
                  f"max {float(r.max()):.4f}", logger="current", level=logging.INFO)
