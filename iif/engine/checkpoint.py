"""Checkpoints and output files: atomic writes, safe loading, clear errors.

- Atomic: every file goes to a temporary file in the same directory, is fsynced, then renamed
  over the target, so a crash or Ctrl-C mid-write leaves the old file or the new one, never half
  of one. Files get the usual ``0o666 & ~umask`` mode (``mkstemp`` alone would give ``0o600``).
- Safe: our checkpoints hold only tensors and plain Python values (the config and history as a
  JSON string), so they load with ``torch.load(weights_only=True)``, which refuses pickles that
  would run code. Loading an arbitrary pickle needs :func:`allow_unsafe_load` (the tools'
  ``--unsafe-load`` flag): only for files you trust.
- Clear: a full disk, a read-only directory or a foreign file is an error that says so.
"""
from __future__ import annotations

import json
import os
import pickle
from typing import Any, Iterable, Mapping

import torch

from .. import safe_load as _safe_load
from ..safe_load import _unsafe_globals

# The writing side lives in the core (the weights CSV uses it too); re-exported here.
from ..atomic import _disk_error, _is_disk_error, _umask, atomic_write, atomic_write_text  # noqa: F401

__all__ = [
    "atomic_write",
    "atomic_save",
    "atomic_write_text",
    "atomic_write_json",
    "load_checkpoint",
    "save_checkpoint",
    "allow_unsafe_load",
    "unsafe_load_allowed",
    "non_finite_entries",
    "CheckpointError",
    "STALE_TMP_PATTERN",
]

#: Temporary files of :func:`atomic_write` are named ``.<target>.<random>.tmp``
#: (:func:`iif.atomic.is_temp_file` matches exactly these).
STALE_TMP_PATTERN = (".", ".tmp")

class CheckpointError(ValueError):
    """A checkpoint that is missing, refused by safe loading, or not one of ours."""


def allow_unsafe_load(allowed: bool = True) -> None:
    """Let :func:`load_checkpoint` unpickle arbitrary objects (``weights_only=False``), and the
    model loaders read pickled or TorchScript weights (one switch: :func:`iif.safe_load.allow_unsafe_load`).

    A crafted ``.pth`` can run any code when unpickled; turn this on only for checkpoints you
    trust (the tools' ``--unsafe-load``). Off by default.
    """
    _safe_load.allow_unsafe_load(allowed)


def unsafe_load_allowed() -> bool:
    return _safe_load.unsafe_load_allowed()


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` through a temporary file in the same directory, then rename."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def atomic_write_json(obj: Any, path: str) -> None:
    atomic_write_text(json.dumps(obj, indent=2) + "\n", path)


def non_finite_entries(tensors: Mapping[str, Any], limit: int = 5) -> list[str]:
    """Names of floating tensors in ``tensors`` (a state dict) holding NaN or inf, with the count."""
    bad = []
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel():
            n = int((~torch.isfinite(t)).sum())
            if n:
                bad.append(f"{name} ({n} of {t.numel()} values)")
                if len(bad) >= limit:
                    break
    return bad


def _json_safe(obj: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays and tuples become numbers and lists."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, 0-dim tensors
        return obj.tolist()
    return obj


#: Entries of a trainer checkpoint stored as one JSON string (so weights_only loading works).
_JSON_KEYS = ("config", "history", "class_counts")


def save_checkpoint(state: Mapping[str, Any], path: str) -> None:
    """Atomically save a trainer checkpoint that :func:`load_checkpoint` reads with safe loading.

    ``state`` holds state dicts (tensors, numbers) plus ``config``/``history``/``class_counts``,
    which are stored together as a JSON string under ``"meta_json"``.
    """
    out = {k: v for k, v in state.items() if k not in _JSON_KEYS}
    out["meta_json"] = json.dumps({k: _json_safe(state[k]) for k in _JSON_KEYS if k in state})
    atomic_save(out, path)


def _refusal(path: str, exc: Exception) -> CheckpointError:
    names = sorted(set(_unsafe_globals(path)))
    what = f" (it needs {', '.join(names[:6])}{' ...' if len(names) > 6 else ''})" if names else ""
    return CheckpointError(
        f"{path!r} holds Python objects that safe loading (torch.load weights_only=True) refuses{what}: "
        f"unpickling them could run code. If you trust the file, pass --unsafe-load "
        f"(iif.engine.checkpoint.allow_unsafe_load()) to load it anyway")



def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer, with safe (weights-only) unpickling.

    Raises :class:`CheckpointError` when the file is missing, not a checkpoint, not ours, or
    holds objects safe loading refuses (unless :func:`allow_unsafe_load` was called).
    """
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path!r} is a directory, expected a .pth file")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        # Before torch allocates: declared sizes (a deflate bomb), member names (iif.safe_load).
        is_zip = _safe_load.check_archive(path, "checkpoint")
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    if is_zip and _safe_load.is_torchscript(path):  # torch.load would hand it to torch.jit.load (runs code)
        raise CheckpointError(f"{path!r} is a TorchScript archive (torch.jit.save), not an iif training checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=not unsafe_load_allowed())
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc) or _unsafe_globals(path):
            raise _refusal(path, exc) from None
        raise CheckpointError(f"{path!r} is not a readable checkpoint: {str(exc).splitlines()[0]}") from None
    except (RuntimeError, EOFError, OSError, MemoryError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise CheckpointError(f"{path!r} is not a readable checkpoint (truncated or not a torch file): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"{path!r} is not an iif training checkpoint (no 'model' entry)")
    if "meta_json" in ckpt:
        try:
            meta = json.loads(ckpt.pop("meta_json"))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path!r}: its 'meta_json' entry is not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"{path!r}: its 'meta_json' entry holds a {type(meta).__name__}, expected a dict")
        ckpt.update(meta)
    return ckpt
