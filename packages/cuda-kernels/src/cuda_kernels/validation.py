"""Input checks shared by every backend and by the gRPC service.

Why one module: the numpy backend, the pycuda backend and the service must refuse the same
inputs with the same words, so a caller learns one rule set whatever runs behind it.

The dtype rule: kernels compute in float32 and only float32 is accepted. Any other dtype
(float64, float16, integers, bool, complex, object) is refused with a ``TypeError`` naming
the dtype and showing the conversion (``a.astype(np.float32)``); we do not convert silently,
because silently rounding float64 to float32 hides a precision loss from the caller.
Non-contiguous float32 arrays (slices, transposes) are accepted and copied to C order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ACCEPTED_DTYPE = np.dtype(np.float32)


def check_matrix(x: object, name: str = "x") -> np.ndarray:
    """Return `x` as a C-contiguous float32 2-D array, or raise saying what is wrong.

    Raises:
        TypeError: `x` is not a numpy array, or its dtype is not float32.
        ValueError: `x` is not 2-D, or one of its dimensions is zero.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray of float32, got {type(x).__name__}; "
            f"wrap it with np.asarray({name}, dtype=np.float32)"
        )
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D matrix, got {x.ndim}-D with shape {x.shape}; "
            f"reshape it, e.g. {name}.reshape(rows, cols)"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} has an empty dimension (shape {x.shape}); both must be >= 1")
    if x.dtype != ACCEPTED_DTYPE:
        raise TypeError(
            f"{name} has dtype {x.dtype}, but only float32 is accepted; "
            f"convert it with {name}.astype(np.float32)"
        )
    return np.ascontiguousarray(x)


def check_matmul_operands(a: object, b: object) -> tuple[np.ndarray, np.ndarray]:
    """Check both operands of C = A·B and that A's columns match B's rows.

    Returns both as C-contiguous float32 arrays.
    """
    a = check_matrix(a, "a")
    b = check_matrix(b, "b")
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"inner dimensions differ: a is {a.shape[0]}x{a.shape[1]} and b is "
            f"{b.shape[0]}x{b.shape[1]}; a's column count ({a.shape[1]}) must equal "
            f"b's row count ({b.shape[0]})"
        )
    return a, b


def check_kernel_name(kernel: object, available: Sequence[str]) -> str:
    """Resolve a kernel name: None means the first (fastest) of `available`.

    Raises:
        TypeError: `kernel` is neither None nor a string.
        ValueError: `kernel` is not one of `available`; the message lists them.
    """
    if kernel is None:
        return available[0]
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a string or None, got {type(kernel).__name__}")
    if kernel not in available:
        raise ValueError(
            f"unknown kernel {kernel!r}; this backend has: {', '.join(available)}"
        )
    return kernel
