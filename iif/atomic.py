"""Atomic file writes, shared by the core (weights CSV) and the trainer (checkpoints, logs, reports).

The data goes to a temporary file in the target's directory, is fsynced, then renamed over the
target: a crash leaves the old file or the new one, never half of one. A failure (a full disk,
Ctrl-C) removes the temporary file; only a SIGKILL mid-write can leave one behind, named
``.<target>.<8 random characters>.tmp`` (:func:`is_temp_file` recognises exactly these), which the
next run that holds the directory's lock removes (:func:`iif.engine.workdir.remove_stale_temps`).
Files get the usual ``0o666 & ~umask`` mode (``mkstemp`` alone would give ``0o600``).

Only the standard library: ``import iif`` stays light.
"""
from __future__ import annotations

import errno
import os
import re
import tempfile
from typing import Any, Callable

__all__ = ["atomic_write", "atomic_write_text", "is_temp_file"]

#: ``.<target>.<random>.tmp``: mkstemp's 8 random characters are ``[a-z0-9_]``.
_TEMP_RE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def is_temp_file(name: str) -> bool:
    """Whether ``name`` (a base name) is a temporary file of :func:`atomic_write`."""
    return bool(_TEMP_RE.match(name))


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


def atomic_write_text(text: str, path: str) -> None:
    """Write a text (or JSON, CSV) file atomically (UTF-8)."""
    atomic_write(path, lambda fh: fh.write(text.encode()))
