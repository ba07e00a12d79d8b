"""Hostile clients against a real server on 127.0.0.1, and a hostile server against the client.

Each test replays one way to freeze or exhaust the service (stalled and slowloris streams,
amplification, floods of queued calls, failing streams, forged log lines, malformed bytes,
oversized replies) and checks the server stays responsive and bounded.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.rpc.client import KernelClient, KernelServiceError
from cuda_kernels.rpc.protocol.chunking import iter_chunks
from cuda_kernels.rpc.protocol.errors import BUSY_RETRY_AFTER_S, retry_after_of
from cuda_kernels.rpc.protocol.methods import METHODS, client_methods
from cuda_kernels.rpc.protocol.tensors import MIB
from cuda_kernels.rpc.protocol.wire import ChunkPart

Code = grpc.StatusCode
SERVING = health_pb2.HealthCheckResponse.SERVING


def header_of(*shapes: tuple[int, int], request_id: str = "") -> pb.MatMulStreamRequest:
    """A MatMulStream header for a (and b) of these shapes."""
    tensors = [pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=list(shape)) for shape in shapes]
    return pb.MatMulStreamRequest(
        header=pb.MatMulRequest(request_id=request_id, a=tensors[0], b=tensors[1])
    )


def stalled(header, release: threading.Event, pace: float | None = None) -> Iterator:
    """The header and one 4-byte chunk, then nothing until `release`; with `pace`, a 4-byte
    chunk every `pace` seconds instead (a slowloris)."""
    yield header
    offset = 0
    while True:
        yield ChunkPart(offset, b"\0\0\0\0")
        offset += 4
        if pace is None:
            release.wait(60)
            return
        if release.wait(pace):
            return


def header_then_silence(header, release: threading.Event) -> Iterator:
    """The header alone, then nothing until `release`: only the idle rule can end it (a
    stream that sent some data and then stopped is also behind the rate floor, and which
    of the two rules fires first is then a matter of scheduling)."""
    yield header
    release.wait(60)


def retry_hint(call) -> float | None:
    """The retry hint a refusal carried (None: retrying cannot help)."""
    return retry_after_of(call.trailing_metadata())


def health_check(address: str, timeout: float = 5) -> int:
    with grpc.insecure_channel(address) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=timeout
        ).status


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets stalled request streams end; set when the test ends, however it ends."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def channel_to():
    """`channel_to(address)`: a channel closed when the test ends."""
    opened: list[grpc.Channel] = []

    def open_(address: str) -> grpc.Channel:
        opened.append(grpc.insecure_channel(address))
        return opened[-1]

    yield open_
    for channel in opened:
        channel.close()


# --- D1: stalled streams freeze nothing ------------------------------------------------


def test_stalled_and_slowloris_streams_leave_health_and_small_calls_answering(
    fresh_server, release, channel_to, watch_log
):
    workers = 2
    server = fresh_server(workers=workers, idle_seconds=120)
    stream = client_methods(channel_to(server.address))["MatMulStream"]
    with watch_log("cuda_kernels.rpc.server", logging.DEBUG) as log:
        calls = [
            stream(stalled(header_of((256, 256), (256, 256)), release), timeout=120)
            for _ in range(8 * workers)
        ]
        calls.append(
            stream(stalled(header_of((256, 256), (256, 256)), release, 0.05), timeout=120)
        )
        log.wait_for_count("stream header accepted", len(calls))
        assert health_check(server.address) == SERVING
        a = np.arange(4, dtype=np.float32).reshape(2, 2)
        with KernelClient(server.address, timeout=5, retries=0) as client:
            np.testing.assert_array_equal(client.matmul(a, a), a @ a)
            assert client.info().backend
        assert all(call.running() for call in calls)  # still stalled while we were served
    for call in calls:
        call.cancel()


def test_calls_open_at_once_are_capped_but_health_is_not(
    fresh_server, release, channel_to, watch_log
):
    server = fresh_server(max_calls=3, idle_seconds=120)
    methods = client_methods(channel_to(server.address))
    with watch_log("cuda_kernels.rpc.server", logging.DEBUG) as log:
        calls = [
            methods["MatMulStream"](stalled(header_of((8, 8), (8, 8)), release), timeout=120)
            for _ in range(3)
        ]
        log.wait_for_count("stream header accepted", 3)
    with pytest.raises(grpc.RpcError) as caught:
        methods["GetInfo"](pb.GetInfoRequest(), timeout=10)
    assert caught.value.code() is Code.RESOURCE_EXHAUSTED
    assert "3 calls in flight, its limit (--max-calls)" in caught.value.details()
    assert retry_hint(caught.value) == BUSY_RETRY_AFTER_S  # full now, not for ever
    assert health_check(server.address) == SERVING
    for call in calls:
        call.cancel()


def test_health_watch_and_reflection_streams_are_capped_apart_from_calls(
    fresh_server, release, channel_to, watch_log
):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    server = fresh_server(max_calls=3)
    channel = channel_to(server.address)
    watch = health_pb2_grpc.HealthStub(channel).Watch
    watches = [watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(2)]
    assert [next(w).status for w in watches] == [SERVING, SERVING]  # both open now

    def list_services_then_wait():
        yield reflection_pb2.ServerReflectionRequest(list_services="")
        release.wait(60)

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        list_services_then_wait(), timeout=60
    )
    assert next(reflection).list_services_response.service  # the third long-lived stream
    one_more = watch(health_pb2.HealthCheckRequest(), timeout=60)
    with pytest.raises(grpc.RpcError) as caught:
        next(one_more)
    assert caught.value.code() is Code.RESOURCE_EXHAUSTED
    assert "3 health-watch and reflection streams open" in caught.value.details()
    assert retry_hint(caught.value) == BUSY_RETRY_AFTER_S
    assert health_check(server.address) == SERVING  # Check is a unary call: never capped
    with KernelClient(server.address, timeout=10, retries=0) as client:  # counted apart
        assert client.info().backend
    with watch_log("cuda_kernels.rpc.server", logging.DEBUG) as log:
        watches[0].cancel()
        log.wait_for("stream ended; 2 open")
    again = watch(health_pb2.HealthCheckRequest(), timeout=60)
    assert next(again).status == SERVING
    for call in (again, watches[1], reflection):
        call.cancel()


def test_stalled_and_slowloris_streams_are_ended_and_give_their_memory_back(
    fresh_server, release, channel_to
):
    # 2 s, not less: the slowloris is under the idle rule until its first paced chunk, so
    # a sender thread starved that long by a loaded machine would trip the wrong rule
    server = fresh_server(idle_seconds=2, min_stream_kib_per_s=1)
    stream = client_methods(channel_to(server.address))["MatMulStream"]
    header = header_of((256, 256), (256, 256))
    quiet = stream(header_then_silence(header, release), timeout=60)
    slowloris = stream(stalled(header, release, pace=0.05), timeout=60)  # 80 bytes/s
    with pytest.raises(grpc.RpcError) as caught:
        list(quiet)
    assert caught.value.code() is Code.DEADLINE_EXCEEDED
    assert "sent no data for 2 s" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        list(slowloris)
    assert caught.value.code() is Code.DEADLINE_EXCEEDED
    assert "slower than this server's floor of 1024 bytes/s" in caught.value.details()
    assert server.budget.held == 0


def test_a_client_that_stops_reading_the_reply_is_ended(fresh_server, channel_to, watch_log):
    server = fresh_server(idle_seconds=0.5)
    stream = client_methods(channel_to(server.address))["MatMulStream"]
    a, b = np.ones((4096, 1), np.float32), np.ones((1, 4096), np.float32)  # 64 MiB result
    messages = [header_of(a.shape, b.shape), *iter_chunks([a.tobytes(), b.tobytes()])]
    with watch_log("cuda_kernels.rpc.server") as log:
        replies = stream(iter(messages), timeout=60)
        next(replies)  # the reply header; then the client reads nothing until the server
        log.wait_for("the reply was abandoned")  # gave up on it
    assert server.budget.held == 0  # the result's memory is free at once
    with pytest.raises(grpc.RpcError) as caught:
        for _ in replies:  # reads what the server wrote before it gave up
            pass
    assert caught.value.code() is Code.DEADLINE_EXCEEDED
    assert "read nothing for 0.5 s" in caught.value.details()


# --- D4: one memory budget -------------------------------------------------------------


def test_amplification_stream_is_refused_before_any_data(fresh_server, release, channel_to):
    server = fresh_server(memory_budget_mb=512)
    stream = client_methods(channel_to(server.address))["MatMulStream"]
    # 128 KiB in, a 1 GiB result: refused on the header; the chunks are never sent
    call = stream(stalled(header_of((16384, 1), (1, 16384)), release), timeout=30)
    with pytest.raises(grpc.RpcError) as caught:
        list(call)
    assert caught.value.code() is Code.RESOURCE_EXHAUSTED
    details = caught.value.details()
    assert "1073872896 bytes (inputs plus result)" in details
    assert f"memory budget of {512 * MIB} bytes" in details
    assert retry_hint(caught.value) is None  # too big for this server: no retry helps
    assert server.budget.held == 0


def test_streams_beyond_the_budget_wait_then_are_refused(fresh_server, held, release, channel_to):
    server = fresh_server(held, memory_budget_mb=24, budget_wait_seconds=0.3)
    stream = client_methods(channel_to(server.address))["MatMulStream"]
    a, b = np.ones((2048, 1), np.float32), np.ones((1, 2048), np.float32)  # 16 MiB result
    messages = [header_of(a.shape, b.shape), *iter_chunks([a.tobytes(), b.tobytes()])]
    first = stream(iter(messages), timeout=60)
    assert held.entered.acquire(timeout=30)  # the first holds 16 MiB + 16 KiB, computing
    assert server.budget.held == 16 * MIB + 16 * 1024
    second = stream(stalled(messages[0], release), timeout=60)
    with pytest.raises(grpc.RpcError) as caught:
        list(second)
    assert caught.value.code() is Code.RESOURCE_EXHAUSTED
    assert "stayed too full" in caught.value.details()
    assert retry_hint(caught.value) == BUSY_RETRY_AFTER_S
    assert f"({16 * MIB + 16 * 1024} bytes held by calls in flight) for 0.3 s" in (
        caught.value.details()
    )
    held.gate.set()
    header, *chunks = list(first)
    assert list(header.header.c.shape) == [2048, 2048]
    assert sum(len(chunk.data) for chunk in chunks) == 16 * MIB
    assert server.budget.held == 0


def completions(calls: list[grpc.Future]) -> Iterator[grpc.Future]:
    """`calls` in the order they finish (each within 60 s)."""
    done: queue.SimpleQueue[grpc.Future] = queue.SimpleQueue()
    for call in calls:
        call.add_done_callback(done.put)
    for _ in calls:
        yield done.get(timeout=60)


def first_refusals(calls: list[grpc.Future], count: int, says: str) -> list[grpc.Future]:
    """The first `count` of `calls` to finish, each checked to be a busy refusal (with the
    retry hint) whose details contain `says`."""
    refused = []
    for call in completions(calls):
        assert call.code() is Code.RESOURCE_EXHAUSTED
        assert says in call.details()
        assert retry_hint(call) == BUSY_RETRY_AFTER_S
        refused.append(call)
        if len(refused) == count:
            break
    return refused


def test_a_flood_of_unary_calls_is_answered_at_once_not_buffered(fresh_server, held, channel_to):
    server = fresh_server(held, workers=1, memory_budget_mb=8)
    doublify = client_methods(channel_to(server.address))["Doublify"]
    x = np.ones((512, 512), np.float32)  # 1 MiB in, 1 MiB out: 4 calls fit in 8 MiB
    request = pb.DoublifyRequest(x=pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=[512, 512],
                                             data=x.tobytes()))  # fmt: skip
    calls = [doublify.future(request, timeout=60) for _ in range(40)]
    assert held.entered.acquire(timeout=30)
    refused = first_refusals(calls, 36, "retry later")  # answered while 4 are still held
    assert server.budget.held <= 8 * MIB
    held.gate.set()
    served = [call for call in calls if call not in refused]
    assert [call.code() for call in served] == [Code.OK] * 4


def test_more_calls_than_the_queue_holds_are_refused_at_once(fresh_server, held, channel_to):
    server = fresh_server(held, workers=1, max_queued=2)
    matmul = client_methods(channel_to(server.address))["MatMul"]
    tensor = pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=[2, 2], data=bytes(16))
    request = pb.MatMulRequest(a=tensor, b=tensor)
    first = matmul.future(request, timeout=60)
    assert held.entered.acquire(timeout=30)  # the one worker is busy
    calls = [matmul.future(request, timeout=60) for _ in range(6)]
    refused = first_refusals(calls, 4, "at capacity: 1 calls running and 2 waiting")
    held.gate.set()
    assert first.code() is Code.OK
    assert [call.code() for call in calls if call not in refused] == [Code.OK] * 2


# --- D3: failed and cancelled streams free their buffers -------------------------------


def _rss() -> int:
    """Resident bytes of this process (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def _rss_until(done, seconds: float) -> int:
    """Poll RSS until `done(rss)` or `seconds` pass; return the last value."""
    deadline = time.monotonic() + seconds
    while not done(rss := _rss()) and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    return rss


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Only reference counting frees memory: a cycle that holds a buffer shows."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc")
def test_failed_and_cancelled_streams_leave_no_memory_behind(fresh_server, channel_to, no_gc):
    server = fresh_server(idle_seconds=30)
    stream = client_methods(channel_to(server.address))["MatMulStream"]
    v = np.ones((1, 8 * MIB), np.float32)  # 32 MiB: a and b make a 64 MiB buffer
    header = header_of(v.shape, v.T.shape)
    sent = list(iter_chunks([v, v], MIB))[:60]  # 60 of the 64 MiB

    def failing():  # 60 MiB, then a chunk at the wrong offset: INVALID_ARGUMENT
        yield header
        yield from sent
        yield ChunkPart(1, b"\0\0\0\0")

    list(stream(iter([header, *iter_chunks([v, v], MIB)]), timeout=60))  # warm-up
    baseline = _rss()
    back = baseline + 24 * MIB  # the 60 MiB buffer is gone (allocator slack aside)
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as caught:
            list(stream(failing(), timeout=60))
        assert caught.value.code() is Code.INVALID_ARGUMENT
        assert _rss_until(lambda rss: rss <= back, 1.0) <= back
    cancel = threading.Event()

    def cancelled():  # 60 MiB, then waits until the test has cancelled the call
        yield header
        yield from sent
        cancel.wait(60)

    call = stream(cancelled(), timeout=60)
    filled = baseline + 48 * MIB
    assert _rss_until(lambda rss: rss >= filled, 30) >= filled, "the server never held them"
    call.cancel()
    cancel.set()
    assert _rss_until(lambda rss: rss <= back, 1.0) <= back
    assert server.budget.held == 0


