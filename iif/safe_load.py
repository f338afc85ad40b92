"""Loading files a user is handed without running code in them or exhausting memory.

Everything that reads a pickle, a torch checkpoint or an ``.npz`` goes through here:

- :func:`check_archive`: a zip archive (torch's checkpoint format, ``.npz``) is refused before
  anything is allocated when its members declare more than they can hold (a deflate "bomb": a
  1.9 MB ``.pth`` that inflates to GBs), when a stored member declares another size than it
  stores, or when a member name leaves the archive (``../x``, ``/x``). Limits: the deflated
  members of one archive may expand to at most :data:`MAX_INFLATED_BYTES` in total and to at most
  :data:`MAX_INFLATION_RATIO` times the archive's size. torch and ``np.savez`` store their members
  uncompressed, so real checkpoints and predictions are never near either limit.
- :func:`load_torch_file`: ``torch.load(weights_only=True)`` after :func:`check_archive`, with
  TorchScript archives always refused (``torch.jit.load`` runs code stored in the archive; only
  :mod:`iif.models.clip` reads one, under ``--unsafe-load``), and every
  failure turned into a ``ValueError`` / ``FileNotFoundError`` that names the file and, for a
  refused pickle, the blocked globals. :func:`check_torch_file` does the same checks without
  loading the tensors (the detection tools run it before MMEngine's Runner is built).
- :func:`load_npz`: the arrays of an ``.npz`` with ``allow_pickle=False``, each ``.npy`` header's
  shape checked against the member's size before the array is allocated.
- :class:`RestrictedUnpickler` / :func:`restricted_pickle_load`: plain pickles (the CIFAR
  batches, VOC/COCO-MLT's ``class_freq.pkl``) built from dicts, lists, str / bytes / numbers,
  sets and NumPy arrays only; nothing else can be named, so no code runs.
- :func:`allow_unsafe_load`: the tools' ``--unsafe-load`` (off by default, reset after each tool
  call): unpickle arbitrary objects (and, for CLIP's weights only, read TorchScript archives) from
  files you trust.

And, for the detection half, :func:`allow_mmengine_checkpoints`: MMEngine 0.10 calls
``torch.load`` without ``weights_only``; since torch 2.6 that means ``True``, and MMEngine's
checkpoints hold its ``HistoryBuffer`` (the message hub's logs) and the NumPy arrays and scalars
inside it, which the weights-only unpickler refuses, so ``--resume`` failed. Rather than switch
safe loading off for the whole process (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: any crafted
``.pth`` could then run code), this allows exactly the types those checkpoints contain:

- ``mmengine.logging.HistoryBuffer`` (restored through its ``__setstate__``: plain data);
- NumPy's array / scalar / dtype reconstructors (data only);
- ``getattr``, which HistoryBuffer's pickled state uses to name its statistics methods
  (``getattr(HistoryBuffer, "mean")``): replaced by a version that only returns those methods
  of that class, so it cannot be used to reach anything else.

:func:`allow_mmengine_checkpoints` is called when :mod:`mmdet_ext` is imported, so ``mim train
... --resume`` with the plugin in ``custom_imports`` works with nothing set by the user. Only
``torch`` and ``numpy`` are needed here; ``mmengine`` is imported when that function runs.
"""
from __future__ import annotations

import os
import pickle
import zipfile
import zlib
from typing import Any, Iterable, Optional

import numpy as np
import torch

__all__ = ["allow_mmengine_checkpoints", "MMENGINE_SAFE_GLOBALS", "MAX_INFLATED_BYTES", "MAX_INFLATION_RATIO",
           "check_archive", "is_torchscript", "check_torch_file", "load_torch_file", "load_npz",
           "RestrictedUnpickler", "restricted_pickle_load", "allow_unsafe_load", "unsafe_load_allowed", "error_cause"]

#: The most the compressed (deflated, bzip2, lzma) members of one zip archive may expand to, in
#: total: 1 GiB. torch checkpoints and ``np.savez`` files store their members uncompressed and
#: never come near it; ``np.savez_compressed`` of logits expands a few times at most.
MAX_INFLATED_BYTES = 1 << 30
#: ... and at most this many times the archive's own size (a deflate bomb expands ~1000 times).
MAX_INFLATION_RATIO = 100

_UNSAFE = {"allowed": False}


def allow_unsafe_load(allowed: bool = True) -> None:
    """Let the loaders here (and :func:`iif.engine.checkpoint.load_checkpoint`) unpickle arbitrary
    objects, and :mod:`iif.models.clip` read TorchScript archives. A crafted file can run any code
    then: only for files you trust (the tools' ``--unsafe-load``). Off by default."""
    _UNSAFE["allowed"] = bool(allowed)


