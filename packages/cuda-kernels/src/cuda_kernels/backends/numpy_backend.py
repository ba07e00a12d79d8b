"""CPU backend on numpy: the fallback without a GPU and the reference shape of results."""

from __future__ import annotations

import numpy as np

from cuda_kernels.backends.base import Backend


class NumpyBackend(Backend):
    """Matmul through numpy's BLAS (float32 in, float32 out); doublify as 2·x."""

    name = "numpy"
    kernels = ("numpy",)
    kernel_build = "numpy's BLAS (no CUDA kernels)"
    device = f"CPU (numpy {np.__version__})"

    def _matmul(self, a: np.ndarray, b: np.ndarray, kernel: str) -> np.ndarray:
        return np.matmul(a, b)

    def _doublify(self, x: np.ndarray) -> np.ndarray:
        return np.multiply(x, np.float32(2.0))
