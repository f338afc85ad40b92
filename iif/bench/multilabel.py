"""Group 6, multi-label mAP: :func:`iif.average_precision` against a per-class scikit-learn loop.

Scores of COCO-MLT's test size (5,000 images x 80 classes, float32 logits of a classifier that
ranks positives higher with noise) and long-tailed test positives (from ~30% of the images down
to ~0.2%). The baseline is what evaluation code usually does: ``sklearn.metrics.average_precision_score``
once per class. Two rows: continuous scores, and scores rounded to two decimals (ties, which
take the slower path of both implementations). Each row's note gives the largest per-class
difference between the two in the same run: they must agree to 1e-9.

Skipped, with the reason printed, where scikit-learn is not installed (it is a test-only
dependency, never one of the library).
"""
from __future__ import annotations

import importlib.util
import logging
import warnings
from typing import Callable

import numpy as np

from .core import Preset, Row, Skipped, interleaved

__all__ = ["run", "make_scores"]

logger = logging.getLogger(__name__)

#: ours / baseline: at least 10x faster.
TARGET = ("<=", 0.1)


def make_scores(n: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(scores (n, c) float32, targets (n, c) bool)``: long-tailed positives, informative noisy logits."""
    rng = np.random.default_rng(seed)
    rate = 0.3 * (0.002 / 0.3) ** (np.arange(c) / max(c - 1, 1))  # positives per class: 30% ... 0.2%
    targets = rng.random((n, c)) < rate
    targets[rng.integers(n, size=c), np.arange(c)] = True  # every class has a positive
    scores = (rng.normal(size=(n, c)) + 1.5 * targets - 2.0).astype(np.float32)
    return scores, targets


def run(preset: Preset, clock: Callable[[], float]) -> list[Row]:
    if importlib.util.find_spec("sklearn") is None:
        raise Skipped("needs scikit-learn, the reference (pip install scikit-learn; a test-only dependency)")
    from sklearn.metrics import average_precision_score

    from ..metrics import average_precision

    n, c = preset.map_n, preset.map_c
    scores, targets = make_scores(n, c)
    rows = []
    for label, s in (("continuous scores", scores), ("ties: scores to 2 decimals", np.round(scores, 2))):
        def sklearn_loop(s: np.ndarray = s) -> np.ndarray:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return np.array([average_precision_score(targets[:, j], s[:, j]) for j in range(c)])

        def ours(s: np.ndarray = s) -> np.ndarray:
            return average_precision(s, targets)

        diff = float(np.max(np.abs(sklearn_loop() - ours())))
        pair = interleaved(sklearn_loop, ours, number=1, repeats=preset.map_repeats, warmup=preset.warmup,
                           clock=clock)
        ratio = pair.ratio()
        rows.append(Row(group="6 multi-label", name=f"per-class AP of {n}x{c} scores, {label}",
                        baseline="sklearn AP, loop over classes", ours="iif.average_precision",
                        base_value=pair.base_median, ours_value=pair.ours_median, unit="s", ratio=ratio,
                        spread=pair.spread(), target=TARGET,
                        note=f"{1 / ratio:.1f}x faster; max |AP difference| vs scikit-learn {diff:.1e}"))
        logger.info("%s: ratio %.3f, max diff %.1e", label, ratio, diff)
    return rows
