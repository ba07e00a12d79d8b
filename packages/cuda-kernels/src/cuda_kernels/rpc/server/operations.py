"""The operations KernelService serves, one table entry each.

Why a table: every operation is served twice, as a unary RPC (`MatMul`) and as a stream of
chunks (`MatMulStream`), and the two differ only in how tensors travel. An entry holds what
is particular to an operation: its operand check and its backend call. The servicer
(`servicer.KernelServicer`) serves every entry on one unary and one streaming path; the
tensors' names come from the generated messages (`tensor_fields`), the reply's other
fields from the check (`Plan.fields`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.backends.base import Backend
from cuda_kernels.rpc.protocol.errors import invalid
from cuda_kernels.rpc.protocol.methods import METHODS
from cuda_kernels.rpc.server.calls import annotate_call, loggable
from cuda_kernels.validation import check_matmul_shapes, shape_text

# Unary work small enough to run on the event loop when the server is otherwise idle
# (`workers.KernelWorkers.run(inline=True)`): about 0.3 ms of numpy at most. Only numpy:
# a GPU backend may wait for its device (or its lock) for an unknown time.
INLINE_MAX_MACS = 256**3
INLINE_MAX_ELEMENTS = 1 << 18

Shape = tuple[int, int]


class Plan(NamedTuple):
    """What an operand check decides: the result's shape, the reply's own fields (also
    passed to the backend call and noted in the call's record), and whether the work is
    small enough to run on the event loop."""

    result_shape: Shape
    fields: dict[str, Any]
    small: bool


@dataclass(frozen=True)
class Operation:
    """One entry of the table: the RPC `name` (its stream is `<name>Stream`);
    `check(backend, request, shapes)` judges the operands by their shapes alone (a stream's
    data has not arrived yet); `compute(backend, *arrays, **plan.fields)` is the backend
    call. The tensors' names and the reply's type come from the generated messages."""

    name: str
    check: Callable[[Backend, Any, list[Shape]], Plan]
    compute: Callable[..., np.ndarray]

    @property
    def operands(self) -> tuple[str, ...]:
        """The request's tensors, in wire order."""
        return tensor_fields(METHODS[self.name].request_type)

    def tensors(self, request: Any) -> list[tuple[str, pb.Tensor]]:
        """The request's (or stream header's) tensors by name, in wire order."""
        return [(name, getattr(request, name)) for name in self.operands]

    @property
    def result(self) -> str:
        """The reply's tensor."""
        return tensor_fields(METHODS[self.name].response_type)[0]

    def plan(self, backend: Backend, request: Any, shapes: list[Shape]) -> Plan:
        """`check`, with the shapes and its decisions noted in the call's record."""
        named = zip(self.operands, shapes, strict=True)
        annotate_call(shapes=" ".join(f"{name}:{shape_text(shape)}" for name, shape in named))
        plan = self.check(backend, request, shapes)
        annotate_call(**plan.fields)
        return plan

    def run(self, backend: Backend, request: Any, plan: Plan, arrays: list[np.ndarray]):
        """The result and its reply (without the tensor, which unary and stream send
        differently), the compute time noted in the call's record. Runs on a worker."""
        start = time.perf_counter_ns()
        output = self.compute(backend, *arrays, **plan.fields)
        compute_ns = time.perf_counter_ns() - start
        annotate_call(compute_ms=compute_ns / 1e6)
        reply = METHODS[self.name].response_type(
            request_id=request.request_id, backend=backend.name, compute_ns=compute_ns,
            **plan.fields,
        )  # fmt: skip
        return reply, output


def _check_matmul(backend: Backend, request: Any, shapes: list[Shape]) -> Plan:
    """The shared operand rules, and the kernel ("" on the wire: the backend's fastest)."""
    n, m, p = check_matmul_shapes(*shapes)
    kernel = request.kernel or backend.kernels[0]
    if kernel not in backend.kernels:
        raise invalid(
            f"unknown kernel {loggable(request.kernel)}; this backend has: "
            f"{', '.join(backend.kernels)}"
        )
    return Plan((n, p), {"kernel": kernel}, n * m * p <= INLINE_MAX_MACS)


def _check_doublify(backend: Backend, request: Any, shapes: list[Shape]) -> Plan:
    """Any matrix the header checks let through; y has x's shape."""
    return Plan(shapes[0], {}, math.prod(shapes[0]) <= INLINE_MAX_ELEMENTS)


#: Every operation of the service, each served unary and streamed.
OPERATIONS: tuple[Operation, ...] = (
    Operation("MatMul", _check_matmul, lambda backend, a, b, kernel: backend.matmul(a, b, kernel)),
    Operation("Doublify", _check_doublify, lambda backend, x: backend.doublify(x)),
)


@cache
def tensor_fields(message_type: type) -> tuple[str, ...]:
    """The names of a message's `Tensor` fields, in field order."""
    fields = message_type.DESCRIPTOR.fields
    return tuple(f.name for f in fields if f.message_type is pb.Tensor.DESCRIPTOR)
