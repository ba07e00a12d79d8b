"""GPU backend: the shipped kernels, loaded once, run on the primary context.

Where the kernels come from: the prebuilt fatbin shipped with the package when it has an
image for this GPU (`cuda_kernels.kernels.prebuilt`), so no CUDA toolkit is needed where
the kernels run; otherwise, or when `CUDA_KERNELS_BUILD=source` asks for it, the `.cu`
sources compiled here by pycuda's `SourceModule` (nvcc). `kernel_build` says which.

Thread safety: pycuda's contexts are per thread, while a gRPC server calls us from a pool
of threads. We retain the device's *primary* context (the one the CUDA runtime, CuPy and
torch use too) and every call pushes it, works, and pops it, under one lock; so calls
from any thread are serialised on the one GPU and no thread owns a context of its own.

Importing this module imports pycuda; `cuda_kernels.backends` imports it only on demand.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import numpy as np
import pycuda.driver as cuda
from pycuda.compiler import SourceModule

from cuda_kernels.backends.base import Backend, BackendUnavailableError
from cuda_kernels.kernels import prebuilt, read_source
from cuda_kernels.kernels.ladder import (
    DOUBLIFY,
    FASTEST_FIRST,
    LADDER,
    MAX_GRID_Y,
    SOURCE_FILES,
    SPIN,
    Launch,
    nvcc_define_flags,
)

#: How to get the kernels: "auto" (prebuilt when an image fits, else compile), "prebuilt"
#: (never compile) or "source" (always compile); the environment variable sets the default.
BUILD_MODES = ("auto", "prebuilt", "source")
BUILD_ENV = "CUDA_KERNELS_BUILD"
#: Bit pattern of a quiet NaN in float32: outputs are filled with it before a kernel runs,
#: so an element a kernel forgets to write comes back as NaN instead of stale memory.
NAN_BITS = 0x7FC00000

_log = logging.getLogger(__name__)


class PycudaBackend(Backend):
    """Runs doublify and the matmul ladder on CUDA device `device_index` through pycuda."""

    name = "pycuda"
    kernels = FASTEST_FIRST

    def __init__(self, device_index: int = 0, build: str | None = None) -> None:
        build = _build_mode(build)
        self._lock = threading.RLock()
        try:
            cuda.init()
            count = cuda.Device.count()
            if count == 0:
                raise BackendUnavailableError("pycuda imports but no CUDA device is present")
            if not 0 <= device_index < count:
                raise ValueError(f"device_index {device_index} out of range: {count} device(s)")
            self._device = cuda.Device(device_index)
            self._context = self._device.retain_primary_context()
        except cuda.Error as exc:
            raise BackendUnavailableError(f"CUDA did not answer: {exc}") from exc
        major, minor = self._device.compute_capability()
        self.arch = f"sm_{major}{minor}"
        self.device = self._device.name()
        self._closed = False
        with self.activated():
            self.kernel_build, self._modules = self._load_modules(build, (major, minor))
            self._matmul_functions = {
                rung: self._function(launch, "PPPiii") for rung, launch in LADDER.items()
            }
            self._doublify_function = self._function(DOUBLIFY, "PPii")
            self._spin_function = self._function(SPIN, "q")
        atexit.register(self.close)

    def _function(self, launch, arg_types: str):
        return self._modules[launch.source].get_function(launch.function).prepare(arg_types)

    def _load_modules(self, build: str, capability: tuple[int, int]) -> tuple[str, dict]:
        """(how the kernels were obtained, in words; the module of each source).

        "auto" takes the shipped fatbins when they have an image for this GPU and match
        their sources; when they do not, or the driver refuses them, it compiles with nvcc
        and says why in `kernel_build` and the log.
        """
        image = prebuilt.image_for(capability)
        if build == "source":
            why = f"{BUILD_ENV}=source"
        elif stale := prebuilt.stale_sources():
            why = f"the prebuilt fatbins of {', '.join(stale)} are stale"
        elif image is None:
            why = f"the prebuilt fatbins have no image for {self.arch}"
        else:
            try:
                modules = {
                    source: cuda.module_from_buffer(prebuilt.read_fatbin(source))
                    for source in SOURCE_FILES
                }
                return image, modules
            except cuda.Error as exc:
                why = f"the driver refused the prebuilt fatbin ({exc})"
        if build == "prebuilt":
            raise BackendUnavailableError(
                f"{why}, and {BUILD_ENV}=prebuilt forbids compiling; unset it to compile "
                "with nvcc (the CUDA toolkit is then needed)"
            )
        if build == "auto":
            _log.warning("cuda_kernels: %s; compiling the kernels with nvcc", why)
        modules = {source: self._compile(source) for source in SOURCE_FILES}
        return f"compiled from source by nvcc for {self.arch} ({why})", modules

    def _compile(self, filename: str) -> SourceModule:
        """nvcc for this device's arch, with the ladder's tile sizes as -D defines.
        cache_dir=False: pycuda's on-disk cache would write under $HOME, which a GPU host may
        not allow; compiling takes seconds, once."""
        return SourceModule(
            read_source(filename),
            arch=self.arch,
            options=[*prebuilt.NVCC_FLAGS, *nvcc_define_flags(filename)],
            no_extern_c=True,
            cache_dir=False,
        )

    @contextmanager
    def activated(self) -> Iterator[None]:
        """Hold the GPU lock with the primary context current on this thread."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this PycudaBackend is closed; get a new one")
            self._context.push()
            try:
                yield
            finally:
                cuda.Context.pop()

    # The launch methods work on device pointers and expect `activated()` to be held; the
    # benchmark uses them to time kernels without host transfers.
    def launch_matmul(self, kernel: str, a_gpu, b_gpu, c_gpu, n: int, m: int, p: int) -> None:
        """Queue one matmul kernel on the default stream (no synchronisation)."""
        launch = LADDER[kernel]
        grid = launch.grid(n, p)
        self._matmul_functions[kernel].prepared_call(
            grid, launch.block, int(a_gpu), int(b_gpu), int(c_gpu), n, m, p
        )

    def launch_doublify(self, x_gpu, y_gpu, rows: int, cols: int) -> None:
        """Queue one doublify kernel on the default stream (no synchronisation)."""
        self._doublify_function.prepared_call(
            DOUBLIFY.grid(rows, cols), DOUBLIFY.block, int(x_gpu), int(y_gpu), rows, cols
        )

    def launch_spin(self, milliseconds: float) -> None:
        """Queue a kernel that keeps the GPU busy for about `milliseconds` (at the SM's
        clock rate): the benchmark's way to let the host queue a batch ahead of the GPU."""
        khz = self._device.get_attribute(cuda.device_attribute.CLOCK_RATE)
        self._spin_function.prepared_call((1, 1, 1), SPIN.block, int(milliseconds * khz))

    def memory_info(self) -> tuple[int, int]:
        """(free, total) bytes of the GPU's memory, as the driver reports them now."""
        with self.activated():
            free, total = cuda.mem_get_info()
        return int(free), int(total)

    def l2_cache_bytes(self) -> int:
        """The GPU's L2 size (50 MB on an H100, 60 MB on an H200)."""
        return self._device.get_attribute(cuda.device_attribute.L2_CACHE_SIZE)

    def _matmul(self, a: np.ndarray, b: np.ndarray, kernel: str) -> np.ndarray:
        (n, m), p = a.shape, b.shape[1]
        launch = partial(self.launch_matmul, kernel, n=n, m=m, p=p)
        return self._run(LADDER[kernel], f"matmul with n={n}", (n, p), launch, a, b)

    def _doublify(self, x: np.ndarray) -> np.ndarray:
        rows, cols = x.shape
        launch = partial(self.launch_doublify, rows=rows, cols=cols)
        return self._run(DOUBLIFY, f"doublify with {rows} rows", x.shape, launch, x)

    def _run(
        self, launch: Launch, what: str, shape: tuple[int, int], start: Callable, *inputs
    ) -> np.ndarray:
        """`start(*inputs on the device, output)`, the output filled with NaN first; returns
        the output. `launch` and `what` (the call, in words) check the shapes first."""
        blocks = launch.grid(*shape)[1]
        if blocks > MAX_GRID_Y:
            raise ValueError(f"{what} needs {blocks} block rows, above CUDA's {MAX_GRID_Y}")
        if max(math.prod(shape), *(array.size for array in inputs)) >= 2**31:
            raise ValueError("arrays of 2**31 elements or more are not supported by these kernels")
        result = np.empty(shape, dtype=np.float32)
        with self.activated(), _device_buffers() as held:
            for array in inputs:
                held.append(cuda.to_device(array))
            held.append(cuda.mem_alloc(result.nbytes))
            cuda.memset_d32(held[-1], NAN_BITS, result.size)
            start(*held)
            cuda.memcpy_dtoh(result, held[-1])  # synchronous: waits for the kernel
        return result

    def driver_version(self) -> str:
        """The CUDA driver's version as 'major.minor' (e.g. '13.0')."""
        v = cuda.get_driver_version()
        return f"{v // 1000}.{(v % 1000) // 10}"

    def close(self) -> None:
        """Unload the kernels; later calls raise RuntimeError. Safe to call twice.

        The modules are dropped with the primary context pushed, so pycuda unloads them
        from whichever thread calls this (pycuda refuses to activate a context on a thread
        other than its creator's, but a context already current needs no activation). The
        primary context itself stays retained until the process ends, as with
        `pycuda.autoprimaryctx`: CuPy or torch in this process may be using it.
        """
        with self._lock:
            if self._closed:
                return
            with self.activated():
                self._closed = True
                self._matmul_functions = {}
                self._doublify_function = self._spin_function = None
                self._modules = {}


