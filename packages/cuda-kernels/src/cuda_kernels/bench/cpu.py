"""The CPU side of the benchmark: the numpy backend, timed by wall clock.

numpy is in every run as the CPU baseline, and is all that runs on a machine without a GPU.
"""

from __future__ import annotations

import numpy as np

from cuda_kernels.backends.numpy_backend import NumpyBackend
from cuda_kernels.bench.timing import Timing, rotations_for, time_wall
from cuda_kernels.bench.validate import random_matrix

#: Doublify shapes validated on the CPU: edge cases and odd shapes.
DOUBLIFY_CHECK_SHAPES = ((1, 1), (17, 33), (1000, 1001))


def time_numpy_matmul(
    backend: NumpyBackend, n: int, repeats: int, warmup: int, rng: np.random.Generator
) -> Timing:
    """Median time of an n×n×n float32 matmul through the numpy backend."""
    sets = rotations_for(3 * n * n * 4, cap=8)
    inputs = [(random_matrix(rng, n, n), random_matrix(rng, n, n)) for _ in range(sets)]
    return time_wall(lambda i: backend.matmul(*inputs[i % sets]), repeats, warmup)


def time_numpy_doublify(
    backend: NumpyBackend, n: int, repeats: int, warmup: int, rng: np.random.Generator
) -> tuple[Timing, Timing]:
    """(doublify, copy) median times for an n×n float32 array on the CPU.

    The copy (np.copyto into a preallocated array) is the CPU's counterpart of the GPU's
    device-to-device copy: the bandwidth doublify is compared with.
    """
    sets = rotations_for(2 * n * n * 4, cap=8)
    xs = [random_matrix(rng, n, n) for _ in range(sets)]
    out = np.empty_like(xs[0])
    doublify = time_wall(lambda i: backend.doublify(xs[i % sets]), repeats, warmup)
    copy = time_wall(lambda i: np.copyto(out, xs[i % sets]), repeats, warmup)
    return doublify, copy
