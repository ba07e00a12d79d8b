"""A two-moons classifier: MLP(2, [16, 16, 1]) trained with hinge loss to 100% train accuracy.

Writes the decision boundary to `runs/two_moons/moons_decision_boundary.png` (or `--out DIR`).

    uv run --package nn --extra plot python packages/nn/examples/two_moons.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _cli import add_out_argument, non_negative_float, positive_int
from _plotting import pyplot, save

from nn import MLP, Adam, hinge_loss, make_moons


def accuracy(scores, labels) -> float:
    return sum((s.data > 0) == (y > 0) for s, y in zip(scores, labels, strict=True)) / len(labels)


def train(
    n: int = 100, noise: float = 0.1, steps: int = 300, lr: float = 0.05, seed: int = 0
) -> tuple[MLP, list, list, list[tuple[int, float, float]]]:
    """Full-batch Adam on the mean hinge loss; stops early once every point is right."""
    points, labels = make_moons(n, noise, seed=seed)
    model = MLP(2, [16, 16, 1], seed=seed)
    optimizer = Adam(model.parameters(), lr=lr)
    history = []
    for step in range(1, steps + 1):
        scores = [model(p) for p in points]
        loss = hinge_loss(scores, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append((step, loss.data, accuracy(scores, labels)))
        if history[-1][2] == 1.0:
            break
    return model, points, labels, history


def plot_decision_boundary(model: MLP, points, labels, path: Path, resolution: int = 80) -> Path:
    plt = pyplot()
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs) - 0.5, max(xs) + 0.5
    y0, y1 = min(ys) - 0.5, max(ys) + 0.5
    gx = [x0 + (x1 - x0) * i / (resolution - 1) for i in range(resolution)]
    gy = [y0 + (y1 - y0) * j / (resolution - 1) for j in range(resolution)]
    grid = [[model((x, y)).data for x in gx] for y in gy]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(gx, gy, grid, levels=[-1e9, 0, 1e9], colors=["#9ecae1", "#fdae6b"], alpha=0.6)
    ax.contour(gx, gy, grid, levels=[0], colors="k", linewidths=1)
    for label, color in ((-1, "#08519c"), (1, "#a63603")):
        ax.scatter([x for x, y in zip(xs, labels, strict=True) if y == label],
                   [p for p, y in zip(ys, labels, strict=True) if y == label],
                   c=color, s=18, label=f"class {label:+d}")
    ax.plot([], [], color="k", lw=1, label="decision boundary (score 0)")
    ax.set(title="MLP(2, [16, 16, 1]) on two moons: decision boundary",
           xlabel="x1", ylabel="x2")
    ax.legend(loc="lower left", fontsize=8)
    return save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=positive_int, default=100, help="number of points")
    parser.add_argument("--noise", type=non_negative_float, default=0.1)
    parser.add_argument("--steps", type=positive_int, default=300, help="most training steps")
    parser.add_argument("--seed", type=int, default=0)
    add_out_argument(parser, "two_moons")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error(f"argument --n: two moons need at least 2 points, got {args.n}")
    model, points, labels, history = train(args.n, args.noise, args.steps, seed=args.seed)
    for step, loss, acc in history[:: max(1, len(history) // 10)] + history[-1:]:
        print(f"step {step:4d}  loss {loss:.4f}  train accuracy {acc:.0%}")
    path = plot_decision_boundary(model, points, labels, args.out / "moons_decision_boundary.png")
    print(f"wrote {path}")
    return 0 if history[-1][2] == 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
