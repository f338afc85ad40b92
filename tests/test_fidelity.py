"""The authors' settings as config switches (docs/FIDELITY.md): squashed cosine head, the
``s = p**2`` learnable scale, the decoupled stage's BatchNorm mode and frozen scale, the
warm-up-then-constant LR, and the paper configs that use them."""
import copy
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from iif.engine import ConfigError, Trainer, load_config
from iif.engine.builders import apply_strategy, build_classifier, build_optimizer
from iif.engine.reproduce import METHODS, Recipe, _cell_config
from iif.engine.schedule import lr_factor
from iif.models import BN_MODES, CosineHead, build_head, build_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLS = os.path.join(REPO, "configs", "cls")


def cfg_path(rel: str) -> str:
    return os.path.join(CLS, rel)


# ----------------------------------------------------------------------- squashed cosine head


def test_squashed_cosine_logits_equal_the_formula():
    torch.manual_seed(0)
    head = CosineHead(8, 5, scale=16.0, feature_norm="squash")
    x = torch.randn(6, 8, dtype=torch.float64) * torch.tensor([0.01, 0.5, 1, 3, 30, 300], dtype=torch.float64)[:, None]
    w = head.weight.detach().double()
    norm = x.norm(dim=1, keepdim=True)
    expected = 16.0 * norm / (1 + norm) * F.cosine_similarity(x[:, None, :], w[None, :, :], dim=2)
    got = head(x.float()).double()
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6)
    # Small-norm features get small logits, unlike the pure cosine head whose logits ignore the norm.
    unit = CosineHead(8, 5, scale=16.0)
    unit.weight.data.copy_(head.weight.data)
    n0 = float(norm[0])
    assert got[0].abs().max() <= 16.0 * n0 / (1 + n0) + 1e-6 < 1.0 < unit(x[:1].float()).abs().max()
    assert torch.allclose(unit(x.float()).double(),
                          16.0 * F.cosine_similarity(x[:, None, :], w[None, :, :], dim=2), rtol=1e-5, atol=1e-6)


def test_squashed_cosine_zero_feature_and_bounds():
    head = CosineHead(4, 3, scale=16.0, feature_norm="squash")
    assert torch.equal(head(torch.zeros(2, 4)), torch.zeros(2, 3))  # no NaN, unlike ||x||-division
    big = head(torch.randn(50, 4) * 1e4)
    assert big.abs().max() < 16.0


def test_head_options_are_checked():
    with pytest.raises(ValueError, match=r"unknown feature_norm 'l2'; expected one of \['unit', 'squash'\]"):
        build_head("cosine", 4, 3, feature_norm="l2")
    with pytest.raises(ValueError, match=r"unknown scale_param 'exp'; expected one of \['log', 'square'\]"):
        build_head("cosine_learnable", 4, 3, scale_param="exp")
    with pytest.raises(ConfigError, match=r"model.feature_norm='l2' is not one of \['unit', 'squash'\]"):
        load_config(cfg_path("fashion_mnist_lt/softmax.py"), {"model.feature_norm": "l2"})
    with pytest.raises(ConfigError, match=r"strategy.bn='eval' is not one of \['frozen', 'train'\]"):
        load_config(cfg_path("fashion_mnist_lt/softmax.py"), {"strategy.bn": "eval"})
    assert BN_MODES == ("frozen", "train")


# ----------------------------------------------------------------------- learnable scale s = p**2


def _tiny(path, **extra):
    """A paper config on a tiny network (cnn3), nothing read from disk."""
    opts = {"model.name": "cnn3", "model.pretrained": None, "device": "cpu"}
    opts.update(extra)
    return load_config(cfg_path(path), opts)


def test_square_scale_starts_at_25_and_is_decayed_in_stage1():
    cfg = _tiny("places_lt/se_r152_stage1.py")
    model = apply_strategy(build_classifier(cfg, 7), cfg, None)
    head = model.head
    assert head.scale_param == "square" and head.feature_norm == "squash"
    assert head.scale == pytest.approx(25.0) and head.scale_root.item() == pytest.approx(5.0)
    assert not hasattr(head, "log_scale")
    opt = build_optimizer(cfg, model)
    group = [g for g in opt.param_groups if any(p is head.scale_root for p in g["params"])]
    assert len(group) == 1 and group[0]["weight_decay"] == pytest.approx(1e-4)
    # Weight decay acts on p: one step with a zero loss gradient shrinks p by lr * wd * p.
    x = torch.randn(4, 3, 32, 32)
    (model(x).sum() * 0).backward()
    opt.step()
    assert head.scale_root.item() == pytest.approx(5.0 * (1 - 0.2 * 1e-4), rel=1e-6)


