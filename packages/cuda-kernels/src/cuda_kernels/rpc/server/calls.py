"""The record of one KernelService call: what its log line says, filled in as it runs.

Why a ContextVar: the logging interceptor opens the record around each call, the servicer
adds what only it knows (request id, shapes, kernel, compute time) and reads the request
id back for its error messages, and nothing passes the record from function to function.
Each call runs in its own context (a thread of the pool; a task under asyncio), so two
calls' records never mix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cuda_kernels.validation import shape_text


@dataclass
class CallRecord:
    """What the log line of one call says."""

    rpc: str
    request_id: str = ""
    shapes: str = "-"
    kernel: str = "-"
    backend: str = "-"
    compute_ms: float | None = None


_current: ContextVar[CallRecord | None] = ContextVar("cuda_kernels_call", default=None)


@contextlib.contextmanager
def recording(rpc: str) -> Iterator[CallRecord]:
    """A fresh record for one call of `rpc`, current while the call runs."""
    record = CallRecord(rpc)
    token = _current.set(record)
    try:
        yield record
    finally:
        # a response stream closed from another thread has nothing to undo here
        with contextlib.suppress(ValueError):
            _current.reset(token)


def current_call() -> CallRecord | None:
    """The record of the call running in this context, if one is being recorded."""
    return _current.get()


def annotate_call(**fields: Any) -> None:
    """Add facts (request_id, shapes, kernel, backend, compute_ms) to this call's record."""
    record = _current.get()
    if record is not None:
        for name, value in fields.items():
            setattr(record, name, value)


def describe_shapes(named: list[tuple[str, tuple[int, ...]]]) -> str:
    """`a:3x4 b:4x5` for the log line."""
    return " ".join(f"{name}:{shape_text(shape)}" for name, shape in named)
