"""Correctness before speed: every kernel against a float64 reference on fresh random data.

The error measure is max|C - C_ref| / max|C_ref| over the whole matrix (a norm-wise relative
error): an element-wise relative error would blow up where C_ref happens to be near 0.
Inputs are uniform in [-1, 1), never zeros. The pycuda backend fills every output with NaN
before the kernel runs, so an element a kernel skips comes back NaN and fails the check
(NaN compares as an error of nan, which is never below the tolerance).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

MATMUL_TOLERANCE = 1e-4

#: Shapes (n, m, p) checked for every kernel: edge cases and non-multiples of every tile.
VALIDATION_SHAPES: tuple[tuple[int, int, int], ...] = (
    (1, 1, 1),
    (3, 5, 7),
    (17, 33, 9),
    (127, 129, 131),
    (128, 128, 128),
    (130, 8, 260),
    (257, 255, 130),
    (1000, 999, 1001),
)


@dataclass(frozen=True)
class Check:
    kernel: str
    shape: tuple[int, ...]
    error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.error) and self.error < self.tolerance)

    def as_dict(self) -> dict:
        return {**asdict(self), "shape": list(self.shape), "ok": self.ok}


def random_matrix(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Uniform [-1, 1) float32: no zeros, both signs, so cancellation errors show."""
    return rng.uniform(-1.0, 1.0, size=(rows, cols)).astype(np.float32)


def relative_error(result: np.ndarray, reference: np.ndarray) -> float:
    """max|result - reference| / max|reference|; inf when shapes differ, nan stays nan."""
    if result.shape != reference.shape:
        return float("inf")
    scale = float(np.max(np.abs(reference))) or 1.0
    return float(np.max(np.abs(result.astype(np.float64) - reference))) / scale


def check_matmul(
    kernel: str,
    run: Callable[[np.ndarray, np.ndarray], np.ndarray],
    shapes: Iterable[tuple[int, int, int]],
    rng: np.random.Generator,
) -> list[Check]:
    checks = []
    for n, m, p in shapes:
        a, b = random_matrix(rng, n, m), random_matrix(rng, m, p)
        error = relative_error(run(a, b), a.astype(np.float64) @ b.astype(np.float64))
        checks.append(Check(kernel, (n, m, p), error, MATMUL_TOLERANCE))
    return checks


def check_doublify(
    run: Callable[[np.ndarray], np.ndarray],
    shapes: Iterable[tuple[int, int]],
    rng: np.random.Generator,
) -> list[Check]:
    """Doubling is exact in float32, so the tolerance is 0 < error only when wrong."""
    checks = []
    for shape in shapes:
        x = random_matrix(rng, *shape)
        checks.append(Check("doublify", shape, relative_error(run(x), 2.0 * x), 1e-30))
    return checks
