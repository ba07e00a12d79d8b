"""Problem 4.4: why Adam divides its moments by 1 - beta^t.

Adam's moments start at 0 and average with weights (1 - b) b^(t-1-k):
    m_t = b1 m_{t-1} + (1 - b1) g_t = (1 - b1) sum_{k=1..t} b1^(t-k) g_k.
The weights sum to 1 - b1^t, not 1, so for gradients with a constant mean,
E[m_t] = (1 - b1^t) E[g]: the average starts near 0. Dividing by 1 - b1^t (and v_t by
1 - b2^t) gives unbiased estimates from step 1 on. Without it, m is too small early, but v
is much smaller still (b2 = 0.999 forgets 100 times slower than b1 = 0.9), so the update
m / sqrt(v) is too LARGE: by (1 - b1^t) / sqrt(1 - b2^t), 3.2x at step 1 and 6.6x at
step 12 with the default betas.

This runs `nn.Adam` itself under a constant gradient and under noisy stationary gradients,
reads its moment buffers, and compares corrected with uncorrected moments and updates.
Writes `adam_bias_correction.png` to `runs/adam_bias/` (or `--out DIR`).

    uv run --package nn --extra plot python packages/nn/examples/adam_bias.py
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from _cli import add_out_argument, positive_int
from _plotting import pyplot, save

from autograd import Value
from nn import Adam

BETAS = (0.9, 0.999)
LR = 1e-3


@dataclass
class AdamTrace:
    """Per step t = 1..T and per parameter: Adam's raw moments and the update it took."""

    betas: tuple[float, float]
    m: list[list[float]] = field(default_factory=list)
    v: list[list[float]] = field(default_factory=list)
    update: list[list[float]] = field(default_factory=list)  # (p_before - p_after) / lr

    def m_hat(self, t: int) -> list[float]:
        return [m / (1.0 - self.betas[0] ** t) for m in self.m[t - 1]]

    def v_hat(self, t: int) -> list[float]:
        return [v / (1.0 - self.betas[1] ** t) for v in self.v[t - 1]]

    def uncorrected_update(self, t: int, eps: float = 1e-8) -> list[float]:
        """What Adam would do without bias correction: m / (sqrt(v) + eps)."""
        return [m / (math.sqrt(v) + eps) for m, v in zip(self.m[t - 1], self.v[t - 1], strict=True)]


def run_adam(gradients: list[list[float]], betas: tuple[float, float] = BETAS) -> AdamTrace:
    """Feed `gradients[t][i]` to parameter i at step t of one `nn.Adam`; record its state."""
    params = [Value(0.0) for _ in gradients[0]]
    optimizer = Adam(params, lr=LR, betas=betas)
    trace = AdamTrace(betas)
    for row in gradients:
        before = [p.data for p in params]
        for p, g in zip(params, row, strict=True):
            p.grad = g
        optimizer.step()
        trace.m.append(list(optimizer.m))
        trace.v.append(list(optimizer.v))
        trace.update.append([(b - p.data) / LR for b, p in zip(before, params, strict=True)])
    return trace


def constant_gradients(g: float, steps: int) -> list[list[float]]:
    return [[g] for _ in range(steps)]


def noisy_gradients(mean: float, std: float, steps: int, runs: int, seed: int = 0):
    """`runs` independent streams of stationary gradients: gauss(mean, std), i.i.d."""
    rng = random.Random(seed)
    return [[rng.gauss(mean, std) for _ in range(runs)] for _ in range(steps)]


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def z_score(estimates: list[float], expected: float, beta: float, var_g: float, t: int) -> float:
    """|mean of corrected moments - expected| in standard errors. For i.i.d. gradients the raw
    moment (1 - b) sum_k b^(t-k) g_k has variance (1 - b)^2 (1 - b^(2t)) / (1 - b^2) Var[g];
    the corrected one that, divided by (1 - b^t)^2."""
    var = (1 - beta) ** 2 * (1 - beta ** (2 * t)) / (1 - beta**2) * var_g / (1 - beta**t) ** 2
    return abs(mean(estimates) - expected) / math.sqrt(var / len(estimates))


def largest_z_scores(trace: AdamTrace, mu: float, std: float) -> tuple[float, float]:
    """The worst step's z-scores of m_hat against E[g] and of v_hat against E[g^2]
    (gaussian g: Var[g^2] = 2 std^4 + 4 mu^2 std^2)."""
    b1, b2 = trace.betas
    var_g2 = 2 * std**4 + 4 * mu**2 * std**2
    steps = range(1, len(trace.m) + 1)
    return (
        max(z_score(trace.m_hat(t), mu, b1, std**2, t) for t in steps),
        max(z_score(trace.v_hat(t), mu**2 + std**2, b2, var_g2, t) for t in steps),
    )


def _plot_constant(ax, trace: AdamTrace, g: float) -> None:
    ts = range(1, len(trace.m) + 1)
    curves = [
        ([trace.m[t - 1][0] for t in ts], "m_t (raw)", {"color": "#9ecae1", "lw": 2}),
        ([trace.m_hat(t)[0] for t in ts], "m_t / (1 - b1^t)", {"color": "#08519c", "ls": "--"}),
        ([trace.v[t - 1][0] for t in ts], "v_t (raw)", {"color": "#fdae6b", "lw": 2}),
        ([trace.v_hat(t)[0] for t in ts], "v_t / (1 - b2^t)", {"color": "#a63603", "ls": ":"}),
    ]
    for ys, label, style in curves:
        ax.plot(ts, ys, label=label, **style)
    ax.set(xscale="log", xlabel="step t", ylabel="moment estimate",
           title=f"constant gradient g = {g:g}: E[g] = {g:g}, E[g^2] = {g * g:g}")
    ax.legend()


