"""The additive detection baselines (Balanced Softmax, post-hoc logit adjustment, NorCal), the hook
that fills their counts, their configs, and the LVIS recipe's temperature / fc_cls init.

Needs the detection stack, as tests/test_det.py.
"""
import glob
import json
import os
import types

import pytest
import torch
import torch.nn.functional as F

from _det import require_det  # noqa: E402

require_det()

from mmdet.registry import MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402

import iif  # noqa: E402
import mmdet_ext  # noqa: E402,F401  (registers the plugin)
from mmdet_ext import (BalancedSoftmaxLoss, ClassFrequencyHook, IIFWeightsHook, NorCalLoss,  # noqa: E402
                       PosthocLogitAdjustmentLoss)
from test_det import toy  # noqa: E402,F401  (the generated toy LVIS fixture)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LVIS = os.path.join(REPO, "configs", "lvis")
COUNTS = [50, 20, 5, 1, 200]
ADDITIVE = {"balanced_softmax": "BalancedSoftmaxLoss", "posthoc_la": "PosthocLogitAdjustmentLoss",
            "norcal": "NorCalLoss", "seesaw": "SeesawLoss"}


def _logits(n=16, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c + 1, generator=g) * 3


def _log_prior():
    n = torch.tensor(COUNTS, dtype=torch.float64)
    return torch.log(n / n.sum()).float()


# ------------------------------------------------------------------- formulas by hand


def test_balanced_softmax_loss_and_activation_by_hand():
    loss = BalancedSoftmaxLoss(num_classes=5)
    loss.set_counts(COUNTS)
    z = _logits()
    labels = torch.tensor([0, 1, 2, 3, 4, 5] * 2 + [5, 5, 3, 2])
    lw = torch.ones(16)
    lw[3] = 0.0
    # foreground logits + log p_c, background logit + 0
    shifted = torch.cat([z[:, :5] + _log_prior(), z[:, 5:]], dim=1)
    per = -torch.log_softmax(shifted, -1)[torch.arange(16), labels]
    torch.testing.assert_close(loss(z, labels, lw, avg_factor=15.0), (per * lw).sum() / 15.0)
    torch.testing.assert_close(loss(z, labels, reduction_override="none"), per)
    # inference: the plain softmax of the raw logits
    torch.testing.assert_close(loss.get_activation(z), torch.softmax(z, -1))
    assert loss.get_cls_channels(5) == 6 and set(loss.get_accuracy(z, labels)) == {"acc"}


def test_posthoc_la_trains_as_softmax_and_adjusts_foreground_only():
    from mmdet.models.losses import CrossEntropyLoss

    loss = PosthocLogitAdjustmentLoss(num_classes=5, tau=0.7)
    loss.set_counts(COUNTS)
    z = _logits(seed=1)
    labels = torch.tensor([0, 1, 2, 3, 4, 5] * 2 + [5, 5, 3, 2])
    lw = torch.rand(16, generator=torch.Generator().manual_seed(2))
    ce = CrossEntropyLoss(use_sigmoid=False)
    torch.testing.assert_close(loss(z, labels, lw, avg_factor=9.0), ce(z, labels, lw, avg_factor=9.0))
    expected = torch.softmax(torch.cat([z[:, :5] - 0.7 * _log_prior(), z[:, 5:]], dim=1), -1)
    scores = loss.get_activation(z)
    torch.testing.assert_close(scores, expected)
    # background logit unchanged: log s_bg - log s_c = z_bg - (z_c - tau log p_c)
    torch.testing.assert_close(torch.log(scores[:, 5:]) - torch.log(scores[:, :5]),
                               z[:, 5:] - (z[:, :5] - 0.7 * _log_prior()), rtol=1e-4, atol=1e-4)
    zero = PosthocLogitAdjustmentLoss(num_classes=5, tau=0)
    zero.set_counts(COUNTS)
    torch.testing.assert_close(zero.get_activation(z), torch.softmax(z, -1))


