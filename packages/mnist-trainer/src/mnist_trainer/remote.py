"""Remote matmul mode: every Linear layer's products go to the cuda-kernels gRPC service.

`RemoteMatmul` is a `torch.autograd.Function` whose forward is y = x·Wᵀ and whose backward
is dL/dx = g·W and dL/dW = gᵀ·x, each one `KernelClient.matmul` call. Bias, normalisation
and activations stay local. `attach_service` swaps each `nn.Linear` of a model for a
`RemoteLinear` that shares its parameters, so optimizer, state dict and saved model are
unchanged (a saved model loads as plain Linear layers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import EMBEDDED, TrainConfig
from .errors import ConfigError, ServiceUnavailableError, TrainerError

# Status codes that mean "the service is not there (now)": worth a clear retry-later error.
_UNREACHABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"}


SERVER_MISSING = (
    "--matmul-service embedded runs the cuda-kernels server in this process, and its server "
    "parts are not installed: in the workspace run `uv sync --package mnist-trainer --extra "
    "embedded`, or give HOST:PORT of a running `cuda-kernels serve`"
)


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to a service: a bearer token and/or TLS with a trusted CA."""

    token: str | None = None
    tls_ca: bytes | None = None
    tls_server_name: str | None = None

    @classmethod
    def from_config(cls, config: TrainConfig) -> Credentials:
        """Read the token and CA files named in `config`; ConfigError saying which is bad."""
        token = tls_ca = None
        if config.matmul_service_token_file:
            path = Path(config.matmul_service_token_file)
            token = _read(path, "--matmul-service-token-file").decode(errors="replace").strip()
            if not token:
                raise ConfigError(f"--matmul-service-token-file {path} is empty")
        if config.matmul_service_tls_ca:
            path = Path(config.matmul_service_tls_ca)
            tls_ca = _read(path, "--matmul-service-tls-ca")
            if b"-----BEGIN CERTIFICATE-----" not in tls_ca:
                raise ConfigError(f"--matmul-service-tls-ca {path} holds no PEM certificate")
        return cls(token, tls_ca, config.matmul_service_tls_server_name)


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: {exc.strerror or exc}") from None


def _start_embedded_server() -> Any:
    try:
        from cuda_kernels.rpc.server import KernelServer, ServerConfig
    except ImportError:
        raise ConfigError(SERVER_MISSING) from None
    return KernelServer(ServerConfig(host="127.0.0.1", port=0, backend="auto")).start()


