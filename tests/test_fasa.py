"""FASA (mmdet_ext/fasa.py): class statistics, virtual features in the loss, sampling rates,
config checks, configs and checkpoints. Small heads on CPU; one tiny Mask R-CNN pass."""
import glob
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from _det import require_det  # noqa: E402

require_det()

from mmengine.config import Config  # noqa: E402

import mmdet_ext  # noqa: E402,F401  (registers the plugin)
from mmdet_ext.fasa import (FASAHook, FASAShared2FCBBoxHead, adapt_rates, initial_rates,  # noqa: E402
                            update_class_statistics)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASA_CONFIGS = [os.path.join(REPO, "configs", "lvis", "iif_fasa_mask_rcnn.py"),
                os.path.join(REPO, "configs", "lvis", "toy", "iif_fasa_r18_toy.py")]
C, D = 5, 8  # classes, classifier input size of the small heads


def _head(fasa_cfg=None, loss="ce", cosine=False):
    from mmdet.registry import MODELS

    loss_cls = dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0) if loss == "ce" else \
        dict(type="IIFLoss", num_classes=C, variant="base10", frequency="instance")
    cfg = dict(type="FASAShared2FCBBoxHead", in_channels=4, fc_out_channels=D, roi_feat_size=3, num_classes=C,
               loss_cls=loss_cls, fasa_cfg=dict(rates=[1.0] * C) if fasa_cfg is None else fasa_cfg)
    if cosine:
        cfg["cls_predictor_cfg"] = dict(type="NormedLinear", tempearture=20)
    head = MODELS.build(cfg)
    if loss == "iif":
        head.loss_cls.set_weights(torch.linspace(0.5, 3.0, C))
    return head.train()


def _step(head, feats, labels):
    """One loss_and_target call on known classifier inputs ``feats`` (N, D) with targets ``labels``
    (N,), ``C`` = background: the real path (fc_cls pre-hook -> loss_and_target), with mmdet's target
    assignment replaced by the given labels."""
    n = len(labels)
    labels = torch.as_tensor(labels)
    targets = (labels, torch.ones(n), torch.zeros(n, 4), torch.zeros(n, 4))
    head.get_targets = lambda *args, **kwargs: targets
    cls_score = head.fc_cls(feats)
    rois = torch.zeros(n, 5)
    return head.loss_and_target(cls_score, torch.zeros(n, 4 * C), rois, [], None)["loss_bbox"]


def _hand_statistics(batches, momentum):
    """The FASA code's rule in plain numpy: per class batch mean / unbiased variance, first batch
    sets, later ones blend."""
    mean, var, seen = np.zeros((C, D)), np.zeros((C, D)), np.zeros(C, bool)
    for feats, labels in batches:
        for c in np.unique(labels[labels < C]):
            x = feats[labels == c].astype(np.float64)
            m, v = x.mean(0), (x.var(0, ddof=1) if len(x) > 1 else np.zeros(D))
            if seen[c]:
                mean[c], var[c] = momentum * m + (1 - momentum) * mean[c], momentum * v + (1 - momentum) * var[c]
            else:
                mean[c], var[c], seen[c] = m, v, True
    return mean, var, seen


# ------------------------------------------------------------------ 1. statistics


@pytest.mark.parametrize("momentum", [0.1, 0.35])
def test_statistics_are_the_running_mean_and_variance(momentum):
    head = _head(dict(rates=[0.0] * C, momentum=momentum))
    g = torch.Generator().manual_seed(0)
    # class 3 first appears at step 2, class 4 only once with a single RoI, C = background
    label_sets = [[0, 0, 1, 1, 1, 5, 5], [0, 1, 2, 2, 5], [0, 0, 0, 3, 3, 1, 5], [4, 2, 2, 5, 5], [0, 3, 1, 1]]
    batches = []
    for labels in label_sets:
        feats = torch.randn(len(labels), D, generator=g) * 0.5 + 0.2  # O(1): float32 buffers hold 1e-6
        _step(head, feats, labels)
        batches.append((feats.numpy(), np.asarray(labels)))
    mean, var, seen = _hand_statistics(batches, momentum)
    np.testing.assert_allclose(head.fasa_mean.numpy(), mean, atol=1e-6, rtol=0)
    np.testing.assert_allclose(head.fasa_var.numpy(), var, atol=1e-6, rtol=0)
    assert head.fasa_count.tolist() == [4, 4, 2, 2, 1] and (head.fasa_count > 0).numpy().tolist() == seen.tolist()
    assert head.fasa_var[4].abs().max() == 0  # one RoI: variance 0, as the FASA code


