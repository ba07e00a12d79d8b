"""The protocol shared by client and server: the method table taken from the generated
descriptors, and the hand-written chunk encoding, byte for byte what protobuf writes."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels._proto import kernels_pb2_grpc as pb_grpc
from cuda_kernels.rpc.protocol.chunking import iter_chunks
from cuda_kernels.rpc.protocol.errors import (
    MAX_RETRY_AFTER_S,
    RETRY_AFTER_KEY,
    ServiceError,
    retry_after_metadata,
    retry_after_of,
)
from cuda_kernels.rpc.protocol.methods import (
    METHODS,
    SERVICE_NAME,
    check_parsed,
    client_methods,
    method_handlers,
)
from cuda_kernels.rpc.protocol.wire import (
    ChunkPart,
    decode_chunk,
    encode_chunk,
    serialize_stream_message,
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
    deserialize = method_handlers(named_behaviors())["MatMulStream"].request_deserializer
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


class RecordingChannel:
    """Stands in for a grpc.Channel: records what each multi-callable was made with."""

    def __init__(self) -> None:
        self.made: dict[str, tuple[str, object, object]] = {}

    def __getattr__(self, kind: str):
        def make(path, request_serializer=None, response_deserializer=None, **_options):
            self.made[path] = (kind, request_serializer, response_deserializer)
            return path

        return make


def named_behaviors() -> dict[str, object]:
    """A behaviour per method that says its own name."""
    return {name: lambda *_args, name=name: name for name in METHODS}


def test_method_table_is_the_generated_contract() -> None:
    service = pb.DESCRIPTOR.services_by_name["KernelService"]
    assert SERVICE_NAME == "cuda_kernels.v1.KernelService" == service.full_name
    assert set(METHODS) == {method.name for method in service.methods}
    generated = RecordingChannel()
    pb_grpc.KernelServiceStub(generated)  # the paths and kinds the generated stub uses
    ours = RecordingChannel()
    assert set(client_methods(ours).values()) == set(generated.made)
    for method in service.methods:
        ours_kind, serialize, deserialize = ours.made[METHODS[method.name].path]
        stub_kind, stub_serialize, stub_deserialize = generated.made[METHODS[method.name].path]
        assert ours_kind == stub_kind
        assert METHODS[method.name].request_type is getattr(pb, method.input_type.name)
        if not method.client_streaming:  # unary messages: protobuf's codec
            assert serialize == stub_serialize
            response = METHODS[method.name].response_type()
            assert deserialize(response.SerializeToString()) == stub_deserialize(
                response.SerializeToString()
            )
        else:  # streams: the chunk codec, which passes other messages through protobuf
            header = METHODS[method.name].request_type(chunk=pb.Chunk(offset=3, data=b"xy"))
            assert serialize(header) == stub_serialize(header)
            response = METHODS[method.name].response_type(chunk=pb.Chunk(offset=5, data=b"z"))
            assert deserialize(response.SerializeToString()) == ChunkPart(5, memoryview(b"z"))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_bytes_that_do_not_parse_become_a_refusal_not_an_exception(name: str) -> None:
    method = METHODS[name]
    handler = method_handlers(named_behaviors())[name]
    channel = RecordingChannel()
    client_methods(channel)
    client_deserialize = channel.made[method.path][2]
    junk = b"\x0a\xff\xff\xff\xff\x0f"  # field 1, length-delimited, 4 GiB long: truncated
    for deserialize, type_ in ((handler.request_deserializer, method.request_type),
                               (client_deserialize, method.response_type)):  # fmt: skip
        parsed = deserialize(junk)
        assert isinstance(parsed, ServiceError)
        assert parsed.code is grpc.StatusCode.INVALID_ARGUMENT
        assert type_.DESCRIPTOR.full_name in parsed.details
        assert "6-byte message" in parsed.details
        with pytest.raises(ServiceError) as caught:
            check_parsed(parsed)
        assert caught.value is parsed


def test_server_handlers_cover_every_method_with_its_codec() -> None:
    handlers = method_handlers(named_behaviors())
    for name, method in METHODS.items():
        handler = handlers[name]
        assert isinstance(handler, grpc.RpcMethodHandler)
        assert handler.request_streaming == method.request_streaming
        assert handler.response_streaming == method.response_streaming
        behavior = (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or handler.stream_stream
        )
        assert behavior() == name
        message = method.request_type()
        assert handler.request_deserializer(message.SerializeToString()) == message


def test_a_method_without_behavior_is_named() -> None:
    behaviors = named_behaviors()
    del behaviors["DoublifyStream"]
    with pytest.raises(KeyError, match=r"no behavior for DoublifyStream of cuda_kernels\.v1"):
        method_handlers(behaviors)


def test_a_self_signed_certificate_names_hosts_and_addresses():
    from cryptography import x509

    from cuda_kernels.rpc.tls import self_signed_certificate

    cert, key = self_signed_certificate(["localhost", "127.0.0.1"], days=2)
    parsed = x509.load_pem_x509_certificate(cert)
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert key.startswith(b"-----BEGIN PRIVATE KEY-----")
    with pytest.raises(ValueError, match="at least one name"):
        self_signed_certificate([])


@pytest.mark.parametrize("seconds", [0.0, 0.1, 2.5, 59.999])
def test_a_retry_hint_reads_back_as_it_was_sent(seconds: float) -> None:
    assert retry_after_of(retry_after_metadata(seconds)) == pytest.approx(seconds, abs=1e-3)


@pytest.mark.parametrize(
    "metadata, expected",
    [
        (None, None),
        ((), None),
        ((("other", "100"),), None),  # no hint: a refusal that retrying cannot change
        (((RETRY_AFTER_KEY, "250"),), 0.25),
        (((RETRY_AFTER_KEY, b"250"),), 0.25),
        (((RETRY_AFTER_KEY, "-5"),), None),  # what a hostile or broken server may send
        (((RETRY_AFTER_KEY, "1e9"),), None),
        (((RETRY_AFTER_KEY, "nan"),), None),
        (((RETRY_AFTER_KEY, "\u0663"),), None),  # a digit, but not an ASCII one
        (((RETRY_AFTER_KEY, "9" * 40),), None),
        (((RETRY_AFTER_KEY, "999999999"),), MAX_RETRY_AFTER_S),  # capped, not believed
    ],
)
def test_a_retry_hint_is_read_defensively(metadata, expected) -> None:
    assert retry_after_of(metadata) == expected
