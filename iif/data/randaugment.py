"""The IIF authors' RandAugment: the ``randaugment`` package's policy, on ``uint8`` tensors.

The authors' Places-LT runs (``--auto-augment randaugment``) apply ``RandAugment()`` of the PyPI
package ``randaugment`` 1.0.2 after ``RandomResizedCrop(224)`` and the flip (kostas1515/iif at
747b041, ``classification/imbalanced_dataset.py`` lines 218-225). That policy is not torchvision's
``RandAugment(num_ops=2, magnitude=9)``. Read from the package's ``randaugment/randaugment.py``
(wheel ``randaugment-1.0.2-py3-none-any.whl``; class ``RandAugment`` lines 460-495, ``SubPolicy``
lines 354-453, ``Cutout`` lines 11-64), per image:

- two (operation, level) pairs, each uniform over the 15 operations of :data:`OPS` (Invert and
  Cutout included) times the levels 1..9, independently (the package picks one of the
  ``135 * 135`` ordered pairs; the same operation can come twice);
- each pair applied with probability 0.5, the first before the second (``SubPolicy``);
- the magnitude is entry ``level`` of a 10-entry ``np.linspace`` table (:func:`magnitude`; level 0,
  the table's identity, is never drawn);
- shears, translations and the colour / contrast / brightness / sharpness factors ``1 +- m`` take a
  random sign; Rotate always turns counter-clockwise; the fill outside a moved image is grey 128,
  Cutout's square is ``(125, 122, 113)`` (side ``2 * (size // 2)``, clipped at the borders).

The package itself cannot be used: it builds its tables with ``np.int``, which numpy removed in
1.24, so every call raises ``AttributeError`` on the numpy this project pins (and it works on PIL
images, not on this pipeline's tensors). The operations below reproduce the Pillow calls the
package makes, on ``(C, H, W)`` ``uint8`` tensors with C = 3 (RGB) or 1 (then Color is the
identity and the fills are their grey values, 128 and 122, where PIL would need an RGB image).
``tests/test_randaugment.py`` checks each operation against Pillow pixel for pixel.
Randomness comes from torch's global generator (seeded per DataLoader worker) unless a
``torch.Generator`` is given.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["AuthorsRandAugment", "OPS", "LEVELS", "SIGNED_OPS", "magnitude", "apply_op"]

#: The package's operations, in its ``get_trans_list`` order.
OPS: tuple[str, ...] = ("Invert", "Cutout", "Sharpness", "AutoContrast", "Posterize", "ShearX", "TranslateX",
                        "TranslateY", "ShearY", "Rotate", "Equalize", "Contrast", "Color", "Solarize", "Brightness")
#: The levels RandAugment draws (``range(1, 10)``): indices into 10-entry tables.
LEVELS: tuple[int, ...] = tuple(range(1, 10))
#: Operations whose magnitude takes a random sign (``random.choice([-1, 1])`` in the package).
SIGNED_OPS = frozenset({"ShearX", "ShearY", "TranslateX", "TranslateY", "Color", "Contrast", "Sharpness",
                        "Brightness"})

# The package's `ranges` (np.int there is the builtin int); identical float64 values.
_TABLES: dict[str, np.ndarray] = {
    "ShearX": np.linspace(0, 0.3, 10),
    "ShearY": np.linspace(0, 0.3, 10),
    "TranslateX": np.linspace(0, 150 / 331, 10),  # fraction of the image side
    "TranslateY": np.linspace(0, 150 / 331, 10),
    "Rotate": np.linspace(0, 30, 10),  # degrees
    "Color": np.linspace(0.0, 0.9, 10),  # factor 1 +- m
    "Posterize": np.round(np.linspace(8, 4, 10), 0).astype(int),  # bits kept
    "Solarize": np.linspace(256, 0, 10),  # threshold
    "Contrast": np.linspace(0.0, 0.9, 10),
    "Sharpness": np.linspace(0.0, 0.9, 10),
    "Brightness": np.linspace(0.0, 0.9, 10),
    "AutoContrast": np.zeros(10),
    "Equalize": np.zeros(10),
    "Invert": np.zeros(10),
    "Cutout": np.round(np.linspace(0, 20, 10), 0).astype(int),  # square size
}
_FILL = 128  # SubPolicy's fillcolor (128, 128, 128)
_CUTOUT_RGB = (125, 122, 113)


def magnitude(op: str, level: int) -> float:
    """The package's magnitude of ``op`` at ``level`` (0..9; RandAugment draws 1..9)."""
    if op not in _TABLES:
        raise ValueError(f"unknown RandAugment operation {op!r}; expected one of {list(OPS)}")
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 0 <= level <= 9:
        raise ValueError(f"level must be an integer in 0..9, got {level!r}")
    value = _TABLES[op][level]
    return int(value) if op in ("Posterize", "Cutout") else float(value)


