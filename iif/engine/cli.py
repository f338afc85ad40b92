"""What every command-line tool shares: user errors as one message and exit code 2, not a traceback.

::

    @cli_entry
    def main(argv=None) -> int: ...

A user error (a bad config key or value, a missing file, a wrong checkpoint, a diverged run, a
full disk) prints ``error: <message>`` on stderr and exits with 2; ``--debug`` (anywhere on the
command line, or ``IIF_DEBUG=1``) shows the traceback instead. Ctrl-C exits with 130 and says
that the last checkpoint is intact. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable, Optional, Sequence

from .checkpoint import allow_unsafe_load

__all__ = ["USER_ERRORS", "cli_entry", "add_common_flags"]

#: Exceptions that describe a problem with the user's input or machine rather than a bug.
#: ValueError covers ConfigError, CheckpointError and WorkDirError; OSError covers missing
#: files, permissions and a full disk; FloatingPointError a diverged run.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, FloatingPointError)


def add_common_flags(parser) -> None:
    """``--debug`` and ``--unsafe-load`` (documented in every tool's ``--help``)."""
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser.add_argument("--unsafe-load", action="store_true",
                        help="unpickle checkpoints that safe loading refuses (arbitrary objects); a crafted "
                             "file can run code: only for checkpoints you trust")


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "\nOriginal Traceback" in text:
        # Re-raised from a DataLoader worker: torch puts the worker's whole traceback in the
        # message; its last line is the original exception ("module.Type: message").
        last = text.rstrip().splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    if isinstance(exc, OSError) and exc.filename and exc.filename not in text:
        text = f"{text}: {exc.filename!r}"
    return text


def cli_entry(main: Callable[[Optional[Sequence[str]]], int]) -> Callable[[Optional[Sequence[str]]], int]:
    """Wrap a tool's ``main(argv) -> int`` (see the module docstring)."""

    @functools.wraps(main)
    def wrapper(argv: Optional[Sequence[str]] = None) -> int:
        args = list(sys.argv[1:] if argv is None else argv)
        debug = "--debug" in args or os.environ.get("IIF_DEBUG") == "1"
        allow_unsafe_load("--unsafe-load" in args)
        try:
            return main(argv)
        except KeyboardInterrupt:
            if debug:
                raise
            print("interrupted: the last checkpoint (if any) is intact; continue with --resume", file=sys.stderr)
            return 130
        except USER_ERRORS as exc:
            if debug:
                raise
            print(f"error: {_message(exc)}", file=sys.stderr)
            return 2
        finally:
            allow_unsafe_load(False)

    return wrapper
