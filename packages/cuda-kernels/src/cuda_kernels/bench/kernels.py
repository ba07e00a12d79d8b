"""`cuda-kernels bench`: check every contender (the matmul ladder, cuBLAS, numpy, doublify)
against a float64 reference, then time those that passed.

Why in one run: cuBLAS and numpy are timed beside the kernels, so every ratio compares
numbers taken minutes apart on the same machine, and a kernel that computes wrong numbers
is never timed. `gpu` is the GPU side (it imports pycuda, so only when a GPU is usable).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from cuda_kernels import __version__
from cuda_kernels.backends import BACKEND_NAMES, BackendUnavailableError, get_backend
from cuda_kernels.backends.numpy_backend import NumpyBackend
from cuda_kernels.bench import report
from cuda_kernels.bench.timing import GPU_TIMER, Timing, rotations_for, time_wall
from cuda_kernels.bench.validate import (
    VALIDATION_SHAPES,
    Check,
    check_doublify,
    check_matmul,
    random_matrix,
)
from cuda_kernels.kernels.ladder import KERNELS
from cuda_kernels.settings import setting

if TYPE_CHECKING:
    from cuda_kernels.backends.pycuda_backend import PycudaBackend

BASELINES = ("cublas", "numpy")
ALL_KERNELS = (*KERNELS, *BASELINES)
DEFAULT_SIZES = (256, 512, 1024, 2048, 4096)
DOUBLIFY_N = 4096  # the task's n = 2^12: a 4096×4096 array, always measured
DEFAULT_DOUBLIFY_SIZES_GPU = (1024, 2048, 4096, 8192, 16384)
DEFAULT_DOUBLIFY_SIZES_CPU = (1024, 2048, 4096, 8192)
REFERENCE_MAX_N = 2048  # bench sizes up to this are validated too (float64 reference cost)
MAX_N = 65536
#: Doublify shapes validated on the CPU: edge cases and odd shapes.
CPU_DOUBLIFY_CHECK_SHAPES = ((1, 1), (17, 33), (1000, 1001))
PROGRESS_TO_STDERR = partial(print, file=sys.stderr, flush=True)
NO_GPU_NOTE = (
    "No usable GPU here ({reason}). Only the numpy CPU backend was measured; GPU numbers "
    "need a GPU (scripts/gpu_check.py runs the whole GPU check on one)."
)


class NothingToRunError(RuntimeError):
    """None of the requested contenders can run here; the message says why."""


@dataclass(frozen=True)
class Contender:
    """One matmul implementation in the table (a rung of the ladder, cuBLAS, numpy):
    `run(a, b)` for validation, `time(n)` for an n×n×n median."""

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


@dataclass(frozen=True)
class BenchSettings:
    """What to measure, one `bench` flag each; `check()` names the first setting that
    cannot work."""

    sizes: tuple[int, ...] = setting(DEFAULT_SIZES, "square matmul sizes n", metavar="N")
    kernels: tuple[str, ...] = setting(ALL_KERNELS, f"any of {', '.join(ALL_KERNELS)}", metavar="K")
    doublify_sizes: tuple[int, ...] | None = setting(
        None, f"n of the n×n doublify sweep, {DOUBLIFY_N} always included; none given: "
        f"{' '.join(map(str, DEFAULT_DOUBLIFY_SIZES_GPU))} on a GPU, "
        f"{' '.join(map(str, DEFAULT_DOUBLIFY_SIZES_CPU))} on the CPU",
        metavar="N",
    )  # fmt: skip
    repeats: int = setting(20, "timed runs per measurement (the median counts)")
    warmup: int = setting(3, "untimed runs before them")
    numpy_max_n: int = setting(4096, "largest n timed for numpy matmul (slow)")
    backend: str = setting(
        "auto", "auto: the GPU when usable, else numpy only", choices=BACKEND_NAMES
    )
    seed: int = setting(0, "random seed of the inputs")

    def check(self) -> None:
        """Raise ValueError saying which flag is wrong and what it accepts."""
        unknown = [k for k in self.kernels if k not in ALL_KERNELS]
        if unknown:
            raise ValueError(
                f"unknown kernel(s) {', '.join(unknown)}; choose from {', '.join(ALL_KERNELS)}"
            )
        if not self.sizes:
            raise ValueError("--sizes needs at least one size, e.g. --sizes 256 1024")
        for flag, values in (("--sizes", self.sizes), ("--doublify-sizes", self.doublify_sizes)):
            bad = [v for v in values or () if not 1 <= v <= MAX_N]
            if bad:
                raise ValueError(f"{flag} must be between 1 and {MAX_N}, got {bad}")
        if self.repeats < 1 or self.warmup < 0:
            raise ValueError("--repeats must be >= 1 and --warmup >= 0")
        if self.numpy_max_n < 1:
            raise ValueError("--numpy-max-n must be >= 1")
        if self.backend not in BACKEND_NAMES:
            raise ValueError(f"--backend must be one of {', '.join(BACKEND_NAMES)}")


@dataclass
class Target:
    """The device of one run and what it can measure of what the settings ask for."""

    facts: dict
    contenders: list[Contender]
    doublify: DoublifyBench
    doublify_sizes: tuple[int, ...]
    notes: dict[str, str]  # "gpu_note" / "cublas_note": what could not be measured, and why
    why_missing: str  # why requested contenders are absent (for NothingToRunError)


@dataclass
class BenchRun:
    """One benchmark run: settings, device facts, validation checks, timed rows."""

    settings: BenchSettings
    log: Callable[[str], None] = PROGRESS_TO_STDERR
    created_utc: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    host: dict = field(
        default_factory=lambda: {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "loadavg_1_5_15_at_start": list(os.getloadavg()),
        }
    )
    device: dict = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    doublify_sizes: list[int] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    matmul: list[dict] = field(default_factory=list)
    doublify: list[dict] = field(default_factory=list)

    @property
    def sizes(self) -> list[int]:
        return sorted(set(self.settings.sizes))

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def run(self) -> BenchRun:
        """Validate, then time; raises NothingToRunError when nothing asked for can run."""
        self.settings.check()
        rng = np.random.default_rng(self.settings.seed)
        with self._target(rng) as target:
            if not target.contenders:
                raise NothingToRunError(
                    f"none of the requested kernels ({', '.join(self.settings.kernels)}) can "
                    f"run here: {target.why_missing}"
                )
            self.device, self.notes = target.facts, target.notes
            for note in self.notes.values():
                self.log(note)
            requested = self.settings.doublify_sizes or target.doublify_sizes
            self.doublify_sizes = sorted(set(requested) | {DOUBLIFY_N})
            self._validate(target, rng)
            self._time(target)
        for row in self.matmul:
            row["gflops"] = report.gflops(row["n"], row["median_ms"])
        report.add_cublas_shares(self.matmul)
        return self

    def _validate(self, target: Target, rng: np.random.Generator) -> None:
        """Every contender and doublify against float64, on fresh random inputs."""
        shapes = [*VALIDATION_SHAPES, *((n, n, n) for n in self.sizes if n <= REFERENCE_MAX_N)]
        for contender in target.contenders:
            self.log(f"validating {contender.name}")
            self.checks += check_matmul(contender.name, contender.run, shapes, rng)
        self.checks += check_doublify(target.doublify.run, target.doublify.check_shapes, rng)
        for check in self.failed:
            self.log(f"validation FAILED: {check.kernel} {check.shape} error {check.error:.3g}")

    def _time(self, target: Target) -> None:
        """Every contender that passed at every size, then doublify beside a copy."""
        broken = {c.kernel for c in self.failed}
        for n in self.sizes:
            for contender in target.contenders:
                if contender.name in broken:
                    continue
                if contender.max_n is not None and n > contender.max_n:
                    self.log(f"skipping {contender.name} at n={n} (above {contender.max_n})")
                    continue
                self.log(f"timing {contender.name} n={n}")
                row = {"n": n, "kernel": contender.name, "timer": contender.timer}
                self.matmul.append({**row, **contender.time(n).as_dict()})
        if "doublify" in broken:
            return
        for n in self.doublify_sizes:
            self.log(f"timing {target.doublify.backend} doublify n={n}")
            doublify, copy = target.doublify.time(n)
            self.doublify.append(
                {**report.doublify_row(n, doublify, copy), "backend": target.doublify.backend}
            )

    @contextmanager
    def _target(self, rng: np.random.Generator) -> Iterator[Target]:
        """The GPU when usable (and not --backend numpy), else numpy; the GPU's context is
        current while the run uses it."""
        s = self.settings
        timed = {"repeats": s.repeats, "warmup": s.warmup, "rng": rng}
        cpu_backend = get_backend("numpy")
        numpy = Contender(
            "numpy",
            "wall clock",
            cpu_backend.matmul,
            partial(time_numpy_matmul, cpu_backend, **timed),
            s.numpy_max_n,
        )
        wanted_numpy = [numpy] if "numpy" in s.kernels else []
        gpu, why_not = None, "--backend numpy was asked for"
        if s.backend != "numpy":
            try:
                gpu = get_backend("pycuda")
            except BackendUnavailableError as exc:
                if s.backend == "pycuda":  # asked for by name: its absence is the error
                    raise
                why_not = str(exc)
        if gpu is None:
            doublify_timer = partial(time_numpy_doublify, cpu_backend, **timed)
            yield Target(
                facts={"name": cpu_backend.device, "backend": "numpy"},
                contenders=wanted_numpy,
                doublify=DoublifyBench(
                    "numpy", cpu_backend.doublify, doublify_timer, CPU_DOUBLIFY_CHECK_SHAPES
                ),
                doublify_sizes=DEFAULT_DOUBLIFY_SIZES_CPU,
                notes={"gpu_note": NO_GPU_NOTE.format(reason=why_not)},
                why_missing=f"no usable GPU ({why_not})",
            )
            return
        with gpu.activated():
            target = _gpu_target(gpu, s.kernels, timed)
            target.contenders += wanted_numpy
            yield target

    def as_json(self) -> dict:
        """results.json: settings, host and device facts, checks and rows."""
        return {
            "schema": 1,
            "created_utc": self.created_utc,
            "cuda_kernels_version": __version__,
            "host": self.host,
            "settings": {
                **asdict(self.settings),
                "sizes": self.sizes,  # sorted, each once
                "doublify_sizes": self.doublify_sizes,  # with the defaults and DOUBLIFY_N
                "error_measure": "max|C-C_ref|/max|C_ref| against float64",
            },
            "gpu_note": None,  # always a key; `**self.notes` below sets it when there is one
            "validation": [c.as_dict() for c in self.checks],
            "matmul": self.matmul,
            "doublify": self.doublify,
            "device": self.device,
            **self.notes,  # gpu_note, cublas_note
        }


def _gpu_target(backend: PycudaBackend, kernels: tuple[str, ...], timed: dict[str, Any]) -> Target:
    """The rungs of the ladder in `kernels`, cuBLAS when asked for and available, and
    doublify, on `backend` (whose context must be current while they run); `timed` holds
    the timers' repeats, warmup and rng."""
    from cuda_kernels.bench import gpu as gpu_bench  # imports pycuda: only with a GPU

    facts = {"backend": "pycuda", **gpu_bench.device_facts(backend)}
    contenders = [
        Contender(
            kernel,
            GPU_TIMER,
            partial(backend.matmul, kernel=kernel),
            partial(gpu_bench.time_kernel, backend, kernel, **timed),
        )
        for kernel in KERNELS
        if kernel in kernels
    ]
    notes = {}
    if "cublas" in kernels:
        cublas, why = gpu_bench.find_cublas()
        if cublas is None:
            notes["cublas_note"] = f"cuBLAS baseline unavailable: {why}"
        else:
            check = partial(gpu_bench.check_cublas, cublas)
            timer = partial(gpu_bench.time_cublas, backend, cublas, **timed)
            contenders.append(Contender("cublas", GPU_TIMER, check, timer))
            facts["cublas_via"] = cublas.library
    doublify_timer = partial(gpu_bench.time_doublify_and_copy, backend, **timed)
    return Target(
        facts=facts,
        contenders=contenders,
        doublify=DoublifyBench(
            "pycuda", backend.doublify, doublify_timer, gpu_bench.DOUBLIFY_CHECK_SHAPES
        ),
        doublify_sizes=DEFAULT_DOUBLIFY_SIZES_GPU,
        notes=notes,
        why_missing="; ".join(notes.values()),
    )


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