@contextmanager
def _device_buffers() -> Iterator[list]:
    """A list for the device allocations of one call: all are freed on exit, with the
    context still current (pycuda needs it), and CUDA failures (out of memory, launch
    errors) become RuntimeError with the reason.

    After a failed launch the context is often broken and every free fails too; those
    failures are logged, not raised, so the caller sees the first error, the one that
    says what went wrong. Without an earlier error, a failed free is the error.
    """
    held: list = []
    try:
        yield held
    except cuda.Error as exc:
        _free_all(held, raise_first=False)
        raise RuntimeError(f"CUDA failed: {type(exc).__name__}: {exc}") from exc
    except BaseException:
        _free_all(held, raise_first=False)
        raise
    _free_all(held, raise_first=True)


def _free_all(held: list, raise_first: bool) -> None:
    """Free every buffer even when some frees fail; raise the first failure only when
    `raise_first` (no other error is on its way out), else log them."""
    failures: list[BaseException] = []
    for buffer in held:
        try:
            buffer.free()
        except Exception as exc:  # keep freeing the rest
            failures.append(exc)
    if not failures:
        return
    if raise_first:
        first = failures[0]
        raise RuntimeError(f"CUDA failed freeing memory: {type(first).__name__}: {first}")
    for exc in failures:
        _log.warning("freeing a device buffer after an earlier error failed: %s", exc)


def _build_mode(build: str | None) -> str:
    """The build mode asked for (argument, else the environment, else "auto"), checked."""
    chosen = build if build is not None else os.environ.get(BUILD_ENV, "") or "auto"
    if chosen not in BUILD_MODES:
        raise ValueError(
            f"{BUILD_ENV if build is None else 'build'}={chosen!r} is not one of "
            f"{', '.join(BUILD_MODES)}"
        )
    return chosen
