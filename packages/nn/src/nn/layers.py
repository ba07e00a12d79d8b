"""Perceptron, Layer and MLP: the building blocks of the problem set, on `autograd`."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from typing import Literal

from autograd import Value, dot
from nn.module import Module

__all__ = ["ACTIVATIONS", "MLP", "Activation", "Layer", "Perceptron"]

Activation = Literal["relu", "tanh", "sigmoid", "linear"]
ACTIVATIONS: dict[str, object] = {
    "relu": Value.relu,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "linear": None,
}


def _check_count(name: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a positive int, got {n!r}")
    return n


def _check_activation(activation: str | None) -> str:
    activation = "linear" if activation is None else activation
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )
    return activation


class Perceptron(Module):
    """One unit: activation(w · x + b).

    Weights start uniform in [-1/sqrt(nin), 1/sqrt(nin)] (PyTorch's default for Linear) and
    the bias at 0. The weighted sum is one graph node (`autograd.dot`), not 2 * nin of them.
    """

    def __init__(
        self, nin: int, activation: Activation | None = "relu", *, rng: random.Random | None = None
    ) -> None:
        self.nin = _check_count("nin", nin)
        self.activation = _check_activation(activation)
        self._act = ACTIVATIONS[self.activation]
        bound = 1.0 / math.sqrt(nin)
        uniform = (rng or random).uniform
        self.w = [Value(uniform(-bound, bound)) for _ in range(nin)]
        self.b = Value(0.0)

    def __call__(self, x: Sequence[Value | float]) -> Value:
        if len(x) != self.nin:
            raise ValueError(f"this Perceptron takes {self.nin} inputs, got {len(x)}")
        z = dot(self.w, x, self.b)
        return self._act(z) if self._act is not None else z

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for i, w in enumerate(self.w):
            yield f"w.{i}", w
        yield "b", self.b

    def __repr__(self) -> str:
        return f"Perceptron(nin={self.nin}, activation={self.activation!r})"


class Layer(Module):
    """`nout` perceptrons reading the same inputs. Always returns a list, even of one."""

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: Activation | None = "relu",
        *,
        rng: random.Random | None = None,
    ) -> None:
        _check_count("nout", nout)
        self.neurons = [Perceptron(nin, activation, rng=rng) for _ in range(nout)]

    @property
    def activation(self) -> str:
        """The name of this layer's activation ("relu", "tanh", "sigmoid" or "linear")."""
        return self.neurons[0].activation

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for i, neuron in enumerate(self.neurons):
            for name, p in neuron.named_parameters():
                yield f"neurons.{i}.{name}", p

    def __repr__(self) -> str:
        nin = self.neurons[0].nin
        return f"Layer(nin={nin}, nout={len(self.neurons)}, activation={self.activation!r})"


class MLP(Module):
    """A multi-layer perceptron: `MLP(2, [16, 16, 1])` has two hidden layers of 16 and one output.

    Hidden layers use `activation`; the last layer uses `output_activation` (linear by
    default, as in micrograd). The result is a single `Value` when the last layer has one
    unit, else a list. Pass `seed` (or `rng`) for reproducible initial weights.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: Activation = "relu",
        output_activation: Activation | None = None,
        *,
        seed: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if isinstance(nouts, int | str) or not isinstance(nouts, Sequence) or not nouts:
            raise ValueError(f"nouts must be a non-empty list of layer widths, got {nouts!r}")
        if seed is not None and rng is not None:
            raise ValueError("give seed or rng, not both")
        rng = random.Random(seed) if seed is not None else rng
        sizes = [_check_count("nin", nin), *(_check_count("layer width", n) for n in nouts)]
        last = len(nouts) - 1
        self.layers = [
            Layer(sizes[i], sizes[i + 1], output_activation if i == last else activation, rng=rng)
            for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for i, layer in enumerate(self.layers):
            for name, p in layer.named_parameters():
                yield f"layers.{i}.{name}", p

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(map(repr, self.layers))}]"
