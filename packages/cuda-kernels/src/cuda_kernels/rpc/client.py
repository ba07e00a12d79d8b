"""`KernelClient`: numpy in, numpy out, against one or several KernelService servers.

Why a client class rather than raw stubs: it hides the wire format (tensors, chunks), picks
unary calls for small tensors and streams of ~1 MiB chunks above a threshold (so the stock
4 MiB message limit and huge single messages never bite), sets a deadline on every call,
retries UNAVAILABLE (a draining or restarting replica) and "busy, retry later" refusals
(RESOURCE_EXHAUSTED with the server's `retry-after-ms` hint) with exponential backoff, and
spreads calls over several servers with gRPC's round-robin balancing:

    KernelClient("ipv4:127.0.0.1:50051,127.0.0.1:50052").matmul(a, b)
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

import grpc
import numpy as np

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.rpc.protocol.auth import AUTH_METADATA_KEY, bearer_value, leaves_the_machine
from cuda_kernels.rpc.protocol.chunking import (
    DEFAULT_CHUNK_BYTES,
    TensorAssembler,
    check_stream_shapes,
    iter_chunks,
    stream_header_of,
)
from cuda_kernels.rpc.protocol.errors import ServiceError, invalid, retry_after_of
from cuda_kernels.rpc.protocol.files import read_regular_file
from cuda_kernels.rpc.protocol.methods import METHODS, check_parsed, client_methods
from cuda_kernels.rpc.protocol.tensors import (
    MIB,
    array_view,
    fill_header,
    fill_tensor,
    from_tensor,
    nbytes_of,
)
from cuda_kernels.rpc.tls import diagnose_tls
from cuda_kernels.validation import check_matmul_operands, check_matrix

_log = logging.getLogger(__name__)
# gRPC turns a deadline past about 30 years into one already expired (every call then
# fails at once with DEADLINE_EXCEEDED); a week is longer than any matmul needs
MAX_TIMEOUT_S = 7 * 24 * 3600.0
Transport = Literal["auto", "unary", "stream"]
T = TypeVar("T")


class KernelServiceError(RuntimeError):
    """A call the server refused or that failed; `code` is the gRPC status code, and
    `retry_after` the server's hint (seconds) when it refused only for now (it was busy),
    None otherwise."""

    def __init__(
        self, rpc: str, code: grpc.StatusCode, details: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{rpc} failed with {code.name}: {details}")
        self.rpc = rpc
        self.code = code
        self.details = details
        self.retry_after = retry_after


@dataclass(frozen=True)
class ServerInfo:
    """What GetInfo reports about a server."""

    backend: str
    device: str
    kernels: tuple[str, ...]
    max_message_bytes: int
    max_tensor_bytes: int
    version: str
    kernel_build: str = ""  # empty from servers older than the field


@dataclass(frozen=True)
class MatMulResult:
    """A product with what the server says about how it was made."""

    c: np.ndarray
    kernel: str
    backend: str
    compute_ns: int
    request_id: str
    streamed: bool


class KernelClient:
    """Client of KernelService (see the module docstring).

    Args:
        target: a gRPC target: "host:port", or several servers balanced round-robin,
            e.g. "ipv4:127.0.0.1:50051,127.0.0.1:50052" or "dns:///kernels.internal:50051".
        token: bearer token, sent as `authorization: Bearer <token>` on every call.
        tls_ca: PEM of the CA (or self-signed server certificate) to trust: bytes, or a path.
            None means a plaintext channel.
        timeout: seconds each public call may take in total, retries included.
        stream_threshold_bytes: tensors (in or out) above this go by streaming RPCs.
        chunk_bytes: size of each streamed chunk.
        max_message_bytes: largest message this client sends or accepts.
        retries: extra attempts after UNAVAILABLE or a busy server's RESOURCE_EXHAUSTED,
            with exponential backoff and jitter (never shorter than the server's hint).
        tls_server_name: the name to check in the server certificate, when it differs
            from the target's host.
    """

    def __init__(
        self,
        target: str,
        token: str | None = None,
        tls_ca: bytes | str | Path | None = None,
        timeout: float = 60.0,
        *,
        stream_threshold_bytes: int = 4 * MIB,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        max_message_bytes: int = 64 * MIB,
        retries: int = 5,
        initial_backoff: float = 0.05,
        max_backoff: float = 2.0,
        tls_server_name: str | None = None,
    ) -> None:
        if not isinstance(target, str) or not target.strip():
            raise ValueError("target must be a non-empty string such as '127.0.0.1:50051'")
        _check_seconds("timeout", timeout, MAX_TIMEOUT_S, positive=True)
        _check_seconds("initial_backoff", initial_backoff, MAX_TIMEOUT_S)
        _check_seconds("max_backoff", max_backoff, MAX_TIMEOUT_S)
        if chunk_bytes <= 0 or chunk_bytes + 1024 > max_message_bytes:
            raise ValueError(
                f"chunk_bytes ({chunk_bytes}) must be positive and fit in max_message_bytes "
                f"({max_message_bytes}) with room for the envelope"
            )
        if stream_threshold_bytes < 0 or retries < 0:
            raise ValueError("stream_threshold_bytes and retries must be >= 0")
        self.target = target
        self.timeout = timeout
        self.stream_threshold_bytes = stream_threshold_bytes
        self.chunk_bytes = chunk_bytes
        self.retries = retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._metadata = ((AUTH_METADATA_KEY, bearer_value(token)),) if token is not None else ()
        if token is not None and tls_ca is None and leaves_the_machine(target):
            _log.warning(
                "KernelClient(%r): the token goes in plaintext to another machine; anyone "
                "on the path can read it (pass tls_ca= to use TLS)",
                target,
            )
        options: list[tuple[str, Any]] = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.lb_policy_name", "round_robin"),
        ]
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        self._tls: tuple[bytes, str | None] | None = None  # (CA, name) for `diagnose_tls`
        if tls_ca is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            pem = tls_ca if isinstance(tls_ca, bytes) else read_regular_file(tls_ca, "tls_ca")
            self._tls = (pem, tls_server_name)
            credentials = grpc.ssl_channel_credentials(root_certificates=pem)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._rpc = client_methods(self._channel)  # method name -> multi-callable

    # --- public calls -----------------------------------------------------------------

    def matmul(
        self,
        a: np.ndarray,
        b: np.ndarray,
        kernel: str | None = None,
        *,
        transport: Transport = "auto",
    ) -> np.ndarray:
        """C = A·B on the server (float32 n×m times m×p); returns a new float32 array."""
        return self.matmul_detailed(a, b, kernel, transport=transport).c

    def matmul_detailed(
        self,
        a: np.ndarray,
        b: np.ndarray,
        kernel: str | None = None,
        *,
        transport: Transport = "auto",
        request_id: str | None = None,
    ) -> MatMulResult:
        """Like `matmul`, also returning the kernel, backend and compute time reported."""
        a, b = check_matmul_operands(a, b)
        if kernel is not None and (not isinstance(kernel, str) or not kernel):
            raise ValueError(f"kernel must be None or a non-empty name, got {kernel!r}")
        request = pb.MatMulRequest(request_id=request_id or _new_request_id(), kernel=kernel or "")
        out_shape = (a.shape[0], b.shape[1])
        reply, c, streamed = self._exchange(
            "MatMul", transport, request, {"a": a, "b": b}, "c", out_shape
        )
        return MatMulResult(
            c=c,
            kernel=reply.kernel,
            backend=reply.backend,
            compute_ns=reply.compute_ns,
            request_id=reply.request_id,
            streamed=streamed,
        )

    def doublify(self, x: np.ndarray, *, transport: Transport = "auto") -> np.ndarray:
        """y = 2·x on the server for a float32 matrix; returns a new array."""
        x = check_matrix(x, "x")
        request = pb.DoublifyRequest(request_id=_new_request_id())
        _, y, _ = self._exchange("Doublify", transport, request, {"x": x}, "y", x.shape)
        return y

    def info(self) -> ServerInfo:
        """The backend, device, kernels (fastest first), caps and version of a server."""
        response = self._unary("GetInfo", pb.GetInfoRequest())
        reported = {field.name: getattr(response, field.name) for field in fields(ServerInfo)}
        return ServerInfo(**{**reported, "kernels": tuple(response.kernels)})

    def close(self) -> None:
        """Close the channel; the client cannot be used afterwards."""
        self._channel.close()

    def __enter__(self) -> KernelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- helpers ----------------------------------------------------------------------

    def _unary(self, rpc: str, request: Any) -> Any:
        """The reply of one unary call of `rpc`, with deadline and retries; DATA_LOSS when
        its bytes did not parse."""
        reply = self._with_retries(
            rpc,
            lambda deadline: self._rpc[rpc](
                request, timeout=_remaining(deadline), metadata=self._metadata
            ),
        )
        with _data_loss(rpc):
            return check_parsed(reply)

    def _exchange(
        self,
        operation: str,
        transport: Transport,
        request: Any,
        operands: dict[str, np.ndarray],
        result: str,
        expected: tuple[int, ...],
    ) -> tuple[Any, np.ndarray, bool]:
        """Send `request` with its `operands` (field name -> array) by the unary RPC
        `operation` or its stream (`transport`: "auto" streams tensors in or out over the
        threshold); return the reply (a stream's header), its `result` tensor and whether
        it streamed. The result must have the `expected` shape: a reply that announces
        anything else is refused before a byte of it is stored (DATA_LOSS), so a server
        cannot make this client allocate more than the result it asked for."""
        if transport not in ("auto", "unary", "stream"):
            raise ValueError(f"transport must be 'auto', 'unary' or 'stream', got {transport!r}")
        largest = max(sum(array.nbytes for array in operands.values()), nbytes_of(expected))
        streamed = transport == "stream" or (
            transport == "auto" and largest > self.stream_threshold_bytes
        )
        rpc = f"{operation}Stream" if streamed else operation
        if not streamed:
            for name, array in operands.items():
                fill_tensor(getattr(request, name), array)
            reply = self._unary(rpc, request)
            with _data_loss(rpc):
                tensor = _check_shape(getattr(reply, result), expected)
                return reply, from_tensor(tensor, result, nbytes_of(expected)).copy(), False
        for name, array in operands.items():
            fill_header(getattr(request, name), array)
        views = [array_view(array) for array in operands.values()]

        def attempt(deadline: float) -> tuple[Any, np.ndarray]:
            chunks = iter_chunks(views, self.chunk_bytes)
            messages = itertools.chain([METHODS[rpc].request_type(header=request)], chunks)
            responses = self._rpc[rpc](
                messages, timeout=_remaining(deadline), metadata=self._metadata
            )
            try:
                with _data_loss(rpc):
                    header = stream_header_of(next(responses, None))
                    tensor = _check_shape(getattr(header, result), expected)
                    shapes = check_stream_shapes([(result, tensor)], nbytes_of(expected))
                    assembler = TensorAssembler(shapes)
                    for message in responses:
                        assembler.add(message)
                    return header, assembler.finish()[0]
            finally:
                responses.cancel()  # a refused reply stops arriving (no-op once complete)

        return *self._with_retries(rpc, attempt), True

    def _with_retries(self, rpc: str, attempt: Callable[[float], T]) -> T:
        """Run `attempt(deadline)`; retry UNAVAILABLE, and a refusal that says "not now"
        (RESOURCE_EXHAUSTED with a retry hint), with backoff until the deadline."""
        deadline = time.monotonic() + self.timeout
        backoff = self.initial_backoff
        for attempt_number in range(self.retries + 1):
            try:
                return attempt(deadline)
            except grpc.RpcError as exc:
                code, details = exc.code(), exc.details() or ""
                hint = _retry_hint(exc)
                pause = random.uniform(0, backoff)  # full jitter: replicas are not stampeded
                if hint is not None:  # a busy server: not sooner than it asked
                    pause = max(pause, hint)
                retry = (
                    (code is grpc.StatusCode.UNAVAILABLE or hint is not None)
                    and attempt_number < self.retries
                    and time.monotonic() + pause < deadline
                )
                if not retry:
                    raise KernelServiceError(rpc, code, self._why(code, details), hint) from None
                _log.debug(
                    "%s: %s (%s); retry %d of %d in %.3f s",
                    rpc, code.name, details, attempt_number + 1, self.retries, pause,
                )  # fmt: skip
                time.sleep(pause)
                backoff = min(backoff * 2, self.max_backoff)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _why(self, code: grpc.StatusCode, details: str) -> str:
        """`details`, led by the real reason when a TLS channel could not connect: gRPC
        names only the last address it tried (see `tls.diagnose_tls`; a handshake per
        address, each at most 5 s, only once the call has failed)."""
        if code is not grpc.StatusCode.UNAVAILABLE or self._tls is None:
            return details
        reason = diagnose_tls(self.target, *self._tls, timeout=min(5.0, self.timeout))
        return details if reason is None else f"{reason} (gRPC: {details})"


def _check_seconds(name: str, value: object, most: float, positive: bool = False) -> None:
    """ValueError naming `name` and the allowed range unless `value` is a finite number
    of seconds in (0, most] (or [0, most] when not `positive`)."""
    low = "0 <" if positive else "0 <="
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not (0 < value <= most if positive else 0 <= value <= most):
        raise ValueError(
            f"{name} must be a number of seconds with {low} {name} <= {most:g} "
            f"(a week), got {value!r}"
        )


def _retry_hint(exc: grpc.RpcError) -> float | None:
    if exc.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    return retry_after_of(exc.trailing_metadata() if isinstance(exc, grpc.Call) else None)


def _new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


def _check_shape(tensor: pb.Tensor, expected: tuple[int, ...]) -> pb.Tensor:
    if tuple(tensor.shape) != expected:
        raise invalid(f"the server answered with shape {tuple(tensor.shape)}, expected {expected}")
    return tensor


@contextlib.contextmanager
def _data_loss(rpc: str) -> Iterator[None]:
    """A malformed or unexpected reply (a `ServiceError` from the protocol's checks) as
    DATA_LOSS."""
    try:
        yield
    except ServiceError as exc:
        raise KernelServiceError(rpc, grpc.StatusCode.DATA_LOSS, exc.details) from None


__all__ = ["KernelClient", "KernelServiceError", "MatMulResult", "ServerInfo"]
