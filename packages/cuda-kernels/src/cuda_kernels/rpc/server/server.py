"""`KernelServer`: the gRPC server around a backend, with health, reflection, auth, TLS,
size caps, a memory budget, metrics and a graceful drain.

Why asyncio (`grpc.aio`) behind a synchronous face: with a thread per call, eight clients
that opened streams and went quiet held all eight threads, and health checks queued behind
them. Under asyncio a waiting client costs a coroutine, not a thread; kernel work runs on a
bounded pool (`workers.KernelWorkers`). The event loop runs on a background thread, so
tests, `bench-service`, the trainer's embedded server and `cuda-kernels serve` keep the
same calls: `KernelServer(config).start()`, `.address`, `.port`, `.backend`,
`.begin_drain()`, `.drain()`, `.stop()`, and use as a context manager.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cuda_kernels import __version__
from cuda_kernels.backends import get_backend
from cuda_kernels.backends.base import Backend
from cuda_kernels.rpc.protocol.methods import SERVICE_NAME, method_handlers
from cuda_kernels.rpc.protocol.tensors import MIB
from cuda_kernels.rpc.server.blas import pin_blas_threads
from cuda_kernels.rpc.server.budget import MemoryBudget, default_budget_bytes
from cuda_kernels.rpc.server.calls import OpenCalls
from cuda_kernels.rpc.server.config import ServerConfig, default_workers, host_port
from cuda_kernels.rpc.server.interceptors import MetadataLimit, OpenStreamsLimit, guard
from cuda_kernels.rpc.server.metrics import ServerMetrics, device_memory
from cuda_kernels.rpc.server.servicer import KernelServicer
from cuda_kernels.rpc.server.workers import KernelWorkers

_log = logging.getLogger(__name__)
T = TypeVar("T")


def _probe_bind(host: str, port: int) -> None:
    """Raise OSError with a plain sentence when (host, port) cannot be bound.

    gRPC reports a failed bind only after printing its own log line; checking first keeps
    `cuda-kernels serve` to one line of error output in the common cases (busy port,
    unknown host). Port 0 always binds.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(f"cannot listen on {host}:{port}: {reason}") from exc


def _budget_bytes(config: ServerConfig, backend: Backend) -> int:
    if config.memory_budget_mb:
        return max(1, int(config.memory_budget_mb * MIB))
    reported = device_memory(backend)
    return default_budget_bytes(reported[1] if reported else None)


