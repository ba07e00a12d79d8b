"""Remote matmul mode: every Linear layer's products go to the cuda-kernels gRPC service.

`RemoteMatmul` is a `torch.autograd.Function` whose forward is y = x·Wᵀ and whose backward
is dL/dx = g·W and dL/dW = gᵀ·x, each one `KernelClient.matmul` call. Bias, normalisation
and activations stay local. `attach_service` swaps each `nn.Linear` of a model for a
`RemoteLinear` that shares its parameters, so optimizer, state dict and saved model are
unchanged (a saved model loads as plain Linear layers).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import TrainConfig
from .errors import ConfigError, ServiceUnavailableError, TrainerError

EMBEDDED = "embedded"
# Status codes that mean "the service is not there (now)": worth a clear retry-later error.
_UNREACHABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"}


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
    ) -> None:
        from cuda_kernels.client import KernelClient

        self.target, self.server = target, server
        # The client retries UNAVAILABLE with exponential backoff within `timeout`.
        self.client = KernelClient(
            target, timeout=timeout, retries=retries, initial_backoff=0.25, max_backoff=4.0
        )
        self.calls = 0
        self.seconds = 0.0
        self.backend = "?"

    @classmethod
    def connect(cls, target: str, timeout: float = 30.0, retries: int = 4) -> MatmulService:
        """Dial `target` ("HOST:PORT[,HOST:PORT...]" or "embedded") and check it answers."""
        server = None
        if target == EMBEDDED:
            from cuda_kernels.service import KernelServer, ServerConfig

            server = KernelServer(ServerConfig(host="127.0.0.1", port=0, backend="auto")).start()
            target = server.address
        elif "," in target and not target.startswith(("ipv4:", "ipv6:", "dns:")):
            target = "ipv4:" + target  # several servers: gRPC's address-list syntax
        try:
            service = cls(target, timeout, retries, server)
        except ValueError as exc:  # the client refuses the address or a setting
            if server is not None:
                server.stop()
            raise ConfigError(f"--matmul-service {target!r}: {exc}") from None
        try:
            info = service._call(service.client.info)
        except BaseException:
            service.close()
            raise
        service.backend = f"{info.backend} on {info.device}"
        return service

    def describe(self) -> str:
        where = "embedded, " if self.server is not None else ""
        return f"{self.target} ({where}{self.backend})"

    def _call(self, function: Any, *args: Any) -> Any:
        from cuda_kernels.client import KernelServiceError

        started = time.perf_counter()
        try:
            return function(*args)
        except KernelServiceError as exc:
            if exc.code.name in _UNREACHABLE:
                raise ServiceUnavailableError(
                    f"matmul service {self.target} unreachable ({exc.code.name}: {exc.details}) "
                    "after retries with backoff; check that it runs and the address is right"
                ) from None
            raise TrainerError(f"matmul service {self.target} refused a call: {exc}") from None
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started

    def matmul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a·b on the service (float32 CPU tensors in and out)."""
        a_np = np.ascontiguousarray(a.detach().to(torch.float32).cpu().numpy())
        b_np = np.ascontiguousarray(b.detach().to(torch.float32).cpu().numpy())
        return torch.from_numpy(self._call(self.client.matmul, a_np, b_np))

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
        config.matmul_service, config.service_timeout, config.service_retries
    )
    use_service(model, service)
    return service
