"""The batched fast path (iif.data.batched) against the per-image transform (iif.data.build_transform):
pixel equality where an operation is deterministic, the same distributions where it is random."""
import collections
import math

import numpy as np
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from iif.data import build_transform
from iif.data.batched import BatchTransform, TensorLoader, unsupported_reason
from iif.data.transforms import Cutout

CIFAR = dict(mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010))
RECIPE = dict(image_size=32, crop_padding=4, hflip=True, autoaugment="cifar", cutout=16, **CIFAR)


def _images(n=16, c=3, s=32, seed=0):
    return torch.randint(0, 256, (n, c, s, s), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ deterministic parts: pixel equality

def test_eval_transform_equals_per_image_exactly():
    x = _images()
    per_image = torch.stack([build_transform(False, image_size=32, **CIFAR)(img) for img in x])
    assert torch.equal(BatchTransform(False, image_size=32, **CIFAR)(x), per_image)


def test_crop_equals_pad_then_crop_per_image():
    x = _images(8)
    bt = BatchTransform(True, image_size=32, crop_padding=4, **CIFAR)
    top, left = torch.tensor([0, 8, 3, 4, 8, 0, 1, 7]), torch.tensor([8, 0, 5, 4, 8, 0, 2, 6])
    out = bt.crop(x, top, left)
    for i in range(8):
        ref = TF.crop(TF.pad(x[i], [4, 4, 4, 4], fill=0), int(top[i]), int(left[i]), 32, 32)
        assert torch.equal(out[i], ref), i


def test_flip_mirrors_only_the_masked_images():
    x = _images(4)
    out = BatchTransform.flip(x, torch.tensor([True, False, True, False]))
    assert torch.equal(out[0], TF.horizontal_flip(x[0])) and torch.equal(out[1], x[1])
    assert torch.equal(out[2], TF.horizontal_flip(x[2])) and torch.equal(out[3], x[3])


@pytest.mark.parametrize("size,cy,cx", [(16, 0, 0), (16, 31, 31), (16, 15, 20), (5, 2, 30), (1, 7, 7)])
def test_cutout_mask_equals_the_per_image_cutout(size, cy, cx, monkeypatch):
    bt = BatchTransform(True, image_size=32, cutout=size, **CIFAR)
    mask = bt.cutout_mask(1, 32, 32, torch.tensor([cy]), torch.tensor([cx]), torch.device("cpu"))[0, 0]
    draws = iter([torch.tensor(cy), torch.tensor(cx)])
    monkeypatch.setattr(torch, "randint", lambda *a, **k: next(draws))
    ref = Cutout(size)(torch.ones(1, 32, 32))[0] == 0
    assert torch.equal(mask, ref)


def _aa_ops():
    aa = v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)
    ops = sorted({op for policy in aa._policies for op, _, _ in policy})
    cases = []
    for op in ops:
        fn, signed = aa._AUGMENTATION_SPACE[op]
        mags = fn(10, 32, 32)
        for idx in (0, 4, 9):
            m = 0.0 if mags is None else float(mags[idx])
            cases.append((op, m))
            if signed and m:
                cases.append((op, -m))
    return cases


@pytest.mark.parametrize("op,magnitude", _aa_ops())
def test_each_autoaugment_op_on_a_group_equals_per_image(op, magnitude):
    """One call on a group of images gives what torchvision's per-image call gives for each."""
    x = _images(5, seed=3)
    bt = BatchTransform(True, image_size=32, autoaugment="cifar", **CIFAR)
    out = bt.apply_ops(x, [[(op, magnitude), None]] * 5)
    aa = bt.autoaugment
    for i in range(5):
        ref = aa._apply_image_or_video_transform(x[i], op, magnitude, interpolation=aa.interpolation, fill=aa._fill)
        assert torch.equal(out[i], ref), (op, magnitude, i)


def test_two_slots_compose_in_order():
    x = _images(3)
    bt = BatchTransform(True, image_size=32, autoaugment="cifar", **CIFAR)
    out = bt.apply_ops(x, [[("Invert", 0.0), ("Posterize", 4.0)], [None, ("Invert", 0.0)], [None, None]])
    assert torch.equal(out[0], TF.posterize(TF.invert(x[0]), 4))
    assert torch.equal(out[1], TF.invert(x[1]))
    assert torch.equal(out[2], x[2])


# ------------------------------------------------------------------ random parts: the same distributions

