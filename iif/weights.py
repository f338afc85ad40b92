"""Inverse Image Frequency (IIF) weights from training-set frequencies.

Alexandridis et al., "Inverse Image Frequency for Long-tailed Image Recognition",
IEEE TIP 2023, Table I. Notation: ``IF_y`` is the number of training images that
contain class ``y`` (for object frequency, IOF: the number of instances of ``y``);
``K`` is the total, by default ``sum(IF)`` (single-label classification, where it
equals the number of training images). For detection pass ``total`` explicitly:
the number of training images for IIF, the number of annotations for IOF.

Every variant decreases strictly as a class gets more frequent, so rare classes get
the larger multiplier. The math is done in float64 and handed back as float32.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Sequence, Union

import numpy as np
import torch
from scipy.special import ndtri

__all__ = [
    "VARIANTS",
    "ZERO_SAFE_VARIANTS",
    "compute_weights",
    "class_counts",
    "multilabel_counts",
    "effective_number_weights",
    "check_counts",
    "log_prior",
]

logger = logging.getLogger(__name__)

ArrayLike = Union[Sequence[float], np.ndarray, torch.Tensor]


def _raw(f: np.ndarray, k: float) -> np.ndarray:
    return np.log(k / f)


def _smooth(f: np.ndarray, k: float) -> np.ndarray:
    # +1 inside keeps IF = 0 finite; +1 outside keeps every weight >= 1.
    return np.log((k + 1.0) / (f + 1.0)) + 1.0


def _rel(f: np.ndarray, k: float) -> np.ndarray:
    # Relative frequency against the images that do not contain the class.
    return np.log((k - f) / f)


def _base2(f: np.ndarray, k: float) -> np.ndarray:
    return np.log2(k / f)


def _base10(f: np.ndarray, k: float) -> np.ndarray:
    return np.log10(k / f)


def _gombit(f: np.ndarray, k: float) -> np.ndarray:
    # Inverse of the Gumbel CDF (complementary log-log link) at p = IF/K.
    return -np.log(-np.log1p(-f / k))


def _normit(f: np.ndarray, k: float) -> np.ndarray:
    # The paper's table prints Phi^-1(K/IF), undefined for K/IF > 1; the authors'
    # code uses -Phi^-1(IF/K), which is what we implement.
    return -ndtri(f / k)


_FUNCS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "raw": _raw,
    "smooth": _smooth,
    "rel": _rel,
    "base2": _base2,
    "base10": _base10,
    "gombit": _gombit,
    "normit": _normit,
}

#: Names of the IIF variants, in the paper's order.
VARIANTS: tuple[str, ...] = tuple(_FUNCS)
#: Variants that stay finite for a class with zero frequency.
ZERO_SAFE_VARIANTS: frozenset[str] = frozenset({"smooth"})
# Variants that are infinite when one class is in every image (IF == K).
_FULL_UNSAFE = frozenset({"rel", "gombit", "normit"})


def _name_classes(idx: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return f"[{shown}{more}]"


def check_counts(frequencies: ArrayLike, name: str = "frequencies") -> np.ndarray:
    """Validate a per-class count vector and return it as float64 ``(C,)``.

    Raises ``ValueError`` for a wrong shape, NaN/inf, negative or non-integer values.
    """
    if isinstance(frequencies, torch.Tensor):
        arr = frequencies.detach().to("cpu", torch.float64).numpy()
    else:
        try:
            arr = np.asarray(frequencies, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a 1-D sequence of numbers, got {frequencies!r}") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D vector of per-class counts, got shape {tuple(arr.shape)}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} must be finite; classes {_name_classes(bad)} are NaN or infinite")
    bad = np.flatnonzero(arr < 0)
    if bad.size:
        raise ValueError(f"{name} must be >= 0; classes {_name_classes(bad)} have negative counts {arr[bad][:10].tolist()}")
    bad = np.flatnonzero(arr != np.round(arr))
    if bad.size:
        raise ValueError(
            f"{name} must be whole numbers of images/instances; classes {_name_classes(bad)} "
            f"have non-integer values {arr[bad][:10].tolist()}"
        )
    return arr


def compute_weights(
    frequencies: ArrayLike,
    variant: str = "smooth",
    total: float | None = None,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """IIF weights ``w`` of shape ``(C,)`` (float32) from per-class frequencies.

    Args:
        frequencies: ``(C,)`` counts ``IF_y`` (images containing class y, or instances for IOF).
        variant: one of :data:`VARIANTS`.
        total: ``K``; defaults to ``sum(frequencies)``. Detection: number of training
            images (IIF) or of annotations (IOF).
        device: where to put the result (the logits' device).

    Raises:
        ValueError: unknown variant, bad counts, ``total`` smaller than a count, or a
            zero count (or a count equal to ``K``) for a variant that is infinite there.
    """
    if variant not in _FUNCS:
        raise ValueError(f"unknown IIF variant {variant!r}; expected one of {sorted(VARIANTS)}")
    f = check_counts(frequencies)
    if total is None:
        k = float(f.sum())
    else:
        try:
            k = float(total)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"total (K) must be a number, got {total!r}") from exc
        if not math.isfinite(k) or k <= 0:
            raise ValueError(f"total (K) must be a positive finite number, got {total!r}")
        too_big = np.flatnonzero(f > k)
        if too_big.size:
            raise ValueError(
                f"total (K={k:g}) is smaller than the counts of classes {_name_classes(too_big)} "
                f"(max count {f.max():g}); K must be >= every class frequency"
            )
    if k <= 0:
        raise ValueError("frequencies sum to 0: at least one class needs a training sample")
    if variant not in ZERO_SAFE_VARIANTS:
        zero = np.flatnonzero(f == 0)
        if zero.size:
            raise ValueError(
                f"IIF variant {variant!r} is infinite for classes with zero frequency: {_name_classes(zero)}; "
                f"use variant='smooth', which is finite at 0, or drop those classes"
            )
    if variant in _FULL_UNSAFE:
        full = np.flatnonzero(f == k)
        if full.size:
            raise ValueError(
                f"IIF variant {variant!r} is infinite for classes whose frequency equals K={k:g}: "
                f"{_name_classes(full)}; use 'raw', 'smooth' or a base-* variant"
            )
    with np.errstate(divide="ignore"):
        w = _FUNCS[variant](f, k)
    # rel/normit turn negative above K/2, gombit above (1 - 1/e) K, raw/base* reach 0 at K:
    # a non-positive multiplier flips or erases that class's logits.
    flip = np.flatnonzero(w <= 0)
    if flip.size:
        logger.warning(
            "IIF variant %r gives non-positive weights to classes %s (frequency %s of K=%g): "
            "their logits change sign or vanish",
            variant, _name_classes(flip), f[flip][:10].tolist(), k,
        )
    return torch.as_tensor(w, dtype=torch.float32, device=device)


def class_counts(labels: ArrayLike, num_classes: int | None = None) -> np.ndarray:
    """Per-class counts ``(C,)`` (int64) of a single-label list / array / tensor of class indices.

    ``num_classes`` defaults to ``max(label) + 1``; pass it so that absent tail classes get 0.
    """
    if isinstance(labels, torch.Tensor):
        arr = labels.detach().cpu().numpy()
    else:
        arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be a 1-D sequence of class indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr.astype(np.float64))) or np.any(arr != np.round(arr)):
            raise ValueError("labels must be integer class indices")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"labels must be >= 0, found {int(arr.min())}")
    if num_classes is None:
        num_classes = int(arr.max()) + 1 if arr.size else 0
    if num_classes <= 0:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if arr.size and arr.max() >= num_classes:
        raise ValueError(f"label {int(arr.max())} is out of range for num_classes={num_classes}")
    return np.bincount(arr, minlength=num_classes).astype(np.int64)


def multilabel_counts(targets: ArrayLike) -> tuple[np.ndarray, int]:
    """Image frequencies of a multi-hot label matrix: ``(counts (C,) int64, K)``.

    ``targets`` is ``(N, C)`` with entries 0/1 (bool, integer or float); ``counts[c]`` is the
    number of images that contain class ``c`` (``IF_c``) and ``K = N``, the number of
    training images: the paper's image-frequency convention. In multi-label data
    ``sum(counts) > K`` (an image counts once for every class it has), so pass ``K``
    explicitly: ``compute_weights(counts, variant, total=K)``.
    """
    if isinstance(targets, torch.Tensor):
        arr = targets.detach().cpu().numpy()
    else:
        arr = np.asarray(targets)
    if arr.ndim != 2:
        raise ValueError(f"targets must be an (N, C) multi-hot matrix, got shape {tuple(arr.shape)}")
    if arr.shape[1] == 0:
        raise ValueError(f"targets must have at least one class column, got shape {tuple(arr.shape)}")
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"targets must be numeric 0/1 or bool, got dtype {arr.dtype}")
        bad = (arr != 0) & (arr != 1)
        if np.any(bad):
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"targets must be 0/1 (hard multi-hot labels) to count image frequencies; "
                f"entry ({row}, {col}) of the {tuple(arr.shape)} matrix is {arr[row, col].item()!r}"
            )
    counts = np.count_nonzero(arr, axis=0).astype(np.int64)
    return counts, int(arr.shape[0])


def effective_number_weights(counts: ArrayLike, beta: float = 0.9999) -> torch.Tensor:
    """Class-balanced weights of Cui et al. (CVPR 2019), used by LDAM-DRW.

    ``w_y = (1 - beta) / (1 - beta^{n_y})``, normalised so that ``sum(w) = C``. Shape ``(C,)``.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    n = check_counts(counts, "counts")
    zero = np.flatnonzero(n == 0)
    if zero.size:
        raise ValueError(f"class-balanced weights need every class present; classes {_name_classes(zero)} have 0 samples")
    w = (1.0 - beta) / (1.0 - np.power(beta, n))
    w = w / w.sum() * len(n)
    return torch.as_tensor(w, dtype=torch.float32)


def log_prior(counts: ArrayLike, device: torch.device | str | None = None) -> torch.Tensor:
    """``log(n_y / sum(n))`` of shape ``(C,)`` (float32), the prior that logit adjustment removes."""
    n = check_counts(counts, "counts")
    zero = np.flatnonzero(n == 0)
    if zero.size:
        raise ValueError(
            f"log-prior is -inf for classes with zero training samples: {_name_classes(zero)}; "
            f"every class needs at least one sample"
        )
    return torch.as_tensor(np.log(n / n.sum()), dtype=torch.float32, device=device)
