"""What every call goes through besides its own work: for KernelService calls, auth and
what each call leaves behind (one log line, its metrics, the count of calls in flight);
for every call, a cap on its metadata; and a cap on the long-lived streams of health and
reflection.

Why apart from the servicer: it stays about matrices; auth and observation apply to every
RPC the same way and are tested once. They wrap the servicer's behaviors before they are
registered (`guard`), so they cost nothing per call but the work itself. Health and
reflection are not KernelService methods, so they stay open without a token and do not
flood the log; their cap, and the metadata cap, are gRPC interceptors.

Why the metadata check: gRPC refuses metadata over its limit with RESOURCE_EXHAUSTED but
no details (its own message, which lists the keys, is itself too big to send), and logs a
line no flag silences. So gRPC's hard limit is raised (`config.METADATA_HARD_LIMIT`) and
`MetadataLimit` refuses anything over gRPC's usual 8 KiB itself, saying what was sent and
what fits; past the hard limit gRPC's own refusal remains.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from cuda_kernels.rpc.protocol.auth import AUTH_METADATA_KEY, token_of
from cuda_kernels.rpc.protocol.errors import abort_with, too_large
from cuda_kernels.rpc.protocol.methods import rpc_kind
from cuda_kernels.rpc.server.calls import CallRecord, OpenCalls, loggable, recording
from cuda_kernels.rpc.server.metrics import ServerMetrics

_log = logging.getLogger(__name__)

METADATA_LIMIT = 8 * 1024  # gRPC's default: what every client and proxy lets through
_ENTRY_OVERHEAD = 32  # HTTP/2 (HPACK) counts each header as name + value + 32 bytes
# streams that stay open for as long as the client likes, without a token
LONG_LIVED_STREAMS = frozenset(
    {
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    }
)
Behavior = Callable[[Any, grpc.aio.ServicerContext], Any]


def guard(
    behaviors: Mapping[str, Behavior],
    metrics: ServerMetrics,
    in_flight: OpenCalls,
    token: str | None,
) -> dict[str, Behavior]:
    """Each KernelService behavior (method name -> coroutine function) observed and, with a
    `token` (checked by `ServerConfig.check`), open only to calls that carry it."""
    if token is not None:
        expected = token.encode()
        behaviors = {name: _authorized(b, expected) for name, b in behaviors.items()}
    return {name: _observed(name, b, metrics, in_flight) for name, b in behaviors.items()}


def _observed(
    rpc: str, behavior: Behavior, metrics: ServerMetrics, in_flight: OpenCalls
) -> Behavior:
    """`behavior` with one INFO line (id, RPC, shapes, kernel, backend, queue and compute
    times, total time, code) and its metrics per call, counted `in_flight` (which refuses
    a call past its limit). It opens the call's record (`calls.recording`), which the
    servicer fills in."""

    async def observed(request, context):
        start = time.perf_counter()
        cancelled = False
        with recording(rpc) as record:
            try:
                await in_flight.enter(context)
                return await behavior(request, context)
            except asyncio.CancelledError:
                cancelled = True
                raise
            finally:
                in_flight.leave()
                code = _final_code(context, cancelled)
                _emit(metrics, record, code, time.perf_counter() - start)

    return observed


def _final_code(context: grpc.aio.ServicerContext, cancelled: bool) -> grpc.StatusCode:
    if cancelled:
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
    return context.code() or grpc.StatusCode.OK


def _emit(
    metrics: ServerMetrics, record: CallRecord, code: grpc.StatusCode, seconds: float
) -> None:
    metrics.observe(record, code.name, seconds)
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


def _authorized(behavior: Behavior, expected: bytes) -> Behavior:
    """`behavior` for calls with `authorization: Bearer <token>` (the scheme in any case,
    RFC 6750), the token compared in constant time; UNAUTHENTICATED for any other."""

    def carries_token(metadata) -> bool:
        for key, value in metadata or ():
            if key == AUTH_METADATA_KEY:
                given = token_of(value)
                return given is not None and hmac.compare_digest(given, expected)
        return False

    async def authorized(request, context):
        if not carries_token(context.invocation_metadata()):
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "this server needs metadata 'authorization: Bearer <token>' with the token "
                "from its --auth-token-file; the call had none or a wrong one",
            )
        return await behavior(request, context)

    return authorized


def rewrap_handler(handler: grpc.RpcMethodHandler, wrap: Callable[[Callable], Callable]) -> Any:
    """The same handler (shape, codecs) with its behavior replaced by `wrap(behavior)`:
    how an interceptor wraps or refuses a call without knowing the method."""
    behavior = (
        handler.stream_stream or handler.stream_unary or handler.unary_stream or handler.unary_unary
    )
    kind = rpc_kind(handler.request_streaming, handler.response_streaming)
    return getattr(grpc, f"{kind}_rpc_method_handler")(
        wrap(behavior),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def metadata_bytes(metadata: Any) -> int:
    """The size of call metadata as HTTP/2 counts it."""
    return sum(
        len(key) + len(value if isinstance(value, bytes) else str(value).encode()) + _ENTRY_OVERHEAD
        for key, value in metadata or ()
    )


class MetadataLimit(grpc.aio.ServerInterceptor):
    """Calls whose metadata passes `METADATA_LIMIT` bytes are refused with
    RESOURCE_EXHAUSTED and a sentence with the numbers (see the module docstring)."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        metadata = handler_call_details.invocation_metadata
        size = metadata_bytes(metadata)
        if handler is None or size <= METADATA_LIMIT:
            return handler
        refusal = too_large(
            f"the call's metadata is {size} bytes in {len(metadata)} entries; this server "
            f"takes at most {METADATA_LIMIT} bytes (gRPC's usual limit): send fewer or "
            "smaller headers"
        )

        async def refuse(_request, context: grpc.aio.ServicerContext):
            await abort_with(context, refusal)

        return rewrap_handler(handler, lambda _behavior: refuse)


class OpenStreamsLimit(grpc.aio.ServerInterceptor):
    """At most `limit` Health.Watch and reflection streams open at once.

    Why: they need no token and last as long as the client keeps them, so without a cap
    anyone could hold thousands of them (each a task, buffers and a file descriptor's
    worth of HTTP/2 state). They are counted apart from KernelService calls, so neither
    can starve the other; Health.Check, a unary call, is never capped.
    """

    def __init__(self, limit: int) -> None:
        advice = "close one or retry later"
        self.open = OpenCalls(limit, "health-watch and reflection streams open", advice)

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method not in LONG_LIVED_STREAMS:
            return handler
        return rewrap_handler(handler, self._limited)

    def _limited(self, behavior: Callable) -> Callable:
        """`behavior` behind the cap: a coroutine as it is, an async generator (reflection)
        with its replies written as gRPC would write them."""
        generates = inspect.isasyncgenfunction(behavior)

        async def limited(request, context):
            try:
                await self.open.enter(context)
                if not generates:
                    return await behavior(request, context)
                async for reply in behavior(request, context):
                    await context.write(reply)
            finally:
                self.open.leave()
                _log.debug("a health-watch or reflection stream ended; %d open", self.open.count)

        return limited
