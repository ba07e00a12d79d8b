"""Problems 6.1 and 6.4: what linear layers and ReLUs can compute, checked numerically.

6.1  Adding layers without a nonlinearity adds no functions: adjacent affine maps compose
     into one. A stack of linear layers is one linear layer (the product of the weight
     matrices, with the matching bias), and a linear layer inserted between two layers of a
     ReLU network folds into the layer after it, giving a network of the original shape.
6.4  A 1-D ReLU MLP with D hidden layers of widths W_1..W_D is piecewise linear with at most
     2^D * prod(W_d) pieces. The pieces are counted exactly: layer by layer, each unit's
     input is affine on every interval between the breakpoints found so far, so its own
     breakpoint (where that input crosses 0) is found in closed form.

Writes `claims_pieces.png` to `runs/claims/` (or `--out DIR`). Problem 4.1 (the tanh and
sigmoid identity) is in `tanh_sigmoid.py`.

    uv run --package nn --extra plot python packages/nn/examples/claims.py
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
from pathlib import Path

from _cli import add_out_argument, positive_int
from _matrices import LayerWeights, collapse_linear, matvec, set_weights, weights
from _plotting import pyplot, save

from nn import MLP, Layer


def collapse_linear_stack(model: MLP) -> LayerWeights:
    """The single layer (W, b) equal to a stack of linear layers (see `collapse_linear`)."""
    return collapse_linear(weights(model))


def linear_stack_error(seed: int = 0, trials: int = 200) -> float:
    """Largest |difference| between a stack of linear layers and its collapsed single layer."""
    rng = random.Random(seed)
    model = MLP(3, [4, 5, 2], activation="linear", seed=seed)
    w, b = collapse_linear_stack(model)
    worst = 0.0
    for _ in range(trials):
        x = [rng.uniform(-3, 3) for _ in range(3)]
        single = [s + c for s, c in zip(matvec(w, x), b, strict=True)]
        stacked = model(x)
        worst = max(worst, *(abs(s.data - t) for s, t in zip(stacked, single, strict=True)))
    return worst


def inserted_linear_error(seed: int = 0, trials: int = 200) -> float:
    """Largest |difference| between a ReLU MLP with a linear layer inserted and the same
    MLP without it, the inserted layer folded into the layer after it.

    2 -> 4 (relu) -> 3 (linear, inserted) -> 5 (relu) -> 1 against 2 -> 4 -> 5 -> 1: the
    affine maps of the inserted layer and of the one after it compose into one affine map.
    """
    rng = random.Random(seed)
    deep = MLP(2, [4, 3, 5, 1], seed=seed)
    deep.layers[1] = Layer(4, 3, activation="linear", rng=rng)
    first, inserted, after, out = weights(deep)
    shallow = MLP(2, [4, 5, 1], seed=seed + 1)
    set_weights(shallow, [first, collapse_linear([inserted, after]), out])
    worst = 0.0
    for _ in range(trials):
        x = [rng.uniform(-3, 3) for _ in range(2)]
        worst = max(worst, abs(deep(x).data - shallow(x).data))
    return worst


Affine = tuple[float, float]  # (slope, intercept): the function a * x + c


def _combine(row: list[float], bias: float, forms: list[Affine]) -> Affine:
    """sum_i row[i] * forms[i] + bias, itself an affine function of x."""
    a = sum(wi * f[0] for wi, f in zip(row, forms, strict=True))
    c = sum(wi * f[1] for wi, f in zip(row, forms, strict=True)) + bias
    return a, c


def _affine_forms(layers, depth: int, x: float) -> list[Affine]:
    """The units of hidden layer `depth` (0 = the input) as affine functions of x, valid on
    the interval around x where no unit of layers 1..depth changes sign."""
    forms: list[Affine] = [(1.0, 0.0)]
    for w, b in layers[:depth]:
        nxt = []
        for row, bias in zip(w, b, strict=True):
            a, c = _combine(row, bias, forms)
            nxt.append((a, c) if a * x + c > 0 else (0.0, 0.0))
        forms = nxt
    return forms


def _sample_point(lo: float, hi: float) -> float:
    if math.isinf(lo) and math.isinf(hi):
        return 0.0
    if math.isinf(lo):
        return hi - 1.0
    if math.isinf(hi):
        return lo + 1.0
    return (lo + hi) / 2


def _intervals(breakpoints: list[float]) -> list[tuple[float, float]]:
    edges = [-math.inf, *breakpoints, math.inf]
    return list(itertools.pairwise(edges))


def linear_pieces(model: MLP) -> list[tuple[float, float, Affine]]:
    """The exact pieces of a 1-input, 1-output ReLU MLP: (start, end, (slope, intercept)).

    Adjacent intervals on which the output is the same affine function are merged.
    """
    layers = weights(model)
    if len(layers[0][0][0]) != 1 or len(layers[-1][0]) != 1:
        raise ValueError("linear_pieces() needs an MLP with one input and one output")
    hidden = layers[:-1]
    breakpoints: list[float] = []
    for depth, (w, b) in enumerate(hidden):
        found = set(breakpoints)
        for lo, hi in _intervals(breakpoints):
            forms = _affine_forms(layers, depth, _sample_point(lo, hi))
            for row, bias in zip(w, b, strict=True):
                a, c = _combine(row, bias, forms)
                if a != 0.0 and lo < -c / a < hi:
                    found.add(-c / a)
        breakpoints = sorted(found)
    (w_out,), (b_out,) = layers[-1]
    pieces: list[tuple[float, float, Affine]] = []
    for lo, hi in _intervals(breakpoints):
        forms = _affine_forms(layers, len(hidden), _sample_point(lo, hi))
        a, c = _combine(w_out, b_out, forms)
        if pieces and math.isclose(pieces[-1][2][0], a, rel_tol=1e-9, abs_tol=1e-12):
            pieces[-1] = (pieces[-1][0], hi, pieces[-1][2])  # same line continues
        else:
            pieces.append((lo, hi, (a, c)))
    return pieces


def piece_bound(widths: list[int]) -> int:
    """The problem set's bound 2^D * prod(W_d) for D hidden layers of widths W_d."""
    return 2 ** len(widths) * math.prod(widths)


