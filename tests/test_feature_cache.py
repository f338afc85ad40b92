"""The decoupled stage's feature cache (``strategy.feature_cache``, iif.engine.feature_cache): the
classifier trained on cached features equals the one trained without the cache, the file is reused
and keyed by the stage-1 weights, a corrupt file is recomputed, and every refusal names its reason."""
import logging
import os

import pytest
import torch

from iif.engine import ConfigError, Trainer, load_config
from iif.engine.checkpoint import load_checkpoint
from iif.engine.feature_cache import cache_dir, random_transform_keys, unseparable_reason

from _cli import FMNIST

# cnn3 on fake Fashion-MNIST-LT shapes; the decoupled stage with a deterministic training transform
# and BatchNorm frozen (the FMNIST configs' default): its features are the same every epoch.
STAGE2 = {"data.fake": True, "data.fake_size": 24, "data.batch_size": 4, "data.test_batch_size": 8,
          "device": "cpu", "model.name": "cnn3", "schedule.epochs": 2, "train.max_iters": 4,
          "data.train_transform": dict(_delete_=True)}


def _stage1(work_dir, seed=0):
    opts = {"data.fake": True, "data.fake_size": 24, "data.batch_size": 4, "data.test_batch_size": 8,
            "device": "cpu", "model.name": "cnn3", "schedule.epochs": 1, "train.max_iters": 2, "seed": seed,
            "work_dir": str(work_dir)}
    Trainer(load_config(os.path.join(FMNIST, "softmax.py"), opts)).fit()
    return str(work_dir / "last.pth")


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    return _stage1(tmp_path_factory.mktemp("stage1"))


@pytest.fixture(autouse=True)
def _cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("IIF_FEATURE_CACHE", str(tmp_path / "features"))


def _run(config, work_dir, stage1, **extra):
    opts = dict(STAGE2, **{"strategy.load_from": stage1, "work_dir": str(work_dir)})
    opts.update(extra)
    trainer = Trainer(load_config(os.path.join(FMNIST, config), opts))
    results = trainer.fit()
    return trainer, results


def _cache_files():
    return sorted(f for f in os.listdir(cache_dir()) if f.endswith(".npz")) if os.path.isdir(cache_dir()) else []


@pytest.mark.parametrize("config, loader", [("decoupled_iif.py", "auto"), ("crt.py", "auto"), ("lws.py", "auto"),
                                            ("decoupled_iif.py", "dataloader")])
def test_cached_stage_equals_the_uncached_one(tmp_path, stage1, config, loader):
    """Same seed, same sampler order: the classifier after N epochs, the losses and the scores agree
    (``auto``: the in-memory batched path; ``dataloader``: per-image transforms)."""
    plain, plain_results = _run(config, tmp_path / "plain", stage1, **{"data.loader": loader})
    cached, cached_results = _run(config, tmp_path / "cached", stage1,
                                  **{"strategy.feature_cache": True, "data.loader": loader})
    assert cached.loader == "feature_cache" and plain.loader != "feature_cache"
    assert len(_cache_files()) == 1
    a, b = plain.model.state_dict(), cached.model.state_dict()
    assert a.keys() == b.keys()  # the checkpoint holds the whole model: backbone and head
    trained = [k for k in a if k.startswith("head.")]
    assert any(not torch.equal(a[k], load_checkpoint(stage1)["model"].get(k, torch.zeros(0))) for k in trained)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6, msg=k)
    for ha, hb in zip(plain.history, cached.history):
        assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-5)
    ra, rb = plain_results["rows"][0], cached_results["rows"][0]
    assert ra["method"] == rb["method"] and ra["top1"] == pytest.approx(rb["top1"])
    saved = load_checkpoint(str(tmp_path / "cached" / "last.pth"))["model"]
    assert saved.keys() == a.keys() and any(k.startswith("backbone.") for k in saved)


def test_cache_is_reused_and_keyed_by_the_stage1_weights(tmp_path, stage1, monkeypatch, caplog):
    import iif.engine.feature_cache as fc

    _run("decoupled_iif.py", tmp_path / "a", stage1, **{"strategy.feature_cache": True})
    first = _cache_files()
    calls = []
    original = fc.compute_features
    monkeypatch.setattr(fc, "compute_features", lambda *a, **k: calls.append(1) or original(*a, **k))
    with caplog.at_level(logging.INFO, logger="iif.engine.feature_cache"):
        _run("crt.py", tmp_path / "b", stage1, **{"strategy.feature_cache": True})  # cRT shares the backbone
    assert calls == [] and _cache_files() == first and "feature cache: read" in caplog.text
    other = _stage1(tmp_path / "s1b", seed=1)  # another stage-1 checkpoint: other features
    _run("decoupled_iif.py", tmp_path / "c", other, **{"strategy.feature_cache": True})
    assert len(calls) == 2 and len(_cache_files()) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong shape"])
