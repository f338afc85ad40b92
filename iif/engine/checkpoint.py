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

import errno
import json
import os
import pickle
import tempfile
from typing import Any, Callable, Iterable, Mapping

import torch

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

#: Temporary files of :func:`atomic_write` are named ``.<target>.<random>.tmp``.
STALE_TMP_PATTERN = (".", ".tmp")

_UNSAFE = {"allowed": False}


class CheckpointError(ValueError):
    """A checkpoint that is missing, refused by safe loading, or not one of ours."""


def allow_unsafe_load(allowed: bool = True) -> None:
    """Let :func:`load_checkpoint` unpickle arbitrary objects (``weights_only=False``).

    A crafted ``.pth`` can run any code when unpickled; turn this on only for checkpoints you
    trust (the tools' ``--unsafe-load``). Off by default.
    """
    _UNSAFE["allowed"] = bool(allowed)


def unsafe_load_allowed() -> bool:
    return _UNSAFE["allowed"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _disk_error(exc: OSError, path: str) -> OSError:
    """The same OSError with a message that names the file and the cause in words."""
    if exc.errno == errno.ENOSPC:
        return OSError(errno.ENOSPC, f"no space left on device while writing {path!r}; free some space "
                                     f"(the previous file, if any, is intact)")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OSError(exc.errno, f"cannot write {path!r}: {os.strerror(exc.errno)} "
                                  f"(choose a writable --work-dir)")
    return exc


def _is_disk_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (torch wraps write failures in a RuntimeError), if any."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    # torch.save's C++ writer reports a failed write as "... inline_container.cc ... file write failed"
    if isinstance(exc, RuntimeError) and ("file write failed" in text or "No space left" in text):
        return OSError(errno.ENOSPC if "space" in text.lower() or "write failed" in text else errno.EIO, text)
    return None


def atomic_write(path: str, write: Callable[[Any], None]) -> None:
    """Call ``write(fh)`` on a temporary file next to ``path``, fsync, then rename it over ``path``
    (a crash leaves the old file or the new one, never half of one)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _disk_error(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        disk = _is_disk_error(exc) if isinstance(exc, Exception) else None
        if disk is not None:
            raise _disk_error(disk, path) from exc
        raise


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` through a temporary file in the same directory, then rename."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def atomic_write_text(text: str, path: str) -> None:
    """Write a text (or JSON) file atomically."""
    atomic_write(path, lambda fh: fh.write(text.encode()))


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


def _unsafe_globals(path: str) -> Iterable[str]:
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - only for the message
        return []


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer, with safe (weights-only) unpickling.

    Raises :class:`CheckpointError` when the file is missing, not a checkpoint, not ours, or
    holds objects safe loading refuses (unless :func:`allow_unsafe_load` was called).
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=not unsafe_load_allowed())
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc) or _unsafe_globals(path):
            raise _refusal(path, exc) from None
        raise CheckpointError(f"{path!r} is not a readable checkpoint: {str(exc).splitlines()[0]}") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path!r} is not a readable checkpoint (truncated or not a torch file): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"{path!r} is not an iif training checkpoint (no 'model' entry)")
    if "meta_json" in ckpt:
        ckpt.update(json.loads(ckpt.pop("meta_json")))
    return ckpt
