"""`KernelServicer`: the thin asyncio face of a `Backend` (matmul, doublify, info).

Why thin: every check is a plain function (`rpc.protocol`, `cuda_kernels.validation`), the
memory is the budget's (`budget`), the threads are the workers' (`workers`), the stream
pace is `pacing`'s, and the work is the backend's; this class only orders them: refuse
while draining, check the request, reserve its memory, receive it, refuse a call that is
already dead before any backend work, compute on a worker, answer, give the memory back.

Any refusal becomes its status code (`protocol.errors.refusal_for`); any other exception
from the backend is a real fault: INTERNAL, logged with the request id. No exception
outlives its handler: an exception's traceback holds the frames that hold a stream's
buffers, so keeping one (or a reference cycle through one) would keep them alive until
the garbage collector happens to run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels._proto import kernels_pb2_grpc as pb_grpc
from cuda_kernels.backends.base import Backend
from cuda_kernels.backends.numpy_backend import NumpyBackend
from cuda_kernels.rpc.protocol.chunking import (
    DEFAULT_CHUNK_BYTES,
    TensorAssembler,
    check_stream_shapes,
    iter_chunks,
    stream_header_of,
)
from cuda_kernels.rpc.protocol.errors import (
    ServiceError,
    abort_with,
    invalid,
    refusal_for,
    too_large,
)
from cuda_kernels.rpc.protocol.methods import Malformed
from cuda_kernels.rpc.protocol.tensors import (
    array_view,
    check_header,
    fill_header,
    fill_tensor,
    from_tensor,
    nbytes_of,
)
from cuda_kernels.rpc.server.budget import MemoryBudget, Reservation
from cuda_kernels.rpc.server.calls import (
    annotate_call,
    count_bytes,
    current_call,
    describe_shapes,
    loggable,
)
from cuda_kernels.rpc.server.pacing import Pace, PacedReader, TooSlow, write_paced
from cuda_kernels.rpc.server.workers import KernelWorkers
from cuda_kernels.validation import check_matmul_shapes

_log = logging.getLogger(__name__)

# Room for everything in a unary reply besides the tensor bytes (ids, names, shapes).
UNARY_ENVELOPE_BYTES = 4096
# gRPC's own per-message limit never goes below this, so that ~1 MiB stream chunks pass
# even when --max-message-mb is smaller; the unary cap is then checked here instead.
STREAM_MESSAGE_FLOOR = DEFAULT_CHUNK_BYTES + 64 * 1024
MAX_REQUEST_ID_CHARS = 128
# Unary work small enough to run on the event loop when the server is otherwise idle
# (`workers.KernelWorkers.run(inline=True)`): about 0.3 ms of numpy at most. Only numpy:
# a GPU backend may wait for its device (or its lock) for an unknown time.
INLINE_MAX_MACS = 256**3
INLINE_MAX_ELEMENTS = 1 << 18


@dataclass(frozen=True)
class Limits:
    """The server's caps: sizes in bytes (reported by GetInfo), stream pace, budget wait."""

    max_message_bytes: int
    max_tensor_bytes: int
    idle_seconds: float = 10.0
    min_stream_bytes_per_s: float = 64 * 1024
    budget_wait_seconds: float = 2.0

    @property
    def pace(self) -> Pace:
        return Pace(self.idle_seconds, self.min_stream_bytes_per_s)


@dataclass
class _Stream:
    """What one streamed call holds; `drop()` lets go of all of it at once."""

    assembler: TensorAssembler | None = None
    inputs: list[np.ndarray] = field(default_factory=list)
    result: np.ndarray | None = None

    def drop(self) -> None:
        self.assembler, self.inputs, self.result = None, [], None


