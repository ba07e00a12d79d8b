"""A small reader for the IDX format that MNIST and Fashion-MNIST ship in.

IDX is a big-endian header (two zero bytes, a type code, the number of dimensions, then
one uint32 per dimension) followed by the array in row-major order. We read only what
Fashion-MNIST uses (unsigned bytes) and check every length, so a truncated or padded file
fails loudly instead of yielding a silently wrong array.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from .errors import CorruptDataError

UNSIGNED_BYTE = 0x08
# The most any IDX file is read into memory for, whatever its header says (1 GiB).
MAX_IDX_BYTES = 1 << 30


def read_bytes(path: Path, max_bytes: int = MAX_IDX_BYTES) -> bytes:
    """The file's IDX content (decompressed when its name ends in `.gz`), read with a bound.

    The header announces how many bytes follow; we read that many and no more. A header
    that announces more than `max_bytes`, or data running past what the header announced
    (a decompression bomb, two files glued together), is refused after reading at most
    the announced size, never by inflating the whole file.
    """
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as f:
            header = f.read(4)
            if len(header) < 4 or header[:3] != bytes([0, 0, UNSIGNED_BYTE]):
                return header  # parse_idx names what is wrong with it
            header += f.read(4 * header[3])
            if len(header) < 4 + 4 * header[3]:
                return header
            shape = tuple(
                int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(header[3])
            )
            declared = math.prod(shape)
            if len(header) + declared > max_bytes:
                raise CorruptDataError(
                    f"{path}: header declares shape {shape} ({declared} bytes), more than the "
                    f"{max_bytes} bytes this file may hold; refusing to read it"
                )
            content = header + f.read(declared)
            if len(content) == len(header) + declared and f.read(1):
                raise CorruptDataError(
                    f"{path}: holds more data than its header declares (shape {shape}, "
                    f"{declared} bytes); the file is corrupt or not this IDX file, refusing it"
                )
            return content
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise CorruptDataError(
            f"{path}: not a complete gzip file ({exc}); replace it with a good copy"
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


def read_idx(path: Path, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (`.gz` or uncompressed) into a uint8 array, at most `max_bytes`."""
    return parse_idx(read_bytes(path, max_bytes), str(path))
