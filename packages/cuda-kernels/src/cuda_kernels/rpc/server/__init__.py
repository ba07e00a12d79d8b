"""The KernelService server (needs the `serve` extra: grpcio-health-checking,
grpcio-reflection, prometheus-client, threadpoolctl): `server.KernelServer` and its
`config.ServerConfig`; the package README lists the other modules, each says its part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cuda_kernels.rpc.server.config import Limits, ServerConfig, read_token_file
from cuda_kernels.rpc.server.servicer import KernelServicer

if TYPE_CHECKING:
    from cuda_kernels.rpc.server.server import KernelServer


def __getattr__(name: str) -> object:
    """`KernelServer`, imported on first use. Only `server` needs the `serve` extra (health,
    reflection, metrics), so the rest of this package imports on the core install, and
    `cuda-kernels serve` builds its flags from `ServerConfig` even without the extra."""
    if name == "KernelServer":
        from cuda_kernels.rpc.server.server import KernelServer

        return KernelServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["KernelServer", "KernelServicer", "Limits", "ServerConfig", "read_token_file"]
