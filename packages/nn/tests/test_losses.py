import math

import pytest

from autograd import Value
from nn import binary_cross_entropy, hinge_loss, mse_loss, softmax_cross_entropy


def numeric_grad(loss_of, xs, h=1e-6):
    grads = []
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += h
        down[i] -= h
        grads.append((loss_of(up).data - loss_of(down).data) / (2 * h))
    return grads


def check_gradient(loss_of, xs):
    values = [Value(x) for x in xs]
    loss = loss_of(values)
    loss.backward()
    for v, g in zip(values, numeric_grad(loss_of, xs), strict=True):
        assert v.grad == pytest.approx(g, rel=1e-5, abs=1e-7)
    return loss.data


def test_mse():
    value = check_gradient(lambda p: mse_loss(p, [1.0, -1.0, 0.5]), [0.5, 0.0, 0.5])
    assert value == pytest.approx((0.25 + 1.0 + 0.0) / 3)


def test_hinge():
    value = check_gradient(lambda s: hinge_loss(s, [1, -1, 1]), [0.5, 0.3, 2.0])
    assert value == pytest.approx((0.5 + 1.3 + 0.0) / 3)
    with pytest.raises(ValueError, match="label 1 is 0"):
        hinge_loss([Value(1.0), Value(2.0)], [1, 0])


def bce_reference(z, t):
    s = 1 / (1 + math.exp(-z))
    return -(t * math.log(s) + (1 - t) * math.log(1 - s))


def test_binary_cross_entropy_matches_the_definition():
    zs, ts = [-2.0, -0.1, 0.0, 0.7, 3.0], [0, 1, 1, 0, 0.3]
    value = check_gradient(lambda z: binary_cross_entropy(z, ts), zs)
    expected = sum(bce_reference(z, t) for z, t in zip(zs, ts, strict=True)) / len(zs)
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("z", "t"), [(800.0, 0), (-800.0, 1), (1e5, 1), (-1e5, 0)])
def test_binary_cross_entropy_is_stable_for_huge_logits(z, t):
    v = Value(z)
    loss = binary_cross_entropy([v], [t])
    loss.backward()
    assert math.isfinite(loss.data) and math.isfinite(v.grad)
    assert loss.data == pytest.approx(abs(z) if (z > 0) != bool(t) else 0.0)
    assert v.grad == pytest.approx(1.0 - t if z > 0 else -t, abs=1e-12)


def test_softmax_cross_entropy():
    logits = [2.0, 1.0, 0.1]
    value = check_gradient(lambda z: softmax_cross_entropy(z, 0), logits)
    expected = -math.log(math.exp(2.0) / sum(math.exp(z) for z in logits))
    assert value == pytest.approx(expected, rel=1e-12)
    # a batch, and logits far beyond exp's range
    batch = [[Value(1000.0), Value(0.0)], [Value(0.0), Value(-1000.0)]]
    loss = softmax_cross_entropy(batch, [0, 1])
    assert loss.data == pytest.approx(500.0)
    with pytest.raises(ValueError, match=r"class index in \[0, 3\), got 3"):
        softmax_cross_entropy(logits, 3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mse_loss([Value(1.0)], [1.0, 2.0]), "1 predictions but 2 targets"),
        (lambda: mse_loss([], []), "empty"),
        (lambda: binary_cross_entropy([Value(0.0)], [2]), r"in \[0, 1\], target 0 is 2"),
        (lambda: softmax_cross_entropy([[1.0, 2.0]], [0, 1]), "1 rows of logits but 2 targets"),
    ],
)
def test_bad_loss_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
