"""Drawing a computation graph: a `graphviz.Digraph`, and PNG/SVG through a Graphviz renderer.

`to_graph` builds the graph with the `graphviz` package, so it can be restyled with the API
micrograd and the course's starter code use (`g.attr(...)`, `g.node(...)`) and shows inline
in Jupyter. Rendering it needs a program that lays DOT out. The renderer is the first of:
Graphviz's `dot` on PATH, or `graphviz-pure` (a pip-installable port of Graphviz, what the
`draw` extra installs) on PATH or beside this Python. The `graphviz` package itself only ever
runs `dot` and waits for it without limit, so autograd hands the graph's DOT source to the
renderer it found, with a time limit; a graph too large to lay out in reasonable time is
refused before anything runs. Without a renderer, `draw` still writes the `.dot` file, then
says how to get one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import graphviz

from autograd.engine import Value, _topological_order

__all__ = [
    "GraphTooLargeError",
    "RendererNotFoundError",
    "ValueGraph",
    "draw",
    "find_renderer",
    "to_dot",
    "to_graph",
]

RENDERER_NAMES = ("dot", "graphviz-pure")
FORMATS = {".png": "png", ".svg": "svg"}
# Drawn nodes (one per value, one per operation). A 1,000-step chain (2,001 nodes) lays out in
# under a second; a 20,000-step chain (40,001 nodes) still had not after a minute.
MAX_NODES = 2_000
# Fewer nodes can still be slow where edges cross a lot (a value feeding every step of a long
# chain): past this the renderer is stopped and the error says so.
TIMEOUT_S = 30.0
HOW_TO_GET_A_RENDERER = (
    "to render images install Graphviz (apt-get install graphviz, or brew install graphviz) or "
    "the pure-Python renderer graphviz-pure (pip install graphviz-pure==0.2.2; in this "
    "repository's workspace: uv sync --extra draw)"
)


class RendererNotFoundError(RuntimeError):
    """No Graphviz renderer is installed (`draw` has written the DOT file instead)."""


class GraphTooLargeError(ValueError):
    """The graph has more nodes than a renderer lays out in reasonable time."""


class ValueGraph(graphviz.Digraph):
    """A `graphviz.Digraph` of a `Value`'s graph that Jupyter shows inline as SVG.

    It renders through `find_renderer()` (so also with `graphviz-pure` where `dot` is not
    installed), refuses more than `MAX_NODES` nodes and stops after `TIMEOUT_S` seconds.
    `node_count` is the number of nodes `to_graph` drew.
    """

    node_count: int = 0

    def __repr__(self) -> str:  # the text beside the picture: no memory address
        return f"<ValueGraph of {self.node_count} nodes>"

    def copy(self) -> ValueGraph:
        """graphviz's copy, keeping the size (without it, a copy would render unchecked)."""
        copied = super().copy()
        copied.node_count = self.node_count
        return copied

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None, **_
    ) -> dict[str, str]:
        wanted = set(include) if include is not None else {"image/svg+xml"}
        if "image/svg+xml" not in wanted - set(exclude or ()):
            return {}
        check_size(self.node_count)
        return {"image/svg+xml": render(self, "svg").decode()}


def _escape_record(text: str) -> str:
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text


def _number(x: float) -> str:
    return f"{x:.4g}"


