"""Loss functions, each the mean over a batch, written with `autograd` operations."""

from __future__ import annotations

import math
from collections.abc import Sequence

from autograd import Value, vsum

__all__ = ["binary_cross_entropy", "hinge_loss", "mse_loss", "softmax_cross_entropy"]


def _as_list(x: Value | float | Sequence[Value | float], name: str) -> list:
    if isinstance(x, Value | int | float):
        return [x]
    items = list(x)
    if not items:
        raise ValueError(f"{name} is empty; a loss needs at least one example")
    return items


def _paired(predictions, targets) -> tuple[list, list]:
    preds = [Value.parse(p) for p in _as_list(predictions, "predictions")]
    targs = _as_list(targets, "targets")
    if len(preds) != len(targs):
        raise ValueError(f"{len(preds)} predictions but {len(targs)} targets; they must pair up")
    return preds, targs


def _mean(terms: list[Value]) -> Value:
    return vsum(terms) * (1.0 / len(terms))


def mse_loss(predictions, targets) -> Value:
    """Mean squared error: mean((prediction - target) ** 2)."""
    preds, targs = _paired(predictions, targets)
    return _mean([(p - t) ** 2 for p, t in zip(preds, targs, strict=True)])


def hinge_loss(scores, labels) -> Value:
    """Mean hinge loss, mean(relu(1 - label * score)), with labels -1 or +1 (an SVM's loss)."""
    preds, targs = _paired(scores, labels)
    for i, y in enumerate(targs):
        if y not in (-1, 1):
            raise ValueError(f"hinge_loss labels must be -1 or +1, label {i} is {y!r}")
    return _mean([(1 - y * s).relu() for s, y in zip(preds, targs, strict=True)])


def binary_cross_entropy(logits, targets) -> Value:
    """Mean binary cross-entropy of sigmoid(logit) against targets in [0, 1].

    Takes logits, not probabilities: -[t log s(z) + (1-t) log(1-s(z))] is rewritten as
    max(z, 0) - z t + log(1 + exp(-|z|)), which neither overflows nor takes log(0) for any z.
    """
    preds, targs = _paired(logits, targets)
    terms = []
    for i, (z, t) in enumerate(zip(preds, targs, strict=True)):
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"binary_cross_entropy targets must be in [0, 1], target {i} is {t!r}")
        if z.data >= 0:  # z - z t + log(1 + exp(-z))
            terms.append(z * (1.0 - t) + ((-z).exp() + 1.0).log())
        else:  # -z t + log(1 + exp(z))
            terms.append(z * -t + (z.exp() + 1.0).log())
    return _mean(terms)


def softmax_cross_entropy(logits, targets) -> Value:
    """Mean cross-entropy of softmax(logits) against class indices.

    `logits` is one list of class scores, or a batch of them; `targets` the matching class
    index (or list of indices). The log-sum-exp is shifted by the largest logit, so large
    scores do not overflow.
    """
    rows = [logits] if logits and isinstance(logits[0], Value | int | float) else list(logits)
    targs = [targets] if isinstance(targets, int) else list(targets)
    if not rows:
        raise ValueError("logits is empty; a loss needs at least one example")
    if len(rows) != len(targs):
        raise ValueError(f"{len(rows)} rows of logits but {len(targs)} targets")
    terms = []
    for i, (row, t) in enumerate(zip(rows, targs, strict=True)):
        row = [Value.parse(z) for z in row]
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < len(row):
            raise ValueError(f"target {i} must be a class index in [0, {len(row)}), got {t!r}")
        shift = max(z.data for z in row)
        if not math.isfinite(shift):
            raise ValueError(f"logits of example {i} contain {shift!r}; they must be finite")
        log_sum_exp = vsum([(z - shift).exp() for z in row]).log() + shift
        terms.append(log_sum_exp - row[t])
    return _mean(terms)
