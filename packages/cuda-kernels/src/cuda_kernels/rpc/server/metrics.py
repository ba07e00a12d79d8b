"""`ServerMetrics`: what a KernelServer counts, in Prometheus form, on a registry of its own.

Why a registry per server: tests and programs may run several servers in one process; on
prometheus-client's global registry their metrics would collide (and a second server could
not even register its own). `serve --metrics-port` exposes the registry over HTTP
(`metrics_http`: idle connections closed, connections capped, `/metrics` only).

The metrics, modelled on what Triton reports, are listed in the package README (Metrics);
the GPU memory gauges exist only for a backend that reports it (`memory_info()`).
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from cuda_kernels.backends.base import Backend
from cuda_kernels.rpc.server.calls import CallRecord, OpenCalls
from cuda_kernels.rpc.server.metrics_http import MetricsHTTPServer

if TYPE_CHECKING:
    from cuda_kernels.rpc.server.budget import MemoryBudget
    from cuda_kernels.rpc.server.config import ServerConfig
    from cuda_kernels.rpc.server.workers import KernelWorkers

# 0.5 ms (a small unary call) to 60 s (a 1 GiB stream on a busy machine)
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0,
)  # fmt: skip


def device_memory(backend: Backend) -> tuple[int, int] | None:
    """(free, total) bytes of the backend's device, or None when it does not report them."""
    try:
        return backend.memory_info()
    except Exception:  # a device that stopped answering: no figure, not a failed scrape
        return None


class ServerMetrics:
    """The counters, histograms and gauges of one server."""

    def __init__(
        self,
        backend: Backend,
        version: str,
        budget: MemoryBudget,
        in_flight: OpenCalls,
        workers: KernelWorkers,
    ) -> None:
        self.registry = CollectorRegistry()
        named = {"namespace": "cuda_kernels", "registry": self.registry}
        self.calls = Counter(
            "calls", "KernelService calls finished, by method and status code",
            ["method", "code"], **named,
        )  # fmt: skip
        # labelled by method, in the order `observe` feeds them
        self._by_method = (
            *(
                Histogram(name, f"{text}, seconds", ["method"], buckets=LATENCY_BUCKETS, **named)
                for name, text in (
                    ("call_seconds", "Whole call, first byte to last"),
                    ("queue_seconds", "Wait for a worker thread"),
                    ("compute_seconds", "Backend work alone"),
                )
            ),
            Counter("received_bytes", "Tensor bytes received", ["method"], **named),
            Counter("sent_bytes", "Tensor bytes sent", ["method"], **named),
        )
        self._children: dict[str, tuple] = {}  # each `labels` lookup takes a lock: once
        gauges = {
            "calls_in_flight": ("KernelService calls running now", lambda: in_flight.count),
            "calls_queued": ("Calls waiting for a worker thread", lambda: workers.waiting),
            "memory_budget_held_bytes": ("Bytes reserved by calls in flight", lambda: budget.held),
            "memory_budget_limit_bytes": (
                "The memory budget (--memory-budget-mb)",
                lambda: budget.limit,
            ),
        }
        if device_memory(backend) is not None:
            gauges["gpu_memory_used_bytes"] = (
                "Device memory in use (all processes)",
                partial(_device_bytes, backend, used=True),
            )
            gauges["gpu_memory_total_bytes"] = (
                "Device memory in all",
                partial(_device_bytes, backend, used=False),
            )
        for name, (text, read) in gauges.items():
            Gauge(name, text, **named).set_function(read)
        Info("backend", "Backend and device serving the calls", **named).info(
            {
                "backend": backend.name,
                "device": backend.device,
                "kernel_build": backend.kernel_build,
                "version": version,
            }
        )
        self._http: MetricsHTTPServer | None = None

    def observe(self, record: CallRecord, code: str, seconds: float) -> None:
        method = record.rpc
        self.calls.labels(method, code).inc()
        children = self._children.get(method)
        if children is None:
            children = self._children[method] = tuple(m.labels(method) for m in self._by_method)
        calls, queue, compute, received, sent = children
        calls.observe(seconds)
        if record.queue_ms is not None:
            queue.observe(record.queue_ms / 1e3)
        if record.compute_ms is not None:
            compute.observe(record.compute_ms / 1e3)
        received.inc(record.bytes_in)
        sent.inc(record.bytes_out)

    def serve_http(self, config: ServerConfig) -> int:
        """Expose `/metrics` on the config's metrics host and port (0: a free port) from a
        daemon thread, with its caps on connections, silence and requests a second
        (`metrics_http`); the port."""
        host, port = config.metrics_host, config.metrics_port
        try:
            server = MetricsHTTPServer(config, self.registry).start()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OSError(f"cannot serve metrics on {host}:{port}: {reason}") from exc
        self._http = server
        return server.server_address[1]

    def close(self) -> None:
        server, self._http = self._http, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown()
                server.server_close()


def _device_bytes(backend: Backend, used: bool) -> float:
    """Bytes of the device's memory in use (or in all); NaN when it stopped answering."""
    report = device_memory(backend)
    if report is None:
        return float("nan")
    free, total = report
    return total - free if used else total
