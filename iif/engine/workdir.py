"""The one place that decides whether a run may use a work dir.

A work dir that already holds a run (a checkpoint, a log or results) is never reused silently:
the caller must say ``resume`` (continue it) or ``overwrite`` (replace it). Before a single
iteration runs, the directory is created and a probe file written, so an unwritable directory or
a full disk is reported at once rather than after the first epoch.

One run at a time: the run holds an OS lock on ``<work dir>/.iif.lock`` (``fcntl.flock``) for its
whole life. The OS drops it when the process dies, even by SIGKILL, so a crash never leaves a
stale lock. A second start on a locked directory is refused, whatever its flags, in one line
naming the pid that holds it, and touches nothing there. Only the lock holder removes the
temporary files that a save killed mid-write left behind (a live run's are never touched).
``--overwrite`` replaces the earlier run only once the new one has loaded its data and model
(:meth:`WorkDir.replace_old_run`): a typo in ``data.root`` leaves the old run as it was.

Tools that write into another directory (``tools/test_cls.py`` into ``eval/``) lock that
directory the same way (:func:`claim_dir`). Within one process a lock is shared (a second
``Trainer`` on the same directory in a notebook is not refused); between processes it excludes.
On Windows ``msvcrt.locking`` takes the place of ``flock``; with neither, runs are not locked
(a warning says so).
"""
from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
from typing import Optional

from ..atomic import is_temp_file

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    try:
        import msvcrt
    except ImportError:
        msvcrt = None  # type: ignore[assignment]

__all__ = ["RUN_FILES", "LOCK_FILE", "WorkDirError", "WorkDir", "DirLock", "prepare_work_dir", "claim_dir",
           "remove_stale_temps", "run_state"]

logger = logging.getLogger(__name__)

#: Files that mark a work dir as holding a run.
RUN_FILES = ("last.pth", "log.jsonl", "results.json")
#: What else belongs to a run and goes with it when ``--overwrite`` replaces it: the evaluation
#: of its checkpoint (tools/test_cls.py) and its TensorBoard events.
RUN_DIRS = ("eval", "tensorboard")
#: The lock file (holds the pid of the process that locked the directory, for the message).
LOCK_FILE = ".iif.lock"

MODES = ("new", "resume", "overwrite")

#: Windows: the byte locked, past the pid so that reading the pid is never blocked.
_MSVCRT_OFFSET = 1 << 20


class WorkDirError(ValueError):
    """A work dir that cannot be used as asked."""


# ------------------------------------------------------------------------------ locks

