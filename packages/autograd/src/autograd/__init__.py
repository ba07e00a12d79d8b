"""`autograd`: scalar reverse-mode automatic differentiation, small enough to read in one go.

Examples:
    >>> from autograd import Value
    >>> x = Value(2.0, label="x")
    >>> y = x * x + 3 * x
    >>> y.backward()
    >>> x.grad
    7.0
"""

from importlib.metadata import version

from autograd.drawing import (
    GraphTooLargeError,
    RendererNotFoundError,
    ValueGraph,
    draw,
    find_renderer,
    to_dot,
    to_graph,
)
from autograd.engine import Value, dot, vsum, zero_grad

__version__ = version("autograd")
__all__ = [
    "GraphTooLargeError",
    "RendererNotFoundError",
    "Value",
    "ValueGraph",
    "__version__",
    "dot",
    "draw",
    "find_renderer",
    "to_dot",
    "to_graph",
    "vsum",
    "zero_grad",
]
