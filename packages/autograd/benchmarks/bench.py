"""autograd against micrograd 0.1.0, each case in its own process, side by side.

    uv run --package nn python packages/autograd/benchmarks/bench.py
    uv run --package nn python packages/autograd/benchmarks/bench.py --update-committed

micrograd is installed from PyPI into a temporary virtual environment (uv, or venv + pip).
Cases:
  mlp_step      MLP(2, [16, 16, 1]) on 100 fixed 2-D points: forward, mean hinge loss,
                zero_grad, backward (micrograd's demo setting); best of 5 steps.
  mlp_step_unfused  the same with micrograd's own neuron code (sum of w*x) on our Value:
                the engine alone, without nn's fused weighted sums.
  chain         y = y * 1.0001 + 0.0 repeated 1,000,000 times, then backward.
  chain_gc_off  the chain with the garbage collector disabled (ours only): what the GC costs
                when it scans a large live graph that has no cycles to collect.
  sum           the builtin sum() of 200,000 values (a 200,000-deep chain), then backward.
  vsum          the same sum as one node with autograd.vsum (ours only).
Each case reports time, the share of it spent in the garbage collector, and peak memory
(max RSS growth) per graph node. Prints a table and writes JSON: to
runs/autograd-bench/bench.json by default (or --out FILE); --update-committed refreshes the
committed benchmarks/results/bench.json that BENCHMARKS.md quotes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = ["mlp_step", "mlp_step_unfused", "chain", "chain_gc_off", "sum", "vsum"]
OURS_ONLY = {"chain_gc_off", "vsum"}
MICROGRAD = "micrograd==0.1.0"
DEFAULT_OUT = Path("runs") / "autograd-bench" / "bench.json"
COMMITTED = Path(__file__).parent / "results" / "bench.json"


# ---- worker side: runs one case of one engine, prints one JSON line -----------------------


class GcTimer:
    """Time spent inside the garbage collector, from gc.callbacks."""

    def __init__(self) -> None:
        self.total = 0.0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._start


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def count_nodes(root, parents_of) -> int:
    seen = {id(root)}
    stack = [root]
    while stack:
        for p in parents_of(stack.pop()):
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return len(seen)


def engine(name: str):
    """(Value class, parents-of function) of an engine."""
    if name == "micrograd":
        from micrograd.engine import Value

        return Value, lambda v: v._prev
    from autograd import Value

    return Value, lambda v: v._parents


def points_and_labels():
    rng = random.Random(1337)
    points = [(rng.uniform(-1.5, 2.5), rng.uniform(-1.0, 1.5)) for _ in range(100)]
    labels = [1 if y < 0.5 - 0.5 * x * x + 0.3 * x else -1 for x, y in points]
    return points, labels


def micrograd_style_mlp(Value):
    """micrograd's nn.MLP(2, [16, 16, 1]) code, on any engine's Value."""
    rng = random.Random(1337)

    class Neuron:
        def __init__(self, nin, nonlin):
            self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
            self.b = Value(0.0)
            self.nonlin = nonlin

        def __call__(self, x):
            act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
            return act.relu() if self.nonlin else act

    layers = [
        [Neuron(2, True) for _ in range(16)],
        [Neuron(16, True) for _ in range(16)],
        [Neuron(16, False)],
    ]

    def model(x):
        for layer in layers:
            x = [n(x) for n in layer]
        return x[0]

    params = [p for layer in layers for n in layer for p in [*n.w, n.b]]
    return model, params


def micrograd_hinge_loss(scores, labels):
    """The mean hinge loss as micrograd's demo writes it: builtin sum, a chain of nodes."""
    losses = [(1 + -y * s).relu() for y, s in zip(labels, scores, strict=True)]
    return sum(losses) * (1.0 / len(losses))


def mlp_step(engine_name: str, fused: bool) -> dict:
    points, labels = points_and_labels()
    Value, parents_of = engine(engine_name)
    if engine_name == "micrograd":
        from micrograd.nn import MLP

        random.seed(1337)
        net = MLP(2, [16, 16, 1])
        model, params, zero_grad = net, net.parameters(), net.zero_grad

        def loss_of(scores):
            return micrograd_hinge_loss(scores, labels)
    elif fused:
        from nn import MLP, hinge_loss

        net = MLP(2, [16, 16, 1], seed=1337)
        model, params, zero_grad = net, net.parameters(), net.zero_grad

        def loss_of(scores):
            return hinge_loss(scores, labels)
    else:
        model, params = micrograd_style_mlp(Value)

        def zero_grad():
            for p in params:
                p.grad = 0.0

        def loss_of(scores):
            return micrograd_hinge_loss(scores, labels)

    timer = GcTimer()
    best = None
    for _ in range(5):
        gc.collect()
        gc_before = timer.total
        t0 = time.perf_counter()
        loss = loss_of([model(p) for p in points])
        zero_grad()
        loss.backward()
        elapsed = time.perf_counter() - t0
        if best is None or elapsed < best[0]:
            best = (elapsed, timer.total - gc_before)
        nodes = count_nodes(loss, parents_of)
        del loss
    return {"seconds": best[0], "gc_seconds": best[1], "nodes": nodes, "params": len(params)}


