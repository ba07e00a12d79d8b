"""Medians of repeated measurements, with rotated inputs so caches do not flatter them.

`rotations_for` picks how many copies of the inputs to cycle through so that one pass over
them is larger than `flush_bytes` (default 128 MiB: more than twice the 50 MB L2 of an
H100/H200, and more than a CPU's last-level cache).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_FLUSH_BYTES = 128 * 2**20


@dataclass(frozen=True)
class Timing:
    """Times of one measurement series, in milliseconds."""

    samples_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def min_ms(self) -> float:
        return min(self.samples_ms)

    def as_dict(self) -> dict:
        return {
            "median_ms": self.median_ms,
            "min_ms": self.min_ms,
            "repeats": len(self.samples_ms),
        }


def rotations_for(
    bytes_per_set: int, flush_bytes: int = DEFAULT_FLUSH_BYTES, cap: int = 256
) -> int:
    """How many input sets to rotate through so one cycle exceeds `flush_bytes`."""
    if bytes_per_set <= 0:
        raise ValueError("bytes_per_set must be positive")
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


def time_cuda_events(run: Callable[[int], object], repeats: int, warmup: int) -> Timing:
    """Per-launch GPU time of `run(i)` between two CUDA events on the default stream.

    All launches are queued before the one synchronisation at the end, so the GPU stays
    busy and host launch overhead does not show in the events' difference (except when a
    kernel is shorter than a launch). Needs pycuda and an active context.
    """
    import pycuda.driver as cuda

    for i in range(warmup):
        run(i)
    cuda.Context.synchronize()
    pairs = [(cuda.Event(), cuda.Event()) for _ in range(repeats)]
    for i, (start, end) in enumerate(pairs):
        start.record()
        run(warmup + i)
        end.record()
    pairs[-1][1].synchronize()
    return Timing(tuple(start.time_till(end) for start, end in pairs))
