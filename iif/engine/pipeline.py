"""Run a stage-1 config and the decoupled stage that loads it, and gather one table."""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from .checkpoint import atomic_write_text
from .config import load_config
from .evaluate import format_table
from .task import build_task
from .trainer import Trainer

__all__ = ["run_stage", "run_two_stage"]


def run_stage(config: str, options: Optional[Mapping[str, Any]] = None, resume: bool = True) -> dict:
    """Train + evaluate one config; with ``resume`` a finished stage is only re-evaluated."""
    return _run(load_config(config, options), resume)


def _run(cfg: dict, resume: bool) -> dict:
    resume = resume and os.path.isfile(os.path.join(cfg["work_dir"], "last.pth"))
    return Trainer(cfg, resume=resume).fit()


def run_two_stage(stage1: str, stage2: str, options: Optional[Mapping[str, Any]] = None,
                  resume: bool = True) -> tuple[list[dict], str]:
    """Stage 1 (e.g. softmax CE, scored as is and with every post-process adjustment), then the
    decoupled stage 2 loading stage 1's ``last.pth``. Returns all rows and the table text,
    also written to ``<stage-1 work_dir>/../summary.md``."""
    options = dict(options or {})
    cfg1 = load_config(stage1, options)
    first = _run(cfg1, resume)
    opts2 = dict(options)
    opts2["strategy.load_from"] = os.path.join(cfg1["work_dir"], "last.pth")
    second = run_stage(stage2, opts2, resume)
    rows = first["rows"] + second["rows"]
    task = build_task(first.get("task", "single_label"))
    images = first.get("num_images") or sum(first["train_counts"])
    title = (f"{first['dataset']} ({first['split']} split, {len(first['train_counts'])} classes, "
             f"{images} training images); {'accuracies' if not task.multilabel else 'mAP and F1'} in %")
    table = format_table(rows, title, task.columns)
    out = os.path.join(os.path.dirname(cfg1["work_dir"]), "summary.md")
    atomic_write_text("```\n" + table + "\n```\n", out)
    return rows, table
