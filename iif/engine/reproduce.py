"""Reproduce a whole results table: every method on one recipe, over several seeds, mean +- std.

A *cell* is one (dataset, seed, method). Trained cells run a config of ``configs/cls/<dataset>/``
(stage 1 from scratch, or a decoupled stage on the softmax cell of the same seed); post-hoc
cells read the softmax cell's saved logits. Each finished cell writes ``cell.json``; a cell
with one is never run again, and a killed training run continues from its ``last.pth``.
So the command is resumable: run it again and it does only what is missing.

Layout: ``<root>/<dataset>/seed<k>/<method>/`` holds the run (``last.pth``, ``eval/``) and
``cell.json``; ``<root>/results.md`` / ``results.json`` hold the table.

Multi-label datasets (``toy_mlt``, ``voc_mlt``, ``coco_mlt``) have their own rows (BCE, focal, ASL,
DB-Focal, BAL with the occurrence sampler, IIF-sigmoid end-to-end and post-process on the BCE
cell) and columns (mAP, head / medium / tail mAP, CF1, OF1); a dataset's task decides which.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from tqdm import tqdm

from .checkpoint import atomic_write_json, atomic_write_text
from .config import ConfigError, load_config
from .report import GROUP_LABELS, cached_predictions, evaluate_predictions, load_predictions, write_report
from .task import dataset_task, resolve_task
from .trainer import Trainer

__all__ = ["Method", "METHODS", "default_methods", "METRICS", "MULTILABEL_METRICS", "Recipe", "run_table", "run_cell", "cell_dir", "aggregate", "missing_cells",
           "format_markdown"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Method:
    """One row of the table.

    Attributes:
        key: short id (``--methods``) and directory name.
        name: the row label.
        kind: ``"train"`` (a stage-1 config), ``"decoupled"`` (a classifier-retraining config on the
            softmax cell of the same seed) or ``"posthoc"`` (an adjustment of the ``source`` cell's logits).
        config: config file stem in ``configs/cls/<dataset>/`` (train / decoupled).
        pick: the report row: ``"as trained"``, a test-row method name, or ``"val:<group label>"``
            for the test row of the method chosen on validation.
        source: the cell whose saved logits a ``"posthoc"`` method adjusts (the softmax cell, or
            ``"reslt"`` for post-process IIF on a ResLT model, whose config asks for post-hoc rows).
        default: part of the table when ``--methods`` is not given (the ResLT rows are opt-in).
        task: ``"single_label"`` or ``"multi_label"``: the datasets the row belongs to.
        select_metric: the validation metric of the cell's report (None: the task's default, balanced
            accuracy or mAP); a ``"val:..."`` pick is the choice by it.
    """

    key: str
    name: str
    kind: str
    config: Optional[str] = None
    pick: str = "as trained"
    source: str = "softmax"
    default: bool = True
    task: str = "single_label"
    select_metric: Optional[str] = None


#: The table's rows, in order (the softmax cell first: the others build on it).
METHODS: tuple[Method, ...] = (
    Method("softmax", "softmax (CE)", "train", "softmax"),
    Method("iif_csl", "IIF_CSL smooth (end-to-end)", "train", "iif_csl"),
    Method("iif_e2e", "IIF smooth (end-to-end)", "train", "iif_e2e"),
    Method("posthoc_iif_smooth", "post-process IIF smooth", "posthoc", pick="post-process IIF smooth"),
    Method("posthoc_iif_val", "post-process IIF (variant chosen on val)", "posthoc",
           pick=f"val:{GROUP_LABELS['iif']}"),
    Method("decoupled_iif", "decoupled IIF smooth", "decoupled", "decoupled_iif"),
    Method("balanced_softmax", "Balanced Softmax", "train", "balanced_softmax"),
    Method("logit_adjusted", "logit-adjusted loss (tau=1)", "train", "logit_adjusted"),
    Method("posthoc_la", "post-hoc logit adjustment (tau=1)", "posthoc", pick="post-hoc logit adj. tau=1"),
    Method("ldam_drw", "LDAM-DRW", "train", "ldam_drw"),
    Method("crt", "cRT", "decoupled", "crt"),
    Method("lws", "LWS", "decoupled", "lws"),
    # tau-normalisation rescales the rows of a linear classifier (a cosine head only uses their
    # directions), so it adjusts a softmax model of the same recipe with a linear head.
    Method("softmax_linear", "softmax (CE), linear head", "train", "softmax_linear"),
    Method("tau_norm", "tau-norm of the linear-head softmax (tau chosen on val)", "posthoc",
           pick=f"val:{GROUP_LABELS['tau_norm']}", source="softmax_linear"),
    # ResLT (Cui et al., TPAMI 2022), opt-in: --methods softmax iif_csl reslt reslt_official ...
    Method("reslt", "ResLT (beta 0.5)", "train", "reslt", default=False),
    Method("reslt_official", "ResLT (beta as the official code picks)", "train", "reslt_official", default=False),
    Method("reslt_posthoc_iif", "ResLT (beta 0.5) + post-process IIF smooth", "posthoc",
           pick="post-process IIF smooth", source="reslt", default=False),
    Method("reslt_iif", "ResLT (beta 0.5) + IIF smooth (fused and branches)", "train", "reslt_iif", default=False),
    # Multi-label rows (toy_mlt, voc_mlt, coco_mlt): the BCE cell first, post-process IIF builds on it.
    Method("bce", "BCE", "train", "bce", task="multi_label"),
    Method("sigmoid_focal", "focal (sigmoid, gamma 2)", "train", "focal", task="multi_label"),
    Method("asl", "ASL", "train", "asl", task="multi_label"),
    Method("db_focal", "DB-Focal", "train", "db_focal", task="multi_label"),
    Method("bal_occurrence", "BAL (occurrence sampler)", "train", "bal_occurrence", task="multi_label"),
    Method("iif_bce", "IIF-sigmoid smooth (end-to-end)", "train", "iif_bce", task="multi_label"),
    # A positive per-class weight keeps each class's ranking (AP) and each logit's sign (F1 at 0.5),
    # so post-process IIF-sigmoid equals the BCE row unless a rel / normit weight turns negative:
    # the row is kept as that measurement. The variant chosen on validation (by CF1) is opt-in.
    Method("posthoc_iif_bce", "post-process IIF-sigmoid smooth (on BCE)", "posthoc", pick="post-process IIF smooth",
           source="bce", task="multi_label"),
    Method("posthoc_iif_bce_val", "post-process IIF-sigmoid (variant chosen on val CF1)", "posthoc",
           pick=f"val:{GROUP_LABELS['iif']}", source="bce", default=False, task="multi_label", select_metric="cf1"),
    Method("bal", "BAL (random sampling)", "train", "bal", default=False, task="multi_label"),
)
_BY_KEY = {m.key: m for m in METHODS}


def default_methods(task: str = "single_label") -> list[str]:
    """The method keys of the table of a ``task`` dataset when none are chosen."""
    return [m.key for m in METHODS if m.default and m.task == task]


def _dataset_task(recipe: "Recipe", dataset: str) -> str:
    """The task of a ``configs/cls/<dataset>/`` folder: its dataset's, else its first loadable config's."""
    task = dataset_task(dataset)
    if task is not None:
        return task
    for path in sorted(glob.glob(os.path.join(recipe.config_dir, dataset, "*.py"))):
        try:
            return resolve_task(load_config(path, dict(recipe.options)))
        except (ConfigError, ValueError, FileNotFoundError):
            continue
    return "single_label"


def _needs(m: Method) -> Optional[str]:
    """The cell a method builds on (None for a stage-1 training)."""
    return None if m.kind == "train" else m.source if m.kind == "posthoc" else "softmax"

#: Columns of the markdown table.
METRICS = ("top1", "balanced", "many", "medium", "few", "ece", "nll")
#: ... of a multi-label dataset's table.
MULTILABEL_METRICS = ("map", "head", "medium", "tail", "cf1", "of1")


@dataclass(frozen=True)
class Recipe:
    """What every cell shares: config overrides for all, the epochs of the two stages.

    ``epochs`` / ``decoupled_epochs`` None keep each config's own. When ``epochs`` changes a
    schedule, an LDAM-DRW switch epoch and multi-step milestones move with it (same fraction
    of the schedule).

    ``config_prefix`` picks a second recipe kept in the same dataset folder: method ``m`` runs
    ``configs/cls/<dataset>/<config_prefix><m's config>.py`` (``"mbv2_"``: ``mbv2_softmax.py``,
    ``mbv2_decoupled_iif.py`` ... of ``cifar10_lt_jpeg/``), with the cells laid out as usual under
    the work root; the prefix is part of the recipe, so a root holding the other recipe's cells is
    refused rather than mixed in.
    """

    options: Mapping[str, Any]
    epochs: Optional[int] = None
    decoupled_epochs: Optional[int] = None
    config_dir: str = "configs/cls"
    config_prefix: str = ""

    def as_dict(self) -> dict:
        out = dict(options=dict(self.options), epochs=self.epochs, decoupled_epochs=self.decoupled_epochs)
        if self.config_prefix:  # absent when empty: the cells recorded before the prefix existed still match
            out["config_prefix"] = self.config_prefix
        return out


def cell_dir(root: str, dataset: str, seed: int, key: str) -> str:
    return os.path.join(root, dataset, f"seed{seed}", key)


def _config_path(recipe: Recipe, dataset: str, method: Method) -> str:
    path = os.path.join(recipe.config_dir, dataset, f"{recipe.config_prefix}{method.config}.py")
    if not os.path.isfile(path):
        mirror = "toy_mlt" if method.task == "multi_label" else "fashion_mnist_lt"
        raise FileNotFoundError(f"method {method.key!r} needs {path}; add it (mirror configs/cls/{mirror}/"
                                f"{method.config}.py) or leave the method out (--methods)")
    return path


def _cell_config(recipe: Recipe, root: str, dataset: str, seed: int, method: Method) -> dict:
    path = _config_path(recipe, dataset, method)
    opts = dict(recipe.options)
    opts.update(seed=seed, work_dir=cell_dir(root, dataset, seed, method.key))
    if method.kind == "decoupled":
        opts["strategy.load_from"] = os.path.join(cell_dir(root, dataset, seed, "softmax"), "last.pth")
        if recipe.decoupled_epochs is not None:
            opts["schedule.epochs"] = recipe.decoupled_epochs
    elif recipe.epochs is not None:
        base = load_config(path, dict(recipe.options))
        opts["schedule.epochs"] = recipe.epochs
        drw = base["loss"].get("drw_epoch")
        if drw is not None:
            opts["loss.drw_epoch"] = max(0, int(round(drw * recipe.epochs / base["schedule"]["epochs"])))
        # Multi-step milestones keep their place in the schedule (360/380 of 400 -> 90%/95%),
        # unless the options set them.
        steps = base["schedule"]["milestones"]
        if steps and base["schedule"]["type"] == "multistep" and "schedule.milestones" not in recipe.options:
            opts["schedule.milestones"] = [max(1, int(round(m * recipe.epochs / base["schedule"]["epochs"])))
                                           for m in steps]
    return load_config(path, opts)


def _pick(report: dict, pick: str) -> tuple[Optional[dict], str]:
    """The row ``pick`` names in a report, or ``(None, reason)``."""
    why = "; ".join(n for n in report["notes"] if not n.startswith("selection:"))
    if pick == "as trained":
        return report["splits"]["test"][0], ""
    if pick.startswith("val:"):
        group = pick[4:]
        for row in report["selected"]:
            if row["group"] == group:
                return row, ""
        return None, why or f"no {group!r} selection"
    for row in report["splits"]["test"]:
        if row["method"] == pick:
            return row, ""
    return None, why or f"no row {pick!r}"


def run_cell(root: str, dataset: str, seed: int, method: Method, recipe: Recipe) -> dict:
    """Run (or continue) one cell and write its ``cell.json``; returns that record."""
    out = cell_dir(root, dataset, seed, method.key)
    t0 = time.perf_counter()
    if method.kind == "posthoc":
        source = cell_dir(root, dataset, seed, method.source)
        npz = os.path.join(source, "eval", "predictions.npz")
        if not os.path.isfile(os.path.join(source, "cell.json")):
            raise RuntimeError(f"{method.key}: the {method.source} cell {source} has not finished")
        pred = load_predictions(npz)
        config, train_s = None, 0.0
    else:
        cfg = _cell_config(recipe, root, dataset, seed, method)
        ckpt = os.path.join(cfg["work_dir"], "last.pth")
        trainer = Trainer(cfg, resume=os.path.isfile(ckpt))
        trainer.fit()
        train_s = sum(h.get("time_s", 0.0) for h in trainer.history)
        pred, _ = cached_predictions(ckpt, os.path.join(cfg["work_dir"], "eval", "predictions.npz"), cfg)
        config = cfg["_config_path"]
    report = evaluate_predictions(pred, select_metric=method.select_metric)
    if method.kind != "posthoc":
        write_report(report, os.path.join(out, "eval"))  # the full variant table of the run, as test_cls writes it
    row, note = _pick(report, method.pick)
    if row is not None:
        row = {k: v for k, v in row.items()}
    record = dict(dataset=dataset, seed=seed, method=method.key, name=method.name, kind=method.kind, config=config,
                  recipe=recipe.as_dict(), row=row, note=note, wall_s=time.perf_counter() - t0,
                  train_s=train_s,
                  finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    atomic_write_json(record, os.path.join(out, "cell.json"))
    return record


def _load_cell(path: str, recipe: Recipe) -> Optional[dict]:
    if not os.path.isfile(path):
        return None
    with open(path) as fh:
        record = json.load(fh)
    if record.get("recipe") != recipe.as_dict():
        raise ValueError(f"{path} was made with another recipe ({record.get('recipe')} vs {recipe.as_dict()}); "
                         f"use another --work-root or delete that directory")
    return record


def run_table(datasets: Sequence[str], seeds: Sequence[int], recipe: Recipe, root: str,
              methods: Optional[Sequence[str]] = None) -> list[dict]:
    """Run every missing cell (datasets x seeds x methods); returns all cell records.

    A cell that fails (a diverging loss, say) is logged and recorded in ``failed.json`` beside
    where its ``cell.json`` would be; the others go on, and the next call retries it.
    """
    unknown = [k for k in (methods or ()) if k not in _BY_KEY]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; expected some of {list(_BY_KEY)}")
    chosen = {d: _table_methods(recipe, d, methods) for d in datasets}
    for d in datasets:
        for m in chosen[d]:
            if m.config:
                _config_path(recipe, d, m)  # every config exists before hours of training start
    cells = [(d, s, m) for d in datasets for s in seeds for m in chosen[d]]
    records = []
    bar = tqdm(cells, desc="reproduce", disable=None)
    for d, s, m in bar:
        bar.set_postfix_str(f"{d} seed {s} {m.key}")
        out = cell_dir(root, d, s, m.key)
        done = _load_cell(os.path.join(out, "cell.json"), recipe)
        if done is not None:
            records.append(done)
            continue
        if _needs(m) is not None and not os.path.isfile(os.path.join(cell_dir(root, d, s, _needs(m)), "cell.json")):
            logger.error("%s %s seed %d: skipped, its %s cell did not finish", d, m.key, s, _needs(m))
            continue
        try:
            records.append(run_cell(root, d, s, m, recipe))
        except (FloatingPointError, RuntimeError, ValueError) as exc:
            logger.error("%s %s seed %d failed: %s", d, m.key, s, exc)
            atomic_write_json(dict(dataset=d, seed=s, method=m.key, error=str(exc)), os.path.join(out, "failed.json"))
        else:
            if os.path.exists(os.path.join(out, "failed.json")):
                os.unlink(os.path.join(out, "failed.json"))
    return records


def _table_methods(recipe: Recipe, dataset: str, methods: Optional[Sequence[str]]) -> list[Method]:
    """The rows of ``dataset``'s table: ``methods``, or its task's default ones; all of its task."""
    task = _dataset_task(recipe, dataset)
    keys = list(methods) if methods else default_methods(task)
    chosen = [m for m in METHODS if m.key in keys]
    other = [m.key for m in chosen if m.task != task]
    if other:
        raise ValueError(f"method(s) {other} do not belong to dataset {dataset!r}, a {task} task; expected some of "
                         f"{[m.key for m in METHODS if m.task == task]}")
    for m in chosen:
        if _needs(m) is not None and _needs(m) not in keys:
            raise ValueError(f"method {m.key!r} builds on the {_needs(m)} cell: include {_needs(m)!r} in methods")
    return chosen


def missing_cells(records: Sequence[dict], datasets: Sequence[str], seeds: Sequence[int], root: str,
                  methods: Optional[Sequence[str]] = None, recipe: Optional[Recipe] = None) -> list[str]:
    """``"<dataset> <method> seed <s>: <why>"`` for every cell of the table without a record
    (``recipe`` tells each dataset's task, and so its default methods, when ``methods`` is None)."""
    have = {(r["dataset"], r["method"], r["seed"]) for r in records}
    out = []
    for d in datasets:
        task = _dataset_task(recipe, d) if recipe is not None else (dataset_task(d) or "single_label")
        keys = list(methods) if methods else default_methods(task)
        for s in seeds:
            for k in keys:
                if (d, k, s) in have:
                    continue
                failed = os.path.join(cell_dir(root, d, s, k), "failed.json")
                why = f"its {_needs(_BY_KEY[k]) or 'softmax'} cell did not finish" if k in _BY_KEY else "not run"
                if os.path.isfile(failed):
                    with open(failed) as fh:
                        why = json.load(fh).get("error", "failed")
                out.append(f"{d} {k} seed {s}: {why}")
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _choice(row: dict) -> str:
    """What validation chose, short: ``"smooth"`` or ``"tau=0.5"``."""
    param = row.get("param")
    if isinstance(param, str):
        return param
    return f"tau={param:g}" if isinstance(param, (int, float)) else row["selected"]


def aggregate(records: Sequence[dict], seeds: Sequence[int]) -> dict:
    """``{dataset: {method key: {metric: (mean, std, n) or None}, ...}}`` plus per-seed choices."""
    out: dict[str, dict] = {}
    for r in records:
        d = out.setdefault(r["dataset"], {}).setdefault(r["method"], dict(name=r["name"], rows=[], notes=[]))
        if r["row"] is None:
            d["notes"].append(r["note"])
        else:
            d["rows"].append(dict(r["row"], seed=r["seed"]))
    for dataset, methods in out.items():
        for key, d in methods.items():
            stats = {}
            for metric in _metrics_of(key):
                vals = [row[metric] for row in d["rows"] if row.get(metric) is not None]
                stats[metric] = (*_mean_std(vals), len(vals)) if vals else None
            d["stats"] = stats
            d["choices"] = {row["seed"]: _choice(row) for row in d["rows"] if row.get("selected")}
    return out


def _metrics_of(key: str) -> tuple[str, ...]:
    """The table columns of a method's task."""
    m = _BY_KEY.get(key)
    return MULTILABEL_METRICS if m is not None and m.task == "multi_label" else METRICS


def _cell(stat: Optional[tuple], n_seeds: int, digits: int) -> str:
    if stat is None:
        return "-"
    mean, std, n = stat
    text = f"{mean:.{digits}f} ± {std:.{digits}f}"
    return text if n == n_seeds else f"{text} ({n}/{n_seeds})"


def format_markdown(summary: dict, seeds: Sequence[int], recipe: Recipe, wall_s: Optional[dict] = None) -> str:
    """Markdown tables of :func:`aggregate`'s output: mean ± std (sample std) over the seeds."""
    lines = []
    for dataset, methods in summary.items():
        multilabel = any(_metrics_of(k) == MULTILABEL_METRICS for k in methods)
        metrics = MULTILABEL_METRICS if multilabel else METRICS
        heads = (("mAP", "head", "medium", "tail", "CF1", "OF1") if multilabel
                 else ("top-1", "balanced", "many", "medium", "few", "ECE", "NLL"))
        extra = f"; {wall_s[dataset] / 60:.0f} min of compute" if wall_s and dataset in wall_s else ""
        lines += [f"### {dataset} (test split; seeds {', '.join(map(str, seeds))}{extra})", "",
                  "| method | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
        footnotes = []
        for m in METHODS:
            d = methods.get(m.key)
            if d is None:
                continue
            if not d["rows"]:
                reason = d["notes"][0] if d["notes"] else "no result"
                footnotes.append(f"{m.name}: not available: {reason}")
                lines.append(f"| {m.name} | " + " | ".join(["n/a"] * len(heads)) + " |")
                continue
            cells = [_cell(d["stats"].get(k), len(seeds), 3 if k == "nll" else 1) for k in metrics]
            lines.append(f"| {m.name} | " + " | ".join(cells) + " |")
            if d["choices"]:
                picks = ", ".join(f"seed {s}: {c}" for s, c in sorted(d["choices"].items()))
                footnotes.append(f"{m.name}: {picks}")
        lines.append("")
        lines += [f"- {f}" for f in footnotes]
        lines.append("")
    return "\n".join(lines)


def write_outputs(records: Sequence[dict], seeds: Sequence[int], recipe: Recipe, root: str,
                  datasets: Sequence[str]) -> tuple[str, str]:
    """Write ``<root>/results.md`` and ``results.json`` for ``datasets``; returns (markdown, its path)."""
    records = [r for r in records if r["dataset"] in datasets]
    summary = aggregate(records, seeds)
    wall = {}
    for r in records:
        wall[r["dataset"]] = wall.get(r["dataset"], 0.0) + r["wall_s"]
    text = format_markdown(summary, seeds, recipe, wall)
    path = os.path.join(root, "results.md")
    atomic_write_text(text, path)
    atomic_write_json(dict(recipe=recipe.as_dict(), seeds=list(seeds), cells=list(records),
                           summary={d: {k: dict(name=v["name"], stats=v["stats"], choices=v["choices"],
                                                notes=v["notes"]) for k, v in m.items()}
                                    for d, m in summary.items()}),
                      os.path.join(root, "results.json"))
    return text, path
