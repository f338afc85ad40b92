"""Reader for the IDX format of (Fashion-)MNIST, raw or gzip-compressed.

An IDX file is: two zero bytes, a type code byte, the number of dimensions ``d``, then
``d`` big-endian uint32 sizes, then the data in row-major order, big-endian.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

__all__ = ["read_idx", "read_idx_header", "IDX_DTYPES"]

#: IDX type code -> numpy dtype (big-endian where it matters).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: str, limit: int | None = None) -> bytes:
    """File contents, gunzipped if the file starts with the gzip magic (whatever its name)."""
    with open(path, "rb") as f:
        gz = f.read(2) == _GZIP_MAGIC
    try:
        if gz:
            with gzip.open(path, "rb") as f:
                return f.read() if limit is None else f.read(limit)
        with open(path, "rb") as f:
            return f.read() if limit is None else f.read(limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"corrupt IDX file {path}: cannot decompress gzip data ({exc})") from exc


def _parse_header(buf: bytes, path: str) -> tuple[np.dtype, tuple[int, ...], int]:
    if len(buf) < 4:
        raise ValueError(f"corrupt IDX file {path}: {len(buf)} bytes, shorter than the 4-byte magic number")
    zero0, zero1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    if zero0 or zero1:
        raise ValueError(
            f"corrupt IDX file {path}: magic number {buf[:4].hex()} does not start with two zero bytes"
        )
    if code not in IDX_DTYPES:
        raise ValueError(
            f"corrupt IDX file {path}: unknown type code 0x{code:02x}; "
            f"expected one of {[hex(c) for c in IDX_DTYPES]}"
        )
    if ndim == 0:
        raise ValueError(f"corrupt IDX file {path}: zero dimensions in the magic number")
    offset = 4 + 4 * ndim
    if len(buf) < offset:
        raise ValueError(f"corrupt IDX file {path}: truncated header ({len(buf)} bytes, need {offset} for {ndim} dims)")
    shape = struct.unpack(f">{ndim}I", buf[4:offset])
    return IDX_DTYPES[code], tuple(int(s) for s in shape), offset


def read_idx_header(path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...]]:
    """``(dtype, shape)`` of an IDX file without reading its data."""
    path = os.fspath(path)
    buf = _read_bytes(path, limit=4 + 4 * 255)
    dtype, shape, _ = _parse_header(buf, path)
    return dtype, shape


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` or raw), in native byte order.

    Raises ``ValueError`` naming the file for a bad magic number, an unknown type code, or a
    data size that does not match the header (truncated or trailing bytes).
    """
    path = os.fspath(path)
    buf = _read_bytes(path)
    dtype, shape, offset = _parse_header(buf, path)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(buf) - offset
    if got != expected:
        raise ValueError(
            f"corrupt IDX file {path}: header says shape {shape} of {dtype.name} ({expected} data bytes) "
            f"but the file holds {got} data bytes"
        )
    arr = np.frombuffer(buf, dtype=dtype, count=expected // dtype.itemsize, offset=offset).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)
