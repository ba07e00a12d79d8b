"""The GPU side of the benchmark: the pycuda kernels, cuBLAS, doublify and a copy baseline.

Everything runs inside `backend.activated()` (primary context current, GPU lock held) and
is timed with CUDA events on the default stream, a batch of launches per event pair after a
spin kernel (`timing.time_gpu_batches`); CuPy and torch share that primary context and
stream, so one set of events times all of them.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pycuda.driver as cuda
from numpy.random import Generator

from cuda_kernels.backends.pycuda_backend import PycudaBackend
from cuda_kernels.bench.timing import GPU_TIMER, Timing, rotations_for, time_gpu_batches
from cuda_kernels.bench.validate import random_matrix

#: Inputs rotate through this many times the L2 per timed series, so no launch finds its
#: operands in the cache from an earlier one. `rotations_for` caps the copies at 256, so on a
#: 60 MB L2 this holds for matmul from n ≈ 250 and doublify from n ≈ 305 (every default
#: size); smaller sizes rotate through less.
L2_MULTIPLE = 3
NVIDIA_SMI_DRIVER_VERSION = ("--query-gpu=driver_version", "--format=csv,noheader")


class PycudaClock:
    """`timing.GpuClock` on pycuda: events on the default stream, the backend's spin."""

    def __init__(self, backend: PycudaBackend) -> None:
        self.backend = backend

    def event_pair(self) -> tuple[cuda.Event, cuda.Event]:
        return cuda.Event(), cuda.Event()

    def elapsed_ms(self, start: cuda.Event, end: cuda.Event) -> float:
        end.synchronize()
        return start.time_till(end)

    def spin(self, milliseconds: float) -> None:
        self.backend.launch_spin(milliseconds)

    def synchronize(self) -> None:
        cuda.Context.synchronize()

    def host_ms(self) -> float:
        return time.perf_counter() * 1e3


#: Doublify shapes validated on the GPU: edge cases, odd shapes and the 4096×4096 of the task.
DOUBLIFY_CHECK_SHAPES = ((1, 1), (17, 33), (1000, 1001), (4096, 4096))


@dataclass
class Cublas:
    """cuBLAS SGEMM through CuPy or torch, in strict float32 (TF32 off)."""

    library: str  # "cupy x.y" or "torch x.y"
    allocate: Callable[[np.ndarray], object]
    matmul_into: Callable[[object, object, object], object]


def _cupy() -> Cublas:
    import cupy

    return Cublas(
        f"cupy {cupy.__version__}", cupy.asarray, lambda a, b, c: cupy.matmul(a, b, out=c)
    )


def _torch() -> Cublas:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("torch.cuda.is_available() is False")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return Cublas(
        f"torch {torch.__version__}",
        lambda x: torch.from_numpy(x).cuda(),
        lambda a, b, c: torch.matmul(a, b, out=c),
    )


def find_cublas() -> tuple[Cublas | None, str]:
    """CuPy (unless CUPY_TF32 is set) else torch, each checked by one small SGEMM on this
    device; else (None, why neither works)."""
    reasons = []
    makers = [("torch", _torch)]
    if os.environ.get("CUPY_TF32", "0") in ("", "0"):
        makers.insert(0, ("CuPy", _cupy))
    else:
        reasons.append("CuPy skipped: CUPY_TF32 is set, which would make SGEMM use TF32")
    probe = np.arange(6, dtype=np.float32).reshape(2, 3)
    for label, make in makers:
        try:
            cublas = make()
            result = check_cublas(cublas, probe, probe.T)
            if not np.allclose(result, probe @ probe.T):
                raise RuntimeError(f"wrong 2x3·3x2 result {result.tolist()}")
            return cublas, ""
        except Exception as exc:  # any failure means: try the next library, say why
            reasons.append(f"{label} unavailable ({type(exc).__name__}: {exc})")
    return None, "; ".join(reasons)


