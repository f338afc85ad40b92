"""The MMDetection plugin: IIF loss/activation, weights, the toy LVIS, configs, training and LVIS evaluation.

Needs the detection stack (`make test` installs it and sets IIF_REQUIRE_DET=1, so a broken
install fails here instead of skipping).
"""
import copy
import glob
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _det import require_det  # noqa: E402

require_det()

from mmengine.config import Config  # noqa: E402

import iif  # noqa: E402
import mmdet_ext  # noqa: E402,F401  (registers the plugin)
from iif.data.fetch import default_data_root  # noqa: E402
from iif.data.toy_lvis import ToyLVISSpec, lvis_frequency, make_toy_lvis  # noqa: E402
from mmdet_ext import IIFLoss, evaluate_lvis  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LVIS_CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "lvis", "**", "*.py"), recursive=True))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A small generated toy LVIS (real Fashion-MNIST / MNIST glyphs)."""
    root = default_data_root()
    if not os.path.isdir(os.path.join(root, "mnist")):
        pytest.skip("Fashion-MNIST / MNIST not fetched (make setup fetches them)")
    out = str(tmp_path_factory.mktemp("toy") / "toy_lvis")
    spec = ToyLVISSpec(n_max=24, imbalance=12.0, train_pool=40, val_per_category=2, min_size=96, max_size=128)
    make_toy_lvis(out, os.path.join(root, "fashion_mnist"), os.path.join(root, "mnist"), spec)
    return out


def _load(toy, split="train"):
    with open(os.path.join(toy, "annotations", f"lvis_v1_{split}.json")) as fh:
        return json.load(fh)


# ------------------------------------------------------------------------ toy LVIS


def test_toy_lvis_is_valid_lvis(toy):
    from pycocotools import mask as mask_utils

    train, val = _load(toy), _load(toy, "val")
    assert len(train["categories"]) == 20 and train["categories"] == val["categories"]
    # The file's own counts equal the counts from the annotations (verify=True checks both fields).
    freqs = iif.frequencies_from_annotations(train, verify=True)
    for c, n in zip(train["categories"], freqs.image_counts):
        assert c["frequency"] == lvis_frequency(int(n))
    assert {c["frequency"] for c in train["categories"]} == {"r", "c"}  # small spec: no class > 100 images
    present = {}
    for a in train["annotations"]:
        present.setdefault(a["image_id"], set()).add(a["category_id"])
        m = mask_utils.decode(a["segmentation"])
        ys, xs = np.nonzero(m)
        assert m.sum() == a["area"]
        assert a["bbox"] == [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
    for img in train["images"]:
        assert not set(img["neg_category_ids"]) & present[img["id"]]
        assert img["coco_url"].endswith(img["file_name"]) and os.path.isfile(os.path.join(toy, img["file_name"]))
    assert lvis_frequency(10) == "r" and lvis_frequency(11) == "c" and lvis_frequency(101) == "f"


def test_toy_lvis_refuses_existing_dir(toy):
    with pytest.raises(FileExistsError, match="exists"):
        make_toy_lvis(toy, "x", "y")


# ------------------------------------------------------------------------ IIF loss


def _loss(num_classes=5, weights=None, **kw):
    loss = IIFLoss(num_classes=num_classes, **kw)
    loss.set_weights(torch.linspace(0.5, 3.0, num_classes) if weights is None else weights)
    return loss


def test_loss_value_and_activation_match_core_math():
    loss = _loss()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(12, 6, generator=g)
    labels = torch.tensor([0, 1, 2, 3, 4, 5] * 2)
    label_weights = torch.ones(12)
    label_weights[0] = 0.0
    full = torch.cat([loss.weights, torch.ones(1)])
    per = F.cross_entropy(z * full, labels, reduction="none")
    torch.testing.assert_close(loss(z, labels, label_weights, avg_factor=11.0), (per * label_weights).sum() / 11.0)
    torch.testing.assert_close(loss.get_activation(z), torch.softmax(z * full, dim=-1))
    torch.testing.assert_close(loss.get_activation(z)[:, -1], torch.softmax(z * full, -1)[:, -1])
    assert loss.get_cls_channels(5) == 6
    assert set(loss.get_accuracy(z, labels)) == {"acc"}
    with pytest.raises(ValueError, match="box head num_classes=7 but IIFLoss num_classes=5"):
        loss.get_cls_channels(7)


def test_loss_errors():
    with pytest.raises(ValueError, match=r"unknown IIF variant 'log'"):
        IIFLoss(num_classes=3, variant="log")
    with pytest.raises(ValueError, match=r"unknown frequency 'box'"):
        IIFLoss(num_classes=3, frequency="box")
    with pytest.raises(RuntimeError, match="IIFLoss weights are not set"):
        IIFLoss(num_classes=3)(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"num_classes=3 but got \(4,\) weights"):
        IIFLoss(num_classes=3).set_weights(torch.ones(4))


def test_weights_restored_from_state_dict():
    trained = _loss()
    fresh = IIFLoss(num_classes=5)
    fresh.load_state_dict(trained.state_dict())
    assert fresh.ready and torch.equal(fresh.weights, trained.weights)


@pytest.mark.parametrize("variant", iif.VARIANTS)
@pytest.mark.parametrize("frequency", ["image", "instance"])
def test_head_weights_equal_compute_weights(toy, variant, frequency):
    """The box head's multipliers are iif.compute_weights (K = images / annotations) plus a 1 for background."""
    from mmdet.registry import MODELS

    ann = os.path.join(toy, "annotations", "lvis_v1_train.json")
    head = MODELS.build(dict(type="Shared2FCBBoxHead", in_channels=8, fc_out_channels=16, roi_feat_size=7,
                             num_classes=20, loss_cls=dict(type="IIFLoss", num_classes=20, variant=variant,
                                                           frequency=frequency, ann_file=ann)))
    f = iif.frequencies_from_annotations(ann)
    counts, total = (f.image_counts, f.num_images) if frequency == "image" else (f.instance_counts, f.num_annotations)
    assert total == (len(_load(toy)["images"]) if frequency == "image" else len(_load(toy)["annotations"]))
    expected = iif.compute_weights(counts, variant, total=total)
    torch.testing.assert_close(head.loss_cls.weights, expected)
    assert head.fc_cls.out_features == 21
    multipliers = head.loss_cls.adjust(torch.ones(1, 21))[0]
    torch.testing.assert_close(multipliers[:20], expected)
    assert multipliers[20].item() == 1.0


