"""Per-class weights as CSV (``category_id,name,weight``): inspect them, or fix them for a detector."""
from __future__ import annotations

import csv
import io
import os
from typing import Optional, Sequence

import numpy as np
import torch

from .atomic import atomic_write_text

__all__ = ["save_weights_csv", "load_weights_csv"]


def save_weights_csv(path: str, weights: torch.Tensor | np.ndarray, category_ids: Optional[Sequence[int]] = None,
                     names: Optional[Sequence[str]] = None) -> None:
    """Write ``(C,)`` weights with their category ids and names, atomically."""
    w = np.asarray(weights.detach().cpu() if isinstance(weights, torch.Tensor) else weights, dtype=np.float64)
    ids = list(category_ids) if category_ids is not None else list(range(len(w)))
    names = list(names) if names is not None else [str(i) for i in ids]
    if not len(ids) == len(names) == len(w):
        raise ValueError(f"{len(w)} weights, {len(ids)} category ids and {len(names)} names: lengths must match")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["category_id", "name", "weight"])
    for i, n, v in zip(ids, names, w):
        writer.writerow([i, n, repr(float(v))])
    # The checkpoints' writer: a failure (a full disk) removes its temporary file.
    atomic_write_text(buf.getvalue(), path)


def load_weights_csv(path: str, num_classes: Optional[int] = None) -> tuple[torch.Tensor, list[int]]:
    """Read ``(C,)`` float32 weights and their category ids from a CSV with a ``weight`` column.

    Rows are in class-index order. Raises ``ValueError`` when the row count is not ``num_classes``,
    a weight is missing / not a finite number / not positive (a zero weight silences its class's
    logit, a negative one flips its sign), or a category id is not an integer or appears twice.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "weight" not in rows[0]:
        raise ValueError(f"{path!r} needs a header with a 'weight' column (category_id,name,weight)")
    try:
        w = np.array([float(r["weight"]) for r in rows], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: every 'weight' must be a number ({exc})") from exc
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise ValueError(f"{path!r}: weights of rows {bad[:10].tolist()} are not finite: {w[bad[:10]].tolist()}")
    bad = np.flatnonzero(w <= 0)
    if bad.size:
        raise ValueError(f"{path!r}: weights must be > 0; rows {bad[:10].tolist()} hold {w[bad[:10]].tolist()} "
                         f"(variants rel / normit go negative for a class in more than half of the images: "
                         f"use another variant)")
    if num_classes is not None and len(w) != num_classes:
        raise ValueError(f"{path!r} has {len(w)} class weights but the model has num_classes={num_classes}")
    ids = []
    for i, r in enumerate(rows):
        raw = r.get("category_id")
        try:
            ids.append(int(raw) if raw not in (None, "") else i)
        except ValueError:
            raise ValueError(f"{path!r}: row {i}: category_id {raw!r} is not an integer") from None
    seen: set[int] = set()
    dup = sorted({i for i in ids if i in seen or seen.add(i)})
    if dup:
        raise ValueError(f"{path!r}: category ids {dup[:10]} appear more than once; each class needs one row")
    return torch.as_tensor(w, dtype=torch.float32), ids