def unsafe_load_allowed() -> bool:
    """Whether :func:`allow_unsafe_load` is on."""
    return _UNSAFE["allowed"]


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


# ----------------------------------------------------------------------------------- zip archives


def _zip_infos(path: str, what: str) -> Optional[list[zipfile.ZipInfo]]:
    """The members of ``path`` when it is a zip archive, else None."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as z:
            return z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ValueError(f"{what} {path!r} is not a readable zip archive ({exc}): truncated or corrupt") from None


def check_archive(path: str | os.PathLike, what: str = "file") -> bool:
    """Refuse a zip archive whose members would expand past the limits; True when ``path`` is a zip.

    Checked before anything is allocated (see the module docstring): the declared sizes of the
    compressed members against :data:`MAX_INFLATED_BYTES` and :data:`MAX_INFLATION_RATIO` times
    the file size, each stored member's declared size against what it stores, and member names
    that leave the archive. Raises ``ValueError`` naming the file, the sizes and the limit.
    """
    path = os.fspath(path)
    infos = _zip_infos(path, what)
    if infos is None:
        return False
    file_size = os.path.getsize(path)
    inflated = 0
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
            raise ValueError(f"{what} {path!r} is not a valid archive: member name {name!r} leaves the archive")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise ValueError(f"{what} {path!r} is not a valid archive: stored member {name!r} declares "
                                 f"{info.file_size} bytes but holds {info.compress_size}")
        else:
            inflated += info.file_size
    limit = min(MAX_INFLATED_BYTES, MAX_INFLATION_RATIO * file_size)
    if inflated > limit:
        raise ValueError(
            f"{what} {path!r} ({_size(file_size)}) would expand to {_size(inflated)} when read: refused as a "
            f"decompression bomb (compressed members may expand to at most {MAX_INFLATION_RATIO}x the file size "
            f"and at most {_size(MAX_INFLATED_BYTES)}, iif.safe_load.MAX_INFLATED_BYTES)")
    return True


def is_torchscript(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``; OpenAI's CLIP ``RN50.pt``):
    a zip holding ``constants.pkl`` or ``code/``. Reads only the zip's directory."""
    infos = _zip_infos(os.fspath(path), "file")
    if infos is None:
        return False
    for info in infos:
        parts = info.filename.split("/")
        if parts[-1] == "constants.pkl" or (len(parts) > 2 and parts[1] == "code"):
            return True
    return False


def _torchscript_refusal(path: str, what: str) -> ValueError:
    return ValueError(
        f"{what} {path!r} is a TorchScript archive (torch.jit.save), not a state dict: loading one runs code stored "
        f"in it. Expected a state dict saved with torch.save (from an archive you trust: "
        f"torch.save(torch.jit.load(ARCHIVE).state_dict(), OUT))")


def _unsafe_globals(path: str) -> list[str]:
    try:
        return sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(path)))
    except Exception:  # noqa: BLE001 - a legacy (non-zip) file, or unreadable: only for messages
        return []


def _pickle_refusal(path: str, what: str, exc: BaseException, names: Iterable[str] = ()) -> ValueError:
    names = sorted(set(names))
    if not names:  # torch names the first blocked global: "Unsupported global: GLOBAL io.open ..."
        text = str(exc)
        marker = "GLOBAL "
        if marker in text:
            names = [text.split(marker, 1)[1].split()[0].rstrip(".,:")]
    needs = f" (it needs {', '.join(names[:6])}{' ...' if len(names) > 6 else ''})" if names else ""
    return ValueError(
        f"{what} {path!r} holds Python objects that safe loading (torch.load weights_only=True) refuses{needs}: "
        f"unpickling them could run code. Expected tensors and plain containers. If you trust the file, pass "
        f"--unsafe-load (iif.safe_load.allow_unsafe_load())")


def _check_path(path: str, what: str) -> None:
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path!r} is a directory, expected a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")


def check_torch_file(path: str | os.PathLike, what: str = "checkpoint", *, torchscript: bool = False) -> None:
    """The checks of :func:`load_torch_file` without loading the tensors: the archive limits, no
    TorchScript (unless ``torchscript`` or :func:`unsafe_load_allowed`), and no global that safe
    loading refuses (zip checkpoints; a legacy file is checked when it is loaded).

    Raises ``ValueError`` (or ``FileNotFoundError``) naming the file and what is wrong.
    """
    path = os.fspath(path)
    _check_path(path, what)
    is_zip = check_archive(path, what)
    if not is_zip or unsafe_load_allowed():
        return
    if is_torchscript(path):
        if not torchscript:
            raise _torchscript_refusal(path, what)
        return
    names = _unsafe_globals(path)
    if names:
        raise _pickle_refusal(path, what, RuntimeError(), names)


