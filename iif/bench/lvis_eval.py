"""Group 5, LVIS evaluation (extension point for the detection half).

Compares our evaluator, :func:`mmdet_ext.lvis_eval.evaluate_lvis` (hotcoco's LVIS mode,
``lvis_style=True``), with the reference lvis-api (``lvis.LVISEval``) on the same generated ground
truth and the same detections (``lvis_eval_dets`` per image): AP / APr / APc / APf must be
identical and the row reports the time ratio.

The group is skipped, with the reason printed, until the detection extras are installed
(``requirements-det.txt``: hotcoco, lvis). lvis-api 0.5.3 still calls ``np.float``, removed in
numpy 2; the benchmark gives it that alias for the duration of the reference run only.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import os
import tempfile
import time
from typing import Any, Iterator

import numpy as np

from .core import Pair, Preset, Row, Skipped

__all__ = ["run", "check_available", "REQUIRES"]

logger = logging.getLogger(__name__)

#: Importable modules the group needs: our evaluator, its backend and the reference.
REQUIRES = ("mmdet_ext.lvis_eval", "hotcoco", "lvis")
KEYS = ("AP", "APr", "APc", "APf")


def check_available() -> None:
    """Raise :class:`Skipped` naming what is missing."""
    missing = []
    for name in REQUIRES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise Skipped(f"needs {', '.join(missing)} (pip install -r requirements-det.txt); "
                      f"the detection half provides the evaluator this group times")


@contextlib.contextmanager
def _numpy_float_alias() -> Iterator[None]:
    added = not hasattr(np, "float")
    if added:
        np.float = float  # type: ignore[attr-defined]  # lvis-api 0.5.3 on numpy 2
    try:
        yield
    finally:
        if added:
            del np.float  # type: ignore[attr-defined]


#: Columns of :func:`lvis_like_detections`' array (hotcoco's ``load_res`` array layout).
DET_COLUMNS = ("image_id", "x", "y", "w", "h", "score", "category_id")


def lvis_like_detections(gt: dict, per_image: int, seed: int) -> np.ndarray:
    """``per_image`` detections for every image of ``gt``, as an array ``(images * per_image, 7)``.

    Columns :data:`DET_COLUMNS`, rows grouped by image in ``gt["images"]`` order. Per image: its
    first ``per_image`` ground-truth boxes jittered by 10% of their size (class kept with
    probability 0.8, else a random category), so AP is not trivial, then random boxes of random
    categories; scores uniform in [0, 1). Vectorised: an LVIS-val-sized set (19,809 images x 300)
    takes seconds and 333 MB.
    """
    if per_image < 1:
        raise ValueError(f"per_image must be >= 1, got {per_image}")
    rng = np.random.default_rng(seed)
    img_ids = np.array([img["id"] for img in gt["images"]], dtype=np.int64)
    cat_ids = np.array([c["id"] for c in gt["categories"]], dtype=np.int64)
    anns = gt["annotations"]
    a_img = np.array([a["image_id"] for a in anns], dtype=np.int64)
    a_box = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    a_cat = np.array([a["category_id"] for a in anns], dtype=np.int64)
    # Image position of each annotation, and its rank among its image's annotations (file order).
    sorter = np.argsort(img_ids, kind="stable")
    pos = sorter[np.minimum(np.searchsorted(img_ids, a_img, sorter=sorter), len(img_ids) - 1)]
    if len(pos) and not np.array_equal(img_ids[pos], a_img):
        raise ValueError("an annotation's image_id is not among gt['images']")
    order = np.lexsort((np.arange(len(anns)), pos))
    pos, a_box, a_cat = pos[order], a_box[order], a_cat[order]
    first = np.searchsorted(pos, np.arange(len(img_ids)))
    rank = np.arange(len(pos)) - first[pos]
    keep = rank < per_image
    pos, a_box, a_cat, rank = pos[keep], a_box[keep], a_cat[keep], rank[keep]

    out = np.empty((len(img_ids) * per_image, 7), dtype=np.float64)
    out[:, 0] = np.repeat(img_ids, per_image)
    # Random boxes everywhere first; the jittered ground truth then overwrites the first slots.
    out[:, 1:3] = rng.uniform(0, 400, (len(out), 2))
    out[:, 3:5] = rng.uniform(4, 200, (len(out), 2))
    out[:, 5] = rng.random(len(out))
    out[:, 6] = rng.choice(cat_ids, len(out))
    rows = pos * per_image + rank
    wh = np.concatenate([a_box[:, 2:], a_box[:, 2:]], axis=1)
    jit = rng.normal(0, 0.1, (len(rows), 4)) * wh
    out[rows, 1:3] = a_box[:, :2] + jit[:, :2]
    out[rows, 3:5] = np.maximum(1.0, a_box[:, 2:] + jit[:, 2:])
    out[rows, 6] = np.where(rng.random(len(rows)) < 0.8, a_cat, out[rows, 6])
    return out


def detections_to_dicts(dets: np.ndarray) -> list[dict]:
    """Rows of :func:`lvis_like_detections` as LVIS result dicts ``{image_id, category_id, bbox, score}``."""
    return [dict(image_id=int(r[0]), category_id=int(r[6]), bbox=[float(v) for v in r[1:5]], score=float(r[5]))
            for r in dets]


def _detections(gt: dict, per_image: int, seed: int) -> list[dict]:
    """``per_image`` boxes per image: jittered ground truth (so AP is not trivial) plus random ones."""
    return detections_to_dicts(lvis_like_detections(gt, per_image, seed))


def run(preset: Preset, seed: int = 0) -> list[Row]:
    """Time ours vs lvis-api on ``lvis_eval_images`` generated images; check the four APs agree."""
    check_available()
    from mmdet_ext.lvis_eval import evaluate_lvis
    from lvis import LVIS, LVISEval, LVISResults

    from .frequencies import write_lvis_like

    with tempfile.TemporaryDirectory(prefix="iif-bench-lviseval-") as tmp:
        gt_path = os.path.join(tmp, "gt.json")
        n_img = preset.lvis_eval_images
        write_lvis_like(gt_path, n_img, n_img * 12, min(preset.lvis_categories, 1203), seed)
        with open(gt_path) as fh:
            gt = json.load(fh)
        dets = _detections(gt, preset.lvis_eval_dets, seed)

        def ours_once() -> dict:
            return evaluate_lvis(gt, dets, iou_type="bbox", max_dets=preset.lvis_eval_dets)

        def ref_once() -> Any:
            with _numpy_float_alias():
                ev = LVISEval(LVIS(gt_path), LVISResults(gt_path, dets, max_dets=preset.lvis_eval_dets), "bbox")
                ev.run()
            return ev

        # Alternate the two evaluators (A B, B A, ...); each call is one whole evaluation.
        pair = Pair()
        for r in range(preset.lvis_eval_repeats):
            for name in (("ref", "ours") if r % 2 == 0 else ("ours", "ref")):
                t0 = time.perf_counter()
                if name == "ours":
                    ours = ours_once()
                    pair.ours.append(time.perf_counter() - t0)
                else:
                    ref_eval = ref_once()
                    pair.base.append(time.perf_counter() - t0)
    ref = {k: float(ref_eval.results[k]) for k in KEYS}
    diff = max(abs(ours[k] - ref[k]) for k in KEYS)
    same = diff < 1e-6
    note = (f"AP/APr/APc/APf identical (max |diff| {diff:.1e}; ours {[round(ours[k], 4) for k in KEYS]})" if same else
            f"AP differ (max |diff| {diff:.2e}): ours {[round(ours[k], 4) for k in KEYS]}, "
            f"lvis-api {[round(ref[k], 4) for k in KEYS]}")
    return [Row(group="5 lvis eval", name=f"{n_img} images x {preset.lvis_eval_dets} detections (bbox)",
                baseline="lvis-api LVISEval", ours="evaluate_lvis (hotcoco)", base_value=pair.base_median,
                ours_value=pair.ours_median, unit="s", ratio=pair.ratio(), spread=pair.spread(), note=note)]
