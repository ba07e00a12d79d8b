"""Reading and writing a stream at a pace the server sets, not the client.

Why: a stream holds its reservation of the memory budget for as long as it lasts, so a
client that stops sending (or reading) would hold it forever, and one that sends 4 bytes a
second would never trip a plain idle timer. Two rules end such streams with
DEADLINE_EXCEEDED:

- idle: no message for `idle_seconds` (while reading), or a message the client does not
  take for `idle_seconds` (while writing). A reply abandoned so gives its memory back at
  once; gRPC can only deliver the status behind the bytes already queued, so the call
  itself ends when the client reads again, disconnects or reaches its deadline (meanwhile
  it holds no more than HTTP/2's flow-control window);
- rate: once `idle_seconds` have passed, the bytes received must keep up with
  `min_stream_bytes_per_s`; a stream may fall behind that floor by at most `idle_seconds` worth.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc

from cuda_kernels.rpc.protocol.errors import ServiceError
from cuda_kernels.rpc.server.calls import count_bytes

if TYPE_CHECKING:
    from cuda_kernels.rpc.server.config import Limits


class TooSlow(ServiceError):
    """DEADLINE_EXCEEDED for a stream the server ended; the servicer logs it once the
    call's memory is given back, since ending a client's stream is news."""

    def __init__(self, details: str) -> None:
        super().__init__(grpc.StatusCode.DEADLINE_EXCEEDED, details)


class PacedReader:
    """The messages of a request stream, each awaited under the idle and rate rules of
    `pace` (`min_stream_bytes_per_s` 0 turns the rate rule off)."""

    def __init__(self, requests: AsyncIterator[Any], pace: Limits) -> None:
        self._requests = aiter(requests)
        self._pace = pace
        self._loop = asyncio.get_running_loop()
        self.received = 0
        self.restart_clock()

    def restart_clock(self) -> None:
        """Start the rate rule now (after a wait that was the server's, not the client's)."""
        self._started = self._loop.time()
        self._received_at_start = self.received

    def _time_left(self) -> tuple[float, str]:
        """Seconds the next message may take, and the rule that sets that bound."""
        pace, now = self._pace, self._loop.time()
        idle = pace.idle_seconds
        if not pace.min_stream_bytes_per_s:
            return idle, "idle"
        counted = self.received - self._received_at_start
        floor = self._started + idle + counted / pace.min_stream_bytes_per_s - now
        if floor >= idle:
            return idle, "idle"
        # no data at all since the clock started: that is the idle rule, over a longer time
        return floor, "rate" if counted else "idle"

    def _refusal(self, rule: str) -> ServiceError:
        pace = self._pace
        if rule == "idle":
            return TooSlow(
                f"the stream sent no data for {pace.idle_seconds:g} s (--idle-seconds); "
                "it was ended and its memory freed"
            )
        elapsed = self._loop.time() - self._started
        return TooSlow(
            f"the stream sent {self.received - self._received_at_start} bytes in "
            f"{elapsed:.1f} s, slower than this server's floor of "
            f"{pace.min_stream_bytes_per_s:g} bytes/s (--min-stream-kib-per-s); "
            "it was ended and its memory freed"
        )

    async def next(self) -> Any | None:
        """The next message, None at the end of the stream; DEADLINE_EXCEEDED when the
        client took too long."""
        left, rule = self._time_left()
        if left <= 0:
            raise self._refusal(rule)
        try:
            async with asyncio.timeout(left):
                message = await anext(self._requests, None)
        except TimeoutError:
            raise self._refusal(rule) from None
        return message

    def count(self, nbytes: int) -> None:
        """Credit `nbytes` of tensor data to the rate rule and the call's record."""
        self.received += nbytes
        count_bytes(received=nbytes)


async def write_paced(context: Any, message: Any, pace: Limits, nbytes: int = 0) -> None:
    """`context.write(message)`, DEADLINE_EXCEEDED when the client does not take it within
    the idle limit (a client that stopped reading holds the reply's memory)."""
    try:
        async with asyncio.timeout(pace.idle_seconds):
            await context.write(message)
    except TimeoutError:
        raise TooSlow(
            f"the client read nothing for {pace.idle_seconds:g} s (--idle-seconds); "
            "the reply was abandoned and its memory freed"
        ) from None
    count_bytes(sent=nbytes)
