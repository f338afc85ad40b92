"""The paper's figures from saved predictions: IIF variant curves (Fig. 2), per-class accuracy against
training frequency, classifier weight norms by class frequency (Fig. 5), reliability diagrams.

Every figure is a PNG plus the data behind it (a CSV of the same name), both written atomically.
Matplotlib runs on the Agg backend (no display needed) and is imported only here.
"""
from __future__ import annotations

import csv
import io
import logging
import os
from typing import Mapping, Optional, Sequence

import numpy as np
import torch

from ..metrics import ECE_BINS, ReliabilityBins, average_precision, per_class_accuracy, reliability_bins
from ..posthoc import adjust_logits
from ..weights import VARIANTS, check_counts, compute_weights
from .checkpoint import atomic_write, atomic_write_text
from .report import posthoc_applies

__all__ = ["plot_iif_variants", "plot_per_class_accuracy", "plot_weight_norms", "plot_reliability",
           "write_figures"]

logger = logging.getLogger(__name__)

_MARKERS = "osD^v<>px*"
_STYLES = ("-", "--", "-.", ":")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # never a display: this runs on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))
    return path


def _write_csv(path: str, header: Sequence[str], rows: Sequence[Sequence]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(buf.getvalue(), path)
    return path


def _log_x(ax, counts: np.ndarray) -> None:
    # Long-tailed counts span decades: a log axis, unless they do not.
    if counts.min() > 0 and counts.max() / counts.min() >= 10:
        ax.set_xscale("log")


def plot_iif_variants(train_counts: Sequence[int], path: str, variants: Sequence[str] = VARIANTS,
                      title: str = "", total: Optional[int] = None) -> str:
    """Paper Fig. 2: each IIF variant's weight against a class's training count ``IF`` (``K`` =
    ``total``, default the sum of the counts; multi-label data pass the number of training images),
    left as is, right divided by the variant's largest weight (only ratios matter for post-process
    predictions). Markers are the dataset's classes. Writes ``path`` and ``path.csv``."""
    counts = check_counts(train_counts, "train_counts")
    k = counts.sum() if total is None else int(total)
    grid = np.unique(np.round(np.geomspace(max(counts.min(), 1), counts.max(), 200)))
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    rows = [[int(c)] for c in counts]
    for i, v in enumerate(variants):
        w_grid = compute_weights(grid, v, total=k).numpy()
        w = compute_weights(counts, v, total=k).numpy()
        peak = np.abs(w).max()
        for ax, scale in ((axes[0], 1.0), (axes[1], 1.0 / peak)):
            (line,) = ax.plot(grid, w_grid * scale, label=v, lw=1.5, ls=_STYLES[i % len(_STYLES)])
            ax.plot(counts, w * scale, _MARKERS[i % len(_MARKERS)], color=line.get_color(), ms=5)
        for r, wc in zip(rows, w):
            r.append(float(wc))
    for ax in axes:
        _log_x(ax, counts)
        ax.set_xlabel("training images of the class (IF)")
        ax.grid(alpha=0.3)
        ax.axhline(0, color="k", lw=0.6)
    axes[0].set_ylabel("IIF weight w")
    axes[1].set_ylabel("w / max_c |w_c|")
    axes[0].set_title("weights (K = %d)" % k)
    axes[1].set_title("relative weights (raw, base2, base10 coincide)")
    axes[1].legend(fontsize=8, ncol=2)
    if title:
        fig.suptitle(title, y=1.02)
    _write_csv(os.path.splitext(path)[0] + ".csv", ["train_count", *variants], rows)
    return _save(fig, path)


def plot_per_class_accuracy(train_counts: Sequence[int], accuracies: Mapping[str, Sequence[float]], path: str,
                            class_names: Optional[Sequence[str]] = None, title: str = "",
                            ylabel: str = "test accuracy of the class (%)") -> str:
    """Per-class test accuracy (%) against training count, one series per method (``{label: (C,)}``);
    any other per-class score with ``ylabel`` (multi-label: AP in %)."""
    counts = check_counts(train_counts, "train_counts")
    order = np.argsort(-counts, kind="stable")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, (label, acc) in enumerate(accuracies.items()):
        acc = np.asarray(acc, dtype=np.float64)
        ax.plot(counts[order], acc[order], marker=_MARKERS[i % len(_MARKERS)], ms=5, lw=1.2, label=label)
    if class_names is not None and len(counts) <= 20:
        first = np.asarray(next(iter(accuracies.values())), dtype=np.float64)
        for c in range(len(counts)):
            ax.annotate(class_names[c], (counts[c], first[c]), fontsize=7, xytext=(3, -10), textcoords="offset points")
    _log_x(ax, counts)
    ax.set_xlabel("training images of the class")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "per-class accuracy against training frequency")
    names = list(class_names) if class_names is not None else [str(c) for c in range(len(counts))]
    rows = [[names[c], int(counts[c])] + [float(np.asarray(a)[c]) for a in accuracies.values()] for c in order]
    _write_csv(os.path.splitext(path)[0] + ".csv", ["class", "train_count", *accuracies], rows)
    return _save(fig, path)


