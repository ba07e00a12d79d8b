import json
import math
import random

import pytest

from autograd import Value
from nn import MLP, Layer, Module, Perceptron


def test_perceptron_computes_activation_of_weighted_sum():
    p = Perceptron(3, activation="tanh", rng=random.Random(0))
    p.w[0].data, p.w[1].data, p.w[2].data, p.b.data = 0.5, -1.0, 2.0, 0.25
    out = p([1.0, 2.0, Value(3.0)])
    assert out.data == pytest.approx(math.tanh(0.5 - 2.0 + 6.0 + 0.25))
    assert len(p.parameters()) == 4


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear", None])
def test_every_activation_is_accepted(activation):
    assert isinstance(Perceptron(2, activation)([1.0, -1.0]), Value)


def test_initial_weights_are_bounded_and_reproducible():
    a = MLP(4, [8, 3], seed=7)
    b = MLP(4, [8, 3], seed=7)
    assert a.state_dict() == b.state_dict()
    assert a.state_dict() != MLP(4, [8, 3], seed=8).state_dict()
    assert all(abs(w.data) <= 0.5 for w in a.layers[0].neurons[0].w)  # 1 / sqrt(4)


def test_mlp_shapes_follow_micrograd():
    model = MLP(2, [16, 16, 1], seed=0)
    assert len(model.parameters()) == (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1)
    assert [layer.neurons[0].activation for layer in model.layers] == ["relu", "relu", "linear"]
    assert isinstance(model([0.5, -0.5]), Value)
    many = MLP(2, [3, 4], seed=0)([0.5, -0.5])
    assert isinstance(many, list) and len(many) == 4


def test_hidden_layer_of_one_unit_works():
    model = MLP(2, [1, 3, 1], activation="tanh", seed=0)
    out = model([0.3, 0.7])
    out.backward()
    assert isinstance(out, Value)
    assert any(p.grad != 0.0 for p in model.parameters())
    assert isinstance(Layer(2, 1)([1.0, 2.0]), list)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Perceptron(0), "nin must be a positive int"),
        (lambda: Perceptron(2, activation="swish"), "unknown activation 'swish'"),
        (lambda: Layer(2, 0), "nout must be a positive int"),
        (lambda: MLP(2, []), "non-empty list"),
        (lambda: MLP(2, 16), "non-empty list"),
        (lambda: MLP(2, [4, 2.5]), "layer width must be a positive int"),
        (lambda: MLP(2, [4], seed=1, rng=random.Random(1)), "seed or rng"),
    ],
)
def test_bad_construction_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_number_of_inputs():
    with pytest.raises(ValueError, match="takes 2 inputs, got 3"):
        MLP(2, [4, 1], seed=0)([1.0, 2.0, 3.0])


def test_state_dict_round_trips_through_json():
    model = MLP(3, [5, 2], seed=1)
    state = json.loads(json.dumps(model.state_dict()))
    other = MLP(3, [5, 2], seed=2)
    other.load_state_dict(state)
    x = [0.1, -0.2, 0.3]
    assert [v.data for v in other(x)] == [v.data for v in model(x)]
    assert "layers.1.neurons.0.b" in state and len(state) == len(model.parameters())


def test_bad_state_changes_nothing():
    model = MLP(3, [5, 2], seed=1)
    before = model.state_dict()
    bad_keys = dict(before)
    del bad_keys["layers.0.neurons.0.w.0"]
    bad_keys["extra"] = 1.0
    with pytest.raises(KeyError, match=r"missing layers\.0\.neurons\.0\.w\.0, unexpected extra"):
        model.load_state_dict(bad_keys)
    bad_value = dict(before, **{"layers.1.neurons.1.b": "x"})
    with pytest.raises(TypeError, match="must be a number, got str"):
        model.load_state_dict(bad_value)
    with pytest.raises(ValueError, match="must be finite"):
        model.load_state_dict(dict(before, **{"layers.1.neurons.1.b": math.nan}))
    with pytest.raises(TypeError, match="takes a mapping"):
        model.load_state_dict([1.0])
    assert model.state_dict() == before


def test_zero_grad_resets_every_parameter():
    model = MLP(2, [3, 1], seed=0)
    model([1.0, 2.0]).backward()
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    assert isinstance(model, Module)


def test_layers_report_their_activation():
    model = MLP(2, [3, 3, 1], activation="sigmoid", seed=0)
    assert [layer.activation for layer in model.layers] == ["sigmoid", "sigmoid", "linear"]
    assert Layer(2, 1, activation=None).activation == "linear"
    assert "activation='sigmoid'" in repr(model.layers[0])
