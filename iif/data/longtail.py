"""Long-tailed class profiles and the seeded subset selection of LDAM / MiSLAS / IIF.

``long_tailed_counts`` says how many images each class keeps; ``select_long_tailed``
picks them exactly as the reference code did, so ``seed=0`` reproduces the published
CIFAR-10/100-LT subsets; ``select_held_out`` draws a balanced validation set from the
images the long-tailed subset left out; ``select_split`` is the three together, what every
long-tailed view of a balanced source (CIFAR, MNIST, an image folder) does for its splits.
"""
from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np

__all__ = ["PROFILES", "long_tailed_counts", "check_class_counts", "select_long_tailed", "select_held_out",
           "select_split"]

logger = logging.getLogger(__name__)

#: Names of the class-size profiles understood by :func:`long_tailed_counts`.
PROFILES: tuple[str, ...] = ("exp", "step", "pareto")


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _pareto_exponents(num_classes: int, imbalance_factor: float, alpha: float) -> np.ndarray:
    """Exponents ``e_i`` in ``[0, 1]`` with ``n_i = n_max * (1/IF) ** e_i`` for the Pareto profile.

    Class ``i`` sits at ``x_i = 1 + (x_max - 1) * i / (C - 1)`` on the support of the Pareto
    pdf ``p(x) = alpha * x ** -(alpha + 1)`` (``x >= 1``), with ``x_max = IF ** (1 / (alpha + 1))``
    chosen so that ``p(1) / p(x_max) = IF``. Then ``p(x_i) / p(1) = (1/IF) ** e_i`` with
    ``e_i = log(x_i) / log(x_max)``; writing it this way pins ``e_0 = 0`` and ``e_{C-1} = 1``
    exactly, so head and tail match the ``exp`` profile bit for bit.
    """
    t = np.arange(num_classes, dtype=np.float64) / (num_classes - 1.0)
    log_xmax = math.log(imbalance_factor) / (alpha + 1.0)
    e = np.log1p(math.expm1(log_xmax) * t) / log_xmax
    e[0], e[-1] = 0.0, 1.0
    return np.clip(e, 0.0, 1.0)


def long_tailed_counts(
    n_max: int,
    num_classes: int,
    imbalance_factor: float,
    profile: str = "exp",
    *,
    pareto_alpha: float = 1.0,
) -> list[int]:
    """Images per class ``[n_0, ..., n_{C-1}]``, class 0 the head (``n_0 = n_max``).

    Profiles (``IF`` = ``imbalance_factor``, ``C`` = ``num_classes``):

    - ``"exp"``: ``n_i = int(n_max * (1/IF) ** (i / (C - 1.0)))``, the exact float expression
      of LDAM's ``get_img_num_per_cls`` (CIFAR-10, ``n_max=5000``, IF 100: 12,406 images).
    - ``"step"``: classes ``i < C // 2`` get ``n_max``, the rest ``int(n_max * (1/IF))``
      (LDAM's step profile; for odd ``C`` the middle class joins the tail).
    - ``"pareto"``: ``n_i = int(n_max * p(x_i) / p(1))`` with ``p`` the Pareto pdf of shape
      ``pareto_alpha`` (default 1, a Zipf-like ``x ** -2`` decay) evaluated at ``C`` evenly
      spaced points from ``x = 1`` to the ``x_max`` where ``p`` has fallen by ``IF`` (see
      ``_pareto_exponents``). Head ``n_max`` and tail ``int(n_max / IF)`` as for ``"exp"``, but
      the head falls faster and the tail is flatter; ``pareto_alpha -> inf`` tends to ``"exp"``.

    ``imbalance_factor=1`` gives ``n_max`` for every class (the full balanced set).
    Deterministic: no randomness is involved.
    """
    n_max = _check_int(n_max, "n_max", 1)
    num_classes = _check_int(num_classes, "num_classes", 1)
    try:
        imb = float(imbalance_factor)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"imbalance_factor must be a number >= 1, got {imbalance_factor!r}") from exc
    if not math.isfinite(imb) or imb < 1.0:
        raise ValueError(f"imbalance_factor must be a finite number >= 1 (n_max / n_min), got {imbalance_factor!r}")
    if profile not in PROFILES:
        raise ValueError(f"unknown long-tail profile {profile!r}; expected one of {list(PROFILES)}")
    if not (isinstance(pareto_alpha, (int, float)) and math.isfinite(pareto_alpha) and pareto_alpha > 0):
        raise ValueError(f"pareto_alpha must be a positive finite number, got {pareto_alpha!r}")
    if num_classes == 1:
        return [n_max]

    ratio = 1.0 / imb  # LDAM's ``imb_factor`` (0.01 for IF 100)
    if profile == "exp":
        counts = [int(n_max * (ratio ** (i / (num_classes - 1.0)))) for i in range(num_classes)]
    elif profile == "step":
        half = num_classes // 2
        counts = [n_max] * half + [int(n_max * ratio)] * (num_classes - half)
    elif imb == 1.0:
        counts = [n_max] * num_classes
    else:
        e = _pareto_exponents(num_classes, imb, float(pareto_alpha))
        counts = [int(n_max * (ratio ** float(ei))) for ei in e]

    if counts[-1] < 1:
        raise ValueError(
            f"imbalance_factor={imbalance_factor!r} is too large for n_max={n_max}: the tail class "
            f"would get int({n_max} / {imbalance_factor!r}) = 0 images; use imbalance_factor <= {n_max}"
        )
    return counts


