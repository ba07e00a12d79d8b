"""Problems 4.1 and 4.2: tanh = 2 sigmoid(2z) - 1, so tanh and sigmoid MLPs are one family."""

import random

import pytest

from nn import MLP


@pytest.fixture
def ts(example):
    return example("tanh_sigmoid")


def test_identity_holds_in_value_and_derivative(ts):
    value_err, grad_err = ts.tanh_identity_error(n=401)
    assert value_err < 1e-12 and grad_err < 1e-12


def test_conversion_rescales_weights_as_derived(ts):
    """First layer doubled; a later hidden layer 4 W and 2 (b - W 1); the linear output
    layer 2 W and b - W 1 (it reads h = 2 g - 1 and has no activation to undo)."""
    model = ts.random_mlp(2, [3, 3, 1], "tanh", seed=4)
    (w1, b1), (w2, b2), (w3, b3) = ts.weights(model)
    (v1, c1), (v2, c2), (v3, c3) = ts.weights(ts.convert(model, "sigmoid"))
    assert v1 == [[2 * w for w in row] for row in w1] and c1 == [2 * b for b in b1]
    assert v2 == [[4 * w for w in row] for row in w2]
    assert c2 == pytest.approx([2 * (b - sum(row)) for row, b in zip(w2, b2, strict=True)])
    assert v3 == [[2 * w for w in row] for row in w3]
    assert c3 == pytest.approx([b - sum(row) for row, b in zip(w3, b3, strict=True)])


@pytest.mark.parametrize(("nin", "widths"), [(1, [4, 1]), (2, [8, 8, 1]), (3, [5, 5, 5, 2])])
def test_converted_networks_compute_the_same_function(ts, nin, widths):
    rng = random.Random(7)
    inputs = [[rng.uniform(-3, 3) for _ in range(nin)] for _ in range(30)]
    for seed in range(3):
        tanh_net = ts.random_mlp(nin, widths, "tanh", seed)
        sigmoid_net = ts.convert(tanh_net, "sigmoid")
        assert [layer.activation for layer in sigmoid_net.layers[:-1]] == ["sigmoid"] * (
            len(widths) - 1
        )
        assert ts.largest_gap(tanh_net, sigmoid_net, inputs) < 1e-12
        other = ts.random_mlp(nin, widths, "sigmoid", seed)
        assert ts.largest_gap(other, ts.convert(other, "tanh"), inputs) < 1e-12
        back = ts.convert(sigmoid_net, "tanh")
        assert back.state_dict() == pytest.approx(tanh_net.state_dict(), abs=1e-14)


@pytest.mark.parametrize(
    ("model", "to", "match"),
    [
        (MLP(2, [3, 1], activation="relu", seed=0), "sigmoid", "not relu into sigmoid"),
        (MLP(2, [3, 1], activation="tanh", seed=0), "tanh", "not tanh into tanh"),
        (MLP(2, [3, 1], activation="tanh", output_activation="tanh", seed=0), "sigmoid",
         "linear output layer"),
    ],
)
def test_conversion_refuses_what_the_identity_does_not_cover(ts, model, to, match):
    with pytest.raises(ValueError, match=match):
        ts.convert(model, to)


def test_main_reports_every_check(ts, capsys):
    assert ts.main(["--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("holds") == 5 and "FAILS" not in out
