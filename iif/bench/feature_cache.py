"""Group 9, the decoupled stage with and without the feature cache (``strategy.feature_cache``).

The stage of ``configs/cls/cifar10_lt_jpeg/mbv2_decoupled_iif_cached.py`` (ImageNet MobileNetV2 at
96 px, BatchNorm frozen, no augmentation: the recipe whose features the cache serves exactly), on
fake images of that size (CIFAR-10-LT's JPEG files are not needed; the backbone's cost does not
depend on the pixels), with a stage-1 checkpoint written from the model as built (torchvision's
ImageNet weights when ``~/.cache/iif/weights`` holds them, else random ones: the same cost). Each
side is a whole :class:`iif.engine.Trainer` run as a user waits for it (data and model set up,
every epoch, the final evaluation), the sides alternating repeat by repeat:

- **no cache**: ``strategy.feature_cache=False``: every epoch runs the frozen backbone;
- **cache, cold**: ``True`` with an empty cache directory: the features of the training and
  evaluation images are computed (once) and written, then the epochs train the head on them;
- **cache, warm**: ``True`` with the file already there: the next decoupled run on the same
  stage-1 checkpoint (cRT or LWS after decoupled IIF) reads it.

Speed is ``epochs x training images / wall seconds`` of the run. The third row is the study's
decoupled stage per stage-1 checkpoint: three runs (decoupled IIF, cRT, LWS), one cold and two warm
with the cache, against three uncached runs.
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import torch

from .core import Pair, Preset, Row, Skipped

__all__ = ["run", "CACHED_CONFIG", "TARGET"]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHED_CONFIG = os.path.join(REPO, "configs", "cls", "cifar10_lt_jpeg", "mbv2_decoupled_iif_cached.py")
TARGET = (">=", 10.0)


def _weights_present() -> bool:
    from ..data.fetch_weights import default_weights_root

    return os.path.isfile(os.path.join(default_weights_root(), "mobilenet_v2-b0353104.pth"))


def _config(work_dir: str, stage1: str, images: int, epochs: int, device: torch.device, cache: bool,
            pretrained: bool) -> dict:
    from ..engine import load_config

    opts: dict[str, Any] = {"data.fake": True, "data.fake_size": images, "device": device.type,
                            "work_dir": work_dir, "schedule.epochs": epochs, "strategy.feature_cache": cache,
                            "train.log_interval": 10_000, "evaluate.posthoc": "never"}
    if stage1:
        opts["strategy.load_from"] = stage1
    if not pretrained:
        opts["model.kwargs"] = dict(_delete_=True)
    return load_config(CACHED_CONFIG, opts)


def _write_stage1(path: str, cfg: dict) -> None:
    """A stage-1 checkpoint of the model as built (what the decoupled stage loads and checks)."""
    from ..engine.builders import build_classifier, build_datasets
    from ..engine.checkpoint import save_checkpoint

    s1 = dict(cfg, strategy=dict(cfg["strategy"], type="end-to-end", load_from=None, feature_cache=False))
    train_set, _ = build_datasets(s1)
    counts = train_set.class_counts()
    model = build_classifier(s1, len(counts))
    save_checkpoint(dict(model=model.state_dict(), epoch=0, class_counts=counts,
                         config={k: v for k, v in s1.items() if not k.startswith("_")}), path)


def run(preset: Preset, device: torch.device) -> list[Row]:
    """Three rows: one run with a cold cache, one with a warm cache, and the study's three decoupled
    runs on one checkpoint, each as speed against the uncached run of the same config."""
    from ..engine import Trainer

    if not os.path.isfile(CACHED_CONFIG):
        raise Skipped(f"{CACHED_CONFIG} is missing (a source checkout has it)")
    images, epochs, reps = {"smoke": (16, 2, 1), "quick": (256, 5, 3)}.get(preset.name, (1024, 5, 5))
    pretrained = _weights_present()
    env_before = os.environ.get("IIF_FEATURE_CACHE")
    with tempfile.TemporaryDirectory(prefix="iif-feature-cache-") as tmp:
        stage1 = os.path.join(tmp, "stage1.pth")
        s1_cfg = _config(os.path.join(tmp, "s1"), "", images, epochs, device, False, pretrained)
        size = s1_cfg["data"]["train_transform"]["image_size"]
        _write_stage1(stage1, s1_cfg)
        warm_dir = os.path.join(tmp, "warm-cache")
        counter = {"n": 0}

        def timed(cache: bool, cache_dir: str) -> float:
            counter["n"] += 1
            os.environ["IIF_FEATURE_CACHE"] = cache_dir
            cfg = _config(os.path.join(tmp, f"run{counter['n']}"), stage1, images, epochs, device, cache, pretrained)
            t0 = time.perf_counter()
            Trainer(cfg).fit()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            return epochs * images / (time.perf_counter() - t0)

        def plain() -> float:
            return timed(False, os.path.join(tmp, "unused"))

        def cold() -> float:
            return timed(True, os.path.join(tmp, f"cold-{counter['n']}"))

        def warm() -> float:
            return timed(True, warm_dir)

        try:
            # warm-up: allocator, first-call costs; also fills the warm cache
            warm()
            plain()
            base, cold_speed, warm_speed = [], [], []
            for r in range(reps):
                sides = [(plain, base), (cold, cold_speed), (warm, warm_speed)]
                for fn, out in (sides if r % 2 == 0 else sides[::-1]):
                    out.append(fn())
        finally:
            if env_before is None:
                os.environ.pop("IIF_FEATURE_CACHE", None)
            else:
                os.environ["IIF_FEATURE_CACHE"] = env_before
    cold_pair, warm_pair = Pair(base=base, ours=cold_speed), Pair(base=base, ours=warm_speed)
    # three uncached runs against one cold and two warm: speed = 3 runs' images over their total time
    study = Pair(base=base, ours=[3.0 / (1.0 / c + 2.0 / w) for c, w in zip(cold_speed, warm_speed)])
    weights = "ImageNet weights" if pretrained else "random weights (no ImageNet file here; same cost)"
    setup = (f"MobileNetV2 at {size} px ({weights}), fake images: {images} training, {max(8, images // 4)} "
             f"evaluation, {epochs} epochs, batch 64, torch threads {torch.get_num_threads()}")
    common = dict(group="9 feature_cache", baseline="no cache: the frozen backbone every epoch", unit="img/s")
    # Forward passes of the backbone bound the ratios: E*N + M without the cache, N + M for a cold run
    m = max(8, images // 4)
    bound, real = (epochs * images + m) / (images + m), (epochs * 12_406 + 10_000) / (12_406 + 10_000)
    return [
        Row(name=f"decoupled stage, cache computed in the run (cold); {setup}", ours="cache, cold",
            base_value=cold_pair.base_median, ours_value=cold_pair.ours_median, ratio=cold_pair.ratio(),
            spread=cold_pair.spread(), target=None,
            note=f"whole runs (setup, epochs, final evaluation); speed = epochs x training images / wall time. "
                 f"The cold run still passes every image through the backbone once: at most "
                 f"(E*N + M) / (N + M) = {bound:.1f}x here (N training, M evaluation images, E epochs), "
                 f"{real:.1f}x on CIFAR-10-LT's 12,406 + 10,000 images",
            **common),
        Row(name="decoupled stage, cache read (warm: cRT / LWS after decoupled IIF on one checkpoint)",
            ours="cache, warm", base_value=warm_pair.base_median, ours_value=warm_pair.ours_median,
            ratio=warm_pair.ratio(), spread=warm_pair.spread(), target=TARGET, **common),
        Row(name="the study's decoupled stage per checkpoint: IIF, cRT, LWS (1 cold + 2 warm vs 3 uncached)",
            ours="cache: 1 cold + 2 warm", base_value=study.base_median, ours_value=study.ours_median,
            ratio=study.ratio(), spread=study.spread(), target=TARGET,
            note=f"at most 3 (E*N + M) / (N + M) = {3 * bound:.1f}x here, {3 * real:.1f}x on CIFAR-10-LT at "
                 f"{epochs} epochs (one cold pass over both sets remains)", **common),
    ]
