"""A fast path for stream chunks: their protobuf encoding written and read by hand.

Why: each chunk message is little more than ~1 MiB of tensor bytes, and the protobuf
runtime copies them four times on the way out (slice, field set, sub-message set,
serialize) and twice on the way in (parse, field read). Here the sender joins a small
prefix to a view of the array (one copy) and the receiver hands on a view of the received
bytes (no copy); the chunk-assembly copy is the only other one. The bytes are exactly what
protobuf writes for `*StreamRequest{chunk: Chunk{offset, data}}` (tested), so either side
may use the generated stubs instead. Anything that is not a plain chunk (a header,
unknown fields, repeated fields) goes through the generated classes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

_OUTER_CHUNK_TAG = 0x12  # field 2 (chunk), wire type 2 (length-delimited)
_OFFSET_TAG = 0x08  # Chunk.offset: field 1, varint
_DATA_TAG = 0x12  # Chunk.data: field 2, length-delimited


class ChunkPart(NamedTuple):
    """One chunk of a stream: `offset` into the concatenated tensor bytes, and the bytes."""

    offset: int
    data: bytes | memoryview


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(raw: memoryview, pos: int) -> tuple[int, int]:
    """(value, next position); IndexError/ValueError when truncated or over 64 bits."""
    value = shift = 0
    while True:
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 64:
            raise ValueError("varint longer than 64 bits")


def encode_chunk(part: ChunkPart) -> bytes:
    """The bytes protobuf would write for a stream message holding this chunk."""
    size = len(part.data)
    inner_head = (bytes((_OFFSET_TAG,)) + _varint(part.offset) if part.offset else b"") + (
        bytes((_DATA_TAG,)) + _varint(size) if size else b""
    )
    outer_head = bytes((_OUTER_CHUNK_TAG,)) + _varint(len(inner_head) + size)
    return b"".join((outer_head, inner_head, part.data))


def decode_chunk(raw: bytes) -> ChunkPart | None:
    """The chunk in a serialized stream message, as a view of `raw`; None if it is anything
    but a plain chunk (then the generated class must parse it)."""
    view = memoryview(raw)
    try:
        if not view or view[0] != _OUTER_CHUNK_TAG:
            return None
        length, pos = _read_varint(view, 1)
        if pos + length != len(view):
            return None  # more fields after the chunk, or truncated
        offset, data, seen = 0, view[pos:pos], set()
        while pos < len(view):
            tag = view[pos]
            if tag in seen or tag not in (_OFFSET_TAG, _DATA_TAG):
                return None
            seen.add(tag)
            if tag == _OFFSET_TAG:
                offset, pos = _read_varint(view, pos + 1)
            else:
                size, pos = _read_varint(view, pos + 1)
                if pos + size > len(view):
                    return None
                data, pos = view[pos : pos + size], pos + size
        return ChunkPart(offset, data)
    except (IndexError, ValueError):
        return None


def serialize_stream_message(message: Any) -> bytes:
    """Serializer for stream RPCs: `ChunkPart` by hand, protobuf messages as usual."""
    if isinstance(message, ChunkPart):
        return encode_chunk(message)
    return message.SerializeToString()
