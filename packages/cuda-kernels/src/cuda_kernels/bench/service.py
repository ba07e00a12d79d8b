"""`cuda-kernels bench-service`: what the service costs on top of the backend (what it
measures: the command's description, `commands.bench_service`).

The local server is a `cuda-kernels serve` subprocess, so client and server do not share a
GIL; each concurrent client has its own channel on its own thread; every result is
checked against numpy before it is timed.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial

import grpc
import numpy as np

from cuda_kernels import __version__
from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.backends import BACKEND_NAMES, get_backend
from cuda_kernels.bench.report import fixed_width
from cuda_kernels.bench.timing import percentiles, time_wall
from cuda_kernels.rpc.client import KernelClient, KernelServiceError
from cuda_kernels.rpc.protocol.auth import AUTH_METADATA_KEY, bearer_value, read_token_file
from cuda_kernels.rpc.protocol.files import read_regular_file
from cuda_kernels.rpc.protocol.methods import client_methods
from cuda_kernels.rpc.protocol.tensors import MIB
from cuda_kernels.rpc.protocol.wire import ChunkPart
from cuda_kernels.settings import setting

LOCAL_MAX_MESSAGE_MB = 160  # room for the 64 MiB unary calls (one tensor per message)
STREAMS_PER_CHANNEL = 50  # below HTTP/2's usual 100 concurrent streams per connection
GIVE_UP_AFTER = 3  # failed calls in a row while streams stall


@dataclass
class ServiceBenchSettings:
    """What to measure, one `bench-service` flag each; the defaults are the sizes the
    service's targets are set for."""

    target: str | None = setting(
        None, "host:port of a running server; none given: start a local one"
    )
    backend: str = setting("auto", "backend of the local server", choices=BACKEND_NAMES)
    token: str | None = setting(
        None, "bearer token for --target", flag="--token-file", read=read_token_file
    )
    tls_ca: bytes | None = setting(
        None,
        "CA certificate (PEM) for --target",
        read=partial(read_regular_file, what="the CA certificate (--tls-ca)"),
    )
    sizes_mib: tuple[int, ...] = setting((1, 16, 64), "Doublify payload sizes")
    clients: tuple[int, ...] = setting((1, 8, 32), "concurrent MatMul clients")
    matmul_size: int = setting(256, "n of the n×n MatMul")
    calls_per_client: int = setting(200, "timed calls per client", flag="--calls", metavar="N")
    repeats: int = setting(5, "timed calls per payload size")
    blas_threads: int = setting(
        1, "numpy BLAS threads of the local server (0: the library's default)"
    )
    stalled_streams: int = setting(64, "stalled streams held open while health is timed (0: skip)")
    compare_blas: bool = setting(
        True, "skip the local servers with and without BLAS pinning",
        flag="--no-blas-comparison",
    )  # fmt: skip

    def check(self) -> None:
        if self.target is None and (self.token or self.tls_ca):
            raise ValueError("--token-file and --tls-ca apply to --target only")
        if not self.sizes_mib or min(self.sizes_mib) <= 0:
            raise ValueError("--sizes-mib needs positive sizes, e.g. --sizes-mib 1 16 64")
        if not self.clients or min(self.clients) <= 0:
            raise ValueError("--clients needs positive counts, e.g. --clients 1 8 32")
        if self.matmul_size <= 0 or self.calls_per_client <= 0 or self.repeats <= 0:
            raise ValueError("--matmul-size, --calls and --repeats must be positive")
        if self.blas_threads < 0 or self.stalled_streams < 0:
            raise ValueError("--blas-threads and --stalled-streams must be >= 0")


