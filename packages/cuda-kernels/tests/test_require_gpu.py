"""Under CUDA_KERNELS_REQUIRE_GPU=1 a GPU test that cannot run fails instead of skipping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cuda_kernels.backends import BackendUnavailableError, get_backend

GPU_TEST = Path(__file__).parent / "test_gpu.py"


def run_gpu_test(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{GPU_TEST}::test_backend_describes_the_device"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def test_no_gpu_skips_by_default_and_fails_when_a_gpu_is_required():
    try:
        get_backend("pycuda")
    except BackendUnavailableError:
        pass
    else:
        pytest.skip("a GPU is usable here: both runs would pass")
    assert run_gpu_test(CUDA_KERNELS_REQUIRE_GPU="0").returncode == 0  # skipped, with reason
    required = run_gpu_test(CUDA_KERNELS_REQUIRE_GPU="1")
    assert required.returncode == 1
    assert "CUDA_KERNELS_REQUIRE_GPU is set but no GPU is usable" in required.stdout


def test_the_long_no_gpu_reason_is_printed_once():
    """Each skipped GPU test gives a short reason; the several-sentence one (how to build
    pycuda) comes once, not once per test line of the skip summary."""
    try:
        get_backend("pycuda")
    except BackendUnavailableError as exc:
        hint = str(exc)
    else:
        pytest.skip("a GPU is usable here: nothing is skipped")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-rs", "-p", "no:cacheprovider",
         str(GPU_TEST)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "CUDA_KERNELS_REQUIRE_GPU": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert result.stdout.count("SKIPPED [") > 1  # several skip lines, each short
    assert result.stdout.count(hint) == 1, result.stdout[-4000:]