class KernelServicer(pb_grpc.KernelServiceServicer):
    """Serves KernelService on one backend; `draining` set means: refuse new work.

    `budget` and `workers` default to a 1 GiB budget and two worker threads, for use
    outside `KernelServer`; the server passes its own.
    """

    def __init__(
        self,
        backend: Backend,
        limits: Limits,
        version: str,
        draining: threading.Event | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        *,
        budget: MemoryBudget | None = None,
        workers: KernelWorkers | None = None,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.version = version
        self.draining = draining or threading.Event()
        self.chunk_bytes = chunk_bytes
        self.budget = budget or MemoryBudget(1 << 30)
        self.workers = workers or KernelWorkers(2, 64)
        self._may_inline = type(backend) is NumpyBackend

    # --- RPCs -------------------------------------------------------------------------

    async def GetInfo(self, request, context):
        return await self._guarded(context, self._info, request)

    async def MatMul(self, request, context):
        return await self._guarded(context, self._matmul_unary, request, context)

    async def Doublify(self, request, context):
        return await self._guarded(context, self._doublify_unary, request, context)

    async def MatMulStream(self, request_iterator, context):
        await self._guarded(context, self._matmul_stream, request_iterator, context)

    async def DoublifyStream(self, request_iterator, context):
        await self._guarded(context, self._doublify_stream, request_iterator, context)

    # --- the work, in plain terms -----------------------------------------------------

    async def _info(self, request) -> pb.GetInfoResponse:
        _check_parsed(request)
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

    async def _matmul_unary(self, request, context) -> pb.MatMulResponse:
        self._begin(request)
        cap = self.limits.max_tensor_bytes
        a_shape, b_shape = check_header(request.a, "a", cap), check_header(request.b, "b", cap)
        kernel = self._check_matmul(a_shape, b_shape, request.kernel, streamed=False)
        in_bytes = nbytes_of(a_shape) + nbytes_of(b_shape)
        self._check_unary_size(in_bytes)
        out_bytes = a_shape[0] * b_shape[1] * 4
        request_id = request.request_id

        def work() -> pb.MatMulResponse:
            a, b = from_tensor(request.a, "a", cap), from_tensor(request.b, "b", cap)
            count_bytes(received=a.nbytes + b.nbytes)
            response, c = self._matmul(request_id, kernel, a, b)
            fill_tensor(response.c, c)
            count_bytes(sent=c.nbytes)
            return response

        inline = a_shape[0] * a_shape[1] * b_shape[1] <= INLINE_MAX_MACS
        with self.budget.try_reserve(in_bytes + out_bytes, "this MatMul"):
            return await self._on_worker(context, work, inline)

    async def _doublify_unary(self, request, context) -> pb.DoublifyResponse:
        self._begin(request)
        cap = self.limits.max_tensor_bytes
        shape = check_header(request.x, "x", cap)
        annotate_call(shapes=describe_shapes([("x", shape)]))
        nbytes = nbytes_of(shape)
        self._check_unary_size(nbytes)
        self._check_output("y", shape, streamed=False)
        request_id = request.request_id

        def work() -> pb.DoublifyResponse:
            x = from_tensor(request.x, "x", cap)
            count_bytes(received=x.nbytes)
            response, y = self._doublify(request_id, x)
            fill_tensor(response.y, y)
            count_bytes(sent=y.nbytes)
            return response

        inline = shape[0] * shape[1] <= INLINE_MAX_ELEMENTS
        with self.budget.try_reserve(2 * nbytes, "this Doublify"):
            return await self._on_worker(context, work, inline)

    async def _matmul_stream(self, requests, context) -> None:
        reader = PacedReader(requests, self.limits.pace)
        header, shapes = await self._stream_header(reader, lambda h: [("a", h.a), ("b", h.b)])
        kernel = self._check_matmul(shapes[0], shapes[1], header.kernel, streamed=True)
        out_bytes = shapes[0][0] * shapes[1][1] * 4

        def compute(a: np.ndarray, b: np.ndarray):
            return self._matmul(header.request_id, kernel, a, b)

        await self._serve_stream(
            context, reader, shapes, out_bytes, compute, pb.MatMulStreamResponse, "MatMulStream"
        )

    async def _doublify_stream(self, requests, context) -> None:
        reader = PacedReader(requests, self.limits.pace)
        header, shapes = await self._stream_header(reader, lambda h: [("x", h.x)])
        annotate_call(shapes=describe_shapes([("x", shapes[0])]))
        self._check_output("y", shapes[0], streamed=True)

        def compute(x: np.ndarray):
            return self._doublify(header.request_id, x)

        await self._serve_stream(
            context, reader, shapes, nbytes_of(shapes[0]), compute,
            pb.DoublifyStreamResponse, "DoublifyStream",
        )  # fmt: skip

    async def _stream_header(self, reader: PacedReader, tensors_of) -> tuple[Any, list]:
        """The checked header of a request stream (see `chunking.check_stream_header`)."""
        self._refuse_if_draining()
        header = stream_header_of(await reader.next())
        self._begin(header)
        shapes = check_stream_shapes(header, tensors_of, self.limits.max_tensor_bytes)
        _log.debug(
            "request_id=%s: stream header accepted; receiving %d bytes of chunks",
            loggable(header.request_id or "-"),
            sum(nbytes_of(shape) for shape in shapes),
        )
        return header, shapes

    async def _serve_stream(
        self,
        context,
        reader: PacedReader,
        shapes: list[tuple[int, int]],
        out_bytes: int,
        compute: Callable[..., tuple[Any, np.ndarray]],
        response_type: type,
        what: str,
    ) -> None:
        """Reserve, receive, compute, send: the part every request stream shares."""
        in_bytes = sum(nbytes_of(shape) for shape in shapes)
        wait = _within_deadline(context, self.limits.budget_wait_seconds)
        reservation = await self.budget.reserve(in_bytes + out_bytes, wait, f"this {what}")
        held = _Stream()
        try:
            reader.restart_clock()  # the wait for the budget was the server's
            held.assembler = TensorAssembler(shapes)
            while (message := await reader.next()) is not None:
                reader.count(held.assembler.add(message))
            held.inputs = held.assembler.finish()
            held.assembler = None
            reply, held.result = await self._on_worker(context, lambda: compute(*held.inputs))
            held.inputs = []
            reservation.release(in_bytes)
            await self._send(context, response_type, reply, held.result, reservation)
        finally:
            held.drop()
            reservation.release()

    async def _send(self, context, response_type, reply, result, reservation: Reservation):
        """The reply header, then the result in chunks, each under the idle limit."""
        header_field = "c" if response_type is pb.MatMulStreamResponse else "y"
        fill_header(getattr(reply, header_field), result)
        pace = self.limits.pace
        await write_paced(context, response_type(header=reply), pace)
        for part in iter_chunks([array_view(result)], self.chunk_bytes):
            await write_paced(context, part, pace, len(part.data))

    def _matmul(self, request_id: str, kernel: str, a, b):
        """The product and its reply (without the tensor, which unary and stream send
        differently). Runs on a worker thread."""
        c, compute_ns = _timed(lambda: self.backend.matmul(a, b, kernel))
        reply = pb.MatMulResponse(
            request_id=request_id, kernel=kernel, backend=self.backend.name, compute_ns=compute_ns
        )
        return reply, c

    def _doublify(self, request_id: str, x):
        """2·x and its reply (without the tensor). Runs on a worker thread."""
        y, compute_ns = _timed(lambda: self.backend.doublify(x))
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

    def _begin(self, request) -> None:
        """Draining, a parsed message, a request id of sane length; noted in the record."""
        _check_parsed(request)
        self._refuse_if_draining()
        request_id = request.request_id
        annotate_call(request_id=request_id, backend=self.backend.name)
        if len(request_id) > MAX_REQUEST_ID_CHARS:
            raise invalid(
                f"request_id has {len(request_id)} characters; at most "
                f"{MAX_REQUEST_ID_CHARS} are accepted"
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
        chosen = kernel or self.backend.kernels[0]
        if chosen not in self.backend.kernels:
            raise invalid(
                f"unknown kernel {loggable(kernel)}; this backend has: "
                f"{', '.join(self.backend.kernels)}"
            )
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

    async def _on_worker(self, context, work: Callable[[], Any], small: bool = False) -> Any:
        """`work()` on a worker thread (on the loop when `small` and the backend is numpy),
        unless the call died while it waited for one."""

        def still_wanted() -> None:
            dead = _dead_call_error(context)
            if dead is not None:
                raise dead

        inline = small and self._may_inline
        return await self.workers.run(work, before=still_wanted, inline=inline)

    async def _guarded(self, context, work: Callable[..., Any], *args: Any) -> Any:
        """`await work(*args)`, with refusals turned into status codes and faults into
        INTERNAL. Only a fresh status leaves the `except` block: a kept exception would
        hold, through its traceback, the frames that hold the buffers."""
        try:
            return await work(*args)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except TooSlow as exc:  # a stream the server ended; its memory is back now
            status = _fresh(exc)
            record = current_call()
            _log.info("request_id=%s: %s", loggable(record.request_id or "-"), status.details)
        except Exception as exc:  # every other exception becomes a status
            status = self._status_for(exc, context)
        await abort_with(context, status)

    def _status_for(self, exc: Exception, context) -> ServiceError:
        """The status (code, sentence, retry hint) for an exception from a call's work."""
        refusal = refusal_for(exc)
        if refusal is None:
            return self._fault(exc)
        # a stream cut short by the client's cancel or deadline looks malformed; say why
        return _dead_call_error(context) or _fresh(refusal)

    def _fault(self, exc: Exception) -> ServiceError:
        """INTERNAL for a backend fault, logged with its traceback (as text: a log record
        holding the exception would hold the call's buffers)."""
        record = current_call()
        request_id = loggable(record.request_id) if record and record.request_id else "-"
        _log.error(
            "request_id=%s: the %s backend failed:\n%s",
            request_id,
            self.backend.name,
            "".join(traceback.format_exception(exc)).rstrip(),
        )
        return ServiceError(
            grpc.StatusCode.INTERNAL,
            f"the {self.backend.name} backend failed on request {request_id}; "
            "the server log has the details",
        )


def _check_parsed(message: Any) -> None:
    """INVALID_ARGUMENT for bytes that did not parse (`methods.Malformed`)."""
    if isinstance(message, Malformed):
        raise invalid(message.describe())


def _fresh(refusal: ServiceError) -> ServiceError:
    """A copy of a raised refusal without its traceback (and the frames that holds)."""
    return ServiceError(refusal.code, refusal.details, refusal.retry_after_s)


def _timed(work: Callable[[], Any]) -> tuple[Any, int]:
    """`work()` and its duration in ns, noted as the call's compute time."""
    start = time.perf_counter_ns()
    result = work()
    elapsed = time.perf_counter_ns() - start
    annotate_call(compute_ms=elapsed / 1e6)
    return result, elapsed


def _within_deadline(context, seconds: float) -> float:
    """`seconds`, or less when the call's deadline comes sooner."""
    remaining = context.time_remaining()
    return seconds if remaining is None else max(0.0, min(seconds, remaining))


def _dead_call_error(context) -> ServiceError | None:
    """DEADLINE_EXCEEDED or CANCELLED when the client can no longer use an answer."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return ServiceError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "the deadline passed before the computation started; nothing was computed",
        )
    if context.cancelled():
        return ServiceError(
            grpc.StatusCode.CANCELLED,
            "the call was cancelled before the computation started; nothing was computed",
        )
    return None


__all__ = ["UNARY_ENVELOPE_BYTES", "KernelServicer", "Limits"]
