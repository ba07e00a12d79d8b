"""`cuda_kernels`: doublify and a ladder of matmul kernels on the GPU (pycuda), with numpy
as the CPU fallback.

Examples:
    >>> import numpy as np, cuda_kernels
    >>> a = np.ones((3, 2), dtype=np.float32)
    >>> b = np.ones((2, 5), dtype=np.float32)
    >>> cuda_kernels.matmul(a, b, backend="numpy").shape
    (3, 5)
    >>> cuda_kernels.doublify(a, backend="numpy")[0, 0]
    np.float32(2.0)
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np

from cuda_kernels.backends import (
    BACKEND_NAMES,
    Backend,
    BackendUnavailableError,
    NumpyBackend,
    get_backend,
)
from cuda_kernels.kernels.ladder import KERNELS

__version__ = version("cuda-kernels")


def _resolve(backend: Backend | str | None) -> Backend:
    if backend is None:
        return get_backend("auto")
    if isinstance(backend, str):
        return get_backend(backend)
    if isinstance(backend, Backend):
        return backend
    raise TypeError(
        f"backend must be None, a name ({', '.join(BACKEND_NAMES)}) or a Backend, "
        f"got {type(backend).__name__}"
    )


def matmul(
    a: np.ndarray,
    b: np.ndarray,
    kernel: str | None = None,
    backend: Backend | str | None = None,
) -> np.ndarray:
    """C = A·B for float32 matrices; `kernel` None picks the backend's fastest.

    `backend` is None (auto: GPU when usable), a backend name, or a Backend instance.
    """
    return _resolve(backend).matmul(a, b, kernel)


def doublify(x: np.ndarray, backend: Backend | str | None = None) -> np.ndarray:
    """y = 2·x for a float32 2-D array, on the chosen backend (None: auto)."""
    return _resolve(backend).doublify(x)


__all__ = [
    "BACKEND_NAMES",
    "KERNELS",
    "Backend",
    "BackendUnavailableError",
    "NumpyBackend",
    "__version__",
    "doublify",
    "get_backend",
    "matmul",
]
