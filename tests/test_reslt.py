"""ResLT: the branch loss (formula, masks, gradients, IIF), the groups, the two model forms, and
a ResLT model through the trainer (resume, decoupled stages), tools/test_cls.py and reproduce cells."""
import importlib.util
import json
import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import iif
from iif.data import ArrayLTDataset, build_dataset
from iif.engine import ConfigError, Trainer, load_config
from iif.engine.builders import FakeLTDataset
from iif.engine.checkpoint import load_checkpoint
from iif.metrics import shot_accuracy
from iif.models import LinearHead, ResLTClassifier, build_reslt_model, timm_backbone

from _cli import interrupted_after_first_save, torchrun_train_cls

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST = os.path.join(REPO, "configs", "cls", "fashion_mnist_lt")
MNIST = os.path.join(REPO, "configs", "cls", "mnist_lt")

#: The independent ResLT port's MNIST-LT: images per digit 0..9, groups by 1000 / 100.
PORT_COUNTS = [42, 125, 187, 28, 601, 300, 5918, 2698, 1188, 67]
PORT_GROUPS = [2, 1, 1, 2, 1, 1, 0, 0, 0, 2]  # tail {0, 3, 9}, medium {1, 2, 4, 5}, head {6, 7, 8}

SMOKE = {"data.fake": True, "data.fake_size": 16, "data.batch_size": 4, "data.test_batch_size": 8,
         "data.num_workers": 0, "train.max_iters": 2, "schedule.epochs": 1, "device": "cpu", "model.name": "cnn3"}
#: A long-tailed profile for the fake data's counts, so that all three groups have classes.
FAKE_COUNTS = np.array([500, 300, 200, 90, 60, 40, 25, 15, 10, 5])


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ce(z, y):
    """Cross-entropy of one logit vector, by hand: logsumexp(z) - z_y."""
    return torch.logsumexp(z, 0) - z[y]


# --------------------------------------------------------------------------- the loss


@pytest.fixture
def toy():
    torch.manual_seed(0)
    z = torch.randn(3, 6, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 3, 0])
    groups = torch.tensor([0, 0, 1, 2])  # classes 0, 1 head; 2 medium; 3 tail
    return z, y, groups


def _by_hand(z, y, groups, beta, weights=None, on="both"):
    w = torch.ones(z.shape[2], dtype=z.dtype) if weights is None else weights.double()
    wb = w if on in ("branches", "both") else torch.ones_like(w)
    wf = w if on in ("fused", "both") else torch.ones_like(w)
    terms, pairs = [], 0
    for i, c in enumerate(y.tolist()):
        for b in range(3):
            if groups[c] >= b:  # head branch: every sample; medium: medium + tail; tail: tail only
                terms.append(_ce(wb * z[b, i], c))
                pairs += 1
    branch = torch.stack(terms).sum() / pairs
    fuse = torch.stack([_ce(wf * z[:, i].sum(0), c) for i, c in enumerate(y.tolist())]).mean()
    return beta * branch + (1 - beta) * fuse, branch, fuse, pairs


def test_loss_equals_the_hand_formula(toy):
    z, y, groups = toy
    expected, branch, fuse, pairs = _by_hand(z, y, groups, 0.3)
    # Samples 0, 1, 5 (head) keep 1 pair, 2 (medium) 2, 3 and 4 (tail) 3 each: 11 pairs, not 3 * 6.
    assert pairs == 11
    torch.testing.assert_close(iif.reslt_loss(z, y, groups, 0.3), expected)
    # The normaliser is the number of kept pairs: the mean of the per-branch means differs.
    per_branch = torch.stack([F.cross_entropy(z[b][groups[y] >= b], y[groups[y] >= b]) for b in range(3)]).mean()
    assert not torch.allclose(per_branch, branch)
    none = iif.reslt_loss(z, y, groups, 0.3, reduction="none")
    assert none.shape == (6,)
    torch.testing.assert_close(none.mean(), expected)
    torch.testing.assert_close(iif.reslt_loss(z, y, groups, 0.3, reduction="sum"), 6 * expected)
    module = iif.ResLTLoss(groups, 0.3).double()
    torch.testing.assert_close(module(z, y), expected)