def _plot_noisy(ax, trace: AdamTrace, mu: float, std: float) -> None:
    b1 = trace.betas[0]
    ts = range(1, len(trace.m) + 1)
    curves = [
        ([mean(trace.m[t - 1]) for t in ts], "mean of m_t (raw)", {"color": "#9ecae1", "lw": 2}),
        ([(1 - b1**t) * mu for t in ts], "(1 - b1^t) E[g]", {"color": "k", "lw": 0.8, "ls": "--"}),
        ([mean(trace.m_hat(t)) for t in ts], "mean of m_t / (1 - b1^t)", {"color": "#08519c"}),
        ([mean(trace.v[t - 1]) for t in ts], "mean of v_t (raw)", {"color": "#fdae6b", "lw": 2}),
        ([mean(trace.v_hat(t)) for t in ts], "mean of v_t / (1 - b2^t)", {"color": "#a63603"}),
    ]
    for ys, label, style in curves:
        ax.plot(ts, ys, label=label, **style)
    ax.axhline(mu, color="#08519c", lw=0.6)
    ax.axhline(mu * mu + std * std, color="#a63603", lw=0.6)
    ax.set(xlabel="step t", ylabel="average over runs",
           title=f"noisy gradients g ~ N({mu:g}, {std:g}^2), {len(trace.m[0])} runs")
    ax.legend(fontsize=8)


def _plot_updates(ax, trace: AdamTrace) -> None:
    ts = range(1, len(trace.m) + 1)
    ax.plot(ts, [trace.update[t - 1][0] for t in ts], color="#08519c",
            label="with correction (nn.Adam's step)")
    ax.plot(ts, [trace.uncorrected_update(t)[0] for t in ts], color="#a63603",
            label="without: (1 - b1^t) / sqrt(1 - b2^t)")
    ax.set(xscale="log", xlabel="step t", ylabel="|update| / lr",
           title="step size under the constant gradient (betas {:g}, {:g})".format(*trace.betas))
    ax.legend(loc="center right")


def plot(constant: AdamTrace, noisy: AdamTrace, g: float, mu: float, std: float, path: Path):
    """Three panels: moments under a constant gradient, run-averaged moments under noisy
    gradients, and the update size with and without the correction."""
    fig, axes = pyplot().subplots(1, 3, figsize=(16, 4.5))
    _plot_constant(axes[0], constant, g)
    _plot_noisy(axes[1], noisy, mu, std)
    _plot_updates(axes[2], constant)
    return save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--steps", type=positive_int, default=2000, help="steps of the constant case"
    )
    parser.add_argument(
        "--runs", type=positive_int, default=2000, help="gradient streams of the noisy case"
    )
    add_out_argument(parser, "adam_bias")
    args = parser.parse_args(argv)
    b1 = BETAS[0]
    g, mu, std = 1.0, 0.5, 1.0

    constant = run_adam(constant_gradients(g, args.steps))
    ts = range(1, args.steps + 1)
    print(f"4.4 nn.Adam, betas {BETAS}, constant gradient g = {g:g}:")
    print(f"    step 1: m_1 = {constant.m[0][0]!r} = (1 - b1) g, m_1 / (1 - b1) = "
          f"{constant.m_hat(1)[0]!r};  v_1 = {constant.v[0][0]!r}, v_1 / (1 - b2) = "
          f"{constant.v_hat(1)[0]!r}")
    m_gap = max(abs(constant.m_hat(t)[0] - g) for t in ts)
    v_gap = max(abs(constant.v_hat(t)[0] - g * g) for t in ts)
    ok = constant.m_hat(1)[0] == g and m_gap < 1e-12 and v_gap < 1e-12
    print(f"    corrected moments equal g and g^2 at every step to {m_gap:.1e} and {v_gap:.1e}: "
          f"{'holds' if ok else 'FAILS'}")
    ratios = [constant.uncorrected_update(t)[0] / constant.update[t - 1][0] for t in ts]
    worst = max(range(len(ratios)), key=ratios.__getitem__)
    mid = min(100, len(ratios))
    print(f"    uncorrected update / Adam's update: {ratios[0]:.3f} at step 1, largest "
          f"{ratios[worst]:.3f} at step {worst + 1}, {ratios[mid - 1]:.3f} at step {mid}, "
          f"{ratios[-1]:.3f} at step {args.steps}")

    steps = 200
    noisy = run_adam(noisy_gradients(mu, std, steps, args.runs))
    print(f"    noisy gradients N({mu:g}, {std:g}^2), mean over {args.runs} runs:")
    print("       t   mean m_t  (1-b1^t)E[g]  mean m_hat   E[g] |   mean v_t  mean v_hat  E[g^2]")
    for t in (1, 2, 5, 10, 50, 200):
        print(f"    {t:4d}   {mean(noisy.m[t - 1]):8.4f}  {(1 - b1**t) * mu:12.4f}  "
              f"{mean(noisy.m_hat(t)):11.4f}  {mu:5.2f} |   {mean(noisy.v[t - 1]):8.4f}  "
              f"{mean(noisy.v_hat(t)):10.4f}  {mu * mu + std * std:6.2f}")
    z_m, z_v = largest_z_scores(noisy, mu, std)
    unbiased = z_m < 5 and z_v < 5
    ok &= unbiased
    print(f"    corrected means stay within {z_m:.1f} (m) and {z_v:.1f} (v) standard errors of "
          f"E[g] and E[g^2] at every step: {'holds' if unbiased else 'FAILS'}")
    print(f"wrote {plot(constant, noisy, g, mu, std, args.out / 'adam_bias_correction.png')}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
