"""Backbones, heads and LTClassifier: shapes, parameter counts, freezing, checkpoints."""
import copy
import math

import pytest
import torch
from torch import nn

from iif.models import (
    HEADS,
    MODELS,
    CosineHead,
    LinearHead,
    LTClassifier,
    LWSHead,
    SEModule,
    build_head,
    build_model,
    load_pretrained,
)

SMALL = ("resnet32", "se_resnet32", "cnn3")
TIMM = ("se_resnet50", "se_resnext50_32x4d", "se_resnet152", "resnet50", "resnext50_32x4d")
NUM_CLASSES = 7

# ResNet-32, option-A shortcuts, counted by hand (He et al. 2016 report 0.46M):
#   stem 3*16*9 + 2*16                                    =     464
#   stage 1: 5 * (2*16*16*9 + 4*16)                       =  23,360
#   stage 2: (16*32*9 + 32*32*9 + 4*32) + 4*(2*32*32*9 + 4*32) =  88,192
#   stage 3: (32*64*9 + 64*64*9 + 4*64) + 4*(2*64*64*9 + 4*64) = 351,488
RESNET32_BACKBONE = 463_504
# SE with reduction 4 and biased 1x1 convs: 5 blocks per stage of 2*C*C/4 + C/4 + C
SE_EXTRA = 5 * sum(2 * c * (c // 4) + c // 4 + c for c in (16, 32, 64))  # 14,140


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def timm_models():
    """One model per timm name (building them is the slow part), reused with each head."""
    torch.manual_seed(0)
    return {name: build_model(name, NUM_CLASSES).eval() for name in TIMM}


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("name", SMALL)
def test_small_models_output_shapes(name, head):
    model = build_model(name, NUM_CLASSES, head=head)
    x = torch.randn(2, 3, 32, 32)
    logits = model(x)
    assert logits.shape == (2, NUM_CLASSES)
    assert model.forward_features(x).shape == (2, model.num_features)
    assert model.num_classes == NUM_CLASSES
    assert torch.isfinite(logits).all()


def test_timm_models_output_shapes_with_each_head(timm_models):
    x = torch.randn(2, 3, 64, 64)
    for name, model in timm_models.items():
        assert model.num_features == 2048, name
        with torch.no_grad():
            feats = model.forward_features(x)
            assert feats.shape == (2, 2048), name
            for head in HEADS:
                model.replace_head(build_head(head, 2048, NUM_CLASSES))
                assert model.head(feats).shape == (2, NUM_CLASSES), (name, head)
        assert model.head.__class__ in (LinearHead, CosineHead)


def test_timm_models_use_se_reduction_16(timm_models):
    # SE in timm's first bottleneck: 256 channels -> 16 hidden (reduction 16, the paper's)
    for name in ("se_resnet50", "se_resnet152"):
        se = timm_models[name].backbone.layer1[0].se
        assert (se.fc1.in_channels, se.fc1.out_channels) == (256, 16)
    assert getattr(timm_models["resnet50"].backbone.layer1[0], "se", None) is None


def test_timm_full_forward_and_in_chans():
    model = build_model("resnet50", 3, head="cosine", in_chans=1).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 3)
    assert model.backbone.conv1.in_channels == 1


# ----------------------------------------------------------------------------- ResNet-32


def test_resnet32_parameter_count_matches_paper():
    model = build_model("resnet32", 10)
    assert n_params(model.backbone) == RESNET32_BACKBONE
    assert n_params(model) == RESNET32_BACKBONE + 64 * 10 + 10  # 464,154 = "0.46M"
    assert model.num_features == 64
    convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 31  # + the classifier = 32 weighted layers


def test_resnet32_projection_shortcut_option():
    # option B adds a 1x1 conv + BN where the shape changes: 16->32 and 32->64
    b = build_model("resnet32", 10, shortcut="B")
    assert n_params(b.backbone) == RESNET32_BACKBONE + (16 * 32 + 64) + (32 * 64 + 128)
    with pytest.raises(ValueError, match="shortcut"):
        build_model("resnet32", 10, shortcut="C")


def test_se_resnet32_has_se_in_every_block_with_reduction_4():
    model = build_model("se_resnet32", 10)
    blocks = [b for stage in (model.backbone.layer1, model.backbone.layer2, model.backbone.layer3) for b in stage]
    assert len(blocks) == 15
    assert all(isinstance(b.se, SEModule) for b in blocks)
    assert [b.se.fc1.out_channels for b in blocks] == [4] * 5 + [8] * 5 + [16] * 5
    assert n_params(model.backbone) == RESNET32_BACKBONE + SE_EXTRA
    # plain resnet32 has none
    assert not any(isinstance(m, SEModule) for m in build_model("resnet32", 10).modules())
    # other reductions pass through
    se8 = build_model("se_resnet32", 10, se_reduction=8)
    assert se8.backbone.layer3[0].se.fc1.out_channels == 8


def test_se_applied_before_residual_addition():
    # With the SE gate forced to 0 the residual branch vanishes and the block is
    # relu(shortcut(x)) = relu(x) for an identity block: SE sits before the addition.
    block = build_model("se_resnet32", 10).backbone.layer1[1].eval()
    with torch.no_grad():
        block.se.fc2.weight.zero_()
        block.se.fc2.bias.fill_(-1e4)
        x = torch.randn(2, 16, 8, 8)
        torch.testing.assert_close(block(x), torch.relu(x))


@pytest.mark.parametrize("name", SMALL)
def test_grayscale_28x28(name):
    model = build_model(name, 10, in_chans=1)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_kaiming_init_of_convs():
    conv = build_model("resnet32", 10).backbone.layer3[1].conv1  # fan_out = 64 * 9
    std = conv.weight.std().item()
    assert abs(std - math.sqrt(2 / (64 * 9))) < 0.1 * math.sqrt(2 / (64 * 9))


# ----------------------------------------------------------------------------- heads


def test_cosine_head_is_bounded_and_scale_invariant():
    torch.manual_seed(0)
    head = CosineHead(16, 5, scale=16.0)
    x = torch.randn(32, 16) * 50
    logits = head(x)
    assert logits.abs().max() <= 16.0 + 1e-4
    assert logits.abs().max() > 8.0  # not trivially small
    torch.testing.assert_close(head(3.7 * x), logits)
    # equals the definition s * cos(x, W_c)
    ref = 16.0 * nn.functional.cosine_similarity(x[:, None, :], head.weight[None, :, :], dim=2)
    torch.testing.assert_close(logits, ref, rtol=1e-5, atol=1e-5)


def test_cosine_head_zero_features_finite():
    for learnable in (False, True):
        head = CosineHead(8, 3, learnable_scale=learnable)
        out = head(torch.zeros(2, 8))
        assert torch.isfinite(out).all()
        out.sum().backward()
        assert torch.isfinite(head.weight.grad).all()


def test_cosine_head_learnable_vs_fixed_scale():
    fixed = CosineHead(8, 3, scale=16.0)
    assert [n for n, _ in fixed.named_parameters()] == ["weight"]
    assert not any("scale" in n for n, _ in fixed.named_buffers())
    assert fixed.scale == 16.0

    learn = build_head("cosine_learnable", 8, 3, scale=16.0)
    assert isinstance(learn.log_scale, nn.Parameter)
    assert learn.scale == pytest.approx(16.0)
    y = torch.tensor([0, 1, 2, 0])
    nn.functional.cross_entropy(learn(torch.randn(4, 8)), y).backward()
    assert learn.log_scale.grad is not None and learn.log_scale.grad.abs() > 0
    # bounded by the learned scale
    with torch.no_grad():
        learn.log_scale.fill_(math.log(3.0))
    assert learn(torch.randn(10, 8)).abs().max() <= 3.0 + 1e-5
    with pytest.raises(ValueError, match="scale"):
        CosineHead(8, 3, scale=0.0)


def test_heads_expose_weight_in_features_num_classes():
    for kind in HEADS:
        head = build_head(kind, 12, 4)
        assert head.weight.shape == (4, 12)
        assert (head.in_features, head.num_classes) == (12, 4)
    lws = LWSHead(build_head("linear", 12, 4))
    assert lws.weight.shape == (4, 12) and (lws.in_features, lws.num_classes) == (12, 4)
    with pytest.raises(ValueError, match="unknown head 'mlp'"):
        build_head("mlp", 12, 4)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_lws_head_starts_as_base_and_trains_only_scale(kind):
    torch.manual_seed(0)
    base = build_head(kind, 10, 4)
    lws = LWSHead(base)
    x = torch.randn(6, 10)
    torch.testing.assert_close(lws(x), base(x))
    assert [n for n, p in lws.named_parameters() if p.requires_grad] == ["scale"]
    lws.requires_grad_(True)  # what set_trainable does: the base stays frozen
    assert [n for n, p in lws.named_parameters() if p.requires_grad] == ["scale"]
    lws(x).sum().backward()
    assert lws.scale.grad is not None
    with torch.no_grad():
        lws.scale.copy_(torch.tensor([1.0, 2.0, 0.5, 3.0]))
    torch.testing.assert_close(lws(x), base(x) * lws.scale)


def test_lws_in_decoupled_stage():
    model = build_model("cnn3", 4)
    model.set_trainable("classifier")
    model.replace_head(LWSHead(model.head))
    assert model.trainable_parameters() == [model.head.scale]


# ----------------------------------------------------------------------------- freezing


def _bn_layers(module):
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_set_trainable_classifier_freezes_backbone_and_bn_stats():
    model = build_model("se_resnet32", 5, head="cosine_learnable")
    model.set_trainable("classifier")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.log_scale"}
    assert {id(p) for p in model.trainable_parameters()} == {id(p) for p in model.head.parameters()}

    model.train()
    assert model.training and model.head.training
    assert all(not bn.training for bn in _bn_layers(model.backbone))
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model(torch.randn(4, 3, 32, 32) * 3 + 1)
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # eval()/train() round trip keeps the choice
    model.eval()
    model.train()
    assert all(not bn.training for bn in _bn_layers(model.backbone))


def test_bn_stats_do_change_when_all_trainable():
    # the check above could not fail if a forward pass never touched the statistics
    model = build_model("resnet32", 5).train()
    before = model.backbone.bn1.running_mean.clone()
    model(torch.randn(4, 3, 32, 32) * 3 + 1)
    assert not torch.equal(before, model.backbone.bn1.running_mean)


@pytest.mark.parametrize("name, stage", [("resnet32", "layer3"), ("cnn3", "layer3")])
def test_set_trainable_last_block(name, stage):
    model = build_model(name, 5)
    model.set_trainable("last_block")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expected = {n for n, _ in model.named_parameters() if n.startswith((f"backbone.{stage}.", "head."))}
    assert trainable == expected and len(expected) > 2
    model.train()
    last = getattr(model.backbone, stage)
    assert all(bn.training for bn in _bn_layers(last))
    others = [bn for bn in _bn_layers(model.backbone) if all(bn is not b for b in _bn_layers(last))]
    assert others and all(not bn.training for bn in others)


def test_set_trainable_last_block_timm_is_layer4(timm_models):
    model = timm_models["se_resnet50"]
    model.set_trainable("last_block")
    try:
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        assert trainable == {n for n, _ in model.named_parameters() if n.startswith(("backbone.layer4.", "head."))}
    finally:
        model.set_trainable("all")
        model.eval()


def test_set_trainable_all_restores_everything():
    model = build_model("resnet32", 5)
    model.set_trainable("classifier")
    model.set_trainable("all")
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    assert all(bn.training for bn in _bn_layers(model))
    with pytest.raises(ValueError, match="expected one of"):
        model.set_trainable("backbone")


def test_replace_head_keeps_trainable_choice():
    model = build_model("cnn3", 5)
    model.set_trainable("classifier")
    old = model.replace_head(build_head("cosine", model.num_features, 9))
    assert isinstance(old, LinearHead)
    assert model.num_classes == 9 and model(torch.randn(2, 3, 16, 16)).shape == (2, 9)
    assert {id(p) for p in model.trainable_parameters()} == {id(p) for p in model.head.parameters()}
    with pytest.raises(ValueError, match="in_features"):
        model.replace_head(LinearHead(7, 3))


# ----------------------------------------------------------------------------- checkpoints


def test_pretrained_from_prefixed_state_dict(tmp_path):
    torch.manual_seed(0)
    src = build_model("se_resnet32", 10, head="cosine")
    with torch.no_grad():  # make running stats non-default so that they are compared too
        for bn in _bn_layers(src):
            bn.running_mean.uniform_()
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)

    torch.manual_seed(1)
    dst = build_model("se_resnet32", 3, head="linear", pretrained=str(path))
    for k, v in src.backbone.state_dict().items():
        assert torch.equal(v, dst.backbone.state_dict()[k]), k
    assert dst.head.weight.shape == (3, 64)  # fresh head for the new label set

    # a raw torchvision/timm-style state dict (top-level "fc.") with a "model" wrapper
    raw = {**src.backbone.state_dict(), "fc.weight": torch.zeros(1000, 64), "fc.bias": torch.zeros(1000)}
    torch.save({"model": raw}, path)
    fresh = build_model("se_resnet32", 3)
    result = load_pretrained(fresh.backbone, path)
    assert result.dropped_classifier == ["fc.bias", "fc.weight"]
    assert result.missing == [] and result.unexpected == []
    assert torch.equal(fresh.backbone.conv1.weight, src.backbone.conv1.weight)


