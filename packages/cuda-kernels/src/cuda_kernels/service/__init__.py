"""Deprecated home of the gRPC server: use `cuda_kernels.rpc.server`.

The names below keep working; new code imports them from `cuda_kernels.rpc.server`.
"""

import warnings

from cuda_kernels.rpc.server import (
    KernelServer,
    KernelServicer,
    Limits,
    ServerConfig,
    read_token_file,
)

warnings.warn(
    "cuda_kernels.service is deprecated; import from cuda_kernels.rpc.server",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["KernelServer", "KernelServicer", "Limits", "ServerConfig", "read_token_file"]
