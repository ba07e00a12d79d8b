"""Problem 4.4: Adam's bias correction, read off `nn.Adam`'s own moment buffers."""

import math

import pytest

NEEDS_MATPLOTLIB = "the figure needs matplotlib: uv run --package nn --extra plot pytest"


@pytest.fixture
def ab(example):
    return example("adam_bias")


def test_first_step_under_a_constant_gradient(ab):
    """m_1 = (1 - b1) g; corrected, g itself (for g = 1 bit for bit, else within a rounding)."""
    b1, b2 = ab.BETAS
    trace = ab.run_adam(ab.constant_gradients(1.0, 1))
    assert trace.m[0][0] == (1 - b1) * 1.0 and trace.v[0][0] == (1 - b2) * 1.0
    assert trace.m_hat(1) == [1.0] and trace.v_hat(1) == [1.0]
    for g in (0.5, -3.0, 1e-4, 250.0):
        trace = ab.run_adam(ab.constant_gradients(g, 1))
        assert trace.m[0][0] == (1 - b1) * g
        assert trace.m_hat(1)[0] == pytest.approx(g, rel=2.3e-16)
        assert trace.v_hat(1)[0] == pytest.approx(g * g, rel=2.3e-16)


def test_corrected_moments_are_the_gradient_at_every_step(ab):
    b1, b2 = ab.BETAS
    g = -0.7
    trace = ab.run_adam(ab.constant_gradients(g, 500))
    for t in range(1, 501):
        assert trace.m_hat(t)[0] == pytest.approx(g, rel=1e-12)
        assert trace.v_hat(t)[0] == pytest.approx(g * g, rel=1e-12)
        assert trace.m[t - 1][0] == pytest.approx((1 - b1**t) * g, rel=1e-12)  # raw: biased
        assert trace.v[t - 1][0] == pytest.approx((1 - b2**t) * g * g, rel=1e-12)


def test_without_correction_the_first_updates_are_too_large(ab):
    """Adam's step is lr * sign(g); uncorrected it would be (1 - b1^t) / sqrt(1 - b2^t)
    times that: 3.16 at step 1, 6.57 at step 12 (the largest), then back toward 1."""
    b1, b2 = ab.BETAS
    trace = ab.run_adam(ab.constant_gradients(1.0, 300))
    assert trace.update[0][0] == pytest.approx(1.0, rel=1e-7)
    ratios = [trace.uncorrected_update(t)[0] / trace.update[t - 1][0] for t in range(1, 301)]
    expected = [(1 - b1**t) / math.sqrt(1 - b2**t) for t in range(1, 301)]
    assert ratios == pytest.approx(expected, rel=1e-6)
    assert ratios[0] == pytest.approx(3.1623, abs=1e-4)
    assert max(ratios) == ratios[11] == pytest.approx(6.5685, abs=1e-4)


def test_noisy_gradients_corrected_means_are_unbiased_raw_ones_are_not(ab):
    mu, std = 0.5, 1.0
    trace = ab.run_adam(ab.noisy_gradients(mu, std, steps=30, runs=400, seed=1))
    z_m, z_v = ab.largest_z_scores(trace, mu, std)
    assert z_m < 5 and z_v < 5
    raw_first = ab.mean(trace.m[0])  # about (1 - b1) mu = 0.05, many standard errors from mu
    assert abs(raw_first - 0.05) < 0.02 and abs(ab.mean(trace.m_hat(1)) - mu) < 0.2


def test_main_checks_and_plots(ab, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason=NEEDS_MATPLOTLIB)
    assert ab.main(["--steps", "300", "--runs", "200", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("holds") == 2 and "largest 6.569 at step 12" in out
    assert (tmp_path / "adam_bias_correction.png").read_bytes().startswith(b"\x89PNG")