def test_log_scale_stays_out_of_weight_decay():
    cfg = _tiny("places_lt/se_r152_stage1.py", **{"model.scale_param": "log", "model.scale": 16.0})
    model = apply_strategy(build_classifier(cfg, 7), cfg, None)
    opt = build_optimizer(cfg, model)
    group = [g for g in opt.param_groups if any(p is model.head.log_scale for p in g["params"])]
    assert group[0]["weight_decay"] == 0.0 and model.head.scale == pytest.approx(16.0)


def _stage1_state(cfg_rel, num_classes=7, seed=0, **extra):
    torch.manual_seed(seed)
    cfg = _tiny(cfg_rel, **extra)
    model = apply_strategy(build_classifier(cfg, num_classes), cfg, None)
    with torch.no_grad():
        model.head.scale_root.fill_(5.5)  # a stage-1 model whose scale moved during training
    return model.state_dict()


def _decoupled_steps(cfg, state, steps=3, num_classes=7):
    """Build the decoupled model from ``state``, run ``steps`` SGD steps of IIF-CE; returns
    (model, parameters before)."""
    from iif.engine.builders import build_criterion

    model = apply_strategy(build_classifier(cfg, num_classes), cfg, state)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = build_optimizer(cfg, model)
    crit = build_criterion(cfg, np.array([50, 30, 20, 10, 5, 3, 2]))
    torch.manual_seed(1)
    model.train()
    for _ in range(steps):
        x, y = torch.randn(8, 3, 32, 32), torch.randint(0, num_classes, (8,))
        opt.zero_grad()
        crit(model(x), y).backward()
        opt.step()
    return model, before


def test_square_scale_stays_fixed_in_the_decoupled_stage():
    state = _stage1_state("places_lt/se_r152_stage1.py")
    cfg = _tiny("places_lt/se_r152_decoupled_iif.py", **{"optimizer.lr": 0.5})
    assert cfg["strategy"]["freeze_scale"] is True
    model, before = _decoupled_steps(cfg, state)
    assert not model.head.scale_root.requires_grad
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight"}  # the authors' select_training_param: the classifier's weight only
    assert model.head.scale_root.item() == 5.5 and model.head.scale == pytest.approx(30.25)
    assert not torch.equal(model.head.weight, before["head.weight"])
    # With freeze_scale off (this project's earlier behaviour) the scale trains.
    cfg2 = _tiny("places_lt/se_r152_decoupled_iif.py", **{"optimizer.lr": 0.5, "strategy.freeze_scale": False})
    model2, _ = _decoupled_steps(cfg2, state)
    assert model2.head.scale_root.requires_grad and model2.head.scale_root.item() != 5.5


def test_crt_head_keeps_the_configured_options():
    state = _stage1_state("places_lt/se_r152_stage1.py")
    cfg = _tiny("places_lt/se_r152_decoupled_iif.py", **{"strategy.method": "crt"})
    model = apply_strategy(build_classifier(cfg, 7), cfg, state)
    assert model.head.feature_norm == "squash" and model.head.scale == pytest.approx(25.0)
    assert not model.head.scale_root.requires_grad


# ----------------------------------------------------------------------- BatchNorm mode


def _bn_stats(model):
    return {n: b.detach().clone() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))}


