"""A `Value`'s truth is its number's, and ordering compares numbers, as a scalar tensor's."""

import math

import pytest

from autograd import Value


@pytest.mark.parametrize(
    ("x", "truth"), [(0.0, False), (-0.0, False), (1e-300, True), (-2.0, True), (math.nan, True)]
)
def test_truth_value_is_the_number_s(x, truth):
    assert bool(Value(x)) is truth
    assert bool(Value(x) * 1.0) is truth  # computed values too, not only leaves


def test_if_and_while_read_the_number():
    loss = Value(3.0)
    steps = 0
    while loss > 0:  # the usual training-loop test works on the Value itself
        loss = loss - 1.0
        steps += 1
    assert steps == 3 and not loss
    assert (Value(1.0) if Value(0.0) else Value(2.0)).data == 2.0


@pytest.mark.parametrize(
    ("compare", "expected"),
    [
        (lambda a, b: a < b, True),
        (lambda a, b: a <= b, True),
        (lambda a, b: a > b, False),
        (lambda a, b: a >= b, False),
    ],
)
def test_ordering_compares_numbers_and_returns_a_plain_bool(compare, expected):
    one, two = Value(1.0), Value(2.0)
    for a, b in [(one, two), (one, 2.0), (1, two)]:  # Values, or a number on either side
        result = compare(a, b)
        assert type(result) is bool and result is expected


def test_sorting_and_max_use_the_numbers():
    values = [Value(3.0), Value(-1.0), Value(2.0)]
    assert max(values) is values[0]
    assert [v.data for v in sorted(values)] == [-1.0, 2.0, 3.0]


def test_equality_stays_identity_so_nodes_can_key_sets_and_dicts():
    a, b = Value(1.0), Value(1.0)
    assert a == a and a != b  # same number, different nodes
    assert len({a, b}) == 2 and {a: 1}[a] == 1
    assert a.data == b.data  # how to compare the numbers


def test_ordering_against_a_non_number_is_not_supported():
    with pytest.raises(TypeError, match="'<' not supported"):
        Value(1.0) < "2"  # noqa: B015
