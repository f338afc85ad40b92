"""LVIS evaluation on numpy 2 with hotcoco's LVIS mode (``lvis_style=True``).

lvis-api 0.5.3 calls ``np.float`` and fails on numpy 2. hotcoco (compiled) gives lvis-api's AP /
APr / APc / APf on the same detections (tests/test_det.py checks it to 1e-6), about 27x faster than
faster-coco-eval, which this module used before, and in a tenth of its memory: faster-coco-eval
grew to about 31 GiB (extrapolated) on an LVIS-val-sized result set (docs/BENCHMARKS.md, group 7).
It is also the evaluator of the false-positive analysis (:mod:`iif.det_analysis`), so a run's
AP and its TIDE errors come from the same matching. Nothing here imports mmdet.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from typing import Any, Mapping, Sequence, Union

__all__ = ["evaluate_lvis", "LVIS_KEYS"]

#: The keys returned (lvis-api's and mmdet's LVISMetric names).
LVIS_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300")


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
        max_dets: LVIS's cap: the highest-scoring ``max_dets`` detections of each image over all
            classes are evaluated (lvis-api's ``LVISResults`` applies the same cap).
    """
    import hotcoco

    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"unknown iou_type {iou_type!r}; expected 'bbox' or 'segm'")
    gt_api = hotcoco.COCO(os.fspath(gt) if isinstance(gt, os.PathLike) else gt)
    dets = _load(detections)
    if len(dets) == 0:
        return {k: -1.0 for k in LVIS_KEYS}
    dt_api = gt_api.load_res(list(dets)).cap_detections_per_image(max_dets)
    ev = hotcoco.COCOeval(gt_api, dt_api, iou_type, lvis_style=True)
    ev.params.max_dets = [max_dets]
    ev.evaluate()
    ev.accumulate()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # hotcoco prints its summary (returned here) and warns when max_dets is not 300
        warnings.filterwarnings("ignore", message=".*max_dets differ from expected", category=UserWarning)
        ev.summarize()
    stats = ev.get_results()
    return {k: float(stats[k if k != "AR@300" else f"AR@{max_dets}"]) for k in LVIS_KEYS}
