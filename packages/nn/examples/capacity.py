"""Problem 6.2: a linear layer can reduce capacity. A width-1 bottleneck costs rank.

Target: the rank-2 linear map y = A x in 2-D, on the four inputs x = +-e1, +-e2 (centred,
so biases cannot help). Residual of a model f: R(f) = 1/2 sum_x |f(x) - A x|^2.

- The shallow network, one linear layer 2 -> 2, is f(x) = W x + b: W = A, b = 0 fits
  exactly, R = 0.
- Insert a linear layer of width 1: 2 -> 1 -> 2 computes f(x) = B (c x + d) + e
  = M x + b with M = B c, a 2x1 times a 1x2 matrix: rank M <= 1, whatever the weights.
  On these inputs R = ||A - M||_F^2 + 2 |b|^2 (the cross terms cancel between +x and -x),
  so the best it can do is the best rank-1 approximation of A: by Eckart-Young,
  min R = sigma_2(A)^2 > 0, reached at M = sigma_1 u_1 v_1^T, b = 0.

Checked: random bottleneck weights never beat sigma_2^2; the SVD-built weights reach it;
gradient descent from a random start reaches it too (and the shallow network reaches 0).
Writes `capacity.png` (residual against training step) to `runs/capacity/` (or `--out`).

    uv run --package nn --extra plot python packages/nn/examples/capacity.py
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

from _cli import add_out_argument, positive_int
from _matrices import Matrix, collapse_linear, set_weights, weights
from _plotting import pyplot, save

from autograd import Value, vsum
from nn import MLP, SGD

A_DEFAULT: Matrix = [[2.0, 1.0], [-1.0, 1.0]]
INPUTS = [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]


def residual(model: MLP, a: Matrix) -> Value:
    """1/2 sum over the four inputs of |model(x) - A x|^2, as a graph to differentiate."""
    terms = []
    for x in INPUTS:
        target = [sum(aij * xj for aij, xj in zip(row, x, strict=True)) for row in a]
        terms += [(y - t) ** 2 for y, t in zip(model(x), target, strict=True)]
    return vsum(terms) * 0.5


def svd_2x2(a: Matrix) -> tuple[float, float, list[float], list[float]]:
    """sigma_1 >= sigma_2 and the top singular vectors u_1, v_1 of a 2x2 matrix, in closed
    form: sigma^2 are the eigenvalues of A^T A, v_1 its top eigenvector, u_1 = A v_1 / sigma_1."""
    p = a[0][0] ** 2 + a[1][0] ** 2
    r = a[0][1] ** 2 + a[1][1] ** 2
    q = a[0][0] * a[0][1] + a[1][0] * a[1][1]
    mid, half_gap = (p + r) / 2, math.hypot((p - r) / 2, q)
    top, bottom = mid + half_gap, max(mid - half_gap, 0.0)
    v = [q, top - p] if abs(q) > 1e-300 else ([1.0, 0.0] if p >= r else [0.0, 1.0])
    norm = math.hypot(*v)
    v = [v[0] / norm, v[1] / norm]
    s1 = math.sqrt(top)
    u = [(a[i][0] * v[0] + a[i][1] * v[1]) / s1 for i in range(2)]
    return s1, math.sqrt(bottom), u, v


def shallow(seed: int = 0) -> MLP:
    return MLP(2, [2], activation="linear", seed=seed)


def bottleneck(seed: int = 0) -> MLP:
    return MLP(2, [1, 2], activation="linear", seed=seed)


def set_best_rank_one(model: MLP, a: Matrix) -> None:
    """Eckart-Young: c = v_1^T, B = sigma_1 u_1, all biases 0."""
    s1, _, u, v = svd_2x2(a)
    set_weights(model, [([v], [0.0]), ([[s1 * u[0]], [s1 * u[1]]], [0.0, 0.0])])


def train(model: MLP, a: Matrix, steps: int, lr: float = 0.05) -> list[float]:
    """Full-batch gradient descent on the residual; the residual before each step."""
    optimizer = SGD(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        loss = residual(model, a)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.data)
    history.append(residual(model, a).data)
    return history


def random_bottleneck_gap(a: Matrix, trials: int = 1000, seed: int = 0) -> tuple[float, float]:
    """min over random weights of R - sigma_2^2, for weights drawn broadly (uniform in
    [-3, 3]) and near the optimum (SVD weights + gauss(0, 0.01)): never below 0."""
    rng = random.Random(seed)
    model = bottleneck()
    set_best_rank_one(model, a)
    optimum = [p.data for p in model.parameters()]
    bound = svd_2x2(a)[1] ** 2
    broad, near = [], []
    for _ in range(trials):
        for p in model.parameters():
            p.data = rng.uniform(-3, 3)
        broad.append(residual(model, a).data - bound)
        for p, best in zip(model.parameters(), optimum, strict=True):
            p.data = best + rng.gauss(0.0, 0.01)
        near.append(residual(model, a).data - bound)
    return min(broad), min(near)


def plot(histories: dict[str, list[float]], floors: dict[str, float], path: Path) -> Path:
    """Left: the residual per step against the rank-1 bound. Right: the distance to each
    network's own optimum (0 and sigma_2^2), showing that both have converged."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    bound = floors["2 -> 1 -> 2"]
    for (name, history), color in zip(histories.items(), ["#08519c", "#a63603"], strict=True):
        steps = range(1, len(history) + 1)
        left.plot(steps, history, color=color, label=name)
        excess = [max(h - floors[name], 1e-17) for h in history]
        right.plot(steps, excess, color=color, label=f"{name}: residual - {floors[name]:.4f}")
    left.axhline(bound, color="k", ls="--", lw=0.8, label=f"sigma_2(A)^2 = {bound:.4f}")
    left.set(xscale="log", xlabel="gradient-descent step", ylabel="residual 1/2 sum |f(x) - Ax|^2",
             title="a width-1 linear layer stops at the best rank-1 error")
    right.set(xscale="log", yscale="log", xlabel="gradient-descent step",
              ylabel="residual - its optimum (floored at 1e-17)",
              title="both networks converge to their optimum")
    left.legend()
    right.legend()
    return save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=positive_int, default=400, help="gradient-descent steps")
    parser.add_argument("--seed", type=int, default=0)
    add_out_argument(parser, "capacity")
    args = parser.parse_args(argv)
    a = A_DEFAULT
    s1, s2, _, _ = svd_2x2(a)
    print(f"6.2 target A = {a}: singular values {s1:.6f}, {s2:.6f}; rank-1 bound "
          f"sigma_2^2 = {s2 * s2:.9f}")

    exact = shallow()
    set_weights(exact, [(a, [0.0, 0.0])])
    best = bottleneck()
    set_best_rank_one(best, a)
    gap = random_bottleneck_gap(a)
    print(f"    2 -> 2 with W = A:                      residual {residual(exact, a).data:.3e}")
    print(f"    2 -> 1 -> 2 with SVD weights:           residual {residual(best, a).data:.9f}")
    print(f"    2 -> 1 -> 2, 1000 random weights:       smallest residual - bound = {gap[0]:.3f} "
          f"(uniform in [-3, 3]), {gap[1]:.2e} (near the optimum)")

    histories = {}
    floors = {"2 -> 2": 0.0, "2 -> 1 -> 2": s2 * s2}
    for name, model in (("2 -> 2", shallow(args.seed)), ("2 -> 1 -> 2", bottleneck(args.seed))):
        histories[name] = train(model, a, args.steps)
        m, b = collapse_linear(weights(model))  # model(x) = M x + b
        det = m[0][0] * m[1][1] - m[0][1] * m[1][0]
        final = histories[name][-1]
        print(f"    {name:12s} trained {args.steps} steps: residual {final:.9f} (its optimum "
              f"{floors[name]:.9f} {final - floors[name]:+.1e}), det(M) = {det:.2e}, "
              f"|b| = {math.hypot(*b):.1e}")
    ok = (
        residual(exact, a).data < 1e-24
        and abs(residual(best, a).data - s2 * s2) < 1e-12
        and min(gap) >= 0.0
        and histories["2 -> 2"][-1] < 1e-12
        and abs(histories["2 -> 1 -> 2"][-1] - s2 * s2) < 1e-9
    )
    print(f"    the bottleneck stops at sigma_2^2, the shallow network fits: "
          f"{'holds' if ok else 'FAILS'}")
    print(f"wrote {plot(histories, floors, args.out / 'capacity.png')}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