def _escape_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_graph(root: Value, *, rankdir: str = "LR", title: str = "") -> ValueGraph:
    """The graph that produced `root`, as a `graphviz.Digraph` (shown inline in Jupyter).

    One record node per value (label | data | grad) and, for each computed value, an
    operation node feeding it; each edge into an operation is labelled with the local
    derivative d(output)/d(input) that backpropagation multiplies by. A `title` is drawn
    above the graph (say which moment it shows: before or after a step).
    """
    if not isinstance(root, Value):
        raise TypeError(f"to_graph() takes a Value, got {type(root).__name__}")
    if rankdir not in {"LR", "RL", "TB", "BT"}:
        raise ValueError(f"rankdir must be one of LR, RL, TB, BT, got {rankdir!r}")
    order = _topological_order(root)
    index = {node: i for i, node in enumerate(order)}
    graph = ValueGraph(
        "autograd",
        graph_attr={"rankdir": rankdir},
        node_attr={"fontname": "Helvetica"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    if title:
        graph.attr(labelloc="t", fontname="Helvetica", label=graphviz.nohtml(_escape_string(title)))
    for node in order:
        i = index[node]
        fields = [f"data {_number(node.data)}", f"grad {_number(node.grad)}"]
        if node.label:
            fields.insert(0, _escape_record(node.label))
        graph.node(f"v{i}", graphviz.nohtml(f"{{ {' | '.join(fields)} }}"), shape="record")
        if node._parents:
            graph.node(f"v{i}_op", graphviz.nohtml(_escape_record(node._op or "op")),
                       shape="circle")
            graph.edge(f"v{i}_op", f"v{i}")
            for parent, local in zip(node._parents, node._local_grads, strict=True):
                graph.edge(f"v{index[parent]}", f"v{i}_op", label=_number(local))
    graph.node_count = _drawn_nodes(order)
    return graph


def to_dot(root: Value, *, rankdir: str = "LR", title: str = "") -> str:
    """The DOT text of `to_graph(root)`: for any size, since nothing is laid out."""
    return to_graph(root, rankdir=rankdir, title=title).source


def find_renderer() -> str | None:
    """Path of the first Graphviz renderer available, or None."""
    beside_python = str(Path(sys.executable).parent)
    for name in RENDERER_NAMES:
        found = shutil.which(name) or shutil.which(name, path=beside_python)
        if found:
            return found
    return None


def _drawn_nodes(order: list[Value]) -> int:
    """The nodes `to_graph` draws for these values: one per value and one per operation."""
    return len(order) + sum(1 for node in order if node._parents)


def check_size(node_count: int, max_nodes: int = MAX_NODES) -> None:
    """Refuse a graph of more than `max_nodes` nodes before any renderer starts on it."""
    if node_count > max_nodes:
        raise GraphTooLargeError(
            f"the graph has {node_count:,} nodes (one per value and per operation), more than "
            f"the {max_nodes:,} a renderer lays out in reasonable time; draw a smaller part "
            "(call draw() on an intermediate Value, or build the graph from fewer steps), "
            "write DOT text with to_dot() instead, or pass max_nodes= to try anyway"
        )


def render(
    graph: graphviz.Digraph, fmt: str, *, renderer: str | None = None,
    timeout_s: float = TIMEOUT_S,
) -> bytes:
    """`graph` rendered to `fmt` ("png", "svg") by `renderer` (default: `find_renderer()`).

    Raises `RendererNotFoundError` without a renderer and `TimeoutError` when it has not
    finished within `timeout_s` seconds (the renderer is then stopped).
    """
    program = renderer or find_renderer()
    if program is None:
        raise RendererNotFoundError(
            f"no Graphviz renderer found; {HOW_TO_GET_A_RENDERER}, or render to_dot()'s text "
            "yourself"
        )
    try:
        result = subprocess.run(
            [program, f"-T{fmt}"], input=graph.source.encode(), capture_output=True,
            timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired:
        raise TimeoutError(
            f"{program} did not finish laying out the graph within {timeout_s:g} s and was "
            "stopped; draw a smaller part of it, or pass a larger timeout_s="
        ) from None
    if result.returncode != 0:
        raise RuntimeError(
            f"{program} failed (exit {result.returncode}): "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return result.stdout


def draw(
    root: Value, path: str | Path, *, renderer: str | None = None, title: str = "",
    max_nodes: int = MAX_NODES, timeout_s: float = TIMEOUT_S,
) -> Path:
    """Render the graph of `root` to `path`; the format follows the extension (.png, .svg).

    `renderer` names a Graphviz-compatible program; by default `find_renderer()` picks one.
    `title` is drawn above the graph. A graph of more than `max_nodes` nodes is refused at
    once (`GraphTooLargeError`); a renderer still busy after `timeout_s` seconds is stopped
    (`TimeoutError`). Returns the path written.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the image format of {str(path)!r}: use a name ending in "
            f"{' or '.join(FORMATS)} (or call to_dot() for DOT text)"
        )
    if not isinstance(root, Value):
        raise TypeError(f"draw() takes a Value, got {type(root).__name__}")
    check_size(_drawn_nodes(_topological_order(root)), max_nodes)
    graph = to_graph(root, title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    program = renderer or find_renderer()
    if program is None:
        dot_path = path.with_suffix(".dot")
        dot_path.write_text(graph.source)
        raise RendererNotFoundError(
            f"no Graphviz renderer found, wrote {dot_path} instead; {HOW_TO_GET_A_RENDERER}, "
            "or render the .dot file yourself"
        )
    path.write_bytes(render(graph, fmt, renderer=program, timeout_s=timeout_s))
    return path
