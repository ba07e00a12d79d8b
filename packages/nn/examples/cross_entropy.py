"""Problem 4.3: maximum likelihood is minimum cross-entropy.

A categorical model gives class k the probability q_k = softmax(z)_k. The average negative
log-likelihood of labels y_1..y_N is
    NLL = -(1/N) sum_i log q_{y_i}(x_i)
        = (1/N) sum_i H(onehot(y_i), q(x_i)),      H(p, q) = -sum_k p_k log q_k,
because the one-hot p has a single 1, at y_i. With one distribution for all examples,
sum_i log q_{y_i} = N sum_k p^_k log q_k for the empirical frequencies p^, so
NLL = H(p^, q) = H(p^) + KL(p^ || q): maximising the likelihood minimises the cross-entropy,
and the optimum is q = p^ (KL = 0). Checked: the three ways of writing the loss (log of the
probability, cross-entropy with one-hot targets, nn.softmax_cross_entropy) agree in value
and gradient on random logits and labels, and gradient descent on a free logit vector
lands on the empirical frequencies.

    uv run --package nn python packages/nn/examples/cross_entropy.py
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Sequence

from _cli import positive_int

from autograd import Value, vsum
from nn import SGD, softmax_cross_entropy

Loss = Callable[[list[list[Value]], list[int]], Value]


def softmax(row: Sequence[Value]) -> list[Value]:
    """q_k = exp(z_k) / sum_j exp(z_j), written out (moderate logits: no shift needed)."""
    exps = [z.exp() for z in row]
    total = vsum(exps)
    return [e / total for e in exps]


def one_hot(label: int, classes: int) -> list[float]:
    return [1.0 if k == label else 0.0 for k in range(classes)]


def negative_log_likelihood(rows: list[list[Value]], labels: list[int]) -> Value:
    """-(1/N) sum_i log q_{y_i}: how unlikely the model finds the observed labels."""
    return vsum([-softmax(row)[y].log() for row, y in zip(rows, labels, strict=True)]) * (
        1.0 / len(rows)
    )


def cross_entropy(targets: list[list[float]], rows: list[list[Value]]) -> Value:
    """(1/N) sum_i H(p_i, q_i) = -(1/N) sum_i sum_k p_ik log q_ik (terms with p = 0 are 0)."""
    terms = []
    for p, row in zip(targets, rows, strict=True):
        q = softmax(row)
        terms.append(-vsum([pk * qk.log() for pk, qk in zip(p, q, strict=True) if pk != 0.0]))
    return vsum(terms) * (1.0 / len(rows))


LOSSES: dict[str, Loss] = {
    "negative log-likelihood": negative_log_likelihood,
    "cross-entropy with one-hot targets": lambda rows, labels: cross_entropy(
        [one_hot(y, len(rows[0])) for y in labels], rows
    ),
    "nn.softmax_cross_entropy": softmax_cross_entropy,
}


def value_and_gradient(loss: Loss, logits: list[list[float]], labels: list[int]):
    rows = [[Value(z) for z in row] for row in logits]
    out = loss(rows, labels)
    out.backward()
    return out.data, [z.grad for row in rows for z in row]


def largest_disagreement(seeds: int = 20, n: int = 16, classes: int = 5) -> tuple[float, float]:
    """Largest |difference| between the three losses, in value and in gradient, and between
    the gradient and its closed form (softmax - onehot) / N, over random logits and labels."""
    worst_value = worst_grad = 0.0
    for seed in range(seeds):
        rng = random.Random(seed)
        logits = [[rng.uniform(-4, 4) for _ in range(classes)] for _ in range(n)]
        labels = [rng.randrange(classes) for _ in range(n)]
        results = [value_and_gradient(loss, logits, labels) for loss in LOSSES.values()]
        closed_form = [
            (qk.data - pk) / n
            for row, y in zip(logits, labels, strict=True)
            for qk, pk in zip(softmax([Value(z) for z in row]), one_hot(y, classes), strict=True)
        ]
        for value, grad in results:
            worst_value = max(worst_value, abs(value - results[0][0]))
            gaps = [abs(g - h) for g, h in zip(grad, closed_form, strict=True)]
            worst_grad = max(worst_grad, *gaps)
    return worst_value, worst_grad


def frequencies(labels: list[int], classes: int) -> list[float]:
    return [labels.count(k) / len(labels) for k in range(classes)]


def empirical_identity_gap(labels: list[int], classes: int, seeds: int = 20) -> float:
    """Largest |NLL(labels) - H(p^, q)| for one shared q = softmax(z), over random z."""
    p_hat = frequencies(labels, classes)
    worst = 0.0
    for seed in range(seeds):
        rng = random.Random(seed)
        z = [Value(rng.uniform(-3, 3)) for _ in range(classes)]
        nll = negative_log_likelihood([z] * len(labels), labels).data
        worst = max(worst, abs(nll - cross_entropy([p_hat], [z]).data))
    return worst


def entropy(p: list[float]) -> float:
    return -sum(pk * math.log(pk) for pk in p if pk > 0)


def fit_frequencies(labels: list[int], classes: int, steps: int = 500, lr: float = 2.0):
    """Maximum likelihood for one categorical distribution: gradient descent on the NLL of
    the labels, over free logits z (q = softmax(z)). Returns (q, p^, final NLL)."""
    z = [Value(0.0) for _ in range(classes)]
    optimizer = SGD(z, lr=lr)
    for _ in range(steps):
        loss = negative_log_likelihood([z] * len(labels), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    q = [v.data for v in softmax(z)]
    return q, frequencies(labels, classes), negative_log_likelihood([z] * len(labels), labels).data


def sample_labels(probabilities: list[float], n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return rng.choices(range(len(probabilities)), weights=probabilities, k=n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=positive_int, default=20, help="random logit/label draws")
    args = parser.parse_args(argv)

    value_gap, grad_gap = largest_disagreement(args.seeds)
    ok = value_gap < 1e-12 and grad_gap < 1e-12
    print(f"4.3 {', '.join(LOSSES)}:")
    print(f"    {args.seeds} draws of 16 examples x 5 classes: values agree to {value_gap:.1e}, "
          f"gradients agree with (softmax - onehot) / N to {grad_gap:.1e}: "
          f"{'holds' if ok else 'FAILS'}")

    labels = sample_labels([0.1, 0.2, 0.3, 0.4], n=50, seed=0)
    gap = empirical_identity_gap(labels, classes=4)
    holds = gap < 1e-12
    ok &= holds
    print(f"    one q for 50 labels: NLL = H(p^, q) for 20 random q to {gap:.1e}: "
          f"{'holds' if holds else 'FAILS'}")
    q, p_hat, nll = fit_frequencies(labels, classes=4)
    kl = nll - entropy(p_hat)
    fits = max(abs(a - b) for a, b in zip(q, p_hat, strict=True)) < 1e-6 and abs(kl) < 1e-9
    ok &= fits
    print(f"    maximum likelihood (500 gradient steps): q = {[round(x, 6) for x in q]}")
    print(f"    empirical frequencies of the labels:    p^ = {p_hat}")
    print(f"    NLL = H(p^, q) = {nll:.9f}, H(p^) = {entropy(p_hat):.9f}, KL = {kl:.1e}: "
          f"{'holds' if fits else 'FAILS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
