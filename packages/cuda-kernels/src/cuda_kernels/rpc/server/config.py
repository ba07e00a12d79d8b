"""`ServerConfig`: everything `cuda-kernels serve` can set, checked in one place.

Why apart from the server: the command line, the tests and embedding programs build a
config before any gRPC object exists, and `check()` must name a bad setting in words a
user can act on, before the server binds anything. Every number must be finite: `inf`
and `nan` parse as floats but mean nothing as a size or a duration.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from cuda_kernels.rpc.protocol.auth import check_token, is_loopback, read_token_file
from cuda_kernels.rpc.protocol.tensors import MIB
from cuda_kernels.rpc.server.servicer import Limits
from cuda_kernels.rpc.tls import check_server_credentials

MAX_MESSAGE_MB = 2047  # gRPC's messages stop short of 2 GiB


def default_workers() -> int:
    """Threads running kernel work: one per core (2 at least, 32 at most). Waiting clients
    cost no thread, so more threads than cores would only make calls share the cores."""
    return max(2, min(32, os.cpu_count() or 1))


@dataclass(frozen=True)
class ServerConfig:
    """Everything `cuda-kernels serve` can set; `check()` says what is wrong, if anything.

    Sizes are MiB, durations seconds; 0 for `workers` and `memory_budget_mb` means the
    default (`default_workers()`, `budget.default_budget_bytes()`); `blas_threads` 0 leaves
    the BLAS library's own thread count; `metrics_port` None serves no metrics.
    """

    host: str = "127.0.0.1"
    port: int = 50051
    backend: str = "auto"
    max_message_mb: float = 64
    max_tensor_mb: float = 1024
    auth_token: str | None = None
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    workers: int = 0
    grace_seconds: float = 10.0
    max_queued: int = 64
    max_calls: int = 1024
    idle_seconds: float = 10.0
    min_stream_kib_per_s: float = 64
    memory_budget_mb: float = 0
    budget_wait_seconds: float = 2.0
    blas_threads: int = 1
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # connections (gRPC's own options, `connections.connection_options`); no flags
    connection_idle_seconds: float = 300.0  # a connection without calls is closed (GOAWAY)
    connection_age_seconds: float = 3600.0  # then GOAWAY; 0: connections never age out
    connection_age_grace_seconds: float = 300.0  # calls in flight get this long after it
    streams_per_connection: int = 100  # HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
    max_connections: int = 1000  # one more is closed as soon as it is accepted
    handshake_seconds: float = 10.0  # a new connection that has not said hello is closed
    metrics_max_connections: int = 8  # one more gets 503 at once
    metrics_idle_seconds: float = 10.0  # a metrics connection that sends nothing is closed
    metrics_per_second: float = 10.0  # metrics requests a second; more get 429 at once

    def check(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if not self.host:
            raise ValueError("host is empty; use e.g. --host 127.0.0.1")
        _check_port("port", self.port)
        _check_number("--max-message-mb", self.max_message_mb, positive=True)
        _check_number("--max-tensor-mb", self.max_tensor_mb, positive=True)
        if self.max_message_mb > MAX_MESSAGE_MB:
            raise ValueError(f"--max-message-mb must be at most {MAX_MESSAGE_MB} (gRPC's 2 GiB "
                             "limit)")  # fmt: skip
        _check_number("--grace-seconds", self.grace_seconds)
        _check_number("--idle-seconds", self.idle_seconds, positive=True)
        _check_number("--min-stream-kib-per-s", self.min_stream_kib_per_s)
        _check_number("--memory-budget-mb", self.memory_budget_mb)
        _check_number("--budget-wait-seconds", self.budget_wait_seconds)
        for flag, value in (("--workers", self.workers), ("--max-queued", self.max_queued),
                            ("--blas-threads", self.blas_threads)):  # fmt: skip
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{flag} must be a whole number >= 0, got {value}")
        if not isinstance(self.max_calls, int) or self.max_calls < 1:
            raise ValueError(f"--max-calls must be a whole number >= 1, got {self.max_calls}")
        for name in ("connection_idle_seconds", "connection_age_grace_seconds",
                     "handshake_seconds", "metrics_idle_seconds",
                     "metrics_per_second"):  # fmt: skip
            _check_number(name, getattr(self, name), positive=True)
        _check_number("connection_age_seconds", self.connection_age_seconds)
        for name in ("streams_per_connection", "max_connections", "metrics_max_connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value}")
        if self.metrics_port is not None:
            _check_port("metrics port", self.metrics_port)
            if self.metrics_port and self.metrics_port == self.port:
                raise ValueError(f"--metrics-port {self.metrics_port} is the gRPC port too; "
                                 "pick another")  # fmt: skip
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both --tls-cert and --tls-key, or neither")
        if self.tls_cert is not None:
            check_server_credentials(self.tls_cert, self.tls_key)
        if self.auth_token is not None:
            check_token(self.auth_token)

    @property
    def limits(self) -> Limits:
        return Limits(
            max_message_bytes=int(self.max_message_mb * MIB),
            max_tensor_bytes=int(self.max_tensor_mb * MIB),
            idle_seconds=self.idle_seconds,
            min_stream_bytes_per_s=self.min_stream_kib_per_s * 1024,
            budget_wait_seconds=self.budget_wait_seconds,
        )

    @property
    def bind_address(self) -> str:
        """Where to listen, as gRPC writes it."""
        return host_port(self.host, self.port)

    @property
    def token_in_the_clear(self) -> bool:
        """A token is required but travels unencrypted beyond this machine."""
        return self.auth_token is not None and self.tls_cert is None and not is_loopback(
            self.host
        )


def _check_number(flag: str, value: float, positive: bool = False) -> None:
    """ValueError unless `value` is a finite number >= 0 (> 0 when `positive`)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{flag} must be a finite number, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{flag} must be positive (> 0), got {value:g}")
    if value < 0:
        raise ValueError(f"{flag} must be >= 0, got {value:g}")


def _check_port(what: str, port: int) -> None:
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{what} {port} is out of range; use 0 (any free) to 65535")


def host_port(host: str, port: int) -> str:
    """`host:port` with an IPv6 host in brackets, as gRPC binds and clients dial it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


__all__ = ["ServerConfig", "default_workers", "host_port", "read_token_file"]