#: Locks this process holds: real path -> [fd, number of DirLock objects sharing it].
_HELD: dict[str, list[int]] = {}
_HELD_GUARD = threading.Lock()
_WARNED = {"no_lock": False}


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` without waiting; ``False`` when another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True
    if msvcrt is not None:  # pragma: no cover - Windows
        os.lseek(fd, _MSVCRT_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True
    if not _WARNED["no_lock"]:  # pragma: no cover - neither fcntl nor msvcrt
        _WARNED["no_lock"] = True
        logger.warning("no file locking on this platform: two runs on one work dir are not prevented")
    return True


def _unlock(fd: int) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        elif msvcrt is not None:  # pragma: no cover - Windows
            os.lseek(fd, _MSVCRT_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(fd)


def _holder(path: str) -> str:
    """The pid written in the lock file ``path`` ("pid N"), or "another process"."""
    for _ in range(20):  # the holder writes its pid right after locking: give it a moment
        try:
            with open(path, errors="replace") as fh:
                text = fh.read(64).strip()
        except OSError:
            text = ""
        if text.isdigit():
            return f"pid {text}"
        time.sleep(0.05)
    return "another process"


class DirLock:
    """An exclusive lock on a directory for as long as this object lives (or until :meth:`release`).

    Raises :class:`WorkDirError` in one line naming the holder's pid when another process holds it.
    """

    def __init__(self, directory: str, what: str = "work dir") -> None:
        self.directory = directory
        self.what = what
        self._key: Optional[str] = None

    @property
    def held(self) -> bool:
        return self._key is not None

    def acquire(self) -> "DirLock":
        if self._key is not None:
            return self
        key = os.path.realpath(self.directory)
        path = os.path.join(self.directory, LOCK_FILE)
        with _HELD_GUARD:
            if key in _HELD:  # this process holds it already: share
                _HELD[key][1] += 1
                self._key = key
                return self
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise WorkDirError(f"cannot create the lock file {path!r}: {os.strerror(exc.errno or 0)}") from None
            try:
                locked = _try_lock(fd)
            except BaseException:
                os.close(fd)
                raise
            if not locked:
                os.close(fd)
                raise WorkDirError(f"{self.what} {self.directory!r} is in use by {_holder(path)} (another run "
                                   f"holds its lock); wait for it to finish, or choose another directory")
            try:  # the pid is only for the message of a refused start: a failure here is no error
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                pass
            _HELD[key] = [fd, 1]
            self._key = key
        return self

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        with _HELD_GUARD:
            entry = _HELD.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del _HELD[key]
                # The lock file stays: removing it would let a process that opened it just before
                # lock a file no longer in the directory while a third creates a new one.
                _unlock(entry[0])

    def __enter__(self) -> "DirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def remove_stale_temps(directory: str, lock: DirLock) -> list[str]:
    """Remove the temporary files that a save killed mid-write left in ``directory`` (only names of
    :func:`iif.atomic.atomic_write`'s pattern, ``.<target>.<random>.tmp``; never a subdirectory).

    ``lock`` must be held on ``directory``: a live writer's temporary file is never touched.
    Returns the removed paths.
    """
    if not lock.held or os.path.realpath(lock.directory) != os.path.realpath(directory):
        raise RuntimeError(f"remove_stale_temps({directory!r}) needs that directory's lock")
    removed = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        if is_temp_file(name) and os.path.isfile(path) and not os.path.islink(path):
            logger.info("removing %s, left by an interrupted save", path)
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            removed.append(path)
    return removed


def claim_dir(directory: str, what: str = "output directory") -> DirLock:
    """Create ``directory``, lock it (refusing if another process holds it) and remove the stale
    temporary files there. The lock lasts as long as the returned object (or its ``release()``)."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise WorkDirError(f"cannot create {what} {directory!r}: {os.strerror(exc.errno or 0)}") from None
    lock = DirLock(directory, what).acquire()
    remove_stale_temps(directory, lock)
    return lock


# --------------------------------------------------------------------------- work dirs


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


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


class WorkDir:
    """A work dir claimed by :func:`prepare_work_dir`: its lock, and the earlier run that
    ``overwrite`` replaces once the new run has loaded (:meth:`replace_old_run`)."""

    def __init__(self, path: str, mode: str, lock: DirLock, old_run: Optional[str],
                 eval_lock: Optional[DirLock] = None) -> None:
        self.path = path
        self.mode = mode
        self.lock = lock
        self.old_run = old_run
        self._eval_lock = eval_lock

    def replace_old_run(self) -> None:
        """``overwrite``: delete the earlier run (its checkpoint, log, results, ``eval/`` and
        TensorBoard events). Call once the new run's data and model have loaded."""
        if self.mode != "overwrite" or self.old_run is None:
            return
        logger.warning("--overwrite: replacing %s in %s", self.old_run, self.path)
        # Results first: an interruption leaves a partial run, never a "finished" one with a stale table.
        for name in ("results.json",) + RUN_DIRS + ("log.jsonl", "last.pth"):
            path = os.path.join(self.path, name)
            if name == "eval" and os.path.isdir(path) and not os.path.islink(path):
                # Its contents; the lock file stays (we hold it: another process may be waiting on it).
                for entry in os.listdir(path):
                    if entry != LOCK_FILE:
                        _remove(os.path.join(path, entry))
            else:
                _remove(path)
        self.old_run = None
        if self._eval_lock is not None:
            self._eval_lock.release()
            self._eval_lock = None

    def release(self) -> None:
        """Let other runs use the directory (also done when the process ends, however it ends)."""
        if self._eval_lock is not None:
            self._eval_lock.release()
            self._eval_lock = None
        self.lock.release()


def prepare_work_dir(work_dir: str, mode: str = "new") -> WorkDir:
    """Create ``work_dir``, check it can be written, lock it, clean stale temporary files, and check ``mode``.

    Args:
        mode: ``"new"``: refuse a directory that holds a run; ``"resume"``: keep it (the trainer
            continues from ``last.pth``); ``"overwrite"``: replace it, but only when the caller
            calls :meth:`WorkDir.replace_old_run` (after loading data and model).

    Returns the claimed :class:`WorkDir`; the lock lasts until its ``release()`` or the end of
    the process. Raises :class:`WorkDirError` naming the directory and what to do (another
    process holding the lock included; then nothing in the directory is touched).
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
    lock = DirLock(work_dir, "work dir").acquire()
    eval_lock = None
    try:
        remove_stale_temps(work_dir, lock)  # safe: no other process writes here while we hold the lock
        state = run_state(work_dir)
        if state is not None and mode == "new":
            raise WorkDirError(f"work dir {work_dir!r} already holds {state}; pass --resume to continue it, "
                               f"--overwrite to replace it, or --work-dir to write somewhere else")
        eval_dir = os.path.join(work_dir, "eval")
        if state is not None and mode == "overwrite" and os.path.isdir(eval_dir):
            # tools/test_cls.py may be evaluating the old checkpoint there: refuse now, not after loading.
            eval_lock = DirLock(eval_dir, "evaluation directory").acquire()
    except BaseException:
        lock.release()
        raise
    return WorkDir(work_dir, mode, lock, state, eval_lock)
