"""`KernelServicer`: the thin gRPC face of a `Backend` (matmul, doublify, info).

Why thin: every check is a plain function (`rpc.protocol`, `cuda_kernels.validation`) and
the work is the backend's; this class only orders them: refuse while draining, check the
request, refuse a call that is already dead before any GPU work, compute, answer. Any
refusal becomes its status code (`protocol.errors.refusal_for`); any other exception from
the backend is a real fault: INTERNAL, logged with the request id, which the servicer
writes into the call's record (`calls`) and reads back from it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels._proto import kernels_pb2_grpc as pb_grpc
from cuda_kernels.backends.base import Backend
from cuda_kernels.rpc.protocol.chunking import (
    DEFAULT_CHUNK_BYTES,
    read_header,
    read_tensors,
    stream_messages,
)
from cuda_kernels.rpc.protocol.errors import ServiceError, refusal_for, too_large
from cuda_kernels.rpc.protocol.tensors import fill_header, fill_tensor, from_tensor, nbytes_of
from cuda_kernels.rpc.server.calls import annotate_call, current_call, describe_shapes
from cuda_kernels.validation import check_kernel_name, check_matmul_shapes

_log = logging.getLogger("cuda_kernels.service")
T = TypeVar("T")

# Room for everything in a unary reply besides the tensor bytes (ids, names, shapes).
UNARY_ENVELOPE_BYTES = 4096
# gRPC's own per-message limit never goes below this, so that ~1 MiB stream chunks pass
# even when --max-message-mb is smaller; the unary cap is then checked here instead.
STREAM_MESSAGE_FLOOR = DEFAULT_CHUNK_BYTES + 64 * 1024


@dataclass(frozen=True)
class Limits:
    """The server's size caps, in bytes (reported by GetInfo)."""

    max_message_bytes: int
    max_tensor_bytes: int


