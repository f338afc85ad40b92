"""Group 8, the CIFAR-10-LT paper recipe end to end: today's path against the fast path.

Stage 1 of ``configs/cls/cifar10_lt_jpeg/softmax.py`` (SE-ResNet-32, squashed cosine head, batch
64, crop + flip + AutoAugment (CIFAR) + Cutout 16, mixup 0.2, SGD) on fake 32x32 images of the
same shape, timed through :meth:`iif.engine.Trainer.train_one_epoch` (data, mixup, forward,
backward, optimizer, bookkeeping), the two trainers alternating epoch by epoch:

- **today**: the config as it is: per-image transforms in a ``DataLoader`` (``data.num_workers``
  of the config), fp32, torch's default threads;
- **fast**: :data:`FAST_OPTIONS`: the batched in-memory path (:mod:`iif.data.batched`) plus the
  compute settings of the fast recipe (bf16 autocast, channels_last, ``torch.compile``).

:func:`profile_recipe` breaks one training step of either path into its parts.
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Optional

import torch

from .core import Pair, Preset, Row, Skipped

__all__ = ["run", "recipe_config", "profile_recipe", "FAST_OPTIONS", "RECIPE_CONFIG"]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPE_CONFIG = os.path.join(REPO, "configs", "cls", "cifar10_lt_jpeg", "softmax.py")

#: The fast recipe's settings (``--cfg-options``), as ``scripts/cifar10_lt_table.sh`` runs them.
FAST_OPTIONS: dict[str, Any] = {"data.loader": "tensor", "train.amp": True, "train.channels_last": True,
                                "train.compile": True}
#: Today's path: the per-image DataLoader, fp32.
TODAY_OPTIONS: dict[str, Any] = {"data.loader": "dataloader"}
TARGET = (">=", 3.0)


def recipe_config(work_dir: str, iters: int, device: torch.device, **options: Any) -> dict:
    """The stage-1 recipe config on fake images (``iters`` batches per epoch), with ``options``."""
    from ..engine import load_config

    if not os.path.isfile(RECIPE_CONFIG):
        raise Skipped(f"{RECIPE_CONFIG} is missing (a source checkout has it)")
    base = {"data.fake": True, "work_dir": work_dir, "device": device.type, "train.max_iters": iters,
            "train.log_interval": 10_000}
    cfg = load_config(RECIPE_CONFIG, {**base, "data.fake_size": 64 * iters, **options})
    return cfg


def _runner(cfg: dict):
    from ..engine import Trainer

    trainer = Trainer(cfg)
    state = {"epoch": 0}

    def epoch() -> float:
        rec = trainer.train_one_epoch(state["epoch"])
        state["epoch"] += 1
        return rec["images_per_s"]

    return trainer, epoch


def run(preset: Preset, device: torch.device, skipped: list[tuple[str, str]], compile_model: bool = False,
        fast_options: Optional[dict] = None) -> list[Row]:
    """Images/s of today's path and of the fast path, alternating, and their ratio. Without
    ``compile_model`` (``tools/benchmark.py --compile``) the fast side leaves ``torch.compile`` out."""
    # batch 64 is the recipe's; the preset sets how many batches make a timed epoch
    iters = {"smoke": 2, "quick": 8}.get(preset.name, 30)
    reps = 1 if preset.name == "smoke" else max(3, preset.train_repeats)
    fast_options = dict(FAST_OPTIONS if fast_options is None else fast_options)
    if not compile_model and fast_options.get("train.compile"):
        fast_options["train.compile"] = False
        skipped.append(("8 recipe / torch.compile", "compiling SE-ResNet-32 takes a minute or two on a small CPU; "
                                                     "run with --compile for the fast recipe as the table script uses it"))
    with tempfile.TemporaryDirectory(prefix="iif-recipe-") as tmp:
        t_today, today = _runner(recipe_config(os.path.join(tmp, "today"), iters, device, **TODAY_OPTIONS))
        t_fast, fast = _runner(recipe_config(os.path.join(tmp, "fast"), iters, device, **fast_options))
        t_fast.model.load_state_dict(t_today.model.state_dict())
        workers = t_today.cfg["data"]["num_workers"]
        # warm-up: DataLoader workers start, torch.compile compiles (forward and backward)
        for _ in range(1 + (2 if fast_options.get("train.compile") else 0)):
            today()
            fast()
        pair = Pair()
        for r in range(reps):
            order = (today, fast) if r % 2 == 0 else (fast, today)
            for fn in order:
                value = fn()
                (pair.base if fn is today else pair.ours).append(value)
        t_today.close()
        t_fast.close()
    opts = ", ".join(f"{k}={v}" for k, v in fast_options.items())
    return [Row(group="8 recipe", name=f"CIFAR-10-LT stage 1 (SE-ResNet-32, AA + Cutout + mixup), {iters} iterations "
                                       f"of batch 64 per epoch, torch threads {torch.get_num_threads()}",
                baseline=f"today: DataLoader ({workers} workers), fp32", ours=f"fast: {opts}",
                base_value=pair.base_median, ours_value=pair.ours_median, unit="img/s", ratio=pair.ratio(),
                spread=pair.spread(), target=TARGET,
                note="end to end: data, mixup, forward, backward, optimizer; compile epochs are warm-up")]


# ---------------------------------------------------------------------------- the profile
def _time_step(trainer, batches: int) -> dict[str, float]:
    """Seconds per batch of each part of ``Trainer.train_one_epoch``'s step, done by hand."""
    parts = {"data (load + augment + collate)": 0.0, "mixup": 0.0, "forward + loss": 0.0, "backward": 0.0,
             "optimizer + LR step": 0.0}
    net, opt, sched, crit = trainer.net, trainer.optimizer, trainer.scheduler, trainer.criterion
    net.train()
    it = iter(trainer.train_loader)
    tick = time.perf_counter
    n = 0
    for _ in range(batches):
        t0 = tick()
        try:
            images, target = next(it)
        except StopIteration:
            it = iter(trainer.train_loader)
            images, target = next(it)
        images, target = images.to(trainer.device), target.to(trainer.device)
        t1 = tick()
        if trainer.mixup is not None:
            images, target = trainer.mixup(images, target)
        if trainer.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        t2 = tick()
        with trainer._autocast():
            loss = crit(net(images).float(), target)
        t3 = tick()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t4 = tick()
        opt.step()
        sched.step()
        t5 = tick()
        for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            parts[key] += dt
        n += 1
    return {k: v / n for k, v in parts.items()}