def check_class_counts(counts: Sequence[int], num_classes: int) -> list[int]:
    """Explicit images per class ``[n_0, ..., n_{C-1}]`` (the general form of a profile, e.g.
    MNIST-LT 42, 125, 187, 28, 601, 300, 5918, 2698, 1188, 67): ``num_classes`` integers >= 1."""
    try:
        values = list(counts)
    except TypeError as exc:
        raise ValueError(f"counts must be a list of {num_classes} integers (images per class), got {counts!r}") from exc
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1]
    if len(values) != num_classes or bad:
        raise ValueError(f"counts must be {num_classes} integers >= 1 (images per class, class 0 first), got "
                         f"{len(values)} values {values[:12]}" + (f" with bad entries {bad[:5]}" if bad else ""))
    return [int(v) for v in values]


def select_long_tailed(targets: np.ndarray, counts: Sequence[int], seed: int = 0) -> np.ndarray:
    """Source indices of the long-tailed subset, ``(sum(counts),)`` int64, in class order.

    The LDAM / MiSLAS / IIF rule: ``np.random.seed(seed)``, then for each class ``c`` in
    ``0..C-1``: ``idx = np.where(targets == c)[0]; np.random.shuffle(idx); keep idx[:n_c]``.
    It has to use numpy's legacy global RNG to give the same subset as the published code;
    the global state is restored afterwards so that building a dataset has no side effects.

    Raises ``ValueError`` if a class has fewer than ``counts[c]`` images.
    """
    targets = np.asarray(targets)
    avail = np.bincount(targets, minlength=len(counts))
    short = [c for c, n in enumerate(counts) if n > avail[c]]
    if short:
        c = short[0]
        raise ValueError(
            f"class {c} has {int(avail[c])} images but the long-tailed profile asks for {counts[c]} "
            f"(classes short of images: {short[:10]}); lower n_max to at most {int(avail[short].min())}"
        )
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        keep = []
        for c, n in enumerate(counts):
            idx = np.where(targets == c)[0]
            np.random.shuffle(idx)
            keep.append(idx[:n])
    finally:
        np.random.set_state(saved)
    return np.concatenate(keep).astype(np.int64)


def select_held_out(
    targets: np.ndarray, exclude: np.ndarray, per_class: int, num_classes: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A balanced held-out set: ``per_class`` source indices per class not in ``exclude``.

    Drawn with ``np.random.default_rng(seed)`` (its own generator, no global state), class by
    class, from the images the long-tailed subset did not keep. A class with fewer than
    ``per_class`` such images (the CIFAR head class keeps all of its images) is topped up
    from its ``exclude`` images, with a warning.

    Returns:
        indices: ``(num_classes * per_class,)`` int64, in class order.
        overlap: ``(num_classes,)`` int64, how many of each class's images are also in ``exclude``.
    """
    per_class = _check_int(per_class, "val_per_class", 1)
    targets = np.asarray(targets)
    used = np.zeros(len(targets), dtype=bool)
    used[exclude] = True
    rng = np.random.default_rng(seed)
    out, overlap = [], np.zeros(num_classes, dtype=np.int64)
    for c in range(num_classes):
        free = np.flatnonzero((targets == c) & ~used)
        taken = np.flatnonzero((targets == c) & used)
        if len(free) + len(taken) < per_class:
            raise ValueError(f"class {c} has only {len(free) + len(taken)} images; cannot hold out {per_class}")
        pick = rng.permutation(free)[:per_class]
        if len(pick) < per_class:
            extra = rng.permutation(taken)[: per_class - len(pick)]
            overlap[c] = len(extra)
            pick = np.concatenate([pick, extra])
        out.append(np.sort(pick))
    if overlap.any():
        cls = np.flatnonzero(overlap)
        logger.warning(
            "validation set: classes %s have fewer than %d images outside the long-tailed training subset; "
            "%d of their validation images are also training images",
            cls[:10].tolist(), per_class, int(overlap.sum()),
        )
    return np.concatenate(out).astype(np.int64), overlap


def select_split(
    targets: np.ndarray,
    split: str,
    num_classes: int,
    *,
    imbalance_factor: float,
    profile: str = "exp",
    seed: int = 0,
    n_max: int | None = None,
    val_per_class: int = 20,
    counts: Sequence[int] | None = None,
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Source indices of the ``"train"`` or ``"val"`` split of a long-tailed view of a training set.

    ``"train"``: :func:`long_tailed_counts` (``n_max``, default ``len(targets) // num_classes`` as
    LDAM computes it) then :func:`select_long_tailed` with ``seed``; explicit ``counts`` (one per
    class) replace the profile (``imbalance_factor``, ``profile`` and ``n_max`` are then unused).
    ``"val"``: the same subset,
    then :func:`select_held_out` draws ``val_per_class`` images per class from what it left out.

    Returns:
        indices: ``(N,)`` int64 positions in ``targets``.
        counts: the profile ``[n_0, ..., n_{C-1}]`` of the training split.
        overlap: ``(C,)`` int64, per class how many ``"val"`` images are also training images
            (zeros for ``"train"``).
    """
    if split not in ("train", "val"):
        raise ValueError(f"select_split draws 'train' or 'val' from a training set, got split {split!r}")
    targets = np.asarray(targets)
    if counts is not None:
        counts = check_class_counts(counts, num_classes)
    else:
        if n_max is None:
            n_max = len(targets) // num_classes  # LDAM: img_max = len(data) / cls_num
        counts = long_tailed_counts(n_max, num_classes, imbalance_factor, profile)
    keep = select_long_tailed(targets, counts, seed)
    overlap = np.zeros(num_classes, dtype=np.int64)
    if split == "val":
        keep, overlap = select_held_out(targets, keep, val_per_class, num_classes, seed)
    return keep, counts, overlap