def test_beta_zero_is_ce_of_summed_logits_and_one_the_branch_term(toy):
    z, y, groups = toy
    torch.testing.assert_close(iif.reslt_loss(z, y, groups, 0.0), F.cross_entropy(z.sum(0), y))
    _, branch, _, _ = _by_hand(z, y, groups, 1.0)
    torch.testing.assert_close(iif.reslt_loss(z, y, groups, 1.0), branch)
    assert not torch.allclose(branch, F.cross_entropy(z.sum(0), y))


def test_gradients_reach_only_the_branches_a_class_allows(toy):
    z, y, groups = toy
    z = z.clone().requires_grad_(True)
    iif.reslt_loss(z, y, groups, 1.0).backward()
    allowed = groups[y].unsqueeze(0) >= torch.arange(3).unsqueeze(1)  # (3, N)
    row_grad = z.grad.abs().sum(2)  # (3, N)
    assert torch.all(row_grad[~allowed] == 0)  # exactly zero, not small
    assert torch.all(row_grad[allowed] > 0)
    # The fused term reaches every branch of every sample.
    z.grad = None
    iif.reslt_loss(z, y, groups, 0.5).backward()
    assert torch.all(z.grad.abs().sum(2) > 0)


def test_soft_targets_mask_by_the_largest_class(toy):
    z, y, groups = toy
    soft = F.one_hot(y, 4).double()
    torch.testing.assert_close(iif.reslt_loss(z, soft, groups, 0.4), iif.reslt_loss(z, y, groups, 0.4))
    # Mixup: sample 0 is 70% class 3 (tail), 30% class 0: its mask is the tail one (3 branches).
    mixed = soft.clone()
    mixed[0] = torch.tensor([0.3, 0.0, 0.0, 0.7], dtype=torch.float64)
    zz = z.clone().requires_grad_(True)
    iif.reslt_loss(zz, mixed, groups, 1.0).backward()
    assert torch.all(zz.grad[:, 0].abs().sum(1) > 0)


def test_iif_weights_on_fused_branches_or_both(toy):
    z, y, groups = toy
    w = torch.tensor([1.2, 1.5, 2.5, 4.0])
    for on in ("fused", "branches", "both"):
        expected, _, _, _ = _by_hand(z, y, groups, 0.6, w, on)
        torch.testing.assert_close(iif.reslt_loss(z, y, groups, 0.6, weights=w, iif_on=on), expected)
    # IIF-CE comes from iif_cross_entropy: weights of 1 are plain ResLT.
    torch.testing.assert_close(iif.reslt_loss(z, y, groups, 0.6, weights=torch.ones(4)),
                               iif.reslt_loss(z, y, groups, 0.6))
    loss = iif.build_loss("reslt", PORT_COUNTS, beta=0.5, shot_thresholds=(1000, 100), iif_variant="smooth")
    assert torch.equal(loss.groups, torch.tensor(PORT_GROUPS))
    torch.testing.assert_close(loss.weights, iif.compute_weights(PORT_COUNTS, "smooth"))
    fused = torch.randn(2, 10)
    torch.testing.assert_close(loss.adjust(fused), fused * loss.weights)
    only_branches = iif.build_loss("reslt", PORT_COUNTS, beta=0.5, shot_thresholds=(1000, 100),
                                   iif_variant="smooth", iif_on="branches")
    assert only_branches.adjust is None
    with pytest.warns(UserWarning, match="no class in group"):  # default thresholds (100, 20): no tail
        assert iif.build_loss("reslt", PORT_COUNTS, beta=0.5).adjust is None


