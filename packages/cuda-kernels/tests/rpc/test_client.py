"""KernelClient: input checks, unary/stream choice, retries on UNAVAILABLE and on a busy
server's RESOURCE_EXHAUSTED (only those), round robin."""

from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from cuda_kernels.backends import get_backend
from cuda_kernels.backends.base import Backend
from cuda_kernels.rpc.client import KernelClient, KernelServiceError
from cuda_kernels.rpc.protocol.tensors import MIB
from cuda_kernels.rpc.server import KernelServer, ServerConfig


class TaggedBackend(Backend):
    """numpy, counting the calls each server receives."""

    kernels = ("numpy",)

    def __init__(self) -> None:
        self.inner = get_backend("numpy")
        self.name, self.device = "numpy", self.inner.device
        self.calls = 0

    def _matmul(self, a, b, kernel):
        self.calls += 1
        return self.inner.matmul(a, b)

    def _doublify(self, x):
        self.calls += 1
        return self.inner.doublify(x)


def serve(port: int = 0, backend: Backend | None = None) -> KernelServer:
    config = ServerConfig(port=port, backend="numpy", grace_seconds=1)
    return KernelServer(config, backend=backend or get_backend("numpy")).start()


@pytest.fixture(scope="module")
def server():
    running = serve()
    yield running
    running.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": ""}, "target must be a non-empty string"),
        ({"target": "127.0.0.1:1", "timeout": 0}, "0 < timeout <= 604800"),
        ({"target": "127.0.0.1:1", "chunk_bytes": 0}, "chunk_bytes"),
        ({"target": "127.0.0.1:1", "chunk_bytes": 8 * MIB, "max_message_bytes": 4 * MIB},
         "fit in max_message_bytes"),
        ({"target": "127.0.0.1:1", "token": " padded "}, "without spaces"),
        ({"target": "127.0.0.1:1", "token": ""}, "token is empty"),
        ({"target": "127.0.0.1:1", "token": "two\nlines"}, "several lines"),
        ({"target": "127.0.0.1:1", "token": "x" * 5000}, "at most 4096"),
        ({"target": "127.0.0.1:1", "retries": -1}, "retries must be >= 0"),
    ],
)
def test_constructor_says_what_is_wrong(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KernelClient(**kwargs)


def test_bad_operands_are_refused_before_any_call(server: KernelServer) -> None:
    with KernelClient(server.address) as client:
        with pytest.raises(TypeError, match="astype"):
            client.matmul(np.ones((2, 2)), np.ones((2, 2), np.float32))
        with pytest.raises(ValueError, match="inner dimensions differ"):
            client.matmul(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
        with pytest.raises(ValueError, match="2-D"):
            client.doublify(np.ones(3, np.float32))
        with pytest.raises(ValueError, match="transport"):
            client.doublify(np.ones((1, 1), np.float32), transport="carrier-pigeon")
        with pytest.raises(ValueError, match="kernel"):
            client.matmul(np.ones((1, 1), np.float32), np.ones((1, 1), np.float32), kernel="")


def test_non_contiguous_input_is_sent_correctly(server: KernelServer) -> None:
    rng = np.random.default_rng(2)
    base = rng.standard_normal((40, 30), dtype=np.float32)
    a, b = base[::2, ::3], base.T[:10, :7]
    with KernelClient(server.address) as client:
        for transport in ("unary", "stream"):
            np.testing.assert_allclose(client.matmul(a, b, transport=transport), a @ b, rtol=1e-5)


def test_threshold_picks_unary_or_stream(server: KernelServer) -> None:
    x = np.ones((256, 256), np.float32)  # 256 KiB each: 512 KiB in, 256 KiB out
    with KernelClient(server.address, stream_threshold_bytes=500_000) as client:
        assert client.matmul_detailed(x, x).streamed
    with KernelClient(server.address, stream_threshold_bytes=600_000) as client:
        assert not client.matmul_detailed(x, x).streamed
        # a small input whose product is big goes by stream too
        assert client.matmul_detailed(np.ones((400, 1), np.float32),
                                      np.ones((1, 400), np.float32)).streamed  # fmt: skip


def test_results_are_writable_arrays(server: KernelServer) -> None:
    with KernelClient(server.address) as client:
        for transport in ("unary", "stream"):
            y = client.doublify(np.ones((3, 3), np.float32), transport=transport)
            y[0, 0] = 5  # no read-only view of a protobuf buffer leaks out


def test_retries_unavailable_until_the_server_comes_up(watch_log) -> None:
    port = free_port()
    started: list[KernelServer] = []

    def start_at_first_retry(line: str) -> None:
        if not started:
            started.append(serve(port))

    retries = watch_log("cuda_kernels.rpc.client", logging.DEBUG, start_at_first_retry)
    try:
        with retries, KernelClient(
            f"127.0.0.1:{port}", retries=20, initial_backoff=0.05, timeout=60
        ) as client:
            assert client.info().backend == "numpy"
        assert "GetInfo: UNAVAILABLE" in retries.lines[0] and len(started) == 1
    finally:
        for server in started:
            server.stop()


def test_gives_up_with_unavailable_when_nobody_listens() -> None:
    client = KernelClient(f"127.0.0.1:{free_port()}", retries=2, initial_backoff=0.01, timeout=5)
    with client, pytest.raises(KernelServiceError) as caught:
        client.info()
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    assert "GetInfo failed with UNAVAILABLE" in str(caught.value)


def test_a_busy_server_is_retried_until_it_has_room(fresh_server, held, watch_log) -> None:
    server = fresh_server(held, max_calls=1)  # one call in flight; the next is "busy"
    a = np.arange(4, dtype=np.float32).reshape(2, 2)

    def open_the_gate_at_the_first_retry(line: str) -> None:
        held.gate.set()  # the first call ends; the retried one finds room

    retries = watch_log("cuda_kernels.rpc.client", logging.DEBUG, open_the_gate_at_the_first_retry)
    with ThreadPoolExecutor(1) as pool, KernelClient(server.address, timeout=60) as first:
        first_result = pool.submit(first.matmul, a, a)
        assert held.entered.acquire(timeout=30)  # the first call holds the server's one slot
        with retries, KernelClient(server.address, retries=20, timeout=60) as client:
            np.testing.assert_array_equal(client.matmul(a, a), a @ a)
        np.testing.assert_array_equal(first_result.result(timeout=30), a @ a)
    assert "MatMul: RESOURCE_EXHAUSTED" in retries.lines[0]
    assert "--max-calls" in retries.lines[0]
    assert held.calls == 2


def test_a_call_too_big_for_the_server_is_not_retried(fresh_server, watch_log) -> None:
    server = fresh_server(memory_budget_mb=1)
    a, b = np.ones((1024, 1), np.float32), np.ones((1, 1024), np.float32)  # a 4 MiB result
    retries = watch_log("cuda_kernels.rpc.client", logging.DEBUG)
    client = KernelClient(server.address, retries=5)
    with retries, client, pytest.raises(KernelServiceError) as caught:
        client.matmul(a, b)
    assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "whole memory budget" in caught.value.details
    assert retries.lines == []  # "too big" is final: asked once, refused once


def test_round_robin_over_two_replicas() -> None:
    backends = [TaggedBackend(), TaggedBackend()]
    servers = [serve(backend=backend) for backend in backends]
    try:
        target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in servers)
        a = np.ones((4, 4), np.float32)
        with KernelClient(target) as client:
            # round robin uses a replica once its connection is ready; pick-first never would
            for _ in range(200):
                np.testing.assert_array_equal(client.matmul(a, a), a @ a)
                if min(b.calls for b in backends) >= 5:
                    break
        assert min(b.calls for b in backends) >= 5, [b.calls for b in backends]
        assert max(b.calls for b in backends) <= 60, [b.calls for b in backends]
    finally:
        for server in servers:
            server.stop()


def test_a_draining_replica_is_skipped_by_retries() -> None:
    backends = [TaggedBackend(), TaggedBackend()]
    servers = [serve(backend=backend) for backend in backends]
    try:
        servers[0].begin_drain()  # answers UNAVAILABLE; the retry lands on the other one
        target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in servers)
        a = np.ones((4, 4), np.float32)
        with KernelClient(target, retries=20, initial_backoff=0.01) as client:
            for _ in range(10):
                np.testing.assert_array_equal(client.matmul(a, a), a @ a)
        assert backends[0].calls == 0 and backends[1].calls == 10
    finally:
        for server in servers:
            server.stop()


