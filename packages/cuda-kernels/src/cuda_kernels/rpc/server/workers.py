"""`KernelWorkers`: the bounded pool of threads that runs kernel work, and its queue.

Why apart from the gRPC server: under asyncio a call that waits for its client (a stalled
stream, a slow upload) costs no thread; only the backend work does, and it runs here, on
`workers` threads. At most `max_queued` calls wait for a thread; one more is refused at
once with RESOURCE_EXHAUSTED, so overload is answered, not buffered.

A call cancelled while its work runs keeps its place until the thread is done: the thread
still holds the call's memory, so the call's budget is given back only then.

Small work may run `inline`, on the event loop itself, when no other call is running or
waiting: handing it to a thread and back costs two thread wake-ups, more than a 256x256
matmul on a busy machine (BENCHMARKS.md). The loop is blocked for that long, but it had
nothing else to do; as soon as calls overlap, every call goes to the threads.

Work runs under `np.errstate(all="ignore")`: a client's NaN or Inf (or a product that
overflows float32) is the client's data, and IEEE arithmetic answers it with NaN or Inf;
numpy's RuntimeWarnings about it would only fill the server's stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from cuda_kernels.rpc.protocol.errors import busy
from cuda_kernels.rpc.server.calls import annotate_call

T = TypeVar("T")


class KernelWorkers:
    """`workers` threads for kernel work; at most `max_queued` calls waiting for one."""

    def __init__(self, workers: int, max_queued: int) -> None:
        self.workers = workers
        self.max_queued = max_queued
        self.waiting = 0
        self.running = 0
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="kernel-worker")
        self._slots = asyncio.Semaphore(workers)

    async def run(
        self,
        work: Callable[[], T],
        before: Callable[[], None] | None = None,
        inline: bool = False,
    ) -> T:
        """`work()` on a worker thread once one is free, or right here when `inline` and
        nothing else runs or waits; `before()` runs on the event loop just before (the check
        that the call is still wanted). Records the queue time."""
        if inline and not self.running and not self.waiting:
            annotate_call(queue_ms=0.0)
            if before is not None:
                before()
            return _quietly(work)
        if self.waiting >= self.max_queued and self._slots.locked():
            raise busy(
                f"this server is at capacity: {self.workers} calls running and "
                f"{self.waiting} waiting (--max-queued {self.max_queued}); retry later "
                "or use another replica"
            )
        queued_at = time.perf_counter()
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        loop = asyncio.get_running_loop()
        self.running += 1
        try:
            annotate_call(queue_ms=(time.perf_counter() - queued_at) * 1e3)
            if before is not None:
                before()
            # the call's context goes along, so the work can annotate the call's record
            job = self._executor.submit(contextvars.copy_context().run, _quietly, work)
        except BaseException:
            self._release()
            raise
        job.add_done_callback(lambda _: _on_loop(loop, self._release))
        try:
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            if not job.done():  # running (a queued job was cancelled with the call)
                await asyncio.wait([asyncio.wrap_future(job)])  # it holds memory until then
            raise

    def _release(self) -> None:
        self.running -= 1
        self._slots.release()

    def shutdown(self) -> None:
        """Stop taking work; queued jobs are dropped, running ones finish on their own."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _quietly(work: Callable[[], T]) -> T:
    """`work()` without numpy's floating-point warnings (see the module docstring)."""
    with np.errstate(all="ignore"):
        return work()


def _on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run `callback` on `loop` from any thread; nothing to do once the loop is closed."""
    with contextlib.suppress(RuntimeError):  # the server stopped while the thread worked
        loop.call_soon_threadsafe(callback)
