"""How responsive a server stays while clients hold streams open and send nothing.

Opens `stalled` MatMulStream calls (each sends a 256x256 header and one 4-byte chunk, then
waits), then times `Health.Check` round trips and 2x2 MatMul round trips while they wait.
A server that gives each open stream a thread stops answering once the streams outnumber
its threads; such calls fail after `timeout_s` and are counted, not timed, and the
measurement gives up after a few failures in a row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.bench.timing import percentiles
from cuda_kernels.rpc.client import KernelClient, KernelServiceError
from cuda_kernels.rpc.protocol.auth import AUTH_METADATA_KEY, bearer_value
from cuda_kernels.rpc.protocol.methods import client_methods
from cuda_kernels.rpc.protocol.wire import ChunkPart

STREAMS_PER_CHANNEL = 50  # below HTTP/2's usual 100 concurrent streams per connection
GIVE_UP_AFTER = 3  # failures in a row


def _stalled_stream(sent: threading.Event, release: threading.Event) -> Iterator:
    tensor = pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=[256, 256])
    yield pb.MatMulStreamRequest(header=pb.MatMulRequest(a=tensor, b=tensor))
    yield ChunkPart(0, b"\0\0\0\0")
    sent.set()  # gRPC asks for the next message once these two have gone out
    release.wait(600)


def _timed_calls(call, count: int, timeout_s: float) -> dict:
    """p50/p99 of `count` calls of `call(timeout)`, and the failures (given up after a few
    in a row)."""
    times: list[float] = []
    failures = in_a_row = 0
    for _ in range(count):
        start = time.perf_counter()
        try:
            call(timeout_s)
        except (grpc.RpcError, KernelServiceError):
            failures += 1
            in_a_row += 1
            if in_a_row >= GIVE_UP_AFTER:
                break
            continue
        in_a_row = 0
        times.append(time.perf_counter() - start)
    row = {"attempted": len(times) + failures, "ok": len(times), "failures": failures}
    return {**row, **percentiles(times)} if times else row


def measure_health_under_stall(
    target: str,
    stalled: int = 64,
    calls: int = 200,
    timeout_s: float = 2.0,
    token: str | None = None,
    tls_ca: bytes | None = None,
) -> dict:
    """Health.Check and 2x2 MatMul latency while `stalled` streams wait (see module doc)."""
    if tls_ca is None:
        make_channel = grpc.insecure_channel
    else:
        credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca)

        def make_channel(address: str) -> grpc.Channel:
            return grpc.secure_channel(address, credentials)

    metadata = ((AUTH_METADATA_KEY, bearer_value(token)),) if token else ()
    release = threading.Event()
    channels = [make_channel(target) for _ in range(-(-stalled // STREAMS_PER_CHANNEL))]
    opened = []
    try:
        for index in range(stalled):
            sent = threading.Event()
            stream = client_methods(channels[index // STREAMS_PER_CHANNEL])["MatMulStream"]
            call = stream(_stalled_stream(sent, release), timeout=600, metadata=metadata)
            opened.append((call, sent))
        ready = sum(sent.wait(30) for _, sent in opened)
        with make_channel(target) as channel, KernelClient(
            target, token=token, tls_ca=tls_ca, retries=0, timeout=timeout_s
        ) as client:
            check = health_pb2_grpc.HealthStub(channel).Check
            health = _timed_calls(
                lambda t: check(health_pb2.HealthCheckRequest(), timeout=t), calls, timeout_s
            )
            a = np.ones((2, 2), np.float32)
            matmul = _timed_calls(lambda _t: client.matmul(a, a), calls, timeout_s)
    finally:
        release.set()
        for call, _ in opened:
            call.cancel()
        for channel in channels:
            channel.close()
    return {"stalled_streams": stalled, "streams_sent": ready, "timeout_s": timeout_s,
            "health": health, "matmul_2x2": matmul}  # fmt: skip
