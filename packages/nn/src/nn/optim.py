"""Optimizers: plain/momentum SGD and Adam, with JSON-safe state for resuming."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from autograd import Value, zero_grad

__all__ = ["SGD", "Adam", "Optimizer"]


class Optimizer:
    """Holds the parameters and the learning rate; `step()` updates `data` from `grad`."""

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimizer got no parameters; pass model.parameters()")
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"parameter {i} is {type(p).__name__}, not a Value")
        self.lr = _positive("lr", lr)

    def zero_grad(self) -> None:
        zero_grad(self.params)

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.lr = _positive("lr", _field(state, "lr"))

    def _check_buffer(
        self, state: Mapping[str, Any], key: str, *, non_negative: bool = False
    ) -> list[float]:
        """`state[key]` as floats, one finite number per parameter (>= 0 if `non_negative`).

        Checked before anything is loaded: a NaN or a string in a buffer would otherwise
        surface steps later as a NaN model or a "math domain error" far from its cause.
        """
        buf = _field(state, key)
        if not isinstance(buf, list) or len(buf) != len(self.params):
            n = len(buf) if isinstance(buf, list) else type(buf).__name__
            raise ValueError(
                f"state[{key!r}] has {n} entries but this optimizer has "
                f"{len(self.params)} parameters; was it saved for the same model?"
            )
        for i, x in enumerate(buf):
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                raise ValueError(
                    f"state[{key!r}][{i}] is {x!r}, not a finite number; the state is damaged: "
                    "load one saved by state_dict()"
                )
            if non_negative and x < 0:
                raise ValueError(
                    f"state[{key!r}][{i}] is {x!r}, but it is a running mean of squared "
                    "gradients and cannot be negative; the state is damaged: load one saved by "
                    "state_dict()"
                )
        return [float(x) for x in buf]


def _field(state: Mapping[str, Any], key: str) -> Any:
    if not isinstance(state, Mapping) or key not in state:
        have = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(f"the optimizer state lacks {key!r} (it has {have}); pass the dict "
                         "that state_dict() returned")
    return state[key]


def _positive(name: str, x: float) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not x > 0 or math.isinf(x):
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    return float(x)


def _fraction(name: str, x: float) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not 0.0 <= x < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {x!r}")
    return float(x)


def _non_negative(name: str, x: float) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not 0.0 <= x < math.inf:
        raise ValueError(f"{name} must be a non-negative number, got {x!r}")
    return float(x)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and L2 weight decay.

    With momentum m, each parameter keeps a velocity v <- m v + g and moves by -lr v.
    """

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _fraction("momentum", momentum)
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        self.velocity = [0.0] * len(self.params)

    def step(self) -> None:
        lr, m, wd, vel = self.lr, self.momentum, self.weight_decay, self.velocity
        for i, p in enumerate(self.params):
            g = p.grad + wd * p.data
            if m:
                g = vel[i] = m * vel[i] + g
            p.data -= lr * g

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "velocity": list(self.velocity)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        velocity = self._check_buffer(state, "velocity")
        super().load_state_dict(state)
        self.velocity = velocity


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction and optional decoupled weight decay.

    Adam keeps running averages of the gradient, m <- b1 m + (1 - b1) g, and of its square,
    v <- b2 v + (1 - b2) g^2, both starting at 0. After t steps, m is a weighted sum of the
    past gradients whose weights (1 - b1) b1^(t-1-k) add up to 1 - b1^t, not to 1: early in
    training the average is pulled toward its zero start. Dividing by 1 - b1^t (and v by
    1 - b2^t) rescales the weights to sum to 1, so m_hat and v_hat are unbiased estimates of
    E[g] and E[g^2] from the very first step, instead of tiny values that would make the
    first updates too small (m) or, through the square root of a too-small v, too large.
    """

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1, self.beta2 = _fraction("beta1", betas[0]), _fraction("beta2", betas[1])
        self.eps = _positive("eps", eps)
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        self.t = 0
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def step(self) -> None:
        self.t += 1
        b1, b2, eps, lr, wd = self.beta1, self.beta2, self.eps, self.lr, self.weight_decay
        correction1 = 1.0 - b1**self.t
        correction2 = 1.0 - b2**self.t
        m, v = self.m, self.v
        for i, p in enumerate(self.params):
            g = p.grad
            m[i] = b1 * m[i] + (1.0 - b1) * g
            v[i] = b2 * v[i] + (1.0 - b2) * g * g
            m_hat = m[i] / correction1
            v_hat = v[i] / correction2
            p.data -= lr * (m_hat / (math.sqrt(v_hat) + eps) + wd * p.data)

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "t": self.t, "m": list(self.m), "v": list(self.v)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        m = self._check_buffer(state, "m")
        v = self._check_buffer(state, "v", non_negative=True)
        t = _field(state, "t")
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise ValueError(f"state['t'] must be a non-negative int, got {t!r}")
        super().load_state_dict(state)
        self.t, self.m, self.v = t, m, v