def test_weights_file_and_mismatch(tmp_path, toy):
    from iif.weights_io import save_weights_csv

    ann = os.path.join(toy, "annotations", "lvis_v1_train.json")
    w = iif.weights_from_annotations(ann, "raw", kind="image")
    save_weights_csv(str(tmp_path / "w.csv"), w)
    torch.testing.assert_close(IIFLoss(num_classes=20, weights_file=str(tmp_path / "w.csv")).weights, w)
    with pytest.raises(ValueError, match=r"has 20 class weights but the model has num_classes=19"):
        IIFLoss(num_classes=19, weights_file=str(tmp_path / "w.csv"))
    with pytest.raises(ValueError, match=r"has 20 categories but the box head has num_classes=1203"):
        IIFLoss(num_classes=1203, ann_file=ann)


@pytest.mark.parametrize("variant", iif.VARIANTS)
def test_all_negative_logits_stay_below_threshold(toy, variant):
    """Paper Fig. 1: multiplying keeps a negative logit negative, so a background proposal (every
    foreground logit negative, background e^3 ahead) keeps every class score below a 0.05
    threshold under IIF, whatever the weights; an additive adjustment lifts rare classes above it."""
    ann = os.path.join(toy, "annotations", "lvis_v1_train.json")
    loss = IIFLoss(num_classes=20, variant=variant, frequency="instance", ann_file=ann)
    assert (loss.weights > 0).all()
    g = torch.Generator().manual_seed(0)
    z = -torch.rand(64, 21, generator=g) * 3  # foreground logits in (-3, 0]
    z[:, -1] = 3.0
    thr = 0.05
    adjusted = loss.adjust(z)
    assert torch.equal(torch.sign(adjusted), torch.sign(z))
    assert loss.get_activation(z)[:, :-1].max() < thr
    f = iif.frequencies_from_annotations(ann)
    prior = np.log(f.instance_counts / f.instance_counts.sum())
    la = z.clone()
    la[:, :-1] -= torch.as_tensor(prior, dtype=torch.float32)  # post-hoc logit adjustment, tau = 1
    assert torch.softmax(la, -1)[:, :-1].max() > thr


# ------------------------------------------------------------------------- configs


def _cfg(path):
    return Config.fromfile(path)


