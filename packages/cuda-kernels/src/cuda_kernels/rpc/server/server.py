"""`KernelServer`: the gRPC server around a backend, with health, reflection, auth, TLS,
size caps, and a graceful drain.

Why a class rather than a script: tests and programs embed it on port 0, and
`cuda-kernels serve` (`serve.serve_until_signalled`) wraps it with signal handling; all
share this one setup. Its public face is small on purpose, so that another gRPC runtime
can take its place: `KernelServer(config).start()`, `.address`, `.port`, `.backend`,
`.begin_drain()`, `.drain()`, `.stop()`, and use as a context manager.
"""

from __future__ import annotations

import logging
import socket
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cuda_kernels import __version__
from cuda_kernels.backends import get_backend
from cuda_kernels.backends.base import Backend
from cuda_kernels.rpc.protocol.methods import SERVICE_NAME, method_handlers
from cuda_kernels.rpc.server.config import ServerConfig, default_workers, host_port
from cuda_kernels.rpc.server.interceptors import BearerAuthInterceptor, LoggingInterceptor
from cuda_kernels.rpc.server.servicer import STREAM_MESSAGE_FLOOR, KernelServicer

_log = logging.getLogger("cuda_kernels.service")


def _register(servicer: KernelServicer, server: grpc.Server) -> None:
    """Serve KernelService on `server`, with the handlers and codecs of `protocol.methods`."""
    handlers = method_handlers(servicer)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    if hasattr(server, "add_registered_method_handlers"):  # grpcio >= 1.62: faster dispatch
        server.add_registered_method_handlers(SERVICE_NAME, handlers)


def _probe_bind(host: str, port: int) -> None:
    """Raise OSError with a plain sentence when (host, port) cannot be bound.

    gRPC reports a failed bind only after printing its own log line; checking first keeps
    `cuda-kernels serve` to one line of error output in the common cases (busy port,
    unknown host). Port 0 always binds.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(f"cannot listen on {host}:{port}: {reason}") from exc


class KernelServer:
    """A started-on-demand gRPC server for KernelService on one backend."""

    def __init__(self, config: ServerConfig, backend: Backend | None = None) -> None:
        config.check()
        self.config = config
        self.backend = backend if backend is not None else get_backend(config.backend)
        self._draining = threading.Event()
        self.port: int | None = None
        limits = config.limits
        message_limit = max(limits.max_message_bytes, STREAM_MESSAGE_FLOOR)
        options = [
            ("grpc.max_receive_message_length", message_limit),
            ("grpc.max_send_message_length", message_limit),
            ("grpc.so_reuseport", 0),  # a busy port is an error, not a silent share
        ]
        interceptors: list[grpc.ServerInterceptor] = [LoggingInterceptor()]
        if config.auth_token is not None:
            interceptors.append(BearerAuthInterceptor(config.auth_token))
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=config.workers or default_workers(),
                thread_name_prefix="kernel-rpc",
            ),
            interceptors=interceptors,
            options=options,
        )
        _register(KernelServicer(self.backend, limits, __version__, self._draining), self._server)
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )

    @property
    def address(self) -> str:
        """`host:port` as clients should dial it (after `start`)."""
        return host_port(self.config.host, self.port or 0)

    def start(self) -> KernelServer:
        """Bind, start serving, and mark health SERVING; returns self."""
        bind = self.config.bind_address
        _probe_bind(self.config.host, self.config.port)
        try:
            if self.config.tls_cert is not None:
                credentials = grpc.ssl_server_credentials(
                    [(self.config.tls_key, self.config.tls_cert)]
                )
                port = self._server.add_secure_port(bind, credentials)
            else:
                port = self._server.add_insecure_port(bind)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {bind}: {exc} (port in use?)") from exc
        if port == 0:
            raise OSError(f"cannot listen on {bind}: the port is in use or the host is wrong")
        self.port = port
        self._server.start()
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        return self

    def begin_drain(self) -> None:
        """Stop taking work: health NOT_SERVING, new KernelService calls UNAVAILABLE.

        Calls already running go on; `drain` then waits for them.
        """
        self._draining.set()
        self._health.enter_graceful_shutdown()

    def drain(self, grace_seconds: float | None = None) -> None:
        """Graceful stop: `begin_drain`, then in-flight calls get `grace_seconds` (default:
        the config's) to finish before the server stops and cancels what is left."""
        grace = self.config.grace_seconds if grace_seconds is None else grace_seconds
        self.begin_drain()
        _log.info("draining: no new calls; in-flight calls get %.1f s", grace)
        self._server.stop(grace).wait()
        _log.info("stopped")

    def stop(self) -> None:
        """Stop at once, cancelling calls in flight."""
        self._draining.set()
        self._server.stop(None).wait()

    def __enter__(self) -> KernelServer:
        return self.start() if self.port is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