class KernelServer:
    """A started-on-demand gRPC server for KernelService on one backend."""

    def __init__(self, config: ServerConfig, backend: Backend | None = None) -> None:
        config.check()
        self.config = config
        self.backend = backend if backend is not None else get_backend(config.backend)
        self.port: int | None = None
        self.metrics_port: int | None = None
        self.budget = MemoryBudget(_budget_bytes(config, self.backend))
        self.workers = KernelWorkers(config.workers or default_workers(), config.max_queued)
        advice = "retry later or use another replica"
        self._in_flight = OpenCalls(config.max_calls, "calls in flight", advice)
        self.metrics = ServerMetrics(
            self.backend, __version__, self.budget, self._in_flight, self.workers
        )
        self._draining = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: grpc.aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None
        self._stop_now: asyncio.Event | None = None
        self._unpin_blas: Callable[[], None] | None = None
        self._lifecycle = threading.RLock()

    @property
    def address(self) -> str:
        """`host:port` as clients should dial it (after `start`)."""
        return host_port(self.config.host, self.port or 0)

    # --- starting -----------------------------------------------------------------------

    def start(self) -> KernelServer:
        """Bind, start serving, and mark health SERVING; returns self."""
        with self._lifecycle:
            if self._loop is not None:
                raise RuntimeError("this KernelServer was started already; make a new one")
            _probe_bind(self.config.host, self.config.port)
            if self.backend.name == "numpy" and self.config.blas_threads:
                self._unpin_blas = pin_blas_threads(self.config.blas_threads)
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="kernel-rpc-loop", daemon=True
            )
            self._thread.start()
            try:
                self.port = self._on_loop(self._start())
                if self.config.metrics_port is not None:
                    self.metrics_port = self.metrics.serve_http(self.config)
            except BaseException:
                self._shut_down()
                raise
        if self.config.token_in_the_clear:
            _log.warning(
                "the auth token travels in plaintext: %s is reachable from other machines "
                "and TLS is off; anyone on the path can read the token (use --tls-cert and "
                "--tls-key, or --host 127.0.0.1)",
                self.config.host,
            )
        return self

    async def _start(self) -> int:
        config = self.config
        interceptors = [MetadataLimit(), OpenStreamsLimit(config.max_calls)]
        server = grpc.aio.server(interceptors=interceptors, options=config.grpc_options)
        servicer = KernelServicer(
            self.backend, config.limits, __version__, self._draining, self.budget, self.workers
        )
        behaviors = guard(servicer.behaviors(), self.metrics, self._in_flight, config.auth_token)
        # the codecs of `protocol.methods`, registered once
        server.add_registered_method_handlers(SERVICE_NAME, method_handlers(behaviors))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        bind = host_port(config.host, config.port)
        try:
            if config.tls_cert is not None:
                credentials = grpc.ssl_server_credentials([(config.tls_key, config.tls_cert)])
                port = server.add_secure_port(bind, credentials)
            else:
                port = server.add_insecure_port(bind)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {bind}: {exc} (port in use?)") from exc
        self._server, self._stop_now = server, asyncio.Event()
        await server.start()
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        return port

    # --- stopping -----------------------------------------------------------------------

    def begin_drain(self) -> None:
        """Stop taking work: health NOT_SERVING, new KernelService calls UNAVAILABLE.

        Calls already running go on; `drain` then waits for them.
        """
        self._draining.set()
        if self._health is not None and self._loop is not None and self._loop.is_running():
            self._on_loop(self._health.enter_graceful_shutdown())

    def drain(self, grace_seconds: float | None = None) -> None:
        """Graceful stop: `begin_drain`, then in-flight calls get `grace_seconds` (default:
        the config's) to finish, while health keeps answering NOT_SERVING; then the server
        stops and cancels what is left. `stop()` from another thread ends the wait."""
        grace = self.config.grace_seconds if grace_seconds is None else grace_seconds
        self.begin_drain()
        _log.info(
            "draining: no new calls; %d call(s) in flight get %.1f s",
            self._in_flight.count, grace,
        )  # fmt: skip
        if self._loop is not None and self._loop.is_running():
            self._on_loop(self._wait_for_calls(grace))
        self._shut_down()
        _log.info("stopped")

    async def _wait_for_calls(self, grace: float) -> None:
        idle = asyncio.ensure_future(self._in_flight.wait_idle())
        stop_now = asyncio.ensure_future(self._stop_now.wait())
        _, pending = await asyncio.wait({idle, stop_now}, timeout=grace,
                                        return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        for task in pending:
            task.cancel()
        if stop_now.done() and not idle.done():
            _log.warning("stopping now: %d call(s) in flight cancelled", self._in_flight.count)

    def stop(self) -> None:
        """Stop at once, cancelling calls in flight (and ending a drain in progress)."""
        self._draining.set()
        loop = self._loop
        if loop is not None and loop.is_running() and self._stop_now is not None:
            loop.call_soon_threadsafe(self._stop_now.set)
        self._shut_down()

    def _shut_down(self) -> None:
        """Stop gRPC, the workers, the metrics endpoint and the event loop (once)."""
        with self._lifecycle:
            loop, thread = self._loop, self._thread
            try:
                if loop is not None and thread is not None and loop.is_running():
                    if self._server is not None:
                        self._on_loop(self._server.stop(None))
                        self._server = None
                    self.workers.shutdown()
                    self.metrics.close()
                    self._on_loop(_cancel_other_tasks())  # e.g. a drain's wait: it ends now
                    loop.call_soon_threadsafe(loop.stop)
                    thread.join()
                    loop.close()
            finally:
                if self._unpin_blas is not None:
                    self._unpin_blas()
                    self._unpin_blas = None

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T | None:
        """Run `coroutine` on the server's event loop and wait for its result (None when a
        stop cancelled it)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("KernelServer's methods cannot be called from its own loop")
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
        except concurrent.futures.CancelledError:
            return None

    def __enter__(self) -> KernelServer:
        return self.start() if self.port is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _cancel_other_tasks() -> None:
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