def _per_image_ops(trainer, images: int = 512) -> list[tuple[str, float]]:
    """Microseconds per image of each op of the per-image train transform, and of collation."""
    ds = trainer.train_set
    tf = ds.transform
    imgs = [ds.load_image(i % len(ds)) for i in range(images)]
    out = []
    for op in getattr(tf, "transforms", [tf]):
        t0 = time.perf_counter()
        imgs = [op(x) for x in imgs]
        out.append((type(op).__name__, (time.perf_counter() - t0) / images * 1e6))
    t0 = time.perf_counter()
    for start in range(0, images, 64):
        torch.utils.data.default_collate([(x, 0) for x in imgs[start:start + 64]])
    out.append(("collate (default_collate of 64)", (time.perf_counter() - t0) / images * 1e6))
    return out


def profile_recipe(device: torch.device, threads: tuple[int, ...] = (1, 2), workers: tuple[int, ...] = (0, 2),
                   batches: int = 12, warmup: int = 3) -> str:
    """Where a stage-1 step of the recipe spends its time: per thread count and loader setting,
    the share of data loading + augmentation, mixup, forward, backward and optimizer, for today's
    per-image path (with and without DataLoader workers) and the batched path (fp32 and the fast
    compute settings); then the per-image transform op by op."""
    lines = [f"CIFAR-10-LT stage-1 step, batch 64, SE-ResNet-32 (fake 32x32 images), {batches} batches "
             f"after {warmup} warm-up; ms per batch (share of the step)"]
    header = ["threads", "path", "data", "mixup", "forward", "backward", "optimizer", "img/s"]
    rows = []
    before = torch.get_num_threads()
    variants = [(f"per-image, {w} workers", {"data.loader": "dataloader", "data.num_workers": w}) for w in workers]
    variants += [("batched, fp32", {"data.loader": "tensor"}),
                 ("batched, bf16 + channels_last", {"data.loader": "tensor", "train.amp": True,
                                                    "train.channels_last": True}),
                 ("batched, bf16 + channels_last + compile", FAST_OPTIONS)]
    per_image_ops = None
    with tempfile.TemporaryDirectory(prefix="iif-profile-") as tmp:
        for t in threads:
            torch.set_num_threads(t)
            for name, opts in variants:
                cfg = recipe_config(os.path.join(tmp, f"{t}-{len(rows)}"), batches + warmup, device, **opts)
                trainer, _ = _runner(cfg)
                _time_step(trainer, warmup + (2 if opts.get("train.compile") else 0))
                parts = _time_step(trainer, batches)
                if per_image_ops is None and opts["data.loader"] == "dataloader":
                    per_image_ops = _per_image_ops(trainer)
                trainer.close()
                total = sum(parts.values())
                rows.append([str(t), name] + [f"{1e3 * v:6.1f} ({100 * v / total:3.0f}%)" for v in parts.values()]
                            + [f"{64 / total:.0f}"])
    torch.set_num_threads(before)
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    lines += [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    if per_image_ops:
        total = sum(us for _, us in per_image_ops)
        lines.append(f"per-image train transform, one thread: {total:.0f} us per image "
                     f"({1e6 / total:.0f} img/s), op by op:")
        lines += [f"  {name:<34} {us:7.1f} us  ({100 * us / total:3.0f}%)" for name, us in per_image_ops]
    return "\n".join(lines)
