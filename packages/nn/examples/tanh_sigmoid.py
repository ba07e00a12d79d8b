"""Problems 4.1 and 4.2: tanh and sigmoid are one nonlinearity, up to affine maps.

4.1  tanh(z) = 2 sigmoid(2z) - 1, checked in value and in derivative on a grid.
4.2  So a tanh MLP and a sigmoid MLP compute the same functions: every tanh network is a
     sigmoid network with rescaled weights and shifted biases, and back. Write a layer's
     input as h = a g + c in terms of the other network's activations g (a = 1, c = 0 for
     the network's input x). Then its pre-activation is
         z = W h + b = (a W) g + (b + c W 1),
     and a hidden unit turns z into tanh(z) = 2 sigmoid(2z) - 1, i.e. the sigmoid network's
     unit must compute sigmoid(2z):
         hidden layer:  W' = 2 a W,   b' = 2 (b + c W 1)       (the next layer sees a = 2, c = -1)
         output layer:  W' = a W,     b' = b + c W 1           (linear: no factor 2)
     Going back uses sigmoid(z) = (1 + tanh(z / 2)) / 2: the factor 1/2 instead of 2, and
     a = 1/2, c = 1/2. Both directions are checked on random networks and inputs.

    uv run --package nn python packages/nn/examples/tanh_sigmoid.py
"""

from __future__ import annotations

import argparse
import random

from _cli import positive_int
from _matrices import LayerWeights, set_weights, weights

from autograd import Value
from nn import MLP

# For each conversion: the factor of the pre-activation (tanh(z) = 2 sigmoid(2z) - 1, or
# sigmoid(z) = (1 + tanh(z/2)) / 2), and the hidden activations of the source network as
# an affine function a g + c of the target's.
CONVERSIONS = {
    ("tanh", "sigmoid"): (2.0, 2.0, -1.0),  # h = 2 g - 1
    ("sigmoid", "tanh"): (0.5, 0.5, 0.5),  # g = h / 2 + 1/2
}


def tanh_identity_error(lo: float = -20.0, hi: float = 20.0, n: int = 4001) -> tuple[float, float]:
    """Largest |difference| in value and in derivative of tanh(x) and 2 sigmoid(2x) - 1."""
    worst_value = worst_grad = 0.0
    for i in range(n):
        x = lo + (hi - lo) * i / (n - 1)
        x1, x2 = Value(x), Value(x)
        left, right = x1.tanh(), 2 * (2 * x2).sigmoid() - 1
        left.backward()
        right.backward()
        worst_value = max(worst_value, abs(left.data - right.data))
        worst_grad = max(worst_grad, abs(x1.grad - x2.grad))
    return worst_value, worst_grad


def hidden_activation(model: MLP) -> str:
    """The activation of every hidden layer; the output layer must be linear."""
    hidden = {layer.activation for layer in model.layers[:-1]}
    if len(hidden) != 1 or model.layers[-1].activation != "linear":
        raise ValueError(
            "convert() needs one hidden activation and a linear output layer, got "
            f"{[layer.activation for layer in model.layers]}"
        )
    return hidden.pop()


def convert(model: MLP, to: str) -> MLP:
    """A new MLP with `to` ("tanh" or "sigmoid") in its hidden layers, computing the same
    function as `model` (which has the other one)."""
    source = hidden_activation(model)
    if (source, to) not in CONVERSIONS:
        raise ValueError(f"convert() turns tanh into sigmoid or back, not {source} into {to}")
    k, a_hidden, c_hidden = CONVERSIONS[source, to]
    layers = weights(model)
    converted: list[LayerWeights] = []
    a, c = 1.0, 0.0  # the first layer reads x itself
    for depth, (w, b) in enumerate(layers):
        scale = 1.0 if depth == len(layers) - 1 else k  # the output layer is linear
        new_w = [[scale * a * wij for wij in row] for row in w]
        new_b = [scale * (bi + c * sum(row)) for row, bi in zip(w, b, strict=True)]
        converted.append((new_w, new_b))
        a, c = a_hidden, c_hidden
    nin = len(layers[0][0][0])
    target = MLP(nin, [len(b) for _, b in layers], activation=to)
    set_weights(target, converted)
    return target


def random_mlp(nin: int, widths: list[int], activation: str, seed: int) -> MLP:
    """An MLP whose every weight and bias is uniform in [-1, 1] (biases not left at 0)."""
    model = MLP(nin, widths, activation=activation, seed=seed)
    rng = random.Random(seed)
    for p in model.parameters():
        p.data = rng.uniform(-1.0, 1.0)
    return model


def outputs(model: MLP, x: list[float]) -> list[float]:
    out = model(x)
    return [v.data for v in out] if isinstance(out, list) else [out.data]


def largest_gap(first: MLP, second: MLP, inputs: list[list[float]]) -> float:
    return max(
        abs(p - q)
        for x in inputs
        for p, q in zip(outputs(first, x), outputs(second, x), strict=True)
    )


SHAPES = [(1, [4, 1]), (2, [8, 8, 1]), (3, [5, 5, 5, 2])]


def conversion_errors(seeds: int = 10, points: int = 50) -> dict[str, float]:
    """Largest output gap over random networks and inputs, for each direction and the round
    trip, and the largest weight change of the round trip."""
    worst = {"tanh -> sigmoid": 0.0, "sigmoid -> tanh": 0.0, "round trip": 0.0, "weights": 0.0}
    for seed in range(seeds):
        rng = random.Random(1000 + seed)
        for nin, widths in SHAPES:
            inputs = [[rng.uniform(-3, 3) for _ in range(nin)] for _ in range(points)]
            tanh_net = random_mlp(nin, widths, "tanh", seed)
            sigmoid_net = convert(tanh_net, "sigmoid")
            back = convert(sigmoid_net, "tanh")
            other = random_mlp(nin, widths, "sigmoid", seed)
            gaps = {
                "tanh -> sigmoid": largest_gap(tanh_net, sigmoid_net, inputs),
                "sigmoid -> tanh": largest_gap(other, convert(other, "tanh"), inputs),
                "round trip": largest_gap(tanh_net, back, inputs),
                "weights": max(
                    abs(p - q)
                    for p, q in zip(
                        tanh_net.state_dict().values(), back.state_dict().values(), strict=True
                    )
                ),
            }
            worst = {key: max(worst[key], gaps[key]) for key in worst}
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=positive_int, default=10, help="random networks per shape")
    args = parser.parse_args(argv)

    value_err, grad_err = tanh_identity_error()
    ok = value_err < 1e-12 and grad_err < 1e-12
    print(f"4.1 tanh(x) = 2 sigmoid(2x) - 1 on [-20, 20]: largest |diff| {value_err:.1e} "
          f"(value), {grad_err:.1e} (derivative): {'holds' if ok else 'FAILS'}")

    print(f"4.2 tanh MLP <-> sigmoid MLP, shapes {SHAPES}, {args.seeds} random networks each:")
    for name, err in conversion_errors(args.seeds).items():
        holds = err < 1e-12
        ok &= holds
        what = "largest weight change" if name == "weights" else "largest output gap"
        print(f"    {name:16s} {what} {err:.1e}: {'holds' if holds else 'FAILS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
