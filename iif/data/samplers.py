"""Class-aware sampling for long-tailed training, deterministic and DDP-sharded.

Every epoch draws one global index sequence from ``np.random.default_rng([seed, epoch])``;
with ``num_replicas = R`` rank ``r`` yields positions ``r, r + R, r + 2R, ...`` of it
(``len(draw) // R`` indices), so the ranks see disjoint parts of the same draw and
together cover its first ``R * (len(draw) // R)`` positions.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Sampler

from ..weights import class_counts, multilabel_counts

__all__ = ["ClassAwareSampler", "build_sampler", "SAMPLER_MODES", "repeat_factors"]

#: Sampling modes: class probability uniform / ∝ sqrt(n_c) / LVIS repeat factors / plain shuffle.
SAMPLER_MODES: tuple[str, ...] = ("balanced", "sqrt", "rfs", "random")

Targets = Union[Sequence[int], np.ndarray, torch.Tensor]


def repeat_factors(counts: np.ndarray, threshold: float) -> np.ndarray:
    """LVIS repeat factors per class ``(C,)``: ``r_c = max(1, sqrt(t / f_c))``, ``f_c = n_c / N``.

    Gupta et al. (LVIS, 2019), as in detectron2's ``repeat_factors_from_category_frequency``;
    ``f_c`` is the fraction of training images containing class ``c`` (single-label here, so
    ``n_c / N``). Classes rarer than ``t`` are repeated, frequent ones are not. Absent
    classes get 0 (no image to repeat).
    """
    counts = np.asarray(counts, dtype=np.float64)
    f = counts / counts.sum()
    with np.errstate(divide="ignore"):
        r = np.maximum(1.0, np.sqrt(threshold / f))
    return np.where(counts > 0, r, 0.0)



def check_sharding(num_replicas: int, rank: int, num_samples: int | None) -> None:
    """Validate the DDP sharding arguments every sampler here takes."""
    if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
        raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
        raise ValueError(f"rank must be an integer in [0, {num_replicas}), got {rank!r}")
    if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, int)
                                    or num_samples < num_replicas):
        raise ValueError(
            f"num_samples must be an integer >= num_replicas ({num_replicas}) or None, got {num_samples!r}"
        )

class ClassAwareSampler(Sampler[int]):
    """Index sampler for long-tailed data.

    Args:
        targets: ``(N,)`` class index of every dataset item.
        mode: ``"balanced"`` (each class equally likely, then an item uniformly within it),
            ``"sqrt"`` (class probability ∝ ``sqrt(n_c)``, then uniform within), ``"rfs"``
            (each item repeated ``floor(r) + Bernoulli(frac(r))`` times, ``r`` its class's
            :func:`repeat_factors`, then shuffled) or ``"random"`` (a plain shuffle).
            ``balanced`` and ``sqrt`` draw with replacement.
        num_samples: indices per epoch over all replicas; defaults to ``N`` (``rfs``: the
            number the repeats give, which varies a little from epoch to epoch). Given for
            ``rfs`` / ``random``, the shuffled sequence is cut or cycled to that length.
        seed: with the epoch, fixes the draw; every rank must pass the same seed.
        num_replicas, rank: DDP world size and this process's rank.
        rfs_threshold: ``t`` of repeat-factor sampling (LVIS: 1e-3).
    """

    def __init__(
        self,
        targets: Targets,
        mode: str,
        num_samples: int | None = None,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        rfs_threshold: float = 1e-3,
    ) -> None:
        if mode not in SAMPLER_MODES:
            raise ValueError(f"unknown sampler mode {mode!r}; expected one of {list(SAMPLER_MODES)}")
        targets = np.asarray(targets.cpu() if isinstance(targets, torch.Tensor) else targets)
        if targets.size == 0:
            raise ValueError("targets is empty: nothing to sample")
        self.counts = class_counts(targets)  # validates: 1-D, non-negative integers
        self.targets = targets.astype(np.int64)
        check_sharding(num_replicas, rank, num_samples)
        if not (isinstance(rfs_threshold, (int, float)) and math.isfinite(rfs_threshold) and rfs_threshold > 0):
            raise ValueError(f"rfs_threshold must be a positive number, got {rfs_threshold!r}")
        self.mode = mode
        self.num_samples = num_samples
        self.seed = int(seed)
        self.num_replicas = num_replicas
        self.rank = rank
        self.rfs_threshold = float(rfs_threshold)
        self.epoch = 0
        self._cache: tuple[int, np.ndarray] | None = None

        # Items grouped by class: order[start[c] : start[c] + counts[c]] are class c's items.
        self._order = np.argsort(self.targets, kind="stable")
        self._start = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        if mode == "balanced":
            self.class_probs = (self.counts > 0) / np.count_nonzero(self.counts)
        elif mode == "sqrt":
            root = np.sqrt(self.counts.astype(np.float64))
            self.class_probs = root / root.sum()
        else:
            self.class_probs = self.counts / self.counts.sum()
        self.repeat = repeat_factors(self.counts, self.rfs_threshold)[self.targets] if mode == "rfs" else None

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's draw (call before each epoch, as with ``DistributedSampler``)."""
        self.epoch = int(epoch)

    def expected_length(self) -> float:
        """Expected indices per epoch over all replicas (``sum(r_i)`` for ``rfs``)."""
        if self.num_samples is not None:
            return float(self.num_samples)
        return float(self.repeat.sum()) if self.mode == "rfs" else float(len(self.targets))

    def _fit(self, seq: np.ndarray) -> np.ndarray:
        """``seq`` cut or cycled to ``num_samples`` (when given)."""
        if self.num_samples is None or len(seq) == self.num_samples:
            return seq
        reps = -(-self.num_samples // len(seq))
        return np.tile(seq, reps)[: self.num_samples]

    def draw(self, epoch: int | None = None) -> np.ndarray:
        """The global index sequence of an epoch (all replicas), ``(M,)`` int64."""
        epoch = self.epoch if epoch is None else int(epoch)
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.targets)
        if self.mode == "random":
            out = self._fit(rng.permutation(n))
        elif self.mode == "rfs":
            base = np.floor(self.repeat)
            reps = (base + (rng.random(n) < self.repeat - base)).astype(np.int64)
            out = self._fit(rng.permutation(np.repeat(np.arange(n), reps)))
        else:
            m = n if self.num_samples is None else self.num_samples
            cls = rng.choice(len(self.counts), size=m, p=self.class_probs)
            # Uniform within class: floor(u * n_c) is an offset into the class's items.
            offset = np.minimum((rng.random(m) * self.counts[cls]).astype(np.int64), self.counts[cls] - 1)
            out = self._order[self._start[cls] + offset]
        out = out.astype(np.int64)
        self._cache = (epoch, out)
        return out

    def __iter__(self) -> Iterator[int]:
        seq = self.draw()
        per_rank = len(seq) // self.num_replicas
        return iter(seq[self.rank : per_rank * self.num_replicas : self.num_replicas].tolist())

    def __len__(self) -> int:
        return len(self.draw()) // self.num_replicas


