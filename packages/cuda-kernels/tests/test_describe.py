"""`cuda-kernels describe`: the facts of what runs here, checked, and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from cuda_kernels.backends import NumpyBackend
from cuda_kernels.describe import check_backend, describe, failures, versions


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuda_kernels.cli", "describe", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_numpy_backend_describes_itself_and_passes_its_check():
    facts = describe("numpy")
    assert facts["backend"] == "numpy" and facts["kernel_build"].startswith("numpy's BLAS")
    assert facts["versions"]["numpy"] == np.__version__ and facts["problems"] == []
    assert failures(facts) == []


def test_a_wrong_kernel_is_found_by_the_check():
    class Broken(NumpyBackend):
        def _matmul(self, a, b, kernel):
            return super()._matmul(a, b, kernel) + 1

    assert check_backend(Broken())[0].startswith("numpy: relative error")


def test_a_failed_build_is_a_failure_and_an_unchecked_one_is_not():
    facts = {"backend": "pycuda", "problems": [], "builds": {
        "prebuilt": {"ok": False, "error": "LogicError: no kernel image"},
        "source": {"ok": None, "error": "nvcc is not on PATH"},
    }}  # fmt: skip
    assert failures(facts) == ["prebuilt build: LogicError: no kernel image"]


def test_the_command_prints_json_and_exits_0_on_numpy():
    done = cli("--backend", "numpy", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["backend"] == "numpy"


def test_asking_for_a_gpu_that_is_not_here_is_one_line_and_exit_1():
    done = cli("--backend", "pycuda")
    if done.returncode == 0:  # a usable GPU: then its checks passed
        assert "pycuda" in done.stdout
        return
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("cuda-kernels describe: error:")


def test_cupy_is_found_under_its_per_cuda_distribution_name(tmp_path, monkeypatch):
    info = tmp_path / "cupy_cuda13x-13.6.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cupy-cuda13x\nVersion: 13.6.0\n")
    (info / "top_level.txt").write_text("cupy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert versions()["cupy"] == "13.6.0"
