"""Running the server: Prometheus metrics scraped over HTTP, BLAS threads pinned, safe auth
set-up (token files, the Bearer scheme in any case, plaintext warnings), and the config's
refusal of numbers that mean nothing."""

from __future__ import annotations

import logging
import math
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cuda_kernels import __version__
from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.rpc.client import KernelClient, KernelServiceError
from cuda_kernels.rpc.protocol.auth import read_token_file
from cuda_kernels.rpc.protocol.methods import client_methods
from cuda_kernels.rpc.server import ServerConfig
from cuda_kernels.rpc.server.blas import _numpy_blas_controller

Code = grpc.StatusCode


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
        assert page.headers["Content-Type"].startswith("text/plain")
        text = page.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_endpoint_counts_real_calls(fresh_server, watch_log):
    server = fresh_server(metrics_port=0)
    other = fresh_server(metrics_port=0)  # a registry each: neither sees the other's calls
    before = scrape(server.metrics_port)
    assert value(before, "cuda_kernels_calls_in_flight") == 0
    assert value(before, "cuda_kernels_memory_budget_limit_bytes") == server.budget.limit
    backend = server.backend
    assert value(before, "cuda_kernels_backend_info", backend=backend.name,
                 device=backend.device, kernel_build=backend.kernel_build,
                 version=__version__) == 1  # fmt: skip
    assert not any(name.startswith("cuda_kernels_gpu_memory") for name, _ in before)  # numpy
    a = np.ones((64, 32), np.float32)
    with watch_log() as log, KernelClient(server.address, retries=0) as client:
        client.matmul(a, a.T, transport="unary")
        client.matmul(a, a.T, transport="stream")
        with pytest.raises(KernelServiceError):
            client.matmul(a, a.T, kernel="no-such-kernel")
        # a call's metrics are recorded just before its log line, which may follow the reply
        with log.changed:
            assert log.changed.wait_for(lambda: len(log.lines) >= 3, timeout=30), log.lines
    after = scrape(server.metrics_port)
    assert value(after, "cuda_kernels_calls_total", method="MatMul", code="OK") == 1
    assert value(after, "cuda_kernels_calls_total", method="MatMulStream", code="OK") == 1
    assert value(after, "cuda_kernels_calls_total", method="MatMul",
                 code="INVALID_ARGUMENT") == 1  # fmt: skip
    for method in ("MatMul", "MatMulStream"):
        assert value(after, "cuda_kernels_received_bytes_total", method=method) == 2 * a.nbytes
        assert value(after, "cuda_kernels_sent_bytes_total", method=method) == 64 * 64 * 4
        for histogram in ("queue", "compute"):
            count = value(after, f"cuda_kernels_{histogram}_seconds_count", method=method)
            assert count == 1, (histogram, method)
        assert value(after, "cuda_kernels_call_seconds_count", method=method) >= 1
        assert value(after, "cuda_kernels_compute_seconds_sum", method=method) > 0
    assert value(after, "cuda_kernels_memory_budget_held_bytes") == 0
    assert value(scrape(other.metrics_port), "cuda_kernels_calls_total", method="MatMul",
                 code="OK") == 0  # fmt: skip


def blas_threads_now() -> list[int]:
    """The thread count of each BLAS library numpy uses (the ones the server pins)."""
    controller = _numpy_blas_controller()
    return [] if controller is None else [c.num_threads for c in controller.lib_controllers]


def test_numpy_blas_threads_are_pinned_while_the_server_runs(fresh_server):
    before = blas_threads_now()
    if not before:
        pytest.skip("numpy loaded no BLAS library that threadpoolctl knows")
    server = fresh_server(blas_threads=1)
    assert blas_threads_now() == [1] * len(before)
    server.stop()
    assert blas_threads_now() == before
    fresh_server(blas_threads=0)  # 0: the library's own setting stays
    assert blas_threads_now() == before


# --- auth set-up ----------------------------------------------------------------------


