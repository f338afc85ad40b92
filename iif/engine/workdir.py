"""The one place that decides whether a run may use a work dir.

A work dir that already holds a run (a checkpoint, a log or results) is never reused silently:
the caller must say ``resume`` (continue it) or ``overwrite`` (replace it). Before a single
iteration runs, the directory is created and a probe file written, so an unwritable directory or
a full disk is reported at once rather than after the first epoch. Temporary files left by a
save that was killed mid-write are removed.
"""
from __future__ import annotations

import errno
import glob
import logging
import os

__all__ = ["RUN_FILES", "WorkDirError", "prepare_work_dir", "run_state"]

logger = logging.getLogger(__name__)

#: Files that mark a work dir as holding a run.
RUN_FILES = ("last.pth", "log.jsonl", "results.json")

MODES = ("new", "resume", "overwrite")


class WorkDirError(ValueError):
    """A work dir that cannot be used as asked."""


def run_state(work_dir: str) -> str | None:
    """A short description of the run in ``work_dir`` (``None`` if there is none)."""
    present = [f for f in RUN_FILES if os.path.exists(os.path.join(work_dir, f))]
    if not present:
        return None
    log = os.path.join(work_dir, "log.jsonl")
    epochs = 0
    if os.path.isfile(log):
        with open(log, errors="replace") as fh:
            epochs = sum(1 for line in fh if line.strip())
    done = "finished" if os.path.isfile(os.path.join(work_dir, "results.json")) else "partial"
    return f"a {done} run ({epochs} epoch(s) logged; {', '.join(present)})"


def _probe(work_dir: str) -> None:
    probe = os.path.join(work_dir, f".write-probe-{os.getpid()}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise WorkDirError(f"no space left on device in work dir {work_dir!r}") from None
        raise WorkDirError(f"work dir {work_dir!r} is not writable ({os.strerror(exc.errno or 0)}); "
                           f"choose another with --work-dir") from None
    finally:
        if os.path.exists(probe):
            os.unlink(probe)


def prepare_work_dir(work_dir: str, mode: str = "new") -> None:
    """Create ``work_dir``, check it can be written, clean stale temporary files, and apply ``mode``.

    Args:
        mode: ``"new"``: refuse a directory that holds a run; ``"resume"``: keep it (the trainer
            continues from ``last.pth``); ``"overwrite"``: delete the earlier run's files first.

    Raises :class:`WorkDirError` naming the directory and what to do.
    """
    if mode not in MODES:
        raise ValueError(f"unknown work-dir mode {mode!r}; expected one of {list(MODES)}")
    if os.path.exists(work_dir) and not os.path.isdir(work_dir):
        raise WorkDirError(f"work dir {work_dir!r} exists and is not a directory")
    try:
        os.makedirs(work_dir, exist_ok=True)
    except OSError as exc:
        raise WorkDirError(f"cannot create work dir {work_dir!r}: {os.strerror(exc.errno or 0)}") from None
    _probe(work_dir)
    for stale in glob.glob(os.path.join(glob.escape(work_dir), ".*.tmp")):
        # Left by a save that was killed between writing its temporary file and the rename.
        logger.info("removing %s, left by an interrupted save", stale)
        os.unlink(stale)
    state = run_state(work_dir)
    if state is None:
        return
    if mode == "new":
        raise WorkDirError(f"work dir {work_dir!r} already holds {state}; pass --resume to continue it, "
                           f"--overwrite to replace it, or --work-dir to write somewhere else")
    if mode == "overwrite":
        logger.warning("--overwrite: replacing %s in %s", state, work_dir)
        for name in RUN_FILES:
            path = os.path.join(work_dir, name)
            if os.path.exists(path):
                os.unlink(path)
        # Cached predictions belong to the replaced checkpoint.
        pred = os.path.join(work_dir, "eval", "predictions.npz")
        if os.path.exists(pred):
            os.unlink(pred)