def _expected_op_frequencies(policy=v2.AutoAugmentPolicy.CIFAR10):
    """Per image, the expected number of applications of each (op, |magnitude|)."""
    aa = v2.AutoAugment(policy)
    exp = collections.Counter()
    for pol in aa._policies:
        for op, p, idx in pol:
            mags = aa._AUGMENTATION_SPACE[op][0](10, 32, 32)
            exp[(op, None if mags is None else round(float(mags[idx]), 4))] += p / len(aa._policies)
    return exp


def test_autoaugment_draws_follow_torchvisions_policy_and_per_image_draws():
    """Per-op frequencies, magnitudes and signs of the batched draws against the policy table and
    against what torchvision's per-image AutoAugment applies over as many images."""
    torch.manual_seed(0)
    n = 20_000
    bt = BatchTransform(True, image_size=32, autoaugment="cifar", **CIFAR)
    aa = bt.autoaugment
    bins = {op: aa._AUGMENTATION_SPACE[op][0](10, 32, 32) for op in aa._AUGMENTATION_SPACE}
    fast = collections.Counter()
    signs = collections.Counter()
    for per_image in bt.autoaugment_draw(n, 32, 32):
        for slot in per_image:
            if slot is None:
                continue
            op, m = slot
            if bins[op] is None:
                assert m == 0.0
                fast[(op, None)] += 1
                continue
            assert any(abs(m) == float(v) for v in bins[op]), (op, m)  # exactly a bin's value
            fast[(op, round(abs(m), 4))] += 1
            if aa._AUGMENTATION_SPACE[op][1] and m != 0:
                signs[m < 0] += 1

    # torchvision's per-image AutoAugment, its operations recorded instead of applied
    calls = collections.Counter()
    per_image = v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)

    def record(image, op, magnitude, interpolation, fill):
        b = bins[op]
        calls[(op, None if b is None else round(abs(magnitude), 4))] += 1
        return image

    per_image._apply_image_or_video_transform = record
    img = torch.zeros(3, 32, 32, dtype=torch.uint8)
    for _ in range(n):
        per_image(img)

    expected = _expected_op_frequencies()
    assert set(fast) == set(expected) == set(calls)
    for key, e in expected.items():
        sd = math.sqrt(n * e)  # Poisson-like spread of a count with mean n * e
        assert abs(fast[key] - n * e) < 5 * sd + 5, (key, fast[key], n * e)
        assert abs(calls[key] - n * e) < 5 * sd + 5, (key, calls[key], n * e)
    neg = signs[True] / (signs[True] + signs[False])
    assert abs(neg - 0.5) < 0.02


def test_crop_flip_and_cutout_draws_are_uniform():
    """Offsets uniform on 0..2p, flips with probability 1/2, Cutout centres uniform: read back from
    the output of a batch of images that mark their own pixels."""
    torch.manual_seed(1)
    n = 4000
    # each image: pixel value = 1 + column index (so the crop offset and the flip are visible)
    cols = (torch.arange(32, dtype=torch.uint8) + 1).expand(n, 1, 32, 32).clone()
    bt = BatchTransform(True, image_size=32, crop_padding=4, hflip=True, mean=(0.0,), std=(1.0,))
    out = (bt(cols) * 255).round().to(torch.int64)
    row = out[:, 0, 16]  # a row the vertical offset (|dy| <= 4) cannot push into the padding
    # Unflipped, output column j shows source column j + left - 4, i.e. the value j + left - 3;
    # column 16 (15 once mirrored) always shows a real pixel.
    flipped = row[:, 15] > row[:, 16]
    left = torch.where(flipped, row[:, 15], row[:, 16]) - 13
    hist = torch.bincount(left, minlength=9).double() / n
    assert left.min() >= 0 and left.max() <= 8
    assert torch.all((hist - 1 / 9).abs() < 0.03), hist
    assert abs(flipped.double().mean() - 0.5) < 0.03

    bt = BatchTransform(True, image_size=32, cutout=1, mean=(0.0,), std=(1.0,))
    holes = bt(torch.full((n, 1, 32, 32), 255, dtype=torch.uint8))[:, 0] == 0
    assert torch.equal(holes.sum((1, 2)), torch.ones(n, dtype=torch.int64))   # one pixel each
    ys = holes.any(2).to(torch.int64).argmax(1)
    assert abs(ys.double().mean() - 15.5) < 0.5 and ys.min() == 0 and ys.max() == 31