@contextmanager
def _rotated(
    backend: PycudaBackend, rng: Generator, n: int, inputs: int, allocate=cuda.to_device
) -> Iterator[list[list]]:
    """Sets of `inputs` random n×n float32 arrays and an n×n output on the device, enough
    sets that one pass over them exceeds L2_MULTIPLE times the L2; pycuda's freed on exit."""
    flush_bytes = L2_MULTIPLE * backend.l2_cache_bytes()
    count = rotations_for((inputs + 1) * n * n * 4, flush_bytes=flush_bytes)
    sets = []
    try:
        for _ in range(count):
            arrays = [*(random_matrix(rng, n, n) for _ in range(inputs)), np.empty((n, n), "f4")]
            sets.append([allocate(array) for array in arrays])
        yield sets
    finally:
        for buffer in itertools.chain(*sets):
            if isinstance(buffer, cuda.DeviceAllocation):
                buffer.free()


def time_kernel(
    backend: PycudaBackend, kernel: str, n: int, repeats: int, warmup: int, rng: Generator
) -> Timing:
    """Median per-launch time of one n×n×n matmul kernel, inputs rotated past L2."""
    with _rotated(backend, rng, n, inputs=2) as sets:

        def run(i: int) -> None:
            backend.launch_matmul(kernel, *sets[i % len(sets)], n, n, n)

        return time_gpu_batches(run, repeats, warmup, PycudaClock(backend))


def time_cublas(
    backend: PycudaBackend, cublas: Cublas, n: int, repeats: int, warmup: int, rng: Generator
) -> Timing:
    """Median per-launch time of cuBLAS SGEMM at n×n×n, inputs rotated past L2."""
    with _rotated(backend, rng, n, inputs=2, allocate=cublas.allocate) as sets:

        def run(i: int) -> None:
            cublas.matmul_into(*sets[i % len(sets)])

        return time_gpu_batches(run, repeats, warmup, PycudaClock(backend))


def check_cublas(cublas: Cublas, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cuBLAS's result for a·b, back on the host (for its own validation)."""
    a_dev, b_dev = cublas.allocate(a), cublas.allocate(b)
    c_dev = cublas.allocate(np.full((a.shape[0], b.shape[1]), np.nan, dtype=np.float32))
    cublas.matmul_into(a_dev, b_dev, c_dev)
    result = c_dev.get() if hasattr(c_dev, "get") else c_dev.cpu().numpy()
    return np.asarray(result)


def time_doublify_and_copy(
    backend: PycudaBackend, n: int, repeats: int, warmup: int, rng: Generator
) -> tuple[Timing, Timing]:
    """(doublify, device-to-device copy) median times for an n×n float32 array."""
    with _rotated(backend, rng, n, inputs=1) as sets:

        def doublify(i: int) -> None:
            backend.launch_doublify(*sets[i % len(sets)], n, n)

        def copy(i: int) -> None:
            x, y = sets[i % len(sets)]
            cuda.memcpy_dtod(y, x, n * n * 4)

        clock = PycudaClock(backend)
        return (
            time_gpu_batches(doublify, repeats, warmup, clock),
            time_gpu_batches(copy, repeats, warmup, clock),
        )


def device_facts(backend: PycudaBackend) -> dict:
    return {
        "name": backend.device,
        "arch": backend.arch,
        "memory_gib": round(backend._device.total_memory() / 2**30, 1),
        "l2_mib": round(backend.l2_cache_bytes() / 2**20, 1),
        "kernel_build": backend.kernel_build,
        "timer": GPU_TIMER,
        "driver_cuda_version": backend.driver_version(),
        "pycuda_cuda_version": ".".join(map(str, cuda.get_version())),
        "driver_version": _tool_line(["nvidia-smi", *NVIDIA_SMI_DRIVER_VERSION], 0),
        "nvcc": _tool_line(["nvcc", "--version"], -1),
    }


def _tool_line(argv: list[str], line: int) -> str | None:
    """One line of what a tool prints, or None when it is missing or fails."""
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=True)
        return run.stdout.strip().splitlines()[line]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None
