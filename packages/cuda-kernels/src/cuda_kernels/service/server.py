"""`KernelServer`: the gRPC server around a backend, with health, reflection, auth, TLS,
size caps, and a graceful drain.

Why a class rather than a script: tests and `bench-service` start it in-process on port 0,
and `cuda-kernels serve` wraps it with signal handling; all three share this one setup.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cuda_kernels import __version__
from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.backends import get_backend
from cuda_kernels.backends.base import Backend
from cuda_kernels.service.interceptors import (
    SERVICE_NAME,
    BearerAuthInterceptor,
    LoggingInterceptor,
)
from cuda_kernels.service.servicer import STREAM_MESSAGE_FLOOR, KernelServicer, Limits
from cuda_kernels.service.wire import serialize_stream_message, stream_deserializer

MIB = 1 << 20
_log = logging.getLogger("cuda_kernels.service")


def default_workers() -> int:
    """Threads serving calls: enough for 32 concurrent clients, bounded by the machine."""
    return max(8, min(32, (os.cpu_count() or 1) * 4))


@dataclass(frozen=True)
class ServerConfig:
    """Everything `cuda-kernels serve` can set; `check()` says what is wrong, if anything."""

    host: str = "127.0.0.1"
    port: int = 50051
    backend: str = "auto"
    max_message_mb: float = 64
    max_tensor_mb: float = 1024
    auth_token: str | None = None
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    workers: int = 0  # 0 = default_workers()
    grace_seconds: float = 10.0

    def check(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if not self.host:
            raise ValueError("host is empty; use e.g. --host 127.0.0.1")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range; use 0 (any free) to 65535")
        if self.max_message_mb <= 0 or self.max_tensor_mb <= 0:
            raise ValueError("--max-message-mb and --max-tensor-mb must be positive")
        if self.max_message_mb > 2047:
            raise ValueError("--max-message-mb must be at most 2047 (gRPC's 2 GiB limit)")
        if self.workers < 0:
            raise ValueError(f"--workers must be >= 1 (or 0 for the default), got {self.workers}")
        if self.grace_seconds < 0:
            raise ValueError(f"--grace-seconds must be >= 0, got {self.grace_seconds}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both --tls-cert and --tls-key, or neither")
        if self.auth_token is not None and not self.auth_token:
            raise ValueError("the auth token is empty; put a non-empty token in the file")

    @property
    def limits(self) -> Limits:
        return Limits(
            max_message_bytes=int(self.max_message_mb * MIB),
            max_tensor_bytes=int(self.max_tensor_mb * MIB),
        )


def read_token_file(path: str | Path) -> str:
    """The token in `path`, stripped of surrounding whitespace; ValueError when empty."""
    token = Path(path).read_text().strip()
    if not token:
        raise ValueError(f"the auth token file {path} is empty; write the token into it")
    return token


def kernel_service_handlers(servicer: KernelServicer) -> dict[str, grpc.RpcMethodHandler]:
    """KernelService's method handlers, as the generated `add_..._to_server` makes them,
    except that the streams use the hand-written chunk encoding of `wire`."""

    def unary(behavior, request_type, response_type):
        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=request_type.FromString,
            response_serializer=response_type.SerializeToString,
        )

    def stream(behavior, request_type):
        return grpc.stream_stream_rpc_method_handler(
            behavior,
            request_deserializer=stream_deserializer(request_type),
            response_serializer=serialize_stream_message,
        )

    return {
        "MatMul": unary(servicer.MatMul, pb.MatMulRequest, pb.MatMulResponse),
        "Doublify": unary(servicer.Doublify, pb.DoublifyRequest, pb.DoublifyResponse),
        "GetInfo": unary(servicer.GetInfo, pb.GetInfoRequest, pb.GetInfoResponse),
        "MatMulStream": stream(servicer.MatMulStream, pb.MatMulStreamRequest),
        "DoublifyStream": stream(servicer.DoublifyStream, pb.DoublifyStreamRequest),
    }


def register_kernel_service(servicer: KernelServicer, server: grpc.Server) -> None:
    """Serve KernelService on `server` (replaces the generated add_..._to_server)."""
    handlers = kernel_service_handlers(servicer)
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
        self.draining = threading.Event()
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
        self.servicer = KernelServicer(self.backend, limits, __version__, self.draining)
        register_kernel_service(self.servicer, self._server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )

    @property
    def address(self) -> str:
        """`host:port` as clients should dial it (after `start`)."""
        host = self.config.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def start(self) -> KernelServer:
        """Bind, start serving, and mark health SERVING; returns self."""
        bind = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        bind = f"{bind}:{self.config.port}"
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
            self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        return self

    def begin_drain(self) -> None:
        """Stop taking work: health NOT_SERVING, new KernelService calls UNAVAILABLE.

        Calls already running go on; `drain` then waits for them.
        """
        self.draining.set()
        self.health.enter_graceful_shutdown()

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
        self.draining.set()
        self._server.stop(None).wait()

    def __enter__(self) -> KernelServer:
        return self.start() if self.port is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
