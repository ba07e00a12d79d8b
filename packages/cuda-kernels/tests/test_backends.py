import importlib.util
import logging
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

import cuda_kernels
from cuda_kernels.backends import BackendUnavailableError, NumpyBackend, get_backend
from cuda_kernels.extras import GPU_INSTALL_HINT
from cuda_kernels.kernels.ladder import FASTEST_FIRST, SOURCE_FILES, nvcc_define_flags


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
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-5)


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


@pytest.fixture
def no_gpu() -> None:
    """Skip unless the pycuda backend is unusable here; any start-up failure counts as
    unusable, and its cause is the skip reason (built when the test runs, not collected)."""
    try:
        get_backend("pycuda")
    except BackendUnavailableError:
        return
    except Exception as exc:  # a GPU that fails to start: this test's premise still holds
        pytest.fail(f"the pycuda backend failed to start: {type(exc).__name__}: {exc}")
    pytest.skip("a GPU is usable here; this tests the fallback")


def test_auto_falls_back_to_numpy_and_logs_why(no_gpu, caplog, monkeypatch):
    import cuda_kernels.backends as backends

    monkeypatch.setattr(backends, "_instances", {})  # a fresh choice, undone afterwards
    with caplog.at_level(logging.INFO, logger="cuda_kernels.backends"):
        backend = get_backend("auto")
    assert backend.name == "numpy"
    assert "using the numpy backend" in caplog.text
    with pytest.raises(BackendUnavailableError) as caught:
        get_backend("pycuda")
    # without pycuda the message says how to get it; with pycuda but no driver, that
    expected = "no NVIDIA driver" if "libcuda" in str(caught.value) else GPU_INSTALL_HINT
    assert expected in str(caught.value)
    assert "uv sync --extra gpu" in GPU_INSTALL_HINT and "cuda.h" in GPU_INSTALL_HINT
    assert "--index-url" in GPU_INSTALL_HINT


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


