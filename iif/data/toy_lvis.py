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

from .canvas import CATEGORY_NAMES, load_glyph_pools, paint_canvas

__all__ = ["ToyLVISSpec", "make_toy_lvis", "lvis_frequency", "CATEGORY_NAMES"]

logger = logging.getLogger(__name__)

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
    val_per_category: int = 24  # validation images per category (near balanced: 168 for the 7 rare ones)
    min_size: int = 128
    max_size: int = 256
    seed: int = 0


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


class _Painter:
    """Pastes glyphs onto canvases (:func:`iif.data.canvas.paint_canvas`) and returns exact annotations."""

    def __init__(self, pools: list[np.ndarray], rng: np.random.Generator, spec: ToyLVISSpec) -> None:
        self.pools, self.rng, self.spec = pools, rng, spec

    def paint(self, categories: list[int]) -> tuple[np.ndarray, list[dict]]:
        canvas, objects = paint_canvas(categories, self.pools, self.rng, self.spec.min_size, self.spec.max_size)
        out = []
        for cat, m in objects:
            ys, xs = np.nonzero(m)
            x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            out.append({"category_index": cat, "bbox": [float(x0), float(y0), float(x1 - x0),
                        float(y1 - y0)], "area": float(m.sum()), "segmentation": _rle(m)})
        return canvas, out


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
    sources = load_glyph_pools(fashion_dir, mnist_dir)
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