def big_graph(engine_name: str, case: str) -> dict:
    Value, parents_of = engine(engine_name)
    timer = GcTimer()
    gc.collect()
    gc_before = timer.total
    rss0 = max_rss_bytes()
    if case == "chain_gc_off":
        gc.disable()
    t0 = time.perf_counter()
    if case.startswith("chain"):
        x = Value(1.0)
        y = x
        for _ in range(1_000_000):
            y = y * 1.0001 + 0.0
        leaves = [x]
    else:
        leaves = [Value(i * 1e-6) for i in range(200_000)]
        if case == "sum":
            y = sum(leaves)
        else:
            from autograd import vsum

            y = vsum(leaves)
    build = time.perf_counter() - t0
    build_gc = timer.total - gc_before
    peak = max_rss_bytes() - rss0
    nodes = count_nodes(y, parents_of)
    result = {"build_seconds": build, "nodes": nodes, "bytes_per_node": peak / nodes}
    gc_before = timer.total
    t1 = time.perf_counter()
    try:
        y.backward()
    except RecursionError as err:
        result["crashed"] = f"RecursionError: {err}"
        return result
    result["backward_seconds"] = time.perf_counter() - t1
    result["seconds"] = build + result["backward_seconds"]
    result["gc_seconds"] = build_gc + timer.total - gc_before
    expected = 1.0001**1_000_000 if case.startswith("chain") else 1.0
    result["gradient_ok"] = abs(leaves[0].grad - expected) <= 1e-6 * expected
    return result


def worker(engine_name: str, case: str) -> None:
    if case in ("mlp_step", "mlp_step_unfused"):
        result = mlp_step(engine_name, fused=case == "mlp_step" and engine_name != "micrograd")
    else:
        result = big_graph(engine_name, case)
    print(json.dumps(result))


# ---- driver side ------------------------------------------------------------------------


def micrograd_python(workdir: Path) -> str:
    """A Python with micrograd 0.1.0 installed, in a fresh virtual environment."""
    venv = workdir / "micrograd-venv"
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        python = venv / "bin" / "python"
        subprocess.run([uv, "pip", "install", "-q", "--python", str(python), MICROGRAD], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        subprocess.run([str(python), "-m", "pip", "install", "-q", MICROGRAD], check=True)
    return str(python)


def run_case(python: str, engine_name: str, case: str) -> dict:
    proc = subprocess.run(
        [python, __file__, "--worker", engine_name, case],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"crashed": f"exit {proc.returncode}: {last[:200]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def describe(result: dict | None) -> str:
    if result is None:
        return "-"
    if "crashed" in result:
        return "crashed (" + result["crashed"].split(":")[0] + ")"
    gc_share = result.get("gc_seconds", 0.0) / result["seconds"] if result["seconds"] else 0.0
    return f"{result['seconds'] * 1e3:9.1f} ms (gc {gc_share:4.0%})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags; `out` is resolved: the committed file only when asked for by name."""
    parser = argparse.ArgumentParser(description="autograd vs micrograd 0.1.0")
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=CASES)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default: {DEFAULT_OUT})"
    )
    where.add_argument(
        "--update-committed",
        action="store_true",
        help="write the committed benchmarks/results/bench.json instead (BENCHMARKS.md quotes it)",
    )
    args = parser.parse_args(argv)
    if args.update_committed:
        args.out = COMMITTED
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        mg_python = micrograd_python(Path(tmp))
        rows = {}
        for case in args.cases:
            ours = run_case(sys.executable, "autograd", case)
            theirs = None if case in OURS_ONLY else run_case(mg_python, "micrograd", case)
            rows[case] = {"autograd": ours, "micrograd": theirs}
            print(f"  {case}: done", file=sys.stderr)

    print(f"\n{'case':18s} {'autograd':>26s} {'micrograd 0.1.0':>26s} {'speed-up':>9s}"
          f" {'B/node ours':>12s} {'B/node theirs':>14s}")
    for case, row in rows.items():
        ours, theirs = row["autograd"], row["micrograd"]
        ratio = "-"
        if theirs and "seconds" in theirs and "seconds" in ours:
            ratio = f"{theirs['seconds'] / ours['seconds']:8.1f}x"
            row["speedup"] = theirs["seconds"] / ours["seconds"]
        mem_ours = f"{ours['bytes_per_node']:.0f}" if "bytes_per_node" in ours else "-"
        mem_theirs = (
            f"{theirs['bytes_per_node']:.0f}" if theirs and "bytes_per_node" in theirs else "-"
        )
        print(f"{case:18s} {describe(ours):>26s} {describe(theirs):>26s} {ratio:>9s}"
              f" {mem_ours:>12s} {mem_theirs:>14s}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cases": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
