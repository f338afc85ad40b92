"""LVIS evaluation on numpy 2 with hotcoco's LVIS mode (``lvis_style=True``).

lvis-api 0.5.3 calls ``np.float`` and fails on numpy 2. hotcoco (compiled) gives lvis-api's AP /
APr / APc / APf on the same detections (tests/test_det.py checks it to 1e-6), several times faster
than faster-coco-eval, which this module used before, and in a fraction of its memory:
faster-coco-eval grew to about 31 GiB (extrapolated) on an LVIS-val-sized result set, hotcoco
needs about 4.5 GiB (docs/BENCHMARKS.md, groups 5 and 7).
It is also the evaluator of the false-positive analysis (:mod:`iif.det_analysis`), so a run's
AP and its TIDE errors come from the same matching. Nothing here imports mmdet.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import Any, Mapping, Sequence, Union

__all__ = ["evaluate_lvis", "LVIS_KEYS"]

#: The keys returned (lvis-api's and mmdet's LVISMetric names).
LVIS_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300")


def evaluate_lvis(gt: Union[str, os.PathLike, Mapping], detections: Union[str, os.PathLike, Sequence[dict]],
                  iou_type: str = "bbox", max_dets: int = 300) -> dict[str, float]:
    """AP, AP50, AP75, APs/m/l, APr/c/f and AR@300 (fractions in [0, 1]; -1 where undefined).

    Args:
        gt: LVIS json (path or dict) with ``neg_category_ids`` / ``not_exhaustive_category_ids``
            per image and ``frequency`` per category.
        detections: list of ``{image_id, category_id, score, bbox | segmentation}`` (or a json path).
        iou_type: ``"bbox"`` or ``"segm"``.
        max_dets: LVIS's cap: the highest-scoring ``max_dets`` detections of each image over all
            classes are evaluated (lvis-api's ``LVISResults`` applies the same cap).
    """
    import hotcoco

    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"unknown iou_type {iou_type!r}; expected 'bbox' or 'segm'")
    gt_api = hotcoco.COCO(os.fspath(gt) if isinstance(gt, os.PathLike) else gt)
    # A path goes to hotcoco as is: its own reader takes a third of the time and half the memory
    # of json.load plus a list of dicts.
    dets = os.fspath(detections) if isinstance(detections, (str, os.PathLike)) else list(detections)
    if isinstance(dets, str):
        with open(dets) as fh:  # an empty result file is "[]" (hotcoco refuses to load it)
            empty = fh.read(64).strip() in ("[]", "")
    else:
        empty = len(dets) == 0
    if empty:
        return {k: -1.0 for k in LVIS_KEYS}
    dt_api = gt_api.load_res(dets).cap_detections_per_image(max_dets)
    ev = hotcoco.COCOeval(gt_api, dt_api, iou_type, lvis_style=True)
    ev.params.max_dets = [max_dets]
    ev.evaluate()
    ev.accumulate()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # hotcoco prints its summary (returned here) and warns when max_dets is not 300
        warnings.filterwarnings("ignore", message=".*max_dets differ from expected", category=UserWarning)
        ev.summarize()
    stats = ev.get_results()
    # hotcoco names the recall "AR@300" whatever max_dets is (lvis-api's name); it is AR at max_dets
    recall = next(k for k in stats if k.startswith("AR@"))
    return {k: float(stats[recall if k == "AR@300" else k]) for k in LVIS_KEYS}
