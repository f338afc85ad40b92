"""``FasterLVISMetric``: mmdet's LVIS metric, computed with hotcoco's LVIS mode (works on numpy 2,
equals lvis-api and fits LVIS val in memory: see :mod:`mmdet_ext.lvis_eval`)."""
from __future__ import annotations

import os.path as osp
import tempfile
from collections import OrderedDict

from mmdet.evaluation.metrics import LVISMetric
from mmdet.registry import METRICS
from mmengine.logging import MMLogger

from .lvis_eval import evaluate_lvis

__all__ = ["FasterLVISMetric"]

_ITEMS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")


@METRICS.register_module()
class FasterLVISMetric(LVISMetric):
    """Same inputs and result keys as ``LVISMetric`` (``bbox_AP``, ``segm_APr`` ...); the numbers
    come from :func:`mmdet_ext.lvis_eval.evaluate_lvis` instead of lvis-api's ``LVISEval``.
    ``ann_file`` is required: LVIS evaluation needs its negative / not-exhaustive labels."""

    def __init__(self, ann_file: str, metric="bbox", **kwargs) -> None:  # noqa: ANN001
        super().__init__(ann_file=ann_file, metric=metric, **kwargs)
        unsupported = [m for m in self.metrics if m not in ("bbox", "segm")]
        if unsupported:
            raise ValueError(f"FasterLVISMetric supports metric 'bbox' and 'segm', got {unsupported}")
        self.gt_file = ann_file

    def compute_metrics(self, results: list) -> dict[str, float]:
        logger = MMLogger.get_current_instance()
        _, preds = zip(*results)
        tmp_dir = tempfile.TemporaryDirectory() if self.outfile_prefix is None else None
        prefix = osp.join(tmp_dir.name, "results") if tmp_dir else self.outfile_prefix
        if self.cat_ids is None:
            self.cat_ids = self._lvis_api.get_cat_ids()
        result_files = self.results2json(preds, prefix)
        out: dict[str, float] = OrderedDict()
        try:
            for metric in self.metrics:
                stats = evaluate_lvis(self.gt_file, result_files[metric], iou_type=metric)
                items = self.metric_items or _ITEMS
                for k in items:
                    out[f"{metric}_{k}"] = round(stats[k], 3)
                logger.info(f"{metric}: " + "  ".join(f"{k} {stats[k]:.3f}" for k in _ITEMS))
        finally:
            if tmp_dir is not None:
                tmp_dir.cleanup()
        return out
