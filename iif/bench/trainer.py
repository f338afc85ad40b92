"""Group 2, trainer overhead: images/s of :meth:`iif.engine.Trainer.train_one_epoch` against a
bare PyTorch loop, then the same trainer with other losses, the real data pipeline and the
``channels_last`` / AMP / ``torch.compile`` options.

"Same synthetic in-memory batches": the batches are drawn once from the trainer's own loader
(fake CIFAR-shaped uint8 images through the CIFAR transforms) and kept as tensors; both loops
iterate that list, so the comparison sees only the loop (bookkeeping, LR schedule, logging,
checks), not data loading. One timed "epoch" is ``train_iters`` batches; the two loops
alternate epoch by epoch.
"""
from __future__ import annotations

import copy
import logging
import os
import tempfile
import time
from itertools import islice
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

from .core import Pair, Preset, Row, Skipped, cpuinfo_field

__all__ = ["run", "bench_config"]

logger = logging.getLogger(__name__)

TARGET = (">=", 0.95)


def bench_config(preset: Preset, device: torch.device, work_dir: str, **overrides: Any) -> dict:
    """A validated config: SE-ResNet-32 (cosine head, as in the paper's CIFAR recipe) at 32x32 on
    fake CIFAR-10-LT images, without mixup so that the bare loop does the same work.

    ``overrides`` are ``{"section.key": value}`` pairs, like ``--cfg-options``.
    """
    from ..engine import validate_config

    cfg: dict[str, Any] = dict(
        seed=0, device=device.type, work_dir=work_dir,
        data=dict(name="cifar10_lt", fake=True, fake_size=preset.train_batch * preset.train_iters,
                  batch_size=preset.train_batch, test_batch_size=preset.train_batch, num_workers=0,
                  train_transform=dict(crop_padding=4, hflip=True)),
        model=dict(name="se_resnet32", head="cosine", scale=16.0, in_chans=3),
        loss=dict(type="ce"),
        optimizer=dict(lr=0.1, momentum=0.9, weight_decay=1e-4),
        schedule=dict(epochs=10_000, type="multistep", milestones=[9_000]),
        train=dict(max_iters=preset.train_iters),
    )
    for key, value in overrides.items():
        node = cfg
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return validate_config(cfg)


def _quiet_trainer(cfg: dict):
    from ..engine import Trainer

    return Trainer(cfg)


class _EpochRunner:
    """Calls ``trainer.train_one_epoch`` with an increasing epoch; returns images/s."""

    def __init__(self, trainer: Any, batches: Optional[list] = None) -> None:
        self.trainer = trainer
        if batches is not None:
            trainer.train_loader = batches
            trainer.iters_per_epoch = len(batches)
        self.epoch = 0

    def __call__(self) -> float:
        rec = self.trainer.train_one_epoch(self.epoch)
        self.epoch += 1
        return rec["images_per_s"]


