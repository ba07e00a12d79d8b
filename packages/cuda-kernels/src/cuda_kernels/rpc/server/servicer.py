"""`KernelServicer`: the thin asyncio face of a `Backend` (the operations, and GetInfo).

Why thin: every check is a plain function (`rpc.protocol`, `cuda_kernels.validation`), the
memory is the budget's (`budget`), the threads are the workers' (`workers`), the stream
pace is `pacing`'s, and the work is the backend's; this class only orders them: refuse
while draining, check the request, reserve its memory, receive it, refuse a call that is
already dead before any backend work, compute on a worker, answer, give the memory back.

Every operation of `operations.OPERATIONS` is served on one unary path (`_unary`) and one
streaming path (`_stream`); GetInfo is the one RPC of its own.

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
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.backends.base import Backend
from cuda_kernels.backends.numpy_backend import NumpyBackend
from cuda_kernels.rpc.protocol.chunking import (
    DEFAULT_CHUNK_BYTES,
    TensorAssembler,
    check_stream_shapes,
    iter_chunks,
    stream_header_of,
)
from cuda_kernels.rpc.protocol.errors import ServiceError, abort_with, invalid, refusal_for
from cuda_kernels.rpc.protocol.methods import METHODS, check_parsed
from cuda_kernels.rpc.protocol.tensors import (
    array_view,
    check_header,
    fill_header,
    fill_tensor,
    from_tensor,
    nbytes_of,
)
from cuda_kernels.rpc.server.budget import MemoryBudget
from cuda_kernels.rpc.server.calls import (
    annotate_call,
    count_bytes,
    current_call,
    loggable,
)
from cuda_kernels.rpc.server.config import Limits
from cuda_kernels.rpc.server.operations import OPERATIONS, Operation
from cuda_kernels.rpc.server.pacing import PacedReader, TooSlow, write_paced
from cuda_kernels.rpc.server.workers import KernelWorkers

_log = logging.getLogger(__name__)

MAX_REQUEST_ID_CHARS = 128


class KernelServicer:
    """Serves KernelService on one backend; `draining` set means: refuse new work.
    `behaviors()` is what the server registers, one coroutine per RPC."""

    def __init__(
        self,
        backend: Backend,
        limits: Limits,
        version: str,
        draining: threading.Event,
        budget: MemoryBudget,
        workers: KernelWorkers,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.version = version
        self.draining = draining
        self.budget = budget
        self.workers = workers
        self._may_inline = type(backend) is NumpyBackend

    def behaviors(self) -> dict[str, Callable[[Any, Any], Awaitable[Any]]]:
        found = {"GetInfo": self._guarded(self._info)}
        for operation in OPERATIONS:
            found[operation.name] = self._guarded(self._unary, operation)
            found[f"{operation.name}Stream"] = self._guarded(self._stream, operation)
        return found

    async def _info(self, request, context) -> pb.GetInfoResponse:
        check_parsed(request)
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

    # --- the two paths ------------------------------------------------------------------

    async def _unary(self, operation: Operation, request, context) -> Any:
        self._begin(request)
        cap, result = self.limits.max_tensor_bytes, operation.result
        shapes = [check_header(tensor, name, cap) for name, tensor in operation.tensors(request)]
        plan = operation.plan(self.backend, request, shapes)
        in_bytes = sum(nbytes_of(shape) for shape in shapes)
        self.limits.check_unary_request(in_bytes)
        self.limits.check_result(result, plan.result_shape, streamed=False)

        def work() -> Any:
            arrays = [from_tensor(tensor, name, cap) for name, tensor in operation.tensors(request)]
            count_bytes(received=in_bytes)
            reply, output = operation.run(self.backend, request, plan, arrays)
            fill_tensor(getattr(reply, result), output)
            count_bytes(sent=output.nbytes)
            return reply

        total = in_bytes + nbytes_of(plan.result_shape)
        with await self.budget.reserve(total, 0, f"this {operation.name}"):
            return await self._on_worker(context, work, plan.small)

    async def _stream(self, operation: Operation, requests, context) -> None:
        """Check the header (the unary request without tensor data), reserve (waiting a
        little), receive the chunks, compute, send the reply's header, then its chunks."""
        reader, rpc = PacedReader(requests, self.limits), METHODS[f"{operation.name}Stream"]
        self._refuse_if_draining()
        header = stream_header_of(await reader.next())
        self._begin(header)
        shapes = check_stream_shapes(operation.tensors(header), self.limits.max_tensor_bytes)
        in_bytes = sum(nbytes_of(shape) for shape in shapes)
        _log.debug(
            "request_id=%s: stream header accepted; receiving %d bytes of chunks",
            loggable(header.request_id or "-"), in_bytes,
        )  # fmt: skip
        plan = operation.plan(self.backend, header, shapes)
        self.limits.check_result(operation.result, plan.result_shape, streamed=True)
        wait = _within_deadline(context, self.limits.budget_wait_seconds)
        total = in_bytes + nbytes_of(plan.result_shape)
        reservation = await self.budget.reserve(total, wait, f"this {rpc.name}")
        assembler = inputs = result = None  # what the call holds, all let go of in `finally`
        try:
            reader.restart_clock()  # the wait for the budget was the server's
            assembler = TensorAssembler(shapes)
            while (message := await reader.next()) is not None:
                reader.count(assembler.add(message))
            inputs, assembler = assembler.finish(), None
            reply, result = await self._on_worker(
                context, lambda: operation.run(self.backend, header, plan, inputs)
            )
            inputs = None
            reservation.release(in_bytes)
            await self._send(context, rpc.response_type, reply, operation.result, result)
        finally:
            assembler = inputs = result = None
            reservation.release()

    async def _send(self, context, stream_type: type, reply, result: str, output) -> None:
        fill_header(getattr(reply, result), output)
        await write_paced(context, stream_type(header=reply), self.limits)
        for part in iter_chunks([array_view(output)], DEFAULT_CHUNK_BYTES):
            await write_paced(context, part, self.limits, len(part.data))

    # --- steps shared by the RPCs -----------------------------------------------------

    def _refuse_if_draining(self) -> None:
        if self.draining.is_set():
            raise ServiceError(
                grpc.StatusCode.UNAVAILABLE,
                "the server is shutting down and takes no new calls; retry on another replica",
            )

    def _begin(self, request) -> None:
        check_parsed(request)
        self._refuse_if_draining()
        request_id = request.request_id
        annotate_call(request_id=request_id, backend=self.backend.name)
        if len(request_id) > MAX_REQUEST_ID_CHARS:
            raise invalid(
                f"request_id has {len(request_id)} characters; at most "
                f"{MAX_REQUEST_ID_CHARS} are accepted"
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

    def _guarded(self, work: Callable[..., Awaitable[Any]], *bound: Any) -> Callable:
        """The RPC `await work(*bound, request, context)`, with refusals turned into status
        codes and faults into INTERNAL. Only a fresh status leaves the `except` block: a
        kept exception would hold, through its traceback, the frames that hold the buffers."""

        async def rpc(request, context) -> Any:
            try:
                return await work(*bound, request, context)
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except TooSlow as exc:  # a stream the server ended; its memory is back now
                status = _fresh(exc)
                record = current_call()
                _log.info("request_id=%s: %s", loggable(record.request_id or "-"), status.details)
            except Exception as exc:  # every other exception becomes a status
                status = self._status_for(exc, context)
            await abort_with(context, status)

        return rpc

    def _status_for(self, exc: Exception, context) -> ServiceError:
        refusal = refusal_for(exc)  # the exception itself, for a ServiceError
        if refusal is None:
            return self._fault(exc)
        # a stream cut short by the client's cancel or deadline looks malformed; say why
        return _dead_call_error(context) or _fresh(refusal)

    def _fault(self, exc: Exception) -> ServiceError:
        """INTERNAL for a backend fault, logged with its traceback (as text: a log record
        holding the exception would hold the call's buffers)."""
        record = current_call()
        request_id = loggable(record.request_id) if record and record.request_id else "-"
        backend, trace = self.backend.name, "".join(traceback.format_exception(exc)).rstrip()
        _log.error("request_id=%s: the %s backend failed:\n%s", request_id, backend, trace)
        return ServiceError(
            grpc.StatusCode.INTERNAL,
            f"the {backend} backend failed on request {request_id}; the server log has the details",
        )


def _fresh(refusal: ServiceError) -> ServiceError:
    """A copy of a raised refusal without its traceback (and the frames that holds)."""
    return ServiceError(refusal.code, refusal.details, refusal.retry_after_s)


def _within_deadline(context, seconds: float) -> float:
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
