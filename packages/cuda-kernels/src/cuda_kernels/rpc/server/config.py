"""`ServerConfig`: everything `cuda-kernels serve` can set, checked in one place.

Why apart from the server: the command line, the tests and embedding programs build a
config before any gRPC object exists, and `check()` must name a bad setting in words a
user can act on, before the server binds anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cuda_kernels.rpc.protocol.auth import read_token_file
from cuda_kernels.rpc.protocol.tensors import MIB
from cuda_kernels.rpc.server.servicer import Limits


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

    @property
    def bind_address(self) -> str:
        """Where to listen, as gRPC writes it."""
        return host_port(self.host, self.port)


def host_port(host: str, port: int) -> str:
    """`host:port` with an IPv6 host in brackets, as gRPC binds and clients dial it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


__all__ = ["ServerConfig", "default_workers", "host_port", "read_token_file"]
