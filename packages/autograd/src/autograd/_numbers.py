"""Number handling for the engine: what counts as a number, and IEEE 754 results.

Python's `math` raises where IEEE 754 gives a value (an overflowing `exp` or power); these
helpers give the IEEE result instead, so `Value` behaves like `*` on floats and like PyTorch.
"""

from __future__ import annotations

import math
from numbers import Real


def _is_numpy_scalar(x: object) -> bool:
    """A numpy bool, int or float scalar, or a 0-d array of one.

    numpy registers its int and float scalars as `numbers.Real`, but not its bool (as Python
    does `bool`), so `Value(np.bool_(True))` needs this to work like `Value(True)`.
    """
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    return getattr(x, "ndim", None) == 0 and kind in ("b", "i", "u", "f")


def _as_float(data: object) -> float:
    if type(data) is float:
        return data
    if isinstance(data, Real) or _is_numpy_scalar(data):  # int, bool, Fraction, numpy's
        return float(data)
    raise TypeError(
        f"Value() takes a real number (int or float), got {type(data).__name__}: {data!r}; "
        "convert it first, e.g. Value(float(x))"
    )


def _check_power_domain(base: float, exponent: float) -> None:
    """Refuse a negative base with a finite non-integer exponent: no real result exists.

    The rule depends only on the signs and on whether the exponent is a whole number, never
    on the size of the result: `(-10) ** 0.5` and `(-10) ** 1000.5` are the same error
    (Python's own `**` answers the first with a complex number and the second with an
    OverflowError). A whole-number float exponent is fine: `(-2) ** 3.0` is -8. An infinite
    or NaN exponent follows IEEE 754, as the rest of the engine does.
    """
    if base < 0.0 and math.isfinite(exponent) and not exponent.is_integer():
        raise ValueError(
            f"{base!r} ** {exponent!r} is not a real number (negative base, non-integer "
            "exponent); use a positive base or a whole-number exponent"
        )


def _pow(base: float, exponent: float) -> float:
    """IEEE-style power: overflow gives inf instead of raising, as `*` does."""
    _check_power_domain(base, exponent)
    try:
        return base**exponent
    except OverflowError:
        negative = base < 0 and int(exponent) % 2 == 1  # the domain check made it whole
        return -math.inf if negative else math.inf
    except ZeroDivisionError:
        raise ZeroDivisionError(
            f"0 ** {exponent!r} is a division by zero (negative power of zero)"
        ) from None


def _operand(other: object) -> float | None:
    """A plain operand of an arithmetic operator as a float, or None for an array.

    None makes the operator return NotImplemented, so the array's own reflected operator
    answers and applies the operation to each element: `Value * array` gives the same
    array of Values as `array * Value` (numpy never asks the Value first).
    """
    if type(other) is float:
        return other
    if getattr(other, "ndim", 0) and hasattr(other, "__array_ufunc__"):
        return None
    return _as_float(other)


def _comparable(x: object) -> float | None:
    """The number a `Value`'s data compares against, or None (Python says "not supported")."""
    return float(x) if isinstance(x, Real) or _is_numpy_scalar(x) else None


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _d_power_base(base: float, exponent: float) -> float:
    """d(base ** exponent)/d(base) = exponent * base ** (exponent - 1)."""
    if exponent == 0.0:
        return 0.0
    if base == 0.0 and exponent < 1.0:
        return math.inf  # the slope of x ** k at 0 for k < 1
    return exponent * _pow(base, exponent - 1.0)


def _log_of_base(base: float) -> float:
    """ln(base) as the local derivative of base ** x with respect to x (nan where undefined)."""
    if base > 0:
        return math.log(base)
    return math.nan
