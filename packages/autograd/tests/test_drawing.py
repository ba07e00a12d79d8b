"""DOT text content, and rendering through each available renderer."""

import re
import shutil
import sys
from pathlib import Path

import pytest

import autograd
from autograd import RendererNotFoundError, Value, draw, to_dot


def small_graph():
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = a * b
    c.label = "c"
    d = c + a
    d.label = "d|<odd>"
    d.backward()
    return a, b, c, d


def test_dot_has_one_record_per_value_and_an_op_node_per_computed_value():
    text = to_dot(small_graph()[3])
    assert text.startswith("digraph autograd {") and text.rstrip().endswith("}")
    records = [line for line in text.splitlines() if "shape=record" in line]
    ops = [line for line in text.splitlines() if "shape=circle" in line]
    assert len(records) == 4 and len(ops) == 2
    assert 'label="{ a | data 2 | grad -2 }"' in text
    assert 'label="{ b | data -3 | grad 2 }"' in text
    assert 'label="{ c | data -6 | grad 1 }"' in text
    assert "d\\|\\<odd\\>" in text  # record metacharacters escaped
    assert 'label="*"' in text and 'label="+"' in text
    # the edges into "*" carry the local derivatives b and a
    assert '[label="-3"]' in text and '[label="2"]' in text


def test_title_is_drawn_above_the_graph_and_escaped():
    text = to_dot(small_graph()[3], title='after "one" step \\ L = 2')
    assert 'labelloc=t; fontname="Helvetica"; label="after \\"one\\" step \\\\ L = 2";' in text
    assert "label=" not in to_dot(small_graph()[3]).split("node [")[0]  # no title, no label


def test_dot_output_is_deterministic():
    assert to_dot(small_graph()[3]) == to_dot(small_graph()[3])


def test_to_dot_rejects_non_values():
    with pytest.raises(TypeError, match="takes a Value, got float"):
        to_dot(1.0)


def renderers():
    found = []
    if shutil.which("dot"):
        found.append("dot")
    pure = shutil.which("graphviz-pure") or shutil.which(
        "graphviz-pure", path=str(Path(sys.executable).parent)
    )
    if pure:
        found.append(pure)
    return found


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_draw_renders_by_extension_with_each_available_renderer(tmp_path, suffix):
    available = renderers()
    if not available:
        pytest.skip("no Graphviz renderer installed (dot or graphviz-pure)")
    for program in available:
        out = draw(small_graph()[3], tmp_path / f"{Path(program).name}{suffix}", renderer=program)
        data = out.read_bytes()
        if suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
        else:
            assert b"<svg" in data
            assert b"data -6" in data or b"data &#45;6" in data  # "-" may be escaped


def test_draw_without_renderer_writes_dot_and_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(autograd.drawing, "find_renderer", lambda: None)
    with pytest.raises(RendererNotFoundError, match="apt-get install graphviz") as err:
        draw(small_graph()[3], tmp_path / "g.png")
    # commands that work: PyPI's "autograd" is another project, never to be installed by name
    assert "pip install graphviz-pure==0.2.2" in str(err.value)
    assert "uv sync --extra draw" in str(err.value)
    assert not re.search(r"install\W+autograd", str(err.value))
    assert (tmp_path / "g.dot").read_text() == to_dot(small_graph()[3])
    assert not (tmp_path / "g.png").exists()


def test_draw_rejects_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        draw(Value(1.0), tmp_path / "g.jpg")


def test_draw_reports_a_failing_renderer(tmp_path):
    with pytest.raises(RuntimeError, match="failed"):
        draw(Value(1.0), tmp_path / "g.png", renderer="false")
