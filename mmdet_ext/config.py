"""Config plumbing shared by tools/train_det.py and tools/test_det.py."""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from mmengine.config import Config

__all__ = ["load_det_config", "set_data_root"]


def _datasets(cfg: Config):
    """Every dataset dict of the train/val/test dataloaders, through wrapper datasets."""
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        ds = cfg.get(key, {}).get("dataset") if cfg.get(key) else None
        while ds is not None:
            yield ds
            ds = ds.get("dataset")


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every dataset and LVIS evaluator of ``cfg`` at ``data_root`` (LVIS v1 layout:
    ``annotations/lvis_v1_{train,val}.json`` and the images ``coco_url`` names)."""
    root = os.path.join(data_root, "")
    cfg.data_root = root
    for ds in _datasets(cfg):
        if "ann_file" in ds:
            ds["data_root"] = root
    for key in ("val_evaluator", "test_evaluator"):
        ev = cfg.get(key)
        if isinstance(ev, Mapping) and ev.get("ann_file"):
            ev["ann_file"] = os.path.join(root, "annotations", os.path.basename(ev["ann_file"]))


def load_det_config(config: str, options: Optional[Mapping[str, Any]] = None, data_root: Optional[str] = None,
                    work_dir: Optional[str] = None, launcher: str = "none") -> Config:
    """Read an mmdet config (``mmdet::`` bases, ``custom_imports``), apply ``--cfg-options``,
    the data root and the work dir (default ``work_dirs/<config name>``)."""
    if not os.path.isfile(config):
        raise FileNotFoundError(f"config file {config!r} does not exist")
    cfg = Config.fromfile(config)
    if options:
        cfg.merge_from_dict(dict(options))
    if data_root:
        set_data_root(cfg, data_root)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get("work_dir") or os.path.join("work_dirs", os.path.splitext(os.path.basename(config))[0])
    return cfg