def test_norcal_scores_by_hand():
    loss = NorCalLoss(num_classes=5, gamma=0.6)
    loss.set_counts(COUNTS)
    z = _logits(seed=3).double()
    p = torch.softmax(z, -1)
    q = p[:, :5] / torch.tensor(COUNTS, dtype=torch.float64) ** 0.6  # foreground p_c / n_c^gamma
    norm = q.sum(-1, keepdim=True) + p[:, 5:]
    scores = loss.get_activation(z)
    torch.testing.assert_close(scores[:, :5], q / norm)
    torch.testing.assert_close(scores[:, 5:], p[:, 5:] / norm)  # p_bg kept, only renormalised
    torch.testing.assert_close(scores.sum(-1), torch.ones(16, dtype=torch.float64))
    labels = torch.arange(16) % 6
    torch.testing.assert_close(loss(z.float(), labels), F.cross_entropy(z.float(), labels))


# ------------------------------------------------------------------ softmax checkpoints


def _head(loss_cls, num_classes=5):
    return MODELS.build(dict(type="Shared2FCBBoxHead", in_channels=4, fc_out_channels=8, roi_feat_size=7,
                             num_classes=num_classes, cls_predictor_cfg=dict(type="NormedLinear", tempearture=20),
                             loss_cls=loss_cls))


@pytest.mark.parametrize("loss_type", ["PosthocLogitAdjustmentLoss", "NorCalLoss", "BalancedSoftmaxLoss"])
def test_softmax_state_dict_loads_into_additive_heads(loss_type):
    softmax = _head(dict(type="CrossEntropyLoss", use_sigmoid=False))
    head = _head(dict(type=loss_type, num_classes=5))
    assert head.fc_cls.weight.shape == softmax.fc_cls.weight.shape == (6, 8)
    result = head.load_state_dict(softmax.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert not any("counts" in k for k in head.state_dict())  # non-persistent: never saved nor expected
    torch.testing.assert_close(head.fc_cls.weight, softmax.fc_cls.weight)
    # and back: an additive head's checkpoint is a softmax checkpoint
    head.loss_cls.set_counts(COUNTS)
    assert not softmax.load_state_dict(head.state_dict(), strict=True).missing_keys


def test_softmax_checkpoint_loads_into_full_posthoc_models_through_mmengine(tmp_path):
    """The full-size configs: MMEngine's checkpoint loader, strict, finds no missing / unexpected key."""
    from mmengine.runner.checkpoint import load_checkpoint

    softmax = MODELS.build(Config.fromfile(os.path.join(LVIS, "softmax_mask_rcnn.py")).model)
    path = str(tmp_path / "softmax.pth")
    torch.save({"state_dict": softmax.state_dict(), "meta": {}}, path)
    for name in ("posthoc_la_mask_rcnn.py", "norcal_mask_rcnn.py"):
        model = MODELS.build(Config.fromfile(os.path.join(LVIS, name)).model)
        load_checkpoint(model, path, map_location="cpu", strict=True)  # raises on any key mismatch
        torch.testing.assert_close(model.roi_head.bbox_head.fc_cls.weight, softmax.roi_head.bbox_head.fc_cls.weight)
    # control: strict loading does complain about a persistent buffer (IIFLoss's weights)
    iif_model = MODELS.build(Config.fromfile(os.path.join(LVIS, "iif_mask_rcnn.py")).model)
    with pytest.raises(RuntimeError, match="loss_cls.weights"):
        load_checkpoint(iif_model, path, map_location="cpu", strict=True)


# ------------------------------------------------------------------------------- hook


def _fake_runner(model, train_ann, data_root, eval_cat_ids, stage_loader="test_dataloader"):
    """What the hook reads of a Runner at test time: the model, the config's train_dataloader
    (never built) and the evaluated dataset's label order (inside a wrapper)."""
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type="ClassBalancedDataset", oversample_thr=1e-3,
                                                         dataset=dict(data_root=data_root, ann_file=train_ann)))))
    inner = types.SimpleNamespace(ann_file="val.json", cat_ids=eval_cat_ids)
    loader = types.SimpleNamespace(dataset=types.SimpleNamespace(dataset=inner))
    return types.SimpleNamespace(model=model, cfg=cfg, **{stage_loader: loader})