def test_bearer_scheme_in_any_case_is_accepted(fresh_server):
    server = fresh_server(auth_token="tok-123")
    with grpc.insecure_channel(server.address) as channel:
        info = client_methods(channel)["GetInfo"]
        for value_ in ("Bearer tok-123", "bearer tok-123", "BEARER tok-123"):
            assert info(pb.GetInfoRequest(), metadata=(("authorization", value_),), timeout=10)
        for value_ in ("Basic tok-123", "Bearer tok-12", "tok-123", "Bearer"):
            with pytest.raises(grpc.RpcError) as caught:
                info(pb.GetInfoRequest(), metadata=(("authorization", value_),), timeout=10)
            assert caught.value.code() is Code.UNAUTHENTICATED, value_


def _token_file(tmp_path: Path, content: str, mode: int = 0o600) -> Path:
    path = tmp_path / "token"
    path.write_text(content)
    path.chmod(mode)
    return path


def test_token_files_that_cannot_work_are_refused(tmp_path: Path):
    assert read_token_file(_token_file(tmp_path, "\n  s3cret \n")) == "s3cret"
    cases = {
        "open to group or others (mode 0644); run `chmod 600": ("tok", 0o644),
        "open to group or others (mode 0640)": ("tok", 0o640),
        "several lines": ("line-one\nline-two\n", 0o600),
        "at most 4096 fit": ("x" * 5000, 0o600),
        "over 65536 bytes": ("x" * 70_000, 0o600),
        "visible ASCII": ("tab\there", 0o600),
        "is empty": (" \n", 0o600),
    }
    for expected, (content, mode) in cases.items():
        with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            read_token_file(_token_file(tmp_path, content, mode))


def test_a_token_in_plaintext_beyond_this_machine_is_warned_about(fresh_server, watch_log):
    with watch_log("cuda_kernels.rpc.server", logging.WARNING) as log:
        fresh_server(host="0.0.0.0", auth_token="tok")
        assert "the auth token travels in plaintext" in log.wait_for("plaintext")
    with watch_log("cuda_kernels.rpc.client", logging.WARNING) as log:
        KernelClient("10.1.2.3:50051", token="tok").close()
        KernelClient("127.0.0.1:50051", token="tok").close()  # loopback: no warning
        assert len(log.lines) == 1 and "10.1.2.3:50051" in log.lines[0]


# --- numbers that mean nothing ---------------------------------------------------------

FLOAT_SETTINGS = {
    "max_message_mb": "--max-message-mb",
    "max_tensor_mb": "--max-tensor-mb",
    "grace_seconds": "--grace-seconds",
    "idle_seconds": "--idle-seconds",
    "min_stream_kib_per_s": "--min-stream-kib-per-s",
    "memory_budget_mb": "--memory-budget-mb",
    "budget_wait_seconds": "--budget-wait-seconds",
}


@pytest.mark.parametrize("field", sorted(FLOAT_SETTINGS))
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, -1.0])
def test_config_refuses_inf_nan_and_negative(field: str, bad: float):
    with pytest.raises(ValueError, match=FLOAT_SETTINGS[field]) as caught:
        ServerConfig(**{field: bad}).check()
    assert ("finite" in str(caught.value)) == (not math.isfinite(bad))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"workers": -1}, "--workers must be a whole number >= 0"),
        ({"max_queued": -1}, "--max-queued"),
        ({"max_calls": 0}, "--max-calls must be a whole number >= 1"),
        ({"blas_threads": -2}, "--blas-threads"),
        ({"metrics_port": 70000}, "metrics port 70000 is out of range"),
        ({"port": 5000, "metrics_port": 5000}, "is the gRPC port too"),
        ({"idle_seconds": 0}, "--idle-seconds must be positive"),
        ({"auth_token": "a b"}, "visible ASCII"),
    ],
)
def test_config_names_the_setting_that_cannot_work(settings: dict, message: str):
    with pytest.raises(ValueError, match=message):
        ServerConfig(**settings).check()