def load_torch_file(path: str | os.PathLike, what: str = "checkpoint", map_location: Any = "cpu",
                    weights_only: Optional[bool] = None) -> Any:
    """``torch.load`` of a file a user gave, safely: see the module docstring.

    ``weights_only``: None follows :func:`unsafe_load_allowed` (safe unless ``--unsafe-load``).
    Raises ``FileNotFoundError`` / ``IsADirectoryError``, or ``ValueError`` naming the file for a
    refused, truncated, oversized or foreign file.
    """
    path = os.fspath(path)
    _check_path(path, what)
    if weights_only is None:
        weights_only = not unsafe_load_allowed()
    is_zip = check_archive(path, what)
    if is_zip and is_torchscript(path):  # never a state dict; torch.load would hand it to torch.jit.load
        raise _torchscript_refusal(path, what)
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as exc:
        names = _unsafe_globals(path) if is_zip else []
        if names or "GLOBAL" in str(exc):
            raise _pickle_refusal(path, what, exc, names) from None
        raise ValueError(f"{what} {path!r} is not a readable torch file (truncated, corrupt or another format): "
                         f"{_first_line(exc)}") from None
    except (RuntimeError, EOFError, OSError, ValueError, MemoryError, zipfile.BadZipFile, KeyError,
            IndexError, TypeError, AttributeError, OverflowError, zlib.error) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        cause = _first_line(exc)
        if "legacy .tar format" in cause:  # torch's guess for any file that is neither zip nor pickle
            cause = "torch takes it for a pre-1.0 .tar checkpoint, which safe loading cannot read (all-zero or foreign?)"
        raise ValueError(f"{what} {path!r} is not a readable torch file (truncated, corrupt or another format): "
                         f"{cause}") from None


def _first_line(exc: BaseException, limit: int = 300) -> str:
    """The informative line of an error: torch's weights-only failures open with a paragraph of
    advice and give the cause after ``WeightsUnpickler error:``."""
    text = str(exc).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit] + " ..."


def error_cause(exc: BaseException) -> str:
    """One line saying why ``torch.load`` / an unpickler failed (for messages that name the file)."""
    return _first_line(exc)


# ------------------------------------------------------------------------------------------- .npz


def load_npz(path: str | os.PathLike, what: str = "file") -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (``np.savez``), read without pickles and without allocating more
    than the archive holds: :func:`check_archive`, then each ``.npy`` header's shape times its item
    size against the member's size. Raises ``FileNotFoundError``, or ``ValueError`` naming the file
    (a bad zip, a truncated member, an object array, an oversized header)."""
    path = os.fspath(path)
    _check_path(path, what)
    if not check_archive(path, what):
        raise ValueError(f"{what} {path!r} is not an .npz archive (np.savez writes a zip file)")
    fmt = np.lib.format
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[: -len(".npy")]
                with z.open(info) as fh:
                    version = fmt.read_magic(fh)
                    if version == (1, 0):
                        shape, fortran, dtype = fmt.read_array_header_1_0(fh)
                    elif version in ((2, 0), (3, 0)):
                        shape, fortran, dtype = fmt.read_array_header_2_0(fh)
                    else:
                        raise ValueError(f"unsupported .npy format version {version}")
                    header_end = fh.tell()
                if dtype.hasobject:
                    raise ValueError(f"array {key!r} holds Python objects (dtype {dtype}), which are not read")
                count = 1
                for n in shape:
                    count *= int(n)
                need = count * dtype.itemsize
                if need > info.file_size - header_end:
                    raise ValueError(f"array {key!r} declares shape {tuple(shape)} of {dtype} ({_size(need)}) but its "
                                     f"member holds {_size(max(info.file_size - header_end, 0))}")
                with z.open(info) as fh:
                    out[key] = fmt.read_array(fh, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{what} {path!r}: {_first_line(exc)}") from None
    except (zipfile.BadZipFile, EOFError, OSError, MemoryError, KeyError, zlib.error, NotImplementedError,
            RuntimeError, TypeError, SyntaxError) as exc:
        raise ValueError(f"{what} {path!r} is not a readable .npz archive (truncated or corrupt): "
                         f"{_first_line(exc)}") from None
    return out


# ----------------------------------------------------------------------------------- plain pickles


class _ArrayType:
    """Stands for ``numpy.ndarray`` in a restricted pickle: usable only as the type argument of
    ``_reconstruct`` (calling ``numpy.ndarray(shape)`` directly would allocate any size)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _ArrayType()


