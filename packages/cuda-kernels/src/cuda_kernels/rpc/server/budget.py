"""`MemoryBudget`: one limit on the bytes that calls in flight hold.

Why: a call's memory is known before any work starts: the inputs its header (or unary
request) announces plus the result its shapes imply (n x p for a matmul: 16384x1 times
1x16384 sends 128 KiB and asks for a 1 GiB result). Each call reserves that sum first and
gives it back when its last byte is sent or it fails, so the bytes held by all calls
together never pass the limit, whatever clients send.

A stream reserves at its header and may wait up to the server's budget wait for room (it
holds nothing but the header meanwhile); a unary request has already arrived, so it takes
room at once or is refused at once (a wait of 0). A call bigger than the whole budget is refused
without waiting. Every refusal is RESOURCE_EXHAUSTED with the numbers; those that only
mean "not now" carry a retry hint (`protocol.errors.busy`).

The budget lives on the server's event loop: reserve and release run there only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from cuda_kernels.rpc.protocol.errors import busy, too_large

RAM_FRACTION = 0.25  # of the machine's (or the container's) memory
GPU_FRACTION = 0.5  # of the device's memory, for a backend that reports it
_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


def physical_memory_bytes() -> int | None:
    """The RAM this process may use: the machine's, or its container's limit if lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_budget_bytes(device_memory_bytes: int | None = None) -> int:
    """A quarter of the RAM (or of the container's limit), and at most half of the device's
    memory when the backend reports it; 1 GiB where neither can be read."""
    candidates = []
    ram = physical_memory_bytes()
    if ram:
        candidates.append(int(ram * RAM_FRACTION))
    if device_memory_bytes:
        candidates.append(int(device_memory_bytes * GPU_FRACTION))
    return min(candidates) if candidates else 1 << 30


class Reservation:
    """Bytes one call holds against the budget; `release` gives back some or all of it.

    Releasing twice is harmless, so `finally: reservation.release()` is always right.
    """

    def __init__(self, budget: MemoryBudget, nbytes: int) -> None:
        self._budget = budget
        self.nbytes = nbytes

    def release(self, nbytes: int | None = None) -> None:
        """Give back `nbytes` (default: everything still held)."""
        amount = self.nbytes if nbytes is None else min(nbytes, self.nbytes)
        if amount > 0:
            self.nbytes -= amount
            self._budget._give_back(amount)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class MemoryBudget:
    """At most `limit` bytes held by calls in flight (see the module docstring)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._freed = asyncio.Event()

    async def reserve(self, nbytes: int, wait_seconds: float, what: str) -> Reservation:
        """Reserve `nbytes`, waiting up to `wait_seconds` (0: not at all) for calls to give
        room back; RESOURCE_EXHAUSTED saying how full the budget is when there is none."""
        if nbytes > self.limit:
            raise too_large(
                f"{what} needs {nbytes} bytes (inputs plus result), more than this server's "
                f"whole memory budget of {self.limit} bytes (--memory-budget-mb); send "
                "smaller pieces"
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while self.held + nbytes > self.limit:
            remaining = deadline - loop.time()
            if remaining <= 0 and not wait_seconds:  # a unary request: refused at once
                raise busy(
                    f"{what} needs {nbytes} bytes but this server holds {self.held} of its "
                    f"{self.limit}-byte memory budget for calls in flight; retry later or "
                    "use another replica"
                )
            if remaining <= 0:
                raise busy(
                    f"{what} needs {nbytes} bytes; this server's {self.limit}-byte memory "
                    f"budget stayed too full ({self.held} bytes held by calls in flight) "
                    f"for {wait_seconds:g} s; retry later or use another replica"
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._freed.wait()
        self.held += nbytes
        return Reservation(self, nbytes)

    def _give_back(self, nbytes: int) -> None:
        self.held -= nbytes
        freed, self._freed = self._freed, asyncio.Event()
        freed.set()  # wakes every waiter; each checks whether it fits now