@contextlib.contextmanager
def local_server(backend: str, blas_threads: int) -> Iterator[str]:
    """`cuda-kernels serve --port 0` in a subprocess, stopped on exit; yields its address,
    read from its `listening on` line."""
    command = [
        sys.executable, "-m", "cuda_kernels.cli", "serve", "--host", "127.0.0.1",
        "--port", "0", "--backend", backend, "--max-message-mb", str(LOCAL_MAX_MESSAGE_MB),
        "--grace-seconds", "2", "--blas-threads", str(blas_threads),
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            line = process.stdout.readline()
            if not line.startswith("listening on "):
                raise RuntimeError(f"the local server did not start (it printed {line!r})")
            yield line.split()[2]
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def measure_throughput(client: KernelClient, settings: ServiceBenchSettings, max_message: int):
    """Doublify round trips per size and transport: median seconds and payload GB/s."""
    rows = []
    rng = np.random.default_rng(0)
    for size in settings.sizes_mib:
        x = rng.standard_normal((size * MIB // 4096, 1024), dtype=np.float32)
        for transport in ("unary", "stream"):
            row = {"size_mib": size, "transport": transport}
            rows.append(row)
            if transport == "unary" and x.nbytes + 4096 > max_message:
                row["skipped"] = f"over the server's unary cap of {max_message} bytes"
            else:
                row.update(_time_doublify(client, x, transport, settings.repeats))
    return rows


def _time_doublify(client: KernelClient, x: np.ndarray, transport: str, repeats: int) -> dict:
    y = client.doublify(x, transport=transport)  # warm-up and correctness check
    if not np.array_equal(y, x * np.float32(2)):
        raise RuntimeError(f"Doublify over {transport} returned a wrong result")
    timing = time_wall(lambda _: client.doublify(x, transport=transport), repeats, 0)
    median_s = timing.median_ms / 1e3
    return {
        "median_s": median_s,
        "min_s": timing.min_ms / 1e3,
        "up_gbps": x.nbytes / median_s / 1e9,
        "both_ways_gbps": 2 * x.nbytes / median_s / 1e9,
    }


def measure_latency(target: str, settings: ServiceBenchSettings, n_clients: int) -> dict:
    """p50/p99 of n×n (--matmul-size) MatMul round trips with `n_clients` concurrent clients."""
    n = settings.matmul_size
    a, b = np.random.default_rng(n_clients).standard_normal((2, n, n), dtype=np.float32)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    clients = [
        KernelClient(target, token=settings.token, tls_ca=settings.tls_ca) for _ in range(n_clients)
    ]
    latencies: list[tuple[float, ...]] = [()] * n_clients
    failures: list[BaseException] = []
    barrier = threading.Barrier(n_clients)

    def run(index: int) -> None:
        client = clients[index]
        try:
            if not np.allclose(client.matmul(a, b), expected, rtol=1e-3, atol=1e-3):
                raise RuntimeError("a 256x256 MatMul came back wrong")
            for _ in range(5):
                client.matmul(a, b)
            barrier.wait()
            timing = time_wall(lambda _: client.matmul(a, b), settings.calls_per_client, 0)
            latencies[index] = timing.samples_ms
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    for client in clients:
        client.close()
    if failures:
        raise RuntimeError(f"latency run with {n_clients} clients failed: {failures[0]}")
    flat = [ms for per_client in latencies for ms in per_client]
    return {
        "clients": n_clients,
        "calls": len(flat),
        **percentiles(flat),
        "mean_ms": float(np.mean(flat)),
        "calls_per_s": len(flat) / wall,
    }


def measure_in_process(backend_name: str, settings: ServiceBenchSettings) -> dict:
    """The same matmul on the same backend, called directly (no gRPC), with numpy's BLAS
    threads as the local server sets them."""
    backend = get_backend(backend_name)
    n = settings.matmul_size
    a, b = np.random.default_rng(1).standard_normal((2, n, n), dtype=np.float32)
    unpin = _pin_blas_threads(settings.blas_threads if backend.name == "numpy" else 0)
    try:
        calls = max(settings.calls_per_client, 200)
        timing = time_wall(lambda _: backend.matmul(a, b), calls, warmup=10)
    finally:
        unpin()
    return {"backend": backend.name, **percentiles(timing.samples_ms)}


def _pin_blas_threads(threads: int) -> Callable[[], None]:
    """numpy's BLAS pinned to `threads` (0: unchanged) the way a serving server pins it
    (`rpc.server.blas`), when the 'serve' extra's threadpoolctl is there; returns the unpin."""
    if threads:
        try:
            from cuda_kernels.rpc.server.blas import pin_blas_threads

            return pin_blas_threads(threads)
        except ImportError:  # no server parts here: the baseline runs with the library's threads
            pass
    return lambda: None


def compare_blas_threads(settings: ServiceBenchSettings) -> list[dict]:
    """1-client latency of local numpy servers with numpy's BLAS pinned and not pinned."""
    rows = []
    for threads in (settings.blas_threads or 1, 0):
        with local_server("numpy", threads) as address:
            row = measure_latency(address, settings, 1)
        rows.append({"blas_threads": threads or "library default", **row})
    return rows


def measure_health_under_stall(target: str, settings: ServiceBenchSettings) -> dict:
    """How responsive the server stays while clients hold streams open and send nothing.

    Opens `settings.stalled_streams` MatMulStream calls (each sends a 256x256 header and
    one 4-byte chunk, then waits), then times `Health.Check` round trips and 2x2 MatMul
    round trips while they wait. A server that gives each open stream a thread stops
    answering once the streams outnumber its threads; such calls fail after `timeout_s`
    and are counted, not timed, and the measurement gives up after a few failures in a row.
    """
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # the serve extra

    def channel() -> grpc.Channel:
        if settings.tls_ca is None:
            return grpc.insecure_channel(target)
        credentials = grpc.ssl_channel_credentials(root_certificates=settings.tls_ca)
        return grpc.secure_channel(target, credentials)

    token, stalled = settings.token, settings.stalled_streams
    calls, timeout_s = 200, 2.0  # timed calls of each kind, and each one's limit
    metadata = ((AUTH_METADATA_KEY, bearer_value(token)),) if token else ()
    release = threading.Event()
    channels = [channel() for _ in range(-(-stalled // STREAMS_PER_CHANNEL))]
    opened = []
    try:
        for index in range(stalled):
            sent = threading.Event()
            stream = client_methods(channels[index // STREAMS_PER_CHANNEL])["MatMulStream"]
            call = stream(_stalled_stream(sent, release), timeout=600, metadata=metadata)
            opened.append((call, sent))
        ready = sum(sent.wait(30) for _, sent in opened)
        with (
            channel() as health_channel,
            KernelClient(
                target, token=token, tls_ca=settings.tls_ca, retries=0, timeout=timeout_s
            ) as client,
        ):
            check = health_pb2_grpc.HealthStub(health_channel).Check
            health = _timed_calls(
                lambda t: check(health_pb2.HealthCheckRequest(), timeout=t), calls, timeout_s
            )
            a = np.ones((2, 2), np.float32)
            matmul = _timed_calls(lambda _t: client.matmul(a, a), calls, timeout_s)
    finally:
        release.set()
        for call, _ in opened:
            call.cancel()
        for stalled_channel in channels:
            stalled_channel.close()
    return {"stalled_streams": stalled, "streams_sent": ready, "timeout_s": timeout_s,
            "health": health, "matmul_2x2": matmul}  # fmt: skip


def _stalled_stream(sent: threading.Event, release: threading.Event) -> Iterator:
    tensor = pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=[256, 256])
    yield pb.MatMulStreamRequest(header=pb.MatMulRequest(a=tensor, b=tensor))
    yield ChunkPart(0, b"\0\0\0\0")
    sent.set()  # gRPC asks for the next message once these two have gone out
    release.wait(600)


def _timed_calls(call: Callable[[float], object], count: int, timeout_s: float) -> dict:
    """p50/p99 of `count` calls of `call(timeout)`, and the failures (given up after a few
    in a row)."""
    times_ms: list[float] = []
    failures = in_a_row = 0
    while len(times_ms) + failures < count and in_a_row < GIVE_UP_AFTER:
        start = time.perf_counter()
        try:
            call(timeout_s)
        except (grpc.RpcError, KernelServiceError):
            failures += 1
            in_a_row += 1
            continue
        in_a_row = 0
        times_ms.append((time.perf_counter() - start) * 1e3)
    row = {"attempted": len(times_ms) + failures, "ok": len(times_ms), "failures": failures}
    return {**row, **percentiles(times_ms)} if times_ms else row


def run_benchmark(settings: ServiceBenchSettings) -> dict:
    """All the measurements; returns the JSON-ready results."""
    settings.check()
    load_at_start = list(os.getloadavg())
    with contextlib.ExitStack() as stack:
        target = settings.target or stack.enter_context(
            local_server(settings.backend, settings.blas_threads)
        )
        with KernelClient(
            target,
            token=settings.token,
            tls_ca=settings.tls_ca,
            timeout=300,
            max_message_bytes=LOCAL_MAX_MESSAGE_MB * MIB,
        ) as client:
            info = client.info()
            throughput = measure_throughput(
                client, settings, min(info.max_message_bytes, LOCAL_MAX_MESSAGE_MB * MIB)
            )
        latency = [measure_latency(target, settings, n) for n in settings.clients]
        stall = measure_health_under_stall(target, settings) if settings.stalled_streams else None
    blas = None
    if settings.target is None and info.backend == "numpy" and settings.compare_blas:
        blas = compare_blas_threads(settings)
    try:
        in_process = measure_in_process(info.backend, settings)
    except (RuntimeError, ImportError) as exc:  # a remote GPU server, benchmarked from a CPU
        in_process = {"backend": info.backend, "skipped": str(exc)}
    return {
        "benchmark": "cuda-kernels bench-service",
        "version": __version__,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(load_at_start),
        "server": {
            "target": settings.target or "local subprocess",
            "backend": info.backend,
            "device": info.device,
            "max_message_bytes": info.max_message_bytes,
        },
        "settings": {  # the server's own, and no secret, are left out
            k: v for k, v in asdict(settings).items() if k not in ("target", "token", "tls_ca")
        },
        "throughput": throughput,
        "latency": latency,
        "health_under_stall": stall,
        "blas_threads": blas,
        "in_process": in_process,
        "overhead": _overhead(latency, in_process),
        "targets": {"streamed_64mib_gbps_min": 1.0, "matmul_256_p50_ms_max": 2.0},
    }


def _machine(load_at_start: list[float]) -> dict:
    """Where the numbers came from: what else ran (load) and who chose BLAS's threads."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "blas_threads_env": {
            name: os.environ.get(name, "unset")
            for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        },
        "grpcio": grpc.__version__,
        "numpy": np.__version__,
    }


def _overhead(latency: list[dict], in_process: dict) -> dict | None:
    """What gRPC adds to one call: 1-client remote p50 against the in-process p50."""
    if "p50_ms" not in in_process:
        return None
    one_client = next((row for row in latency if row["clients"] == 1), latency[0])
    return {
        "remote_p50_ms": one_client["p50_ms"],
        "in_process_p50_ms": in_process["p50_ms"],
        "added_ms": one_client["p50_ms"] - in_process["p50_ms"],
        "ratio": one_client["p50_ms"] / in_process["p50_ms"],
    }


def format_table(results: dict) -> str:
    """The printed summary of `run_benchmark`'s results."""
    blas = ", ".join(f"{k}={v}" for k, v in results["machine"]["blas_threads_env"].items())
    n = results["settings"]["matmul_size"]
    lines = [
        f"server: {results['server']['backend']} on {results['server']['device']} ({blas})",
        "",
        "Doublify payload throughput (x up, 2x down; GB/s = 1e9 bytes/s)",
        *fixed_width(
            [("size MiB", ">8"), ("transport", ">9"), ("median ms", ">10.1f"),
             ("up GB/s", ">8.2f"), ("both GB/s", ">10.2f")],
            ([r["size_mib"], r["transport"], *_throughput_cells(r)]
             for r in results["throughput"]),
        ),
        "",
        f"MatMul {n}x{n} round trips (unary)",
        *fixed_width(
            [("clients", ">8"), ("calls", ">6"), ("p50 ms", ">8.3f"), ("p99 ms", ">8.3f"),
             ("calls/s", ">9.0f")],
            ([r[k] for k in ("clients", "calls", "p50_ms", "p99_ms", "calls_per_s")]
             for r in results["latency"]),
        ),
    ]  # fmt: skip
    stall = results.get("health_under_stall")
    if stall:
        lines += [
            "",
            f"While {stall['stalled_streams']} streams are stalled "
            f"(each call's timeout {stall['timeout_s']:g} s)",
            *fixed_width(
                [("call", ">12"), ("ok", ">5"), ("failed", ">7"), ("p50 ms", ">8.3f"),
                 ("p99 ms", ">8.3f")],
                ([name, stall[name]["ok"], stall[name]["failures"], stall[name].get("p50_ms"),
                  stall[name].get("p99_ms")] for name in ("health", "matmul_2x2")),
            ),
        ]  # fmt: skip
    if results.get("blas_threads"):
        lines += [
            "",
            f"1 client, {n}x{n} MatMul, by numpy's BLAS threads in the server",
            *fixed_width(
                [("BLAS threads", ">16"), ("p50 ms", ">8.3f"), ("p99 ms", ">8.3f")],
                ([str(r["blas_threads"]), r["p50_ms"], r["p99_ms"]]
                 for r in results["blas_threads"]),
            ),
        ]  # fmt: skip
    in_process, overhead = results["in_process"], results["overhead"]
    if "skipped" in in_process:
        lines.append(f"\nin-process baseline skipped: {in_process['skipped']}")
    else:
        lines.append(
            f"\nin-process {in_process['backend']} matmul p50 {in_process['p50_ms']:.3f} ms; "
            f"over gRPC (1 client) p50 {overhead['remote_p50_ms']:.3f} ms: "
            f"+{overhead['added_ms']:.3f} ms ({overhead['ratio']:.1f}x)"
        )
    return "\n".join(lines)


def _throughput_cells(row: dict) -> list:
    if "skipped" in row:
        return [None, None, None, f"  skipped: {row['skipped']}"]
    return [row["median_s"] * 1e3, row["up_gbps"], row["both_ways_gbps"]]