def test_full_recipe_output_statistics_match_the_per_image_path():
    """The whole recipe, both paths, over the same 2,000 images: per-channel means within four
    standard errors, and the share of Cutout-black pixels within 1.5 points."""
    n = 2000
    x = _images(n, seed=5)
    torch.manual_seed(2)
    fast = BatchTransform(True, **RECIPE)(x)
    slow_tf = build_transform(True, **RECIPE)
    slow = torch.stack([slow_tf(img) for img in x])
    assert fast.shape == slow.shape == (n, 3, 32, 32) and fast.dtype == slow.dtype == torch.float32
    per_image_f, per_image_s = fast.mean((2, 3)), slow.mean((2, 3))          # (n, 3)
    se = ((per_image_f.var(0) + per_image_s.var(0)) / n).sqrt()
    assert torch.all((per_image_f.mean(0) - per_image_s.mean(0)).abs() < 4 * se), (per_image_f.mean(0),
                                                                                   per_image_s.mean(0), se)
    black = -torch.tensor(CIFAR["mean"]) / torch.tensor(CIFAR["std"])
    share = lambda t: (t == black.view(1, 3, 1, 1)).all(1).double().mean()  # noqa: E731
    assert abs(share(fast) - share(slow)) < 0.015


# ------------------------------------------------------------------ eligibility and the loader

def test_unsupported_transforms_are_named():
    assert unsupported_reason(dict(RECIPE), (3, 32, 32)) is None
    assert "randaugment" in unsupported_reason(dict(image_size=32, randaugment=dict(num_ops=2), **CIFAR), (3, 32, 32))
    assert "resize" in unsupported_reason(dict(image_size=32, resize=36, **CIFAR), (3, 32, 32))
    assert "28x28" in unsupported_reason(dict(image_size=32, **CIFAR), (3, 28, 28))


def test_tensor_loader_follows_the_sampler_and_drop_last():
    x = _images(10, c=1, s=8)
    y = torch.arange(10)
    tf = BatchTransform(False, image_size=8, mean=(0.0,), std=(1.0,))
    order = [9, 3, 1, 0, 2, 8, 7, 6, 5, 4]
    loader = TensorLoader(x, y, 4, order, tf, drop_last=True)
    batches = list(loader)
    assert len(loader) == len(batches) == 2
    assert batches[0][1].tolist() == [9, 3, 1, 0] and batches[1][1].tolist() == [2, 8, 7, 6]
    assert torch.equal(batches[0][0][0], x[9].float() * (1.0 / 255))
    assert len(TensorLoader(x, y, 4, order, tf)) == 3 and [len(b[1]) for b in TensorLoader(x, y, 4, order, tf)] == [4, 4, 2]
    with pytest.raises(ValueError, match="uint8"):
        TensorLoader(x.float(), y, 4, order, tf)
    with pytest.raises(ValueError, match="9 targets for 10 images"):
        TensorLoader(x, y[:9], 4, order, tf)


def test_trainer_picks_the_fast_path_for_in_memory_data(tmp_path):
    """data.loader=auto: batched for in-memory data with a batched transform; "dataloader" forces
    the per-image path; "tensor" with a transform it cannot run is refused, naming the key."""
    from iif.engine import Trainer, validate_config

    cfg = validate_config(dict(
        seed=0, device="cpu", work_dir=str(tmp_path / "run"),
        data=dict(name="cifar10_lt", fake=True, fake_size=64, batch_size=16, test_batch_size=32,
                  train_transform=dict(crop_padding=4, hflip=True, autoaugment="cifar", cutout=8)),
        model=dict(name="cnn3", head="linear", in_chans=3), schedule=dict(epochs=1), train=dict(max_iters=2)))
    trainer = Trainer(cfg)
    assert trainer.loader == "tensor"
    assert isinstance(trainer.train_loader, TensorLoader)
    images, target = next(iter(trainer.train_loader))
    assert images.shape == (16, 3, 32, 32) and images.dtype == torch.float32 and target.dtype == torch.int64
    cfg2 = dict(cfg, work_dir=str(tmp_path / "run2"), data=dict(cfg["data"], loader="dataloader"))
    assert Trainer(cfg2).loader == "dataloader"
    with pytest.raises(ValueError, match="data.loader='tensor' cannot be used here: .*randaugment"):
        Trainer(dict(cfg, work_dir=str(tmp_path / "run3"),
                     data=dict(cfg["data"], loader="tensor",
                               train_transform=dict(randaugment=dict(num_ops=2, magnitude=9)))))
