"""The third attack round on the service, replayed from the outside: the real `cuda-kernels
serve` process, real gRPC and HTTP over 127.0.0.1, and a real client.

What each test pins down: files the server opens are regular files (a FIFO no longer hangs
start-up, /dev/null draws no `chmod` advice); a bad TLS certificate or key is named, not
blamed on the port; the gRPC port and the metrics endpoint close idle connections and cap
them; the client refuses a timeout gRPC cannot honour and names the real reason a TLS
connection failed; oversized metadata gets a sentence; client NaN/Inf leave the server's
stderr clean; argument errors are one line.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels._proto import kernels_pb2_grpc as pb_grpc
from cuda_kernels.cli import main
from cuda_kernels.rpc.client import KernelClient, KernelServiceError
from cuda_kernels.rpc.server import ServerConfig
from cuda_kernels.rpc.tls import self_signed_certificate

from .test_serve_cli import CLI, line_within

Code = grpc.StatusCode


def _serve_errors(cases: dict[str, list[str]], timeout: float = 60) -> dict[str, list[str]]:
    """Start `cuda-kernels serve` once per case, all at once (each start costs the
    imports); the stderr lines of each, which must have exited with 1. A server that
    hangs instead fails the test at `timeout` (and is killed)."""
    processes = {
        case: subprocess.Popen([CLI, "serve", "--port", "0", "--backend", "numpy", *flags],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for case, flags in cases.items()
    }  # fmt: skip
    lines = {}
    try:
        for case, process in processes.items():
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{case}: serve did not exit within {timeout} s (it hangs)")
            assert process.returncode == 1, (case, out, err)
            lines[case] = err.strip().splitlines()
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return lines


def _one_line(lines: list[str], expected: str, case: str) -> str:
    assert len(lines) == 1, (case, lines)
    assert lines[0].startswith("cuda-kernels serve: error: "), (case, lines)
    assert expected in lines[0], (case, lines[0])
    return lines[0]


# --- 5, 14: only regular files are opened ---------------------------------------------------


def test_token_and_tls_files_must_be_regular_files_and_a_fifo_never_blocks(tmp_path: Path):
    fifo = tmp_path / "token.fifo"
    os.mkfifo(fifo, 0o600)  # nobody ever writes to it: opening it to read would block
    folder = tmp_path / "a-folder"
    folder.mkdir(mode=0o700)
    key = tmp_path / "key.pem"
    key.write_bytes(self_signed_certificate()[1])
    cases = {
        "fifo token": ["--auth-token-file", str(fifo)],
        "/dev/null token": ["--auth-token-file", os.devnull],
        "directory token": ["--auth-token-file", str(folder)],
        "missing token": ["--auth-token-file", str(tmp_path / "nope")],
        "fifo certificate": ["--tls-cert", str(fifo), "--tls-key", str(key)],
        "directory key": ["--tls-cert", str(key), "--tls-key", str(folder)],
    }
    lines = _serve_errors(cases)
    expected = {
        "fifo token": f"the auth token file {fifo} is a named pipe (FIFO), not a regular file",
        "/dev/null token": f"the auth token file {os.devnull} is a character device, not a "
        "regular file",
        "directory token": f"the auth token file {folder} is a directory, not a regular file",
        "missing token": f"the auth token file {tmp_path / 'nope'} does not exist",
        "fifo certificate": f"the TLS certificate (--tls-cert) {fifo} is a named pipe (FIFO), "
        "not a regular file",
        "directory key": f"the TLS key (--tls-key) {folder} is a directory, not a regular file",
    }
    for case, text in expected.items():
        line = _one_line(lines[case], text, case)
        assert "chmod" not in line and "Errno" not in line, (case, line)


# --- 8: a bad certificate or key is named before the server binds ---------------------------


def test_a_bad_tls_certificate_or_key_is_named_not_blamed_on_the_port(tmp_path: Path):
    certificate, key = self_signed_certificate()
    _, other_key = self_signed_certificate()
    files = {
        "cert": certificate,
        "key": key,
        "other-key": other_key,
        "garbage": b"this is not PEM\n",
        "empty": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        (tmp_path / name).chmod(0o600)

    def tls(cert: str, key_file: str) -> list[str]:
        return ["--tls-cert", str(tmp_path / cert), "--tls-key", str(tmp_path / key_file)]

    cases = {
        "garbage certificate": tls("garbage", "key"),
        "empty certificate": tls("empty", "key"),
        "garbage key": tls("cert", "garbage"),
        "empty key": tls("cert", "empty"),
        "mismatched": tls("cert", "other-key"),
        "swapped": tls("key", "cert"),
    }
    expected = {
        "garbage certificate": "cannot load the TLS certificate (--tls-cert): not a PEM "
        "certificate",
        "empty certificate": "cannot load the TLS certificate (--tls-cert): the file is empty",
        "garbage key": "cannot load the TLS key (--tls-key): not a PEM private key",
        "empty key": "cannot load the TLS key (--tls-key): the file is empty",
        "mismatched": "the TLS key (--tls-key) does not belong to the certificate (--tls-cert)",
        "swapped": "are --tls-cert and --tls-key swapped?",
    }
    lines = _serve_errors(cases)
    for case, text in expected.items():
        line = _one_line(lines[case], text, case)
        assert "cannot listen" not in line and "port in use" not in line, (case, line)


# --- 7: gRPC's own connection limits --------------------------------------------------------


def test_an_idle_grpc_connection_is_closed_by_the_server(fresh_server):
    server = fresh_server(connection_idle_seconds=0.5)
    seen: list[grpc.ChannelConnectivity] = []
    dropped = threading.Event()

    def on_state(state: grpc.ChannelConnectivity) -> None:
        seen.append(state)
        if grpc.ChannelConnectivity.READY in seen and state in (
            grpc.ChannelConnectivity.IDLE, grpc.ChannelConnectivity.TRANSIENT_FAILURE
        ):  # fmt: skip
            dropped.set()  # the server's GOAWAY: the channel left READY on its own

    with grpc.insecure_channel(server.address) as channel:
        pb_grpc.KernelServiceStub(channel).GetInfo(pb.GetInfoRequest(), timeout=30)
        channel.subscribe(on_state)  # called at once with READY, then on each change
        assert dropped.wait(60), f"the idle connection stayed open; states {seen}"
        channel.unsubscribe(on_state)
        # the next call simply reconnects
        assert pb_grpc.KernelServiceStub(channel).GetInfo(pb.GetInfoRequest(), timeout=30)


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # length 0, type SETTINGS, stream 0
GOAWAY = 7


def _frame_types(data: bytes) -> list[int]:
    """The types of the HTTP/2 frames in `data` (each: 3-byte length, type, flags, id)."""
    types = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        types.append(data[3])
        data = data[9 + length :]
    return types


@pytest.mark.parametrize("hello", [b"", HTTP2_PREFACE + EMPTY_SETTINGS],
                         ids=["silent-tcp", "http2-without-calls"])  # fmt: skip
def test_a_raw_idle_connection_gets_goaway_and_is_closed(fresh_server, hello: bytes):
    server = fresh_server(connection_idle_seconds=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        raw.settimeout(60)  # a safety net only: the server is expected to hang up first
        raw.sendall(hello)
        received = _read_all(raw)  # until the server closes the connection
    assert GOAWAY in _frame_types(received), received


def test_connections_past_the_cap_are_closed_at_once(fresh_server):
    server = fresh_server(max_connections=2)
    own_connection = [("grpc.use_local_subchannel_pool", 1)]  # channels share none
    channels = [grpc.insecure_channel(server.address, own_connection) for _ in range(3)]
    try:
        for channel in channels[:2]:  # each holds one connection (idle ones stay for 300 s)
            pb_grpc.KernelServiceStub(channel).GetInfo(pb.GetInfoRequest(), timeout=30)
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.KernelServiceStub(channels[2]).GetInfo(pb.GetInfoRequest(), timeout=30)
        assert caught.value.code() is Code.UNAVAILABLE
    finally:
        for channel in channels:
            channel.close()


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [("connection_idle_seconds", float("inf"), "must be a finite number"),
     ("connection_age_seconds", -1, "must be >= 0"),
     ("max_connections", 0, "must be a whole number >= 1"),
     ("streams_per_connection", True, "must be a whole number >= 1"),
     ("metrics_idle_seconds", 0, "must be positive"),
     ("metrics_per_second", float("nan"), "must be a finite number")],
)  # fmt: skip
def test_connection_settings_are_checked(setting: str, value: object, message: str):
    with pytest.raises(ValueError, match=f"{setting} {message}"):
        ServerConfig(**{setting: value}).check()


# --- 6: the metrics endpoint ----------------------------------------------------------------


def _connect(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.settimeout(60)  # only a safety net: the server is expected to answer first
    return connection


def _read_all(connection: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_metrics_answers_only_on_its_path_and_closes_idle_connections(fresh_server):
    server = fresh_server(metrics_port=0, metrics_idle_seconds=0.5)
    base = f"http://127.0.0.1:{server.metrics_port}"
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        assert response.status == 200 and b"cuda_kernels_calls_in_flight" in response.read()
    for path in ("/", "/favicon.ico", "/metricsx", "/anything/metrics"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{base}{path}", timeout=30)
        assert caught.value.code == 404, path
    with _connect(server.metrics_port) as idle:  # sends nothing at all
        assert _read_all(idle) == b""  # the server hung up (else recv would time out)
    with _connect(server.metrics_port) as half:  # a request line, then silence
        half.sendall(b"GET /metrics HTTP/1.1\r\n")
        assert _read_all(half) == b""


def test_metrics_connections_are_capped(fresh_server):
    server = fresh_server(metrics_port=0, metrics_max_connections=2, metrics_idle_seconds=60)
    port = server.metrics_port
    held = [_connect(port) for _ in range(2)]  # accepted in order: they hold both slots
    try:
        with _connect(port) as third:
            assert _read_all(third).startswith(b"HTTP/1.1 503 Service Unavailable")
        held[0].sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        answer = _read_all(held[0])  # its slot is free before the server closes it
        assert answer.startswith(b"HTTP/1.0 200") and b"cuda_kernels_" in answer
        with _connect(port) as fourth:
            fourth.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert _read_all(fourth).startswith(b"HTTP/1.0 200")
    finally:
        for connection in held:
            connection.close()


def test_metrics_requests_past_the_rate_are_refused_at_once(fresh_server):
    # one request saved up, the next one earned in 1000 s: the second is over the rate
    server = fresh_server(metrics_port=0, metrics_per_second=0.001)
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=30)
    assert caught.value.code == 429 and caught.value.headers["Retry-After"] == "1"


# --- 9: a timeout gRPC can honour -----------------------------------------------------------


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 1e12, 0, -5])
def test_client_refuses_a_timeout_outside_its_range(timeout: float):
    with pytest.raises(ValueError, match=r"timeout must be a number of seconds with 0 < "
                       r"timeout <= 604800 \(a week\)"):  # fmt: skip
        KernelClient("127.0.0.1:50051", timeout=timeout)


# --- 10: the real reason a TLS connection failed --------------------------------------------


def _expired_certificate() -> tuple[bytes, bytes]:
    """A certificate for localhost and 127.0.0.1 that expired yesterday, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=3))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_expired_certificate, "certificate has expired"),
        (lambda: self_signed_certificate(["kernels.example"]),
         "Hostname mismatch, certificate is not valid for 'localhost'"),
    ],
    ids=["expired", "wrong-name"],
)  # fmt: skip
def test_tls_failures_through_localhost_name_the_real_reason(fresh_server, make, reason):
    certificate, key = make()
    server = fresh_server(tls_cert=certificate, tls_key=key)  # on 127.0.0.1 only
    target = f"localhost:{server.port}"  # ::1 refuses, 127.0.0.1 fails the handshake
    client = KernelClient(target, tls_ca=certificate, retries=0, timeout=30)
    with client, pytest.raises(KernelServiceError) as caught:
        client.info()
    assert caught.value.code is Code.UNAVAILABLE
    details = caught.value.details
    assert details.startswith(f"the TLS handshake with {target} (127.0.0.1) failed: {reason}")
    assert "\n" not in str(caught.value)