def test_statistics_untouched_in_eval_and_by_negatives():
    head = _head()
    _step(head, torch.randn(3, D), [C, C, C])  # background only
    assert head.fasa_count.sum() == 0
    head.eval()
    _step(head, torch.randn(2, D), [0, 1])
    assert head.fasa_count.sum() == 0 and head.fasa_mean.abs().sum() == 0


# ------------------------------------------------------------ 2. the virtual loss


@pytest.mark.parametrize("loss,cosine", [("ce", False), ("iif", True)])
def test_virtual_features_enter_the_classification_loss(loss, cosine):
    heads = {w: _head(dict(rates=[1.0] * C, loss_weight=w), loss=loss, cosine=cosine) for w in (0.1, 0.0)}
    heads[0.0].load_state_dict(heads[0.1].state_dict())  # same fc_cls
    g = torch.Generator().manual_seed(1)
    warm = torch.randn(6, D, generator=g)
    real = torch.randn(4, D, generator=g)
    losses, grads = {}, {}
    for w, head in heads.items():
        _step(head, warm, [3, 3, 4, 4, 0, C])  # epoch 0: statistics only, no virtual features
        assert "loss_cls_fasa" not in _step(head, warm[:1] * 0, [C])
        head.epoch = 1
        torch.manual_seed(0)
        out = _step(head, real, [0, 0, C, C])  # no real RoI of classes 3 and 4
        losses[w] = sum(v for k, v in out.items() if "loss" in k)
        head.fc_cls.weight.grad = None
        losses[w].backward()
        grads[w] = head.fc_cls.weight.grad.clone()
    assert heads[0.1].fasa_count.tolist() == [2, 0, 0, 1, 1]
    assert losses[0.1] > losses[0.0] + 1e-4
    # rows 3, 4: classes with virtual features and no real RoI in the batch get their own gradient
    extra = (grads[0.1] - grads[0.0]).abs().sum(1)
    assert (extra[[0, 3, 4]] > 1e-6).all(), extra  # zero if the virtual features were not in the loss


def test_virtual_gradient_is_the_cross_entropy_gradient_of_the_class_mean():
    """var = 0 and one class drawn: d loss_cls_fasa / d W_c = w * (p_c - 1) * mean_c, with p the
    softmax of fc_cls(mean_c) (linear classifier, plain cross-entropy)."""
    head = _head(dict(rates=[0.0, 0.0, 1.0, 0.0, 0.0], loss_weight=0.1))
    mu = torch.randn(D)
    head.fasa_mean[2], head.fasa_count[2], head.epoch = mu, 1, 1
    out = _step(head, torch.randn(2, D), [C, C])
    head.fc_cls.weight.grad = None
    out["loss_cls_fasa"].backward()
    p = torch.softmax(head.fc_cls(mu[None]), -1)[0].detach()
    torch.testing.assert_close(out["loss_cls_fasa"].detach(), 0.1 * -torch.log(p[2]))
    torch.testing.assert_close(head.fc_cls.weight.grad[2], 0.1 * (p[2] - 1) * mu)
    torch.testing.assert_close(head.fc_cls.weight.grad[0], 0.1 * p[0] * mu)


def test_no_virtual_loss_before_start_epoch_or_at_test_time():
    head = _head(dict(rates=[1.0] * C, start_epoch=2))
    _step(head, torch.randn(3, D), [0, 1, 2])
    head.epoch = 1
    assert "loss_cls_fasa" not in _step(head, torch.randn(3, D), [0, 1, C])
    head.epoch = 2
    assert "loss_cls_fasa" in _step(head, torch.randn(3, D), [0, 1, C])
    head.eval()
    assert "loss_cls_fasa" not in _step(head, torch.randn(3, D), [0, 1, C])
    assert head._cls_feats is None


def test_rates_must_be_set_to_train():
    head = _head(dict())
    with pytest.raises(RuntimeError, match="FASA sampling rates are not set.*FASAHook"):
        _step(head, torch.randn(2, D), [0, C])


# ------------------------------------------------------------ 3. sampling


def test_virtual_features_are_drawn_from_the_class_statistics():
    head = _head(dict(rates=[1.0, 1.0, 0.0, 1.0, 1.0]))
    mu = torch.randn(C, D)
    sd = torch.rand(C, D) + 0.5
    head.fasa_mean.copy_(mu)
    head.fasa_var.copy_(sd ** 2)
    head.fasa_var[1] = 0.0
    head.fasa_count.copy_(torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0]))  # class 4: no statistics yet
    torch.manual_seed(0)
    draws = [head.sample_virtual() for _ in range(4000)]
    for feats, labels in draws:
        assert labels.tolist() == [0, 1, 3]  # rate 1 and statistics; rate 0 (2) and unseen (4) never
        torch.testing.assert_close(feats[1], mu[1])  # variance 0: exactly the mean
    x = torch.stack([f[0] for f, _ in draws]).double()
    assert (x.mean(0) - mu[0]).abs().max() < 4 * sd[0].max() / 4000 ** 0.5
    torch.testing.assert_close(x.std(0).float(), sd[0], atol=0.06, rtol=0)


