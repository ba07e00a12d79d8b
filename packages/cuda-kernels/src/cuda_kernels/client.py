"""Deprecated home of the gRPC client: use `cuda_kernels.rpc.client`.

The names below keep working; new code imports them from `cuda_kernels.rpc.client`.
"""

import warnings

from cuda_kernels.rpc.client import KernelClient, KernelServiceError, MatMulResult, ServerInfo

warnings.warn(
    "cuda_kernels.client is deprecated; import from cuda_kernels.rpc.client",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["KernelClient", "KernelServiceError", "MatMulResult", "ServerInfo"]