@pytest.mark.parametrize("stage", ["test", "val"])
def test_hook_fills_counts_before_test_from_the_training_file(toy, stage):
    ann = os.path.join(toy, "annotations", "lvis_v1_train.json")
    with open(ann) as fh:
        ids = [c["id"] for c in json.load(fh)["categories"]]
    order = ids[::-1]  # a label order other than sorted ids
    model = torch.nn.ModuleList([_head(dict(type="NorCalLoss", num_classes=20), 20),
                                 _head(dict(type="PosthocLogitAdjustmentLoss", num_classes=20,
                                            frequency="instance"), 20),
                                 _head(dict(type="IIFLoss", num_classes=20), 20)])
    runner = _fake_runner(model, "annotations/lvis_v1_train.json", toy, order, f"{stage}_dataloader")
    assert not any(h.loss_cls.ready for h in model)
    getattr(ClassFrequencyHook(), f"before_{stage}")(runner)
    f = iif.frequencies_from_annotations(ann).in_order(order)
    torch.testing.assert_close(model[0].loss_cls.counts, torch.as_tensor(f.image_counts, dtype=torch.float32))
    torch.testing.assert_close(model[1].loss_cls.counts, torch.as_tensor(f.instance_counts, dtype=torch.float32))
    # an IIF head on a softmax checkpoint becomes post-process IIF
    torch.testing.assert_close(model[2].loss_cls.weights,
                               iif.compute_weights(f.instance_counts, "base10", total=f.num_annotations))
    z = _logits(4, 20)
    torch.testing.assert_close(model[0].loss_cls.get_activation(z), iif.norcal_scores(z, f.image_counts, 1.0))


def test_hook_keeps_explicit_and_restored_sources(toy, tmp_path):
    ann = os.path.join(toy, "annotations", "lvis_v1_train.json")
    counts_file = tmp_path / "counts.json"
    counts_file.write_text(json.dumps(list(range(1, 21))))
    explicit = _head(dict(type="NorCalLoss", num_classes=20, counts_file=str(counts_file)), 20)
    restored = _head(dict(type="IIFLoss", num_classes=20), 20)
    restored.loss_cls.set_weights(torch.full((20,), 2.0))  # as from a checkpoint
    runner = _fake_runner(torch.nn.ModuleList([explicit, restored]), ann, None, None)
    ClassFrequencyHook().before_test(runner)
    torch.testing.assert_close(explicit.loss_cls.counts, torch.arange(1, 21, dtype=torch.float32))
    assert torch.equal(restored.loss_cls.weights, torch.full((20,), 2.0))
    # the old name is the same hook, in the registry too
    from mmdet.registry import HOOKS

    assert IIFWeightsHook is ClassFrequencyHook and HOOKS.get("IIFWeightsHook") is ClassFrequencyHook


def test_hook_without_a_training_file_says_what_to_do():
    model = torch.nn.ModuleList([_head(dict(type="NorCalLoss", num_classes=5))])
    runner = types.SimpleNamespace(model=model, cfg=Config(dict()), test_dataloader=None)
    with pytest.raises(ValueError, match="no train_dataloader dataset with an ann_file.*loss_cls.ann_file"):
        ClassFrequencyHook().before_test(runner)


