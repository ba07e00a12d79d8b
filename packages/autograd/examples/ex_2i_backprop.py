"""Problem 2(i): backpropagation by hand and by `autograd` on L = (w1 + w2) * w3.

With the intermediate node s = w1 + w2, the chain rule gives
    dL/dw3 = s,   dL/ds = w3,   dL/dw1 = dL/ds * ds/dw1 = w3 * 1,   dL/dw2 = w3 * 1.
The script prints each gradient beside that expression, takes one gradient-descent step,
prints the new L beside the old one and draws the graph before and after the step, into
`runs/ex_2i_backprop/` (or `--out DIR`). The handout's Figure 1 values are not in its text:
give yours with `--w1 --w2 --w3` (defaults 2, -1, 3; the worked answer uses 1, 2, -4).

    uv run --package autograd python packages/autograd/examples/ex_2i_backprop.py \
        --w1 1 --w2 2 --w3 -4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograd import RendererNotFoundError, Value, draw

OUT = Path("runs") / "ex_2i_backprop"


def build(w1: float, w2: float, w3: float) -> tuple[Value, Value, Value, Value, Value]:
    v1, v2, v3 = Value(w1, label="w1"), Value(w2, label="w2"), Value(w3, label="w3")
    s = v1 + v2
    s.label = "s"
    loss = s * v3
    loss.label = "L"
    return v1, v2, v3, s, loss


def number(x: float) -> str:
    """A number as it reads inside a formula: negatives in parentheses, "2 + (-1)"."""
    return f"({x:g})" if x < 0 else f"{x:g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--w1", type=float, default=2.0)
    parser.add_argument("--w2", type=float, default=-1.0)
    parser.add_argument("--w3", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)

    w1, w2, w3, s, loss = build(args.w1, args.w2, args.w3)
    loss.backward()
    a, b, c = number(w1.data), number(w2.data), number(w3.data)
    print(f"L = (w1 + w2) * w3 = ({a} + {b}) * {c} = {loss.data:g}")
    print(f"dL/dw1 = dL/ds * ds/dw1 = w3 * 1 = {c} * 1 = {w1.grad:g}")
    print(f"dL/dw2 = dL/ds * ds/dw2 = w3 * 1 = {c} * 1 = {w2.grad:g}")
    print(f"dL/dw3 = s = w1 + w2 = {a} + {b} = {w3.grad:g}")
    print(f"dL/ds  = w3 = {s.grad:g}")

    old = loss.data
    stepped = [w.data - args.lr * w.grad for w in (w1, w2, w3)]
    *_, new_loss = build(*stepped)
    new_loss.backward()
    print(f"one step with learning rate {args.lr:g}: w <- w - lr * dL/dw")
    for name, w, new in zip(("w1", "w2", "w3"), (w1, w2, w3), stepped, strict=True):
        print(f"  {name}: {w.data:g} - {args.lr:g} * {number(w.grad)} = {new:g}")
    print(f"L before = {old:g}   L after = {new_loss.data:g}   change = {new_loss.data - old:+g}")

    try:
        before = draw(
            loss,
            args.out / "ex_backprop_before.png",
            title=f"before the step: L = {old:g}, gradients from L.backward()",
        )
        after = draw(
            new_loss,
            args.out / "ex_backprop_after.png",
            title=f"after one step w <- w - {args.lr:g} dL/dw: L = {new_loss.data:g}, "
            "gradients at the new point",
        )
    except RendererNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {before} and {after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
