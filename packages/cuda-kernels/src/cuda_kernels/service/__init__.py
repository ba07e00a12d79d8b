"""The gRPC KernelService (proto/cuda_kernels/v1/kernels.proto): server side.

`KernelServer(ServerConfig(...)).start()` serves a backend; `cuda-kernels serve` is its
command line; `cuda_kernels.client.KernelClient` is the client.
"""

from cuda_kernels.service.server import KernelServer, ServerConfig, read_token_file
from cuda_kernels.service.servicer import KernelServicer, Limits

__all__ = ["KernelServer", "KernelServicer", "Limits", "ServerConfig", "read_token_file"]