def random_relu_mlp(widths: list[int], seed: int) -> MLP:
    """A 1-D ReLU MLP with random weights and biases (biases spread the breakpoints)."""
    model = MLP(1, [*widths, 1], activation="relu", seed=seed)
    rng = random.Random(seed)
    for p in model.parameters():
        p.data = rng.uniform(-1.0, 1.0)
    return model


def _inside(lo: float, hi: float, rng: random.Random) -> float:
    lo = hi - 5.0 if math.isinf(lo) and not math.isinf(hi) else lo
    hi = lo + 5.0 if math.isinf(hi) and not math.isinf(lo) else hi
    if math.isinf(lo):
        lo, hi = -5.0, 5.0
    return rng.uniform(lo, hi)


def check_pieces(widths: list[int], seed: int) -> tuple[int, int, float]:
    """(pieces counted, the bound, largest gap between the pieces and the model itself)."""
    model = random_relu_mlp(widths, seed)
    pieces = linear_pieces(model)
    rng = random.Random(seed)
    worst = 0.0
    for lo, hi, (a, c) in pieces:
        for _ in range(5):
            x = _inside(lo, hi, rng)
            worst = max(worst, abs(model([x]).data - (a * x + c)))
    return len(pieces), piece_bound(widths), worst


ARCHITECTURES = [[2], [4], [8], [2, 2], [3, 3], [4, 4], [2, 2, 2], [3, 3, 3], [4, 4, 4]]


def plot_pieces(widths: list[int], seed: int, path: Path) -> Path:
    plt = pyplot()
    model = random_relu_mlp(widths, seed)
    pieces = linear_pieces(model)
    inner = [lo for lo, _, _ in pieces[1:]]
    lo = min(inner, default=-1.0) - 1.0
    hi = max(inner, default=1.0) + 1.0
    xs = [lo + (hi - lo) * i / 999 for i in range(1000)]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(xs, [model([x]).data for x in xs], color="#08519c", label="network output f(x)")
    for i, x in enumerate(inner):
        label = "breakpoint (a new linear piece starts)" if i == 0 else None
        ax.axvline(x, color="#a63603", lw=0.6, ls="--", label=label)
    ax.set_xlabel("input x")
    ax.set_ylabel("output f(x)")
    ax.legend()
    ax.set_title(
        f"ReLU MLP widths {widths}: {len(pieces)} linear pieces "
        f"(bound 2^D * prod W_d = {piece_bound(widths)})"
    )
    return save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=positive_int, default=20, help="random networks per shape")
    add_out_argument(parser, "claims")
    args = parser.parse_args(argv)
    ok = True

    stack_err = linear_stack_error()
    holds = stack_err < 1e-12
    ok &= holds
    print(f"6.1 linear layers 3->4->5->2 vs their product: largest |diff| {stack_err:.1e}: "
          f"{'holds' if holds else 'FAILS'}")
    inserted_err = inserted_linear_error()
    holds = inserted_err < 1e-12
    ok &= holds
    print(f"6.1 ReLU MLP 2->4->[3 linear]->5->1 vs 2->4->5->1, inserted layer folded: "
          f"largest |diff| {inserted_err:.1e}: {'holds' if holds else 'FAILS'}")

    print("6.4 linear pieces of 1-D ReLU MLPs (most over the seeds, bound 2^D * prod W_d):")
    for widths in ARCHITECTURES:
        results = [check_pieces(widths, seed) for seed in range(args.seeds)]
        most = max(r[0] for r in results)
        gap = max(r[2] for r in results)
        holds = most <= piece_bound(widths) and gap < 1e-9
        ok &= holds
        print(f"   widths {widths!s:10s} pieces <= {most:3d}   bound {piece_bound(widths):4d}"
              f"   pieces match the model to {gap:.0e}: {'holds' if holds else 'FAILS'}")
    print(f"wrote {plot_pieces([4, 4, 4], 3, args.out / 'claims_pieces.png')}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
