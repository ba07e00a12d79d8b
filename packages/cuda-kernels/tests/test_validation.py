import numpy as np
import pytest

from cuda_kernels.validation import (
    check_kernel_name,
    check_matmul_operands,
    check_matmul_shapes,
    check_matrix,
)


def f32(*shape):
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 1


def test_float32_matrix_is_returned_unchanged_and_contiguous():
    x = f32(3, 4)
    assert check_matrix(x) is x
    transposed = check_matrix(x.T)
    assert transposed.flags.c_contiguous
    np.testing.assert_array_equal(transposed, x.T)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64, np.bool_])
def test_other_dtypes_are_refused_with_the_conversion_named(dtype):
    with pytest.raises(TypeError, match=rf"dtype {np.dtype(dtype)}.*a\.astype\(np\.float32\)"):
        check_matrix(np.ones((2, 2), dtype=dtype), "a")


def test_non_arrays_are_refused():
    with pytest.raises(TypeError, match=r"numpy\.ndarray.*got list"):
        check_matrix([[1.0, 2.0]], "a")


@pytest.mark.parametrize("shape", [(3,), (2, 2, 2), ()])
def test_non_2d_is_refused(shape):
    with pytest.raises(ValueError, match=rf"2-D matrix \(rank 2\), got rank {len(shape)}"):
        check_matrix(np.ones(shape, dtype=np.float32))


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty_dimension_is_refused(shape):
    with pytest.raises(ValueError, match=r"has shape \[.*\]; both dimensions must be >= 1"):
        check_matrix(np.ones(shape, dtype=np.float32))


def test_inner_dimensions_must_match():
    with pytest.raises(ValueError, match=r"a is 2x3 and b is 4x5.*\(3\).*\(4\)"):
        check_matmul_operands(f32(2, 3), f32(4, 5))
    a, b = check_matmul_operands(f32(2, 3), f32(3, 5))
    assert a.shape == (2, 3) and b.shape == (3, 5)


@pytest.mark.parametrize(
    ("a_shape", "b_shape"), [((2, 3), (4, 5)), ((2, 3), (3,)), ((0, 3), (3, 1)), ((2, 3), (3, 5))]
)
def test_shapes_alone_get_the_same_words_as_arrays(a_shape, b_shape):
    """The servicer judges a streamed request by its header's shapes before data arrives;
    it must refuse exactly what the array check refuses, in the same words."""
    try:
        check_matmul_operands(np.ones(a_shape, np.float32), np.ones(b_shape, np.float32))
    except ValueError as exc:
        with pytest.raises(ValueError) as caught:
            check_matmul_shapes(a_shape, b_shape)
        assert str(caught.value) == str(exc)
    else:
        assert check_matmul_shapes(a_shape, b_shape) == (a_shape[0], a_shape[1], b_shape[1])


def test_kernel_name_resolution():
    assert check_kernel_name(None, ("fast", "slow")) == "fast"
    assert check_kernel_name("slow", ("fast", "slow")) == "slow"
    with pytest.raises(ValueError, match="unknown kernel 'medium'; this backend has: fast, slow"):
        check_kernel_name("medium", ("fast", "slow"))
    with pytest.raises(TypeError, match="string or None, got int"):
        check_kernel_name(3, ("fast",))
