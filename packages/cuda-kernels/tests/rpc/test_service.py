"""KernelService over real sockets on 127.0.0.1: correctness, every status code, malformed
input, concurrency, health, reflection and graceful shutdown.

The shared server is in-process on an ephemeral port with the numpy backend
(CUDA_KERNELS_TEST_BACKEND picks another). With CUDA_KERNELS_TEST_TARGET=host:port, the
tests that need no special server configuration run against that external server instead
(scripts/gpu_check.py uses this for a `serve --backend pycuda` process).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import uuid
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels._proto import kernels_pb2_grpc as pb_grpc
from cuda_kernels.rpc.client import KernelClient, KernelServiceError
from cuda_kernels.rpc.protocol.chunking import iter_chunks
from cuda_kernels.rpc.protocol.tensors import MIB
from cuda_kernels.rpc.server import KernelServer
from cuda_kernels.rpc.tls import self_signed_certificate

EXTERNAL_TARGET = os.environ.get("CUDA_KERNELS_TEST_TARGET")
Code = grpc.StatusCode


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture(scope="module")
def target(start_server) -> Iterator[str]:
    if EXTERNAL_TARGET:
        yield EXTERNAL_TARGET
        return
    server = start_server()
    yield server.address
    server.stop()


@pytest.fixture(scope="module")
def client(target: str) -> Iterator[KernelClient]:
    with KernelClient(target, timeout=120) as kernel_client:
        yield kernel_client


@pytest.fixture(scope="module")
def stub(target: str) -> Iterator[pb_grpc.KernelServiceStub]:
    options = [("grpc.max_send_message_length", 256 * MIB)]
    with grpc.insecure_channel(target, options=options) as channel:
        yield pb_grpc.KernelServiceStub(channel)


@pytest.fixture(scope="module")
def server_info(client: KernelClient):
    return client.info()


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


def assert_matmul_close(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    expected = a.astype(np.float64) @ b.astype(np.float64)
    assert c.dtype == np.float32 and c.shape == expected.shape
    tolerance = 1e-4 * math.sqrt(a.shape[1]) + 1e-5
    np.testing.assert_allclose(c, expected, rtol=tolerance, atol=tolerance)


def tensor(dtype=pb.DTYPE_FLOAT32, shape=(2, 2), data=None) -> pb.Tensor:
    if data is None:
        data = b"\0" * (math.prod(shape) * 4 if all(d > 0 for d in shape) else 0)
    return pb.Tensor(dtype=dtype, shape=list(shape), data=data)


def code_of(call, *args, **kwargs) -> tuple[Code, str]:
    """Status code and details of a raw stub call (OK, "" when it succeeds)."""
    try:
        result = call(*args, **kwargs)
        if hasattr(result, "__iter__") and not hasattr(result, "ListFields"):
            list(result)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return Code.OK, ""


def stream_of(header: pb.MatMulRequest, payload: bytes, chunk: int = 1000, order=None):
    chunks = [pb.Chunk(offset=c.offset, data=bytes(c.data)) for c in iter_chunks([payload], chunk)]
    if order is not None:
        chunks = [chunks[i] for i in order]
    return [pb.MatMulStreamRequest(header=header)] + [
        pb.MatMulStreamRequest(chunk=c) for c in chunks
    ]


# --- correctness ----------------------------------------------------------------------

ODD_SHAPES = [(1, 1, 1), (1, 7, 1), (3, 5, 7), (17, 1, 33), (129, 65, 31), (1, 300, 257)]


@pytest.mark.parametrize("transport", ["unary", "stream"])
@pytest.mark.parametrize(("n", "m", "p"), ODD_SHAPES)
def test_matmul_odd_shapes(client: KernelClient, transport: str, n: int, m: int, p: int):
    rng = np.random.default_rng(n * 10_000 + m * 100 + p)
    a, b = rand(rng, n, m), rand(rng, m, p)
    result = client.matmul_detailed(a, b, transport=transport)
    assert_matmul_close(result.c, a, b)
    assert result.streamed == (transport == "stream")
    assert result.kernel in client.info().kernels


@pytest.mark.parametrize("transport", ["unary", "stream"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (5, 1031), (513, 7)])
def test_doublify_odd_shapes(client: KernelClient, transport: str, shape):
    x = rand(np.random.default_rng(7), *shape)
    np.testing.assert_array_equal(client.doublify(x, transport=transport), 2 * x)


def test_every_kernel_by_name(client: KernelClient, server_info):
    rng = np.random.default_rng(3)
    a, b = rand(rng, 67, 45), rand(rng, 45, 29)
    for kernel in server_info.kernels:
        result = client.matmul_detailed(a, b, kernel)
        assert result.kernel == kernel
        assert_matmul_close(result.c, a, b)


def test_matmul_4096_streamed(client: KernelClient):
    rng = np.random.default_rng(4096)
    a, b = rand(rng, 4096, 4096), rand(rng, 4096, 4096)
    result = client.matmul_detailed(a, b)  # 64 MiB per tensor: over the threshold
    assert result.streamed
    rows = rng.choice(4096, size=16, replace=False)  # a full float64 check costs too long
    assert_matmul_close(result.c[rows], a[rows], b)
    assert result.c.shape == (4096, 4096)


def test_get_info_and_echoed_request_id(client: KernelClient, server_info, stub):
    assert server_info.backend in ("numpy", "pycuda")
    assert server_info.kernels and server_info.device
    assert server_info.kernel_build  # says where the kernels came from (prebuilt, nvcc, BLAS)
    assert server_info.max_message_bytes >= MIB
    assert server_info.max_tensor_bytes >= server_info.max_message_bytes
    a = rand(np.random.default_rng(1), 2, 3)
    response = stub.MatMul(
        pb.MatMulRequest(request_id="abc-123", a=tensor(shape=(2, 3), data=a.tobytes()),
                         b=tensor(shape=(3, 1), data=np.ones((3, 1), np.float32).tobytes()))
    )  # fmt: skip
    assert response.request_id == "abc-123"
    assert response.backend == server_info.backend
    assert response.kernel == server_info.kernels[0]
    assert response.compute_ns > 0
    np.testing.assert_allclose(
        np.frombuffer(response.c.data, "<f4").reshape(2, 1), a.sum(axis=1, keepdims=True),
        rtol=1e-5,
    )  # fmt: skip


def test_health_and_reflection(target: str):
    with grpc.insecure_channel(target) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        for service in ("", "cuda_kernels.v1.KernelService"):
            status = check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (answer,) = list(reflect(iter([request]), timeout=10))
        names = {s.name for s in answer.list_services_response.service}
        assert {"cuda_kernels.v1.KernelService", "grpc.health.v1.Health"} <= names


# --- every error code ---------------------------------------------------------------

A23 = tensor(shape=(2, 3))
B34 = tensor(shape=(3, 4))
INVALID_UNARY = {
    "dtype unspecified": (tensor(dtype=pb.DTYPE_UNSPECIFIED, shape=(2, 3)), B34, ""),
    "dtype unsupported": (tensor(dtype=7, shape=(2, 3)), B34, ""),
    "rank 1": (tensor(shape=(6,)), B34, ""),
    "rank 3": (tensor(shape=(1, 2, 3)), B34, ""),
    "inner dims differ": (A23, tensor(shape=(4, 3)), ""),
    "bytes too short": (tensor(shape=(2, 3), data=b"\0" * 23), B34, ""),
    "bytes too long": (A23, tensor(shape=(3, 4), data=b"\0" * 52), ""),
    "zero dimension": (tensor(shape=(0, 3)), B34, ""),
    "negative dimension": (A23, tensor(shape=(3, -4), data=b""), ""),
    "unknown kernel": (A23, B34, "no-such-kernel"),
}


@pytest.mark.parametrize("case", sorted(INVALID_UNARY))
def test_invalid_argument_unary(stub, case: str):
    a, b, kernel = INVALID_UNARY[case]
    code, details = code_of(stub.MatMul, pb.MatMulRequest(a=a, b=b, kernel=kernel), timeout=30)
    assert code is Code.INVALID_ARGUMENT, case
    assert len(details) > 20 and details[0].isalpha()


def test_invalid_doublify_names_the_tensor(stub):
    code, details = code_of(stub.Doublify, pb.DoublifyRequest(x=tensor(shape=(3,))), timeout=30)
    assert code is Code.INVALID_ARGUMENT
    assert "tensor x" in details and "rank 2" in details


def test_unknown_kernel_lists_the_kernels(stub, server_info):
    _, details = code_of(stub.MatMul, pb.MatMulRequest(a=A23, b=B34, kernel="fast"), timeout=30)
    assert all(name in details for name in server_info.kernels)


A_HEADER = pb.MatMulRequest(request_id="s", a=tensor(shape=(2, 3), data=b""),
                            b=tensor(shape=(3, 4), data=b""))  # fmt: skip
PAYLOAD = np.arange(18, dtype="<f4").tobytes()  # 2x3 + 3x4 = 18 floats


def _invalid_streams():
    header_with_data = pb.MatMulRequest()
    header_with_data.CopyFrom(A_HEADER)
    header_with_data.a.data = b"\0" * 24
    chunk = pb.MatMulStreamRequest(chunk=pb.Chunk(offset=0, data=PAYLOAD[:8]))
    return {
        "chunks out of order": stream_of(A_HEADER, PAYLOAD, 16, order=[1, 0, 2, 3, 4]),
        "chunk offset gap": [
            pb.MatMulStreamRequest(header=A_HEADER),
            pb.MatMulStreamRequest(chunk=pb.Chunk(offset=8, data=PAYLOAD)),
        ],
        "chunks fall short": stream_of(A_HEADER, PAYLOAD[:-4], 16),
        "chunks overrun": stream_of(A_HEADER, PAYLOAD + b"\0" * 4, 16),
        "chunk before header": [chunk, pb.MatMulStreamRequest(header=A_HEADER)],
        "second header": [pb.MatMulStreamRequest(header=A_HEADER)] * 2,
        "empty stream": [],
        "header carries data": stream_of(header_with_data, PAYLOAD, 16),
        "empty message": [pb.MatMulStreamRequest(header=A_HEADER), pb.MatMulStreamRequest()],
        "inner dims differ": [
            pb.MatMulStreamRequest(
                header=pb.MatMulRequest(a=tensor(shape=(2, 3), data=b""),
                                        b=tensor(shape=(4, 3), data=b""))
            )
        ],
    }


@pytest.mark.parametrize("case", sorted(_invalid_streams()))
def test_invalid_argument_stream(stub, case: str):
    messages = _invalid_streams()[case]
    code, details = code_of(stub.MatMulStream, iter(messages), timeout=30)
    assert code is Code.INVALID_ARGUMENT, (case, details)
    assert details


def test_well_formed_stream_with_odd_chunks(stub):
    responses = list(stub.MatMulStream(iter(stream_of(A_HEADER, PAYLOAD, 7)), timeout=30))
    header, chunks = responses[0].header, [r.chunk for r in responses[1:]]
    assert header.request_id == "s" and list(header.c.shape) == [2, 4] and not header.c.data
    c = np.frombuffer(b"".join(ch.data for ch in chunks), "<f4").reshape(2, 4)
    values = np.frombuffer(PAYLOAD, "<f4")
    np.testing.assert_allclose(c, values[:6].reshape(2, 3) @ values[6:].reshape(3, 4))
    assert [ch.offset for ch in chunks] == [sum(len(x.data) for x in chunks[:i])
                                            for i in range(len(chunks))]  # fmt: skip


@pytest.fixture(scope="module")
def small_server(start_server) -> Iterator[KernelServer]:
    """Caps of 1 MiB per message and 2 MiB per tensor."""
    server = start_server(max_message_mb=1, max_tensor_mb=2)
    yield server
    server.stop()


def test_resource_exhausted(small_server: KernelServer):
    rng = np.random.default_rng(5)
    with KernelClient(small_server.address, max_message_bytes=64 * MIB, retries=0) as client:
        big = rand(rng, 1024, 1024)  # 4 MiB: over the 2 MiB tensor cap
        for transport in ("unary", "stream"):
            with pytest.raises(KernelServiceError) as caught:
                client.doublify(big, transport=transport)
            assert caught.value.code is Code.RESOURCE_EXHAUSTED
        # 1.5 MiB tensors: under the tensor cap, over the unary message cap of 1 MiB
        mid = rand(rng, 384, 1024)
        with pytest.raises(KernelServiceError) as caught:
            client.doublify(mid, transport="unary")
        assert caught.value.code is Code.RESOURCE_EXHAUSTED
        np.testing.assert_array_equal(client.doublify(mid, transport="stream"), 2 * mid)
        # small inputs whose product (768x768 = 2.25 MiB) is over the tensor cap
        with pytest.raises(KernelServiceError) as caught:
            client.matmul(rand(rng, 768, 1), rand(rng, 1, 768), transport="stream")
        assert caught.value.code is Code.RESOURCE_EXHAUSTED
        assert "cap" in caught.value.details
        # ... and a product too big for a unary reply, though fine streamed
        a, b = rand(rng, 600, 1), rand(rng, 1, 600)
        with pytest.raises(KernelServiceError) as caught:
            client.matmul(a, b, transport="unary")
        assert caught.value.code is Code.RESOURCE_EXHAUSTED
        assert "streaming" in caught.value.details
        assert_matmul_close(client.matmul(a, b, transport="stream"), a, b)


def test_huge_declared_shape_is_refused_before_any_data(small_server: KernelServer):
    header = pb.MatMulRequest(a=tensor(shape=(1 << 30, 1 << 30), data=b""),
                              b=tensor(shape=(1 << 30, 1), data=b""))  # fmt: skip
    with grpc.insecure_channel(small_server.address) as channel:
        stream = pb_grpc.KernelServiceStub(channel).MatMulStream
        code, details = code_of(stream, iter([pb.MatMulStreamRequest(header=header)]), timeout=30)
    assert code is Code.RESOURCE_EXHAUSTED and "tensor a" in details


def _slow_stream(header: pb.MatMulRequest, payload: bytes, release: threading.Event):
    yield pb.MatMulStreamRequest(header=header)
    release.wait(30)
    yield from stream_of(header, payload, 16)[1:]


@pytest.fixture
def release(fresh_server) -> Iterator[threading.Event]:
    """Holds back the chunks of `_slow_stream`; set at the latest when the test ends."""
    event = threading.Event()
    yield event
    event.set()


def test_deadline_exceeded_does_no_work(fresh_server, gated_backend, release, watch_log):
    backend = gated_backend()
    server = fresh_server(backend)
    with watch_log() as log, grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.KernelServiceStub(channel)
        stub.GetInfo(pb.GetInfoRequest(), timeout=30)  # connected before the short call
        header = pb.MatMulRequest(request_id="late", a=A_HEADER.a, b=A_HEADER.b)
        code, _ = code_of(stub.MatMulStream, _slow_stream(header, PAYLOAD, release),
                          timeout=0.3)  # fmt: skip
        assert code is Code.DEADLINE_EXCEEDED
        release.set()  # the chunks may go now: the call is dead
        line = log.wait_for("request_id=late")  # written when the server is done with it
        assert "code=DEADLINE_EXCEEDED" in line or "code=CANCELLED" in line
    assert backend.calls == 0


def test_call_that_expired_in_the_queue_does_no_work(fresh_server, held):
    server = fresh_server(held, workers=1)  # the second call waits for the first
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.KernelServiceStub(channel)
        first = stub.MatMul.future(pb.MatMulRequest(a=A23, b=B34), timeout=60)
        assert held.entered.acquire(timeout=30)  # the one worker is in the backend
        code, _ = code_of(stub.MatMul, pb.MatMulRequest(a=A23, b=B34), timeout=0.3)
        assert code is Code.DEADLINE_EXCEEDED
        held.gate.set()
        assert first.result().c.shape == [2, 4]
        # the one worker takes calls in order of arrival: once a later call has been
        # answered, the expired one has had its turn
        stub.GetInfo(pb.GetInfoRequest(), timeout=30)
    assert held.calls == 1


def test_cancelled_call_does_no_work(fresh_server, gated_backend, release, watch_log):
    backend = gated_backend()
    server = fresh_server(backend)
    with (
        watch_log() as log,
        watch_log("cuda_kernels.rpc.server", logging.DEBUG) as service_log,
        grpc.insecure_channel(server.address) as channel,
    ):
        stub = pb_grpc.KernelServiceStub(channel)
        header = pb.MatMulRequest(request_id="gone", a=A_HEADER.a, b=A_HEADER.b)
        call = stub.MatMulStream(_slow_stream(header, PAYLOAD, release), timeout=30)
        service_log.wait_for("request_id=gone: stream header accepted")
        call.cancel()  # while the server waits for the chunks
        release.set()
        with pytest.raises(grpc.RpcError) as caught:
            list(call)
        assert caught.value.code() is Code.CANCELLED
        # the client half-closes its stream as it cancels; the server may see the short
        # stream before it sees the cancel, and then logs INVALID_ARGUMENT: either way
        # nothing was computed
        line = log.wait_for("rpc=MatMulStream")
        assert "code=CANCELLED" in line or "code=INVALID_ARGUMENT" in line
    assert backend.calls == 0


def test_internal_for_a_backend_fault_names_the_request(fresh_server, gated_backend, watch_log):
    server = fresh_server(gated_backend(fail=True))
    with watch_log() as log, KernelClient(server.address, retries=0) as client:
        a = np.ones((2, 2), np.float32)
        with pytest.raises(KernelServiceError) as caught:
            client.matmul_detailed(a, a, request_id="req-42")
        assert caught.value.code is Code.INTERNAL
        assert "req-42" in caught.value.details
        assert "code=INTERNAL" in log.wait_for("request_id=req-42")


def test_unavailable_while_draining_then_in_flight_calls_finish(fresh_server, held, watch_log):
    server = fresh_server(held, grace_seconds=60, workers=4)  # all four calls in the backend
    rng = np.random.default_rng(9)
    inputs = [(rand(rng, 31, 17), rand(rng, 17, 5)) for _ in range(4)]
    results: dict[int, np.ndarray] = {}

    def call(i: int) -> None:
        with KernelClient(server.address, retries=0) as client:
            results[i] = client.matmul(*inputs[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(4):  # all four are inside the backend
        assert held.entered.acquire(timeout=30)
    server.begin_drain()
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check
        status = health(health_pb2.HealthCheckRequest(service=""), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        code, details = code_of(pb_grpc.KernelServiceStub(channel).GetInfo,
                                pb.GetInfoRequest(), timeout=10)  # fmt: skip
        assert code is Code.UNAVAILABLE and "shutting down" in details
    with watch_log("cuda_kernels.rpc.server") as log:
        drainer = threading.Thread(target=server.drain)
        drainer.start()
        log.wait_for("draining: no new calls")
        held.gate.set()  # the calls in flight finish while the server drains
        drainer.join(timeout=60)
    assert not drainer.is_alive()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0, 1, 2, 3]
    for i, (a, b) in enumerate(inputs):
        assert_matmul_close(results[i], a, b)


# --- auth and TLS ---------------------------------------------------------------------


def test_auth_token_required_except_for_health(fresh_server):
    server = fresh_server(auth_token="s3cret-token")
    a = np.eye(3, dtype=np.float32)
    with KernelClient(server.address, token="s3cret-token") as client:
        np.testing.assert_array_equal(client.matmul(a, a), a)
    for token in (None, "wrong-token"):
        with KernelClient(server.address, token=token, retries=0) as client:
            for call in (client.info, lambda c=client: c.matmul(a, a)):
                with pytest.raises(KernelServiceError) as caught:
                    call()
                assert caught.value.code is Code.UNAUTHENTICATED
                assert "Bearer" in caught.value.details
    with grpc.insecure_channel(server.address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        ).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        code, _ = code_of(pb_grpc.KernelServiceStub(channel).MatMulStream,
                          iter(stream_of(A_HEADER, PAYLOAD)), timeout=10)  # fmt: skip
        assert code is Code.UNAUTHENTICATED


def test_auth_off_accepts_calls_without_a_token(target: str):
    with KernelClient(target) as client:
        assert client.info().kernels


def test_tls_with_a_self_signed_certificate(fresh_server):
    cert, key = self_signed_certificate()
    server = fresh_server(tls_cert=cert, tls_key=key, auth_token="tok")
    rng = np.random.default_rng(11)
    a, b = rand(rng, 40, 30), rand(rng, 30, 20)
    with KernelClient(server.address, token="tok", tls_ca=cert) as client:
        assert_matmul_close(client.matmul(a, b), a, b)
        x = rand(rng, 700, 1000)
        np.testing.assert_array_equal(client.doublify(x, transport="stream"), 2 * x)
    with KernelClient(server.address, token="tok", retries=0, timeout=5) as plaintext:
        with pytest.raises(KernelServiceError) as caught:
            plaintext.info()
        assert caught.value.code is Code.UNAVAILABLE


# --- concurrency and hostile input ----------------------------------------------------


def test_32_concurrent_clients(target: str):
    failures: list[BaseException] = []

    def work(index: int) -> None:
        rng = np.random.default_rng(1000 + index)
        try:
            with KernelClient(target, timeout=120) as client:
                for round_ in range(3):
                    n, m, p = (int(v) for v in rng.integers(1, 80, size=3))
                    a, b = rand(rng, n, m), rand(rng, m, p)
                    transport = "stream" if (index + round_) % 3 == 0 else "unary"
                    assert_matmul_close(client.matmul(a, b, transport=transport), a, b)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures[0]


dims = st.one_of(st.integers(1, 9), st.integers(-3, 0), st.sampled_from([1 << 20, 1 << 40]))
small = st.integers(1, 9)
any_tensor = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from([0, 1, 1, 1, 1, 1, 2, 99]),
        "shape": st.one_of(st.lists(small, min_size=2, max_size=2), st.lists(dims, max_size=3)),
        "extra_bytes": st.sampled_from([0, 0, 0, 0, 0, -4, -1, 1, 4]),
    }
)
good_tensor = st.fixed_dictionaries(
    {"dtype": st.just(1), "shape": st.lists(small, min_size=2, max_size=2),
     "extra_bytes": st.just(0)}
)  # fmt: skip
# half well-formed tensors, so that well-formed requests come up often enough to check
malformed_tensor = st.one_of(good_tensor, any_tensor)


def _build(spec: dict, rng: np.random.Generator) -> tuple[pb.Tensor, tuple[int, int] | None]:
    """The tensor a spec describes, and its shape when dtype and shape are acceptable."""
    shape = spec["shape"]
    count = math.prod(shape) if shape and all(0 < d < 1000 for d in shape) else 0
    data = rand(rng, count).tobytes()
    extra = spec["extra_bytes"]
    data = data[: len(data) + extra] if extra < 0 else data + b"\x01" * extra
    acceptable = spec["dtype"] == 1 and count and len(shape) == 2
    return pb.Tensor(dtype=spec["dtype"], shape=shape, data=data), (
        (shape[0], shape[1]) if acceptable else None
    )


def _operands(data: bytes, a_shape: tuple[int, int], b_shape: tuple[int, int]):
    """a and b read from concatenated float32 bytes, as the server reads them."""
    values = np.frombuffer(data, "<f4")
    size_a = a_shape[0] * a_shape[1]
    return values[:size_a].reshape(a_shape), values[size_a:].reshape(b_shape)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
# found by this test: in a stream, a 4 bytes short and b 4 bytes long is a well-formed
# request (the chunks only add up to the header's shapes); a unary request it is not
@example(
    a_spec={"dtype": 1, "shape": [1, 1], "extra_bytes": -4},
    b_spec={"dtype": 1, "shape": [1, 1], "extra_bytes": 4},
    match_inner=False, kernel="", streamed=True, chunk=1, shuffle=False, seed=0,
)  # fmt: skip
@example(
    a_spec={"dtype": 1, "shape": [1, 1], "extra_bytes": -4},
    b_spec={"dtype": 1, "shape": [1, 1], "extra_bytes": 4},
    match_inner=False, kernel="", streamed=False, chunk=1, shuffle=False, seed=0,
)  # fmt: skip
@given(
    a_spec=malformed_tensor,
    b_spec=malformed_tensor,
    match_inner=st.booleans(),
    kernel=st.sampled_from(["", "", "bogus", "numpy", "naive"]),
    streamed=st.booleans(),
    chunk=st.integers(1, 64),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_malformed_requests_never_break_the_server(
    stub, server_info, a_spec, b_spec, match_inner, kernel, streamed, chunk, shuffle, seed
):
    if match_inner and len(a_spec["shape"]) == 2 and b_spec["shape"]:
        b_spec = {**b_spec, "shape": [a_spec["shape"][1], *b_spec["shape"][1:]]}
    rng = np.random.default_rng(seed)
    a_tensor, a_shape = _build(a_spec, rng)
    b_tensor, b_shape = _build(b_spec, rng)
    request = pb.MatMulRequest(request_id=uuid.uuid4().hex, a=a_tensor, b=b_tensor, kernel=kernel)
    payload = a_tensor.data + b_tensor.data
    reordered = False
    if streamed:
        header = pb.MatMulRequest()
        header.CopyFrom(request)
        header.a.data = header.b.data = b""
        n_chunks = -(-len(payload) // chunk)
        order = list(range(n_chunks))
        if shuffle and n_chunks > 1:
            order = list(rng.permutation(n_chunks))
            reordered = order != sorted(order)
        messages = stream_of(header, payload, chunk, order)
        try:
            responses = list(stub.MatMulStream(iter(messages), timeout=30))
            code = Code.OK
            c_data = b"".join(r.chunk.data for r in responses[1:])
            c_shape = tuple(responses[0].header.c.shape)
        except grpc.RpcError as exc:
            code = exc.code()
    else:
        try:
            response = stub.MatMul(request, timeout=30)
            code, c_data, c_shape = Code.OK, response.c.data, tuple(response.c.shape)
        except grpc.RpcError as exc:
            code = exc.code()
    shapes_ok = a_shape is not None and b_shape is not None and a_shape[1] == b_shape[0]
    if streamed:  # a stream only delimits the tensors by the header's shapes
        lengths_ok = shapes_ok and len(payload) == 4 * (math.prod(a_shape) + math.prod(b_shape))
    else:
        lengths_ok = a_spec["extra_bytes"] == 0 and b_spec["extra_bytes"] == 0
    valid = (
        shapes_ok
        and lengths_ok
        and (kernel == "" or kernel in server_info.kernels)
        and not reordered
    )
    event(f"valid={valid} code={code.name}")
    if valid:
        assert code is Code.OK
        a, b = _operands(payload, a_shape, b_shape)
        assert_matmul_close(np.frombuffer(c_data, "<f4").reshape(c_shape), a, b)
    else:
        assert code in (Code.INVALID_ARGUMENT, Code.RESOURCE_EXHAUSTED)
        if code is Code.RESOURCE_EXHAUSTED:  # only a huge declared shape may cause it
            assert any(d >= 1 << 20 for d in a_spec["shape"] + b_spec["shape"])


def test_server_still_answers_after_malformed_requests(stub, client: KernelClient):
    for a, b, kernel in INVALID_UNARY.values():
        code_of(stub.MatMul, pb.MatMulRequest(a=a, b=b, kernel=kernel), timeout=30)
    for messages in _invalid_streams().values():
        code_of(stub.MatMulStream, iter(messages), timeout=30)
    rng = np.random.default_rng(12)
    a, b = rand(rng, 33, 21), rand(rng, 21, 9)
    assert_matmul_close(client.matmul(a, b), a, b)
    assert_matmul_close(client.matmul(a, b, transport="stream"), a, b)