@pytest.mark.parametrize("bn", ["train", "frozen"])
def test_decoupled_batchnorm_mode(bn):
    torch.manual_seed(0)
    cfg1 = load_config(cfg_path("cifar10_lt/se_r32_stage1.py"), {"device": "cpu"})
    stage1 = apply_strategy(build_classifier(cfg1, 10), cfg1, None).state_dict()
    cfg = load_config(cfg_path("cifar10_lt/se_r32_decoupled_iif.py"), {"device": "cpu", "strategy.bn": bn})
    model = apply_strategy(build_classifier(cfg, 10), cfg, stage1)
    assert model.bn_mode == bn
    stats, weights = _bn_stats(model), {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    opt = build_optimizer(cfg, model)
    model.train()
    assert model.backbone.training == (bn == "train")
    opt.zero_grad()
    model(torch.randn(8, 3, 32, 32) * 3 + 1).logsumexp(1).mean().backward()
    opt.step()
    changed = [n for n, v in _bn_stats(model).items() if not torch.equal(v, stats[n])]
    if bn == "train":
        assert len(changed) == len(stats) > 0  # every BatchNorm re-estimated from the batch
    else:
        assert changed == []
    # Either way no backbone weight moves (BatchNorm's affine parameters included).
    assert all(torch.equal(p, weights[n]) for n, p in model.backbone.named_parameters())
    model.eval()
    assert not any(m.training for m in model.modules())


def test_default_bn_mode_is_todays_frozen():
    cfg = load_config(cfg_path("fashion_mnist_lt/decoupled_iif.py"), {"model.name": "cnn3"})
    assert cfg["strategy"]["bn"] == "frozen"
    model = build_model("cnn3", 3).set_trainable("classifier")
    model.train()
    assert model.bn_mode == "frozen" and not model.backbone.training
    model.set_trainable("classifier", bn="train").train()
    assert model.backbone.training
    model.set_trainable("classifier")  # None keeps the mode (replace_head re-applies the part this way)
    assert model.bn_mode == "train"
    with pytest.raises(ValueError, match=r"unknown BatchNorm mode 'eval'; expected one of \['frozen', 'train'\]"):
        model.set_trainable("classifier", bn="eval")


# ----------------------------------------------------------------------- warm-up then constant LR


def _authors_factor(x, iters_per_epoch, epoch):
    """kostas1515/iif classification/train.py + utils.warmup_lr_scheduler (epoch 0 only)."""
    if epoch >= 1:
        return 1.0
    warmup_iters = min(1000, iters_per_epoch - 1)
    if x >= warmup_iters:
        return 1.0
    alpha = float(x) / warmup_iters
    return 1.0 / 1000 * (1 - alpha) + alpha


@pytest.mark.parametrize("ipe", [2, 194, 452, 1001, 1500])
def test_constant_schedule_follows_the_authors_warmup(ipe):
    epochs = 3
    for it in range(ipe * epochs):
        got = lr_factor(it, ipe, epochs, "constant", 1, [], 0.1, warmup_start_factor=1e-3, warmup_max_iters=1000)
        assert got == pytest.approx(_authors_factor(it % ipe, ipe, it // ipe), rel=1e-12, abs=1e-15), (ipe, it)
    assert lr_factor(0, ipe, epochs, "constant", 1, warmup_start_factor=1e-3, warmup_max_iters=1000) == 1e-3


def test_existing_schedules_unchanged_without_start_factor():
    # The (it+1)/W warm-up and the cosine / multi-step shapes are as before.
    assert lr_factor(0, 10, 10, "cosine", 2) == pytest.approx(0.05)
    assert lr_factor(19, 10, 10, "cosine", 2) == pytest.approx(1.0)
    assert lr_factor(20, 10, 10, "cosine", 2) == pytest.approx(1.0)
    assert lr_factor(99, 10, 10, "multistep", 0, [5, 8], 0.1) == pytest.approx(0.01)
    assert lr_factor(55, 10, 10, "constant") == 1.0
    with pytest.raises(ValueError, match=r"unknown schedule type 'step'.*'constant'"):
        lr_factor(0, 10, 10, "step")


def test_trainer_lr_follows_the_warmup(tmp_path):
    opts = {"data.fake": True, "data.fake_size": 40, "data.batch_size": 4, "data.num_workers": 0, "device": "cpu",
            "model.name": "cnn3", "work_dir": str(tmp_path / "run"), "schedule.epochs": 2,
            "schedule.type": "constant", "schedule.warmup_epochs": 1, "schedule.warmup_start_factor": 1e-3,
            "schedule.warmup_max_iters": 1000, "optimizer.lr": 0.1}
    trainer = Trainer(load_config(cfg_path("fashion_mnist_lt/softmax.py"), opts))
    ipe = trainer.iters_per_epoch
    assert ipe == 10
    lrs = []
    for _ in range(2 * ipe):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()
        trainer.scheduler.step()
    expected = [0.1 * _authors_factor(i % ipe, ipe, i // ipe) for i in range(2 * ipe)]
    assert lrs == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("options, message", [
    ({"schedule.warmup_start_factor": 0.0}, r"warmup_start_factor must be None or a number in \(0, 1\], got 0.0"),
    ({"schedule.warmup_start_factor": 1e-3, "schedule.warmup_max_iters": 0}, r"warmup_max_iters must be None or a positive"),
    ({"schedule.warmup_max_iters": 100}, r"warmup_max_iters needs schedule.warmup_start_factor"),
    ({"schedule.type": "step"}, r"schedule.type='step' is not one of \['cosine', 'multistep', 'constant'\]"),
])
def test_bad_warmup_options(options, message):
    with pytest.raises(ConfigError, match=message):
        load_config(cfg_path("fashion_mnist_lt/softmax.py"), options)


# ----------------------------------------------------------------------- the paper configs

WARM = dict(warmup_epochs=1, warmup_start_factor=1e-3, warmup_max_iters=1000)

# config -> {dotted key: value} as in docs/FIDELITY.md (the authors' code / README).
PAPER = {
    "cifar10_lt/se_r32_stage1.py": {
        "model.name": "se_resnet32", "model.head": "cosine", "model.scale": 16.0, "model.feature_norm": "squash",
        "data.batch_size": 64, "schedule.epochs": 400, "schedule.type": "multistep", "schedule.milestones": [360, 380],
        "schedule.gamma": 0.01, "optimizer.lr": 0.1, "optimizer.weight_decay": 1e-4, "mixup.alpha": 0.2,
        "data.train_transform.autoaugment": "cifar", "data.train_transform.cutout": 16, "loss.type": "ce",
        **{f"schedule.{k}": v for k, v in WARM.items()}},
    "cifar10_lt/se_r32_decoupled_iif.py": {
        "model.feature_norm": "squash", "schedule.epochs": 20, "schedule.type": "constant", "optimizer.lr": 1e-4,
        "optimizer.weight_decay": 1e-4, "mixup.alpha": 0.0, "strategy.type": "decoupled", "strategy.bn": "train",
        "strategy.freeze_scale": True, "loss.type": "iif", "loss.variant": "smooth", "data.batch_size": 64,
        "data.train_transform.cutout": 16, **{f"schedule.{k}": v for k, v in WARM.items()}},
    "imagenet_lt/se_r50_stage1.py": {
        "model.name": "se_resnet50", "model.head": "cosine", "model.scale": 16.0, "model.feature_norm": "squash",
        "data.batch_size": 256, "schedule.epochs": 200, "schedule.type": "cosine", "optimizer.lr": 0.2,
        "optimizer.weight_decay": 1e-4, "mixup.alpha": 0.2, "data.train_transform.autoaugment": "imagenet",
        **{f"schedule.{k}": v for k, v in WARM.items()}},
    "imagenet_lt/se_r50_decoupled_iif.py": {
        "model.name": "se_resnet50", "model.feature_norm": "squash", "schedule.epochs": 5, "schedule.type": "constant",
        "optimizer.lr": 2e-5, "optimizer.weight_decay": 1e-4, "mixup.alpha": 0.2, "strategy.bn": "train",
        "strategy.freeze_scale": True, "loss.variant": "smooth", **{f"schedule.{k}": v for k, v in WARM.items()}},
    "imagenet_lt/se_x50_decoupled_iif.py": {
        "model.name": "se_resnext50_32x4d", "schedule.epochs": 5, "schedule.type": "constant", "optimizer.lr": 2e-5,
        "optimizer.weight_decay": 1e-4, "mixup.alpha": 0.2, "strategy.bn": "train"},
    "places_lt/se_r152_stage1.py": {
        "model.name": "se_resnet152", "model.head": "cosine_learnable", "model.scale": 25.0,
        "model.scale_param": "square", "model.feature_norm": "squash", "model.trainable": "all",
        "data.batch_size": 256, "schedule.epochs": 30, "schedule.type": "cosine", "optimizer.lr": 0.2,
        "optimizer.weight_decay": 1e-4, "mixup.alpha": 0.2, **{f"schedule.{k}": v for k, v in WARM.items()}},
    "places_lt/se_r152_decoupled_iif.py": {
        "model.head": "cosine_learnable", "model.scale_param": "square", "model.feature_norm": "squash",
        "schedule.epochs": 5, "schedule.type": "constant", "optimizer.lr": 2e-5, "optimizer.weight_decay": 1e-4,
        "mixup.alpha": 0.2, "strategy.bn": "train", "strategy.freeze_scale": True, "loss.variant": "smooth",
        **{f"schedule.{k}": v for k, v in WARM.items()}},
}
# fp32 (the authors' --apex is off by default), and the authors' RandAugment for Places-LT
for _rel in ("imagenet_lt/se_r50_stage1.py", "imagenet_lt/se_r50_decoupled_iif.py", "imagenet_lt/se_x50_decoupled_iif.py",
             "places_lt/se_r152_stage1.py", "places_lt/se_r152_decoupled_iif.py"):
    PAPER[_rel].update({"train.amp": False, "train.channels_last": False})
for _rel in ("places_lt/se_r152_stage1.py", "places_lt/se_r152_decoupled_iif.py"):
    PAPER[_rel].update({"data.train_transform.randaugment_policy": "authors", "data.train_transform.randaugment": {}})
PAPER["cifar100_lt/se_r32_stage1.py"] = PAPER["cifar10_lt/se_r32_stage1.py"]
PAPER["imagenet_lt/se_x50_stage1.py"] = dict(PAPER["imagenet_lt/se_r50_stage1.py"], **{"model.name": "se_resnext50_32x4d"})
PAPER["cifar100_lt/se_r32_decoupled_iif.py"] = PAPER["cifar10_lt/se_r32_decoupled_iif.py"]


def _get(cfg, dotted):
    for key in dotted.split("."):
        cfg = cfg[key]
    return cfg


@pytest.mark.parametrize("rel", sorted(PAPER))
def test_paper_configs_resolve_to_the_authors_values(rel):
    cfg = load_config(cfg_path(rel))
    wrong = {k: (_get(cfg, k), v) for k, v in PAPER[rel].items() if _get(cfg, k) != v}
    assert not wrong, f"{rel}: (config, expected) {wrong}"


def test_every_paper_recipe_config_is_checked():
    # The IIF paper's recipes (se_*.py); other systems' configs beside them follow their own papers.
    found = {f"{folder}/{name}" for folder in ("cifar10_lt", "cifar100_lt", "imagenet_lt", "places_lt")
             for name in os.listdir(os.path.join(CLS, folder)) if name.startswith("se_") and name.endswith(".py")}
    assert found == set(PAPER)


def _without(cfg, *paths):
    cfg = copy.deepcopy(cfg)
    for dotted in paths:
        *parents, last = dotted.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        node.pop(last, None)
    return cfg


def test_jpeg_folder_configs_equal_the_cifar10_lt_paper_recipe():
    data_keys = ("data.name", "data.root", "data.kwargs", "data.train_transform.image_size",
                 "data.train_transform.mean", "data.train_transform.std", "data.test_transform",
                 "work_dir", "_config_path", "strategy.load_from")
    for mine, paper in (("cifar10_lt_jpeg/softmax.py", "cifar10_lt/se_r32_stage1.py"),
                        ("cifar10_lt_jpeg/decoupled_iif.py", "cifar10_lt/se_r32_decoupled_iif.py")):
        a, b = load_config(cfg_path(mine)), load_config(cfg_path(paper))
        assert _without(a, *data_keys) == _without(b, *data_keys), mine
        assert a["data"]["name"] == "folder_lt" and a["data"]["kwargs"]["imbalance_factor"] == 100


def test_reproduce_scales_the_milestones_with_the_epochs(tmp_path):
    softmax = next(m for m in METHODS if m.key == "softmax")
    recipe = Recipe(options={"device": "cpu"}, epochs=40, config_dir=CLS)
    cfg = _cell_config(recipe, str(tmp_path), "cifar10_lt_jpeg", 0, softmax)
    assert cfg["schedule"]["epochs"] == 40 and cfg["schedule"]["milestones"] == [36, 38]
    recipe = Recipe(options={"device": "cpu", "schedule.milestones": [10]}, epochs=40, config_dir=CLS)
    assert _cell_config(recipe, str(tmp_path), "cifar10_lt_jpeg", 0, softmax)["schedule"]["milestones"] == [10]


@pytest.mark.slow
def test_jpeg_configs_train_end_to_end_on_fake_data(tmp_path):
    """Stage 1 then the decoupled stage of configs/cls/cifar10_lt_jpeg/, one iteration each, through
    the command line, with fake images (no files needed: the config names the classes)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_cls", os.path.join(REPO, "tools", "train_cls.py"))
    train_cls = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_cls)
    smoke = ["data.fake=True", "data.fake_size=16", "data.batch_size=4", "data.test_batch_size=8",
             "data.num_workers=0", "train.max_iters=2", "schedule.epochs=1", "device=cpu"]
    s1 = tmp_path / "s1"
    assert train_cls.main(["--config", cfg_path("cifar10_lt_jpeg/softmax.py"), "--work-dir", str(s1),
                           "--cfg-options", *smoke]) == 0
    s2 = tmp_path / "s2"
    assert train_cls.main(["--config", cfg_path("cifar10_lt_jpeg/decoupled_iif.py"), "--work-dir", str(s2),
                           "--cfg-options", *smoke, f"strategy.load_from={s1 / 'last.pth'}"]) == 0
    a = torch.load(s1 / "last.pth", weights_only=False)["model"]
    b = torch.load(s2 / "last.pth", weights_only=False)["model"]
    # BN train mode: running statistics moved, backbone weights did not, the classifier did.
    assert not torch.equal(a["backbone.bn1.running_mean"], b["backbone.bn1.running_mean"])
    assert torch.equal(a["backbone.conv1.weight"], b["backbone.conv1.weight"])
    assert not torch.equal(a["head.weight"], b["head.weight"])
    assert math.isfinite(float(b["head.weight"].sum()))


# ----------------------------------------------------------------------- issue-19 differences


def test_places_randaugment_is_the_authors_and_torchvision_an_override():
    from torchvision.transforms import v2

    from iif.data import DATASET_STATS, build_transform
    from iif.data.randaugment import AuthorsRandAugment

    stats = DATASET_STATS["imagenet"]
    for options, kind in (({}, AuthorsRandAugment),
                          ({"data.train_transform.randaugment_policy": "torchvision"}, v2.RandAugment)):
        cfg = load_config(cfg_path("places_lt/se_r152_stage1.py"), options)
        tf = build_transform(True, **cfg["data"]["train_transform"], **stats)
        found = [t for t in tf.transforms if isinstance(t, (AuthorsRandAugment, v2.RandAugment))]
        assert len(found) == 1 and type(found[0]) is kind, options
    tv = found[0]
    assert (tv.num_ops, tv.magnitude) == (2, 9)  # torchvision's defaults: the project's former setting


def test_amp_is_an_opt_in_override():
    cfg = load_config(cfg_path("imagenet_lt/se_r50_stage1.py"), {"train.amp": True, "train.channels_last": True})
    assert cfg["train"]["amp"] is True and cfg["train"]["channels_last"] is True


@pytest.mark.parametrize("name, n_max, imf, thresholds, head, tail", [
    ("cifar100", 500, 100, None, 35, 70),
    ("cifar100", 500, 50, (125, 32), 35, 70),
    ("cifar100", 500, 10, (221, 100), 35, 70),
    ("cifar10", 5000, 100, (2000, 1000), 2, 4),
    ("cifar10", 5000, 50, (2096, 1357), 2, 4),
    ("cifar10", 5000, 10, (2997, 2320), 2, 4),
])
def test_reslt_thresholds_give_the_official_slices(name, n_max, imf, thresholds, head, tail):
    """The official code slices class indices (CIFAR-100 [35:100] / [70:100], CIFAR-10 [2:10] / [4:10])
    at every imbalance factor; these data.kwargs.shot_thresholds give the same groups from counts."""
    from iif.data.longtail import long_tailed_counts
    from iif.metrics import SHOT_THRESHOLDS, shot_groups

    num_classes = 100 if name == "cifar100" else 10
    counts = long_tailed_counts(n_max, num_classes, imf)
    groups = shot_groups(counts, thresholds or SHOT_THRESHOLDS)
    expected = np.array([0] * head + [1] * (tail - head) + [2] * (num_classes - tail))
    np.testing.assert_array_equal(groups, expected)


def test_reslt_default_groups_differ_from_the_slices_below_if_100():
    from iif.data.longtail import long_tailed_counts
    from iif.metrics import shot_groups

    sizes = {imf: np.bincount(shot_groups(long_tailed_counts(500, 100, imf)), minlength=3).tolist()
             for imf in (100, 50, 10)}
    assert sizes == {100: [35, 35, 30], 50: [41, 41, 18], 10: [69, 31, 0]}


def test_asl_detach_focal_same_value_other_gradient():
    import iif

    z = torch.linspace(-6, 6, 2401, dtype=torch.float64)[:, None]
    y = torch.zeros_like(z)
    values, grads = [], []
    for detach in (False, True):
        x = z.clone().requires_grad_()
        loss = iif.asymmetric_loss(x, y, gamma_pos=0.0, gamma_neg=4.0, clip=0.05, reduction="sum", detach_focal=detach)
        loss.backward()
        values.append(loss.detach())
        grads.append(x.grad)
    torch.testing.assert_close(values[0], values[1])
    gap = (grads[0] - grads[1]).abs().max().item()
    assert 0.42 < gap < 0.44  # the number in the docstring and docs/FIDELITY.md
    crit = iif.build_loss("asl", np.array([5, 3]), detach_focal=True)
    assert crit.detach_focal is True
    assert load_config(cfg_path("toy_mlt/asl.py"))["loss"].get("detach_focal", False) is False


def test_coco_tailclip_config_has_tailclips_coco_values():
    cfg = load_config(cfg_path("coco_mlt/tailclip_rn50_bal.py"))
    assert cfg["loss"] == dict(type="bal", k=1.35, gamma_pos=0.0, gamma_neg=9.8, clip=0.05, label_smoothing=0.1)
    assert cfg["data"]["sampler"] == "occurrence" and cfg["data"]["sampler_kwargs"] == {"k": 1.35}
    assert cfg["optimizer"]["lr"] == 1e-7 and cfg["optimizer"]["weight_decay"] == 0.01
    assert cfg["data"]["batch_size"] == 8 and cfg["schedule"]["epochs"] == 50


def test_lvis_softmax_baselines_are_the_authors():
    from _det import require_det

    require_det()
    from mmdet.registry import MODELS
    from mmengine.config import Config

    import mmdet_ext  # noqa: F401  (registers the plugin)

    lvis = os.path.join(REPO, "configs", "lvis")
    rcnn = Config.fromfile(os.path.join(lvis, "softmax_mask_rcnn.py")).model.test_cfg.rcnn
    assert rcnn.nms.iou_threshold == 0.5 and rcnn.mask_thr_binary == 0.5 and rcnn.max_per_img == 300
    iif_rcnn = Config.fromfile(os.path.join(lvis, "iif_mask_rcnn.py")).model.test_cfg.rcnn
    assert iif_rcnn.nms.iou_threshold == 0.3 and iif_rcnn.mask_thr_binary == 0.4
    head = MODELS.build(Config.fromfile(os.path.join(lvis, "softmax_random_1x.py")).model.roi_head.bbox_head)
    head.init_weights()
    assert torch.all(head.fc_cls.weight == 0.001) and torch.all(head.fc_cls.bias == -6.5)


def test_docs_and_configs_cite_only_sources_a_reader_can_open():
    import re

    pattern = re.compile(r"DESIGN\.md|\bissue \d+(?! of| in)|section 3 /|design card", re.IGNORECASE)
    bad = []
    for top in ("docs", "configs"):
        for root, _, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                if not name.endswith((".md", ".py")):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    for i, line in enumerate(f, 1):
                        # another project's public issue tracker is a source a reader can open
                        if pattern.search(line) and "tydpan/NorCal" not in line:
                            bad.append(f"{os.path.relpath(path, REPO)}:{i}: {line.strip()}")
    assert not bad, "\n".join(bad)


# ----------------------------------------------------------------------- the README's main table

def _main_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("iif_main_tool", os.path.join(REPO, "tools", "main.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_has_one_main_check_block():
    main = _main_tool()
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    table = main.readme_block(text)
    assert table.splitlines()[0].startswith("fashion_mnist_lt (test split")
    assert main.readme_block(main.replace_block(text, "new\ntable")) == "new\ntable"
    with pytest.raises(ValueError, match="exactly one block"):
        main.readme_block("no block here")


@pytest.mark.slow
def test_readme_main_check_matches_the_default_job():
    """tools/main.py --check-readme: the default job (both stages, the same code path as `make main`)
    on a short schedule (tools/main.py CHECK_OPTIONS) must print the README's main-check block; when the code's
    numbers change this fails until the README's tables are re-measured."""
    import subprocess
    import sys

    from iif.data.fetch import default_data_root

    if not os.path.isdir(os.path.join(default_data_root(), "fashion_mnist")):
        pytest.skip("Fashion-MNIST is not fetched (python -m iif.data.fetch fashion_mnist)")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "main.py"), "--check-readme"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
