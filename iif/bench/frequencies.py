"""Group 3, weights from annotations at LVIS scale: counting frequencies against loading the JSON.

:func:`write_lvis_like` writes an LVIS-v1-shaped training file (full preset: 100,170 images,
1,270,141 annotations, 1203 categories, as LVIS v1 train) with a long-tailed category
profile, a box and an 8-vertex polygon per annotation, and LVIS's per-category
``image_count`` / ``instance_count`` (so :func:`iif.frequencies_from_annotations` runs its
check against them, as on the real file). Real LVIS polygons are longer (the real file is
about 1 GB), which makes its load slower and both ratios here conservative.

Each repeat runs in a fresh Python process (:func:`child`) so that one measurement's memory
does not inflate the next: the process loads the file (timed; peak RSS), then counts image and
instance frequencies from the loaded dict (timed; peak RSS again).
"""
from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Sequence

import numpy as np

from .core import Preset, Row

__all__ = ["write_lvis_like", "child", "run"]

logger = logging.getLogger(__name__)

TIME_TARGET = ("<=", 0.10)
MEMORY_TARGET = ("<=", 1.5)
_CHUNK = 50_000


def write_lvis_like(path: str, num_images: int, num_annotations: int, num_categories: int, seed: int = 0,
                    polygon_vertices: int = 8) -> None:
    """Write an LVIS-v1-like annotation file to ``path`` (streamed: memory stays small).

    Category frequencies follow a Zipf profile (exponent 1.1) over randomly ordered ids, so a
    few categories hold most annotations and many have a handful, as in LVIS.
    """
    if min(num_images, num_annotations, num_categories) < 1:
        raise ValueError(f"need at least one image, annotation and category, got {num_images}, "
                         f"{num_annotations}, {num_categories}")
    rng = np.random.default_rng(seed)
    ranks = rng.permutation(num_categories) + 1
    p = 1.0 / ranks ** 1.1
    p /= p.sum()
    ann_cat = rng.choice(num_categories, size=num_annotations, p=p)
    # Annotations cluster: each image draws a few categories, so give images a skewed share too.
    img_w = rng.gamma(0.7, size=num_images)
    ann_img = rng.choice(num_images, size=num_annotations, p=img_w / img_w.sum())
    order = np.argsort(ann_img, kind="stable")  # LVIS lists annotations roughly by image
    ann_cat, ann_img = ann_cat[order], ann_img[order]
    cat_ids = np.arange(1, num_categories + 1)
    inst = np.bincount(ann_cat, minlength=num_categories)
    pairs = np.unique(ann_cat.astype(np.int64) * num_images + ann_img)
    imgc = np.bincount(pairs // num_images, minlength=num_categories)

    with open(path, "w") as fh:
        fh.write('{"info": {"description": "LVIS-v1-like benchmark file (iif.bench)"}, "licenses": [], ')
        fh.write('"categories": ')
        cats = [dict(id=int(cat_ids[c]), name=f"category_{c}", synset=f"category_{c}.n.01",
                     frequency="r" if imgc[c] <= 10 else ("c" if imgc[c] <= 100 else "f"),
                     image_count=int(imgc[c]), instance_count=int(inst[c]), def_="")
                for c in range(num_categories)]
        json.dump(cats, fh)
        fh.write(', "images": [')
        for start in range(0, num_images, _CHUNK):
            ids = np.arange(start, min(start + _CHUNK, num_images))
            chunk = [dict(id=int(i) + 1, width=640, height=480, file_name=f"{int(i) + 1:012d}.jpg",
                          coco_url=f"http://images.cocodataset.org/train2017/{int(i) + 1:012d}.jpg",
                          neg_category_ids=rng.integers(1, num_categories + 1, 3).tolist(),
                          not_exhaustive_category_ids=[]) for i in ids]
            fh.write(("," if start else "") + json.dumps(chunk)[1:-1])
        fh.write('], "annotations": [')
        for start in range(0, num_annotations, _CHUNK):
            stop = min(start + _CHUNK, num_annotations)
            n = stop - start
            xy = np.round(rng.uniform(0, 400, (n, 2)), 2)
            wh = np.round(rng.uniform(4, 200, (n, 2)), 2)
            angles = np.sort(rng.uniform(0, 2 * np.pi, (n, polygon_vertices)), axis=1)
            cx, cy = xy[:, :1] + wh[:, :1] / 2, xy[:, 1:] + wh[:, 1:] / 2
            poly = np.empty((n, 2 * polygon_vertices))
            poly[:, 0::2] = np.round(cx + wh[:, :1] / 2 * np.cos(angles), 2)
            poly[:, 1::2] = np.round(cy + wh[:, 1:] / 2 * np.sin(angles), 2)
            boxes = np.concatenate([xy, wh], axis=1).tolist()
            polys = poly.tolist()
            areas = np.round(wh[:, 0] * wh[:, 1] * 0.7, 2).tolist()
            cats_c = (ann_cat[start:stop] + 1).tolist()
            imgs_c = (ann_img[start:stop] + 1).tolist()
            chunk = [dict(id=start + k + 1, image_id=imgs_c[k], category_id=cats_c[k], bbox=boxes[k],
                          area=areas[k], segmentation=[polys[k]]) for k in range(n)]
            fh.write(("," if start else "") + json.dumps(chunk)[1:-1])
        fh.write("]}")


def _maxrss_bytes() -> int:
    # Linux reports KiB, macOS bytes.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return _maxrss_bytes()


def child(path: str, counts: int) -> dict:
    """In a fresh process: load ``path`` then count frequencies ``counts`` times.

    Returns seconds and peak-RSS bytes above the post-import baseline: ``load_s``,
    ``count_s`` (list), ``load_peak``, ``total_peak`` (load + counting).
    """
    from ..annotations import frequencies_from_annotations

    base = _rss_bytes()
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        data = json.load(fh)
    load_s = time.perf_counter() - t0
    load_peak = _maxrss_bytes() - base
    times = []
    for _ in range(counts):
        t0 = time.perf_counter()
        freqs = frequencies_from_annotations(data)
        times.append(time.perf_counter() - t0)
    total_peak = _maxrss_bytes() - base
    return dict(load_s=load_s, count_s=times, load_peak=load_peak, total_peak=total_peak,
                num_annotations=freqs.num_annotations, num_images=freqs.num_images)


def run(preset: Preset, seed: int = 0) -> list[Row]:
    """Two rows: counting time / load time, and peak memory (load + count) / (load)."""
    with tempfile.TemporaryDirectory(prefix="iif-bench-lvis-") as tmp:
        path = os.path.join(tmp, "lvis_v1_train_like.json")
        t0 = time.perf_counter()
        write_lvis_like(path, preset.lvis_images, preset.lvis_annotations, preset.lvis_categories, seed)
        size = os.path.getsize(path)
        logger.info("wrote %s (%.0f MiB) in %.1f s", path, size / 2**20, time.perf_counter() - t0)
        results = [_run_child(path, counts=3) for _ in range(preset.lvis_repeats)]
    load = [r["load_s"] for r in results]
    count = [statistics.median(r["count_s"]) for r in results]
    t_ratio = statistics.median(c / l for c, l in zip(count, load))
    m_ratio = statistics.median(r["total_peak"] / max(r["load_peak"], 1) for r in results)
    t_spread = _iqr([c / l for c, l in zip(count, load)])
    size_note = (f"{preset.lvis_images} images, {preset.lvis_annotations} annotations, "
                 f"{preset.lvis_categories} categories, {size / 2**20:.0f} MiB of JSON; "
                 f"{len(results)} fresh processes")
    return [
        Row(group="3 annotations", name="count image+instance frequencies vs json.load", baseline="json.load",
            ours="frequencies_from_annotations(dict)", base_value=statistics.median(load),
            ours_value=statistics.median(count), unit="s", ratio=t_ratio, spread=t_spread, target=TIME_TARGET,
            note=size_note),
        Row(group="3 annotations", name="peak RSS: load + count vs load alone", baseline="json.load",
            ours="json.load + counting", base_value=statistics.median(r["load_peak"] for r in results),
            ours_value=statistics.median(r["total_peak"] for r in results), unit="B", ratio=m_ratio,
            target=MEMORY_TARGET),
    ]


def _iqr(values: Sequence[float]) -> float:
    if len(values) < 4:
        return 0.0
    q = statistics.quantiles(sorted(values), n=4)
    return q[2] - q[0]


def _run_child(path: str, counts: int) -> dict:
    code = ("import json, sys; from iif.bench.frequencies import child; "
            f"print(json.dumps(child({path!r}, {counts})))")
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"annotation benchmark child failed (exit {out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