def test_explicit_ann_file(toy):
    ann = os.path.join(toy, "annotations", "lvis_v1_train.json")
    loss = BalancedSoftmaxLoss(num_classes=20, ann_file=ann)
    f = iif.frequencies_from_annotations(ann)
    assert loss.ready and loss.explicit
    torch.testing.assert_close(loss.counts, torch.as_tensor(f.image_counts, dtype=torch.float32))
    with pytest.raises(ValueError, match="has 20 categories but the box head has num_classes=19"):
        NorCalLoss(num_classes=19, ann_file=ann)


# ------------------------------------------------------------------------- bad options


def test_bad_options_name_the_value(tmp_path):
    with pytest.raises(ValueError, match=r"PosthocLogitAdjustmentLoss: tau must be a finite number >= 0, got -0\.5"):
        PosthocLogitAdjustmentLoss(num_classes=5, tau=-0.5)
    with pytest.raises(ValueError, match=r"NorCalLoss: gamma must be a finite number >= 0, got -1"):
        NorCalLoss(num_classes=5, gamma=-1)
    with pytest.raises(ValueError, match=r"gamma must be a finite number >= 0, got nan"):
        NorCalLoss(num_classes=5, gamma=float("nan"))
    with pytest.raises(ValueError, match=r"unknown frequency 'box'"):
        NorCalLoss(num_classes=5, frequency="box")
    with pytest.raises(ValueError, match=r"has num_classes=5 but got 4 counts"):
        NorCalLoss(num_classes=5).set_counts([1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"zero training samples"):
        BalancedSoftmaxLoss(num_classes=3).set_counts([4, 0, 1])
    with pytest.raises(ValueError, match=r"negative counts \[-2\.0\]"):
        BalancedSoftmaxLoss(num_classes=3).set_counts([4, -2, 1])
    bad = tmp_path / "c.json"
    bad.write_text("[1, 2, 3]")
    with pytest.raises(ValueError, match=r"has 3 class counts but the box head has num_classes=5"):
        NorCalLoss(num_classes=5, counts_file=str(bad))
    with pytest.raises(RuntimeError, match="counts are not set: add dict\\(type='ClassFrequencyHook'\\)"):
        PosthocLogitAdjustmentLoss(num_classes=5).get_activation(_logits())
    with pytest.raises(RuntimeError, match="BalancedSoftmaxLoss class counts are not set"):
        BalancedSoftmaxLoss(num_classes=5)(_logits(), torch.zeros(16, dtype=torch.long))
    with pytest.raises(ValueError, match="box head num_classes=7 but NorCalLoss num_classes=5"):
        NorCalLoss(num_classes=5).get_cls_channels(7)


# ------------------------------------------------------------------------------ configs


def _cfg(path, tmp_path):
    """Config.fromfile; a toy config whose softmax_mbv2_toy.py base does not exist yet is read
    against softmax_r18_toy.py instead (same recipe, ResNet-18)."""
    text = open(path).read()
    if "softmax_mbv2_toy.py" in text and not os.path.isfile(os.path.join(LVIS, "toy", "softmax_mbv2_toy.py")):
        stand_in = tmp_path / os.path.basename(path)
        r18 = os.path.join(LVIS, "toy", "softmax_r18_toy.py")
        stand_in.write_text(text.replace("'./softmax_mbv2_toy.py'", repr(r18)))
        path = str(stand_in)
    return Config.fromfile(path)


NEW_CONFIGS = [os.path.join(LVIS, f"{m}_mask_rcnn.py") for m in ADDITIVE] + \
    [os.path.join(LVIS, "toy", f"{m}_mbv2_toy.py") for m in ADDITIVE]


@pytest.mark.parametrize("path", NEW_CONFIGS, ids=os.path.basename)
def test_new_configs_parse_and_build(path, tmp_path):
    from mmdet.utils import register_all_modules

    register_all_modules()
    assert path in glob.glob(os.path.join(LVIS, "**", "*.py"), recursive=True)  # test_det's glob covers it
    cfg = _cfg(path, tmp_path)
    assert cfg.custom_imports["imports"] == ["mmdet_ext"]
    method = next(m for m in ADDITIVE if os.path.basename(path).startswith(m))
    head = MODELS.build(cfg.model.roi_head.bbox_head)
    assert type(head.loss_cls).__name__ == ADDITIVE[method]
    assert head.fc_cls.tempearture == 20  # softmax-family baselines keep mmdet's scale
    hooks = [h["type"] for h in cfg.custom_hooks]
    assert hooks == ([] if method == "seesaw" else ["ClassFrequencyHook"])
    n = head.num_classes
    if method == "seesaw":
        assert (head.loss_cls.p, head.loss_cls.q, head.loss_cls.num_classes) == (0.8, 2.0, n)
        assert head.fc_cls.out_features == n + 2  # seesaw's objectness channel
    else:
        assert head.fc_cls.out_features == n + 1  # the softmax head's shape


def test_full_size_baselines_keep_the_softmax_recipe():
    base = Config.fromfile(os.path.join(LVIS, "softmax_mask_rcnn.py"))
    for m in ADDITIVE:
        cfg = Config.fromfile(os.path.join(LVIS, f"{m}_mask_rcnn.py"))
        assert cfg.model.test_cfg == base.model.test_cfg and cfg.train_cfg == base.train_cfg
        assert cfg.train_dataloader.dataset.oversample_thr == 1e-3
        assert cfg.model.roi_head.mask_head == base.model.roi_head.mask_head


def test_cosine_temperature_iif_8_softmax_20():
    for name in ("iif_mask_rcnn.py", "iif_cascade_mask_rcnn.py", "iif_htc.py"):
        heads = Config.fromfile(os.path.join(LVIS, name)).model.roi_head.bbox_head
        heads = heads if isinstance(heads, list) else [heads]
        assert [h.cls_predictor_cfg.tempearture for h in heads] == [8] * len(heads), name
    for name in ("softmax_mask_rcnn.py", os.path.join("toy", "softmax_r18_toy.py")):
        assert Config.fromfile(os.path.join(LVIS, name)).model.roi_head.bbox_head.cls_predictor_cfg.tempearture == 20
    assert Config.fromfile(os.path.join(LVIS, "toy", "iif_r18_toy.py")).model.roi_head.bbox_head \
        .cls_predictor_cfg.tempearture == 8
    # built: mmdet's NormedLinear really gets the value
    head = MODELS.build(Config.fromfile(os.path.join(LVIS, "iif_mask_rcnn.py")).model.roi_head.bbox_head)
    assert head.fc_cls.tempearture == 8


LINEAR_IIF = sorted(glob.glob(os.path.join(LVIS, "ablation", "*.py"))) + [os.path.join(LVIS, "iif_raw_random_1x.py")]


@pytest.mark.parametrize("path", LINEAR_IIF, ids=os.path.basename)
def test_linear_iif_fc_cls_constant_init_takes_effect(path):
    cfg = Config.fromfile(path)
    head = MODELS.build(cfg.model.roi_head.bbox_head)
    assert type(head.fc_cls) is torch.nn.Linear
    head.init_weights()
    assert torch.all(head.fc_cls.weight == 0.001) and torch.all(head.fc_cls.bias == 0)


def test_softmax_random_uses_the_authors_constant_init():
    """The authors' r50_4x4_1x_softmax.py: Constant(0.001, bias=-6.5) on fc_cls (docs/FIDELITY.md)."""
    head = MODELS.build(Config.fromfile(os.path.join(LVIS, "softmax_random_1x.py")).model.roi_head.bbox_head)
    head.init_weights()
    assert torch.all(head.fc_cls.weight == 0.001) and torch.all(head.fc_cls.bias == -6.5)
    # the shared FCs and the box regressor keep their own init (not the constant)
    assert not torch.all(head.fc_reg.weight == 0.001)
