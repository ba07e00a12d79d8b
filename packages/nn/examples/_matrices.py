"""An MLP's weights as plain lists of floats: read them out, write them back.

The problem set's claims are statements about weight matrices (products, ranks, rescaled
rows); these two functions let the examples do that arithmetic on plain numbers.
"""

from __future__ import annotations

from nn import MLP

Matrix = list[list[float]]
LayerWeights = tuple[Matrix, list[float]]  # (W with one row per unit, b)


def weights(model: MLP) -> list[LayerWeights]:
    """Each layer's weight matrix (rows = units) and bias vector, as plain floats."""
    return [
        ([[w.data for w in unit.w] for unit in layer.neurons], [u.b.data for u in layer.neurons])
        for layer in model.layers
    ]


def set_weights(model: MLP, layers: list[LayerWeights]) -> None:
    """Write `layers` (as `weights()` returns them) into `model`, whose shapes must match."""
    if len(layers) != len(model.layers):
        raise ValueError(f"{len(layers)} layers of weights for a model of {len(model.layers)}")
    for layer, (w, b) in zip(model.layers, layers, strict=True):
        for unit, row, bias in zip(layer.neurons, w, b, strict=True):
            for param, value in zip(unit.w, row, strict=True):
                param.data = value
            unit.b.data = bias


def matmul(a: Matrix, b: Matrix) -> Matrix:
    return [[sum(r[k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))] for r in a]


def matvec(a: Matrix, v: list[float]) -> list[float]:
    return [sum(r[k] * v[k] for k in range(len(v))) for r in a]


def collapse_linear(layers: list[LayerWeights]) -> LayerWeights:
    """The single layer (W, b) equal to a stack of linear layers.

    W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2), applied layer after layer.
    """
    w, b = layers[0]
    for w_next, b_next in layers[1:]:
        w, b = matmul(w_next, w), [s + c for s, c in zip(matvec(w_next, b), b_next, strict=True)]
    return w, b
