"""Issue 12, item 4: the MobileNetV2 ImageNet backbone (``mobilenet_v2``) and CLIP's towers through
open_clip (``clip``), weights from local files only; the text-contrastive term of the multi-label task."""
import json
import os
import socket

import numpy as np
import pytest
import torch

from iif.data.fetch_weights import MOBILENET_V2, default_weights_root
from iif.engine import Trainer, load_config, validate_config
from iif.engine.builders import _transform, build_classifier, build_criterion
from iif.engine.task import TextContrastiveLoss, check_task_config, label_text_contrastive
from iif.models import build_backbone, build_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MBV2_FILE = os.path.join(default_weights_root(), MOBILENET_V2.name)
HAVE_MBV2 = os.path.isfile(MBV2_FILE)
IMAGENET_MEAN = (0.485, 0.456, 0.406)

# A CLIP small enough for CPU tests (1.6M parameters, most of them the 49,408-token embedding).
TINY_ARCH = "iif-test-tiny-clip"
TINY_CFG = {"embed_dim": 32,
            "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
NAMES = ["cat", "dog", "car", "tree", "boat"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test here must work offline: any socket connection fails loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ------------------------------------------------------------------------------------ MobileNetV2


@pytest.mark.skipif(not HAVE_MBV2, reason=f"{MBV2_FILE} absent (python -m iif.data.fetch_weights mobilenet_v2)")
def test_mobilenet_v2_loads_every_imagenet_tensor_and_gives_pooled_features():
    backbone = build_backbone("mobilenet_v2", pretrained="imagenet")
    state = torch.load(MBV2_FILE, map_location="cpu", weights_only=True)
    own = backbone.state_dict()
    assert own and all(k in state and torch.equal(v, state[k]) for k, v in own.items())
    assert sorted(set(state) - set(own)) == ["classifier.1.bias", "classifier.1.weight"]
    backbone.eval()
    assert backbone(torch.randn(2, 3, 64, 64)).shape == (2, 1280) == (2, backbone.num_features)
    # single- and multi-label alike: backbone + head
    model = build_model("mobilenet_v2", 20, pretrained=MBV2_FILE)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 20)


def test_mobilenet_v2_refuses_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_model("mobilenet_v2", 5, pretrained=str(tmp_path / "nope.pth"))
    foreign = tmp_path / "resnet32.pth"
    torch.save(build_backbone("resnet32").state_dict(), foreign)
    with pytest.raises(ValueError, match="resnet32.pth.*not torchvision's MobileNetV2.*missing keys"):
        build_model("mobilenet_v2", 5, pretrained=str(foreign))
    with pytest.raises(ValueError, match="in_chans=3"):
        build_model("mobilenet_v2", 5, in_chans=1)


def test_mobilenet_v2_frozen_batchnorm_survives_set_trainable():
    model = build_model("mobilenet_v2", 4, norm_eval=True, frozen_stages=1)
    model.set_trainable("all")  # sets requires_grad on the whole backbone
    features = model.backbone.features
    bns = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not any(p.requires_grad for p in features[:2].parameters())
    assert not any(p.requires_grad for bn in bns for p in bn.parameters())
    assert any(p.requires_grad for p in features[5].parameters()) and model.head.weight.requires_grad
    model.train()
    assert not any(bn.training for bn in bns)
    before = bns[-1].running_mean.clone()
    model(torch.randn(4, 3, 64, 64))
    assert torch.equal(bns[-1].running_mean, before)
    # the default: BatchNorm trains (classification batches estimate their statistics fine)
    plain = build_model("mobilenet_v2", 4).train()
    assert all(m.training for m in plain.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with pytest.raises(ValueError, match="no last stage"):
        plain.set_trainable("last_block")


def test_toy_mlt_mobilenet_config_uses_imagenet_stats_and_model_kwargs_pretrained(tmp_path):
    cfg = load_config(os.path.join(REPO, "configs/cls/toy_mlt/bce_mobilenet_v2.py"))
    assert cfg["model"]["name"] == "mobilenet_v2" and cfg["model"]["kwargs"] == {"pretrained": "imagenet"}
    for train in (True, False):
        norm = _transform(cfg["data"], train).transforms[-1]
        assert tuple(norm.mean) == pytest.approx(IMAGENET_MEAN)
    bad = dict(cfg["data"], train_transform={"image_size": 64, "stats": "imagenet", "mean": [0.5] * 3})
    with pytest.raises(ValueError, match="stats or mean / std, not both"):
        _transform(bad, True)
    with pytest.raises(ValueError, match=r"stats='imagnet' is not one of"):
        _transform(dict(cfg["data"], train_transform={"image_size": 64, "stats": "imagnet"}), True)
    both = validate_config({"model": {"name": "mobilenet_v2", "pretrained": "a.pth", "kwargs": {"pretrained": "b"}}})
    with pytest.raises(ValueError, match="model.pretrained or model.kwargs.pretrained, not both"):
        build_classifier(both, 3)
    if HAVE_MBV2:
        assert build_classifier(cfg, 20).num_classes == 20


# ------------------------------------------------------------------------------------ CLIP


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory):
    import open_clip

    path = tmp_path_factory.mktemp("clip_cfg") / f"{TINY_ARCH}.json"
    path.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(path)
    return TINY_ARCH


def _clip(arch, pretrained=None, seed=0):
    torch.manual_seed(seed)
    return build_model("clip", len(NAMES), arch=arch, class_names=NAMES, pretrained=pretrained)


def test_clip_logits_and_reloading_a_saved_state_dict(tiny_arch, tmp_path):
    model = _clip(tiny_arch).eval()
    x = torch.randn(3, 3, 64, 64)
    logits, emb = model(x, return_embeddings=True)
    assert logits.shape == (3, len(NAMES)) and emb.image.shape == (3, 32) and emb.text.shape == (len(NAMES), 32)
    assert torch.allclose(emb.image.norm(dim=1), torch.ones(3)) and model.last_embeddings is None  # eval: none kept
    assert torch.allclose(logits, emb.scale * emb.image @ emb.text.t())
    path = tmp_path / "tiny.pt"
    torch.save(model.clip.state_dict(), path)
    again = _clip(tiny_arch, pretrained=str(path), seed=1).eval()
    assert torch.equal(again(x), logits)
    # the same weights as a TorchScript archive (the format of OpenAI's RN50.pt): only with --unsafe-load
    # (torch.jit.load runs code stored in the archive; tests/test_security.py)
    from iif.safe_load import allow_unsafe_load

    torch.jit.script(model.clip).save(str(tmp_path / "tiny_jit.pt"))
    allow_unsafe_load(True)
    try:
        assert torch.allclose(_clip(tiny_arch, pretrained=str(tmp_path / "tiny_jit.pt"), seed=2).eval()(x), logits)
    finally:
        allow_unsafe_load(False)


def test_clip_refuses_tags_missing_files_and_foreign_weights(tiny_arch, tmp_path):
    with pytest.raises(FileNotFoundError, match="'openai'.*open_clip download tag; downloads are not allowed"):
        build_model("clip", 3, arch="RN50", class_names=["a", "b", "c"], pretrained="openai")
    with pytest.raises(FileNotFoundError, match="missing.pt' is not a file"):
        _clip(tiny_arch, pretrained=str(tmp_path / "missing.pt"))
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=f"other.pt' does not fit open_clip architecture '{TINY_ARCH}'"):
        _clip(tiny_arch, pretrained=str(tmp_path / "other.pt"))
    with pytest.raises(ValueError, match="Hugging Face hub"):
        build_model("clip", 3, arch="xlm-roberta-base-ViT-B-32", class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="unknown open_clip architecture 'RN51'"):
        build_model("clip", 3, arch="RN51", class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="2 class names for 5 classes"):
        build_model("clip", 5, arch=tiny_arch, class_names=["a", "b"])
    with pytest.raises(ValueError, match="needs class names"):
        build_model("clip", 5, arch=tiny_arch)


