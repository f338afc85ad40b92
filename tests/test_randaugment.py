"""The IIF authors' RandAugment (iif.data.randaugment): the ``randaugment`` 1.0.2 package's policy.

The package itself fails on numpy >= 1.24 (``np.int``), so the references here are the Pillow calls
its ``SubPolicy`` makes (randaugment/randaugment.py lines 384-437 of the 1.0.2 wheel), run on the
same pixels: every operation at every level and sign must match pixel for pixel.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from iif.data import build_transform
from iif.data.randaugment import LEVELS, OPS, SIGNED_OPS, AuthorsRandAugment, apply_op, magnitude

GREY = (128, 128, 128)


def _package_op(pil: Image.Image, op: str, level: int, sign: int) -> Image.Image:
    """What the package's SubPolicy lambdas do to ``pil`` (the random sign fixed to ``sign``)."""
    m = magnitude(op, level)
    fill = GREY if pil.mode == "RGB" else 128
    if op == "Invert":
        return ImageOps.invert(pil)
    if op == "Posterize":
        return ImageOps.posterize(pil, m)
    if op == "Solarize":
        return ImageOps.solarize(pil, m)
    if op == "AutoContrast":
        return ImageOps.autocontrast(pil)
    if op == "Equalize":
        return ImageOps.equalize(pil)
    enhance = {"Color": ImageEnhance.Color, "Contrast": ImageEnhance.Contrast,
               "Brightness": ImageEnhance.Brightness, "Sharpness": ImageEnhance.Sharpness}
    if op in enhance:
        return enhance[op](pil).enhance(1 + m * sign)
    if op == "ShearX":
        return pil.transform(pil.size, Image.AFFINE, (1, m * sign, 0, 0, 1, 0), Image.BICUBIC, fillcolor=fill)
    if op == "ShearY":
        return pil.transform(pil.size, Image.AFFINE, (1, 0, 0, m * sign, 1, 0), Image.BICUBIC, fillcolor=fill)
    if op == "TranslateX":
        return pil.transform(pil.size, Image.AFFINE, (1, 0, m * pil.size[0] * sign, 0, 1, 0), fillcolor=fill)
    if op == "TranslateY":
        return pil.transform(pil.size, Image.AFFINE, (1, 0, 0, 0, 1, m * pil.size[1] * sign), fillcolor=fill)
    if op == "Rotate":  # rotate_with_fill: counter-clockwise only, grey where the turned image is not
        rot = pil.convert("RGBA").rotate(m)
        return Image.composite(rot, Image.new("RGBA", rot.size, (128,) * 4), rot).convert(pil.mode)
    raise KeyError(op)


