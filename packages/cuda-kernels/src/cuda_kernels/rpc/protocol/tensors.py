"""Conversion between numpy arrays and the wire `Tensor`, with the contract's checks.

The wire format (kernels.proto): dense, row-major, little-endian float32, no padding, so
`len(data) == product(shape) * 4`. Header checks (`check_header`) run before any byte of a
streamed tensor arrives, so an oversized or malformed request is refused up front.
"""

from __future__ import annotations

import math

import numpy as np

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.rpc.protocol.errors import invalid, too_large
from cuda_kernels.validation import check_matrix_shape, shape_text

MIB = 1 << 20  # the unit of the size flags and defaults (--max-message-mb, chunk size)
WIRE_DTYPE = np.dtype("<f4")  # DTYPE_FLOAT32 on the wire: little-endian IEEE float32


def check_header(tensor: pb.Tensor, name: str, max_tensor_bytes: int) -> tuple[int, int]:
    """Check dtype, rank, dims and the size cap of `tensor` (not its data); return its shape.

    Raises ServiceError: INVALID_ARGUMENT for a bad dtype/rank/dimension (the words of
    `validation.check_matrix_shape`), RESOURCE_EXHAUSTED when the tensor is larger than
    `max_tensor_bytes`.
    """
    if tensor.dtype == pb.DTYPE_UNSPECIFIED:
        raise invalid(f"tensor {name} has dtype DTYPE_UNSPECIFIED; set it to DTYPE_FLOAT32")
    if tensor.dtype != pb.DTYPE_FLOAT32:
        known = tensor.dtype in pb.DType.values()
        raise invalid(
            f"tensor {name} has unsupported dtype "
            f"{pb.DType.Name(tensor.dtype) if known else tensor.dtype}; "
            "only DTYPE_FLOAT32 is supported"
        )
    try:
        shape = check_matrix_shape(tensor.shape, f"tensor {name}")
    except ValueError as exc:
        raise invalid(str(exc)) from None
    nbytes = nbytes_of(shape)
    if nbytes > max_tensor_bytes:
        raise too_large(
            f"tensor {name} ({shape_text(shape)}, {nbytes} bytes) is larger than this "
            f"server's cap of {max_tensor_bytes} bytes per tensor (--max-tensor-mb)"
        )
    return shape


def nbytes_of(shape: tuple[int, ...]) -> int:
    """Bytes of a float32 tensor of `shape` on the wire."""
    return math.prod(shape) * WIRE_DTYPE.itemsize


def to_array(data: bytes | bytearray | memoryview, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 view of checked wire bytes (no copy; read-only for `bytes`)."""
    return np.frombuffer(data, dtype=WIRE_DTYPE).reshape(shape)


def array_view(array: np.ndarray) -> memoryview:
    """The wire bytes of a float32 matrix as a flat view, copying only when it must."""
    return memoryview(np.ascontiguousarray(array, dtype=WIRE_DTYPE)).cast("B")


def fill_header(target: pb.Tensor, array: np.ndarray) -> None:
    """Write dtype and shape of `array` into `target`, with empty data (stream headers)."""
    target.dtype = pb.DTYPE_FLOAT32
    target.shape[:] = array.shape


def fill_tensor(target: pb.Tensor, array: np.ndarray) -> None:
    """Write `array` into the `Tensor` field `target` of a message being built.

    In place, because `Message(x=tensor)` and `CopyFrom` copy the tensor's bytes again,
    which costs more than the serialization itself for large tensors.
    """
    fill_header(target, array)
    target.data = array_view(array).tobytes()


def from_tensor(tensor: pb.Tensor, name: str, max_tensor_bytes: int) -> np.ndarray:
    """Check a complete unary `Tensor` and return it as a float32 matrix."""
    shape = check_header(tensor, name, max_tensor_bytes)
    data = tensor.data  # each read of a bytes field copies it (upb): read it once
    if len(data) != nbytes_of(shape):
        raise invalid(
            f"tensor {name} has {len(data)} bytes of data but shape {shape_text(shape)} "
            f"of float32 needs {nbytes_of(shape)} (product(shape) * 4)"
        )
    return to_array(data, shape)