def test_clip_class_names_from_a_dataset_and_freezing(tiny_arch):
    model = build_model("clip", 20, arch=tiny_arch, class_names="voc_mlt")
    assert model.class_names[0] == "aeroplane" and model.prompt_tokens.shape == (20, 16)
    model.set_trainable("classifier")  # the text tower (and the temperature) only
    assert not any(p.requires_grad for p in model.clip.visual.parameters())
    assert model.clip.token_embedding.weight.requires_grad and model.clip.logit_scale.requires_grad
    with pytest.raises(ValueError, match="'all' or 'classifier'"):
        model.set_trainable("last_block")


def test_label_text_contrastive_pairs_each_image_with_its_labels():
    class_emb = torch.eye(3)
    targets = torch.tensor([[1.0, 0, 0], [0, 1, 1], [0, 0, 0]])  # the third image has no label: left out
    aligned = torch.tensor([[1.0, 0, 0], [0, 1, 1], [5, 5, 5]])
    shuffled = torch.tensor([[0.0, 1, 1], [1, 0, 0], [5, 5, 5]])
    good = label_text_contrastive(aligned, class_emb, targets, 10.0)
    assert good < 0.01 < label_text_contrastive(shuffled, class_emb, targets, 10.0)


def _clip_cfg(arch, tmp_path, **loss):
    return validate_config({
        "task": "multi_label", "device": "cpu", "work_dir": str(tmp_path / "run"), "seed": 0,
        "data": {"name": "toy_mlt", "fake": True, "fake_size": 16, "batch_size": 8, "test_batch_size": 16,
                 "train_transform": {"image_size": 64}, "test_transform": {"image_size": 64}},
        "model": {"name": "clip", "kwargs": {"arch": arch, "class_names": [f"digit {i}" for i in range(20)]}},
        "loss": dict({"type": "bal"}, **loss),
        "optimizer": {"type": "adamw", "lr": 1e-3, "weight_decay": 0.0},
        "schedule": {"epochs": 1, "type": "constant"}, "train": {"max_iters": 2},
    })


