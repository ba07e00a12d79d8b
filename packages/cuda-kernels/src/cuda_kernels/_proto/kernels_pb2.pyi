from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT32: DType

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: DType
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, dtype: _Optional[_Union[DType, str]] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class MatMulRequest(_message.Message):
    __slots__ = ("request_id", "a", "b", "kernel")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    a: Tensor
    b: Tensor
    kernel: str
    def __init__(self, request_id: _Optional[str] = ..., a: _Optional[_Union[Tensor, _Mapping]] = ..., b: _Optional[_Union[Tensor, _Mapping]] = ..., kernel: _Optional[str] = ...) -> None: ...

class MatMulResponse(_message.Message):
    __slots__ = ("request_id", "c", "kernel", "backend", "compute_ns")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    C_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_NS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    c: Tensor
    kernel: str
    backend: str
    compute_ns: int
    def __init__(self, request_id: _Optional[str] = ..., c: _Optional[_Union[Tensor, _Mapping]] = ..., kernel: _Optional[str] = ..., backend: _Optional[str] = ..., compute_ns: _Optional[int] = ...) -> None: ...

class DoublifyRequest(_message.Message):
    __slots__ = ("request_id", "x")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    x: Tensor
    def __init__(self, request_id: _Optional[str] = ..., x: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class DoublifyResponse(_message.Message):
    __slots__ = ("request_id", "y", "backend", "compute_ns")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_NS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    y: Tensor
    backend: str
    compute_ns: int
    def __init__(self, request_id: _Optional[str] = ..., y: _Optional[_Union[Tensor, _Mapping]] = ..., backend: _Optional[str] = ..., compute_ns: _Optional[int] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("offset", "data")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class MatMulStreamRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: MatMulRequest
    chunk: Chunk
    def __init__(self, header: _Optional[_Union[MatMulRequest, _Mapping]] = ..., chunk: _Optional[_Union[Chunk, _Mapping]] = ...) -> None: ...

class MatMulStreamResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: MatMulResponse
    chunk: Chunk
    def __init__(self, header: _Optional[_Union[MatMulResponse, _Mapping]] = ..., chunk: _Optional[_Union[Chunk, _Mapping]] = ...) -> None: ...

class DoublifyStreamRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: DoublifyRequest
    chunk: Chunk
    def __init__(self, header: _Optional[_Union[DoublifyRequest, _Mapping]] = ..., chunk: _Optional[_Union[Chunk, _Mapping]] = ...) -> None: ...

class DoublifyStreamResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: DoublifyResponse
    chunk: Chunk
    def __init__(self, header: _Optional[_Union[DoublifyResponse, _Mapping]] = ..., chunk: _Optional[_Union[Chunk, _Mapping]] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("backend", "device", "kernels", "max_message_bytes", "max_tensor_bytes", "version", "kernel_build")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    KERNELS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_TENSOR_BYTES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KERNEL_BUILD_FIELD_NUMBER: _ClassVar[int]
    backend: str
    device: str
    kernels: _containers.RepeatedScalarFieldContainer[str]
    max_message_bytes: int
    max_tensor_bytes: int
    version: str
    kernel_build: str
    def __init__(self, backend: _Optional[str] = ..., device: _Optional[str] = ..., kernels: _Optional[_Iterable[str]] = ..., max_message_bytes: _Optional[int] = ..., max_tensor_bytes: _Optional[int] = ..., version: _Optional[str] = ..., kernel_build: _Optional[str] = ...) -> None: ...