# Box classification loss of each config by file-name prefix; "IIFLoss" for the rest.
LOSS_BY_PREFIX = (("balanced_softmax", "BalancedSoftmaxLoss"), ("posthoc_la", "PosthocLogitAdjustmentLoss"),
                  ("norcal", "NorCalLoss"), ("seesaw", "SeesawLoss"), ("softmax", "CrossEntropyLoss"))


def test_every_lvis_config_parses_and_builds():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    assert len(LVIS_CONFIGS) >= 22
    for path in LVIS_CONFIGS:
        cfg = _cfg(path)
        assert cfg.custom_imports["imports"] == ["mmdet_ext"], path
        model = MODELS.build(cfg.model)
        heads = model.roi_head.bbox_head if isinstance(model.roi_head.bbox_head, torch.nn.ModuleList) \
            else [model.roi_head.bbox_head]
        name = os.path.basename(path)
        # additive baselines by prefix (balanced_softmax before the plain softmax), then IIF
        expected = next((loss for prefix, loss in LOSS_BY_PREFIX if name.startswith(prefix)), "IIFLoss")
        for head in heads:
            assert type(head.loss_cls).__name__ == expected, path


def test_best_config_is_the_papers_recipe():
    cfg = _cfg(os.path.join(REPO, "configs", "lvis", "iif_mask_rcnn.py"))
    head = cfg.model.roi_head.bbox_head
    assert (head.loss_cls.variant, head.loss_cls.frequency) == ("base10", "instance")
    assert head.cls_predictor_cfg.type == "NormedLinear" and head.cls_predictor_cfg.tempearture == 8  # authors' scale
    assert cfg.model.roi_head.mask_head.predictor_cfg.type == "NormedConv2d"
    assert cfg.model.test_cfg.rcnn.nms.iou_threshold == 0.3 and cfg.model.test_cfg.rcnn.mask_thr_binary == 0.4
    assert cfg.train_dataloader.dataset.type == "ClassBalancedDataset"
    assert cfg.train_dataloader.dataset.oversample_thr == 1e-3
    assert cfg.train_cfg.max_epochs == 24 and cfg.optim_wrapper.optimizer.lr == 0.02
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.val_evaluator.type == "FasterLVISMetric"
    htc = _cfg(os.path.join(REPO, "configs", "lvis", "iif_htc.py"))
    assert htc.model.type == "HybridTaskCascade" and len(htc.model.roi_head.mask_head) == 3


def test_data_root_override(tmp_path):
    from mmdet_ext.config import load_det_config

    cfg = load_det_config(os.path.join(REPO, "configs", "lvis", "iif_mask_rcnn.py"), data_root=str(tmp_path))
    assert cfg.train_dataloader.dataset.dataset.data_root == str(tmp_path) + os.sep
    assert cfg.val_dataloader.dataset.data_root == str(tmp_path) + os.sep
    assert cfg.val_evaluator.ann_file == os.path.join(str(tmp_path), "annotations", "lvis_v1_val.json")


# ---------------------------------------------------------- training + evaluation