# --- D7: client strings cannot forge or flood the log ----------------------------------


def test_ids_and_kernel_names_are_escaped_and_cut_in_logs_and_errors(
    fresh_server, channel_to, watch_log
):
    server = fresh_server()
    matmul = client_methods(channel_to(server.address))["MatMul"]
    tensor = pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=[1, 1], data=bytes(4))
    forged = "x\nrequest_id=forged rpc=MatMul code=OK"
    requests = [
        pb.MatMulRequest(request_id=forged, a=tensor, b=tensor, kernel="k" * 100_000),
        pb.MatMulRequest(request_id="i" * MIB, a=tensor, b=tensor),
    ]
    with watch_log() as log:
        details = [_code_of(lambda r=request: matmul(r, timeout=30)) for request in requests]
        lines = log.wait_for_count("rpc=MatMul", 2)
    assert [code for code, _ in details] == [Code.INVALID_ARGUMENT] * 2
    assert details[0][1].startswith("unknown kernel " + "k" * 64 + "...(+99936 chars); ")
    assert details[1][1] == f"request_id has {MIB} characters; at most 128 are accepted"
    for line in lines:
        assert "\n" not in line and len(line) < 300
    assert lines[0].startswith("request_id='x\\nrequest_id=forged rpc=MatMul code=OK' rpc=")
    assert lines[1].startswith("request_id=" + "i" * 64 + "...(+1048512 chars) rpc=")


