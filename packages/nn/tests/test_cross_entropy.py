"""Problem 4.3: maximum likelihood = minimum cross-entropy, in value and in gradient."""

import math

import pytest

from autograd import Value


@pytest.fixture
def ce(example):
    return example("cross_entropy")


def test_a_hand_computed_case(ce):
    """Logits (0, ln 2, ln 3) give q = (1/6, 2/6, 3/6); label 2 costs -ln(1/2) = ln 2."""
    row = [Value(0.0), Value(math.log(2)), Value(math.log(3))]
    for loss in ce.LOSSES.values():
        assert loss([row], [2]).data == pytest.approx(math.log(2), rel=1e-14)
    soft = ce.cross_entropy([[0.5, 0.0, 0.5]], [row]).data  # a soft target
    assert soft == pytest.approx(-(0.5 * math.log(1 / 6) + 0.5 * math.log(1 / 2)), rel=1e-14)


def test_the_three_losses_agree_in_value_and_gradient(ce):
    value_gap, grad_gap = ce.largest_disagreement(seeds=5)
    assert value_gap < 1e-12 and grad_gap < 1e-12


def test_likelihood_of_labels_is_the_cross_entropy_of_their_frequencies(ce):
    labels = ce.sample_labels([0.1, 0.2, 0.3, 0.4], n=50, seed=0)
    assert ce.empirical_identity_gap(labels, 4, seeds=5) < 1e-12


def test_maximum_likelihood_lands_on_the_empirical_frequencies(ce):
    labels = [0] * 5 + [1] * 15 + [2] * 30
    q, p_hat, nll = ce.fit_frequencies(labels, classes=3)
    assert p_hat == [0.1, 0.3, 0.6]
    assert q == pytest.approx(p_hat, abs=1e-9)
    assert nll == pytest.approx(ce.entropy(p_hat), abs=1e-12)  # KL(p^ || q) = 0


def test_main_reports_every_check(ce, capsys):
    assert ce.main(["--seeds", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("holds") == 3 and "FAILS" not in out
