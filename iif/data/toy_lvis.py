"""A CPU-scale LVIS: real Fashion-MNIST garments and MNIST digits pasted onto canvases.

``make_toy_lvis(out_dir)`` writes the LVIS v1 layout that MMDetection's ``LVISV1Dataset``
reads unchanged::

    out_dir/annotations/lvis_v1_train.json, lvis_v1_val.json
    out_dir/train2017/000000000001.png ...   (images named through ``coco_url`` as in LVIS)
    out_dir/val2017/...

20 categories (10 garments, 10 digits, shuffled so both kinds are rare and frequent) get an
exponential profile of training image counts; LVIS's rule tags them rare (1-10 images),
common (11-100) or frequent (> 100). Masks are exact: the thresholded glyph, stored as
compressed RLE. Each category's ``image_count`` / ``instance_count`` are counted from the
training annotations (both files carry the training counts, as LVIS does); every image lists
``neg_category_ids`` (verified absent) and an empty ``not_exhaustive_category_ids``
(annotation is exhaustive). Deterministic for a seed.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from .idx import read_idx
from .mnist import IDX_FILES, find_idx_file

__all__ = ["ToyLVISSpec", "make_toy_lvis", "lvis_frequency", "CATEGORY_NAMES"]

logger = logging.getLogger(__name__)

_GARMENTS = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
#: Names of the 20 categories before shuffling: garments (Fashion-MNIST) then digits (MNIST).
CATEGORY_NAMES = _GARMENTS + [f"digit_{d}" for d in range(10)]
_URL = "http://images.cocodataset.org/"  # LVIS's coco_url prefix, which mmdet strips


def lvis_frequency(image_count: int) -> str:
    """LVIS v1's frequency group from a category's training image count: r (1-10), c (11-100), f (> 100)."""
    if image_count <= 10:
        return "r"
    return "c" if image_count <= 100 else "f"


@dataclass(frozen=True)
class ToyLVISSpec:
    """Size of the generated dataset. The defaults give 4 frequent, 9 common and 7 rare categories."""

    n_max: int = 240  # training images of the most frequent category
    imbalance: float = 120.0  # head / tail image count
    train_pool: int = 600  # images the occurrences are spread over (empty ones dropped)
    val_per_category: int = 8  # validation images per category (near balanced, so APr is measurable)
    min_size: int = 128
    max_size: int = 256
    seed: int = 0


def _load_glyphs(directory: str) -> tuple[np.ndarray, np.ndarray]:
    paths = [find_idx_file(directory, n) for n in IDX_FILES[:2]]
    if not all(paths):
        raise FileNotFoundError(f"{directory!r} lacks the IDX training files {IDX_FILES[:2]}; "
                                f"run `python -m iif.data.fetch all`")
    return read_idx(paths[0]), read_idx(paths[1]).astype(np.int64)


def _resize(glyph: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(glyph).resize((size, size), Image.BILINEAR))


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


class _Painter:
    """Pastes glyphs onto canvases and returns exact annotations."""

    def __init__(self, pools: list[np.ndarray], rng: np.random.Generator, spec: ToyLVISSpec) -> None:
        self.pools, self.rng, self.spec = pools, rng, spec

    def paint(self, categories: list[int]) -> tuple[np.ndarray, list[dict]]:
        rng, spec = self.rng, self.spec
        h, w = (int(v) for v in rng.integers(spec.min_size, spec.max_size + 1, size=2))
        canvas = rng.integers(0, 40, size=(h, w, 1)).astype(np.float32) * rng.uniform(0.6, 1.0, size=(1, 1, 3))
        occupied = np.zeros((h, w), dtype=bool)
        anns = []
        for cat in categories:
            for _ in range(30):  # find a spot that overlaps earlier objects little
                size = int(rng.integers(40, min(h, w) // 2 + 1))
                y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
                if occupied[y:y + size, x:x + size].mean() < 0.1:
                    break
            pool = self.pools[cat]
            glyph = _resize(pool[int(rng.integers(len(pool)))], size)
            mask_local = glyph > 40  # the garment / stroke silhouette
            if mask_local.sum() < 20:
                continue
            region = canvas[y:y + size, x:x + size]
            colour = rng.uniform(0.5, 1.0, size=3)
            region[mask_local] = glyph[mask_local, None].astype(np.float32) * colour
            mask = np.zeros((h, w), dtype=bool)
            mask[y:y + size, x:x + size] = mask_local
            # A later object can cover part of an earlier one: keep every mask exact.
            for a in anns:
                a["_mask"] &= ~mask
            occupied |= mask
            anns.append({"category_index": cat, "_mask": mask})
        out = []
        for a in anns:
            m = a.pop("_mask")
            if m.sum() < 10:
                continue
            ys, xs = np.nonzero(m)
            x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            out.append({"category_index": a["category_index"], "bbox": [float(x0), float(y0), float(x1 - x0),
                        float(y1 - y0)], "area": float(m.sum()), "segmentation": _rle(m)})
        return np.clip(canvas, 0, 255).astype(np.uint8), out


def _assign(counts: list[int], pool: int, rng: np.random.Generator) -> list[list[int]]:
    """For each category c pick ``counts[c]`` distinct images of ``pool``; drop images left empty."""
    images: list[list[int]] = [[] for _ in range(pool)]
    for c, n in enumerate(counts):
        for i in rng.choice(pool, size=n, replace=False):
            images[int(i)].append(c)
    return [cats for cats in images if cats]


def make_toy_lvis(out_dir: str, fashion_dir: str, mnist_dir: str, spec: ToyLVISSpec = ToyLVISSpec()) -> dict:
    """Generate the dataset into ``out_dir`` (atomically: built in a temp dir, then renamed).

    Returns a summary: images and annotations per split, and the r/c/f category counts.
    """
    if os.path.exists(out_dir):
        raise FileExistsError(f"{out_dir!r} exists; remove it or choose another directory")
    rng = np.random.default_rng(spec.seed)
    f_img, f_lbl = _load_glyphs(fashion_dir)
    m_img, m_lbl = _load_glyphs(mnist_dir)
    sources = [f_img[f_lbl == k] for k in range(10)] + [m_img[m_lbl == k] for k in range(10)]
    order = rng.permutation(len(CATEGORY_NAMES))  # category index i shows source order[i]
    pools = [sources[o] for o in order]
    names = [CATEGORY_NAMES[o] for o in order]
    n_cat = len(names)
    counts = [max(1, int(round(spec.n_max * (1.0 / spec.imbalance) ** (i / (n_cat - 1))))) for i in range(n_cat)]
    painter = _Painter(pools, rng, spec)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".toy_lvis.", dir=parent)
    try:
        # Validation: every category in val_per_category images, about two categories per image.
        val_pool = max(n_cat, spec.val_per_category * n_cat // 2)
        splits = {"train": _assign(counts, spec.train_pool, rng),
                  "val": _assign([spec.val_per_category] * n_cat, val_pool, rng)}
        data = {}
        next_ann = 1
        next_img = 1
        from PIL import Image

        for split, image_cats in splits.items():
            folder = f"{split}2017"
            os.makedirs(os.path.join(tmp, folder))
            images, anns = [], []
            for cats in image_cats:
                canvas, objs = painter.paint(cats + [c for c in cats if rng.random() < 0.2])  # some twice
                if not objs:
                    continue
                name = f"{next_img:012d}.png"
                Image.fromarray(canvas).save(os.path.join(tmp, folder, name))
                present = {o["category_index"] for o in objs}
                absent = [c for c in range(n_cat) if c not in present]
                neg = sorted(int(c) + 1 for c in rng.choice(absent, size=min(2, len(absent)), replace=False))
                images.append({"id": next_img, "width": canvas.shape[1], "height": canvas.shape[0],
                               "coco_url": f"{_URL}{folder}/{name}", "file_name": f"{folder}/{name}",
                               "neg_category_ids": neg, "not_exhaustive_category_ids": []})
                for o in objs:
                    anns.append({"id": next_ann, "image_id": next_img, "category_id": o["category_index"] + 1,
                                 "bbox": o["bbox"], "area": o["area"], "segmentation": o["segmentation"]})
                    next_ann += 1
                next_img += 1
            data[split] = {"images": images, "annotations": anns}
        # Category statistics from the training annotations (LVIS puts the same list in both files).
        train = data["train"]
        image_count = np.zeros(n_cat, dtype=np.int64)
        instance_count = np.zeros(n_cat, dtype=np.int64)
        seen = set()
        for a in train["annotations"]:
            c = a["category_id"] - 1
            instance_count[c] += 1
            if (c, a["image_id"]) not in seen:
                seen.add((c, a["image_id"]))
                image_count[c] += 1
        categories = [{"id": c + 1, "name": names[c], "synonyms": [names[c]], "def": names[c].replace("_", " "),
                       "synset": f"{names[c]}.n.01", "image_count": int(image_count[c]),
                       "instance_count": int(instance_count[c]), "frequency": lvis_frequency(int(image_count[c]))}
                      for c in range(n_cat)]
        os.makedirs(os.path.join(tmp, "annotations"))
        for split in ("train", "val"):
            payload = dict(info={"description": "toy LVIS from Fashion-MNIST and MNIST", "version": "1.0"},
                           licenses=[], categories=categories, **data[split])
            with open(os.path.join(tmp, "annotations", f"lvis_v1_{split}.json"), "w") as fh:
                json.dump(payload, fh)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    freq = [c["frequency"] for c in categories]
    summary = {split: {"images": len(d["images"]), "annotations": len(d["annotations"])} for split, d in data.items()}
    summary["categories"] = {"r": freq.count("r"), "c": freq.count("c"), "f": freq.count("f")}
    logger.info("toy LVIS in %s: %s", out_dir, summary)
    return summary
