"""Cross-cutting concerns of every KernelService call: auth and the one log line per call.

Why interceptors: the servicer stays about matrices; auth and logging apply to every RPC
the same way and are tested once. Health and reflection are not KernelService methods, so
they stay open without a token and do not flood the log.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable

import grpc

from cuda_kernels.rpc.protocol.auth import AUTH_METADATA_KEY, bearer_value
from cuda_kernels.rpc.protocol.methods import SERVICE_PREFIX, handler_factory
from cuda_kernels.rpc.server.calls import CallRecord, recording

_log = logging.getLogger("cuda_kernels.service.calls")


def _rebuild(handler: grpc.RpcMethodHandler, wrap: Callable[[Callable, bool], Callable]):
    """The same handler with its behavior wrapped; `wrap(behavior, streams_responses)`."""
    behavior = (
        handler.stream_stream
        or handler.stream_unary
        or handler.unary_stream
        or handler.unary_unary
    )
    factory = handler_factory(handler.request_streaming, handler.response_streaming)
    return factory(
        wrap(behavior, handler.response_streaming),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class LoggingInterceptor(grpc.ServerInterceptor):
    """One INFO line per KernelService call: id, RPC, shapes, kernel, backend, times, code.

    It also opens the call's record (`calls.recording`), which the servicer fills in.
    """

    def __init__(self, logger: logging.Logger = _log) -> None:
        self._logger = logger

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        rpc = method[len(SERVICE_PREFIX) :]
        return _rebuild(handler, lambda behavior, streams: self._wrap(rpc, behavior, streams))

    def _wrap(self, rpc: str, behavior: Callable, streams_responses: bool) -> Callable:
        if streams_responses:

            def logged_stream(request, context):
                start = time.perf_counter()
                with recording(rpc) as record:
                    try:
                        yield from behavior(request, context)
                    finally:
                        self._emit(record, context, start)

            return logged_stream

        def logged_unary(request, context):
            start = time.perf_counter()
            with recording(rpc) as record:
                try:
                    return behavior(request, context)
                finally:
                    self._emit(record, context, start)

        return logged_unary

    def _emit(self, record: CallRecord, context: grpc.ServicerContext, start: float) -> None:
        code = context.code() or grpc.StatusCode.OK
        if not context.is_active() and code is grpc.StatusCode.OK:
            code = grpc.StatusCode.CANCELLED  # the client went away before the answer
        compute = "-" if record.compute_ms is None else f"{record.compute_ms:.3f}"
        self._logger.info(
            "request_id=%s rpc=%s shapes=%s kernel=%s backend=%s compute_ms=%s "
            "total_ms=%.3f code=%s",
            record.request_id or "-",
            record.rpc,
            record.shapes,
            record.kernel,
            record.backend,
            compute,
            (time.perf_counter() - start) * 1e3,
            getattr(code, "name", code),
        )


class BearerAuthInterceptor(grpc.ServerInterceptor):
    """Every KernelService call must carry `authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        self._expected = bearer_value(token).encode()

    def _authorized(self, metadata) -> bool:
        for key, value in metadata or ():
            if key == AUTH_METADATA_KEY:
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected)
        return False

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if not method.startswith(SERVICE_PREFIX) or self._authorized(
            handler_call_details.invocation_metadata
        ):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return _rebuild(handler, lambda _behavior, _streams: _deny)


def _deny(_request, context: grpc.ServicerContext):
    context.abort(
        grpc.StatusCode.UNAUTHENTICATED,
        "this server needs metadata 'authorization: Bearer <token>' with the token from "
        "its --auth-token-file; the call had none or a wrong one",
    )
