"""The KernelService server (needs the `serve` extra: grpcio-health-checking,
grpcio-reflection, prometheus-client, threadpoolctl).

- `server.KernelServer`: the asyncio gRPC server around a backend (health, reflection,
  auth, TLS, size caps, drain) behind a synchronous face; `config.ServerConfig` its settings.
- `servicer.KernelServicer`: each RPC, from checked request to backend call to reply;
  `operations.OPERATIONS`: the table of what it serves (one entry per operation).
- `budget.MemoryBudget`: the bytes calls in flight may hold; `workers.KernelWorkers`: the
  threads that run kernel work, and their queue; `pacing`: the idle and rate rules of
  streams.
- `interceptors`: bearer-token auth, and each call's log line and metrics (`metrics`,
  served over HTTP by `metrics_http`); `calls`: that call's record.
- `connections`: gRPC's own limits on connections (idle, age, streams, count) and the
  refusal of oversized metadata.
- `blas`: numpy's BLAS threads pinned while a numpy server runs.
- `serve.serve_until_signalled`: what `cuda-kernels serve` runs.
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
