"""The KernelService server (needs the `serve` extra: grpcio-health-checking and
grpcio-reflection).

- `server.KernelServer`: the gRPC server around a backend (health, reflection, auth, TLS,
  size caps, drain); `config.ServerConfig` its settings.
- `servicer.KernelServicer`: each RPC, from checked request to backend call to reply.
- `interceptors`: bearer-token auth and one log line per call; `calls`: that call's record.
- `serve.serve_until_signalled`: what `cuda-kernels serve` runs.
"""

from cuda_kernels.rpc.server.config import ServerConfig, read_token_file
from cuda_kernels.rpc.server.server import KernelServer
from cuda_kernels.rpc.server.servicer import KernelServicer, Limits

__all__ = ["KernelServer", "KernelServicer", "Limits", "ServerConfig", "read_token_file"]
