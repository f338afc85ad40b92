"""torchvision's MobileNetV2 as a multi-scale backbone with its ImageNet weights (iif/models/mobilenet.py)."""
import os

import pytest
import torch

from iif.data.fetch_weights import MOBILENET_V2, default_weights_root
from iif.models.mobilenet import MobileNetV2Backbone

WEIGHTS = os.path.join(default_weights_root(), MOBILENET_V2.name)
needs_weights = pytest.mark.skipif(not os.path.isfile(WEIGHTS),
                                   reason="MobileNetV2 weights not fetched (scripts/setup.sh fetches them)")


def test_levels_shapes_and_channels():
    torch.manual_seed(0)
    b = MobileNetV2Backbone()
    outs = b(torch.randn(2, 3, 96, 128))
    assert b.out_channels == (24, 32, 96, 1280)
    assert [tuple(o.shape) for o in outs] == [(2, 24, 24, 32), (2, 32, 12, 16), (2, 96, 6, 8), (2, 1280, 3, 4)]
    assert len(b.features) == 19
    assert MobileNetV2Backbone(out_indices=(6,)).out_channels == (32,)
    assert len(MobileNetV2Backbone(out_indices=(6,)).features) == 7  # nothing built past the last output


@needs_weights
def test_imagenet_weights_load_key_for_key():
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    b = MobileNetV2Backbone(pretrained="imagenet")
    ours = b.state_dict()
    assert set(ours) == {k for k in state if k.startswith("features.")}  # only classifier.* unused
    for k, v in ours.items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)
    assert set(state) - set(ours) == {"classifier.1.weight", "classifier.1.bias"}


def test_frozen_stem_and_frozen_batchnorm():
    b = MobileNetV2Backbone(frozen_stages=1, norm_eval=True).train()
    bns = [m for m in b.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)  # ImageNet statistics kept in training
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    assert all(not p.requires_grad for i in (0, 1) for p in b.features[i].parameters())
    convs = [p for p in b.features[2].parameters() if p.dim() == 4]
    assert convs and all(p.requires_grad for p in convs)
    before = bns[-1].running_mean.clone()
    b(torch.randn(2, 3, 64, 64)).__len__()
    torch.testing.assert_close(bns[-1].running_mean, before)
    free = MobileNetV2Backbone(frozen_stages=-1, norm_eval=False).train()
    assert all(p.requires_grad for p in free.parameters())
    assert all(m.training for m in free.modules())


def test_bad_input_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"out_indices must be increasing block indices in 0..18, got \(6, 3\)"):
        MobileNetV2Backbone(out_indices=(6, 3))
    with pytest.raises(ValueError, match=r"got \(19,\)"):
        MobileNetV2Backbone(out_indices=(19,))
    with pytest.raises(ValueError, match="frozen_stages must be in -1..18, got 20"):
        MobileNetV2Backbone(frozen_stages=20)
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match=r"nope\.pth.*fetch_weights mobilenet_v2"):
        MobileNetV2Backbone(pretrained=str(missing))
    monkeypatch.setenv("IIF_DATA", str(tmp_path / "data"))  # 'imagenet' resolves beside the data root
    with pytest.raises(FileNotFoundError, match=r"weights.*mobilenet_v2-b0353104\.pth"):
        MobileNetV2Backbone(pretrained="imagenet")
    wrong = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, wrong)
    with pytest.raises(ValueError, match=r"not torchvision's MobileNetV2.*missing keys"):
        MobileNetV2Backbone(pretrained=str(wrong))