def test_bal_plus_contrastive_training_steps_reduce_the_loss(tiny_arch, tmp_path):
    cfg = _clip_cfg(tiny_arch, tmp_path, contrastive_weight=1.0)
    torch.manual_seed(0)
    model = build_classifier(cfg, 20)
    y = torch.zeros(8, 20)
    y[torch.arange(8), torch.arange(8) % 5] = 1
    y[::2, 7] = 1
    counts = np.maximum(y.sum(0).int().numpy(), 1)
    criterion = build_criterion(cfg, counts, num_images=8, model=model)  # the run's model: its embeddings
    assert isinstance(criterion, TextContrastiveLoss) and criterion.weight == 1.0
    with pytest.raises(ValueError, match="contrastive_weight needs a model with a text tower.*got no model"):
        build_criterion(cfg, counts, num_images=8)
    base = build_criterion(_clip_cfg(tiny_arch, tmp_path), counts, num_images=8)
    x = torch.randn(8, 3, 64, 64)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(10):
        logits = model(x)
        plain = float(base(logits.detach(), y))
        loss = criterion(logits, y)
        assert float(loss.detach()) > plain  # the contrastive term adds to BAL
        assert model.last_embeddings is None  # consumed by the loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0], losses
    with pytest.raises(RuntimeError, match="no embeddings of this batch"):
        criterion(logits, y)


def test_trainer_runs_clip_with_contrastive_term_on_fake_data(tiny_arch, tmp_path):
    results = Trainer(_clip_cfg(tiny_arch, tmp_path, contrastive_weight=0.5)).fit()
    assert results["task"] == "multi_label" and results["rows"][0]["map"] is not None


def test_contrastive_weight_needs_the_multilabel_task_and_a_text_model():
    ml = validate_config({"task": "multi_label", "data": {"name": "toy_mlt"}, "model": {"name": "clip"},
                          "loss": {"type": "bal", "contrastive_weight": 1.0}})
    assert check_task_config(ml) == []
    wrong_model = dict(ml, model=dict(ml["model"], name="cnn3"))
    assert any("needs a model with a text tower" in m for m in check_task_config(wrong_model))
    negative = dict(ml, loss={"type": "bal", "contrastive_weight": -1})
    assert any("must be a number >= 0" in m for m in check_task_config(negative))
    single = dict(ml, task=None, data={"name": "fashion_mnist_lt"}, loss={"type": "ce", "contrastive_weight": 1.0})
    assert any("multi-label option" in m for m in check_task_config(single))
    with pytest.raises(ValueError, match="needs a model with a text tower"):
        TextContrastiveLoss(torch.nn.BCEWithLogitsLoss(), 1.0, torch.nn.Linear(2, 2))


def test_voc_mlt_tailclip_clip_config():
    cfg = load_config(os.path.join(REPO, "configs/cls/voc_mlt/tailclip_rn50_clip_bal.py"))
    assert cfg["model"]["name"] == "clip" and cfg["model"]["kwargs"]["arch"] == "RN50-quickgelu"
    assert len(cfg["model"]["kwargs"]["class_names"]) == 20 and cfg["loss"]["contrastive_weight"] == 5.0
    assert cfg["loss"]["type"] == "bal" and cfg["data"]["sampler"] == "occurrence"


def test_importing_the_models_loads_neither_open_clip_nor_torchvision():
    import subprocess
    import sys

    code = ("import sys, iif.models; heavy = [m for m in ('open_clip', 'torchvision', 'iif.models.mobilenet') "
            "if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
