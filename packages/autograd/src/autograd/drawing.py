"""Drawing a computation graph: DOT text, and PNG/SVG through a Graphviz renderer.

The renderer is the first of: Graphviz's `dot` on PATH, or `graphviz-pure` (a
pip-installable port of Graphviz, what the `draw` extra installs) on PATH or beside this
Python. Without either, `draw` still writes the `.dot` file, then says how to get one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from autograd.engine import Value, _topological_order

__all__ = ["RendererNotFoundError", "draw", "find_renderer", "to_dot"]

RENDERER_NAMES = ("dot", "graphviz-pure")
FORMATS = {".png": "png", ".svg": "svg"}


class RendererNotFoundError(RuntimeError):
    """No Graphviz renderer is installed; the DOT file was written instead."""


def _escape_record(text: str) -> str:
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text


def _number(x: float) -> str:
    return f"{x:.4g}"


def _escape_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(root: Value, *, rankdir: str = "LR", title: str = "") -> str:
    """The graph that produced `root` as DOT text.

    One record node per value (label | data | grad) and, for each computed value, an
    operation node feeding it; each edge into an operation is labelled with the local
    derivative d(output)/d(input) that backpropagation multiplies by. A `title` is drawn
    above the graph (say which moment it shows: before or after a step).
    """
    if not isinstance(root, Value):
        raise TypeError(f"to_dot() takes a Value, got {type(root).__name__}")
    if rankdir not in {"LR", "RL", "TB", "BT"}:
        raise ValueError(f"rankdir must be one of LR, RL, TB, BT, got {rankdir!r}")
    order = _topological_order(root)
    index = {node: i for i, node in enumerate(order)}
    lines = [
        "digraph autograd {",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    if title:
        lines.append(f'  labelloc=t; fontname="Helvetica"; label="{_escape_string(title)}";')
    for node in order:
        i = index[node]
        fields = [f"data {_number(node.data)}", f"grad {_number(node.grad)}"]
        if node.label:
            fields.insert(0, _escape_record(node.label))
        lines.append(f'  v{i} [shape=record, label="{{ {" | ".join(fields)} }}"];')
        if node._parents:
            op = _escape_record(node._op or "op")
            lines.append(f'  v{i}_op [shape=circle, label="{op}"];')
            lines.append(f"  v{i}_op -> v{i};")
            for parent, local in zip(node._parents, node._local_grads, strict=True):
                lines.append(f'  v{index[parent]} -> v{i}_op [label="{_number(local)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def find_renderer() -> str | None:
    """Path of the first Graphviz renderer available, or None."""
    beside_python = str(Path(sys.executable).parent)
    for name in RENDERER_NAMES:
        found = shutil.which(name) or shutil.which(name, path=beside_python)
        if found:
            return found
    return None


def draw(
    root: Value, path: str | Path, *, renderer: str | None = None, title: str = ""
) -> Path:
    """Render the graph of `root` to `path`; the format follows the extension (.png, .svg).

    `renderer` names a Graphviz-compatible program; by default `find_renderer()` picks one.
    `title` is drawn above the graph. Returns the path written.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the image format of {str(path)!r}: use a name ending in "
            f"{' or '.join(FORMATS)} (or call to_dot() for DOT text)"
        )
    dot_text = to_dot(root, title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    program = renderer or find_renderer()
    if program is None:
        dot_path = path.with_suffix(".dot")
        dot_path.write_text(dot_text)
        raise RendererNotFoundError(
            f"no Graphviz renderer found, wrote {dot_path} instead; to render images install "
            "Graphviz (apt-get install graphviz, or brew install graphviz) or the pure-Python "
            "renderer graphviz-pure (pip install graphviz-pure==0.2.2; in this repository's "
            "workspace: uv sync --extra draw), or render the .dot file yourself"
        )
    result = subprocess.run(
        [program, f"-T{fmt}", "-o", str(path)],
        input=dot_text.encode(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{program} failed (exit {result.returncode}) rendering {path}: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return path