def _bare_loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: list,
               device: torch.device) -> Callable[[], float]:
    """The reference: forward, ``F.cross_entropy``, backward, step; nothing else. Returns images/s."""

    def epoch() -> float:
        model.train()
        t0 = time.perf_counter()
        n = 0
        for images, target in batches:
            images = images.to(device, non_blocking=True)
            target = target.to(device, non_blocking=True)
            loss = F.cross_entropy(model(images), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n += images.shape[0]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return n / (time.perf_counter() - t0)

    return epoch


def _throughput_pair(base: Callable[[], float], ours: Callable[[], float], repeats: int, warmup: int) -> Pair:
    """images/s of each side, alternating (A B, B A, ...) after ``warmup`` epochs of each."""
    for _ in range(warmup):
        base()
        ours()
    pair = Pair()
    for r in range(repeats):
        if r % 2 == 0:
            pair.base.append(base())
            pair.ours.append(ours())
        else:
            pair.ours.append(ours())
            pair.base.append(base())
    return pair


def _row(name: str, baseline: str, ours: str, pair: Pair, target: Optional[tuple[str, float]] = None,
         note: str = "") -> Row:
    return Row(group="2 trainer", name=name, baseline=baseline, ours=ours, base_value=pair.base_median,
               ours_value=pair.ours_median, unit="img/s", ratio=pair.ratio(), spread=pair.spread(), target=target,
               note=note)


def _batches(trainer: Any, n: int) -> list:
    """``n`` batches from the trainer's loader (transforms applied), kept in memory."""
    return [(x.clone(), y.clone()) for x, y in islice(iter(trainer.train_loader), n)]


def run(preset: Preset, device: torch.device, compile_model: bool,
        skipped: list[tuple[str, str]]) -> list[Row]:
    """Trainer vs bare loop, then loss / data pipeline / option variants of the trainer."""
    from ..engine.builders import build_optimizer

    rows: list[Row] = []
    reps, warm = preset.train_repeats, preset.warmup
    with tempfile.TemporaryDirectory(prefix="iif-bench-") as tmp:
        cfg = bench_config(preset, device, os.path.join(tmp, "ce"))
        trainer = _quiet_trainer(cfg)
        batches = _batches(trainer, preset.train_iters)
        bare_model = copy.deepcopy(trainer.model)
        bare = _bare_loop(bare_model, build_optimizer(cfg, bare_model), batches, device)
        ours = _EpochRunner(trainer, batches)
        pair = _throughput_pair(bare, ours, reps, warm)
        rows.append(_row(f"se_resnet32 32x32 batch {preset.train_batch}, in-memory batches", "bare loop",
                         "Trainer", pair, TARGET))

        # IIF-CE in a real training step: the loss is a multiply on (batch, classes) logits.
        cfg_iif = bench_config(preset, device, os.path.join(tmp, "iif"), loss=dict(type="iif", variant="smooth"))
        pair = _throughput_pair(ours, _EpochRunner(_quiet_trainer(cfg_iif), batches), reps, warm)
        rows.append(_row("training step with IIF-CE instead of CE", "Trainer (ce)", "Trainer (iif)", pair,
                         TARGET))

        # The real data pipeline: Fashion-MNIST-LT from its IDX files (decoded at load),
        # random crop + flip per image in the DataLoader, vs the same trainer on in-memory batches.
        try:
            rows += _real_pipeline(preset, device, tmp)
        except Skipped as exc:
            skipped.append(("2 trainer / real data pipeline", str(exc)))

        options = [("channels_last", {"train.channels_last": True}),
                   ("AMP (bf16 autocast)", {"train.amp": True})]
        if compile_model:
            options.append(("torch.compile", {"train.compile": True}))
        else:
            skipped.append(("2 trainer / torch.compile",
                            "compiling SE-ResNet-32 takes minutes on a small CPU; run with --compile to include it"))
        for label, opts in options:
            cfg_opt = bench_config(preset, device, os.path.join(tmp, label.split()[0]), **opts)
            t_opt = _quiet_trainer(cfg_opt)
            t_opt.model.load_state_dict(trainer.model.state_dict())
            runner = _EpochRunner(t_opt, batches)
            # torch.compile compiles on the first epoch: an extra warm-up epoch keeps that out.
            pair = _throughput_pair(ours, runner, reps, warm + (1 if "compile" in label else 0))
            rows.append(_row(f"Trainer with {label}", "Trainer (default)", f"Trainer ({label})", pair,
                             note=_option_note(label, device)))
    return rows


def _option_note(label: str, device: torch.device) -> str:
    if "compile" in label:
        return "the compiling epoch is an extra warm-up, not timed"
    if "AMP" in label and device.type == "cpu":
        bf16 = sorted(set((cpuinfo_field("flags") or "").split()) & {"avx512_bf16", "amx_bf16"})
        return (f"bf16 autocast on a CPU with {', '.join(bf16)}" if bf16 else
                "bf16 autocast on a CPU without native bf16 (avx512_bf16 / amx_bf16): expect a slowdown")
    return ""


def _real_pipeline(preset: Preset, device: torch.device, tmp: str) -> list[Row]:
    from ..data.fetch import default_data_root

    root = os.path.join(default_data_root(), "fashion_mnist")
    if not os.path.isdir(root):
        raise Skipped(f"Fashion-MNIST is not fetched ({root} missing; `python -m iif.data.fetch` gets it)")
    overrides = {
        "data.name": "fashion_mnist_lt", "data.fake": False, "data.root": None,
        "data.kwargs": {"imbalance_factor": 100}, "data.train_transform": {"crop_padding": 2, "hflip": True},
        "model.in_chans": 1, "data.loader": "dataloader",  # the per-image path (group 8 times the batched one)
    }
    cfg = bench_config(preset, device, os.path.join(tmp, "fmnist"), **overrides)
    try:
        real = _quiet_trainer(cfg)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise Skipped(f"Fashion-MNIST-LT could not be loaded: {exc}") from exc
    loader = real.train_loader
    batches = _batches(real, preset.train_iters)
    mem = _quiet_trainer(bench_config(preset, device, os.path.join(tmp, "fmnist-mem"), **overrides))
    mem.model.load_state_dict(real.model.state_dict())
    mem_runner = _EpochRunner(mem, batches)
    pair = _throughput_pair(mem_runner, _EpochRunner(real), preset.train_repeats, preset.warmup)
    rows = [_row("fashion_mnist_lt 1x28x28: real loader (crop+flip) vs in-memory", "Trainer, in-memory",
                 "Trainer, real loader", pair, note="images are decoded from the IDX files once, at dataset build")]

    # The loader alone, against the training loop on in-memory batches: how far data loading is
    # from being the bottleneck (ratio > 1: the loader is that many times faster than training).
    def load_only() -> float:
        t0 = time.perf_counter()
        n = sum(x.shape[0] for x, _ in islice(iter(loader), preset.train_iters))
        return n / (time.perf_counter() - t0)

    pair = _throughput_pair(mem_runner, load_only, preset.train_repeats, preset.warmup)
    rows.append(_row("data loading alone vs training on in-memory batches", "Trainer, in-memory",
                     "DataLoader only", pair))
    return rows