def test_each_class_is_drawn_with_its_rate():
    head = _head(dict(rates=[0.1, 0.5, 0.9, 0.0, 1.0]))
    head.fasa_count.fill_(1)
    torch.manual_seed(0)
    hits = torch.zeros(C)
    for _ in range(4000):
        hits += torch.bincount(head.sample_virtual()[1], minlength=C)
    np.testing.assert_allclose((hits / 4000).numpy(), [0.1, 0.5, 0.9, 0.0, 1.0], atol=0.03)


# ------------------------------------------------------------ 4. rates


def test_initial_rates_follow_inverse_instance_counts():
    torch.testing.assert_close(initial_rates([1, 3, 0, 6]), torch.tensor([2 / 3, 2 / 9, 0.0, 1 / 9]))
    torch.testing.assert_close(initial_rates([1, 3, 0, 6], power=2.0, scale=3.0),
                               torch.tensor([1.0, 3 * (2 / 9) ** 2, 0.0, 3 * (1 / 9) ** 2]))  # clamped at 1
    head = _head(dict(instance_counts=[1, 3, 0, 6, 2]))
    assert bool(head.fasa_rate_set) and abs(float(head.fasa_rate.sum()) - 1.0) < 1e-6


def test_adaptation_rule_by_hand():
    rates = torch.tensor([0.5, 0.5, 0.5, 0.95, 0.2])
    prev = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 9.0])
    now = torch.tensor([2.0, 0.5, 1.0, 0.5, 1.5, 0.0])
    singles = [torch.tensor([c]) for c in range(C)]
    torch.testing.assert_close(adapt_rates(rates, prev, now, singles),
                               torch.tensor([0.45, 0.55, 0.5, 1.0, 0.18]))  # 0.95 * 1.1 clamped to 1
    # groups: {0, 1} summed 2.5 > 2 -> both down; {2, 3} 1.5 < 2 -> both up; {4} up 1.5 > 1 -> down
    groups = [torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4])]
    torch.testing.assert_close(adapt_rates(rates, prev, now, groups, up=1.2, down=0.5),
                               torch.tensor([0.25, 0.25, 0.6, 1.0, 0.1]))


def test_head_adaptation_normalises_by_all_rois_and_first_pass_only_records():
    head = _head(dict(rates=[0.5] * C, group_by="class"))
    counts = torch.tensor([2.0, 2.0, 2.0, 2.0, 2.0, 10.0])
    head.adapt_sampling_rates(torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 5.0]), counts)
    assert head.fasa_rate.tolist() == [0.5] * C  # first pass: record only
    torch.testing.assert_close(head.fasa_prev_loss, torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 5.0]) / 20)
    # same sums over twice the RoIs: every class's normalised loss halves -> up, except class 4 (0 -> 0)
    head.adapt_sampling_rates(torch.tensor([1.0, 3.0, 1.0, 1.0, 0.0, 5.0]), counts * 2)
    torch.testing.assert_close(head.fasa_rate, torch.tensor([0.55, 0.45, 0.55, 0.55, 0.5]))


def test_affinity_groups_put_close_class_means_together():
    head = _head(dict(rates=[0.5] * C))
    centres = torch.tensor([[0.0] * D, [10.0] * D])
    head.fasa_mean.copy_(centres[[0, 0, 1, 1, 0]] + 0.01 * torch.randn(C, D))
    groups = sorted(sorted(g.tolist()) for g in head.class_groups())
    assert groups == [[0, 1, 4], [2, 3]]


def test_recording_sums_the_per_roi_loss_per_label():
    head = _head()
    head.eval()
    head.start_recording()
    feats = torch.randn(5, D)
    labels = torch.tensor([0, 0, 2, C, C])
    _step(head, feats, labels.tolist())
    loss_sum, n = head.stop_recording()
    per = torch.nn.functional.cross_entropy(head.fc_cls(feats), labels, reduction="none").detach()
    torch.testing.assert_close(loss_sum, torch.zeros(C + 1).index_add_(0, labels, per))
    assert n.tolist() == [2, 0, 1, 0, 0, 2] and not head.recording


