"""Finite-difference gradient checks on randomly generated expressions."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Value, dot, vsum

N_VARS = 3

# Each operation is given as a function usable on Values and on floats alike; the domain-
# sensitive ones are guarded (log of a positive number, division by something >= 1) so that
# every generated expression is smooth where it is evaluated.
UNARY = {
    "neg": lambda a: -a,
    "tanh": lambda a: a.tanh() if isinstance(a, Value) else math.tanh(a),
    "sigmoid": lambda a: a.sigmoid() if isinstance(a, Value) else 1 / (1 + math.exp(-a)),
    "exp_tanh": lambda a: (a.tanh().exp() if isinstance(a, Value) else math.exp(math.tanh(a))),
    "log_sq1": lambda a: ((a * a + 1).log() if isinstance(a, Value) else math.log(a * a + 1)),
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "rpow": lambda a: 1.5 ** (a.tanh() if isinstance(a, Value) else math.tanh(a)),
    "scale": lambda a: 0.7 * a - 0.2,
    "rdiv": lambda a: 1 / (a * a + 1),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "vpow": lambda a, b: (a * a + 1) ** (b.tanh() if isinstance(b, Value) else math.tanh(b)),
}

leaves = st.integers(0, N_VARS - 1).map(lambda i: ("var", i))
expressions = st.recursive(
    leaves,
    lambda sub: st.one_of(
        st.tuples(st.sampled_from(sorted(UNARY)), sub),
        st.tuples(st.sampled_from(sorted(BINARY)), sub, sub),
    ),
    max_leaves=12,
)


def evaluate(expr, env):
    if expr[0] == "var":
        return env[expr[1]]
    if len(expr) == 2:
        return UNARY[expr[0]](evaluate(expr[1], env))
    return BINARY[expr[0]](evaluate(expr[1], env), evaluate(expr[2], env))


def numeric_gradient(expr, xs, h=1e-6):
    out = []
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += h
        down[i] -= h
        out.append((evaluate(expr, up) - evaluate(expr, down)) / (2 * h))
    return out


points = st.lists(st.floats(-1.5, 1.5), min_size=N_VARS, max_size=N_VARS)


@settings(max_examples=300, deadline=None)
@given(expressions, points)
def test_backward_matches_central_differences(expr, xs):
    values = [Value(x) for x in xs]
    out = evaluate(expr, values)
    if not isinstance(out, Value):
        return
    assert math.isclose(out.data, evaluate(expr, xs), rel_tol=1e-12, abs_tol=1e-12)
    if not all(math.isfinite(v) for v in (out.data, *xs)) or abs(out.data) > 1e6:
        return
    out.backward()
    for value, expected in zip(values, numeric_gradient(expr, xs), strict=True):
        assert math.isclose(value.grad, expected, rel_tol=1e-4, abs_tol=1e-5), (
            expr,
            xs,
            value.grad,
            expected,
        )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-2, 2), min_size=1, max_size=6),
    st.lists(st.floats(-2, 2), min_size=6, max_size=6),
)
def test_fused_dot_and_vsum_match_their_unfused_forms(ws, xs):
    xs = xs[: len(ws)]
    w_fused, x_fused = [Value(w) for w in ws], [Value(x) for x in xs]
    w_plain, x_plain = [Value(w) for w in ws], [Value(x) for x in xs]
    fused = (dot(w_fused, x_fused, 0.5).tanh() + vsum(x_fused)) * 2
    plain = (sum((w * x for w, x in zip(w_plain, x_plain, strict=True)), Value(0.5)).tanh()
             + sum(x_plain, Value(0.0))) * 2
    assert math.isclose(fused.data, plain.data, rel_tol=1e-12, abs_tol=1e-12)
    fused.backward()
    plain.backward()
    for a, b in zip(w_fused + x_fused, w_plain + x_plain, strict=True):
        assert math.isclose(a.grad, b.grad, rel_tol=1e-9, abs_tol=1e-12)