class KernelServicer(pb_grpc.KernelServiceServicer):
    """Serves KernelService on one backend; `draining` set means: refuse new work."""

    def __init__(
        self,
        backend: Backend,
        limits: Limits,
        version: str,
        draining: threading.Event | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.version = version
        self.draining = draining or threading.Event()
        self.chunk_bytes = chunk_bytes

    # --- RPCs -------------------------------------------------------------------------

    def GetInfo(self, request, context):
        return self._guarded(context, self._info)

    def MatMul(self, request, context):
        return self._guarded(context, lambda: self._matmul_unary(request, context))

    def Doublify(self, request, context):
        return self._guarded(context, lambda: self._doublify_unary(request, context))

    def MatMulStream(self, request_iterator, context):
        header, c = self._guarded(context, lambda: self._matmul_stream(request_iterator, context))
        yield from stream_messages(pb.MatMulStreamResponse, header, [c], self.chunk_bytes)

    def DoublifyStream(self, request_iterator, context):
        header, y = self._guarded(
            context, lambda: self._doublify_stream(request_iterator, context)
        )
        yield from stream_messages(pb.DoublifyStreamResponse, header, [y], self.chunk_bytes)

    # --- the work, in plain terms -----------------------------------------------------

    def _info(self) -> pb.GetInfoResponse:
        self._refuse_if_draining()
        annotate_call(backend=self.backend.name)
        return pb.GetInfoResponse(
            backend=self.backend.name,
            device=self.backend.device,
            kernels=list(self.backend.kernels),
            max_message_bytes=self.limits.max_message_bytes,
            max_tensor_bytes=self.limits.max_tensor_bytes,
            version=self.version,
            kernel_build=self.backend.kernel_build,
        )

    def _matmul_unary(self, request, context) -> pb.MatMulResponse:
        self._begin(request.request_id)
        a = from_tensor(request.a, "a", self.limits.max_tensor_bytes)
        b = from_tensor(request.b, "b", self.limits.max_tensor_bytes)
        self._check_unary_size(a.nbytes + b.nbytes)
        kernel = self._check_matmul(a.shape, b.shape, request.kernel, streamed=False)
        response, c = self._matmul(context, request.request_id, kernel, a, b)
        fill_tensor(response.c, c)
        return response

    def _matmul_stream(self, requests, context) -> tuple[pb.MatMulResponse, np.ndarray]:
        self._refuse_if_draining()
        header, shapes, rest = read_header(
            requests, lambda h: [("a", h.a), ("b", h.b)], self.limits.max_tensor_bytes
        )
        self._begin_stream(header.request_id, shapes)
        kernel = self._check_matmul(shapes[0], shapes[1], header.kernel, streamed=True)
        a, b = read_tensors(rest, shapes)
        response, c = self._matmul(context, header.request_id, kernel, a, b)
        fill_header(response.c, c)
        return response, c

    def _doublify_unary(self, request, context) -> pb.DoublifyResponse:
        self._begin(request.request_id)
        x = from_tensor(request.x, "x", self.limits.max_tensor_bytes)
        annotate_call(shapes=describe_shapes([("x", x.shape)]))
        self._check_unary_size(x.nbytes)
        self._check_output("y", x.shape, streamed=False)
        response, y = self._doublify(context, request.request_id, x)
        fill_tensor(response.y, y)
        return response

    def _doublify_stream(self, requests, context) -> tuple[pb.DoublifyResponse, np.ndarray]:
        self._refuse_if_draining()
        header, shapes, rest = read_header(
            requests, lambda h: [("x", h.x)], self.limits.max_tensor_bytes
        )
        self._begin_stream(header.request_id, shapes)
        annotate_call(shapes=describe_shapes([("x", shapes[0])]))
        (x,) = read_tensors(rest, shapes)
        response, y = self._doublify(context, header.request_id, x)
        fill_header(response.y, y)
        return response, y

    def _matmul(self, context, request_id: str, kernel: str, a, b):
        """The product and its reply (without the tensor, which unary and stream send
        differently)."""
        c, compute_ns = self._compute(context, lambda: self.backend.matmul(a, b, kernel))
        reply = pb.MatMulResponse(
            request_id=request_id, kernel=kernel, backend=self.backend.name, compute_ns=compute_ns
        )
        return reply, c

    def _doublify(self, context, request_id: str, x):
        """2·x and its reply (without the tensor)."""
        y, compute_ns = self._compute(context, lambda: self.backend.doublify(x))
        reply = pb.DoublifyResponse(
            request_id=request_id, backend=self.backend.name, compute_ns=compute_ns
        )
        return reply, y

    # --- steps shared by the RPCs -----------------------------------------------------

    def _refuse_if_draining(self) -> None:
        if self.draining.is_set():
            raise ServiceError(
                grpc.StatusCode.UNAVAILABLE,
                "the server is shutting down and takes no new calls; retry on another replica",
            )

    def _begin(self, request_id: str) -> None:
        self._refuse_if_draining()
        annotate_call(request_id=request_id, backend=self.backend.name)

    def _begin_stream(self, request_id: str, shapes: list[tuple[int, int]]) -> None:
        """`_begin` for a stream whose header passed its checks; the chunks come next."""
        self._begin(request_id)
        _log.debug(
            "request_id=%s: stream header accepted; receiving %d bytes of chunks",
            request_id or "-",
            sum(nbytes_of(shape) for shape in shapes),
        )

    def _check_unary_size(self, tensor_bytes: int) -> None:
        """The unary cap, from the checked tensor sizes (ByteSize() would cost more than
        parsing the request)."""
        size = tensor_bytes + UNARY_ENVELOPE_BYTES
        if size > self.limits.max_message_bytes:
            raise too_large(
                f"the request carries {tensor_bytes} bytes of tensors, over this server's "
                f"unary message cap of "
                f"{self.limits.max_message_bytes} bytes (--max-message-mb); use the "
                "streaming RPC"
            )

    def _check_matmul(
        self, a_shape: tuple[int, ...], b_shape: tuple[int, ...], kernel: str, streamed: bool
    ) -> str:
        """The shared operand rules on the shapes (the data may not have arrived yet), the
        kernel name ("" on the wire: the backend's fastest) and the product's size."""
        annotate_call(shapes=describe_shapes([("a", a_shape), ("b", b_shape)]))
        n, _, p = check_matmul_shapes(a_shape, b_shape)
        chosen = check_kernel_name(kernel or None, self.backend.kernels)
        annotate_call(kernel=chosen)
        self._check_output("c", (n, p), streamed)
        return chosen

    def _check_output(self, name: str, shape: tuple[int, ...], streamed: bool) -> None:
        """RESOURCE_EXHAUSTED before computing a result we could not send back."""
        nbytes = nbytes_of(shape)
        if nbytes > self.limits.max_tensor_bytes:
            raise too_large(
                f"the result {name} would be {nbytes} bytes, over this server's cap of "
                f"{self.limits.max_tensor_bytes} bytes per tensor (--max-tensor-mb)"
            )
        if not streamed and nbytes + UNARY_ENVELOPE_BYTES > self.limits.max_message_bytes:
            raise too_large(
                f"the result {name} would be {nbytes} bytes, too big for a unary reply "
                f"(cap {self.limits.max_message_bytes} bytes); use the streaming RPC"
            )

    def _compute(self, context: grpc.ServicerContext, work: Callable[[], T]) -> tuple[T, int]:
        """Run `work` unless the call is already dead; return its result and duration (ns)."""
        dead = _dead_call_error(context)
        if dead is not None:
            raise dead
        start = time.perf_counter_ns()
        result = work()
        elapsed = time.perf_counter_ns() - start
        annotate_call(compute_ms=elapsed / 1e6)
        return result, elapsed

    def _guarded(self, context: grpc.ServicerContext, work: Callable[[], Any]) -> Any:
        """`work()`, with refusals turned into status codes and faults into INTERNAL."""
        try:
            return work()
        except grpc.RpcError:  # the request stream broke: the client cancelled or vanished
            error = ServiceError(
                grpc.StatusCode.CANCELLED, "the client cancelled the call while sending it"
            )
        except Exception as exc:
            error = refusal_for(exc) or self._fault()
        if error.code is not grpc.StatusCode.INTERNAL:
            # a stream cut short by the client's cancel or deadline looks malformed; say why
            error = _dead_call_error(context) or error
        context.abort(error.code, error.details)
        raise AssertionError("context.abort returns only by raising")  # pragma: no cover

    def _fault(self) -> ServiceError:
        """INTERNAL for the exception being handled, logged with its traceback."""
        record = current_call()
        request_id = record.request_id if record is not None else ""
        _log.exception("request_id=%s: the %s backend failed", request_id or "-", self.backend.name)
        return ServiceError(
            grpc.StatusCode.INTERNAL,
            f"the {self.backend.name} backend failed on request "
            f"{request_id or '(no id)'}; the server log has the details",
        )


def _dead_call_error(context: grpc.ServicerContext) -> ServiceError | None:
    """DEADLINE_EXCEEDED or CANCELLED when the client can no longer use an answer."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return ServiceError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "the deadline passed before the computation started; nothing was computed",
        )
    if not context.is_active():
        return ServiceError(
            grpc.StatusCode.CANCELLED,
            "the call was cancelled before the computation started; nothing was computed",
        )
    return None


__all__ = ["UNARY_ENVELOPE_BYTES", "KernelServicer", "Limits"]
