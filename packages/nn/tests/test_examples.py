"""The examples run end to end, reach what they claim and write their figures."""

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the examples plot with matplotlib (nn[plot])")

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.fixture
def example(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def load(name):
        spec = importlib.util.spec_from_file_location(f"nn_example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load
    sys.modules.pop("_plotting", None)


def is_png(path):
    return path.read_bytes().startswith(b"\x89PNG")


def test_two_moons_reaches_full_train_accuracy(example, tmp_path, capsys):
    assert example("two_moons").main(["--figs", str(tmp_path)]) == 0
    assert "train accuracy 100%" in capsys.readouterr().out
    assert is_png(tmp_path / "moons_decision_boundary.png")


def test_logic_gates(example, tmp_path, capsys):
    gates = example("logic_gates")
    assert gates.main(["--figs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "AND, one perceptron      accuracy 100%" in out
    assert "XOR, MLP(2, [4, 1])      accuracy 100%" in out
    assert is_png(tmp_path / "logic_gates.png")
    results = gates.run(seed=5)
    assert results["XOR, one perceptron"][1] <= 0.75  # no line separates XOR


def test_claims(example, tmp_path, capsys):
    claims = example("claims")
    assert claims.main(["--seeds", "5", "--figs", str(tmp_path)]) == 0
    assert "FAILS" not in capsys.readouterr().out
    assert is_png(tmp_path / "claims_pieces.png")


def test_piece_counter_on_a_hand_built_network(example):
    """relu(x) + relu(-x) - relu(x - 1) = |x| for x < 1, then constant 1: 3 pieces."""
    claims = example("claims")
    from nn import MLP

    model = MLP(1, [3, 1], seed=0)
    for unit, (w, b) in zip(model.layers[0].neurons, [(1, 0), (-1, 0), (1, -1)], strict=True):
        unit.w[0].data, unit.b.data = float(w), float(b)
    out = model.layers[1].neurons[0]
    for weight, value in zip(out.w, (1.0, 1.0, -1.0), strict=True):
        weight.data = value
    out.b.data = 0.0
    pieces = claims.linear_pieces(model)
    inf = float("inf")
    assert [(lo, hi) for lo, hi, _ in pieces] == [(-inf, 0.0), (0.0, 1.0), (1.0, inf)]
    assert [line for _, _, line in pieces] == [(-1.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
