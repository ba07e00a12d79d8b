"""What one benchmark run measures, each with a way to run it once and a way to time it.

A `Contender` is one matmul implementation in the table (a rung of the ladder, cuBLAS,
numpy); `DoublifyBench` is the doublify kernel beside a copy of the same bytes. `cpu` and
`gpu` build them for their device; `kernels.BenchRun` validates and times them all alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cuda_kernels.bench.timing import Timing


@dataclass(frozen=True)
class Contender:
    """One matmul implementation: `run(a, b)` for validation, `time(n)` for an n×n×n median."""

    name: str
    timer: str  # "cuda events" or "wall clock"
    run: Callable[[np.ndarray, np.ndarray], np.ndarray]
    time: Callable[[int], Timing]
    max_n: int | None = None  # larger sizes are not timed (numpy is slow)


@dataclass(frozen=True)
class DoublifyBench:
    """Doublify on one backend: `run(x)` for validation, `time(n)` for (doublify, copy)."""

    backend: str
    run: Callable[[np.ndarray], np.ndarray]
    time: Callable[[int], tuple[Timing, Timing]]
    check_shapes: tuple[tuple[int, int], ...]
