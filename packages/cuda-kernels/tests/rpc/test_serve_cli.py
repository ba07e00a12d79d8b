"""The real `cuda-kernels serve` process: ready line, calls, SIGTERM/SIGINT drain with a call
in flight, exit 0; one-line errors; and a small `bench-service` run."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels._proto import kernels_pb2_grpc as pb_grpc
from cuda_kernels.rpc.client import KernelClient
from cuda_kernels.rpc.protocol.chunking import iter_chunks

CLI = shutil.which("cuda-kernels", path=str(Path(sys.executable).parent)) or "cuda-kernels"


def line_within(stream: IO[str], timeout: float) -> str:
    """The next line of `stream`; "" when none comes within `timeout` (a server that hangs
    at start-up then fails its test instead of blocking the run for ever)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


class ServeProcess:
    """`cuda-kernels serve` with its stdout and stderr read line by line in the background."""

    def __init__(self, *flags: str) -> None:
        self.process = subprocess.Popen(
            [CLI, "-vv", "serve", "--port", "0", "--backend", "numpy", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr_lines: queue.Queue[str] = queue.Queue()
        self.stderr_seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.ready_line = line_within(self.process.stdout, timeout=60).strip()
        assert self.ready_line.startswith("listening on 127.0.0.1:"), self._failure()
        self.address = self.ready_line.split()[2]

    def _pump(self) -> None:
        for line in self.process.stderr:
            self.stderr_lines.put(line.rstrip("\n"))


    def _failure(self) -> str:
        self.process.kill()
        return f"serve did not start: {self.process.communicate(timeout=10)}"

    def wait_for_stderr(self, text: str, timeout: float = 20) -> str:
        for line in self.stderr_seen:
            if text in line:
                return line
        while True:
            line = self.stderr_lines.get(timeout=timeout)
            self.stderr_seen.append(line)
            if text in line:
                return line

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _held_back_stream(a: np.ndarray, b: np.ndarray, release: threading.Event):
    """A MatMulStream request whose chunks wait for `release` after the header."""
    header = pb.MatMulRequest(
        request_id="in-flight",
        a=pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=list(a.shape)),
        b=pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=list(b.shape)),
    )
    yield pb.MatMulStreamRequest(header=header)
    release.wait(30)
    for offset, data in iter_chunks([a.tobytes(), b.tobytes()], 1000):
        yield pb.MatMulStreamRequest(chunk=pb.Chunk(offset=offset, data=bytes(data)))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_finishes_the_call_in_flight_after_a_signal_and_exits_0(signum: int) -> None:
    server = ServeProcess("--grace-seconds", "15")
    try:
        assert "backend=numpy" in server.ready_line and "device=CPU" in server.ready_line
        rng = np.random.default_rng(1)
        a = rng.standard_normal((50, 40), dtype=np.float32)
        b = rng.standard_normal((40, 30), dtype=np.float32)
        with KernelClient(server.address) as client:
            np.testing.assert_allclose(client.matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)
        release = threading.Event()
        results: list = []
        with grpc.insecure_channel(server.address) as channel:
            call = pb_grpc.KernelServiceStub(channel).MatMulStream(
                _held_back_stream(a, b, release), timeout=60
            )
            reader = threading.Thread(target=lambda: results.extend(call))
            reader.start()
            server.wait_for_stderr("request_id=in-flight: stream header accepted")
            server.process.send_signal(signum)  # while the server waits for the chunks
            server.wait_for_stderr("draining")
            release.set()
            reader.join(timeout=30)
        assert server.process.wait(timeout=30) == 0
        c = np.frombuffer(b"".join(r.chunk.data for r in results[1:]), "<f4").reshape(50, 30)
        np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
        line = server.wait_for_stderr("request_id=in-flight rpc=")
        assert "rpc=MatMulStream" in line and "code=OK" in line
        assert "shapes=a:50x40 b:40x30" in line and "kernel=numpy" in line
        assert "compute_ms=" in line and "total_ms=" in line
    finally:
        server.close()


def test_drain_answers_not_serving_and_a_second_signal_stops_at_once() -> None:
    server = ServeProcess("--grace-seconds", "60")
    try:
        a = np.ones((50, 40), np.float32)
        release = threading.Event()
        outcome: list[grpc.StatusCode] = []
        with grpc.insecure_channel(server.address) as channel:
            call = pb_grpc.KernelServiceStub(channel).MatMulStream(
                _held_back_stream(a, a.T, release), timeout=60
            )

            def read() -> None:
                try:
                    list(call)
                    outcome.append(grpc.StatusCode.OK)
                except grpc.RpcError as exc:
                    outcome.append(exc.code())

            reader = threading.Thread(target=read)
            reader.start()
            server.wait_for_stderr("request_id=in-flight: stream header accepted")
            server.process.send_signal(signal.SIGTERM)
            server.wait_for_stderr("draining")
            health = health_pb2_grpc.HealthStub(channel).Check
            for service in ("", "cuda_kernels.v1.KernelService"):
                status = health(health_pb2.HealthCheckRequest(service=service), timeout=10)
                assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.RpcError) as caught:
                pb_grpc.KernelServiceStub(channel).GetInfo(pb.GetInfoRequest(), timeout=10)
            assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
            assert server.process.poll() is None  # still draining: the call is in flight
            server.process.send_signal(signal.SIGTERM)  # the second one: stop now
            assert server.process.wait(timeout=15) == 0
            reader.join(timeout=15)
            release.set()
        assert outcome and outcome[0] in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
        assert "received SIGTERM again: stopping now" in server.wait_for_stderr("again")
    finally:
        release.set()
        server.close()


