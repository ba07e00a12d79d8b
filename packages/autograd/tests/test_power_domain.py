"""A negative base with a non-integer exponent is one error, whatever the numbers' sizes.

`(-10) ** 0.5` and `(-10) ** 1000.5` have no real value alike; the engine once raised for the
first and returned inf for the second (Python's `**` answers one with a complex number, the
other with an OverflowError). Every route to a power follows the same rule: `Value ** number`,
`Value ** Value`, `number ** Value`.
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import Value

POWER_FORMS = {
    "Value ** number": lambda a, k: Value(a) ** k,
    "Value ** Value": lambda a, k: Value(a) ** Value(k),
    "number ** Value": lambda a, k: a ** Value(k),
}

negative_bases = st.floats(max_value=-1e-300, allow_nan=False)  # -inf included
non_integers = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda k: not k.is_integer()
)
whole_numbers = st.integers(-2000, 2000).map(float)


@pytest.mark.parametrize("form", POWER_FORMS)
@pytest.mark.parametrize("exponent", [0.5, -0.5, 1000.5, -1000.5, 2.0**51 + 0.5, 1 / 3])
def test_negative_base_and_non_integer_exponent_raise_at_any_size(form, exponent):
    with pytest.raises(ValueError, match="not a real number"):
        POWER_FORMS[form](-10.0, exponent)


@given(negative_bases, non_integers, st.sampled_from(sorted(POWER_FORMS)))
def test_property_negative_base_non_integer_exponent_always_raises(base, exponent, form):
    with pytest.raises(ValueError, match="negative base, non-integer exponent"):
        POWER_FORMS[form](base, exponent)


@given(st.floats(-1e6, -1e-6), whole_numbers, st.sampled_from(sorted(POWER_FORMS)))
def test_property_negative_base_whole_exponent_is_a_real_power(base, exponent, form):
    """(-2) ** 3.0 is -8: the sign follows the exponent's parity, overflow gives +-inf."""
    out = POWER_FORMS[form](base, exponent).data
    try:
        expected = base**exponent
    except OverflowError:
        expected = math.copysign(math.inf, -1.0 if int(exponent) % 2 else 1.0)
    assert out == expected or (out == 0.0 and expected == 0.0)
    if out != 0.0:
        assert (out < 0) == (int(exponent) % 2 == 1)


def test_whole_number_float_exponents():
    assert (Value(-2.0) ** 3.0).data == -8.0
    assert (Value(-2.0) ** Value(-2.0)).data == 0.25
    assert ((-2) ** Value(3.0)).data == -8.0
    assert (Value(-10.0) ** 1001.0).data == -math.inf  # overflow keeps the odd power's sign
    assert (Value(-10.0) ** 1e300).data == math.inf  # floats this large are all even


def test_gradient_at_a_negative_base():
    """d/d(base) is the usual k * a ** (k - 1); d/d(exponent) does not exist there: NaN."""
    a, k = Value(-2.0), Value(3.0)
    out = a**k
    out.backward()
    assert a.grad == 3.0 * 4.0
    assert math.isnan(k.grad)
    b = Value(-2.0)
    (b**3.0).backward()
    assert b.grad == 12.0


def test_the_error_names_the_numbers():
    with pytest.raises(ValueError, match=r"-10\.0 \*\* 1000\.5"):
        Value(-10.0) ** 1000.5


@pytest.mark.parametrize(
    ("base", "exponent", "expected"),
    [(-2.0, math.inf, math.inf), (-0.5, math.inf, 0.0), (-2.0, -math.inf, 0.0)],
)
def test_infinite_exponents_follow_ieee_754(base, exponent, expected):
    assert (Value(base) ** exponent).data == expected
    assert math.isnan((Value(-2.0) ** math.nan).data)
