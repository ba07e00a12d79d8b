"""Medians of repeated measurements, with rotated inputs so caches do not flatter them.

`rotations_for` picks how many copies of the inputs to cycle through so that one pass over
them is larger than `flush_bytes`: on a GPU, a few times its L2 (`gpu.L2_MULTIPLE`); on the
CPU, 128 MiB, more than a last-level cache.

On the GPU, `time_gpu_batches` times a batch of launches between one pair of CUDA events,
right after a spin kernel that keeps the GPU busy while the host queues the batch. Timing
each launch between its own pair of events measures the host instead whenever issuing a
launch takes longer than running it (small sizes): the GPU then waits between the events.
Each sample records whether the host finished queuing before the spin ran out
(`host_ahead`): when it did not, the sample may hold launch gaps, and the results say so.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

DEFAULT_FLUSH_BYTES = 128 * 2**20
#: GPU time one event pair should span: long enough that event resolution (about 0.5 µs)
#: and the first launch's start-up are noise, short enough to take many samples.
TARGET_SAMPLE_MS = 2.0
MAX_BATCH = 4096
#: The spin covers at least this multiple of the host's time to queue the last batch.
SPIN_MARGIN = 2.0
SPIN_BOUNDS_MS = (1.0, 200.0)
GPU_TIMER = "cuda events: spin kernel, then a batch of launches per event pair"


@dataclass(frozen=True)
class Timing:
    """Times of one measurement series, in milliseconds."""

    samples_ms: tuple[float, ...]
    launches_per_sample: int = 1
    host_ahead: bool | None = None  # GPU batches: did the host queue each batch in time?

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def min_ms(self) -> float:
        return min(self.samples_ms)

    def as_dict(self) -> dict:
        row = {
            "median_ms": self.median_ms,
            "min_ms": self.min_ms,
            "repeats": len(self.samples_ms),
        }
        if self.host_ahead is not None:
            row.update(launches_per_sample=self.launches_per_sample, host_ahead=self.host_ahead)
        return row


def rotations_for(
    bytes_per_set: int, flush_bytes: int = DEFAULT_FLUSH_BYTES, cap: int = 256
) -> int:
    """How many input sets to rotate through so one cycle exceeds `flush_bytes`."""
    return max(1, min(cap, -(-flush_bytes // bytes_per_set)))


def time_wall(run: Callable[[int], object], repeats: int, warmup: int) -> Timing:
    """Median wall-clock time of `run(i)` (i picks the rotated input set) on the CPU."""
    for i in range(warmup):
        run(i)
    samples = []
    for i in range(repeats):
        start = time.perf_counter()
        run(warmup + i)
        samples.append((time.perf_counter() - start) * 1e3)
    return Timing(tuple(samples))


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    p50, p99 = np.percentile(samples_ms, [50, 99])
    return {"p50_ms": float(p50), "p99_ms": float(p99)}


class GpuClock(Protocol):
    """What the batch timer needs from a GPU: events, a spin kernel, a host clock."""

    def event_pair(self) -> tuple[object, object]:
        """Two events with `record()`; `elapsed_ms(start, end)` reads them."""

    def elapsed_ms(self, start: object, end: object) -> float:
        """GPU milliseconds between two recorded events (waits for the second)."""

    def spin(self, milliseconds: float) -> None:
        """Queue about `milliseconds` of GPU busy-waiting."""

    def synchronize(self) -> None:
        """Wait until the GPU has finished everything queued."""

    def host_ms(self) -> float:
        """A host clock, in milliseconds."""


def batch_size(probe_ms_per_launch: float, target_ms: float = TARGET_SAMPLE_MS) -> int:
    """Launches per event pair so that one pair spans about `target_ms` of GPU time."""
    if probe_ms_per_launch <= 0 or math.isnan(probe_ms_per_launch):
        return MAX_BATCH
    return max(1, min(MAX_BATCH, math.ceil(target_ms / probe_ms_per_launch)))


def spin_for(host_queue_ms: float) -> float:
    """Spin long enough to cover the host's queuing time, with a margin, within bounds."""
    low, high = SPIN_BOUNDS_MS
    return min(high, max(low, SPIN_MARGIN * host_queue_ms))


def _timed_batch(
    run: Callable[[int], object], first: int, count: int, clock: GpuClock, spin_ms: float
) -> tuple[float, float]:
    """(GPU ms of `count` launches between one event pair, host ms spent queuing them)."""
    clock.spin(spin_ms)
    start, end = clock.event_pair()
    began = clock.host_ms()
    start.record()
    for k in range(count):
        run(first + k)
    end.record()
    queued = clock.host_ms() - began
    return clock.elapsed_ms(start, end), queued


def time_gpu_batches(
    run: Callable[[int], object], repeats: int, warmup: int, clock: GpuClock
) -> Timing:
    """Per-launch GPU time of `run(i)`: the median over `repeats` batches, each timed by
    one event pair after a spin kernel (see the module docstring). `i` counts launches, so
    the caller's input rotation continues across batches."""
    for i in range(warmup):
        run(i)
    clock.synchronize()
    probe_ms, queued = _timed_batch(run, warmup, 1, clock, SPIN_BOUNDS_MS[0])
    index = warmup + 1
    batch = batch_size(probe_ms)
    spin_ms = spin_for(queued * batch)
    samples, ahead = [], True
    for _ in range(repeats):
        elapsed, queued = _timed_batch(run, index, batch, clock, spin_ms)
        index += batch
        samples.append(elapsed / batch)
        ahead = ahead and queued < spin_ms
        spin_ms = spin_for(queued)
    return Timing(tuple(samples), launches_per_sample=batch, host_ahead=ahead)
