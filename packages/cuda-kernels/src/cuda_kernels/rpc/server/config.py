"""`ServerConfig`: everything `cuda-kernels serve` can set, checked in one place.

Why apart from the server: the command line, the tests and embedding programs build a
config before any gRPC object exists, and `check()` must name a bad setting in words a
user can act on, before the server binds anything. Every number must be finite: `inf`
and `nan` parse as floats but mean nothing as a size or a duration.

Each setting and its default are stated once, here: every field carries its flag's help
(`cuda_kernels.settings.setting`), and `cuda-kernels serve` has one flag per field.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import partial
from typing import Any

from cuda_kernels.backends import BACKEND_NAMES
from cuda_kernels.rpc.protocol.auth import check_token, is_loopback, read_token_file
from cuda_kernels.rpc.protocol.chunking import DEFAULT_CHUNK_BYTES
from cuda_kernels.rpc.protocol.errors import too_large
from cuda_kernels.rpc.protocol.files import read_regular_file
from cuda_kernels.rpc.protocol.tensors import MIB, nbytes_of
from cuda_kernels.rpc.tls import check_server_credentials
from cuda_kernels.settings import setting

MAX_MESSAGE_MB = 2047  # gRPC's messages stop short of 2 GiB
# Room for everything in a unary message besides the tensor bytes (ids, names, shapes).
UNARY_ENVELOPE_BYTES = 4096
# gRPC's own per-message limit never goes below this, so that ~1 MiB stream chunks pass
# even when --max-message-mb is smaller; the unary cap is then checked by `Limits`.
STREAM_MESSAGE_FLOOR = DEFAULT_CHUNK_BYTES + 64 * 1024
# past this gRPC refuses metadata on its own, without details (`interceptors.MetadataLimit`)
METADATA_HARD_LIMIT = 256 * 1024


# The lower bound of each number `check()` checks, by the name its error gives (a flag, or
# the field of a newer setting): "> 0" or ">= 0" for a finite number, an int for a whole one.
_BOUNDS: dict[str, str | int] = {
    "--max-message-mb": "> 0",
    "--max-tensor-mb": "> 0",
    "--grace-seconds": ">= 0",
    "--idle-seconds": "> 0",
    "--min-stream-kib-per-s": ">= 0",
    "--memory-budget-mb": ">= 0",
    "--budget-wait-seconds": ">= 0",
    "--workers": 0,
    "--max-queued": 0,
    "--blas-threads": 0,
    "--max-calls": 1,
    "connection_idle_seconds": "> 0",
    "connection_age_seconds": ">= 0",
    "connection_age_grace_seconds": "> 0",
    "handshake_seconds": "> 0",
    "streams_per_connection": 1,
    "max_connections": 1,
    "metrics_max_connections": 1,
    "metrics_idle_seconds": "> 0",
    "metrics_per_second": "> 0",
}


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

    host: str = setting("127.0.0.1", "address to bind")
    port: int = setting(50051, "port to bind; 0 picks a free one (printed)")
    backend: str = setting("auto", "where the kernels run", choices=BACKEND_NAMES)
    max_message_mb: float = setting(64, "largest unary message (MiB)")
    max_tensor_mb: float = setting(1024, "largest tensor on any RPC (MiB)")
    auth_token: str | None = setting(
        None, "require 'authorization: Bearer <file content>' on every call",
        flag="--auth-token-file", read=read_token_file,
    )  # fmt: skip
    tls_cert: bytes | None = setting(
        None,
        "PEM certificate chain (with --tls-key): TLS",
        read=partial(read_regular_file, what="the TLS certificate (--tls-cert)"),
    )
    tls_key: bytes | None = setting(
        None,
        "PEM private key (with --tls-cert)",
        read=partial(read_regular_file, what="the TLS key (--tls-key)"),
    )
    workers: int = setting(0, "threads running kernel work; 0: one per core (2 to 32)")
    grace_seconds: float = setting(10.0, "time in-flight calls get at shutdown")
    max_queued: int = setting(
        64, "calls that may wait for a worker; more are refused at once (RESOURCE_EXHAUSTED)"
    )
    max_calls: int = setting(
        1024, "KernelService calls open at once (streams included); a second cap of this "
        "size holds Health.Watch and reflection streams together; more are refused at once",
    )  # fmt: skip
    idle_seconds: float = setting(
        10.0, "a stream that sends (or reads) nothing for this long is ended"
    )
    min_stream_kib_per_s: float = setting(
        64, "after --idle-seconds, a stream slower than this is ended; 0: no floor"
    )
    memory_budget_mb: float = setting(
        0, "MiB that calls in flight may hold together (inputs plus results); 0: a quarter "
        "of the RAM, at most half the GPU memory with pycuda",
    )  # fmt: skip
    budget_wait_seconds: float = setting(
        2.0, "how long a stream waits for room in the memory budget before it is refused"
    )
    blas_threads: int = setting(
        1, "BLAS threads per call for the numpy backend; 0: the library's default"
    )
    metrics_port: int | None = setting(
        None, "serve Prometheus metrics on this port (0 picks a free one, printed)"
    )
    metrics_host: str = setting("127.0.0.1", "address of the metrics endpoint")
    connection_idle_seconds: float = setting(
        300.0, "a connection without calls for this long is closed (GOAWAY)"
    )
    connection_age_seconds: float = setting(
        3600.0, "a connection this old is closed (GOAWAY); 0: connections never age out"
    )
    connection_age_grace_seconds: float = setting(
        300.0, "calls in flight on an aged-out connection get this long to finish"
    )
    streams_per_connection: int = setting(
        100, "calls open at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS)"
    )
    max_connections: int = setting(
        1000, "connections open at once; one more is closed as soon as it is accepted"
    )
    handshake_seconds: float = setting(
        10.0, "a new connection that has not finished its handshake by then is closed"
    )
    metrics_max_connections: int = setting(
        8, "metrics connections open at once; one more gets 503 at once"
    )
    metrics_idle_seconds: float = setting(
        10.0, "a metrics connection that sends nothing for this long is closed"
    )
    metrics_per_second: float = setting(10.0, "metrics requests per second; more get 429 at once")

    def check(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if not self.host:
            raise ValueError("host is empty; use e.g. --host 127.0.0.1")
        _check_port("port", self.port)
        for name, bound in _BOUNDS.items():
            value = getattr(self, name.lstrip("-").replace("-", "_"))
            whole = isinstance(value, int) and not isinstance(value, bool)
            if isinstance(bound, int):
                if not whole or value < bound:
                    raise ValueError(f"{name} must be a whole number >= {bound}, got {value}")
            elif not (whole or isinstance(value, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
            elif bound == "> 0" and value <= 0:
                raise ValueError(f"{name} must be positive (> 0), got {value:g}")
            elif value < 0:
                raise ValueError(f"{name} must be >= 0, got {value:g}")
        if self.max_message_mb > MAX_MESSAGE_MB:
            raise ValueError(
                f"--max-message-mb must be at most {MAX_MESSAGE_MB} (gRPC's 2 GiB limit)"
            )
        if self.metrics_port is not None:
            _check_port("metrics port", self.metrics_port)
            if self.metrics_port and self.metrics_port == self.port:
                raise ValueError(
                    f"--metrics-port {self.metrics_port} is the gRPC port too; pick another"
                )
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
    def grpc_options(self) -> list[tuple[str, Any]]:
        """gRPC's server options for these settings.

        Why gRPC's options: gRPC core already closes idle connections (a GOAWAY, after which
        a client reconnects on its next call), ages them out with a grace period for calls
        in flight, caps concurrent streams per connection (HTTP/2's
        SETTINGS_MAX_CONCURRENT_STREAMS), the connections it accepts (one more is closed at
        once) and the time a new connection may take to say hello. Without them, 2,000 idle
        connections were held as long as their clients liked.
        """
        message_limit = max(self.limits.max_message_bytes, STREAM_MESSAGE_FLOOR)
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", message_limit),
            ("grpc.max_send_message_length", message_limit),
            ("grpc.so_reuseport", 0),  # a busy port is an error, not a silent share
            ("grpc.max_connection_idle_ms", _ms(self.connection_idle_seconds)),
            ("grpc.max_concurrent_streams", self.streams_per_connection),
            ("grpc.max_allowed_incoming_connections", self.max_connections),
            ("grpc.server_handshake_timeout_ms", _ms(self.handshake_seconds)),
            ("grpc.max_metadata_size", METADATA_HARD_LIMIT),
            ("grpc.absolute_max_metadata_size", METADATA_HARD_LIMIT),
        ]
        if self.connection_age_seconds:  # 0: connections never age out
            options += [
                ("grpc.max_connection_age_ms", _ms(self.connection_age_seconds)),
                ("grpc.max_connection_age_grace_ms", _ms(self.connection_age_grace_seconds)),
            ]
        return options

    @property
    def token_in_the_clear(self) -> bool:
        """A token is required but travels unencrypted beyond this machine."""
        return self.auth_token is not None and self.tls_cert is None and not is_loopback(self.host)


@dataclass(frozen=True)
class Limits:
    """The caps a servicer enforces, in bytes (`ServerConfig.limits`; GetInfo reports the
    sizes), and the checks that name the flag to change."""

    max_message_bytes: int
    max_tensor_bytes: int
    idle_seconds: float
    min_stream_bytes_per_s: float
    budget_wait_seconds: float

    def check_unary_request(self, tensor_bytes: int) -> None:
        """The unary cap, from the checked tensor sizes (ByteSize() would cost more than
        parsing the request)."""
        if tensor_bytes + UNARY_ENVELOPE_BYTES > self.max_message_bytes:
            raise too_large(
                f"the request carries {tensor_bytes} bytes of tensors, over this server's "
                f"unary message cap of {self.max_message_bytes} bytes (--max-message-mb); "
                "use the streaming RPC"
            )

    def check_result(self, name: str, shape: tuple[int, ...], streamed: bool) -> None:
        """RESOURCE_EXHAUSTED before computing a result that could not be sent back."""
        nbytes = nbytes_of(shape)
        if nbytes > self.max_tensor_bytes:
            raise too_large(
                f"the result {name} would be {nbytes} bytes, over this server's cap of "
                f"{self.max_tensor_bytes} bytes per tensor (--max-tensor-mb)"
            )
        if not streamed and nbytes + UNARY_ENVELOPE_BYTES > self.max_message_bytes:
            raise too_large(
                f"the result {name} would be {nbytes} bytes, too big for a unary reply "
                f"(cap {self.max_message_bytes} bytes); use the streaming RPC"
            )


def _check_port(what: str, port: int) -> None:
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{what} {port} is out of range; use 0 (any free) to 65535")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def host_port(host: str, port: int) -> str:
    """`host:port` with an IPv6 host in brackets, as gRPC binds and clients dial it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


__all__ = ["Limits", "ServerConfig", "default_workers", "host_port", "read_token_file"]
