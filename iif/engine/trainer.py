"""The classification trainer: end-to-end, decoupled and post-process IIF (paper Fig. 3).

One :class:`Trainer` runs one stage from a validated config. Each epoch ends with an
atomic checkpoint (``last.pth``) holding everything needed to continue exactly:
model, optimizer, LR schedule, AMP scaler and the epoch's log. Every epoch reseeds the
RNGs from ``(seed, epoch, rank)``, so data order, augmentation and mixup of epoch ``e``
do not depend on whether the run was interrupted before it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import time
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .builders import (
    apply_strategy,
    build_classifier,
    build_criterion,
    build_datasets,
    build_loaders,
    build_tensor_loaders,
    build_optimizer,
)
from .checkpoint import (
    CheckpointError,
    _json_safe,
    atomic_write_json,
    atomic_write_text,
    load_checkpoint,
    non_finite_entries,
    save_checkpoint,
)
from .config import with_later_defaults
from .distributed import DistInfo, barrier, cleanup, init_distributed
from .evaluate import collect_logits, format_table
from .schedule import lr_factor
from .task import build_task, resolve_task
from .workdir import WorkDir, prepare_work_dir

__all__ = ["Trainer", "method_name", "posthoc_wanted", "seed_everything", "resolve_device", "check_stage1", "check_finite_logits"]

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' but no CUDA device is available; use device='cpu' or 'auto'")
        return torch.device("cuda", local_rank)
    return torch.device(name)


#: Results-table names of the multi-label losses (``{variant}`` / ``{gamma}`` filled from the loss config).
_MULTILABEL_NAMES = {"bce": "BCE", "sigmoid_focal": "focal (sigmoid) gamma={gamma:g}", "asl": "ASL", "bal": "BAL",
                     "db_focal": "DB-Focal", "iif_bce": "IIF-sigmoid {variant} (end-to-end)"}


def _multilabel_name(cfg: dict) -> str:
    """``BCE``, ``BAL (occurrence sampler)``, ``IIF-sigmoid smooth (end-to-end)``, ``decoupled IIF-sigmoid smooth``."""
    s, loss = cfg["strategy"], cfg["loss"]
    variant = loss.get("variant", "smooth")
    if s["type"] == "decoupled":
        if s["method"] == "iif":
            return (f"decoupled IIF-sigmoid {variant}" if loss["type"] == "iif_bce"
                    else f"decoupled classifier ({loss['type']})")
        return {"crt": "decoupled cRT", "lws": "decoupled LWS"}[s["method"]]
    name = _MULTILABEL_NAMES.get(loss["type"], loss["type"]).format(variant=variant, gamma=loss.get("gamma", 2.0))
    sampler = cfg["data"].get("sampler")
    return f"{name} ({sampler} sampler)" if sampler and sampler != "random" else name


def method_name(cfg: dict) -> str:
    """The results-table name of a run: ``softmax``, ``IIF smooth (end-to-end)``, ``decoupled cRT`` ..."""
    if resolve_task(cfg) == "multi_label":
        return _multilabel_name(cfg)
    s, loss = cfg["strategy"], cfg["loss"]
    variant = loss.get("variant", "smooth")
    if s["type"] == "decoupled":
        if s["method"] == "iif":
            return f"decoupled IIF {variant}" if loss["type"] == "iif" else f"decoupled classifier ({loss['type']})"
        return {"crt": "decoupled cRT", "lws": "decoupled LWS"}[s["method"]]
    names = {
        "ce": "softmax",
        "iif": f"IIF {variant} (end-to-end)",
        "iif_csl": f"IIF_CSL {variant} (end-to-end)",
        "balanced_softmax": "Balanced Softmax",
        "logit_adjusted": f"logit-adjusted loss tau={loss.get('tau', 1.0):g}",
        "ldam": "LDAM-DRW" if loss.get("drw_epoch") is not None else "LDAM",
        "focal": f"focal gamma={loss.get('gamma', 2.0):g}",
    }
    if loss["type"] == "reslt":
        return _reslt_name(cfg)
    name = names.get(loss["type"], loss["type"])
    return f"{name} (ResLT model)" if cfg["model"].get("reslt", {}).get("enabled") else name


def _reslt_name(cfg: dict) -> str:
    """``ResLT beta=0.998``, ``ResLT beta=0.5 + IIF smooth (both)``, ``... gamma=0.7``."""
    loss, r = cfg["loss"], cfg["model"]["reslt"]
    name = f"ResLT beta={loss.get('beta')}"
    if loss.get("iif_variant"):
        name += f" + IIF {loss['iif_variant']} ({loss.get('iif_on', 'both')})"
    return name + (f" gamma={r['gamma']:g}" if r["gamma"] else "")


def posthoc_wanted(cfg: dict) -> bool:
    """Whether a run's table gets the post-hoc rows (post-process IIF, logit adjustment):
    ``evaluate.posthoc`` ``"always"`` / ``"never"``, or ``"auto"``: only a plain softmax model
    (on top of a long-tail loss or a retrained classifier they would adjust twice); on a
    multi-label task, a plain BCE model."""
    mode = cfg["evaluate"].get("posthoc", "auto")
    if mode != "auto":
        return mode == "always"
    return cfg["strategy"]["type"] != "decoupled" and cfg["loss"]["type"] == build_task(resolve_task(cfg)).plain_loss


# Keys that may change between a run and its resumption without changing the result.
_RESUME_FREE = {"work_dir", "train.log_interval", "train.eval_interval", "train.tensorboard", "data.num_workers",
                "data.test_batch_size", "evaluate"}


def _config_changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    if not prefix:
        # A run stored before a key joined the schema ran with that key's LATER_DEFAULTS value.
        old = with_later_defaults(old)
    out = []
    for key in sorted(set(old) | set(new)):
        path = prefix + key
        if key.startswith("_") or path in _RESUME_FREE:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_changes(a, b, path + ".")
        elif a != b:
            out.append(f"{path}: {a!r} -> {b!r}")
    return out


#: What a checkpoint needs to continue a run (--resume).
_RESUME_KEYS = ("model", "optimizer", "scheduler", "scaler", "epoch", "history")


def _short(counts: list, limit: int = 12) -> str:
    """``[20, 10, 5]``, or the first ``limit`` of a long list and how many there are."""
    return str(counts) if len(counts) <= limit else f"{str(counts[:limit])[:-1]}, ...] ({len(counts)} classes)"


#: Config keys a decoupled stage must share with the stage-1 checkpoint it loads.
_STAGE1_KEYS = ("data.name", "data.kwargs", "model.name", "model.head", "model.in_chans", "model.kwargs")


def _get(cfg: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = cfg.get(part, {}) if isinstance(cfg, dict) else {}
    return cfg


def check_stage1(ckpt: dict, cfg: dict, counts: np.ndarray, path: str) -> None:
    """Refuse a stage-1 checkpoint made for another dataset, training subset or model.

    A decoupled stage retrains the classifier on top of stage 1's features: a checkpoint of
    another dataset or head type would load (the shapes can agree) and train without a word.
    """
    old = ckpt.get("config")
    problems = []
    if isinstance(old, dict):
        new = _json_safe({k: v for k, v in cfg.items() if not k.startswith("_")})
        for key in _STAGE1_KEYS:
            a, b = _get(old, key), _get(new, key)
            if a != b and not (key.endswith("kwargs") and not a and not b):
                problems.append(f"{key}: stage 1 {a!r}, this config {b!r}")
    saved = ckpt.get("class_counts")
    if saved is not None and list(np.asarray(saved).tolist()) != counts.tolist():
        problems.append(f"training class counts: stage 1 {list(saved)[:6]}..., this config {counts.tolist()[:6]}...")
    if problems:
        raise ValueError(f"strategy.load_from={path!r} does not match this config ({'; '.join(problems)}); "
                         f"point it at the stage-1 run of the same dataset and model")


def check_finite_logits(logits: torch.Tensor, where: str) -> None:
    """Refuse to score logits with NaN/inf (a diverged model would otherwise get chance accuracy)."""
    bad = int((~torch.isfinite(logits)).sum())
    if bad:
        raise FloatingPointError(f"{bad} of {logits.numel()} evaluation logits are NaN or inf ({where}): "
                                 f"the model diverged; nothing was scored")


class Trainer:
    """Runs one stage described by ``cfg`` (a dict from :func:`iif.engine.load_config`)."""

    def __init__(self, cfg: dict, resume: bool = False, overwrite: bool = False) -> None:
        """``resume``: continue the run in ``cfg["work_dir"]``; ``overwrite``: replace it. With
        neither, a work dir that already holds a run is refused (:mod:`iif.engine.workdir`)."""
        if resume and overwrite:
            raise ValueError("resume and overwrite exclude each other: continue the run or replace it")
        self.cfg = cfg
        threads = cfg["train"].get("threads")
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError(f"train.threads must be a positive integer or None, got {threads!r}")
            torch.set_num_threads(threads)
        device = resolve_device(cfg["device"])
        self.dist: DistInfo = init_distributed(device.type)
        self.device = resolve_device(cfg["device"], self.dist.local_rank)
        cfg["_device"] = self.device
        self.work_dir = cfg["work_dir"]
        self._claim: Optional[WorkDir] = None
        if self.dist.is_main:
            # Before any data is read: an unwritable or full work dir, one holding another run, or
            # one another process is running in (its lock), is an error now rather than after the
            # first epoch. The lock is held until fit() ends (or the process dies).
            self._claim = prepare_work_dir(self.work_dir, "resume" if resume else "overwrite" if overwrite else "new")
        barrier(self.dist)
        try:
            self._setup(cfg, resume)
        except BaseException:
            self.close()  # a run that failed to start leaves the work dir to the next one
            raise

    def _setup(self, cfg: dict, resume: bool) -> None:
        """Everything after the work dir is claimed: data, model and optimizer; then the old run's
        replacement (``overwrite``: only now, so a failure above leaves it intact) or the
        checkpoint's state (``resume``)."""
        seed_everything(cfg["seed"])

        self.train_set, self.eval_set = build_datasets(cfg)
        # The task (single- or multi-label) decides targets, loss family, metrics and mixup.
        self.task = build_task(resolve_task(cfg))
        if bool(getattr(self.train_set, "multilabel", False)) != self.task.multilabel:
            raise ValueError(f"task={self.task.name!r} but the training set of {cfg['data']['name']!r} is "
                             f"{'multi' if self.task.multilabel is False else 'single'}-label")
        self.counts = np.asarray(self.train_set.class_counts(), dtype=np.int64)
        self.num_classes = len(self.counts)
        self.shots = self.task.thresholds(self.train_set)
        # K of IIF and the multi-label losses: training images (sum(counts) counts an image per label).
        self.num_images: Optional[int] = int(self.train_set.num_images) if self.task.multilabel else None
        self.train_loader, self.eval_loader, self.sampler = build_loaders(
            cfg, self.train_set, self.eval_set, self.dist.rank, self.dist.world_size)
        self.loader = "dataloader"
        if cfg["data"]["loader"] != "dataloader":
            fast, why = build_tensor_loaders(cfg, self.train_set, self.eval_set, self.sampler, self.device,
                                             self.dist.world_size)
            if fast is not None:
                self.train_loader, self.eval_loader = fast
                self.loader = "tensor"
                logger.info("data.loader=%s: in-memory images augmented a batch at a time on %s (%s)",
                            cfg["data"]["loader"], self.device, self.train_loader.transform)
            elif cfg["data"]["loader"] == "tensor":
                raise ValueError(f"data.loader='tensor' cannot be used here: {why}; use data.loader='auto' or "
                                 f"'dataloader'")
            else:
                logger.info("data.loader=auto: per-image DataLoader (%s)", why)

        stage1 = None
        if cfg["strategy"]["load_from"]:
            ckpt1 = load_checkpoint(cfg["strategy"]["load_from"])
            check_stage1(ckpt1, cfg, self.counts, cfg["strategy"]["load_from"])
            stage1 = ckpt1["model"]
        model = apply_strategy(build_classifier(cfg, self.num_classes, self.counts, self.shots), cfg, stage1)
        self.channels_last = cfg["train"]["channels_last"]
        model = model.to(self.device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)
        self.model = model  # the unwrapped module: what checkpoints hold
        self.criterion = build_criterion(cfg, self.counts, self.shots, self.num_images, model=model).to(self.device)
        # A loss over a ResLT model's branch logits (3, N, C) asks the model for them.
        self.branch_loss = bool(getattr(self.criterion, "takes_branch_logits", False))
        if self.branch_loss and not getattr(model, "num_branches", 0):
            raise ValueError(f"loss {cfg['loss']['type']!r} needs a model with branches (model.reslt.enabled=True)")
        # What trains and what evaluates: the model, or (strategy.feature_cache) its head on the
        # frozen backbone's features, computed once (iif.engine.feature_cache).
        net: nn.Module = model
        self.eval_model: nn.Module = model
        if cfg["strategy"]["feature_cache"]:
            from .feature_cache import cached_stage

            self.train_loader, self.eval_loader, net = cached_stage(
                cfg, model, self.train_set, self.eval_set, self.sampler, self.train_loader, self.eval_loader,
                self.device, self.dist.world_size)
            self.eval_model, self.channels_last, self.loader = net, False, "feature_cache"
        self.epochs = cfg["schedule"]["epochs"]
        self.max_iters = cfg["train"]["max_iters"]
        self.iters_per_epoch = min(len(self.train_loader), self.max_iters or len(self.train_loader))
        self.optimizer = build_optimizer(cfg, model) if cfg["strategy"]["type"] != "post-process" else None
        sch = cfg["schedule"]
        self.scheduler = None
        if self.optimizer is not None:
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer,
                lambda it: lr_factor(it, self.iters_per_epoch, self.epochs, sch["type"], sch["warmup_epochs"],
                                     sch["milestones"], sch["gamma"], sch.get("warmup_start_factor"),
                                     sch.get("warmup_max_iters")))
        # Per-iteration host reads (loss finiteness) are free on CPU; on accelerators they are
        # deferred to the log points (see train_one_epoch).
        self.sync_each_iteration = self.device.type == "cpu"
        # AMP: bf16 where supported (no scaler needed), fp16 + GradScaler on older GPUs.
        self.amp = cfg["train"]["amp"]
        self.amp_dtype = torch.bfloat16
        if self.amp and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            self.amp_dtype = torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp and self.amp_dtype == torch.float16)
        self.mixup = None
        if cfg["mixup"]["alpha"] > 0:
            self.mixup = self.task.build_mixup(cfg["mixup"]["alpha"], self.num_classes)
            if self.loader == "feature_cache":  # strategy.feature_cache="approximate": mixup of features
                from .feature_cache import FeatureMixup

                self.mixup = FeatureMixup(self.mixup)

        self.net: nn.Module = net
        if cfg["train"]["compile"]:
            self.net = torch.compile(self.net)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # Frozen backbones (decoupled) leave parameters without gradients.
            self.net = nn.parallel.DistributedDataParallel(
                self.net, device_ids=ids, find_unused_parameters=cfg["strategy"]["type"] == "decoupled")

        if self._claim is not None:
            self._claim.replace_old_run()  # --overwrite: data and model loaded, the old run may go
        self.tb = None
        if cfg["train"]["tensorboard"] and self.dist.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ValueError("train.tensorboard=True needs the tensorboard package "
                                 "(pip install tensorboard), or set train.tensorboard=False") from exc
            self.tb = SummaryWriter(os.path.join(self.work_dir, "tensorboard"))
        self.start_epoch = 0
        self.history: list[dict] = []
        if resume:
            self._resume()

    def close(self) -> None:
        """Release the work dir's lock (fit() does; also released when the process ends)."""
        claim, self._claim = getattr(self, "_claim", None), None
        if claim is not None:
            claim.release()

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.work_dir, "last.pth")

    def _save(self, epoch: int) -> None:
        if not self.dist.is_main:
            return
        bad = non_finite_entries(self.model.state_dict())
        if bad:
            kept = (f"the last good checkpoint is {self.checkpoint_path} (epoch {epoch})"
                    if epoch > 0 and os.path.isfile(self.checkpoint_path) else "no checkpoint was written")
            raise FloatingPointError(
                f"the model diverged in epoch {epoch + 1}: non-finite values in {', '.join(bad)}; not saved, "
                f"{kept}. Lower optimizer.lr or check the loss settings")
        state = dict(
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict(),
            epoch=epoch,
            history=self.history,
            class_counts=self.counts,
            config={k: v for k, v in self.cfg.items() if not k.startswith("_")},
        )
        if self.num_images is not None:
            state["num_images"] = self.num_images  # a plain int: safe loading accepts it
        save_checkpoint(state, self.checkpoint_path)
        atomic_write_text("".join(json.dumps(h) + "\n" for h in self.history), os.path.join(self.work_dir, "log.jsonl"))

    def _resume(self) -> None:
        if not os.path.isfile(self.checkpoint_path):
            logger.warning("--resume: no checkpoint at %s; starting from scratch", self.checkpoint_path)
            return
        ckpt = load_checkpoint(self.checkpoint_path, map_location=self.device)
        missing = [k for k in _RESUME_KEYS if k not in ckpt]
        if missing:
            raise CheckpointError(f"--resume: {self.checkpoint_path} has no {', '.join(map(repr, missing))} "
                                  f"entr{'y' if len(missing) == 1 else 'ies'}, so it cannot continue a run "
                                  f"(a model-only checkpoint?); use --overwrite to start over, or another --work-dir")
        changed = _config_changes(ckpt.get("config", {}), _json_safe(self.cfg))
        if changed:
            raise ValueError(f"--resume: {self.checkpoint_path} was written with a different config "
                             f"({'; '.join(changed[:8])}); use another --work-dir, or --overwrite to start over")
        saved = ckpt.get("class_counts")
        if saved is not None and np.asarray(saved).tolist() != self.counts.tolist():
            # The training images changed: the same config no longer means the same run.
            raise ValueError(f"--resume: the training set changed since {self.checkpoint_path} was written: class "
                             f"counts {_short(np.asarray(saved).tolist())} in the checkpoint, "
                             f"{_short(self.counts.tolist())} now; use --overwrite to start over, "
                             f"or another --work-dir")
        self.model.load_state_dict(ckpt["model"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.history = list(ckpt["history"])
        self.start_epoch = int(ckpt["epoch"]) + 1
        logger.info("resumed from %s: epoch %d of %d done", self.checkpoint_path, self.start_epoch, self.epochs)

    # ---------------------------------------------------------------------- training
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp else contextlib.nullcontext()

    def train_one_epoch(self, epoch: int) -> dict:
        seed_everything(self.cfg["seed"] * 100_003 + epoch * 1009 + self.dist.rank)
        self.sampler.set_epoch(epoch)
        if hasattr(self.criterion, "set_epoch"):
            self.criterion.set_epoch(epoch)  # LDAM's deferred re-weighting
        self.net.train()
        # Running sums stay on the device: reading a CUDA scalar each iteration (loss.item())
        # would make the host wait for the step and stall the launch queue. On CPU the
        # finiteness check costs nothing and runs every iteration; elsewhere the first
        # non-finite loss is recorded on the device and reported at the next log point.
        check_each_iteration = self.sync_each_iteration
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct_sum = torch.zeros((), dtype=torch.int64, device=self.device)
        bad_iter = torch.full((), -1, dtype=torch.int64, device=self.device)
        bad_loss = torch.zeros((), dtype=torch.float32, device=self.device)
        seen, t0 = 0, time.perf_counter()
        log_interval = self.cfg["train"]["log_interval"]
        bar = tqdm(self.train_loader, total=self.iters_per_epoch, desc=f"epoch {epoch + 1}/{self.epochs}",
                   leave=False, disable=None if self.dist.is_main else True)
        for it, (images, target) in enumerate(bar):
            if it >= self.iters_per_epoch:
                break
            images = images.to(self.device, non_blocking=True)
            target = target.to(self.device, non_blocking=True)
            if self.mixup is not None:
                images, target = self.mixup(images, target)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                if self.branch_loss:
                    branch_logits = self.net(images, return_branches=True)  # (3, N, C); the model predicts their sum
                    logits = branch_logits.sum(0)
                    loss = self.criterion(branch_logits.float(), target)
                else:
                    logits = self.net(images)
                    loss = self.criterion(logits.float(), target)
            if check_each_iteration:
                if not torch.isfinite(loss):
                    self._raise_non_finite(float(loss.detach()), epoch, it)
            else:
                first = ~torch.isfinite(loss.detach()) & (bad_iter < 0)
                bad_iter = torch.where(first, it, bad_iter)
                bad_loss = torch.where(first, loss.detach().float(), bad_loss)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            n = images.shape[0]
            loss_sum += loss.detach().double() * n
            seen += n
            if target.dim() == 1:
                correct_sum += (logits.detach().argmax(1) == target).sum()
            if it % log_interval == 0:
                if not check_each_iteration and int(bad_iter) >= 0:
                    self._raise_non_finite(float(bad_loss), epoch, int(bad_iter))
                bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{self.optimizer.param_groups[0]['lr']:.4g}")
        if not check_each_iteration and int(bad_iter) >= 0:
            self._raise_non_finite(float(bad_loss), epoch, int(bad_iter))
        total_loss, correct = float(loss_sum), int(correct_sum)  # waits for the last step
        elapsed = time.perf_counter() - t0
        return dict(epoch=epoch + 1, lr=self.optimizer.param_groups[0]["lr"], train_loss=total_loss / max(seen, 1),
                    train_acc=(100.0 * correct / max(seen, 1) if self.mixup is None and not self.task.multilabel
                               else None),
                    images_per_s=seen * self.dist.world_size / max(elapsed, 1e-9), time_s=elapsed)

    @staticmethod
    def _raise_non_finite(value: float, epoch: int, it: int) -> None:
        raise FloatingPointError(f"loss is {value} at epoch {epoch + 1}, iteration {it}: "
                                 f"lower optimizer.lr or check the loss settings")

    def fit(self) -> dict:
        """Train the remaining epochs (checkpointing each), then evaluate. Returns the results dict."""
        try:
            if self.cfg["strategy"]["type"] != "post-process":
                for epoch in range(self.start_epoch, self.epochs):
                    record = self.train_one_epoch(epoch)
                    interval = self.cfg["train"]["eval_interval"]
                    if interval and (epoch + 1) % interval == 0 and epoch + 1 < self.epochs and self.dist.is_main:
                        logits, labels = self._logits()
                        record["eval"] = self.task.score("current", logits, labels, self.counts, self.shots)
                    self.history.append(record)
                    if self.tb is not None:
                        for key in ("train_loss", "train_acc", "lr", "images_per_s"):
                            if record.get(key) is not None:
                                self.tb.add_scalar(key, record[key], epoch + 1)
                        if "eval" in record and record["eval"][self.task.primary] is not None:
                            self.tb.add_scalar(f"eval_{self.task.primary}", record["eval"][self.task.primary],
                                               epoch + 1)
                    if self.dist.is_main:
                        primary = self.task.primary
                        shown = (record["eval"][primary] if "eval" in record else None)
                        logger.info("epoch %d/%d  loss %.4f  lr %.4g  %.0f img/s%s", epoch + 1, self.epochs,
                                    record["train_loss"], record["lr"], record["images_per_s"],
                                    f"  eval {'top-1' if primary == 'top1' else primary} {shown:.1f}"
                                    if shown is not None else "")
                    self._save(epoch)
                    barrier(self.dist)
            results = self.evaluate() if self.dist.is_main else {}
            barrier(self.dist)
            return results
        finally:
            if self.tb is not None:
                self.tb.close()
            cleanup(self.dist)
            self.close()

    # -------------------------------------------------------------------- evaluation
    def _logits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluation-set scores and labels. A model trained with IIF-CE predicts with ``w * z``
        (paper Eq. 4), so the loss's ``adjust`` is applied; other losses predict with ``z``."""
        logits, labels = collect_logits(self.eval_model, self.eval_loader, self.device, amp=self.amp,
                                        channels_last=self.channels_last)
        adjust = getattr(self.criterion, "adjust", None)
        if adjust is not None:
            with torch.no_grad():
                logits = adjust(logits.to(self.device)).float().cpu()
        return logits, labels

    def evaluate(self) -> dict:
        """Score the model as trained plus every post-hoc adjustment; writes ``results.json``."""
        logits, labels = self._logits()
        check_finite_logits(logits, self.work_dir)
        ev = self.cfg["evaluate"]
        rows = [self.task.score(method_name(self.cfg), logits, labels, self.counts, self.shots)]
        # Post-hoc adjustments are for a plain softmax (BCE) model (on top of a long-tail loss they
        # would adjust twice), unless evaluate.posthoc asks otherwise.
        if posthoc_wanted(self.cfg):
            rows += self.task.posthoc_rows(logits, labels, self.counts, self.shots, ev["variants"],
                                           ev["logit_adjust_taus"], num_images=self.num_images)
        results = dict(
            dataset=self.cfg["data"]["name"], split=self.cfg["data"]["eval_split"],
            strategy=self.cfg["strategy"]["type"], config=self.cfg.get("_config_path"),
            train_counts=self.counts.tolist(), shot_thresholds=list(self.shots), rows=rows,
            epochs=self.epochs,
        )
        if self.task.multilabel:
            results.update(task=self.task.name, num_images=self.num_images)
        atomic_write_json(results, os.path.join(self.work_dir, "results.json"))
        logger.info("\n%s", format_table(rows, f"{self.cfg['data']['name']} ({self.cfg['data']['eval_split']} split)",
                                         self.task.columns))
        return results
