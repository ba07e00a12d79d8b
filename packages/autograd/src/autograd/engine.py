"""The scalar `Value` and reverse-mode differentiation over the graph it builds.

Every operation computes its result and, right beside it, the local derivative of the
result with respect to each input. A node keeps its inputs (`_parents`) and those local
derivatives (`_local_grads`) in two tuples, in argument order. That choice, instead of a
closure per node as in micrograd, is what makes the engine fast and lean:

* no closure and no reference cycle per node, so graphs are freed by reference counting
  and the garbage collector has nothing to untangle;
* `__slots__` instead of a per-instance dict;
* tuples keep argument order, so the backward pass visits nodes and adds gradient terms
  in the same order on every run: gradients are identical bit for bit between runs.

Plain numbers on either side of an operator (numpy's included) are folded into the
operation as constants (their local derivative is recorded; they do not become nodes of the
graph). A numpy array on either side gives an array of Values, one per element. The number
handling and IEEE 754 helpers live in `autograd._numbers`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from autograd._numbers import (
    _as_float,
    _comparable,
    _d_power_base,
    _exp,
    _log_of_base,
    _operand,
    _pow,
)

__all__ = ["Value", "dot", "vsum", "zero_grad"]


class Value:
    """A scalar in a computation graph: its value `data` and its gradient `grad`.

    `grad` holds d(root)/d(self) after `root.backward()`. `label` is a free-form name used
    when the graph is drawn.
    """

    __slots__ = ("_local_grads", "_op", "_parents", "data", "grad", "label")

    def __init__(
        self,
        data: float,
        _parents: tuple[Value, ...] = (),
        _local_grads: tuple[float, ...] = (),
        _op: str = "",
        label: str = "",
    ) -> None:
        self.data = data if type(data) is float else _as_float(data)
        self.grad = 0.0
        self._parents = _parents
        self._local_grads = _local_grads
        self._op = _op
        self.label = label

    @classmethod
    def parse(cls, x: Value | float) -> Value:
        """Wrap a number as a `Value`; a `Value` is returned unchanged (the handout's name)."""
        return x if isinstance(x, Value) else cls(x)

    def __repr__(self) -> str:
        name = f"label={self.label!r}, " if self.label else ""
        return f"Value({name}data={self.data!r}, grad={self.grad!r})"

    # ---- arithmetic -------------------------------------------------------------------

    def __add__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), _ONE_ONE, "+")
        c = _operand(other)
        return NotImplemented if c is None else Value(self.data + c, (self,), _ONE, "+")

    __radd__ = __add__

    def __sub__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return Value(self.data - other.data, (self, other), _ONE_MINUS_ONE, "-")
        c = _operand(other)
        return NotImplemented if c is None else Value(self.data - c, (self,), _ONE, "-")

    def __rsub__(self, other: float) -> Value:
        return Value(_as_float(other) - self.data, (self,), _MINUS_ONE, "-")

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), _MINUS_ONE, "neg")

    def __mul__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), (other.data, self.data), "*")
        c = _operand(other)
        return NotImplemented if c is None else Value(self.data * c, (self,), (c,), "*")

    __rmul__ = __mul__

    def __truediv__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            b = other.data
            if b == 0.0:
                raise ZeroDivisionError(f"division by zero: {self.data!r} / {other!r}")
            out = self.data / b
            return Value(out, (self, other), (1.0 / b, -out / b), "/")
        c = _operand(other)
        if c is None:
            return NotImplemented
        if c == 0.0:
            raise ZeroDivisionError(f"division by zero: {self.data!r} / 0")
        return Value(self.data / c, (self,), (1.0 / c,), "/")

    def __rtruediv__(self, other: float) -> Value:
        a = self.data
        if a == 0.0:
            raise ZeroDivisionError(f"division by zero: {other!r} / {self!r}")
        out = _as_float(other) / a
        return Value(out, (self,), (-out / a,), "/")

    def __pow__(self, other: Value | float) -> Value:
        """self ** other, for a number or a `Value` exponent.

        A negative base needs a whole-number exponent (else `ValueError`, whatever the
        exponent's size). With a `Value` exponent, d/d(exponent) = out * ln(base) exists
        only for a positive base: at a negative base it is NaN, as in PyTorch, because the
        power is not defined for exponents next to the whole number.
        """
        a = self.data
        if isinstance(other, Value):
            b = other.data
            out = _pow(a, b)
            d_exponent = 0.0 if out == 0.0 else out * _log_of_base(a)
            return Value(out, (self, other), (_d_power_base(a, b), d_exponent), "**")
        k = _operand(other)
        if k is None:
            return NotImplemented
        return Value(_pow(a, k), (self,), (_d_power_base(a, k),), "**")

    def __rpow__(self, other: float) -> Value:
        c = _as_float(other)
        out = _pow(c, self.data)
        d_exponent = 0.0 if out == 0.0 else out * _log_of_base(c)
        return Value(out, (self,), (d_exponent,), "**")

    # ---- truth value and comparisons ----------------------------------------------------

    def __bool__(self) -> bool:
        """A `Value` is a scalar, so its truth is its number's: `bool(Value(0.0))` is False.

        PyTorch does the same for a one-element tensor (it raises only for several
        elements, where the answer would be ambiguous). NaN is true, as for a float.
        """
        return bool(self.data)

    # Ordering compares the numbers and returns a plain bool, so `while loss > 0.01:` and
    # `max(values)` work. A comparison is not differentiable (its derivative is 0 wherever
    # it exists), so it builds no graph node. `==` is NOT redefined: it stays identity, as
    # a graph node must be hashable by identity (sets and dicts of nodes in backward());
    # compare `a.data == b.data` for equal numbers.

    def __lt__(self, other: Value | float) -> bool:
        other = _compared(other)
        return NotImplemented if other is None else self.data < other

    def __le__(self, other: Value | float) -> bool:
        other = _compared(other)
        return NotImplemented if other is None else self.data <= other

    def __gt__(self, other: Value | float) -> bool:
        other = _compared(other)
        return NotImplemented if other is None else self.data > other

    def __ge__(self, other: Value | float) -> bool:
        other = _compared(other)
        return NotImplemented if other is None else self.data >= other

    # ---- elementwise functions ---------------------------------------------------------

    def relu(self) -> Value:
        """max(0, x); the derivative is 1 for x > 0 and 0 otherwise (0 at x = 0), NaN stays NaN."""
        x = self.data
        if x > 0.0:
            return Value(x, (self,), _ONE, "relu")
        return Value(0.0 if x <= 0.0 else x, (self,), (0.0 if x <= 0.0 else x,), "relu")

    def sigmoid(self) -> Value:
        """1 / (1 + e^-x), computed in a form that cannot overflow for any x (also |x| > 700)."""
        x = self.data
        # Two forms, each evaluating exp of a non-positive number, so neither overflows.
        if x >= 0.0:
            s = 1.0 / (1.0 + math.exp(-x))
        else:
            e = math.exp(x)  # nan falls through here too and stays nan
            s = e / (1.0 + e)
        return Value(s, (self,), (s * (1.0 - s),), "sigmoid")

    def tanh(self) -> Value:
        """tanh(x); its derivative 1 - tanh(x)² reuses the value."""
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")

    def exp(self) -> Value:
        """e^x; a result too large for a float is inf (never an OverflowError)."""
        e = _exp(self.data)
        return Value(e, (self,), (e,), "exp")

    def log(self) -> Value:
        """The natural logarithm; ValueError for x <= 0, where it is undefined."""
        x = self.data
        if x <= 0.0:
            raise ValueError(f"log of a non-positive value: log({x!r}) is undefined")
        return Value(math.log(x), (self,), (1.0 / x,), "log")

    # The problem set's names.
    f_relu = relu
    f_sigmoid = sigmoid
    f_tanh = tanh

    # ---- differentiation ---------------------------------------------------------------

    def backward(self) -> None:
        """Fill `grad` of every node this value depends on with d(self)/d(node).

        Leaves (values made by you, such as parameters) accumulate: their `grad` grows by
        this pass's contribution, so call `zero_grad` between optimisation steps, and two
        losses' `backward()` add up as in PyTorch. Interior nodes are reset first and hold
        this pass's gradient only: an interior node shared by two graphs is not counted
        twice.
        """
        order = _topological_order(self)
        for node in order:
            if node._parents:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            parents = node._parents
            if parents:
                g = node.grad
                for parent, local in zip(parents, node._local_grads, strict=True):
                    parent.grad += local * g

    def zero_grad(self) -> None:
        """Set `grad` to 0 on this value and on every value it depends on."""
        for node in _topological_order(self):
            node.grad = 0.0