def test_empty_batch_gives_zero_with_gradient():
    z = torch.zeros(3, 0, 4, requires_grad=True)
    loss = iif.reslt_loss(z, torch.zeros(0, dtype=torch.long), torch.tensor([0, 1, 2, 2]), 0.5)
    assert loss.item() == 0.0
    loss.backward()
    assert z.grad.shape == (3, 0, 4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(beta=1.5), r"beta must be a number in \[0, 1\], got 1.5"),
    (dict(groups=torch.tensor([0, 1, 3, 2])),
     r"groups must hold 0 \(head\), 1 \(medium\) or 2 \(tail\); got values \[3\]"),
    (dict(groups=torch.tensor([0, 1, 2])), r"groups must be a \(4,\) integer tensor"),
    (dict(iif_on="head"), r"unknown iif_on 'head'; expected one of \['fused', 'branches', 'both'\]"),
    (dict(reduction="avg"), r"unknown reduction 'avg'"),
    (dict(z=torch.zeros(2, 6, 4)), r"branch_logits must be \(3, N, C\)"),
    (dict(y=torch.zeros(5, dtype=torch.long)), r"target must be \(6,\) class indices or \(6, 4\) probabilities"),
])
def test_bad_input_names_the_value(toy, kwargs, message):
    z, y, groups = toy
    args = dict(z=z, y=y, groups=groups, beta=0.5)
    args.update(kwargs)
    extra = {k: args.pop(k) for k in ("iif_on", "reduction") if k in args}
    with pytest.raises(ValueError, match=message):
        iif.reslt_loss(args["z"], args["y"], args["groups"], args["beta"], **extra)


# --------------------------------------------------------------------------- groups


def test_groups_follow_the_counts_of_the_mnist_lt_port():
    groups = iif.reslt_groups(PORT_COUNTS, (1000, 100))
    assert groups.tolist() == PORT_GROUPS
    # The same rule as the report columns: many/medium/few of the same counts and thresholds.
    acc = np.arange(10, dtype=np.float64) / 10
    shots = shot_accuracy(acc, PORT_COUNTS, (1000, 100))
    for value, group in ((shots.many, 0), (shots.medium, 1), (shots.few, 2)):
        assert value == pytest.approx(acc[groups.numpy() == group].mean() * 100)
    # With the default thresholds (many > 100, few < 20) the same counts group differently.
    with pytest.warns(UserWarning, match=r"tail \(few-shot\)"):
        assert iif.reslt_groups(PORT_COUNTS).tolist() == [1, 0, 0, 1, 0, 0, 0, 0, 0, 1]


class _ToyMNIST(ArrayLTDataset):
    """10 classes x 6000 blank 4x4 images: MNIST's size without its files."""

    NUM_CLASSES = 10

    def load_arrays(self, train):
        n = 6000 if train else 100
        return np.zeros((10 * n, 1, 4, 4), np.uint8), np.repeat(np.arange(10), n)


def test_explicit_counts_profile_gives_the_port_dataset_and_groups():
    train = _ToyMNIST("unused", "train", counts=PORT_COUNTS, shot_thresholds=(1000, 100))
    assert train.class_counts().tolist() == PORT_COUNTS and len(train) == 11154
    assert train.imbalance_factor == pytest.approx(5918 / 28)
    assert iif.reslt_groups(train.class_counts(), train.shot_thresholds).tolist() == PORT_GROUPS
    with pytest.raises(ValueError, match=r"counts must be 10 integers >= 1"):
        _ToyMNIST("unused", "train", counts=PORT_COUNTS[:9])
    with pytest.raises(ValueError, match=r"leave profile \('pareto'\) and n_max \(None\) unset"):
        _ToyMNIST("unused", "train", counts=PORT_COUNTS, profile="pareto")
    cfg = load_config(os.path.join(MNIST, "reslt_pareto.py"))
    assert cfg["data"]["kwargs"] == dict(counts=PORT_COUNTS, shot_thresholds=[1000, 100])
    root = os.path.join(os.environ.get("IIF_DATA", os.path.expanduser("~/.cache/iif/data")), "mnist")
    if os.path.isdir(root):  # the fetched MNIST: the real subset has the same counts
        real = build_dataset("mnist_lt", root, "train", **cfg["data"]["kwargs"])
        assert real.class_counts().tolist() == PORT_COUNTS


def test_empty_group_warns_and_drops_its_branch():
    counts = [5000, 2000, 500, 90, 50]  # no class under 20 images: no tail
    with pytest.warns(UserWarning, match=r"no class in group\(s\) tail \(few-shot\); the branch"):
        groups = iif.reslt_groups(counts)
    assert 2 not in groups.tolist()
    z = torch.randn(3, 4, 5, requires_grad=True)
    y = torch.tensor([0, 3, 4, 1])
    with pytest.warns(UserWarning, match="tail"):
        loss = iif.reslt_loss(z, y, groups, 0.5)
    loss.backward()
    assert torch.isfinite(loss) and torch.all(z.grad[2] == 0)  # the tail branch is out of both terms
    z2 = z.detach().clone()
    z2[2] += 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.equal(iif.reslt_loss(z2, y, groups, 0.5), loss.detach())
        # With only the tail group filled the head and medium branches drop: the tail branch keeps all.
        only_tail = iif.ResLTLoss(torch.tensor([2, 2, 2, 2, 2]), 1.0)
    assert only_tail.active.tolist() == [False, False, True]
    torch.testing.assert_close(only_tail(z.detach(), y), F.cross_entropy(z.detach()[2], y))