# --- 15: one-line argument errors, a quiet stderr, metadata refused in words ----------------


@pytest.mark.parametrize(
    "argv",
    [[], ["nope"], ["serve", "--port", "x"], ["serve", "--bogus"], ["bench"],
     ["serve", "--backend", "cuda"], ["bench-service", "--clients"]],
    ids=lambda argv: " ".join(argv) or "no-command",
)  # fmt: skip
def test_argument_errors_are_one_line(argv: list[str], capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cuda-kernels"), lines
    assert ": error: " in lines[0] and "--help)" in lines[0], lines
    assert captured.out == ""
    if argv[:1] == ["serve"]:  # the subcommand's own --help lists its flags
        assert lines[0].startswith("cuda-kernels serve: error: "), lines
        assert lines[0].endswith("(see cuda-kernels serve --help)"), lines


def test_client_nan_inf_and_huge_metadata_leave_the_quiet_servers_stderr_clean(tmp_path):
    stderr_file = tmp_path / "stderr.txt"
    with stderr_file.open("w") as stderr:
        process = subprocess.Popen(
            [CLI, "serve", "--port", "0", "--backend", "numpy", "--quiet"],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    try:
        ready = line_within(process.stdout, timeout=60)
        assert ready.startswith("listening on "), stderr_file.read_text()
        address = ready.split()[2]
        x = np.array([[3e38, np.inf], [np.nan, 1.0]], np.float32)  # 3e38 * 2 overflows
        with KernelClient(address, retries=0) as client:
            assert np.isinf(client.doublify(x)[0, 0])
            assert np.isnan(client.matmul(x, x)).any()
        metadata = tuple((f"k{i}", "v") for i in range(2000))
        with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as caught:
            pb_grpc.KernelServiceStub(channel).GetInfo(
                pb.GetInfoRequest(), metadata=metadata, timeout=30
            )
        assert caught.value.code() is Code.RESOURCE_EXHAUSTED
        assert "metadata is" in caught.value.details()
        assert "at most 8192 bytes" in caught.value.details()
        process.send_signal(signal.SIGTERM)  # every call was answered: its output is out
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    text = stderr_file.read_text()  # complete: the process has exited
    assert "RuntimeWarning" not in text and "encountered in" not in text, text
    assert "hpack" not in text and "size limit" not in text, text
