"""GPU checks of the pycuda backend: every kernel against a float64 reference.

Skipped with the reason when no GPU is usable (pycuda missing, no driver, no device), failed
instead under CUDA_KERNELS_REQUIRE_GPU=1 (the `gpu` fixture in conftest.py). Run on the GPU
host by scripts/gpu_check.py. Outputs are poisoned with NaN before every
kernel (the backend does it on each call; the device-level test below does it itself), so a
skipped element cannot pass by holding an old correct value.
"""

import threading

import numpy as np
import pytest

import cuda_kernels
from cuda_kernels.backends import get_backend
from cuda_kernels.kernels.ladder import FASTEST

pytestmark = pytest.mark.gpu

# Tile multiples (16, 32, 128) and shapes that are multiples of none; m % 4 != 0 and
# p % 4 != 0 exercise the scalar-load and scalar-store paths of the float4 kernels.
SHAPES = [
    (1, 1, 1),
    (16, 16, 16),
    (32, 32, 32),
    (128, 128, 128),
    (256, 512, 384),
    (3, 5, 7),
    (127, 129, 131),
    (130, 36, 132),
    (257, 255, 130),
    (1000, 999, 1001),
    (1024, 1024, 1024),
    (2049, 17, 513),
]


def relative_error(c, reference):
    return float(np.max(np.abs(c.astype(np.float64) - reference)) / np.max(np.abs(reference)))


def test_backend_describes_the_device(gpu):
    assert gpu.name == "pycuda"
    assert gpu.kernels[0] == FASTEST
    assert set(gpu.kernels) == set(cuda_kernels.KERNELS)
    assert gpu.device and gpu.arch.startswith("sm_")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kernel", cuda_kernels.KERNELS)
def test_every_kernel_matches_float64_reference(gpu, kernel, shape):
    n, m, p = shape
    rng = np.random.default_rng(n + 3 * m + 7 * p)
    a = rng.uniform(-1, 1, size=(n, m)).astype(np.float32)
    b = rng.uniform(-1, 1, size=(m, p)).astype(np.float32)
    c = gpu.matmul(a, b, kernel)
    assert c.shape == (n, p) and c.dtype == np.float32
    assert not np.isnan(c).any(), f"{kernel} left elements unwritten (NaN poison survived)"
    assert relative_error(c, a.astype(np.float64) @ b.astype(np.float64)) < 1e-4


def test_device_level_launch_overwrites_poisoned_output(gpu):
    import pycuda.driver as cuda

    from cuda_kernels.backends.pycuda_backend import NAN_BITS

    n, m, p = 131, 67, 259
    rng = np.random.default_rng(9)
    a = rng.uniform(-1, 1, size=(n, m)).astype(np.float32)
    b = rng.uniform(-1, 1, size=(m, p)).astype(np.float32)
    reference = a.astype(np.float64) @ b.astype(np.float64)
    with gpu.activated():
        a_gpu, b_gpu, c_gpu = cuda.to_device(a), cuda.to_device(b), cuda.mem_alloc(n * p * 4)
        try:
            for kernel in cuda_kernels.KERNELS:
                cuda.memset_d32(c_gpu, NAN_BITS, n * p)
                gpu.launch_matmul(kernel, a_gpu, b_gpu, c_gpu, n, m, p)
                c = np.empty((n, p), np.float32)
                cuda.memcpy_dtoh(c, c_gpu)
                assert not np.isnan(c).any(), kernel
                assert relative_error(c, reference) < 1e-4, kernel
        finally:
            for buffer in (a_gpu, b_gpu, c_gpu):
                buffer.free()


@pytest.mark.parametrize("shape", [(1, 1), (16, 16), (17, 33), (4096, 4096), (1000, 3)])
def test_doublify_is_exact(gpu, shape):
    x = np.random.default_rng(2).uniform(-1, 1, size=shape).astype(np.float32)
    np.testing.assert_array_equal(gpu.doublify(x), 2 * x)


def test_default_kernel_and_public_functions_use_the_gpu(gpu):
    a = np.random.default_rng(3).uniform(-1, 1, size=(65, 33)).astype(np.float32)
    c = cuda_kernels.matmul(a, a.T, backend=gpu)
    np.testing.assert_allclose(c, a.astype(np.float64) @ a.T.astype(np.float64), rtol=1e-4,
                               atol=1e-4)
    assert get_backend("auto") is gpu


def test_validation_errors_come_before_the_gpu(gpu):
    a = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="unknown kernel 'numpy'"):
        gpu.matmul(a, a, "numpy")
    with pytest.raises(TypeError, match="float64"):
        gpu.doublify(a.astype(np.float64))


def test_many_threads_share_the_backend(gpu):
    """A gRPC server calls from a pool of threads: every call must see the primary context."""
    rng = np.random.default_rng(4)
    jobs = []
    for i in range(32):
        n, m, p = 50 + i, 70 + 2 * i, 90 + 3 * i
        jobs.append((rng.uniform(-1, 1, (n, m)).astype(np.float32),
                     rng.uniform(-1, 1, (m, p)).astype(np.float32),
                     cuda_kernels.KERNELS[i % len(cuda_kernels.KERNELS)]))
    failures = []

    def work(a, b, kernel):
        try:
            for _ in range(5):
                c = gpu.matmul(a, b, kernel)
                if relative_error(c, a.astype(np.float64) @ b.astype(np.float64)) >= 1e-4:
                    failures.append(kernel)
        except Exception as exc:  # collect, so the main thread reports it
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
