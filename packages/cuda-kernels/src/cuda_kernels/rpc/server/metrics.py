"""`ServerMetrics`: what a KernelServer counts, in Prometheus form, on a registry of its own.

Why a registry per server: tests and programs may run several servers in one process; on
prometheus-client's global registry their metrics would collide (and a second server could
not even register its own). `serve --metrics-port` exposes the registry over HTTP
(`metrics_http`: idle connections closed, connections capped, `/metrics` only).

The metrics (all prefixed `cuda_kernels_`), modelled on what Triton reports:
- `calls_total{method,code}`: finished KernelService calls by status code;
- `call_seconds`, `queue_seconds`, `compute_seconds{method}`: histograms of the whole call,
  of the wait for a worker thread, and of the backend's work;
- `received_bytes_total`, `sent_bytes_total{method}`: tensor payload bytes;
- `calls_in_flight`, `calls_queued`: gauges;
- `memory_budget_held_bytes`, `memory_budget_limit_bytes`: the memory budget;
- `backend_info{backend,device,kernel_build,version}`;
- `gpu_memory_used_bytes`, `gpu_memory_total_bytes`: only for a backend that reports its
  device memory (`memory_info()`, e.g. pycuda); absent for numpy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from cuda_kernels.backends.base import Backend
from cuda_kernels.rpc.server.calls import CallRecord
from cuda_kernels.rpc.server.metrics_http import MetricsHTTPServer, metrics_app

# 0.5 ms (a small unary call) to 60 s (a 1 GiB stream on a busy machine)
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0,
)  # fmt: skip


def device_memory(backend: Backend) -> tuple[int, int] | None:
    """(free, total) bytes of the backend's device, or None when it does not report them."""
    report = getattr(backend, "memory_info", None)
    if report is None:
        return None
    try:
        return report()
    except Exception:  # a device that stopped answering: no figure, not a failed scrape
        return None


class ServerMetrics:
    """The counters, histograms and gauges of one server (see the module docstring)."""

    def __init__(
        self,
        backend: Backend,
        version: str,
        budget_limit: int,
        budget_held: Callable[[], float],
        in_flight: Callable[[], float],
        queued: Callable[[], float],
    ) -> None:
        self.registry = CollectorRegistry()
        ns, registry, method = "cuda_kernels", self.registry, ["method"]
        self.calls = Counter(
            "calls", "KernelService calls finished, by method and status code",
            [*method, "code"], namespace=ns, registry=registry,
        )  # fmt: skip
        self.call_seconds = self._histogram("call_seconds", "Whole call, first byte to last")
        self.queue_seconds = self._histogram("queue_seconds", "Wait for a worker thread")
        self.compute_seconds = self._histogram("compute_seconds", "Backend work alone")
        self.received = Counter(
            "received_bytes", "Tensor bytes received", method, namespace=ns, registry=registry
        )
        self.sent = Counter(
            "sent_bytes", "Tensor bytes sent", method, namespace=ns, registry=registry
        )
        gauges = {
            "calls_in_flight": ("KernelService calls running now", in_flight),
            "calls_queued": ("Calls waiting for a worker thread", queued),
            "memory_budget_held_bytes": ("Bytes reserved by calls in flight", budget_held),
        }
        for name, (text, read) in gauges.items():
            Gauge(name, text, namespace=ns, registry=registry).set_function(read)
        Gauge(
            "memory_budget_limit_bytes", "The memory budget (--memory-budget-mb)",
            namespace=ns, registry=registry,
        ).set(budget_limit)  # fmt: skip
        Info("backend", "Backend and device serving the calls", namespace=ns,
             registry=registry).info({
            "backend": backend.name,
            "device": backend.device,
            "kernel_build": backend.kernel_build,
            "version": version,
        })  # fmt: skip
        if device_memory(backend) is not None:
            self._device_gauges(backend)
        self._http = None
        self._children: dict[str, tuple] = {}

    def _histogram(self, name: str, text: str) -> Histogram:
        return Histogram(
            name, f"{text}, seconds", ["method"], namespace="cuda_kernels",
            registry=self.registry, buckets=LATENCY_BUCKETS,
        )  # fmt: skip

    def _device_gauges(self, backend: Backend) -> None:
        def used() -> float:
            report = device_memory(backend)
            return float("nan") if report is None else report[1] - report[0]

        def total() -> float:
            report = device_memory(backend)
            return float("nan") if report is None else report[1]

        for name, text, read in (
            ("gpu_memory_used_bytes", "Device memory in use (all processes)", used),
            ("gpu_memory_total_bytes", "Device memory in all", total),
        ):
            Gauge(name, text, namespace="cuda_kernels", registry=self.registry).set_function(read)

    def observe(self, record: CallRecord, code: str, seconds: float) -> None:
        """Count one finished call."""
        method = record.rpc
        self.calls.labels(method, code).inc()
        calls, queue, compute, received, sent = self._per_method(method)
        calls.observe(seconds)
        if record.queue_ms is not None:
            queue.observe(record.queue_ms / 1e3)
        if record.compute_ms is not None:
            compute.observe(record.compute_ms / 1e3)
        if record.bytes_in:
            received.inc(record.bytes_in)
        if record.bytes_out:
            sent.inc(record.bytes_out)

    def _per_method(self, method: str) -> tuple:
        """The labelled children of `method`, looked up once (each lookup takes a lock)."""
        children = self._children.get(method)
        if children is None:
            children = tuple(
                metric.labels(method)
                for metric in (self.call_seconds, self.queue_seconds, self.compute_seconds,
                               self.received, self.sent)
            )  # fmt: skip
            self._children[method] = children
        return children

    def serve_http(
        self,
        host: str,
        port: int,
        max_connections: int,
        idle_seconds: float,
        per_second: float,
    ) -> int:
        """Expose `/metrics` on host:port (0: a free port) from a daemon thread, with at
        most `max_connections` at once, each closed after `idle_seconds` of silence, and
        at most `per_second` requests a second (`metrics_http`); the port."""
        try:
            server = MetricsHTTPServer(
                host, port, metrics_app(self.registry), max_connections, idle_seconds,
                per_second,
            ).start()  # fmt: skip
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OSError(f"cannot serve metrics on {host}:{port}: {reason}") from exc
        self._http = server
        return server.server_address[1]

    def close(self) -> None:
        """Stop the HTTP endpoint, if it runs."""
        server, self._http = self._http, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown()
                server.server_close()