# ------------------------------------------------------------ 5. config checks


@pytest.mark.parametrize("cfg,match", [
    (dict(momentum=0.0), r"fasa_cfg.momentum must be in \(0, 1\], got 0.0"),
    (dict(momentum=1.5), r"fasa_cfg.momentum must be in \(0, 1\], got 1.5"),
    (dict(momentum="0.1"), r"fasa_cfg.momentum must be a finite number, got '0.1'"),
    (dict(loss_weight=-0.1), r"fasa_cfg.loss_weight must be >= 0, got -0.1"),
    (dict(rate_up=0.9), r"fasa_cfg.rate_up must be >= 1 .*got 0.9"),
    (dict(rate_down=0.0), r"fasa_cfg.rate_down must be in \(0, 1\] .*got 0.0"),
    (dict(rate_power=float("nan")), r"fasa_cfg.rate_power must be a finite number, got nan"),
    (dict(start_epoch=-1), r"fasa_cfg.start_epoch must be an int >= 0, got -1"),
    (dict(group_by="kmeans"), r"fasa_cfg.group_by must be 'affinity' or 'class', got 'kmeans'"),
    (dict(rates=[0.1, -0.2, 0.0, 0.0, 0.0]), r"fasa_cfg.rates must be in \[0, 1\], got -0.2 for class 1"),
    (dict(rates=[0.1, 1.2, 0.0, 0.0, 0.0]), r"fasa_cfg.rates must be in \[0, 1\], got 1.2 for class 1"),
    (dict(rates=[0.1] * 4), r"fasa_cfg.rates needs 5 values \(num_classes\), got shape \(4,\)"),
    (dict(instance_counts=[3, 2, -1, 1, 1]), r"fasa_cfg.instance_counts must be in \[0, inf\), got -1.0 for class 2"),
    (dict(decay_ratio=0.1), r"unknown fasa_cfg keys \['decay_ratio'\]"),
])
def test_bad_config_is_refused(cfg, match):
    with pytest.raises(ValueError, match=match):
        _head(cfg)