class MatmulService:
    """A `KernelClient` (and, for `embedded`, the in-process server it talks to).

    Turns the client's errors into `TrainerError`s that name the service and say what to do,
    and counts calls and seconds spent in them for the benchmarks.
    """

    def __init__(
        self,
        target: str,
        timeout: float = 30.0,
        retries: int = 4,
        server: Any = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.target, self.server = target, server
        self.timeout, self.retries = timeout, retries
        self.credentials = credentials or Credentials()
        self.secure = self.credentials.tls_ca is not None
        self.client = self._new_client(timeout)
        self.calls = 0
        self.seconds = 0.0
        self.backend = "?"
        # Called with the seconds waited so far before each pause for an unreachable service.
        self.on_wait: Callable[[float], None] | None = None

    def _new_client(self, timeout: float) -> Any:
        """A client on a fresh channel (one that dials at once, with no reconnect backoff).

        It retries UNAVAILABLE and busy refusals itself, with exponential backoff, within
        `timeout`."""
        from cuda_kernels.rpc.client import KernelClient

        return KernelClient(
            self.target,
            token=self.credentials.token,
            tls_ca=self.credentials.tls_ca,
            timeout=timeout,
            retries=self.retries,
            initial_backoff=0.25,
            max_backoff=4.0,
            tls_server_name=self.credentials.tls_server_name,
        )

    @classmethod
    def connect(
        cls,
        target: str,
        timeout: float = 30.0,
        retries: int = 4,
        credentials: Credentials | None = None,
    ) -> MatmulService:
        """Dial `target` ("HOST:PORT[,HOST:PORT...]" or "embedded") and check it answers."""
        server = None
        if target == EMBEDDED:
            server = _start_embedded_server()
            target = server.address
        elif "," in target and not target.startswith(("ipv4:", "ipv6:", "dns:")):
            target = "ipv4:" + target  # several servers: gRPC's address-list syntax
        try:
            service = cls(target, timeout, retries, server, credentials)
        except ValueError as exc:  # the client refuses the address or a setting
            if server is not None:
                server.stop()
            raise ConfigError(f"--matmul-service {target!r}: {exc}") from None
        try:
            info = service._call("info")
        except BaseException:
            service.close()
            raise
        service.backend = f"{info.backend} on {info.device}"
        return service

    def describe(self) -> str:
        where = "embedded, " if self.server is not None else ("TLS, " if self.secure else "")
        return f"{self.target} ({where}{self.backend})"

    def _call(self, method: str, *args: Any) -> Any:
        """`self.client.<method>(*args)`, waiting up to `timeout` seconds in all for a
        service that is unreachable (restarting): pauses of 0.25 s doubling to 2 s, each
        retry on a fresh channel that gets only the time left."""
        from cuda_kernels.rpc.client import KernelServiceError

        started = time.perf_counter()
        deadline = time.monotonic() + self.timeout
        pause = 0.25
        try:
            while True:
                try:
                    return getattr(self.client, method)(*args)
                except KernelServiceError as exc:
                    left = deadline - time.monotonic()
                    if exc.code.name != "UNAVAILABLE" or exc.retry_after is not None:
                        raise self._error(exc) from None
                    if left <= 0.01:
                        raise self._error(exc) from None
                    if self.on_wait is not None:
                        self.on_wait(time.perf_counter() - started)
                    time.sleep(min(pause, left / 2))
                    pause = min(2 * pause, 2.0)
                    self.client.close()
                    self.client = self._new_client(max(deadline - time.monotonic(), 0.01))
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started
            if self.client.timeout != self.timeout:  # the next call gets its full patience
                self.client.close()
                self.client = self._new_client(self.timeout)

    def _error(self, exc: Any) -> TrainerError:
        """The client's error as one that names the service and says what to do."""
        if exc.retry_after is not None:
            return ServiceUnavailableError(
                f"matmul service {self.target} stayed busy ({exc.details}) after retries "
                "with backoff; raise --service-retries or --service-timeout, or use a "
                "less loaded service"
            )
        if exc.code.name in _UNREACHABLE:
            tls = (
                " and that --matmul-service-tls-ca holds the CA of its certificate"
                if self.secure
                else ""
            )
            return ServiceUnavailableError(
                f"matmul service {self.target} unreachable ({exc.code.name}: {exc.details}) "
                f"after waiting up to {self.timeout:g} s (--service-timeout); check that it "
                f"runs and the address is right{tls}"
            )
        fix = (
            "; check --matmul-service-token-file"
            if exc.code.name in ("UNAUTHENTICATED", "PERMISSION_DENIED")
            else ""
        )
        return TrainerError(f"matmul service {self.target} refused a call: {exc}{fix}")

    def matmul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a·b on the service (float32 CPU tensors in and out)."""
        a_np = np.ascontiguousarray(a.detach().to(torch.float32).cpu().numpy())
        b_np = np.ascontiguousarray(b.detach().to(torch.float32).cpu().numpy())
        return torch.from_numpy(self._call("matmul", a_np, b_np))

    def close(self) -> None:
        self.client.close()
        if self.server is not None:
            self.server.stop()
            self.server = None


class RemoteMatmul(torch.autograd.Function):
    """y = x·Wᵀ with both products of the backward pass also done remotely."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, service: MatmulService):
        ctx.save_for_backward(x, weight)
        ctx.service = service
        return service.matmul(x, weight.t())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        service: MatmulService = ctx.service
        grad_x = service.matmul(grad, weight) if ctx.needs_input_grad[0] else None
        grad_w = service.matmul(grad.t(), x) if ctx.needs_input_grad[1] else None
        return grad_x, grad_w, None


class RemoteLinear(nn.Module):
    """An `nn.Linear` whose matrix products run on the service; same parameters, same keys."""

    def __init__(self, linear: nn.Linear, service: MatmulService) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.service = service

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = RemoteMatmul.apply(x, self.weight, self.service)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, remote"


def use_service(model: nn.Module, service: MatmulService) -> int:
    """Replace every `nn.Linear` in `model` by a `RemoteLinear`; returns how many."""
    replaced = 0
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear):
            setattr(model, name, RemoteLinear(child, service))
            replaced += 1
        else:
            replaced += use_service(child, service)
    return replaced


def attach_service(model: nn.Module, config: TrainConfig) -> MatmulService:
    """Connect to `config.matmul_service` and route the model's Linear layers through it."""
    assert config.matmul_service is not None
    service = MatmulService.connect(
        config.matmul_service,
        config.service_timeout,
        config.service_retries,
        Credentials.from_config(config),
    )
    use_service(model, service)
    return service
