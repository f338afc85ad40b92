"""Canvases of real Fashion-MNIST garments and MNIST digits: the one generator behind the offline sets.

:func:`paint_canvas` pastes glyphs of given categories at random places of a noisy canvas and
returns each object's exact visible mask. Two generated datasets use it:

- the LVIS-format detection set (:mod:`iif.data.toy_lvis`): boxes and masks from the masks;
- the long-tailed multi-label set (:mod:`iif.data.toy_mlt`): the multi-hot labels of each canvas.

The 20 categories are the 10 Fashion-MNIST classes then the 10 digits (:data:`CATEGORY_NAMES`);
:func:`load_glyph_pools` reads their images from the IDX files ``python -m iif.data.fetch``
installs. Deterministic for a given ``numpy.random.Generator`` state.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .idx import read_idx
from .mnist import IDX_FILES, find_idx_file

__all__ = ["CATEGORY_NAMES", "load_glyph_pools", "paint_canvas", "resize_glyph"]

_GARMENTS = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
#: Names of the 20 glyph categories: garments (Fashion-MNIST) then digits (MNIST).
CATEGORY_NAMES = _GARMENTS + [f"digit_{d}" for d in range(10)]


def _load_glyphs(directory: str, train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 28, 28) uint8, labels (n,) int64)`` of the training (or test) IDX files."""
    names = IDX_FILES[:2] if train else IDX_FILES[2:]
    paths = [find_idx_file(directory, n) for n in names]
    if not all(paths):
        raise FileNotFoundError(f"{directory!r} lacks the IDX files {list(names)}; run `python -m iif.data.fetch all`")
    return read_idx(paths[0]), read_idx(paths[1]).astype(np.int64)


def load_glyph_pools(fashion_dir: str, mnist_dir: str, train: bool = True) -> list[np.ndarray]:
    """The glyphs of each of the 20 :data:`CATEGORY_NAMES`: a list of ``(n_c, 28, 28)`` uint8 arrays.

    ``train`` picks the IDX training files (60,000 images each), else the test files (10,000).
    """
    f_img, f_lbl = _load_glyphs(fashion_dir, train)
    m_img, m_lbl = _load_glyphs(mnist_dir, train)
    return [f_img[f_lbl == k] for k in range(10)] + [m_img[m_lbl == k] for k in range(10)]


def resize_glyph(glyph: np.ndarray, size: int) -> np.ndarray:
    """A ``(28, 28)`` glyph resized (bilinear) to ``(size, size)`` uint8."""
    from PIL import Image  # only the generators need Pillow

    return np.asarray(Image.fromarray(glyph).resize((size, size), Image.BILINEAR))


def paint_canvas(categories: Sequence[int], pools: Sequence[np.ndarray], rng: np.random.Generator,
                 min_size: int, max_size: int, object_size: tuple[int, int | None] = (40, None),
                 min_glyph_pixels: int = 20, min_visible_pixels: int = 10, max_overlap: float = 0.1,
                 attempts: int = 30) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """Paste one glyph of each of ``categories`` onto a fresh canvas.

    Args:
        categories: category indices into ``pools``, one object each (repeats allowed).
        pools: per category, candidate glyphs ``(n, 28, 28)`` uint8.
        rng: the source of every random choice (canvas size, noise, place, glyph, colour).
        min_size, max_size: the canvas height and width are drawn from ``[min_size, max_size]``.
        object_size: ``(low, high)`` side of an object's square; ``high=None`` is half the
            canvas's shorter side.
        min_glyph_pixels: a glyph whose silhouette (pixels > 40) is smaller is not pasted.
        min_visible_pixels: an object covered by later ones down to fewer pixels is dropped.
        max_overlap: up to ``attempts`` places are tried until the square overlaps earlier
            objects' pixels by less than this fraction; the last one is used otherwise.

    Returns:
        ``(canvas (H, W, 3) uint8, [(category, mask (H, W) bool), ...])``: the visible objects in
        paste order; a later object covering part of an earlier one removes those pixels from
        the earlier mask, so every mask is exact.
    """
    h, w = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
    canvas = rng.integers(0, 40, size=(h, w, 1)).astype(np.float32) * rng.uniform(0.6, 1.0, size=(1, 1, 3))
    occupied = np.zeros((h, w), dtype=bool)
    low, high = object_size
    high = min(h, w) // 2 if high is None else high
    if not 1 <= low <= high <= min(h, w):
        raise ValueError(f"object_size {object_size} does not fit a {h}x{w} canvas; "
                         f"expected 1 <= low <= high <= {min(h, w)}")
    objects: list[tuple[int, np.ndarray]] = []
    for cat in categories:
        for _ in range(attempts):  # find a spot that overlaps earlier objects little
            size = int(rng.integers(low, high + 1))
            y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            if occupied[y:y + size, x:x + size].mean() < max_overlap:
                break
        pool = pools[cat]
        glyph = resize_glyph(pool[int(rng.integers(len(pool)))], size)
        mask_local = glyph > 40  # the garment / stroke silhouette
        if mask_local.sum() < min_glyph_pixels:
            continue
        region = canvas[y:y + size, x:x + size]
        colour = rng.uniform(0.5, 1.0, size=3)
        region[mask_local] = glyph[mask_local, None].astype(np.float32) * colour
        mask = np.zeros((h, w), dtype=bool)
        mask[y:y + size, x:x + size] = mask_local
        # A later object can cover part of an earlier one: keep every mask exact.
        for _, earlier in objects:
            earlier &= ~mask
        occupied |= mask
        objects.append((int(cat), mask))
    visible = [(cat, m) for cat, m in objects if m.sum() >= min_visible_pixels]
    return np.clip(canvas, 0, 255).astype(np.uint8), visible
