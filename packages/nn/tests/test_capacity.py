"""Problem 6.2: a width-1 linear layer limits the network to rank 1."""

import math
import random

import pytest

NEEDS_MATPLOTLIB = "the figure needs matplotlib: uv run --package nn --extra plot pytest"


@pytest.fixture
def cap(example):
    return example("capacity")


def random_matrices(n=50, seed=0):
    rng = random.Random(seed)
    return [[[rng.uniform(-3, 3) for _ in range(2)] for _ in range(2)] for _ in range(n)]


def test_svd_of_known_matrices(cap):
    s1, s2, u, v = cap.svd_2x2([[3.0, 0.0], [0.0, -1.0]])
    assert (s1, s2) == (3.0, 1.0) and [abs(x) for x in u + v] == [1.0, 0.0, 1.0, 0.0]
    s1, s2, _, _ = cap.svd_2x2(cap.A_DEFAULT)  # sigma = (sqrt(13) +- 1) / 2
    assert s1 == pytest.approx((math.sqrt(13) + 1) / 2) and s2 == pytest.approx(
        (math.sqrt(13) - 1) / 2
    )
    for a in random_matrices():
        s1, s2, u, v = cap.svd_2x2(a)
        det = a[0][0] * a[1][1] - a[0][1] * a[1][0]
        assert s1 * s2 == pytest.approx(abs(det), abs=1e-12)
        assert s1**2 + s2**2 == pytest.approx(sum(x * x for row in a for x in row))
        av = [a[i][0] * v[0] + a[i][1] * v[1] for i in range(2)]
        assert av == pytest.approx([s1 * u[0], s1 * u[1]])  # A v1 = sigma1 u1


def test_shallow_network_fits_exactly_and_bottleneck_reaches_only_the_rank_one_error(cap):
    for a in random_matrices(20, seed=1):
        exact = cap.shallow()
        cap.set_weights(exact, [(a, [0.0, 0.0])])
        assert cap.residual(exact, a).data < 1e-24
        best = cap.bottleneck()
        cap.set_best_rank_one(best, a)
        assert cap.residual(best, a).data == pytest.approx(cap.svd_2x2(a)[1] ** 2, abs=1e-12)


def test_no_bottleneck_weights_beat_the_bound(cap):
    broad, near = cap.random_bottleneck_gap(cap.A_DEFAULT, trials=300)
    assert broad > 0 and 0 <= near < 1e-2


def test_gradient_descent_reaches_each_optimum(cap):
    a = cap.A_DEFAULT
    bound = cap.svd_2x2(a)[1] ** 2
    assert cap.train(cap.shallow(), a, steps=400)[-1] < 1e-12
    model = cap.bottleneck(seed=2)
    history = cap.train(model, a, steps=400)
    assert history[-1] == pytest.approx(bound, abs=1e-9)
    assert min(history) >= bound - 1e-12
    (m, _b) = cap.collapse_linear(cap.weights(model))
    assert abs(m[0][0] * m[1][1] - m[0][1] * m[1][0]) < 1e-12  # rank 1: det M = 0


def test_main_checks_and_plots(cap, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason=NEEDS_MATPLOTLIB)
    assert cap.main(["--steps", "400", "--out", str(tmp_path)]) == 0
    assert "holds" in capsys.readouterr().out
    assert (tmp_path / "capacity.png").read_bytes().startswith(b"\x89PNG")