def run_cli(*args: str, timeout: float = 60, cwd: Path | None = None):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def _busy_port() -> tuple[socket.socket, int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener, listener.getsockname()[1]


def test_serve_errors_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty-token"
    empty.write_text("  \n")
    empty.chmod(0o600)
    cert = tmp_path / "cert.pem"
    cert.write_text("not a certificate")
    listener, port = _busy_port()
    cases = {
        "missing token file": (["--auth-token-file", str(tmp_path / "nope")], "nope"),
        "empty token file": (["--auth-token-file", str(empty)], "is empty"),
        "cert without key": (["--tls-cert", str(cert)], "--tls-key"),
        "port out of range": (["--port", "70000"], "out of range"),
        "port in use": (["--port", str(port)], "cannot listen"),
        "bad cap": (["--max-message-mb", "0"], "must be positive"),
    }
    with listener:
        processes = {  # all at once: each start costs the imports
            case: subprocess.Popen([CLI, "serve", "--backend", "numpy", *flags],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for case, (flags, _) in cases.items()
        }  # fmt: skip
        for case, (_, expected) in cases.items():
            _, err = processes[case].communicate(timeout=60)
            assert processes[case].returncode != 0, case
            lines = err.strip().splitlines()
            assert len(lines) == 1 and expected in lines[0], (case, err)
            assert lines[0].startswith("cuda-kernels serve: error:"), case
            assert "Traceback" not in err


def test_serve_refuses_inf_nan_negative_and_unsafe_token_files_in_one_line(
    tmp_path: Path,
) -> None:
    open_token = tmp_path / "open-token"
    open_token.write_text("tok\n")
    open_token.chmod(0o644)
    two_lines = tmp_path / "two-lines"
    two_lines.write_text("tok\nmore\n")
    two_lines.chmod(0o600)
    cases = {
        ("--max-tensor-mb", "inf"): "--max-tensor-mb must be a finite number, got inf",
        ("--grace-seconds", "nan"): "--grace-seconds must be a finite number, got nan",
        ("--idle-seconds", "-1"): "--idle-seconds must be positive (> 0), got -1",
        ("--auth-token-file", str(open_token)): "run `chmod 600",
        ("--auth-token-file", str(two_lines)): "several lines",
    }
    processes = {  # all at once: each start costs the imports
        flags: subprocess.Popen([CLI, "serve", "--port", "0", "--backend", "numpy", *flags],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for flags in cases
    }  # fmt: skip
    for flags, expected in cases.items():
        out, err = processes[flags].communicate(timeout=60)
        assert processes[flags].returncode == 1, (flags, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cuda-kernels serve: error:"), err
        assert expected in lines[0], (flags, lines[0])


def test_serve_with_a_token_file_requires_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("\n  tok-from-file \n")
    token_file.chmod(0o600)
    server = ServeProcess("--auth-token-file", str(token_file), "--quiet")
    try:
        with KernelClient(server.address, token="tok-from-file") as client:
            assert client.info().backend == "numpy"
        with KernelClient(server.address, retries=0) as client, pytest.raises(Exception) as caught:
            client.info()
        assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.close()


def test_bench_service_small_run_writes_json_under_runs(tmp_path: Path) -> None:
    result = run_cli(
        "bench-service", "--backend", "numpy", "--sizes-mib", "1", "--clients", "1", "2",
        "--calls", "5", "--repeats", "1", "--stalled-streams", "4", timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Doublify payload throughput" in result.stdout and "p50 ms" in result.stdout
    assert "While 4 streams are stalled" in result.stdout
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")) == [
        "runs/bench-service/service.json"  # the default: never over committed results
    ]
    results = json.loads((tmp_path / "runs" / "bench-service" / "service.json").read_text())
    assert [row["transport"] for row in results["throughput"]] == ["unary", "stream"]
    assert all(row["both_ways_gbps"] > 0 for row in results["throughput"])
    assert [row["clients"] for row in results["latency"]] == [1, 2]
    assert results["latency"][1]["calls"] == 10
    stall = results["health_under_stall"]
    assert stall["stalled_streams"] == stall["streams_sent"] == 4
    for call in ("health", "matmul_2x2"):  # the server kept answering while they stalled
        assert stall[call]["failures"] == 0 and stall[call]["p99_ms"] > 0
    assert [row["blas_threads"] for row in results["blas_threads"]] == [1, "library default"]
    assert all(row["calls"] == 5 for row in results["blas_threads"])
    assert results["overhead"]["in_process_p50_ms"] > 0
    assert results["server"]["backend"] == "numpy"


def test_bench_service_refuses_bad_settings() -> None:
    result = run_cli("bench-service", "--sizes-mib", "0")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "cuda-kernels bench-service: error: --sizes-mib needs positive sizes, "
        "e.g. --sizes-mib 1 16 64"
    ]
