import json
import math

import pytest

from autograd import Value
from nn import MLP, SGD, Adam, hinge_loss, make_moons


def quadratic_step(optimizer, params, target=3.0):
    optimizer.zero_grad()
    loss = sum(((p - target) ** 2 for p in params), Value(0.0))
    loss.backward()
    optimizer.step()
    return loss.data


def test_sgd_plain_and_momentum_updates():
    p = Value(1.0)
    p.grad = 2.0
    SGD([p], lr=0.1).step()
    assert p.data == pytest.approx(0.8)
    q = Value(1.0)
    opt = SGD([q], lr=0.1, momentum=0.9)
    q.grad = 1.0
    opt.step()  # v = 1
    q.grad = 1.0
    opt.step()  # v = 0.9 + 1 = 1.9
    assert q.data == pytest.approx(1.0 - 0.1 - 0.19)


def test_adam_first_step_moves_each_parameter_by_lr():
    """Bias correction makes the first update lr * g / |g| whatever the gradient's size."""
    params = [Value(0.0), Value(0.0)]
    params[0].grad, params[1].grad = 1e-4, -50.0
    Adam(params, lr=0.01).step()
    assert params[0].data == pytest.approx(-0.01, rel=1e-3)
    assert params[1].data == pytest.approx(0.01, rel=1e-6)


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.5),
                                  lambda ps: Adam(ps, lr=0.1)])
def test_optimizers_minimise_a_quadratic(make):
    params = [Value(-2.0), Value(5.0)]
    opt = make(params)
    for _ in range(300):
        loss = quadratic_step(opt, params)
    assert loss < 1e-6


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.05, momentum=0.9),
                                  lambda ps: Adam(ps, lr=0.05)])
def test_optimizer_state_round_trips_and_resumes_identically(make):
    a = [Value(-2.0), Value(5.0)]
    opt_a = make(a)
    for _ in range(5):
        quadratic_step(opt_a, a)
    state = json.loads(json.dumps(opt_a.state_dict()))
    b = [Value(p.data) for p in a]
    opt_b = make(b)
    opt_b.load_state_dict(state)
    for _ in range(5):
        quadratic_step(opt_a, a)
        quadratic_step(opt_b, b)
    assert [p.data for p in a] == [p.data for p in b]


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: SGD([], lr=0.1), ValueError, "no parameters"),
        (lambda: SGD([1.0], lr=0.1), TypeError, "parameter 0 is float"),
        (lambda: SGD([Value(1.0)], lr=-1), ValueError, "lr must be a positive"),
        (lambda: SGD([Value(1.0)], lr=math.nan), ValueError, "lr must be a positive"),
        (lambda: SGD([Value(1.0)], momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
        (lambda: Adam([Value(1.0)], betas=(0.9,)), ValueError, "betas must be a pair"),
        (lambda: Adam([Value(1.0)], betas=(0.9, 1.5)), ValueError, "beta2 must be in"),
    ],
)
def test_bad_optimizer_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_optimizer_state_changes_nothing():
    opt = Adam([Value(1.0), Value(2.0)])
    before = opt.state_dict()
    with pytest.raises(ValueError, match="has 1 entries but this optimizer has 2"):
        opt.load_state_dict({"lr": 0.5, "t": 3, "m": [0.0], "v": [0.0, 0.0]})
    assert opt.state_dict() == before


GOOD_ADAM = {"lr": 0.5, "t": 3, "m": [0.1, -0.2], "v": [0.01, 0.04]}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"m": [math.nan, 0.0]}, r"state\['m'\]\[0\] is nan, not a finite number"),
        ({"m": [0.0, math.inf]}, r"state\['m'\]\[1\] is inf, not a finite number"),
        ({"m": [0.0, "1.5"]}, r"state\['m'\]\[1\] is '1.5', not a finite number"),
        ({"v": ["nan", 0.0]}, r"state\['v'\]\[0\] is 'nan', not a finite number"),
        ({"v": [0.01, True]}, r"state\['v'\]\[1\] is True, not a finite number"),
        ({"v": [-0.01, 0.04]}, r"state\['v'\]\[0\] is -0.01, .* cannot be negative"),
        ({"lr": "0.5"}, "lr must be a positive finite number"),
    ],
)
def test_adam_refuses_a_damaged_state_and_keeps_its_own(change, match):
    opt = Adam([Value(1.0), Value(2.0)])
    before = opt.state_dict()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict({**GOOD_ADAM, **change})
    assert opt.state_dict() == before
    opt.load_state_dict(GOOD_ADAM)  # the undamaged state loads
    assert opt.state_dict() == GOOD_ADAM


@pytest.mark.parametrize("bad", [math.nan, -math.inf, "0.1", None])
def test_sgd_refuses_a_non_finite_or_non_number_velocity(bad):
    opt = SGD([Value(1.0), Value(2.0)], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"state\['velocity'\]\[1\] is .*not a finite number"):
        opt.load_state_dict({"lr": 0.1, "velocity": [0.0, bad]})
    assert opt.velocity == [0.0, 0.0]
    opt.load_state_dict({"lr": 0.1, "velocity": [0.0, -0.5]})  # a velocity may be negative
    assert opt.velocity == [0.0, -0.5]


def test_a_state_missing_a_key_names_it():
    opt = Adam([Value(1.0)])
    with pytest.raises(ValueError, match=r"lacks 'v' \(it has \['lr', 'm', 't'\]\)"):
        opt.load_state_dict({"lr": 0.5, "t": 3, "m": [0.0]})


def test_mlp_learns_two_moons_to_full_train_accuracy():
    points, labels = make_moons(60, noise=0.05, seed=3)
    model = MLP(2, [16, 16, 1], seed=3)
    opt = Adam(model.parameters(), lr=0.05)
    for _ in range(400):
        scores = [model(p) for p in points]
        loss = hinge_loss(scores, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if all((s.data > 0) == (y > 0) for s, y in zip(scores, labels, strict=True)):
            break
    scores = [model(p) for p in points]
    assert all((s.data > 0) == (y > 0) for s, y in zip(scores, labels, strict=True))


def test_make_moons_is_reproducible_and_balanced():
    (p1, l1), (p2, l2) = make_moons(51, seed=4), make_moons(51, seed=4)
    assert p1 == p2 and l1 == l2 and l1.count(-1) == 25 and l1.count(1) == 26
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        make_moons(1)