def build_sampler(mode: str | None, targets: Targets, **kwargs) -> ClassAwareSampler | None:
    """A :class:`ClassAwareSampler`, or None for ``mode=None`` (let the DataLoader shuffle)."""
    if mode is None:
        return None
    return ClassAwareSampler(targets, mode, **kwargs)


# ----------------------------------------------------------------------------- multi-label

__all__ += ["MULTILABEL_SAMPLER_MODES", "OccurrenceSampler", "MultiLabelClassAwareSampler", "build_multilabel_sampler"]

#: Multi-label sampling modes: by class occurrence (TailCLIP), class-aware (DB), plain shuffle.
MULTILABEL_SAMPLER_MODES: tuple[str, ...] = ("occurrence", "class_aware", "random")


def _multihot(targets: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
    """``(N, C)`` bool from 0/1 targets; ValueError naming a bad entry or shape."""
    arr = np.asarray(targets.cpu() if isinstance(targets, torch.Tensor) else targets)
    multilabel_counts(arr)  # validates: (N, C), entries 0/1
    if arr.shape[0] == 0:
        raise ValueError("targets is empty: nothing to sample")
    return arr != 0


class _EpochDrawSampler(Sampler[int]):
    """One global index sequence per epoch from ``np.random.default_rng([seed, epoch])``, sharded over
    DDP ranks exactly as :class:`ClassAwareSampler` does (rank ``r`` takes positions ``r, r + R, ...``)."""

    def __init__(self, size: int, num_samples: int | None, seed: int, num_replicas: int, rank: int) -> None:
        check_sharding(num_replicas, rank, num_samples)
        self.size = size
        self.num_samples = num_samples
        self.seed = int(seed)
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self._cache: tuple[int, np.ndarray] | None = None

    def _draw(self, rng: np.random.Generator, m: int) -> np.ndarray:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's draw (call before each epoch, as with ``DistributedSampler``)."""
        self.epoch = int(epoch)

    def draw(self, epoch: int | None = None) -> np.ndarray:
        """The global index sequence of an epoch (all replicas), ``(M,)`` int64."""
        epoch = self.epoch if epoch is None else int(epoch)
        if self._cache is None or self._cache[0] != epoch:
            m = self.size if self.num_samples is None else self.num_samples
            self._cache = (epoch, self._draw(np.random.default_rng([self.seed, epoch]), m).astype(np.int64))
        return self._cache[1]

    def __iter__(self) -> Iterator[int]:
        seq = self.draw()
        per_rank = len(seq) // self.num_replicas
        return iter(seq[self.rank: per_rank * self.num_replicas: self.num_replicas].tolist())

    def __len__(self) -> int:
        m = self.size if self.num_samples is None else self.num_samples
        return m // self.num_replicas


class OccurrenceSampler(_EpochDrawSampler):
    """Images drawn with replacement, image ``i`` with weight ``(sum_{c in y_i} N / n_c)^k`` (TailCLIP).

    Args:
        targets: ``(N, C)`` 0/1 labels of the training set.
        k: the exponent (TailCLIP's ``sample_weights_power``; 0 is uniform sampling).
        num_samples: indices per epoch over all replicas (default ``N``).
        seed, num_replicas, rank: as :class:`ClassAwareSampler`.

    An image without labels has weight 0 and is never drawn. ``probabilities`` ``(N,)`` are the
    normalised weights (``N`` cancels in them, ``n_c`` are the image counts of ``targets``). With
    ``k = 1`` they equal those of :class:`MultiLabelClassAwareSampler` (both are proportional to
    ``sum_{c in y_i} 1 / n_c``); ``k`` above 1 favours rare-class images more.
    """

    def __init__(self, targets: Union[np.ndarray, torch.Tensor], k: float = 1.0, num_samples: int | None = None,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        y = _multihot(targets)
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k < 0:
            raise ValueError(f"k must be a finite number >= 0, got {k!r}")
        super().__init__(len(y), num_samples, seed, num_replicas, rank)
        counts = y.sum(0).astype(np.float64)
        # N / n_c for the classes present (an absent class is in no image, so it adds nothing).
        inv = np.where(counts > 0, len(y) / np.maximum(counts, 1), 0.0)
        score = y.astype(np.float64) @ inv
        if not np.any(score > 0):
            raise ValueError("no image has a label: the occurrence weights are all 0")
        weight = np.where(score > 0, score ** float(k), 0.0)
        self.k = float(k)
        self.probabilities = weight / weight.sum()

    def _draw(self, rng: np.random.Generator, m: int) -> np.ndarray:
        return rng.choice(self.size, size=m, replace=True, p=self.probabilities)


class MultiLabelClassAwareSampler(_EpochDrawSampler):
    """Class-aware sampling for multi-label data (Shen et al. 2016, as DB-Focal trains on VOC/COCO-MLT).

    Each draw picks a class uniformly among the classes with images, then an image containing
    it uniformly, with replacement. Image ``i`` is drawn with probability
    ``(1 / C') sum_{c in y_i} 1 / n_c`` (``C'`` classes present), given as ``probabilities``.
    """

    def __init__(self, targets: Union[np.ndarray, torch.Tensor], num_samples: int | None = None, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0) -> None:
        y = _multihot(targets)
        super().__init__(len(y), num_samples, seed, num_replicas, rank)
        self.counts = y.sum(0).astype(np.int64)
        self.classes = np.flatnonzero(self.counts)
        if self.classes.size == 0:
            raise ValueError("no image has a label: class-aware sampling has no class to draw")
        # (class, image) pairs grouped by class: members[start[c] : start[c] + counts[c]] contain c.
        cls_of, self._members = np.nonzero(y.T)
        self._start = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        inv = np.where(self.counts > 0, 1.0 / np.maximum(self.counts, 1), 0.0)
        self.probabilities = (y.astype(np.float64) @ inv) / self.classes.size

    def _draw(self, rng: np.random.Generator, m: int) -> np.ndarray:
        cls = self.classes[rng.integers(self.classes.size, size=m)]
        # Uniform within class: floor(u * n_c) is an offset into the class's images.
        offset = np.minimum((rng.random(m) * self.counts[cls]).astype(np.int64), self.counts[cls] - 1)
        return self._members[self._start[cls] + offset]


class _RandomMultiLabelSampler(_EpochDrawSampler):
    """A plain shuffle per epoch (cut or cycled to ``num_samples``), the same sharding as the others."""

    def __init__(self, targets: Union[np.ndarray, torch.Tensor], num_samples: int | None = None, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(len(_multihot(targets)), num_samples, seed, num_replicas, rank)

    def _draw(self, rng: np.random.Generator, m: int) -> np.ndarray:
        perm = rng.permutation(self.size)
        return np.tile(perm, -(-m // self.size))[:m]


def build_multilabel_sampler(mode: str | None, targets: Union[np.ndarray, torch.Tensor], **kwargs
                             ) -> _EpochDrawSampler | None:
    """A sampler over a multi-label training set ``targets`` ``(N, C)`` by mode (:data:`MULTILABEL_SAMPLER_MODES`).

    ``"occurrence"`` takes ``k``; every mode takes ``num_samples``, ``seed``, ``num_replicas``,
    ``rank``. ``mode=None`` returns None (let the DataLoader shuffle).
    """
    if mode is None:
        return None
    if mode == "occurrence":
        return OccurrenceSampler(targets, **kwargs)
    if mode == "class_aware":
        return MultiLabelClassAwareSampler(targets, **kwargs)
    if mode == "random":
        return _RandomMultiLabelSampler(targets, **kwargs)
    raise ValueError(f"unknown multi-label sampler mode {mode!r}; expected one of {list(MULTILABEL_SAMPLER_MODES)}")