# ------------------------------------------------------------------ Pillow's arithmetic on tensors

def _check_image(img: Tensor) -> None:
    if not isinstance(img, torch.Tensor) or img.dtype != torch.uint8 or img.dim() != 3 or img.shape[0] not in (1, 3):
        raise ValueError("the authors' RandAugment takes a uint8 (C, H, W) tensor with C = 1 or 3, got "
                         f"{getattr(img, 'dtype', type(img).__name__)} of shape {tuple(getattr(img, 'shape', ()))}")


def _lut(img: Tensor, lut: Tensor) -> Tensor:
    """Per-channel lookup: ``lut`` is ``(C, 256)`` integers, clipped to 0..255 as PIL's ``point``."""
    c = img.shape[0]
    out = torch.gather(lut.clamp(0, 255).to(torch.int64), 1, img.reshape(c, -1).to(torch.int64))
    return out.to(torch.uint8).reshape(img.shape)


def _gray(img: Tensor) -> Tensor:
    """PIL's ``convert("L")``: ``(19595 R + 38470 G + 7471 B + 0x8000) >> 16``, shape ``(1, H, W)`` int64."""
    if img.shape[0] == 1:
        return img.to(torch.int64)
    r, g, b = img.to(torch.int64)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).unsqueeze(0)


def _blend(degenerate: Tensor, img: Tensor, factor: float) -> Tensor:
    """PIL's ``Image.blend(degenerate, img, factor)``: ``in1 + a (in2 - in1)`` in float32, truncated;
    clipped to 0..255 when ``factor`` is outside [0, 1] (``ImageEnhance``'s enhance)."""
    if factor == 0.0:
        return degenerate.expand_as(img).clone()
    if factor == 1.0:
        return img.clone()
    a = torch.tensor(factor, dtype=torch.float32)
    in1 = degenerate.to(torch.float32).expand_as(img)
    out = in1 + a * (img.to(torch.float32) - in1)
    if not 0.0 <= factor <= 1.0:
        out = out.clamp(0.0, 255.0)
    return out.to(torch.uint8)  # truncation toward zero, as C's (UINT8) cast


def _smooth(img: Tensor) -> Tensor:
    """PIL's ``filter(ImageFilter.SMOOTH)`` (3x3 kernel (1 1 1; 1 5 1; 1 1 1) / 13, float32 sums
    with a +0.5 rounding offset, the one-pixel border copied)."""
    h, w = img.shape[-2:]
    if h < 3 or w < 3:
        return img.clone()
    x = img.to(torch.float32)
    k = torch.tensor(1.0, dtype=torch.float32) / torch.tensor(13.0, dtype=torch.float32)
    kc = torch.tensor(5.0, dtype=torch.float32) / torch.tensor(13.0, dtype=torch.float32)

    def row(r: Tensor, centre: Tensor) -> Tensor:  # in[x-1] k0 + in[x] k1 + in[x+1] k2, left to right
        return (r[..., :-2] * k + r[..., 1:-1] * centre) + r[..., 2:] * k

    ss = torch.tensor(0.5, dtype=torch.float32) + row(x[:, 2:], k)  # the row below first, as Pillow
    ss = ss + row(x[:, 1:-1], kc)
    ss = ss + row(x[:, :-2], k)
    out = img.clone()
    out[:, 1:-1, 1:-1] = ss.clamp(0.0, 255.0).to(torch.uint8)
    return out


def _translate(img: Tensor, offset: float, axis: int) -> Tensor:
    """PIL's nearest-neighbour affine with matrix ``(1, 0, c, 0, 1, f)`` (``ImagingScaleAffine``):
    source index ``COORD(c + 0.5 + k)`` accumulated in float64, grey fill outside."""
    size = img.shape[2 if axis == 0 else 1]
    v, src = offset + 0.5, []
    for _ in range(size):
        src.append(-1 if v < 0.0 else int(v))
        v += 1.0
    idx = torch.tensor(src, dtype=torch.int64)
    valid = (idx >= 0) & (idx < size)
    out = torch.full_like(img, _FILL)
    if axis == 0:
        out[:, :, valid] = img[:, :, idx[valid]]
    else:
        out[:, valid, :] = img[:, idx[valid], :]
    return out