@pytest.mark.slow
def test_tiny_mask_rcnn_trains_and_evaluates(toy, tmp_path):
    """A small Mask R-CNN with the IIF head, a few dozen iterations through mmdet's Runner, then
    the LVIS metric: the loss falls and AP / APr / APc / APf come out finite."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    from mmdet_ext.config import load_det_config

    losses = []

    class Record(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            losses.append(float(outputs["loss"]))

    # 12 training images, batch 2, 4 epochs = 24 iterations; few proposals: minutes on 2 CPU cores.
    opts = {"train_cfg.max_epochs": 4, "train_cfg.val_interval": 4, "train_dataloader.batch_size": 2,
            "train_dataloader.num_workers": 0, "val_dataloader.num_workers": 0, "val_dataloader.batch_size": 2,
            "train_dataloader.dataset.dataset.indices": 12, "val_dataloader.dataset.indices": 8,
            "model.train_cfg.rpn_proposal.max_per_img": 100, "model.train_cfg.rcnn.sampler.num": 64,
            "model.test_cfg.rpn.max_per_img": 100,
            "default_hooks.logger.interval": 5, "default_hooks.checkpoint.interval": 4,
            "param_scheduler": [dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=10)],
            "optim_wrapper.optimizer.lr": 0.01, "randomness.seed": 0}
    cfg = load_det_config(os.path.join(REPO, "configs", "lvis", "toy", "iif_r18_toy.py"), opts, data_root=toy,
                          work_dir=str(tmp_path / "wd"))
    cfg.train_dataloader.dataset.dataset.pipeline[2].scale = (96, 96)
    cfg.val_dataloader.dataset.pipeline[1].scale = (96, 96)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(Record())
    runner.train()
    assert len(losses) >= 24
    assert np.mean(losses[-5:]) < np.mean(losses[:5]), losses
    metrics = runner.val_loop.run()
    # LVISMetric's keys carry the "lvis/" prefix; APf is -1 (undefined) when val has no frequent class.
    for key in ("lvis/bbox_AP", "lvis/bbox_APr", "lvis/bbox_APc", "lvis/bbox_APf", "lvis/segm_AP", "lvis/segm_APr"):
        assert key in metrics and np.isfinite(metrics[key]), (key, metrics)
    # The hook set the weights from the training file, in the dataset's label order.
    f = iif.frequencies_from_annotations(os.path.join(toy, "annotations", "lvis_v1_train.json"))
    torch.testing.assert_close(runner.model.roi_head.bbox_head.loss_cls.weights,
                               iif.compute_weights(f.instance_counts, "base10", total=f.num_annotations))

    # tools/test_det.py --analyze on the saved checkpoint: metrics, detections and the false-positive
    # analysis; the analysis's AP on the same detections equals the LVIS metric's (both hotcoco).
    import importlib.util

    spec = importlib.util.spec_from_file_location("test_det_tool", os.path.join(REPO, "tools", "test_det.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "eval" / "metrics.json"
    rc = tool.main([os.path.join(REPO, "configs", "lvis", "toy", "iif_r18_toy.py"), str(tmp_path / "wd" / "epoch_4.pth"),
                    "--data-root", toy, "--work-dir", str(tmp_path / "wd"), "--out", str(out), "--analyze",
                    "--cfg-options", "test_dataloader.dataset.indices=8", "test_dataloader.num_workers=0",
                    "model.test_cfg.rpn.max_per_img=100"])
    assert rc == 0
    tested = json.loads(out.read_text())
    for iou in ("bbox", "segm"):
        report = json.loads((tmp_path / "eval" / f"analysis.{iou}.json").read_text())
        assert report["iou_type"] == iou and report["tool"].startswith("hotcoco ")
        assert set(report["groups"]) == {"rare", "common", "frequent"} and report["checks"]["groups_add_up"]
        assert report["lvis_ap"]["AP"] == pytest.approx(tested[f"lvis/{iou}_AP"], abs=6e-4)  # metric rounds to 3 places
        assert (tmp_path / "eval" / f"results.{iou}.json").is_file()


# ------------------------------------------------------------------ LVIS evaluation


def _fake_detections(gt, seed=0, per_image=300):
    """Noisy copies of the ground truth plus random boxes, scored at random: 300 per image."""
    rng = np.random.default_rng(seed)
    cats = [c["id"] for c in gt["categories"]]
    by_img = {}
    for a in gt["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    dets = []
    for img in gt["images"]:
        for a in by_img.get(img["id"], []):
            x, y, w, h = a["bbox"]
            if rng.random() < 0.8:
                j = rng.normal(0, 0.1, 4) * [w, h, w, h]
                dets.append({"image_id": img["id"], "category_id": a["category_id"] if rng.random() < 0.8
                             else int(rng.choice(cats)), "bbox": [x + j[0], y + j[1], max(1, w + j[2]),
                                                                  max(1, h + j[3])],
                             "score": float(rng.uniform(0.3, 1.0))})
        while sum(d["image_id"] == img["id"] for d in dets[-per_image:]) < per_image:
            x, y = rng.uniform(0, img["width"] - 10), rng.uniform(0, img["height"] - 10)
            dets.append({"image_id": img["id"], "category_id": int(rng.choice(cats)),
                         "bbox": [x, y, rng.uniform(5, 60), rng.uniform(5, 60)], "score": float(rng.uniform(0, 0.5))})
    return dets


@pytest.mark.slow
def test_faster_lvis_eval_equals_lvis_api(toy, tmp_path):
    """Our evaluator (hotcoco, LVIS mode) gives lvis-api's AP / AP50 / AP75 / APr / APc / APf."""
    lvis = pytest.importorskip("lvis")
    gt = _load(toy, "val")
    dets = _fake_detections(gt)
    ours = evaluate_lvis(gt, dets, "bbox")
    # lvis-api 0.5.3 calls np.float, gone in numpy 2: alias it for this reference run only.
    had = hasattr(np, "float")
    np.float = float
    try:
        ref_gt = lvis.LVIS(os.path.join(toy, "annotations", "lvis_v1_val.json"))
        ref = lvis.LVISEval(ref_gt, lvis.LVISResults(ref_gt, copy.deepcopy(dets), max_dets=300), "bbox")
        ref.run()
        theirs = ref.get_results()
    finally:
        if not had:
            del np.float
    for k in ("AP", "AP50", "AP75", "APr", "APc", "APf"):
        assert ours[k] == pytest.approx(float(theirs[k]), abs=1e-6), (k, ours, dict(theirs))
    assert ours["AP"] > 0.05  # the noisy ground truth is found


