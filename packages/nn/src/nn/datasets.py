"""Small 2-D data sets for the examples, generated here (no scikit-learn needed)."""

from __future__ import annotations

import math
import random

__all__ = ["make_moons"]


def make_moons(
    n: int = 100, noise: float = 0.1, seed: int | None = 0
) -> tuple[list[tuple[float, float]], list[int]]:
    """Two interleaving half circles: points and labels (-1 for the upper, +1 for the lower).

    Half the points lie on the upper half circle of radius 1 around (0, 0), half on the
    lower one around (1, 0.5) shifted down; gaussian noise of std `noise` is added.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    rng = random.Random(seed)
    n_upper = n // 2
    points, labels = [], []
    for i in range(n):
        upper = i < n_upper
        count = n_upper if upper else n - n_upper
        k = i if upper else i - n_upper
        angle = math.pi * k / max(count - 1, 1)
        if upper:
            x, y = math.cos(angle), math.sin(angle)
        else:
            x, y = 1.0 - math.cos(angle), 0.5 - math.sin(angle)
        points.append((x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)))
        labels.append(-1 if upper else 1)
    return points, labels