def _rotate(img: Tensor, degrees: float) -> Tensor:
    """The package's ``rotate_with_fill``: PIL's ``rotate(degrees)`` (nearest neighbour, about the
    centre, 16.16 fixed point as Pillow's ``affine_fixed``), grey 128 where the turned image is not."""
    h, w = img.shape[-2:]
    angle = degrees % 360.0
    if angle == 0.0:
        return img.clone()
    cx, cy = w / 2, h / 2
    t = -math.radians(angle)
    m = [round(math.cos(t), 15), round(math.sin(t), 15), 0.0, round(-math.sin(t), 15), round(math.cos(t), 15), 0.0]
    m[2], m[5] = m[0] * -cx + m[1] * -cy + m[2], m[3] * -cx + m[4] * -cy + m[5]
    m[2] += cx
    m[5] += cy

    def fix(value: float) -> int:
        return math.floor(value * 65536.0 + 0.5)

    a0, a1, a3, a4 = fix(m[0]), fix(m[1]), fix(m[3]), fix(m[4])
    a2, a5 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5), fix(m[5] + m[3] * 0.5 + m[4] * 0.5)
    ys = torch.arange(h, dtype=torch.int64)[:, None]
    xs = torch.arange(w, dtype=torch.int64)[None, :]
    xin = (a2 + ys * a1 + xs * a0) >> 16  # arithmetic shift: floor
    yin = (a5 + ys * a4 + xs * a3) >> 16
    valid = (xin >= 0) & (xin < w) & (yin >= 0) & (yin < h)
    out = img[:, yin.clamp(0, h - 1), xin.clamp(0, w - 1)]
    return torch.where(valid, out, torch.full_like(out, _FILL))


def _cubic(v1: Tensor, v2: Tensor, v3: Tensor, v4: Tensor, d: Tensor) -> Tensor:
    """Pillow's BICUBIC macro (cubic convolution, a = -1), same operation order, float64."""
    p1 = v2
    p2 = -v1 + v3
    p3 = 2 * (v1 - v2) + v3 - v4
    p4 = -v1 + v2 - v3 + v4
    return p1 + d * (p2 + d * (p3 + d * p4))


def _shear(img: Tensor, shear: float, axis: int) -> Tensor:
    """PIL's bicubic affine with matrix ``(1, s, 0, 0, 1, 0)`` (x) or ``(1, 0, 0, s, 1, 0)`` (y)
    (``ImagingGenericTransform`` + ``bicubic_filter``): borders clamped, grey fill outside.

    Pillow interpolates along both axes, but the other axis's source coordinate is a pixel centre
    (fraction 0, where its cubic returns the centre tap exactly), so one 1-D cubic gives its result.
    """
    c, h, w = img.shape
    xo = torch.arange(w, dtype=torch.float64)[None, :] + 0.5
    yo = torch.arange(h, dtype=torch.float64)[:, None] + 0.5
    if axis == 0:  # xin = 1 (x + .5) + s (y + .5) + 0, as Pillow's affine_transform
        src_pos, size = 1.0 * xo + shear * yo + 0.0, w
    else:  # yin = s (x + .5) + 1 (y + .5) + 0
        src_pos, size = shear * xo + 1.0 * yo + 0.0, h
    valid = (src_pos >= 0.0) & (src_pos < size)  # the other coordinate is always inside
    pos = src_pos - 0.5
    floor = torch.floor(pos)
    d = pos - floor
    first = floor.to(torch.int64) - 1
    src = img.to(torch.float64)
    rows = torch.arange(h)[:, None].expand(h, w)
    cols = torch.arange(w)[None, :].expand(h, w)
    if axis == 0:
        taps = [src[:, rows, (first + i).clamp(0, w - 1)] for i in range(4)]
    else:
        taps = [src[:, (first + i).clamp(0, h - 1), cols] for i in range(4)]
    v = _cubic(*taps, d)
    out = torch.where(v <= 0.0, 0.0, torch.where(v >= 255.0, 255.0, torch.trunc(v))).to(torch.uint8)
    return torch.where(valid, out, torch.full_like(out, _FILL))


def _autocontrast(img: Tensor) -> Tensor:
    """PIL's ``ImageOps.autocontrast`` (cutoff 0), per channel: ``int(i * 255/(hi-lo) - lo * 255/(hi-lo))``."""
    luts = []
    ix = torch.arange(256, dtype=torch.float64)
    for ch in img:
        lo, hi = int(ch.min()), int(ch.max())
        if hi <= lo:
            luts.append(torch.arange(256, dtype=torch.int64))
            continue
        scale = 255.0 / (hi - lo)
        offset = -lo * scale
        luts.append(torch.trunc(ix * scale + offset).to(torch.int64).clamp(0, 255))
    return _lut(img, torch.stack(luts))


