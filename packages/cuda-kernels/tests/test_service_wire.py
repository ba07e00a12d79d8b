"""The hand-written chunk encoding is byte for byte what protobuf writes and reads."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.service.chunking import iter_chunks
from cuda_kernels.service.server import kernel_service_handlers
from cuda_kernels.service.servicer import KernelServicer
from cuda_kernels.service.wire import (
    ChunkPart,
    decode_chunk,
    encode_chunk,
    serialize_stream_message,
    stream_deserializer,
)

STREAM_TYPES = [
    pb.MatMulStreamRequest,
    pb.MatMulStreamResponse,
    pb.DoublifyStreamRequest,
    pb.DoublifyStreamResponse,
]
offsets = st.one_of(st.integers(0, 300), st.integers(0, 2**64 - 1))


@pytest.mark.parametrize("message_type", STREAM_TYPES)
@given(offset=offsets, data=st.binary(max_size=600))
def test_encoding_matches_protobuf(message_type, offset: int, data: bytes) -> None:
    expected = message_type(chunk=pb.Chunk(offset=offset, data=data)).SerializeToString()
    assert encode_chunk(ChunkPart(offset, memoryview(data))) == expected
    decoded = decode_chunk(expected)
    assert decoded is not None
    assert decoded.offset == offset and bytes(decoded.data) == data


@given(offset=offsets, data=st.binary(max_size=300), request_id=st.text(max_size=20))
def test_anything_but_a_plain_chunk_goes_to_protobuf(offset, data, request_id) -> None:
    deserialize = stream_deserializer(pb.MatMulStreamRequest)
    header = pb.MatMulStreamRequest(header=pb.MatMulRequest(request_id=request_id))
    raw_header = header.SerializeToString()
    assert decode_chunk(raw_header) is None
    assert deserialize(raw_header) == header
    chunk = pb.MatMulStreamRequest(chunk=pb.Chunk(offset=offset, data=data)).SerializeToString()
    # a header and a chunk in one message: protobuf's oneof rule (last wins) must apply
    both = deserialize(raw_header + chunk)
    assert isinstance(both, pb.MatMulStreamRequest) and both.WhichOneof("part") == "chunk"
    assert both.chunk.offset == offset and both.chunk.data == data
    # a truncated message is not a plain chunk (protobuf then reports the error)
    assert decode_chunk(chunk[:-1]) is None
    # an unknown field inside the chunk is kept by protobuf, so protobuf must parse it
    inner = pb.Chunk(offset=offset, data=data).SerializeToString() + b"\x18\x01"
    raw = pb.MatMulStreamRequest(chunk=pb.Chunk.FromString(inner)).SerializeToString()
    assert decode_chunk(raw) is None
    parsed = deserialize(raw)
    assert parsed.chunk.offset == offset and parsed.chunk.data == data


def test_serializer_passes_messages_through() -> None:
    message = pb.DoublifyStreamResponse(header=pb.DoublifyResponse(request_id="x"))
    assert serialize_stream_message(message) == message.SerializeToString()


def test_iter_chunks_covers_the_buffers_without_copies() -> None:
    a, b = bytes(range(10)), bytes(range(10, 15))
    parts = list(iter_chunks([a, b], 4))
    assert [p.offset for p in parts] == [0, 4, 8, 10, 14]
    assert b"".join(bytes(p.data) for p in parts) == a + b
    assert all(isinstance(p.data, memoryview) for p in parts)
    with pytest.raises(ValueError, match="chunk_bytes"):
        list(iter_chunks([a], 0))


def test_every_rpc_of_the_contract_is_served() -> None:
    handlers = kernel_service_handlers(KernelServicer.__new__(KernelServicer))
    service = pb.DESCRIPTOR.services_by_name["KernelService"]
    assert set(handlers) == {method.name for method in service.methods}
    for method in service.methods:
        handler = handlers[method.name]
        assert isinstance(handler, grpc.RpcMethodHandler)
        assert handler.request_streaming == method.client_streaming
        assert handler.response_streaming == method.server_streaming
