"""The detection study's pieces: the MobileNetV2 mmdet backbone in the toy configs, the seed table
and test_det.py --analyze.

Needs the detection stack (scripts/setup.sh det).
"""
import importlib.util
import json
import os

import pytest
import torch

from _det import require_det  # noqa: E402

require_det()

from mmengine.config import Config  # noqa: E402

import mmdet_ext  # noqa: E402,F401  (registers the plugin)
from iif.data.fetch_weights import MOBILENET_V2, default_weights_root  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(default_weights_root(), MOBILENET_V2.name)
STUDY = ("softmax", "iif", "balanced_softmax", "seesaw", "posthoc_la", "norcal")


def _module(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _build(path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


@pytest.mark.skipif(not os.path.isfile(WEIGHTS), reason="MobileNetV2 weights not fetched (scripts/setup.sh)")
def test_toy_configs_build_with_the_imagenet_mobilenet():
    """Every study config builds; the backbone holds the extracted ImageNet tensors after
    MMEngine's init_weights (which must not re-initialise them), with no key missing."""
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    for name in STUDY:
        cfg, model = _build(os.path.join(REPO, "configs", "lvis", "toy", f"{name}_mbv2_toy.py"))
        assert cfg.model.backbone.type == "TVMobileNetV2" and cfg.model.neck.in_channels == [24, 32, 96, 1280]
        body = model.backbone.body.state_dict()
        assert set(body) == {k for k in state if k.startswith("features.")}, name
        for k in ("features.0.0.weight", "features.10.conv.1.0.weight", "features.18.1.running_var"):
            torch.testing.assert_close(body[k], state[k], rtol=0, atol=0)
        feats = model.extract_feat(torch.randn(1, 3, 128, 128))
        assert [f.shape[1] for f in feats] == [64] * 5  # FPN levels P2-P6
        scale = cfg.model.roi_head.bbox_head.cls_predictor_cfg.tempearture
        assert scale == (8 if name == "iif" else 20), name  # the IIF authors' 8, mmdet's 20 elsewhere
        assert cfg.randomness == dict(seed=0, deterministic=True)


def test_det_table_groups_seeds_into_mean_and_std(tmp_path, capsys):
    det_table = _module("det_table")
    files, names = [], []
    for name, aps in (("a", (0.10, 0.20, 0.30)), ("b", (0.25,))):
        for s, ap in enumerate(aps):
            d = tmp_path / f"{name}_s{s}"
            d.mkdir()
            m = {f"lvis/{t}_{k}": (ap if k != "APr" else -1.0) for t in ("segm", "bbox")
                 for k in ("AP", "APr", "APc", "APf")}
            (d / "metrics.json").write_text(json.dumps(m))
            report = {"tool": "hotcoco 9.9", "iou_type": "bbox",
                      "overall": {"dAP": {"Bkg": ap / 10, "Cls": ap / 20}, "fp_per_image": {"0.3": 2 * ap}},
                      "groups": {g: {"fp_per_image": {"0.3": ap * i}} for i, g in
                                 enumerate(("rare", "common", "frequent"), 1)}}
            (d / "analysis.bbox.json").write_text(json.dumps(report))
            files.append(str(d / "metrics.json"))
            names.append(name)
    assert det_table.main(files + ["--names", *names, "--analysis"]) == 0
    out = capsys.readouterr().out.splitlines()
    # mean 20.0, sample std 10.0; -1 (no rare category) shown as n/a; one seed without a std
    assert out[2] == "| a (n=3) | 20.0 ± 10.0 | n/a | 20.0 ± 10.0 | 20.0 ± 10.0 | 20.0 ± 10.0 | n/a | 20.0 ± 10.0 " \
                     "| 20.0 ± 10.0 |"
    assert out[3] == "| b | 25.0 | n/a | 25.0 | 25.0 | 25.0 | n/a | 25.0 | 25.0 |"
    assert "[hotcoco 9.9]" in out[5]
    assert out[9] == "| a (n=3) | 2.00 ± 1.00 | 1.00 ± 0.50 | 0.20 ± 0.10 | 0.40 ± 0.20 | 0.60 ± 0.30 | 0.40 ± 0.20 |"
    assert det_table.main(files + ["--names", *names, "--analysis", "--fp-score", "0.5"]) == 2
    assert "no false positives at score >= 0.5" in capsys.readouterr().err
    os.remove(tmp_path / "b_s0" / "analysis.bbox.json")
    assert det_table.main(files + ["--names", *names, "--analysis"]) == 2
    assert "b_s0/analysis.bbox.json' does not exist" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(WEIGHTS), reason="MobileNetV2 weights not fetched (scripts/setup.sh)")
def test_toy_run_repeats_its_losses_for_a_seed(tmp_path):
    """Two runs of the study's config with one seed log the same losses (deterministic on CPU);
    another seed gives other ones."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    from iif.data.fetch import default_data_root
    from iif.data.toy_lvis import ToyLVISSpec, make_toy_lvis
    from mmdet_ext.config import load_det_config

    root = default_data_root()
    if not os.path.isdir(os.path.join(root, "mnist")):
        pytest.skip("Fashion-MNIST / MNIST not fetched")
    toy = str(tmp_path / "toy")
    make_toy_lvis(toy, os.path.join(root, "fashion_mnist"), os.path.join(root, "mnist"),
                  ToyLVISSpec(n_max=24, imbalance=12.0, train_pool=40, val_per_category=1, min_size=96, max_size=128))

    def losses(seed, name):
        seen = []

        class Record(Hook):
            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                seen.append(float(outputs["loss"]))

        opts = {"train_cfg.max_epochs": 1, "train_dataloader.dataset.dataset.indices": 12,
                "train_dataloader.num_workers": 1, "randomness.seed": seed, "default_hooks.checkpoint.interval": 5,
                "model.train_cfg.rpn_proposal.max_per_img": 100}
        cfg = load_det_config(os.path.join(REPO, "configs", "lvis", "toy", "softmax_mbv2_toy.py"), opts,
                              data_root=toy, work_dir=str(tmp_path / name))
        runner = Runner.from_cfg(cfg)
        runner.register_hook(Record())
        runner.train()
        return seen

    a, b, c = losses(0, "a"), losses(0, "b"), losses(1, "c")
    assert len(a) >= 3 and a == b, (a, b)
    assert a != c