def plot_weight_norms(train_counts: Sequence[int], norms: Mapping[str, Sequence[float]], path: str,
                      title: str = "") -> str:
    """Paper Fig. 5: the L2 norm of each class's classifier row, classes sorted by training count
    (most frequent first), one bar series per model; the counts on a second, log-scaled axis."""
    counts = check_counts(train_counts, "train_counts")
    order = np.argsort(-counts, kind="stable")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    x = np.arange(len(counts))
    width = 0.8 / max(len(norms), 1)
    for i, (label, n) in enumerate(norms.items()):
        n = np.asarray(n, dtype=np.float64)
        if len(counts) <= 50:
            ax.bar(x + (i - (len(norms) - 1) / 2) * width, n[order], width, label=label)
        else:
            ax.plot(x, n[order], lw=1, label=label)
    ax.set_xlabel("class rank by training count (0 = most frequent)")
    ax.set_ylabel("classifier weight norm ||W_c||")
    ax.legend(fontsize=8, loc="upper left")
    ax2 = ax.twinx()
    ax2.plot(x, counts[order], "k--", lw=1, label="training images")
    if counts.min() > 0 and counts.max() / counts.min() >= 10:
        ax2.set_yscale("log")
    ax2.set_ylabel("training images (dashed)")
    ax.set_title(title or "classifier weight norms by class frequency")
    rows = [[int(c), int(counts[c])] + [float(np.asarray(n)[c]) for n in norms.values()] for c in order]
    _write_csv(os.path.splitext(path)[0] + ".csv", ["class", "train_count", *norms], rows)
    return _save(fig, path)