def test_bad_rates_refused_by_set_rates():
    head = _head()
    with pytest.raises(ValueError, match=r"rates must be in \[0, 1\], got min -0.5"):
        head.set_rates(torch.tensor([0.1, -0.5, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"num_classes=5 but got \(3,\) rates"):
        head.set_rates(torch.zeros(3))


# ------------------------------------------------------------ 6. configs


def test_fasa_configs_parse_and_build():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    # tests/test_det.py's test_every_lvis_config_parses_and_builds globs configs/lvis/**: it builds these too
    lvis_configs = glob.glob(os.path.join(REPO, "configs", "lvis", "**", "*.py"), recursive=True)
    assert set(FASA_CONFIGS) <= set(lvis_configs)
    for path in FASA_CONFIGS:
        cfg = Config.fromfile(path)
        assert cfg.custom_imports["imports"] == ["mmdet_ext"]
        assert [h["type"] for h in cfg.custom_hooks] == ["IIFWeightsHook", "FASAHook"]
        model = MODELS.build(cfg.model)
        head = model.roi_head.bbox_head
        assert isinstance(head, FASAShared2FCBBoxHead) and type(head.loss_cls).__name__ == "IIFLoss"
        assert type(head.fc_cls).__name__ == "NormedLinear"
        assert head.fasa_mean.shape == (head.num_classes, head.cls_last_dim)
        assert (head.fasa_cfg["momentum"], head.fasa_cfg["loss_weight"], head.fasa_cfg["start_epoch"]) == (0.1, 0.1, 1)
        assert (head.fasa_cfg["rate_up"], head.fasa_cfg["rate_down"]) == (1.1, 0.9)
        # the adaptation pass reads the val split with the training pipeline
        loader = FASAHook.default_dataloader_cfg(cfg)
        assert loader.dataset.ann_file == cfg.val_dataloader.dataset.ann_file
        assert loader.dataset.pipeline == cfg.train_dataloader.dataset.dataset.pipeline
    full = Config.fromfile(FASA_CONFIGS[0])
    assert full.model.test_cfg.rcnn.nms.iou_threshold == 0.3 and full.model.test_cfg.rcnn.mask_thr_binary == 0.4
    assert full.model.roi_head.mask_head.predictor_cfg.type == "NormedConv2d"
    assert full.train_dataloader.dataset.type == "ClassBalancedDataset" and full.train_cfg.max_epochs == 24
    assert full.model.roi_head.bbox_head.loss_cls.variant == "base10"


def test_hook_sets_rates_from_training_counts_and_the_epoch(tmp_path):
    ann = {"images": [{"id": i} for i in range(4)], "categories": [{"id": k} for k in (7, 3, 5, 9, 1)],
           "annotations": [{"id": j, "image_id": j % 4, "category_id": c}
                           for j, c in enumerate([7] * 1 + [3] * 2 + [5] * 4 + [9] * 8 + [1] * 1)]}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(ann))
    head = _head(dict())
    cat_ids = [7, 3, 5, 9, 1]  # the dataset's label order
    runner = SimpleNamespace(model=head, epoch=3,
                             train_dataloader=SimpleNamespace(dataset=SimpleNamespace(ann_file=str(path),
                                                                                     cat_ids=cat_ids)))
    FASAHook().before_train(runner)
    torch.testing.assert_close(head.fasa_rate, initial_rates([1, 2, 4, 8, 1]))
    head.fasa_rate[0] = 0.123  # a resumed run keeps its rates
    FASAHook().before_train(runner)
    assert abs(float(head.fasa_rate[0]) - 0.123) < 1e-7
    FASAHook().before_train_epoch(runner)
    assert head.epoch == 3


# ------------------------------------------------------------ 7. checkpoints


def test_state_dict_round_trip_keeps_the_statistics():
    head = _head(dict(rates=[0.3] * C, group_by="class"))
    g = torch.Generator().manual_seed(2)
    for labels in ([0, 1, 1, 2, C], [0, 3, 3, C]):
        _step(head, torch.randn(len(labels), D, generator=g), labels)
    head.adapt_sampling_rates(torch.rand(C + 1), torch.ones(C + 1))
    state = head.state_dict()
    assert {"fasa_mean", "fasa_var", "fasa_count", "fasa_rate", "fasa_rate_set", "fasa_prev_loss"} <= set(state)
    assert "fasa_loss_sum" not in state  # adaptation-pass accumulator only
    fresh = _head(dict())
    assert not bool(fresh.fasa_rate_set)
    fresh.load_state_dict(state)
    for k in ("fasa_mean", "fasa_var", "fasa_count", "fasa_rate", "fasa_prev_loss"):
        assert torch.equal(getattr(fresh, k), getattr(head, k)), k
    assert bool(fresh.fasa_rate_set) and fresh.fasa_count.sum() > 0
    _step(fresh, torch.randn(2, D), [0, C])  # trains without FASAHook's initial rates


# ------------------------------------------------------------ the whole detector


def test_mask_rcnn_loss_and_adaptation_pass():
    """The toy FASA config's Mask R-CNN on one small image: real RoIs reach the statistics through
    mmdet's own RoI head, loss_cls_fasa is in the losses, and FASAHook's pass records the loss."""
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData

    register_all_modules()
    cfg = Config.fromfile(FASA_CONFIGS[1])
    cfg.model.train_cfg.rpn_proposal.max_per_img = 50
    cfg.model.train_cfg.rcnn.sampler.num = 32
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    head = model.roi_head.bbox_head
    head.loss_cls.set_weights(torch.ones(head.num_classes))
    head.set_rates(torch.ones(head.num_classes))
    sample = DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64),
                                         batch_input_shape=(64, 64), scale_factor=(1.0, 1.0)))
    from mmdet.structures.mask import BitmapMasks
    masks = np.zeros((2, 64, 64), np.uint8)
    masks[0, 4:30, 6:40], masks[1, 30:60, 20:60] = 1, 1
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[6.0, 4, 40, 30], [20, 30, 60, 60]]),
                                       labels=torch.tensor([3, 11]), masks=BitmapMasks(masks, 64, 64))
    data = dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)], data_samples=[sample])
    model.train()
    losses = model(**model.data_preprocessor(data, True), mode="loss")
    assert "loss_cls_fasa" not in losses  # epoch 0
    assert head.fasa_count[3] == 1 and head.fasa_count[11] == 1 and head.fasa_count.sum() == 2
    head.epoch = 1
    losses = model(**model.data_preprocessor(data, True), mode="loss")
    assert "loss_cls_fasa" in losses and float(losses["loss_cls_fasa"]) > 0
    # FASAHook's adaptation pass over a one-batch loader, eval mode: records, no statistics update
    hook = FASAHook()
    hook._loader = [data]
    before = head.fasa_mean.clone()
    runner = SimpleNamespace(model=model, epoch=0)
    hook.after_train_epoch(runner)
    assert model.training and torch.equal(head.fasa_mean, before)
    assert head.fasa_prev_loss[[3, 11, head.num_classes]].min() > 0 and head.fasa_prev_loss.sum() > 0