def test_pretrained_errors(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_model("resnet32", 3, pretrained=str(missing))
    # nothing matches: a checkpoint of another architecture
    path = tmp_path / "cnn.pth"
    torch.save(build_model("cnn3", 3).state_dict(), path)
    with pytest.raises(ValueError, match="no key"):
        build_model("resnet32", 3, pretrained=str(path))
    # same keys, wrong shapes outside the classifier
    torch.save(build_model("resnet32", 3, in_chans=1).state_dict(), path)
    with pytest.raises(ValueError, match="conv1.weight"):
        build_model("resnet32", 3, pretrained=str(path))


# ----------------------------------------------------------------------------- formats, errors


@pytest.mark.parametrize("name", ["se_resnet32", "cnn3"])
def test_channels_last_matches_contiguous(name):
    torch.manual_seed(0)
    model = build_model(name, 6, head="cosine").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
        out = cl(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_channels_last_timm(timm_models):
    model = copy.deepcopy(timm_models["se_resnext50_32x4d"])
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("head", HEADS)
def test_autocast_bfloat16_forward(head):
    model = build_model("resnet32", 4, head=head)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 4) and torch.isfinite(out).all()
    out.float().sum().backward()
    assert model.backbone.conv1.weight.grad is not None


def test_unknown_names_raise():
    with pytest.raises(ValueError, match=r"unknown model 'resnet33'.*resnet32"):
        build_model("resnet33", 10)
    with pytest.raises(ValueError, match=r"unknown head 'cos'.*cosine"):
        build_model("resnet32", 10, head="cos")
    with pytest.raises(ValueError, match="num_classes"):
        build_model("resnet32", 0)
    with pytest.raises(ValueError, match=r"\['se_reduction'\].*'resnet32'.*shortcut"):
        build_model("resnet32", 10, se_reduction=4)
    with pytest.raises(ValueError, match="pretrained"):  # timm's downloader is never reached
        MODELS["resnet50"](pretrained=True)


def test_registry_lists_the_paper_models():
    assert set(MODELS) == set(SMALL) | set(TIMM) | {"mobilenet_v2"}  # + torchvision's ImageNet MobileNetV2
    model = build_model("cnn3", 2)
    assert isinstance(model, LTClassifier)


@pytest.mark.parametrize("feature_norm", ["unit", "squash"])
def test_cosine_head_stays_float32_under_bf16_autocast(feature_norm):
    """Under bf16 autocast the cosine logits are computed in float32: equal to the fp32 head's."""
    torch.manual_seed(0)
    head = CosineHead(64, 10, scale=16.0, feature_norm=feature_norm)
    x = torch.randn(32, 64)
    ref = head(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(x.bfloat16().float())  # the features as a bf16 backbone hands them over
        out_bf = head(x.bfloat16())
    assert out.dtype == out_bf.dtype == torch.float32
    assert torch.allclose(out, head(x.bfloat16().float()), atol=1e-6)
    assert torch.equal(out, out_bf)
    assert (ref - out).abs().max() < 0.2  # only the bf16 rounding of the features themselves
