"""Cross-cutting concerns of every KernelService call: auth, and what each call leaves
behind (one log line, its metrics, the count of calls in flight); and a cap on the
long-lived streams of health and reflection.

Why interceptors: the servicer stays about matrices; auth and observation apply to every
RPC the same way and are tested once. Health and reflection are not KernelService methods,
so they stay open without a token and do not flood the log.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import time
from collections.abc import Callable

import grpc

from cuda_kernels.rpc.protocol.auth import AUTH_METADATA_KEY, check_token, token_of
from cuda_kernels.rpc.protocol.errors import abort_with, busy
from cuda_kernels.rpc.protocol.methods import SERVICE_PREFIX, rewrap_handler
from cuda_kernels.rpc.server.calls import CallRecord, InFlight, loggable, recording
from cuda_kernels.rpc.server.metrics import ServerMetrics

_log = logging.getLogger(__name__)

# streams that stay open for as long as the client likes, without a token
LONG_LIVED_STREAMS = frozenset(
    {
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    }
)


def _final_code(context: grpc.aio.ServicerContext, cancelled: bool) -> grpc.StatusCode:
    """The status a finished call ended with."""
    if cancelled:
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, int):  # some grpcio versions report the raw number
        code = next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    return code or grpc.StatusCode.OK


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """For each KernelService call: one INFO line (id, RPC, shapes, kernel, backend, queue
    and compute times, total time, code), its metrics, and the count of calls in flight,
    which may not pass `max_calls` (each open call costs memory outside the budget: its
    coroutine and gRPC's state, some tens of KiB).

    It also opens the call's record (`calls.recording`), which the servicer fills in.
    """

    def __init__(self, metrics: ServerMetrics, in_flight: InFlight, max_calls: int) -> None:
        self._metrics, self._in_flight, self._max_calls = metrics, in_flight, max_calls
        # built once per handler: the auth interceptor behind this one may hand back its
        # refusal instead of the method's handler, so the handler is the key, not the name
        self._wrapped: dict[grpc.RpcMethodHandler, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        wrapped = self._wrapped.get(handler)
        if wrapped is None:
            rpc = method[len(SERVICE_PREFIX) :]
            wrapped = rewrap_handler(handler, lambda behavior: self._wrap(rpc, behavior))
            self._wrapped[handler] = wrapped
        return wrapped

    def _wrap(self, rpc: str, behavior: Callable) -> Callable:
        async def observed(request, context):
            start = time.perf_counter()
            self._in_flight.enter()
            cancelled = False
            with recording(rpc) as record:
                try:
                    if self._in_flight.count > self._max_calls:
                        await abort_with(context, busy(self._full()))
                    return await behavior(request, context)
                except asyncio.CancelledError:
                    cancelled = True
                    raise
                finally:
                    self._in_flight.leave()
                    code = _final_code(context, cancelled)
                    self._emit(record, code, time.perf_counter() - start)

        return observed

    def _full(self) -> str:
        return (
            f"this server has {self._max_calls} calls in flight, its limit (--max-calls); "
            "retry later or use another replica"
        )

    def _emit(self, record: CallRecord, code: grpc.StatusCode, seconds: float) -> None:
        self._metrics.observe(record, code.name, seconds)
        queue = "-" if record.queue_ms is None else f"{record.queue_ms:.3f}"
        compute = "-" if record.compute_ms is None else f"{record.compute_ms:.3f}"
        _log.info(
            "request_id=%s rpc=%s shapes=%s kernel=%s backend=%s queue_ms=%s compute_ms=%s "
            "total_ms=%.3f code=%s",
            loggable(record.request_id) if record.request_id else "-",
            record.rpc,
            record.shapes,
            record.kernel,
            record.backend,
            queue,
            compute,
            seconds * 1e3,
            code.name,
        )


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):
    """Every KernelService call must carry `authorization: Bearer <token>` (the scheme in
    any case, RFC 6750); the token is compared in constant time."""

    def __init__(self, token: str) -> None:
        self._expected = check_token(token).encode()
        self._denials: dict[str, grpc.RpcMethodHandler] = {}  # built once per method

    def _authorized(self, metadata) -> bool:
        for key, value in metadata or ():
            if key == AUTH_METADATA_KEY:
                given = token_of(value)
                return given is not None and hmac.compare_digest(given, self._expected)
        return False

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        if self._authorized(handler_call_details.invocation_metadata):
            return handler
        if method not in self._denials:
            self._denials[method] = rewrap_handler(handler, lambda _behavior: _deny)
        return self._denials[method]


async def _deny(_request, context: grpc.aio.ServicerContext):
    await context.abort(
        grpc.StatusCode.UNAUTHENTICATED,
        "this server needs metadata 'authorization: Bearer <token>' with the token from "
        "its --auth-token-file; the call had none or a wrong one",
    )


class OpenStreamsLimit(grpc.aio.ServerInterceptor):
    """At most `limit` Health.Watch and reflection streams open at once.

    Why: they need no token and last as long as the client keeps them, so without a cap
    anyone could hold thousands of them (each a task, buffers and a file descriptor's
    worth of HTTP/2 state). They are counted apart from KernelService calls, so neither
    can starve the other; Health.Check, a unary call, is never capped.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.open = limit, 0
        self._wrapped: dict[grpc.RpcMethodHandler, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method not in LONG_LIVED_STREAMS:
            return handler
        wrapped = self._wrapped.get(handler)
        if wrapped is None:
            wrapped = self._wrapped[handler] = rewrap_handler(handler, self._limited)
        return wrapped

    def _limited(self, behavior: Callable) -> Callable:
        """`behavior` (a coroutine or an async generator) behind the cap."""
        if inspect.isasyncgenfunction(behavior):

            async def limited_stream(request, context):
                await self._enter(context)
                try:
                    async for reply in behavior(request, context):
                        yield reply
                finally:
                    self._leave()

            return limited_stream

        async def limited(request, context):
            await self._enter(context)
            try:
                return await behavior(request, context)
            finally:
                self._leave()

        return limited

    async def _enter(self, context: grpc.aio.ServicerContext) -> None:
        if self.open >= self.limit:
            await abort_with(
                context,
                busy(
                    f"this server has {self.open} health-watch and reflection streams open, "
                    "its limit (--max-calls); close one or retry later"
                ),
            )
        self.open += 1

    def _leave(self) -> None:
        self.open -= 1
        _log.debug("a health-watch or reflection stream ended; %d open", self.open)