# --------------------------------------------------------------------------- the models


@pytest.mark.parametrize("name, in_chans, size", [("cnn3", 1, 28), ("resnet32", 3, 32)])
def test_bn_branch_form_shapes(name, in_chans, size):
    torch.manual_seed(0)
    model = build_reslt_model(name, 7, head="linear", in_chans=in_chans)
    assert model.form == "bn" and len(model.branches) == 3
    x = torch.randn(5, in_chans, size, size)
    branches = model(x, return_branches=True)
    assert branches.shape == (3, 5, 7)
    torch.testing.assert_close(model(x), branches.sum(0))
    # Three different BatchNorms on one map: in train mode the branches see the same batch statistics
    # but their affine parameters differ once trained; at init they agree, so perturb one.
    with torch.no_grad():
        model.branches[2].weight.mul_(2.0)
    b = model(x, return_branches=True)
    assert not torch.allclose(b[0], b[2]) and torch.allclose(b[0], b[1])


def test_conv_form_shapes_on_a_timm_backbone_and_a_cifar_one():
    torch.manual_seed(0)
    model = ResLTClassifier(timm_backbone("resnet18"), LinearHead(512, 6), form="conv")
    x = torch.randn(2, 3, 32, 32)
    branches = model(x, return_branches=True)
    assert branches.shape == (3, 2, 6)
    assert model.branches[0].weight.shape == (3 * 512, 512, 1, 1)  # 1x1 conv D -> 3D
    torch.testing.assert_close(model(x), branches.sum(0))
    # Branch b is channels [b*D, (b+1)*D) of the conv output, through the shared classifier.
    fmap = model.branches(model.feature_map(x)).mean(dim=(2, 3))
    torch.testing.assert_close(branches[1], model.head(fmap[:, 512:1024]))
    small = build_reslt_model("cnn3", 4, in_chans=1, form="conv")
    assert small(torch.randn(3, 1, 28, 28), return_branches=True).shape == (3, 3, 4)
    assert build_reslt_model("resnet50", 4).form == "conv"  # "auto": the official ImageNet form for timm


def test_test_time_gamma_and_dropped_branches():
    torch.manual_seed(0)
    model = build_reslt_model("cnn3", 5, head="linear", in_chans=1, gamma=0.7)
    with torch.no_grad():
        model.head.weight.mul_(torch.linspace(0.5, 3.0, 5).unsqueeze(1))
        model.head.bias.fill_(0.3)
    x = torch.randn(4, 1, 28, 28)
    model.eval()
    f = model.branch_features(x)  # (3, N, D)
    w = model.head.weight
    expected = (f @ (w / w.norm(dim=1, keepdim=True) ** 0.7).T).sum(0)  # bias dropped
    torch.testing.assert_close(model(x), expected)
    model.train()  # training: the head as it is, bias included (and batch statistics)
    f = model.branch_features(x)
    torch.testing.assert_close(model(x), model.head(f.reshape(-1, f.shape[-1])).view(3, 4, 5).sum(0))
    model.set_active_branches([True, False, True]).eval()
    assert torch.all(model(x, return_branches=True)[1] == 0)
    with pytest.raises(ValueError, match="needs a linear head"):
        build_reslt_model("cnn3", 5, head="cosine", gamma=0.5)
    with pytest.raises(ValueError, match=r"unknown ResLT form 'fc'; expected one of \['auto', 'bn', 'conv'\]"):
        build_reslt_model("cnn3", 5, form="fc")