# --- D11: bytes that do not parse ------------------------------------------------------


def test_malformed_messages_are_invalid_argument_without_a_traceback(
    fresh_server, channel_to, caplog
):
    server = fresh_server()
    channel = channel_to(server.address)
    junk = b"\x0a\xff\xff\xff\xff\x0f"  # a length-delimited field claiming 4 GiB
    caplog.set_level(logging.DEBUG)
    for name, method in METHODS.items():
        if method.request_streaming:
            call = channel.stream_stream(method.path)
            code, details = _code_of(lambda c=call: list(c(iter([junk]), timeout=30)))
        else:
            call = channel.unary_unary(method.path)
            code, details = _code_of(lambda c=call: c(junk, timeout=30))
        assert code is Code.INVALID_ARGUMENT, name
        assert f"6-byte message is not a valid {method.request_type.DESCRIPTOR.full_name}" in (
            details
        )
    text = caplog.text
    assert "Traceback" not in text and not any(r.exc_info for r in caplog.records)


def _code_of(call) -> tuple[Code, str]:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return Code.OK, ""


# --- D15: a hostile server against the client ------------------------------------------


class HostileServer:
    """A gRPC server answering KernelService calls with whatever `reply(rpc)` yields (raw
    bytes); counts the messages it managed to hand to gRPC."""

    def __init__(self, replies) -> None:
        self.sent = 0
        self._replies = replies
        handlers = {
            name: self._handler(name, method) for name, method in METHODS.items()
        }
        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("cuda_kernels.v1.KernelService", handlers),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _handler(self, name: str, method):
        if method.response_streaming:

            def stream(requests, context):
                for _ in requests:
                    pass
                for message in self._replies(name):
                    self.sent += 1
                    yield message

            return grpc.stream_stream_rpc_method_handler(stream)

        def unary(request, context):
            return next(iter(self._replies(name)))

        return grpc.unary_unary_rpc_method_handler(unary)


