"""Atomic checkpoints: a crash or Ctrl-C mid-write never leaves a truncated file behind."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import torch

__all__ = ["atomic_write", "atomic_save", "atomic_write_text", "atomic_write_json", "load_checkpoint"]


def atomic_write(path: str, write) -> None:
    """Call ``write(fh)`` on a temporary file next to ``path``, fsync, then rename it over ``path``
    (a crash leaves the old file or the new one, never half of one)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` through a temporary file in the same directory, then rename."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def atomic_write_text(text: str, path: str) -> None:
    """Write a text (or JSON) file atomically."""
    atomic_write(path, lambda fh: fh.write(text.encode()))


def atomic_write_json(obj: Any, path: str) -> None:
    atomic_write_text(json.dumps(obj, indent=2) + "\n", path)


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer; a clear error when it is missing or not ours."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    # Our checkpoints hold numpy RNG state and config dicts, so weights_only must be off;
    # only load checkpoints you trust (as with any pickle).
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path!r} is not an iif training checkpoint (no 'model' entry)")
    return ckpt
