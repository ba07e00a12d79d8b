"""The GPU fixture every GPU test uses, and the switch that makes "no GPU" a failure.

On a machine without a GPU the GPU tests skip, each with the reason. On the GPU host the
device script sets `CUDA_KERNELS_REQUIRE_GPU=1`: there a GPU test that cannot run is a
failure, so a broken pycuda install can never pass as a green run with every GPU test
skipped.
"""

from __future__ import annotations

import os

import pytest

from cuda_kernels.backends import BackendUnavailableError, get_backend

REQUIRE_GPU_ENV = "CUDA_KERNELS_REQUIRE_GPU"


def gpu_required() -> bool:
    return os.environ.get(REQUIRE_GPU_ENV, "") not in ("", "0")


@pytest.fixture(scope="session")
def gpu():
    """The pycuda backend, built when the first GPU test runs (not at collection): no GPU
    skips with the reason (fails under CUDA_KERNELS_REQUIRE_GPU=1); a GPU whose backend
    fails to start fails with the cause."""
    try:
        return get_backend("pycuda")
    except BackendUnavailableError as exc:
        if gpu_required():
            pytest.fail(f"{REQUIRE_GPU_ENV} is set but no GPU is usable: {exc}")
        pytest.skip(f"no usable GPU: {exc}")
    except Exception as exc:
        pytest.fail(f"the pycuda backend failed to start: {type(exc).__name__}: {exc}")