def test_corrupt_cache_is_recomputed_with_a_warning(tmp_path, stage1, caplog, damage):
    import numpy as np

    good, _ = _run("decoupled_iif.py", tmp_path / "a", stage1, **{"strategy.feature_cache": True})
    (name,) = _cache_files()
    path = os.path.join(cache_dir(), name)
    data = open(path, "rb").read()
    if damage == "garbage":
        open(path, "wb").write(b"\x00not a zip" * 50)
    elif damage == "truncated":
        open(path, "wb").write(data[: len(data) // 2])
    else:
        z = dict(np.load(path))
        z["train_features"] = z["train_features"][:, :3]
        np.savez(path, **z)
    with caplog.at_level(logging.WARNING, logger="iif.engine.feature_cache"):
        again, _ = _run("decoupled_iif.py", tmp_path / "b", stage1, **{"strategy.feature_cache": True})
    assert "recomputing it" in caplog.text
    for k, v in good.model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[k], v, msg=k)
    assert open(path, "rb").read() != b"\x00not a zip" * 50 and len(_cache_files()) == 1
    assert np.load(path)["train_features"].shape == tuple(good.train_loader.features.shape)


# Each refusal names its reason (the command-line form is in tests/test_bad_input.py).
REFUSALS = [
    ("BatchNorm in train mode", {"strategy.bn": "train"}, r"strategy.bn='train' \(BatchNorm normalises each batch"),
    ("random training transform", {"data.train_transform": {"crop_padding": 2, "hflip": True}},
     r"data.train_transform draws random numbers \(crop_padding=2, hflip=True"),
    ("mixup", {"mixup.alpha": 0.2}, r"mixup.alpha=0.2 \(the backbone sees mixed images"),
    ("not decoupled", {"strategy.type": "end-to-end"}, r"needs strategy.type='decoupled', got 'end-to-end'"),
    ("ResLT model", {"model.reslt.enabled": True}, r"ResLT model has no separable backbone and head"),
    ("unknown mode", {"strategy.feature_cache": "fast"},
     r"strategy.feature_cache must be False, True or 'approximate', got 'fast'"),
]


@pytest.mark.parametrize("name,options,pattern", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_name_their_reason(stage1, name, options, pattern):
    opts = dict(STAGE2, **{"strategy.load_from": stage1, "strategy.feature_cache": True})
    opts.update(options)
    with pytest.raises(ConfigError, match=pattern):
        load_config(os.path.join(FMNIST, "decoupled_iif.py"), opts)


def test_approximate_is_refused_where_nothing_can_be_cached(stage1):
    with pytest.raises(ConfigError, match=r"needs strategy.type='decoupled'"):
        load_config(os.path.join(FMNIST, "softmax.py"), {"strategy.feature_cache": "approximate"})


def test_a_model_without_separable_head_is_refused_at_build():
    from iif.models import build_model, build_reslt_model

    assert unseparable_reason(build_model("cnn3", 3, in_chans=1)) == ""
    assert "no separable backbone and head" in unseparable_reason(build_reslt_model("cnn3", 3, in_chans=1))
    assert "no separable backbone and head" in unseparable_reason(torch.nn.Linear(2, 2))


def test_random_transform_keys():
    assert random_transform_keys({"image_size": 112, "resize": 112, "mean": (0.5,), "std": (0.5,)}) == []
    assert random_transform_keys({"crop_padding": 0, "hflip": False, "cutout": 16, "randaugment": {}}) == \
        ["crop_padding=0", "randaugment={}", "cutout=16"]


def test_approximate_runs_with_bn_train_random_transform_and_mixup(tmp_path, stage1, caplog):
    """The authors' decoupled recipe (BatchNorm in train mode, random crop + flip, mixup) cached
    anyway: features once with BatchNorm in eval mode through the test transform, mixup on them."""
    before = load_checkpoint(stage1)["model"]
    with caplog.at_level(logging.WARNING, logger="iif.engine.feature_cache"):
        trainer, results = _run("decoupled_iif.py", tmp_path / "approx", stage1, **{
            "strategy.feature_cache": "approximate", "strategy.bn": "train", "mixup.alpha": 0.2,
            "data.train_transform": {"crop_padding": 2, "hflip": True}})
    assert "strategy.feature_cache='approximate'" in caplog.text and "mixup applied to the features" in caplog.text
    assert results["rows"][0]["top1"] is not None
    after = trainer.model.state_dict()
    # the backbone, its BatchNorm running statistics included, is stage 1's (it never ran in train mode)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("backbone."))


def test_an_unwritable_cache_directory_only_warns(tmp_path, stage1, monkeypatch, caplog):
    (tmp_path / "a_file").write_text("not a directory")
    monkeypatch.setenv("IIF_FEATURE_CACHE", str(tmp_path / "a_file" / "features"))
    with caplog.at_level(logging.WARNING, logger="iif.engine.feature_cache"):
        _, results = _run("decoupled_iif.py", tmp_path / "run", stage1, **{"strategy.feature_cache": True})
    assert "could not write" in caplog.text and results["rows"][0]["top1"] is not None