def _multiarray() -> Any:
    return np._core.multiarray if hasattr(np, "_core") else np.core.multiarray


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    # NumPy pickles an array as _reconstruct(ndarray, (0,), b'b') followed by __setstate__ with its
    # data (whose size the pickle's own bytes bound). Any other call would allocate `shape` freely.
    if subtype is not _NDARRAY or tuple(shape) != (0,):
        raise pickle.UnpicklingError(f"refused numpy _reconstruct({subtype!r}, {shape!r}, ...): only NumPy's own "
                                     f"array pickles are read")
    return _multiarray()._reconstruct(np.ndarray, (0,), dtype)


def _latin1_encode(text: Any, encoding: str = "latin1") -> bytes:
    # Python 3 pickles of bytes at protocol 2 use _codecs.encode(str, 'latin1'); no other codec.
    if not isinstance(text, str) or encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"refused _codecs.encode(..., {encoding!r}): only latin1 byte strings are read")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, tuples, str / bytes / numbers, sets and NumPy arrays and scalars only.

    Any other global a pickle names (a function, a class: what a crafted file would call) is an
    ``UnpicklingError`` naming it, so no code runs. NumPy's reconstructor is limited to the calls
    NumPy's own pickles make, so a file cannot allocate more than it holds.
    """

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":
            module = "builtins"
        if module.startswith("numpy.core"):
            module = module.replace("numpy.core", "numpy._core", 1)  # NumPy 2's name
        multiarray = _multiarray()
        allowed = {
            ("numpy", "ndarray"): _NDARRAY,
            ("numpy", "dtype"): np.dtype,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "scalar"): multiarray.scalar,
            ("_codecs", "encode"): _latin1_encode,
            ("builtins", "set"): set,
            ("builtins", "frozenset"): frozenset,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only dicts, lists, strings, numbers, "
                                         f"sets and NumPy arrays are expected in this file")
        return allowed[(module, name)]


def restricted_pickle_load(path: str | os.PathLike, what: str = "file") -> Any:
    """Read the pickle ``path`` with :class:`RestrictedUnpickler` (``encoding="latin1"``, which
    reads Python 2 pickles such as the CIFAR batches). Raises ``FileNotFoundError``, or
    ``ValueError`` naming the file and the refused global or the corruption."""
    path = os.fspath(path)
    _check_path(path, what)
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refus"):
            raise ValueError(f"{what} {path!r} cannot be read safely: {_first_line(exc)}") from None
        raise ValueError(f"{what} {path!r} is not a readable pickle (truncated or corrupt): {_first_line(exc)}") from None
    except (EOFError, AttributeError, ImportError, IndexError, TypeError, ValueError, KeyError, MemoryError,
            OverflowError, RecursionError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path!r} is not a readable pickle (truncated or corrupt): "
                         f"{type(exc).__name__}: {_first_line(exc)}") from None


# ---------------------------------------------------------------------------- MMEngine checkpoints

#: Fully qualified names :func:`allow_mmengine_checkpoints` adds to torch's weights-only allowlist.
MMENGINE_SAFE_GLOBALS = (
    "mmengine.logging.history_buffer.HistoryBuffer",
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "numpy.ndarray",
    "numpy.dtype",
    "builtins.getattr (HistoryBuffer statistics methods only)",
)

_DONE = {"done": False}


def allow_mmengine_checkpoints() -> None:
    """Add the types of MMEngine checkpoints to torch's weights-only allowlist (idempotent)."""
    if _DONE["done"]:
        return
    from mmengine.logging.history_buffer import HistoryBuffer

    statistics = frozenset({"min", "max", "mean", "current"})

    def history_buffer_getattr(obj: Any, name: str) -> Any:
        # The only getattr MMEngine's pickles need: a statistics method of HistoryBuffer.
        if obj is HistoryBuffer and name in statistics:
            return getattr(obj, name)
        raise pickle.UnpicklingError(f"refused getattr({obj!r}, {name!r}) while loading a checkpoint: only "
                                     f"HistoryBuffer statistics methods {sorted(statistics)} are allowed")

    multiarray = _multiarray()
    safe: list[Any] = [HistoryBuffer, np.ndarray, np.dtype,
                       (multiarray._reconstruct, f"{multiarray.__name__}._reconstruct"),
                       (multiarray.scalar, f"{multiarray.__name__}.scalar"),
                       (history_buffer_getattr, "builtins.getattr")]
    # NumPy 2 pickles dtypes of arrays as numpy.dtypes.<Kind>DType classes in some paths.
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        safe += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType") and n not in ("ObjectDType", "VoidDType")]
    torch.serialization.add_safe_globals(safe)
    _DONE["done"] = True
