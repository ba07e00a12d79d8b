"""The GPU fixture every GPU test uses, and the switch that makes "no GPU" a failure.

On a machine without a GPU the GPU tests skip, each with the reason. On the GPU host the
device script sets `CUDA_KERNELS_REQUIRE_GPU=1`: there a GPU test that cannot run is a
failure, so a broken pycuda install can never pass as a green run with every GPU test
skipped.

The reason a GPU is not usable (with how to build pycuda) is several sentences long: each
skipped test gives a short reason, and the full one is printed once, at the end of the
report (pytest lists skips per test line, so the long reason came seven times).
"""

from __future__ import annotations

import os

import pytest

from cuda_kernels.backends import BackendUnavailableError, get_backend

REQUIRE_GPU_ENV = "CUDA_KERNELS_REQUIRE_GPU"
NO_GPU = "no usable GPU (the reason and the fix: section 'GPU tests skipped' of the report)"


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
        pytest.skip(NO_GPU)
    except Exception as exc:
        pytest.fail(f"the pycuda backend failed to start: {type(exc).__name__}: {exc}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The full reason GPU tests were skipped, once (it is the same for every one of
    them; asked again here, since under xdist the skips happened in the workers)."""
    skipped = terminalreporter.stats.get("skipped", [])
    count = sum(NO_GPU in str(getattr(report, "longrepr", "")) for report in skipped)
    if not count:
        return
    try:
        get_backend("pycuda")
        reason = "the GPU backend starts in this process, but it did not in the tests"
    except Exception as exc:
        reason = str(exc)
    terminalreporter.write_sep("=", "GPU tests skipped")
    terminalreporter.write_line(f"{count} GPU tests skipped: no usable GPU: {reason}")