def test_deadline_covers_the_whole_call() -> None:
    gate = threading.Event()

    class Held(TaggedBackend):
        def _matmul(self, a, b, kernel):
            gate.wait(timeout=60)  # held until the test ends; the deadline must not wait
            return super()._matmul(a, b, kernel)

    server = serve(backend=Held())
    try:
        with KernelClient(server.address, timeout=0.5) as client:
            with pytest.raises(KernelServiceError) as caught:
                client.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
            assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        gate.set()
        server.stop()


def test_a_reply_of_the_wrong_shape_is_data_loss() -> None:
    class WrongShape(TaggedBackend):
        def _matmul(self, a, b, kernel):
            return np.zeros((1, 1), np.float32)

        def _doublify(self, x):
            return np.zeros((x.shape[1], x.shape[0]), np.float32)

    server = serve(backend=WrongShape())
    a = np.ones((3, 2), np.float32)
    try:
        with KernelClient(server.address, retries=0) as client:
            for transport in ("unary", "stream"):
                calls = (
                    lambda t=transport: client.matmul(a, a.T, transport=t),
                    lambda t=transport: client.doublify(a, transport=t),
                )
                for call in calls:
                    with pytest.raises(KernelServiceError) as caught:
                        call()
                    assert caught.value.code is grpc.StatusCode.DATA_LOSS
                    assert "expected (3," in caught.value.details
    finally:
        server.stop()
