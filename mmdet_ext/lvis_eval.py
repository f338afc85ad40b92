"""LVIS evaluation on numpy 2: faster-coco-eval in LVIS mode (``lvis_style=True``).

lvis-api 0.5.3 calls ``np.float`` and fails on numpy 2; faster-coco-eval's LVIS mode gives the
same AP / APr / APc / APf (tests/test_det_eval.py checks it against lvis-api on the same
detections) and is faster. Nothing here imports mmdet.
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any, Mapping, Sequence, Union

__all__ = ["evaluate_lvis", "LVIS_KEYS"]

#: faster-coco-eval's names -> the names lvis-api and mmdet's LVISMetric report.
LVIS_KEYS = {"AP_all": "AP", "AP_50": "AP50", "AP_75": "AP75", "AP_small": "APs", "AP_medium": "APm",
             "AP_large": "APl", "APr": "APr", "APc": "APc", "APf": "APf", "AR_all": "AR@300"}


def _load(obj: Union[str, os.PathLike, Any]) -> Any:
    if isinstance(obj, (str, os.PathLike)):
        with open(obj) as fh:
            return json.load(fh)
    return obj


def evaluate_lvis(gt: Union[str, os.PathLike, Mapping], detections: Union[str, os.PathLike, Sequence[dict]],
                  iou_type: str = "bbox", max_dets: int = 300) -> dict[str, float]:
    """AP, AP50, AP75, APs/m/l, APr/c/f and AR@300 (fractions in [0, 1]; -1 where undefined).

    Args:
        gt: LVIS json (path or dict) with ``neg_category_ids`` / ``not_exhaustive_category_ids``
            per image and ``frequency`` per category.
        detections: list of ``{image_id, category_id, score, bbox | segmentation}`` (or a json path).
        iou_type: ``"bbox"`` or ``"segm"``.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"unknown iou_type {iou_type!r}; expected 'bbox' or 'segm'")
    gt_api = COCO(copy.deepcopy(_load(gt)))
    dets = _load(detections)
    if len(dets) == 0:
        return {v: -1.0 for v in LVIS_KEYS.values()}
    dt_api = gt_api.loadRes(copy.deepcopy(list(dets)))
    ev = COCOeval_faster(gt_api, dt_api, iouType=iou_type, lvis_style=True, print_function=lambda *a: None)
    ev.params.maxDets = [max_dets]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    stats = ev.stats_as_dict
    return {LVIS_KEYS[k]: float(v) for k, v in stats.items() if k in LVIS_KEYS}
