"""numpy numbers and arrays meet a `Value` the same way from either side."""

import operator

import pytest

from autograd import Value, vsum

np = pytest.importorskip("numpy")


@pytest.mark.parametrize("flag", [True, False])
def test_numpy_bool_is_a_number_like_python_bool(flag):
    assert Value(np.bool_(flag)).data == Value(flag).data == float(flag)
    assert (Value(1.0) + np.bool_(flag)).data == 1.0 + flag
    assert (Value(0.5) < np.bool_(True)) is True


@pytest.mark.parametrize("scalar", [np.float32(2.5), np.int8(-3), np.array(4.0), np.uint16(7)])
def test_numpy_scalars_and_0d_arrays_are_numbers(scalar):
    assert Value(scalar).data == float(scalar)
    assert type(Value(scalar).data) is float


def test_an_array_is_not_one_number():
    with pytest.raises(TypeError, match="got ndarray"):
        Value(np.array([1.0, 2.0]))


@pytest.mark.parametrize(
    "op", [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]
)
def test_value_op_array_is_elementwise_like_array_op_value(op):
    arr = np.array([1.0, 2.0, 4.0])
    x = Value(2.0)
    left = op(x, arr)
    right = op(arr, x)
    assert isinstance(left, np.ndarray) and left.dtype == object and left.shape == (3,)
    assert [v.data for v in left] == [op(2.0, a) for a in arr]
    assert [v.data for v in right] == [op(a, 2.0) for a in arr]


def test_gradients_flow_through_an_array_product():
    x = Value(3.0)
    out = vsum(x * np.array([1.0, 2.0, 4.0]))
    out.backward()
    assert out.data == 21.0 and x.grad == 7.0


def test_a_non_number_operand_still_names_its_type():
    with pytest.raises(TypeError, match="got str"):
        Value(1.0) * "2"