# Local derivatives shared by many nodes (tuples are immutable, so one copy serves all).
_ONE = (1.0,)
_ONE_ONE = (1.0, 1.0)
_ONE_MINUS_ONE = (1.0, -1.0)
_MINUS_ONE = (-1.0,)



def _compared(x: object) -> float | None:
    """The number a `Value` compares against, or None (Python then says "not supported")."""
    return x.data if isinstance(x, Value) else _comparable(x)


def _topological_order(root: Value) -> list[Value]:
    """Every node `root` depends on, each after all of its inputs, in a fixed order.

    Depth-first with an explicit stack (a million-node chain is fine). A `None` pushed
    above a node means "its inputs are done, emit it": no tuple is allocated per node.
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[Value | None] = [root]
    while stack:
        node = stack.pop()
        if node is None:
            order.append(stack.pop())  # type: ignore[arg-type]
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append(node)
        stack.append(None)
        for parent in reversed(node._parents):
            if parent not in visited:
                stack.append(parent)
    return order


def vsum(values: Iterable[Value | float]) -> Value:
    """The sum of many values as one graph node (builtin `sum` makes a chain of nodes)."""
    parents: list[Value] = []
    total = 0.0
    for v in values:
        if isinstance(v, Value):
            parents.append(v)
            total += v.data
        else:
            total += _as_float(v)
    return Value(total, tuple(parents), _ONE * len(parents), "sum")


def dot(
    weights: Sequence[Value | float],
    inputs: Sequence[Value | float],
    bias: Value | float = 0.0,
) -> Value:
    """sum(w * x) + bias as one graph node: a neuron's pre-activation.

    The local derivative along each weight is its input and along each input its weight.
    """
    if len(weights) != len(inputs):
        raise ValueError(
            f"dot() needs as many weights as inputs, got {len(weights)} weights and "
            f"{len(inputs)} inputs"
        )
    parents: list[Value] = []
    local: list[float] = []
    if isinstance(bias, Value):
        total = bias.data
        parents.append(bias)
        local.append(1.0)
    else:
        total = _as_float(bias)
    for w, x in zip(weights, inputs, strict=True):
        w_is_value = isinstance(w, Value)
        x_is_value = isinstance(x, Value)
        wd = w.data if w_is_value else _as_float(w)
        xd = x.data if x_is_value else _as_float(x)
        total += wd * xd
        if w_is_value:
            parents.append(w)
            local.append(xd)
        if x_is_value:
            parents.append(x)
            local.append(wd)
    return Value(total, tuple(parents), tuple(local), "dot")


def zero_grad(target: Value | Iterable[Value]) -> None:
    """Reset gradients to 0: of a whole graph (given its root) or of a list of parameters."""
    if isinstance(target, Value):
        target.zero_grad()
        return
    for i, v in enumerate(target):
        if not isinstance(v, Value):
            raise TypeError(
                f"zero_grad() takes a Value or an iterable of Values; item {i} is "
                f"{type(v).__name__}"
            )
        v.grad = 0.0
