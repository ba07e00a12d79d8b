"""`ServiceError`: a refusal that already knows its gRPC status code and its sentence.

Why: the request checks (tensors, chunks, caps) live in plain modules that know nothing
about a `grpc.ServicerContext`; they raise this, and the servicer turns it into
`context.abort(code, details)` in one place. The client raises it too when a reply is
malformed (then reported as DATA_LOSS).
"""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """A request the service refuses, with the status code and a human sentence."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details

    def __repr__(self) -> str:
        return f"ServiceError({self.code.name}, {self.details!r})"


def invalid(details: str) -> ServiceError:
    """INVALID_ARGUMENT: the request itself is malformed; retrying it cannot help."""
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, details)


def too_large(details: str) -> ServiceError:
    """RESOURCE_EXHAUSTED: the request is well formed but over one of the server's caps."""
    return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, details)


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