def plot_reliability(bins: Mapping[str, ReliabilityBins], path: str, title: str = "") -> str:
    """Reliability diagrams, one panel per method: accuracy against confidence in equal-width bins,
    the gap to the diagonal shaded, the ECE in each panel's title."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(bins), figsize=(3.6 * len(bins), 3.8), squeeze=False)
    rows = []
    for ax, (label, b) in zip(axes[0], bins.items()):
        centers = (b.edges[:-1] + b.edges[1:]) / 2
        width = b.edges[1] - b.edges[0]
        full = b.count > 0
        ax.bar(centers[full], b.accuracy[full], width, edgecolor="k", lw=0.5, label="accuracy")
        ax.bar(centers[full], (b.confidence - b.accuracy)[full], width, bottom=b.accuracy[full], color="red",
               alpha=0.3, edgecolor="r", lw=0.5, label="gap to confidence")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (max softmax)")
        ax.set_title(f"{label}\nECE {b.ece * 100:.1f}%", fontsize=9)
        for i in range(len(b.count)):
            rows.append([label, float(b.edges[i]), float(b.edges[i + 1]), int(b.count[i]),
                         None if not full[i] else float(b.confidence[i]), None if not full[i] else float(b.accuracy[i])])
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, y=1.04)
    _write_csv(os.path.splitext(path)[0] + ".csv", ["method", "bin_lo", "bin_hi", "count", "confidence", "accuracy"],
               rows)
    return _save(fig, path)


def _label(pred) -> str:
    return str(pred.meta.get("method", "model"))


def write_figures(preds: Sequence, out_dir: str, report: Optional[dict] = None, split: str = "test",
                  n_bins: int = ECE_BINS) -> list[str]:
    """All four figures from :class:`~iif.engine.report.Predictions` (the first is the reference,
    usually the softmax model; the others, e.g. decoupled IIF, are added to the comparisons).

    Post-process IIF uses the variant the first model's ``report`` chose on validation, else
    ``smooth``. Returns the PNG paths (each has a CSV beside it).
    """
    if not preds:
        raise ValueError("write_figures needs at least one Predictions")
    base = preds[0]
    counts = np.asarray(base.train_counts)
    for p in preds[1:]:
        if not np.array_equal(np.asarray(p.train_counts), counts):
            raise ValueError(f"{_label(p)} was trained on other class counts than {_label(base)}")
    dataset = base.meta.get("dataset", "")
    names = base.meta.get("class_names")
    variant = "smooth"
    for row in (report or {}).get("selected", []):
        if row.get("family") == "iif":
            variant = row["param"]
    os.makedirs(out_dir, exist_ok=True)
    if getattr(base, "task", "single_label") == "multi_label":
        return _multilabel_figures(preds, out_dir, variant, split)
    paths = [plot_iif_variants(counts, os.path.join(out_dir, "iif_variants.png"),
                               title=f"IIF variants on {dataset} training counts")]

    logits, labels = base.splits[split]
    entries = [(_label(base), base.as_trained(split), labels)]
    if posthoc_applies(base.meta)[0]:
        entries.append((f"post-process IIF {variant}", adjust_logits(logits, compute_weights(counts, variant)), labels))
    entries += [(_label(p), p.as_trained(split), p.splits[split][1]) for p in preds[1:]]
    seen: dict[str, int] = {}
    for i, (name, z, y) in enumerate(entries):  # two runs of one method (seeds) get numbered labels
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            entries[i] = (f"{name} #{seen[name]}", z, y)
    acc = {name: per_class_accuracy(z, y, len(counts)) * 100 for name, z, y in entries}
    paths.append(plot_per_class_accuracy(counts, acc, os.path.join(out_dir, "per_class_accuracy.png"), names,
                                         title=f"{dataset} ({split}): per-class accuracy against training frequency"))

    norms = {f"{name} ({p.head_type} head)": p.head_weight.norm(dim=1).numpy()
             for (name, _, _), p in zip([entries[0]] + entries[len(entries) - len(preds) + 1:], preds)
             if p.head_weight is not None}
    if norms:
        paths.append(plot_weight_norms(counts, norms, os.path.join(out_dir, "weight_norms.png"),
                                       title=f"{dataset}: classifier weight norms, classes by frequency"))
    rel = {name: reliability_bins(z, y, n_bins) for name, z, y in entries}
    paths.append(plot_reliability(rel, os.path.join(out_dir, "reliability.png"),
                                  title=f"{dataset} ({split}): reliability, {n_bins} bins"))
    return paths


def _multilabel_figures(preds: Sequence, out_dir: str, variant: str, split: str) -> list[str]:
    """The multi-label figures: IIF variants with ``K`` = training images, per-class AP against training
    frequency (post-process IIF with a positive weight has the model's own AP, so it is not drawn
    twice), classifier weight norms. No reliability diagram: it bins the top softmax probability
    of single-label predictions."""
    base = preds[0]
    counts = np.asarray(base.train_counts)
    dataset = base.meta.get("dataset", "")
    k = base.num_images if base.num_images is not None else int(counts.sum())
    paths = [plot_iif_variants(counts, os.path.join(out_dir, "iif_variants.png"), total=k,
                               title=f"IIF variants on {dataset} training counts (K = {k} images)")]
    entries = [(_label(p), p.as_trained(split), p.splits[split][1]) for p in preds]
    seen: dict[str, int] = {}
    for i, (name, z, y) in enumerate(entries):  # two runs of one method (seeds) get numbered labels
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            entries[i] = (f"{name} #{seen[name]}", z, y)
    ap = {name: average_precision(z, y) * 100 for name, z, y in entries}
    paths.append(plot_per_class_accuracy(counts, ap, os.path.join(out_dir, "per_class_ap.png"),
                                         base.meta.get("class_names"), ylabel="test AP of the class (%)",
                                         title=f"{dataset} ({split}): per-class AP against training images"))
    norms = {f"{name} ({p.head_type} head)": p.head_weight.norm(dim=1).numpy()
             for (name, _, _), p in zip(entries, preds) if p.head_weight is not None}
    if norms:
        paths.append(plot_weight_norms(counts, norms, os.path.join(out_dir, "weight_norms.png"),
                                       title=f"{dataset}: classifier weight norms, classes by frequency"))
    logger.info("multi-label predictions: no reliability diagram (it is a single-label figure); "
                "post-process IIF %s keeps every class's AP", variant)
    return paths
