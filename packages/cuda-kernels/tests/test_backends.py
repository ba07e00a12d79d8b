import logging
import threading

import numpy as np
import pytest

import cuda_kernels
from cuda_kernels.backends import BackendUnavailableError, NumpyBackend, get_backend


def rand(rng, *shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def test_numpy_backend_describes_itself():
    backend = get_backend("numpy")
    assert isinstance(backend, NumpyBackend)
    assert backend.name == "numpy"
    assert backend.kernels == ("numpy",)
    assert backend.device.startswith("CPU (numpy ")
    assert get_backend("numpy") is backend  # cached


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 7), (64, 64, 64), (127, 1, 33)])
def test_numpy_matmul_matches_float64_reference(shape):
    rng = np.random.default_rng(1)
    n, m, p = shape
    a, b = rand(rng, n, m), rand(rng, m, p)
    c = cuda_kernels.matmul(a, b, backend="numpy")
    assert c.dtype == np.float32 and c.shape == (n, p)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5,
                               atol=1e-5)


def test_numpy_matmul_accepts_non_contiguous_float32():
    rng = np.random.default_rng(2)
    a = rand(rng, 6, 4)
    c = cuda_kernels.matmul(a.T, a, backend="numpy")
    np.testing.assert_allclose(c, a.T @ a, rtol=1e-6)


def test_doublify_doubles_exactly_and_leaves_input_alone():
    rng = np.random.default_rng(3)
    x = rand(rng, 17, 33)
    before = x.copy()
    y = cuda_kernels.doublify(x, backend=get_backend("numpy"))
    np.testing.assert_array_equal(y, 2 * before)
    np.testing.assert_array_equal(x, before)
    assert y.dtype == np.float32


def test_unknown_kernel_lists_available_ones():
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="unknown kernel 'naive'; this backend has: numpy"):
        cuda_kernels.matmul(a, a, kernel="naive", backend="numpy")


def test_bad_operands_are_refused_through_public_functions():
    a = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="inner dimensions differ"):
        cuda_kernels.matmul(a, a, backend="numpy")
    with pytest.raises(TypeError, match="float64"):
        cuda_kernels.doublify(a.astype(np.float64), backend="numpy")


def test_unknown_backend_name_and_type():
    with pytest.raises(ValueError, match="unknown backend 'tpu'; choose one of: auto, pycuda"):
        get_backend("tpu")
    with pytest.raises(TypeError, match="backend must be None, a name"):
        cuda_kernels.matmul(np.ones((1, 1), np.float32), np.ones((1, 1), np.float32), backend=3)


def _pycuda_usable() -> bool:
    try:
        get_backend("pycuda")
    except BackendUnavailableError:
        return False
    return True


@pytest.mark.skipif(_pycuda_usable(), reason="a GPU is usable here; this tests the fallback")
def test_auto_falls_back_to_numpy_and_logs_why(caplog):
    import cuda_kernels.backends as backends

    backends._instances.pop("auto", None)
    with caplog.at_level(logging.INFO, logger="cuda_kernels.backends"):
        backend = get_backend("auto")
    assert backend.name == "numpy"
    assert "using the numpy backend" in caplog.text
    with pytest.raises(BackendUnavailableError, match=r'pip install "cuda-kernels\[gpu\]"'):
        get_backend("pycuda")


def test_backend_is_safe_to_share_between_threads():
    backend = get_backend("numpy")
    rng = np.random.default_rng(4)
    a, b = rand(rng, 32, 16), rand(rng, 16, 8)
    expected = a @ b
    errors = []

    def work():
        for _ in range(20):
            if not np.allclose(backend.matmul(a, b), expected, rtol=1e-6):
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_public_surface():
    assert cuda_kernels.KERNELS == ("naive", "tiled", "blocktiled", "warptiled")
    for name in ("get_backend", "matmul", "doublify", "KERNELS", "__version__"):
        assert name in cuda_kernels.__all__
