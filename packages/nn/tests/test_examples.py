"""The examples of problems 6.1, 6.3 and 6.4 and two moons: they run end to end, reach what
they claim and write their figures, with labelled axes."""

import pytest

pytest.importorskip(
    "matplotlib", reason="the examples need matplotlib: uv run --package nn --extra plot pytest"
)

def is_png(path):
    return path.read_bytes().startswith(b"\x89PNG")


def test_two_moons_reaches_full_train_accuracy(example, tmp_path, capsys):
    # 50 points instead of 100: the same claim, reached in 54 steps instead of 134
    assert example("two_moons").main(["--n", "50", "--out", str(tmp_path)]) == 0
    assert "train accuracy 100%" in capsys.readouterr().out
    assert is_png(tmp_path / "moons_decision_boundary.png")


def test_examples_write_under_runs_by_default(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert example("logic_gates").main([]) == 0
    assert is_png(tmp_path / "runs" / "logic_gates" / "logic_gates.png")


@pytest.mark.parametrize(
    ("name", "plot_call"),
    [
        ("two_moons", lambda m: m.plot_decision_boundary(*m.train(n=20, steps=2)[:3], None, 10)),
        ("logic_gates", lambda m: m.plot(m.run(), None, resolution=10)),
        ("claims", lambda m: m.plot_pieces([2, 2], 0, None)),
    ],
)
def test_every_plot_labels_its_axes_and_has_a_legend(example, monkeypatch, name, plot_call):
    module = example(name)
    figures = []
    monkeypatch.setattr(module, "save", lambda fig, path: figures.append(fig) or path)
    plot_call(module)
    (fig,) = figures
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
        assert ax.get_legend() is not None, (name, ax.get_title())


def test_logic_gates(example, tmp_path, capsys):
    gates = example("logic_gates")
    assert gates.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "AND, one perceptron      accuracy 100%" in out
    assert "XOR, MLP(2, [4, 1])      accuracy 100%" in out
    assert is_png(tmp_path / "logic_gates.png")
    results = gates.run(seed=5)
    assert results["XOR, one perceptron"][1] <= 0.75  # no line separates XOR


def test_claims(example, tmp_path, capsys):
    claims = example("claims")
    assert claims.main(["--seeds", "5", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "6.1 linear layers 3->4->5->2 vs their product" in out
    assert "6.1 ReLU MLP 2->4->[3 linear]->5->1 vs 2->4->5->1, inserted layer folded" in out
    assert out.count("holds") == 11 and "FAILS" not in out
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