def test_report_tau_norm_of_the_fused_logits_is_test_time_gamma():
    """The report's post-hoc tau-norm of a ResLT model (bias counted once per kept branch) gives
    exactly the logits of the same model with test-time gamma = tau."""
    from iif.engine.report import classifier_parameters

    torch.manual_seed(0)
    model = build_reslt_model("cnn3", 5, head="linear", in_chans=1)
    model.set_active_branches([True, False, True])
    with torch.no_grad():
        model.head.bias.uniform_(-1.0, 1.0)
        model.head.weight.mul_(torch.linspace(0.5, 3.0, 5).unsqueeze(1))
    model.eval()
    x = torch.randn(4, 1, 28, 28)
    z = model(x)
    weight, bias, kind = model.fused_classifier(*classifier_parameters(model.head))
    assert kind == "linear" and torch.allclose(bias, 2 * model.head.bias)
    model.gamma = 0.7
    torch.testing.assert_close(iif.posthoc.tau_normalized_logits(z, weight, bias, 0.7), model(x))
    assert model.fused_classifier(weight, bias, kind)[2] == "other"  # gamma > 0: not tau-normed twice


def test_classifier_retraining_freezes_the_branches():
    model = build_reslt_model("cnn3", 5, in_chans=1)
    model.set_trainable("classifier").train()
    assert all(not p.requires_grad for p in model.branches.parameters())
    assert all(not bn.training for bn in model.branches)  # their running statistics stay
    assert all(p.requires_grad for p in model.head.parameters())
    model.set_trainable("last_block")
    assert all(p.requires_grad for p in model.branches.parameters()) and model.branches[0].training


# --------------------------------------------------------------------------- the trainer


def _fake_long_tail(monkeypatch):
    monkeypatch.setattr(FakeLTDataset, "class_counts", lambda self: FAKE_COUNTS.copy())


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_config_rules():
    with pytest.raises(ConfigError, match=r"loss.type='reslt' .* set model.reslt.enabled=True"):
        load_config(os.path.join(FMNIST, "reslt.py"), {"model.reslt.enabled": False})
    with pytest.raises(ConfigError, match=r"model.reslt.gamma=0.5 .* needs model.head='linear', got 'cosine'"):
        load_config(os.path.join(FMNIST, "reslt.py"), {"model.reslt.gamma": 0.5})
    with pytest.raises(ConfigError, match=r"model.reslt.form='fc' is not one of \['auto', 'bn', 'conv'\]"):
        load_config(os.path.join(FMNIST, "reslt.py"), {"model.reslt.form": "fc"})
    with pytest.raises(ConfigError, match=r"set data.kwargs.shot_thresholds instead"):
        load_config(os.path.join(FMNIST, "reslt.py"), {"loss.shot_thresholds": [10, 5]})


def test_reslt_trains_resumes_exactly_and_evaluates_through_test_cls(tmp_path, monkeypatch, capsys):
    """2 epochs straight == 1 epoch, killed, resumed for 1: identical weights; then tools/test_cls.py."""
    _fake_long_tail(monkeypatch)
    cfg_path = os.path.join(FMNIST, "reslt.py")
    opts = dict(SMOKE, **{"schedule.epochs": 2, "train.max_iters": 3, "mixup.alpha": 0.2,
                          "data.train_transform": {"crop_padding": 2, "hflip": True}})
    straight = Trainer(load_config(cfg_path, dict(opts, work_dir=str(tmp_path / "a"))))
    assert straight.branch_loss and straight.model.branch_active.tolist() == [True, True, True]
    assert straight.criterion.groups.tolist() == iif.reslt_groups(FAKE_COUNTS).tolist()
    before = _params(straight.model)
    straight.fit()
    trained = straight.model.state_dict()
    assert [k for k in before if k.startswith("branches.") and not torch.equal(before[k], trained[k])]  # they train

    with interrupted_after_first_save(monkeypatch), pytest.raises(KeyboardInterrupt):
        Trainer(load_config(cfg_path, dict(opts, work_dir=str(tmp_path / "b")))).fit()
    resumed = Trainer(load_config(cfg_path, dict(opts, work_dir=str(tmp_path / "b"))), resume=True)
    assert resumed.start_epoch == 1
    results = resumed.fit()
    a, b = _params(straight.model), _params(resumed.model)
    assert a.keys() == b.keys() and "branch_active" in a
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert results["rows"][0]["method"] == "ResLT beta=0.5"
    assert any(r["method"] == "post-process IIF smooth" for r in results["rows"])  # evaluate.posthoc="always"

    test_cls = _tool("test_cls")
    ckpt = str(tmp_path / "b" / "last.pth")
    assert test_cls.main(["--checkpoint", ckpt]) == 0
    report = json.loads((tmp_path / "b" / "eval" / "results.json").read_text())
    first = report["splits"]["test"][0]
    assert first["method"] == "as trained (ResLT beta=0.5)"
    assert first["top1"] == pytest.approx(results["rows"][0]["top1"])  # the same model, the same logits
    assert any(r["method"] == "post-process IIF smooth" for r in report["splits"]["test"])
    assert "ResLT beta=0.5" in capsys.readouterr().out


