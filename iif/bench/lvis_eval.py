"""Group 5, LVIS evaluation (extension point for the detection half).

Compares our evaluator, :func:`mmdet_ext.lvis_eval.evaluate_lvis` (faster-coco-eval in LVIS
mode), with the reference lvis-api (``lvis.LVISEval``) on the same generated ground truth and
the same detections (``lvis_eval_dets`` per image): AP / APr / APc / APf must be identical and
the row reports the time ratio.

The group is skipped, with the reason printed, until the detection extras are installed
(``requirements-det.txt``: mmdet_ext's dependencies, faster-coco-eval, lvis). lvis-api 0.5.3
still calls ``np.float``, removed in numpy 2; the benchmark gives it that alias for the
duration of the reference run only.
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
REQUIRES = ("mmdet_ext.lvis_eval", "faster_coco_eval", "lvis")
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


def _detections(gt: dict, per_image: int, seed: int) -> list[dict]:
    """``per_image`` boxes per image: jittered ground truth (so AP is not trivial) plus random ones."""
    rng = np.random.default_rng(seed)
    by_image: dict[int, list[dict]] = {}
    for a in gt["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    cat_ids = [c["id"] for c in gt["categories"]]
    dets = []
    for img in gt["images"]:
        anns = by_image.get(img["id"], [])
        for k in range(per_image):
            if k < len(anns):
                x, y, w, h = anns[k]["bbox"]
                jit = rng.normal(0, 0.1, 4) * [w, h, w, h]
                box = [x + jit[0], y + jit[1], max(1.0, w + jit[2]), max(1.0, h + jit[3])]
                cat = anns[k]["category_id"] if rng.random() < 0.8 else int(rng.choice(cat_ids))
            else:
                box = [*rng.uniform(0, 400, 2), *rng.uniform(4, 200, 2)]
                cat = int(rng.choice(cat_ids))
            dets.append(dict(image_id=img["id"], category_id=cat, bbox=[float(v) for v in box],
                             score=float(rng.random())))
    return dets


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
                baseline="lvis-api LVISEval", ours="evaluate_lvis (faster-coco-eval)", base_value=pair.base_median,
                ours_value=pair.ours_median, unit="s", ratio=pair.ratio(), spread=pair.spread(), note=note)]