def _pycuda_backend_with_stand_in_driver(monkeypatch):
    """pycuda_backend.py loaded against a stand-in `pycuda` (no GPU needed), to test its
    host-side bookkeeping; returns (module, the stand-in driver)."""
    driver = types.ModuleType("pycuda.driver")

    class Error(Exception):
        pass

    class LaunchError(Error):
        pass

    driver.Error, driver.LaunchError = Error, LaunchError
    driver.module_from_buffer = lambda data: ("loaded", len(data))
    compiler = types.ModuleType("pycuda.compiler")
    compiler.SourceModule = object
    package = types.ModuleType("pycuda")
    package.driver, package.compiler = driver, compiler
    for name, module in (("pycuda", package), ("pycuda.driver", driver),
                         ("pycuda.compiler", compiler)):  # fmt: skip
        monkeypatch.setitem(sys.modules, name, module)
    path = Path(cuda_kernels.__file__).parent / "backends" / "pycuda_backend.py"
    spec = importlib.util.spec_from_file_location("pycuda_backend_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, driver


class Buffer:
    def __init__(self, free_error: Exception | None = None) -> None:
        self.free_error, self.freed = free_error, False

    def free(self) -> None:
        self.freed = True
        if self.free_error is not None:
            raise self.free_error


def test_a_failed_launch_is_the_error_even_when_the_frees_fail_too(monkeypatch, caplog):
    module, driver = _pycuda_backend_with_stand_in_driver(monkeypatch)
    broken = [Buffer(driver.Error("context is destroyed")) for _ in range(3)]
    with pytest.raises(RuntimeError) as caught, module._device_buffers() as held:
        held.extend(broken)
        raise driver.LaunchError("unspecified launch failure")
    assert str(caught.value) == "CUDA failed: LaunchError: unspecified launch failure"
    assert isinstance(caught.value.__cause__, driver.LaunchError)
    assert all(buffer.freed for buffer in broken)
    assert caplog.text.count("context is destroyed") == 3  # logged, not raised


def test_other_errors_pass_through_and_a_lone_failed_free_is_raised(monkeypatch):
    module, driver = _pycuda_backend_with_stand_in_driver(monkeypatch)
    buffers = [Buffer(driver.Error("busy")), Buffer()]
    with pytest.raises(ValueError, match="bad shape"), module._device_buffers() as held:
        held.extend(buffers)
        raise ValueError("bad shape")
    assert all(buffer.freed for buffer in buffers)
    buffers = [Buffer(driver.Error("busy")), Buffer()]
    failed_free = pytest.raises(RuntimeError, match="CUDA failed freeing memory: Error: busy")
    with failed_free, module._device_buffers() as held:
        held.extend(buffers)
    assert all(buffer.freed for buffer in buffers)


def test_the_gpu_backend_compiles_with_the_ladder_defines(monkeypatch):
    module, _ = _pycuda_backend_with_stand_in_driver(monkeypatch)
    compiled = {}
    monkeypatch.setattr(module, "SourceModule", lambda source, **kw: compiled.update(kw))
    module.PycudaBackend._compile(types.SimpleNamespace(arch="sm_90"), "matmul.cu")
    assert compiled["options"] == ["-O3", *nvcc_define_flags("matmul.cu")]
    assert compiled["arch"] == "sm_90" and compiled["no_extern_c"] is True
    assert module.PycudaBackend.kernels == FASTEST_FIRST  # the named fastest leads: the default


def _backend_for(module, capability, monkeypatch):
    """A PycudaBackend shell for `capability` whose compiles are recorded, not run."""
    backend = object.__new__(module.PycudaBackend)
    backend.arch = "sm_{}{}".format(*capability)
    compiled = []
    monkeypatch.setattr(backend, "_compile", lambda source: compiled.append(source) or source,
                        raising=False)  # fmt: skip
    return backend, compiled


def test_a_gpu_with_a_prebuilt_image_loads_the_fatbins_and_compiles_nothing(monkeypatch):
    module, _ = _pycuda_backend_with_stand_in_driver(monkeypatch)
    backend, compiled = _backend_for(module, (9, 0), monkeypatch)
    build, modules = backend._load_modules("auto", (9, 0))
    assert build == "prebuilt fatbin, sm_90 SASS"
    assert set(modules) == set(SOURCE_FILES) and not compiled
    assert all(m[0] == "loaded" for m in modules.values())


def test_a_gpu_without_an_image_compiles_and_says_why(monkeypatch, caplog):
    module, _ = _pycuda_backend_with_stand_in_driver(monkeypatch)
    backend, compiled = _backend_for(module, (7, 0), monkeypatch)
    build, _modules = backend._load_modules("auto", (7, 0))
    assert compiled == list(SOURCE_FILES)
    assert build == ("compiled from source by nvcc for sm_70 (the prebuilt fatbins have no "
                     "image for sm_70)")  # fmt: skip
    assert "compiling the kernels with nvcc" in caplog.text
    with pytest.raises(BackendUnavailableError, match="CUDA_KERNELS_BUILD=prebuilt forbids"):
        backend._load_modules("prebuilt", (7, 0))


def test_a_refused_fatbin_falls_back_to_compiling(monkeypatch):
    module, driver = _pycuda_backend_with_stand_in_driver(monkeypatch)

    def refuse(data):
        raise driver.Error("cuModuleLoadData failed: device kernel image is invalid")

    monkeypatch.setattr(driver, "module_from_buffer", refuse)
    backend, compiled = _backend_for(module, (9, 0), monkeypatch)
    build, _ = backend._load_modules("auto", (9, 0))
    assert "the driver refused the prebuilt fatbin" in build and compiled


def test_a_stale_fatbin_is_never_loaded_the_sources_are_compiled(monkeypatch):
    import cuda_kernels.kernels as kernels

    module, driver = _pycuda_backend_with_stand_in_driver(monkeypatch)
    monkeypatch.setattr(driver, "module_from_buffer", lambda data: pytest.fail("loaded"))
    original = kernels.read_source
    edited = {"matmul.cu": "\n// edited"}
    monkeypatch.setattr(kernels, "read_source", lambda name: original(name) + edited.get(name, ""))
    backend, compiled = _backend_for(module, (9, 0), monkeypatch)
    build, _ = backend._load_modules("auto", (9, 0))
    assert "(the prebuilt fatbins of matmul.cu are stale)" in build
    assert compiled == list(SOURCE_FILES)


def test_source_builds_are_asked_for_by_argument_or_environment(monkeypatch):
    module, _ = _pycuda_backend_with_stand_in_driver(monkeypatch)
    backend, compiled = _backend_for(module, (9, 0), monkeypatch)
    assert "CUDA_KERNELS_BUILD=source" in backend._load_modules("source", (9, 0))[0]
    assert compiled == list(SOURCE_FILES)
    monkeypatch.setenv("CUDA_KERNELS_BUILD", "source")
    assert module._build_mode(None) == "source"
    monkeypatch.setenv("CUDA_KERNELS_BUILD", "jit")
    with pytest.raises(ValueError, match="CUDA_KERNELS_BUILD='jit' is not one of auto"):
        module._build_mode(None)


def test_pycuda_without_a_driver_is_named_as_such(monkeypatch):
    import cuda_kernels.backends as backends

    missing_driver = ImportError("libcuda.so.1: cannot open shared object file")
    module = types.ModuleType("cuda_kernels.backends.pycuda_backend")

    def fail(name):
        raise missing_driver

    module.__getattr__ = fail
    monkeypatch.setitem(sys.modules, "cuda_kernels.backends.pycuda_backend", module)
    with pytest.raises(BackendUnavailableError, match="this machine has no NVIDIA driver"):
        backends._create_pycuda()


def test_the_numpy_backend_reports_no_device_memory_and_the_gpu_backend_asks_the_driver(
    monkeypatch,
):
    assert get_backend("numpy").memory_info() is None
    module, driver = _pycuda_backend_with_stand_in_driver(monkeypatch)
    driver.mem_get_info = lambda: (3 * 2**30, 141 * 2**30)
    backend, _ = _backend_for(module, (9, 0), monkeypatch)
    backend._lock, backend._closed = threading.RLock(), False
    backend._context = types.SimpleNamespace(push=lambda: None)
    driver.Context = types.SimpleNamespace(pop=lambda: None)
    assert backend.memory_info() == (3 * 2**30, 141 * 2**30)
