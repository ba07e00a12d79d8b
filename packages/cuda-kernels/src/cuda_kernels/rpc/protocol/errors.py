"""`ServiceError`: a refusal that already knows its gRPC status code and its sentence.

Why: the request checks (tensors, chunks, caps) live in plain modules that know nothing
about a `grpc.ServicerContext`; they raise this, and the servicer and the interceptors
turn it into `context.abort` with `abort_with`. The client raises it too when a reply is
malformed (then reported as DATA_LOSS).

A refusal that only says "not now" (the server is at capacity, its memory budget is held by
other calls) carries a retry hint, sent as the trailing metadata `retry-after-ms`: the
client retries those RESOURCE_EXHAUSTED refusals and no others, since the same code also
means "too big for this server", which no retry can change.
"""

from __future__ import annotations

import grpc

RETRY_AFTER_KEY = "retry-after-ms"
BUSY_RETRY_AFTER_S = 0.1  # the hint a busy server gives: a call's time here, give or take
MAX_RETRY_AFTER_S = 60.0  # the most a client believes from a server's hint


class ServiceError(Exception):
    """A request the service refuses, with the status code and a human sentence;
    `retry_after_s` is set when the same request may succeed later."""

    def __init__(
        self, code: grpc.StatusCode, details: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.retry_after_s = retry_after_s


def invalid(details: str) -> ServiceError:
    """INVALID_ARGUMENT: the request itself is malformed; retrying it cannot help."""
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, details)


def too_large(details: str) -> ServiceError:
    """RESOURCE_EXHAUSTED: the request is well formed but over one of the server's caps."""
    return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, details)


def busy(details: str) -> ServiceError:
    """RESOURCE_EXHAUSTED for now only: the server is full, and the same request may be
    served a moment later (the client retries it)."""
    return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, details, BUSY_RETRY_AFTER_S)


def retry_after_metadata(retry_after_s: float | None) -> tuple[tuple[str, str], ...]:
    """The trailing metadata that carries a refusal's retry hint (none without one)."""
    if retry_after_s is None:
        return ()
    return ((RETRY_AFTER_KEY, str(max(round(retry_after_s * 1000), 0))),)


def retry_after_of(trailing_metadata: object) -> float | None:
    """The retry hint in a reply's trailing metadata, in seconds: None when there is none
    or it is not a whole number of milliseconds, and at most MAX_RETRY_AFTER_S whatever a
    server sends."""
    for key, value in trailing_metadata or ():
        if key != RETRY_AFTER_KEY:
            continue
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
        if not (text.isascii() and text.isdigit() and len(text) <= 9):
            return None
        return min(int(text) / 1000, MAX_RETRY_AFTER_S)
    return None


async def abort_with(context: grpc.aio.ServicerContext, refusal: ServiceError) -> None:
    """End the call with the refusal's code and sentence, and its retry hint if any."""
    await context.abort(refusal.code, refusal.details, retry_after_metadata(refusal.retry_after_s))


def refusal_for(exc: Exception) -> ServiceError | None:
    """The refusal an exception from the request checks stands for, or None for a fault.

    A `ServiceError` is one already; the shared operand checks (`cuda_kernels.validation`,
    also run by the backends) raise ValueError or TypeError, which mean INVALID_ARGUMENT.
    """
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, (ValueError, TypeError)):
        return invalid(str(exc))
    return None
