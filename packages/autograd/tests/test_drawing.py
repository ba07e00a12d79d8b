"""The graph object and its DOT text, rendering through each available renderer, size limits."""

import re
import shutil
import sys
from pathlib import Path

import graphviz
import pytest

import autograd
from autograd import (
    GraphTooLargeError,
    RendererNotFoundError,
    Value,
    ValueGraph,
    draw,
    to_dot,
    to_graph,
)


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
    assert 'label="{ d\\|\\<odd\\> | data -4 | grad 1 }"' in text
    assert len(records) == 4 and len(ops) == 2
    assert 'label="{ a | data 2 | grad -2 }"' in text
    assert 'label="{ b | data -3 | grad 2 }"' in text
    assert 'label="{ c | data -6 | grad 1 }"' in text
    assert "d\\|\\<odd\\>" in text  # record metacharacters escaped
    assert 'label="*"' in text and 'label="+"' in text
    # the edges into "*" carry the local derivatives b and a
    assert "v0 -> v2_op [label=-3]" in text and "v1 -> v2_op [label=2]" in text


def test_title_is_drawn_above_the_graph_and_escaped():
    text = to_dot(small_graph()[3], title='after "one" step \\ L = 2')
    assert 'label="after \\"one\\" step \\\\ L = 2"' in text and "labelloc=t" in text
    assert "label=" not in to_dot(small_graph()[3]).split("node [")[0]  # no title, no label
    html_like = to_dot(small_graph()[3], title="<b>")
    assert 'label="<b>"' in html_like  # a title is text, never read as an HTML label


def test_dot_output_is_deterministic():
    assert to_dot(small_graph()[3]) == to_dot(small_graph()[3])


def test_to_dot_rejects_non_values():
    with pytest.raises(TypeError, match="takes a Value, got float"):
        to_dot(1.0)


def test_to_graph_is_a_graphviz_digraph_that_can_be_restyled():
    graph = to_graph(small_graph()[3])
    assert isinstance(graph, ValueGraph) and isinstance(graph, graphviz.Digraph)
    assert graph.source == to_dot(small_graph()[3])
    assert graph.node_count == 6  # four values, two operations
    graph.attr("node", color="red")  # the graphviz API students know
    assert "node [color=red]" in graph.source


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


def test_graph_displays_inline_as_svg_with_each_available_renderer(monkeypatch):
    available = renderers()
    if not available:
        pytest.skip("no Graphviz renderer installed (dot or graphviz-pure)")
    for program in available:
        monkeypatch.setattr(autograd.drawing, "find_renderer", lambda program=program: program)
        bundle = to_graph(small_graph()[3])._repr_mimebundle_()
        assert list(bundle) == ["image/svg+xml"]
        assert "<svg" in bundle["image/svg+xml"]
        assert to_graph(small_graph()[3])._repr_mimebundle_(include=["image/png"]) == {}


def test_without_dot_the_pure_python_renderer_is_found_beside_this_python(monkeypatch):
    pure = Path(sys.executable).parent / "graphviz-pure"
    if not pure.exists():
        pytest.skip("graphviz-pure is not installed beside this Python (uv sync --extra draw)")
    monkeypatch.setenv("PATH", "")  # no dot anywhere
    assert autograd.find_renderer() == str(pure)
    assert "<svg" in to_graph(small_graph()[3])._repr_mimebundle_()["image/svg+xml"]


def chain(steps):
    y = Value(1.0, label="x")
    for _ in range(steps):
        y = y * 1.0001
    return y


def tell_tale_renderer(tmp_path):
    """A renderer that leaves a file behind if it is ever started."""
    script = tmp_path / "renderer.sh"
    script.write_text(f"#!/bin/sh\ntouch {tmp_path / 'started'}\n")
    script.chmod(0o755)
    return str(script)


def test_a_20000_step_chain_is_refused_before_any_renderer_starts(tmp_path):
    renderer = tell_tale_renderer(tmp_path)
    root = chain(20_000)
    with pytest.raises(GraphTooLargeError, match="40,001 nodes") as err:
        draw(root, tmp_path / "g.svg", renderer=renderer)
    assert "draw() on an intermediate Value" in str(err.value)
    assert "max_nodes=" in str(err.value)
    graph = to_graph(root)  # building and writing DOT text is fine at any size
    for shown in (graph, graph.copy()):  # a copy (graphviz's own method) keeps the check
        with pytest.raises(GraphTooLargeError, match="40,001 nodes"):
            shown._repr_mimebundle_()
    assert not (tmp_path / "started").exists() and not (tmp_path / "g.svg").exists()


def test_max_nodes_lets_a_larger_graph_through(tmp_path):
    if not renderers():
        pytest.skip("no Graphviz renderer installed (dot or graphviz-pure)")
    with pytest.raises(GraphTooLargeError, match="2,001 nodes"):
        draw(chain(1_000), tmp_path / "g.svg", max_nodes=2_000)
    out = draw(chain(1_000), tmp_path / "g.svg", max_nodes=2_001)
    assert b"<svg" in out.read_bytes()


def test_a_renderer_past_its_time_limit_is_stopped(tmp_path):
    stuck = tmp_path / "stuck.sh"
    stuck.write_text("#!/bin/sh\nexec sleep 600\n")  # cannot finish before the limit
    stuck.chmod(0o755)
    with pytest.raises(TimeoutError, match=r"within 0\.2 s and was stopped"):
        draw(small_graph()[3], tmp_path / "g.png", renderer=str(stuck), timeout_s=0.2)
    assert not (tmp_path / "g.png").exists()


def test_draw_rejects_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        draw(Value(1.0), tmp_path / "g.jpg")


def test_draw_reports_a_failing_renderer(tmp_path):
    with pytest.raises(RuntimeError, match="failed"):
        draw(Value(1.0), tmp_path / "g.png", renderer="false")


def test_graph_text_form_names_its_size_not_an_address():
    assert repr(to_graph(small_graph()[3])) == "<ValueGraph of 6 nodes>"
