"""The operand checks of every entry point: backends, the gRPC client and the servicer.

Why one module: the numpy backend, the pycuda backend, the client and the service must
refuse the same inputs with the same words, so a caller learns one rule set whatever runs
behind it. The words about shapes live in two functions that work on shapes alone
(`check_matrix_shape`, `check_matmul_shapes`), because the service must judge a streamed
request from its header, before any data arrives; the array checks call them too.

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


def shape_text(shape: Sequence[int]) -> str:
    """`3x4` for a shape, as errors and the service's log lines write it."""
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def check_matrix_shape(shape: Sequence[int], name: str) -> tuple[int, int]:
    """Return `shape` as (rows, cols), or raise ValueError: not 2-D, or a dimension < 1."""
    shape = tuple(shape)
    if len(shape) != 2:
        raise ValueError(
            f"{name} must be a 2-D matrix (rank 2), got rank {len(shape)} with shape "
            f"{list(shape)}; reshape it to (rows, cols)"
        )
    if shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"{name} has shape {list(shape)}; both dimensions must be >= 1")
    return shape[0], shape[1]


def check_matmul_shapes(a_shape: Sequence[int], b_shape: Sequence[int]) -> tuple[int, int, int]:
    """(n, m, p) for C = A·B with A n×m and B m×p, or ValueError saying which rule broke."""
    n, m = check_matrix_shape(a_shape, "a")
    m_b, p = check_matrix_shape(b_shape, "b")
    if m != m_b:
        raise ValueError(
            f"inner dimensions differ: a is {shape_text((n, m))} and b is "
            f"{shape_text((m_b, p))}; a's column count ({m}) must equal b's row count ({m_b})"
        )
    return n, m, p


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
    check_matrix_shape(x.shape, name)
    if x.dtype != ACCEPTED_DTYPE:
        raise TypeError(
            f"{name} has dtype {x.dtype}, but only float32 is accepted; "
            f"convert it with {name}.astype(np.float32)"
        )
    return np.ascontiguousarray(x)


def check_matmul_operands(a: object, b: object) -> tuple[np.ndarray, np.ndarray]:
    """Check both operands of C = A·B (`check_matrix`, `check_matmul_shapes`).

    Returns both as C-contiguous float32 arrays.
    """
    a = check_matrix(a, "a")
    b = check_matrix(b, "b")
    check_matmul_shapes(a.shape, b.shape)
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
        raise ValueError(f"unknown kernel {kernel!r}; this backend has: {', '.join(available)}")
    return kernel