@pytest.fixture
def hostile():
    started: list[HostileServer] = []

    def start(replies) -> HostileServer:
        started.append(HostileServer(replies))
        return started[-1]

    yield start
    for server in started:
        server.server.stop(None)


def _matmul_header(*shape: int) -> bytes:
    return pb.MatMulStreamResponse(
        header=pb.MatMulResponse(c=pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=list(shape)))
    ).SerializeToString()


def test_client_refuses_an_oversized_reply_before_storing_it(hostile):
    one_mib = pb.MatMulStreamResponse(chunk=pb.Chunk(data=bytes(MIB))).SerializeToString()
    replies = {
        "4 TiB header": lambda _rpc: [_matmul_header(1 << 20, 1 << 20)],
        "8192x8192 and its 256 MiB": lambda _rpc: [
            _matmul_header(8192, 8192), *(one_mib for _ in range(256))
        ],
    }
    a = np.ones((2, 2), np.float32)
    for case, reply in replies.items():
        server = hostile(reply)
        with KernelClient(f"127.0.0.1:{server.port}", retries=0, timeout=30) as client:
            tracemalloc.start()
            try:
                with pytest.raises(KernelServiceError) as caught:
                    client.matmul(a, a, transport="stream")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert caught.value.code is Code.DATA_LOSS, case
        assert "expected (2, 2)" in caught.value.details, case
        assert peak < 8 * MIB, (case, peak)  # the 2x2 result, plus a few chunks in flight
        assert server.sent < 256, case


def test_client_reports_wrong_or_malformed_unary_replies_as_data_loss(hostile):
    wrong = pb.MatMulResponse(
        c=pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=[1024, 1024], data=bytes(4 * MIB))
    ).SerializeToString()
    a = np.ones((2, 2), np.float32)
    for case, reply, expected in (
        ("wrong shape", wrong, "expected (2, 2)"),
        ("not protobuf", b"\x0a\xff\xff\xff\xff\x0f", "not a valid cuda_kernels.v1.MatMulResponse"),
    ):
        server = hostile(lambda _rpc, r=reply: [r])
        client = KernelClient(f"127.0.0.1:{server.port}", retries=0, timeout=30)
        with client, pytest.raises(KernelServiceError) as caught:
            client.matmul(a, a, transport="unary")
        assert caught.value.code is Code.DATA_LOSS, case
        assert expected in caught.value.details, case