def test_det_table_formats_percent_and_missing_groups(tmp_path, capsys):
    """tools/det_table.py: LVIS fractions -> percent, -1 (no category of a group) -> n/a, clear errors."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("det_table", os.path.join(REPO, "tools", "det_table.py"))
    det_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(det_table)
    m = {f"lvis/{t}_{k}": v for t in ("segm", "bbox") for k, v in
         zip(("AP", "APr", "APc", "APf"), (0.1234, 0.05, -1.0, 0.3))}
    (tmp_path / "run_a").mkdir()
    path = tmp_path / "run_a" / "metrics.json"
    path.write_text(json.dumps(m))
    assert det_table.main([str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| run | mask AP | mask APr | mask APc | mask APf | box AP")
    assert out[2] == "| run_a | 12.3 | 5.0 | n/a | 30.0 | 12.3 | 5.0 | n/a | 30.0 |"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"coco/bbox_mAP": 0.1}))
    assert det_table.main([str(bad)]) == 2
    assert "no 'lvis/segm_AP' in the metrics" in capsys.readouterr().err
    assert det_table.main([str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(toy, tmp_path):
    """tools/train_det.py --launcher pytorch under torchrun: two CPU processes (gloo, DDP with
    device_ids=None) train the toy config for a few iterations and write one checkpoint."""
    import subprocess
    import sys

    wd = tmp_path / "wd"
    opts = ["train_cfg.max_epochs=1", "train_cfg.val_interval=2", "train_dataloader.batch_size=1",
            "train_dataloader.num_workers=0", "train_dataloader.dataset.dataset.indices=4",
            "model.train_cfg.rpn_proposal.max_per_img=50", "model.train_cfg.rcnn.sampler.num=32",
            "train_dataloader.dataset.dataset.pipeline.2.scale=(96,96)", "default_hooks.logger.interval=1",
            "default_hooks.checkpoint.interval=1", "randomness.seed=0"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
         os.path.join(REPO, "tools", "train_det.py"), os.path.join(REPO, "configs", "lvis", "toy", "iif_r18_toy.py"),
         "--launcher", "pytorch", "--data-root", toy, "--work-dir", str(wd), "--cfg-options", *opts],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    logs = glob.glob(str(wd / "*" / "*.log"))
    text = open(logs[0]).read()
    assert "Distributed training: True" in text and "GPU number: 2" in text, text[:3000]  # world size 2
    # 4 images, batch 1 per process: 2 iterations per epoch (one process would take 4)
    assert "Epoch(train) [1][2/2]" in text, text[-3000:]
    assert "IIF base10 IOF weights from" in text
    assert os.path.isfile(wd / "epoch_1.pth")
    # The checkpoint loads again (torch >= 2.6 refuses MMEngine's pickles by default): resume one
    # more epoch in a single process, then evaluate it with tools/test_det.py.
    common = ["--data-root", toy, "--work-dir", str(wd)]
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "train_det.py"),
                           os.path.join(REPO, "configs", "lvis", "toy", "iif_r18_toy.py"), "--resume", *common,
                           "--cfg-options", *[o.replace("max_epochs=1", "max_epochs=2") for o in opts]],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert os.path.isfile(wd / "epoch_2.pth")
    log = sorted(glob.glob(str(wd / "*" / "*.log")))[-1]
    assert "resumed epoch: 1, iter: 2" in open(log).read()
    out = tmp_path / "metrics.json"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "test_det.py"),
                           os.path.join(REPO, "configs", "lvis", "toy", "iif_r18_toy.py"), str(wd / "epoch_2.pth"),
                           *common, "--out", str(out), "--cfg-options", "test_dataloader.num_workers=0",
                           "test_dataloader.dataset.pipeline.1.scale=(96,96)"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    metrics = json.loads(out.read_text())
    assert all(np.isfinite(metrics[f"lvis/segm_{k}"]) for k in ("AP", "APr", "APc"))
