"""The pycuda wheel recipe's pieces: the locked dependency closures and the stub driver.

The whole build (about two minutes) runs in `.ci/run` through `gpu_carry.py` when its cache
lacks it; these tests cover the parts that decide whether its result installs and imports.
"""

from __future__ import annotations

import ctypes
import shutil
from pathlib import Path

import pytest
from build_pycuda_wheel import (
    CUDA_ERROR_NO_DEVICE,
    REPO_ROOT,
    build_stub_driver,
    locked_closure,
    python_for,
)
from gpu_carry import SERVICE_NEEDS
from release_tools.errors import ReleaseError


def test_closure_holds_everything_pycuda_compiler_imports():
    pins = locked_closure(REPO_ROOT / "uv.lock")
    # pycuda.compiler imports pytools, which needs platformdirs, siphash24, typing-extensions;
    # pycuda's templates need mako, which needs markupsafe
    assert {"pycuda", "pytools", "platformdirs", "siphash24", "typing-extensions", "mako",
            "markupsafe"} <= set(pins)  # fmt: skip
    assert all(version[0].isdigit() for version in pins.values())


def test_the_service_closure_carries_what_the_host_lacks_or_has_too_old():
    pins = locked_closure(REPO_ROOT / "uv.lock", *SERVICE_NEEDS)
    assert {"grpcio", "protobuf", "cffi", "pycparser", *SERVICE_NEEDS} <= set(pins)
    assert "pycuda" not in pins and "numpy" not in pins  # the host has numpy


def test_closure_names_the_fix_when_pycuda_is_not_locked(tmp_path: Path):
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "numpy"\nversion = "2.0.0"\n')
    with pytest.raises(ReleaseError, match="run `uv lock`"):
        locked_closure(lock)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_stub_driver_answers_no_device_and_fills_the_error_text(tmp_path: Path):
    folder = build_stub_driver(tmp_path, ["cuInit", "cuGetErrorString", "cuDeviceGetCount"])
    driver = ctypes.CDLL(str(folder / "libcuda.so.1"))
    assert driver.cuInit(0) == CUDA_ERROR_NO_DEVICE
    text = ctypes.c_char_p()
    assert driver.cuGetErrorString(CUDA_ERROR_NO_DEVICE, ctypes.byref(text)) == 0
    assert b"no CUDA-capable device" in text.value


def test_without_pyenv_an_unknown_python_is_one_error(monkeypatch: pytest.MonkeyPatch):
    """Machines without pyenv go straight to `uv python find` (this used to be IndexError)."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ReleaseError, match=r"find Python 2\.1"):
        python_for("2.1")
