"""The problem-set example runs, prints the chain rule and writes both figures."""

import importlib.util
from pathlib import Path

import pytest

from autograd import find_renderer

EXAMPLE = Path(__file__).parents[1] / "examples" / "ex_2i_backprop.py"


def load_example():
    spec = importlib.util.spec_from_file_location("ex_2i_backprop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_prints_gradients_and_lower_loss(tmp_path, capsys):
    if find_renderer() is None:
        pytest.skip("no Graphviz renderer installed (dot or graphviz-pure)")
    example = load_example()
    assert example.main(["--w1", "1", "--w2", "2", "--w3", "-4", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "L = (w1 + w2) * w3 = (1 + 2) * (-4) = -12" in out
    assert "dL/dw1 = dL/ds * ds/dw1 = w3 * 1 = (-4) * 1 = -4" in out
    assert "dL/dw3 = s = w1 + w2 = 1 + 2 = 3" in out
    assert "  w3: -4 - 0.01 * 3 = -4.03" in out
    # L = 3 * -4 = -12; after the step with lr 0.01: (1.04 + 2.04) * (-4.03)
    assert "L before = -12   L after = -12.4124" in out
    for name in ("ex_backprop_before.png", "ex_backprop_after.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


def test_each_figure_is_titled_with_its_moment(tmp_path, monkeypatch):
    """The two graphs look alike: the title says which is before and which after the step."""
    example = load_example()
    titles = []

    def fake_draw(root, path, *, title=""):
        titles.append((Path(path).name, title))
        return Path(path)

    monkeypatch.setattr(example, "draw", fake_draw)
    assert example.main(["--out", str(tmp_path)]) == 0
    assert titles == [
        ("ex_backprop_before.png", "before the step: L = 3, gradients from L.backward()"),
        (
            "ex_backprop_after.png",
            "after one step w <- w - 0.01 dL/dw: L = 2.8106, gradients at the new point",
        ),
    ]


def test_figures_go_under_runs_by_default(tmp_path, monkeypatch, capsys):
    if find_renderer() is None:
        pytest.skip("no Graphviz renderer installed (dot or graphviz-pure)")
    monkeypatch.chdir(tmp_path)
    assert load_example().main([]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert written == [
        "runs/ex_2i_backprop/ex_backprop_after.png",
        "runs/ex_2i_backprop/ex_backprop_before.png",
    ]
