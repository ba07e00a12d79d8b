"""AND and OR learnt by one Perceptron; XOR failing with one and solved by an MLP.

A perceptron draws one straight line through the plane. AND and OR are separable by a line;
XOR is not, so one perceptron gets at most 3 of its 4 cases right, while a hidden layer of a
few units solves it (problem 6.3). Writes `logic_gates.png` to `runs/logic_gates/` (or
`--out DIR`).

    uv run --package nn --extra plot python packages/nn/examples/logic_gates.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _cli import add_out_argument
from _plotting import pyplot, save

from nn import MLP, Adam, Module, Perceptron, binary_cross_entropy

INPUTS = [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]
GATES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}


def fit(model: Module, targets: list[int], steps: int = 500, lr: float = 0.1) -> float:
    """Full-batch Adam on binary cross-entropy; returns the final accuracy on the 4 cases."""
    optimizer = Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = binary_cross_entropy([model(x) for x in INPUTS], targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return accuracy(model, targets)


def accuracy(model: Module, targets: list[int]) -> float:
    right = sum((model(x).data > 0) == bool(t) for x, t in zip(INPUTS, targets, strict=True))
    return right / len(targets)


def run(seed: int = 0) -> dict[str, tuple[Module, float]]:
    """Each case: the trained model and its accuracy."""
    import random

    rng = random.Random(seed)
    results = {}
    for gate in ("AND", "OR", "XOR"):
        model = Perceptron(2, activation="linear", rng=rng)  # a logit; sigmoid is in the loss
        results[f"{gate}, one perceptron"] = (model, fit(model, GATES[gate]))
    mlp = MLP(2, [4, 1], activation="tanh", rng=rng)
    results["XOR, MLP(2, [4, 1])"] = (mlp, fit(mlp, GATES["XOR"]))
    return results


def plot(results: dict[str, tuple[Module, float]], path: Path, resolution: int = 60) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4))
    grid = [-0.5 + 2.0 * i / (resolution - 1) for i in range(resolution)]
    for ax, (name, (model, acc)) in zip(axes, results.items(), strict=True):
        z = [[model((x, y)).data for x in grid] for y in grid]
        ax.contourf(grid, grid, z, levels=[-1e9, 0, 1e9], colors=["#9ecae1", "#fdae6b"])
        ax.contour(grid, grid, z, levels=[0], colors="k", linewidths=1)
        targets = GATES[name.split(",")[0]]
        for value, color in ((0, "#08519c"), (1, "#a63603")):
            points = [p for p, t in zip(INPUTS, targets, strict=True) if t == value]
            ax.scatter([p[0] for p in points], [p[1] for p in points], c=color, s=80,
                       edgecolors="k", label=f"target {value}")
        ax.plot([], [], color="k", lw=1, label="decision boundary (logit 0)")
        ax.set(title=f"{name}: {acc:.0%}", xlabel="input x1", ylabel="input x2", aspect="equal")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize=8, ncol=2)
    return save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    add_out_argument(parser, "logic_gates")
    args = parser.parse_args(argv)
    results = run(args.seed)
    for name, (_, acc) in results.items():
        print(f"{name:24s} accuracy {acc:.0%}")
    print(f"wrote {plot(results, args.out / 'logic_gates.png')}")
    ok = (
        results["AND, one perceptron"][1] == 1.0
        and results["OR, one perceptron"][1] == 1.0
        and results["XOR, one perceptron"][1] <= 0.75
        and results["XOR, MLP(2, [4, 1])"][1] == 1.0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
