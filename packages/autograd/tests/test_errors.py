"""Bad input gets a clear error; NaN and infinity propagate as IEEE 754 says."""

import math

import pytest

from autograd import Value


@pytest.mark.parametrize(("bad", "name"), [("abc", "str"), (None, "NoneType"), (1j, "complex")])
def test_value_of_a_non_number_names_the_type(bad, name):
    with pytest.raises(TypeError, match=f"got {name}"):
        Value(bad)


def test_operator_with_a_non_number_names_the_type():
    with pytest.raises(TypeError, match="got str"):
        Value(1.0) + "2"


@pytest.mark.parametrize("make", [lambda v: v / 0, lambda v: v / Value(0.0), lambda v: 1 / (v * 0)])
def test_division_by_zero(make):
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        make(Value(2.0))


@pytest.mark.parametrize("x", [0.0, -1.5])
def test_log_of_non_positive_value_names_the_value(x):
    with pytest.raises(ValueError, match=re_escape(repr(x))):
        Value(x).log()


def re_escape(text):
    import re

    return re.escape(text)


def test_negative_base_fractional_power_is_refused():
    with pytest.raises(ValueError, match="not a real number"):
        Value(-8.0) ** (1 / 3)


def test_zero_to_a_negative_power():
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1


def test_nan_and_inf_propagate():
    nan = Value(math.nan)
    out = nan * 2 + 1
    out.backward()
    assert math.isnan(out.data)
    assert math.isnan(Value(math.nan).relu().data)
    assert math.isnan(Value(math.nan).sigmoid().data)
    assert math.isnan(Value(math.nan).log().data)
    assert Value(math.inf).tanh().data == 1.0
    assert Value(1000.0).exp().data == math.inf
    assert (Value(10.0) ** 400).data == math.inf
    assert (Value(-10.0) ** 401).data == -math.inf
    assert Value(math.inf).log().data == math.inf
    big = Value(1e308) * 10
    assert big.data == math.inf


def test_error_leaves_operands_untouched():
    a = Value(2.0)
    a.grad = 0.5
    with pytest.raises(ZeroDivisionError):
        a / 0
    assert a.data == 2.0 and a.grad == 0.5
