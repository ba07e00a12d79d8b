"""A small reader for the IDX format that MNIST and Fashion-MNIST ship in.

IDX is a big-endian header (two zero bytes, a type code, the number of dimensions, then
one uint32 per dimension) followed by the array in row-major order. We read only what
Fashion-MNIST uses (unsigned bytes) and check every length, so a truncated or padded file
fails loudly instead of yielding a silently wrong array.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from .errors import CorruptDataError

UNSIGNED_BYTE = 0x08


def read_bytes(path: Path) -> bytes:
    """Return the file's content, decompressed when its name ends in `.gz`."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise CorruptDataError(
            f"{path}: not a complete gzip file ({exc}); delete it and run again to fetch "
            "a fresh copy"
        ) from exc


def parse_idx(content: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a uint8 array; `source` names the file in error messages."""
    if len(content) < 4:
        raise CorruptDataError(f"{source}: {len(content)} bytes is too short for an IDX header")
    zero0, zero1, type_code, ndim = content[:4]
    if zero0 != 0 or zero1 != 0:
        raise CorruptDataError(f"{source}: not an IDX file (bad magic {content[:4].hex()})")
    if type_code != UNSIGNED_BYTE:
        raise CorruptDataError(
            f"{source}: IDX type 0x{type_code:02x} is not supported (only unsigned bytes, 0x08)"
        )
    if ndim == 0:
        raise CorruptDataError(f"{source}: IDX header declares zero dimensions")
    header_end = 4 + 4 * ndim
    if len(content) < header_end:
        raise CorruptDataError(f"{source}: truncated IDX header")
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(content) - header_end
    if actual != expected:
        raise CorruptDataError(
            f"{source}: header declares shape {shape} ({expected} bytes) but the file holds "
            f"{actual} bytes of data; the file is truncated or corrupt"
        )
    # A copy: frombuffer over bytes is read-only, and torch wants writable memory.
    return np.frombuffer(content, dtype=np.uint8, offset=header_end).reshape(shape).copy()


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (`.gz` or uncompressed) into a uint8 array."""
    return parse_idx(read_bytes(path), str(path))