def _equalize(img: Tensor) -> Tensor:
    """PIL's ``ImageOps.equalize``, per channel: ``lut[i] = (step // 2 + sum_{j < i} h[j]) // step``."""
    luts = []
    for ch in img:
        hist = torch.bincount(ch.reshape(-1).to(torch.int64), minlength=256)
        nonzero = hist[hist > 0]
        step = int(nonzero.sum() - nonzero[-1]) // 255 if len(nonzero) > 1 else 0
        if not step:
            luts.append(torch.arange(256, dtype=torch.int64))
            continue
        before = torch.cumsum(hist, 0) - hist
        luts.append((step // 2 + before) // step)
    return _lut(img, torch.stack(luts))


def _cutout(img: Tensor, size: int, generator: Optional[torch.Generator]) -> Tensor:
    """The package's ``Cutout(size)``: centre uniform over the pixels, square ``[c - size//2, c + size//2)``
    clipped at the borders, painted ``(125, 122, 113)`` (its luma, 122, on one channel)."""
    h, w = img.shape[-2:]
    cx = int(torch.randint(w, (), generator=generator))
    cy = int(torch.randint(h, (), generator=generator))
    half = size // 2
    x0, x1 = max(0, cx - half), min(w, cx + half)
    y0, y1 = max(0, cy - half), min(h, cy + half)
    out = img.clone()
    colour = _CUTOUT_RGB if img.shape[0] == 3 else (int(_gray(torch.tensor(_CUTOUT_RGB, dtype=torch.uint8)
                                                                 .view(3, 1, 1))),)
    out[:, y0:y1, x0:x1] = torch.tensor(colour, dtype=torch.uint8).view(-1, 1, 1)
    return out


def _sign(generator: Optional[torch.Generator]) -> int:
    return 1 if torch.rand((), generator=generator) < 0.5 else -1


def apply_op(img: Tensor, op: str, level: int, sign: Optional[int] = None,
             generator: Optional[torch.Generator] = None) -> Tensor:
    """Apply one of the package's operations at ``level`` to a ``uint8`` ``(C, H, W)`` image.

    ``sign`` (+1 / -1) fixes the random sign of :data:`SIGNED_OPS` (drawn when ``None``);
    Cutout draws its centre from ``generator`` (torch's global generator when ``None``).
    """
    _check_image(img)
    mag = magnitude(op, level)
    if op in SIGNED_OPS:
        if sign is None:
            sign = _sign(generator)
        elif sign not in (1, -1):
            raise ValueError(f"sign must be 1 or -1, got {sign!r}")
    h, w = img.shape[-2:]
    if op == "Invert":
        return 255 - img
    if op == "Cutout":
        return _cutout(img, mag, generator)
    if op == "Posterize":
        return img & (~(2 ** (8 - mag) - 1) & 0xFF)
    if op == "Solarize":
        return torch.where(img.to(torch.float64) < mag, img, 255 - img)
    if op == "AutoContrast":
        return _autocontrast(img)
    if op == "Equalize":
        return _equalize(img)
    if op == "Rotate":
        return _rotate(img, mag)
    if op in ("ShearX", "ShearY"):
        return _shear(img, mag * sign, 0 if op == "ShearX" else 1)
    if op == "TranslateX":
        return _translate(img, mag * w * sign, 0)
    if op == "TranslateY":
        return _translate(img, mag * h * sign, 1)
    factor = 1 + mag * sign
    if op == "Brightness":
        return _blend(torch.zeros((), dtype=torch.uint8), img, factor)
    if op == "Color":
        return _blend(_gray(img).to(torch.uint8), img, factor)
    if op == "Contrast":
        gray = _gray(img)
        mean = int(int(gray.sum()) / gray.numel() + 0.5)  # ImageStat's mean of the L image, rounded
        return _blend(torch.tensor(mean, dtype=torch.uint8), img, factor)
    assert op == "Sharpness", op
    return _blend(_smooth(img), img, factor)


class AuthorsRandAugment:
    """``randaugment.RandAugment()`` (package 1.0.2) on ``uint8`` ``(C, H, W)`` tensors.

    Two (operation, level) pairs drawn uniformly from :data:`OPS` x :data:`LEVELS`, each applied
    with probability ``prob`` (0.5 in the package), in order. See the module docstring for the
    source and every detail.
    """

    def __init__(self, prob: float = 0.5, generator: Optional[torch.Generator] = None) -> None:
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be a number in [0, 1], got {prob!r}")
        self.prob = float(prob)
        self.generator = generator

    def draw(self) -> list[tuple[str, int]]:
        """The operations one call applies: the two drawn pairs that pass their coin, in order."""
        g = self.generator
        pairs = [(OPS[int(torch.randint(len(OPS), (), generator=g))], int(torch.randint(1, 10, (), generator=g)))
                 for _ in range(2)]
        return [pair for pair in pairs if float(torch.rand((), generator=g)) < self.prob]

    def __call__(self, img: Tensor) -> Tensor:
        _check_image(img)
        for op, level in self.draw():
            img = apply_op(img, op, level, generator=self.generator)
        return img

    def __repr__(self) -> str:
        return f"AuthorsRandAugment(ops={len(OPS)}, levels=1..9, prob={self.prob})"

