"""Streams of ~1 MiB chunks: cutting tensors into `Chunk`s and putting them back together.

Why streams: one message per tensor breaks at gRPC's message-size limits (4 MiB by
default) and makes both sides hold two serialized copies of the whole tensor. The contract
(kernels.proto) sends a header whose tensors carry shapes but no data, then the tensors'
bytes concatenated in order (a then b), cut into chunks whose offsets run consecutively
from 0. The same code serves the server (requests) and the client (responses).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.rpc.protocol.errors import invalid
from cuda_kernels.rpc.protocol.methods import check_parsed
from cuda_kernels.rpc.protocol.tensors import MIB, check_header, nbytes_of, to_array
from cuda_kernels.rpc.protocol.wire import ChunkPart

DEFAULT_CHUNK_BYTES = MIB  # far below any message cap, big enough to be cheap


def iter_chunks(
    buffers: Sequence[bytes | memoryview], chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[ChunkPart]:
    """Chunks (views, no copies) covering the concatenation of `buffers`, each at most
    `chunk_bytes` long."""
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    offset = 0
    for buffer in buffers:
        view = memoryview(buffer).cast("B")
        for start in range(0, len(view), chunk_bytes):
            piece = view[start : start + chunk_bytes]
            yield ChunkPart(offset, piece)
            offset += len(piece)


def _part_of(message: Any) -> Any:
    """The `ChunkPart` or the header a stream message holds (None for neither), whether
    the fast path decoded it (`ChunkPart`) or a generated class did; a message that did not
    parse (`methods.check_parsed`) is INVALID_ARGUMENT."""
    if isinstance(message, ChunkPart):
        return message
    part = check_parsed(message).WhichOneof("part")
    if part == "chunk":
        return ChunkPart(message.chunk.offset, message.chunk.data)
    return message.header if part == "header" else None


def stream_header_of(first: Any) -> Any:
    """The header in a stream's first message; INVALID_ARGUMENT for anything else."""
    if first is None:
        raise invalid("the stream is empty; its first message must be the header")
    header = _part_of(first)
    if header is None or isinstance(header, ChunkPart):
        raise invalid("the first message of a stream must be the header, got a chunk")
    return header


def check_stream_shapes(
    named: list[tuple[str, pb.Tensor]], max_tensor_bytes: int
) -> list[tuple[int, int]]:
    """The shapes of a stream header's tensors (name, tensor; in wire order), checked.

    Every check that can run on the header alone (dtype, rank, dims, size cap, empty data)
    runs here, before any chunk is buffered, so an oversized stream is refused without
    receiving it.
    """
    shapes = []
    for name, tensor in named:
        shapes.append(check_header(tensor, name, max_tensor_bytes))
        if tensor.data:
            raise invalid(
                f"tensor {name} in a stream header must have empty data; "
                "send its bytes as chunks after the header"
            )
    return shapes


class TensorAssembler:
    """The tensors of one stream, filled from the chunks after its header, in order.

    The buffer is allocated on the first chunk, not before: a stream that never sends one
    costs nothing but its header.
    """

    def __init__(self, shapes: Sequence[tuple[int, int]]) -> None:
        self.shapes = list(shapes)
        self.total_bytes = sum(nbytes_of(shape) for shape in self.shapes)
        self.received = 0
        self._view: memoryview | None = None

    def add(self, message: Any) -> int:
        """Take one message after the header; return the bytes of tensor data it carried.
        INVALID_ARGUMENT for anything but the next chunk within the announced size."""
        part = _part_of(message)
        if part is None:
            raise invalid("a stream message carries neither a header nor a chunk")
        if not isinstance(part, ChunkPart):
            raise invalid("a second header arrived; a stream carries exactly one header")
        offset, data = part
        if offset != self.received:
            raise invalid(
                f"chunk at offset {offset} arrived but the next expected offset is "
                f"{self.received}; send chunks in order, offsets consecutive from 0"
            )
        end = self.received + len(data)
        if end > self.total_bytes:
            raise invalid(
                f"chunks add up to more than the {self.total_bytes} bytes the header's "
                f"shapes announce (chunk at offset {offset} ends at byte {end})"
            )
        if self._view is None:
            # np.empty, not bytearray: no zero-filling of what the chunks overwrite anyway
            self._view = memoryview(np.empty(self.total_bytes, dtype=np.uint8)).cast("B")
        self._view[self.received : end] = data
        self.received = end
        return len(data)

    def finish(self) -> list[np.ndarray]:
        """One float32 array per shape; INVALID_ARGUMENT when bytes are missing."""
        if self.received != self.total_bytes or self._view is None:
            raise invalid(
                f"the stream ended after {self.received} bytes of chunks but the header's "
                f"shapes need {self.total_bytes}"
            )
        view, self._view = self._view, None
        arrays, start = [], 0
        for shape in self.shapes:
            size = nbytes_of(shape)
            arrays.append(to_array(view[start : start + size], shape))
            start += size
        return arrays