@pytest.mark.parametrize("config", ["decoupled_iif", "crt", "lws"])
def test_decoupled_stage_on_a_reslt_model(tmp_path, monkeypatch, config):
    _fake_long_tail(monkeypatch)
    stage1 = Trainer(load_config(os.path.join(FMNIST, "reslt.py"), dict(SMOKE, work_dir=str(tmp_path / "s1"))))
    stage1.fit()
    opts = dict(SMOKE, **{"work_dir": str(tmp_path / "s2"), "strategy.load_from": str(tmp_path / "s1" / "last.pth"),
                          "model.reslt.enabled": True})
    stage2 = Trainer(load_config(os.path.join(FMNIST, f"{config}.py"), opts))
    assert not stage2.branch_loss
    before = _params(stage2.model)
    stage2.fit()
    after = stage2.model.state_dict()
    frozen = [k for k in before if k.startswith(("backbone.", "branches.", "branch_active"))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # BN statistics included
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("head."))
    pred_ckpt = load_checkpoint(str(tmp_path / "s2" / "last.pth"))
    assert pred_ckpt["model"]["branch_active"].tolist() == [True, True, True]


def test_reproduce_cells_with_reslt_rows(tmp_path, monkeypatch):
    from iif.engine.reproduce import METHODS, Recipe, default_methods, run_table

    assert "reslt" not in default_methods() and {"reslt", "reslt_iif"} <= {m.key for m in METHODS}
    _fake_long_tail(monkeypatch)
    fake = {"data.fake": True, "data.fake_size": 24, "model.name": "cnn3", "device": "cpu", "data.batch_size": 8}
    recipe = Recipe(options=fake, epochs=1, config_dir=os.path.join(REPO, "configs/cls"))
    with pytest.raises(ValueError, match=r"method 'reslt_posthoc_iif' builds on the reslt cell"):
        run_table(["fashion_mnist_lt"], [0], recipe, str(tmp_path), ["softmax", "reslt_posthoc_iif"])
    records = run_table(["fashion_mnist_lt"], [0], recipe, str(tmp_path), ["reslt", "reslt_posthoc_iif", "reslt_iif"])
    by = {r["method"]: r for r in records}
    assert set(by) == {"reslt", "reslt_posthoc_iif", "reslt_iif"}
    assert by["reslt"]["row"]["method"] == "as trained (ResLT beta=0.5)"
    assert by["reslt_posthoc_iif"]["row"]["method"] == "post-process IIF smooth"
    assert by["reslt_iif"]["row"]["method"] == "as trained (ResLT beta=0.5 + IIF smooth (both))"
    pred = np.load(os.path.join(tmp_path, "fashion_mnist_lt", "seed0", "reslt_iif", "eval", "predictions.npz"))
    assert "predict_weights" in pred.files  # IIF on the fused logits: the model predicts with w * z


@pytest.mark.slow
def test_ddp_two_processes_gloo(tmp_path):
    """torchrun, 2 CPU processes: the branch logits go through DistributedDataParallel's forward."""
    wd = tmp_path / "ddp"
    opts = dict(SMOKE, **{"work_dir": str(wd), "data.batch_size": 8})
    torchrun_train_cls(os.path.join(FMNIST, "reslt.py"), opts)
    ckpt = load_checkpoint(str(wd / "last.pth"))
    assert ckpt["epoch"] == 0 and np.isfinite(ckpt["history"][0]["train_loss"])
    assert "branch_active" in ckpt["model"]
    assert json.loads((wd / "results.json").read_text())["rows"][0]["method"] == "ResLT beta=0.5"
