"""The record of one KernelService call, what may go into its log line, and the count of
open calls.

Why a ContextVar: the observing wrapper (`interceptors.guard`) opens the record around each
call, the servicer adds what only it knows (request id, shapes, kernel, queue and compute
times, bytes) and reads the request id back for its error messages, and nothing passes the
record from function to function. Each call runs in its own asyncio task, hence its own
context, so two calls' records never mix.

Why `loggable`: request ids and kernel names come from clients. Written raw, a newline in
an id forges a log line and a 1 MiB id makes a 1 MiB line; every client string goes
through `loggable` before it reaches a log line or an error's details.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import grpc

from cuda_kernels.rpc.protocol.errors import abort_with, busy

LOGGABLE_CHARS = 64  # a client string is cut to this many characters in logs and errors
_PLAIN = re.compile(r"[A-Za-z0-9_.:/+@~-]+")


def loggable(text: str) -> str:
    """`text` safe for one `key=value` log line: as it is when made of plain characters
    (letters, digits, `-_.:/+@~`), else quoted with every non-printable character escaped
    (`'a\\nb'`), as logfmt does; cut to `LOGGABLE_CHARS`, saying how many were left out."""
    cut = text[:LOGGABLE_CHARS]
    shown = cut if cut and _PLAIN.fullmatch(cut) else repr(cut)
    if len(text) > LOGGABLE_CHARS:
        shown += f"...(+{len(text) - LOGGABLE_CHARS} chars)"
    return shown


@dataclass
class CallRecord:
    """What the log line and the metrics of one call say."""

    rpc: str
    request_id: str = ""
    shapes: str = "-"
    kernel: str = "-"
    backend: str = "-"
    queue_ms: float | None = None
    compute_ms: float | None = None
    bytes_in: int = 0
    bytes_out: int = 0


_current: ContextVar[CallRecord | None] = ContextVar("cuda_kernels_call", default=None)


@contextlib.contextmanager
def recording(rpc: str) -> Iterator[CallRecord]:
    record = CallRecord(rpc)
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)


def current_call() -> CallRecord | None:
    return _current.get()


def annotate_call(**fields: Any) -> None:
    record = _current.get()
    if record is not None:
        for name, value in fields.items():
            setattr(record, name, value)


def count_bytes(received: int = 0, sent: int = 0) -> None:
    record = _current.get()
    if record is not None:
        record.bytes_in += received
        record.bytes_out += sent


class OpenCalls:
    """How many calls of one kind are open, at most `limit` (`--max-calls`): each open call
    costs memory outside the budget (its coroutine and gRPC's state, some tens of KiB). A
    drain waits for the count to reach zero. Used on the server's event loop only (the
    metrics endpoint just reads `count`).
    """

    def __init__(self, limit: int, what: str, advice: str) -> None:
        self.limit, self.what, self.advice = limit, what, advice
        self.count = 0
        self._idle: asyncio.Event | None = None

    async def enter(self, context: grpc.aio.ServicerContext) -> None:
        """Count one more call; past the limit, refuse it (counted until it `leave`s)."""
        self.count += 1
        if self.count > self.limit:
            refusal = busy(
                f"this server has {self.limit} {self.what}, its limit (--max-calls); {self.advice}"
            )
            await abort_with(context, refusal)

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        while self.count:
            self._idle = asyncio.Event()
            await self._idle.wait()