def _image(h: int, w: int, channels: int, seed: int, narrow: bool = False) -> np.ndarray:
    a = np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)
    return (a // 3 + 40).astype(np.uint8) if narrow else a  # narrow: autocontrast / equalize stretch


def _pil(a: np.ndarray) -> Image.Image:
    return Image.fromarray(a if a.shape[2] == 3 else a[..., 0], "RGB" if a.shape[2] == 3 else "L")


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize("op", [o for o in OPS if o != "Cutout"])
@pytest.mark.parametrize("channels,shape,narrow", [(3, (37, 53), False), (3, (24, 19), True), (1, (29, 41), True)])
def test_every_op_level_and_sign_equals_pillow(op, channels, shape, narrow):
    a = _image(*shape, channels, seed=len(op) + channels, narrow=narrow)
    pil, t = _pil(a), _tensor(a)
    for level in LEVELS:
        for sign in ((1, -1) if op in SIGNED_OPS else (1,)):
            ref = np.asarray(_package_op(pil, op, level, sign)).reshape(a.shape)
            ours = apply_op(t, op, level, sign=sign).permute(1, 2, 0).numpy()
            assert ours.dtype == np.uint8
            np.testing.assert_array_equal(ours, ref, err_msg=f"{op} level {level} sign {sign}")


def test_equalize_clips_like_pillow():
    # one pixel of value 1 among 271 zeros: Pillow's lut entry is 271, clipped to 255
    a = np.zeros((17, 16, 3), np.uint8)
    a[0, 0] = 1
    ref = np.asarray(ImageOps.equalize(_pil(a)))
    np.testing.assert_array_equal(apply_op(_tensor(a), "Equalize", 1).permute(1, 2, 0).numpy(), ref)


def test_magnitude_tables_are_the_packages():
    # the package's np.linspace tables (np.int there = int), entries 1..9
    expect = {
        "ShearX": np.linspace(0, 0.3, 10), "TranslateY": np.linspace(0, 150 / 331, 10),
        "Rotate": np.linspace(0, 30, 10), "Color": np.linspace(0.0, 0.9, 10), "Solarize": np.linspace(256, 0, 10),
    }
    for op, table in expect.items():
        assert [magnitude(op, lv) for lv in LEVELS] == table[1:].tolist(), op
    assert [magnitude("Posterize", lv) for lv in LEVELS] == [8, 7, 7, 6, 6, 5, 5, 4, 4]
    assert [magnitude("Cutout", lv) for lv in LEVELS] == [2, 4, 7, 9, 11, 13, 16, 18, 20]
    assert LEVELS == tuple(range(1, 10)) and len(OPS) == 15 and {"Invert", "Cutout"} <= set(OPS)
    with pytest.raises(ValueError, match="unknown RandAugment operation 'Blur'"):
        magnitude("Blur", 1)
    with pytest.raises(ValueError, match="level must be an integer in 0..9"):
        magnitude("Rotate", 10)


def test_draw_frequencies_per_op_level_and_count():
    n = 30000
    ra = AuthorsRandAugment(generator=torch.Generator().manual_seed(0))
    ops, levels, counts = {o: 0 for o in OPS}, {lv: 0 for lv in range(10)}, [0, 0, 0]
    for _ in range(n):
        drawn = ra.draw()
        counts[len(drawn)] += 1
        for op, level in drawn:
            ops[op] += 1
            levels[level] += 1
    # per slot: op uniform over 15, applied with p 0.5 -> E[#op per call] = 2 / 30, sd ~ 44 over 30000 calls
    for op, k in ops.items():
        assert abs(k - n / 15) < 5 * np.sqrt(n * 2 * (1 / 30) * (29 / 30)), (op, k)
    # 0, 1 or 2 operations with probabilities 1/4, 1/2, 1/4
    for k, p in zip(counts, (0.25, 0.5, 0.25)):
        assert abs(k / n - p) < 5 * np.sqrt(p * (1 - p) / n), counts
    # levels 1..9 uniform, never 0
    applied = sum(levels.values())
    assert levels[0] == 0 and all(abs(levels[lv] / applied - 1 / 9) < 0.01 for lv in LEVELS), levels


def test_random_sign_is_fair_and_rotate_has_none():
    g = torch.Generator().manual_seed(1)
    flat = torch.full((3, 6, 6), 100, dtype=torch.uint8)
    outs = [int(apply_op(flat, "Brightness", 9, generator=g)[0, 0, 0]) for _ in range(4000)]
    assert set(outs) == {10, 190}  # 100 * (1 -+ 0.9), truncated
    assert abs(outs.count(190) / 4000 - 0.5) < 0.04
    img = _tensor(_image(20, 20, 3, seed=3))
    first = apply_op(img, "Rotate", 5, generator=g)
    assert all(torch.equal(apply_op(img, "Rotate", 5, generator=g), first) for _ in range(20))


@pytest.mark.parametrize("h,w", [(12, 20), (40, 32)])
def test_cutout_is_the_packages(h, w):
    img = _tensor(_image(h, w, 3, seed=4))
    for level in LEVELS:
        size = magnitude("Cutout", level)
        g = torch.Generator().manual_seed(level)
        state = g.get_state()
        out = apply_op(img, "Cutout", level, generator=g)
        g.set_state(state)  # the same centre draw: x over the width, then y over the height
        cx, cy = int(torch.randint(w, (), generator=g)), int(torch.randint(h, (), generator=g))
        box = np.zeros((h, w), bool)
        box[max(0, cy - size // 2):min(h, cy + size // 2), max(0, cx - size // 2):min(w, cx + size // 2)] = True
        changed = (out != img).any(0).numpy()
        assert not changed[~box].any()
        assert (out[:, torch.from_numpy(box)] == torch.tensor([125, 122, 113], dtype=torch.uint8)[:, None]).all()
        assert box.sum() <= (2 * (size // 2)) ** 2  # side 2 * (size // 2), clipped at the borders
    one = apply_op(img[:1], "Cutout", 9, generator=torch.Generator().manual_seed(0))
    assert set(one.unique().tolist()) - set(img[:1].unique().tolist()) <= {122}  # the colour's luma


def test_call_is_reproducible_and_keeps_shape():
    img = _tensor(_image(32, 48, 3, seed=5))
    a = AuthorsRandAugment(generator=torch.Generator().manual_seed(7))
    b = AuthorsRandAugment(generator=torch.Generator().manual_seed(7))
    for _ in range(30):
        x, y = a(img), b(img)
        assert torch.equal(x, y) and x.shape == img.shape and x.dtype == torch.uint8
    assert torch.equal(AuthorsRandAugment(prob=0.0)(img), img)
    with pytest.raises(ValueError, match="uint8"):
        AuthorsRandAugment()(img.float())
    with pytest.raises(ValueError, match="prob must be a number in"):
        AuthorsRandAugment(prob=1.5)


def test_build_transform_policy_switch():
    kw = dict(image_size=24, mean=(0.5,) * 3, std=(0.25,) * 3, random_resized_crop=True, hflip=True)
    authors = build_transform(True, randaugment={}, randaugment_policy="authors", **kw)
    assert any(isinstance(t, AuthorsRandAugment) for t in authors.transforms)
    tv = build_transform(True, randaugment=dict(num_ops=2, magnitude=9), **kw)
    assert not any(isinstance(t, AuthorsRandAugment) for t in tv.transforms)
    x = torch.randint(0, 256, (3, 40, 30), dtype=torch.uint8)
    torch.manual_seed(0)
    y = authors(x)
    assert y.shape == (3, 24, 24) and y.dtype == torch.float32
    with pytest.raises(ValueError, match="unknown randaugment_policy 'timm'"):
        build_transform(True, randaugment={}, randaugment_policy="timm", **kw)
    with pytest.raises(ValueError, match=r"unknown RandAugment arguments \['num_ops'\] for randaugment_policy='authors'"):
        build_transform(True, randaugment=dict(num_ops=2), randaugment_policy="authors", **kw)
    with pytest.raises(ValueError, match="needs randaugment"):
        build_transform(True, randaugment_policy="authors", **kw)
