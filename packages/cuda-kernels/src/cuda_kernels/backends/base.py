"""The one interface every backend offers: matmul and doublify on numpy arrays.

`Backend` validates inputs (so every backend refuses the same things with the same
messages) and hands clean, C-contiguous float32 arrays to the subclass's `_matmul` and
`_doublify`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from cuda_kernels.validation import check_kernel_name, check_matmul_operands, check_matrix


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run here; the message says why and what to install."""


class Backend(ABC):
    """A place to run kernels.

    Attributes:
        name: "pycuda" or "numpy".
        device: human-readable device, e.g. "NVIDIA H200" or "CPU (numpy 2.4.6)".
        kernels: matmul kernel names this backend offers, fastest first; the first is the
            default when `kernel` is None.
        kernel_build: where the code that runs came from, in words (e.g. "prebuilt fatbin,
            sm_90 SASS"); GetInfo and `cuda-kernels bench` report it, so a GPU run says
            whether it used the shipped kernels or compiled its own.
    """

    name: str
    device: str
    kernels: tuple[str, ...]
    kernel_build: str = "not applicable"

    def matmul(self, a: np.ndarray, b: np.ndarray, kernel: str | None = None) -> np.ndarray:
        """C = A·B for float32 A (n×m) and B (m×p); returns a new float32 n×p array.

        Raises TypeError/ValueError for bad operands or an unknown kernel name.
        """
        a, b = check_matmul_operands(a, b)
        return self._matmul(a, b, check_kernel_name(kernel, self.kernels))

    def doublify(self, x: np.ndarray) -> np.ndarray:
        """y = 2·x for a float32 2-D array; returns a new array, `x` is left unchanged."""
        return self._doublify(check_matrix(x, "x"))

    def memory_info(self) -> tuple[int, int] | None:
        """(free, total) bytes of the backend's device memory, or None for a backend whose
        memory is the host's (the server then budgets on RAM alone)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook; most backends hold nothing
        """Release what the backend holds (GPU memory, threads). Safe to call twice."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} device={self.device!r}>"

    @abstractmethod
    def _matmul(self, a: np.ndarray, b: np.ndarray, kernel: str) -> np.ndarray:
        """Run `kernel` on validated C-contiguous float32 operands."""

    @abstractmethod
    def _doublify(self, x: np.ndarray) -> np.ndarray:
        """Double a validated C-contiguous float32 matrix."""
