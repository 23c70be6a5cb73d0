"""Tests of vaecourse.metrics: the beta-VAE metric, FactorVAE, MIG.

No library computes these well enough to be a reference (PART3 of the
design notes), so the references are the definitions: representations
whose answer is known (the factors themselves, a constant, duplicates, a
rotation, noise) and tiny cases computed by hand.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from vaecourse import metrics

TEN = (10,) * 10  # ten factors with ten values each
SMALL = {"n_train": 400, "n_eval": 300, "batch_size": 32}


def identity(factors):
    return factors + 1.0  # values 1..10, as in the sanity case


def zeros(factors):
    return np.zeros((len(factors), 10))


def rotation(seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(10, 10)))
    return lambda factors: (factors + 1.0) @ q


def noise(factors):
    # Independent of the factors: nothing to find.
    return np.random.default_rng(len(factors)).normal(size=(len(factors), 10))


# ------------------------------------------------------------ beta-VAE


def test_beta_vae_feature_by_hand():
    a = np.array([[0.0, 1.0], [2.0, 5.0]])
    b = np.array([[1.0, 1.0], [0.0, 1.0]])
    # |0-1|, |1-1| and |2-0|, |5-1|: means (1+2)/2 and (0+4)/2.
    np.testing.assert_array_equal(metrics.beta_vae_feature(a, b), [1.5, 2.0])


def test_beta_vae_metric_of_the_factors_themselves_is_near_one():
    score = metrics.beta_vae_score(identity, TEN, **SMALL)
    assert score.train_accuracy >= 0.9
    assert score.eval_accuracy >= 0.9


def test_beta_vae_metric_of_a_constant_is_near_chance():
    score = metrics.beta_vae_score(zeros, TEN, **SMALL)
    # All features are 0: the classifier can only guess one label.
    assert score.eval_accuracy == pytest.approx(0.1, abs=0.05)


def test_beta_vae_metric_of_noise_is_near_chance():
    score = metrics.beta_vae_score(noise, TEN, **SMALL)
    assert score.eval_accuracy < 0.25


def test_beta_vae_metric_is_reproducible_and_seeded():
    a = metrics.beta_vae_score(rotation(), TEN, seed=1, **SMALL)
    b = metrics.beta_vae_score(rotation(), TEN, seed=1, **SMALL)
    assert a == b


# ----------------------------------------------------------- FactorVAE


def test_factor_vae_vote_by_hand():
    codes = np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0], [4.0, 5.0, 2.0]])
    global_var = np.array([4.0, 1.0, 1.0])
    # Batch variances (ddof=1): 4, 0, 1; ratios 1, 0, 1: unit 1 wins.
    assert metrics.factor_vae_vote(codes, global_var, np.ones(3, bool)) == 1
    # Prune unit 1: ratios 1 and 1 for units 0 and 2: the first, position 0.
    active = np.array([True, False, True])
    assert metrics.factor_vae_vote(codes, global_var, active) == 0


def test_factor_vae_metric_of_the_factors_themselves_is_one():
    score = metrics.factor_vae_score(identity, TEN, **SMALL)
    assert score.eval_accuracy >= 0.9
    assert score.active_dims == 10


def test_factor_vae_metric_of_a_constant_is_zero():
    # Every unit is pruned (standard deviation 0 < 0.05).
    assert metrics.factor_vae_score(zeros, TEN, **SMALL) == (0.0, 0.0, 0)


def test_factor_vae_metric_of_noise_is_near_chance():
    score = metrics.factor_vae_score(noise, TEN, **SMALL)
    assert score.eval_accuracy < 0.25


def test_factor_vae_prunes_units_below_the_threshold():
    def with_a_quiet_unit(factors):
        quiet = np.full((len(factors), 1), 0.01) * (factors[:, :1] % 2)
        return np.hstack([factors + 1.0, quiet])

    score = metrics.factor_vae_score(with_a_quiet_unit, TEN, **SMALL)
    assert score.active_dims == 10
    loose = metrics.factor_vae_score(
        with_a_quiet_unit, TEN, prune_std=0.0, **SMALL
    )
    assert loose.active_dims == 11


# ----------------------------------------------------------------- MIG


def test_mig_by_hand():
    # Eight points; factor 0 is half 0 and half 1, factor 1 alternates.
    v0 = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    v1 = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    factors = np.stack([v0, v1], 1)
    # Unit 0 is factor 0 with one point wrong; unit 1 is factor 1.
    z0 = np.array([0, 0, 0, 1, 1, 1, 1, 1], dtype=float)
    z1 = v1.astype(float)
    codes = np.stack([z0, z1], 1)
    # I(z0; v0) from the joint counts (0,0): 3, (0,1): 1, (1,1): 4.
    i00 = (
        3 / 8 * math.log(2) + 1 / 8 * math.log(2 / 5) + 4 / 8 * math.log(8 / 5)
    )
    # I(z1; v0) = 0 (v1 is independent of v0 on these points);
    # I(z1; v1) = log 2 and I(z0; v1): joint (0,0): 2, (0,1): 1,
    # (1,0): 2, (1,1): 3.
    i01 = (
        2 / 8 * math.log((2 / 8) / (3 / 8 * 4 / 8))
        + 1 / 8 * math.log((1 / 8) / (3 / 8 * 4 / 8))
        + 2 / 8 * math.log((2 / 8) / (5 / 8 * 4 / 8))
        + 3 / 8 * math.log((3 / 8) / (5 / 8 * 4 / 8))
    )
    expected = (i00 - 0.0) / math.log(2) + (math.log(2) - i01) / math.log(2)
    expected /= 2
    info = metrics.mutual_information_matrix(
        metrics.discretize(codes, 2), factors
    )
    np.testing.assert_allclose(
        info, [[i00, i01], [0.0, math.log(2)]], atol=1e-12
    )
    assert metrics.mig_from_codes(codes, factors, n_bins=2) == pytest.approx(
        expected, abs=1e-12
    )


def test_discretize_uses_equal_width_bins_over_each_units_range():
    codes = np.array([[0.0, 10.0], [0.49, 10.0], [0.51, 10.0], [1.0, 10.0]])
    # A constant unit gets numpy's range [c - 0.5, c + 0.5]: one bin, the
    # second.
    np.testing.assert_array_equal(
        metrics.discretize(codes, 2), [[1, 2], [1, 2], [2, 2], [2, 2]]
    )


def test_mig_of_the_factors_themselves_is_near_one():
    # Each unit holds all of its factor's entropy (20 bins separate ten
    # values); the runner-up's information is only the plug-in estimator's
    # bias, about (10 - 1)^2 / (2 N) nats.
    score = metrics.mig_score(identity, TEN, n_points=5000)
    assert score == pytest.approx(1.0, abs=0.02)


def test_mig_of_a_constant_is_zero():
    assert metrics.mig_score(zeros, TEN, n_points=2000) == 0.0


def test_mig_of_duplicated_latents_is_zero():
    def twice(factors):
        return np.hstack([factors + 1.0, factors + 1.0])

    assert metrics.mig_score(twice, TEN, n_points=2000) == pytest.approx(
        0.0, abs=1e-12
    )


def test_a_rotation_of_the_factors_scores_clearly_lower():
    rotated = rotation()
    assert metrics.mig_score(rotated, TEN, n_points=5000) < 0.5
    assert metrics.mig_score(identity, TEN, n_points=5000) > 0.9
    assert (
        metrics.factor_vae_score(rotated, TEN, **SMALL).eval_accuracy
        < metrics.factor_vae_score(identity, TEN, **SMALL).eval_accuracy - 0.3
    )
    assert (
        metrics.beta_vae_score(rotated, TEN, **SMALL).eval_accuracy
        < metrics.beta_vae_score(identity, TEN, **SMALL).eval_accuracy - 0.1
    )


# ----------------------------------------------------------- bad input

BAD = [
    (
        lambda: metrics.mig_from_codes(np.zeros((5, 2)), np.zeros((4, 2))),
        ValueError,
        "codes and factors must hold the same number of points, got 5 and 4",
    ),
    (
        lambda: metrics.mig_from_codes(
            np.random.default_rng(0).normal(size=(6, 2)),
            np.array([[0, 1], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]]),
        ),
        ValueError,
        "factor 0 takes a single value on these points",
    ),
    (
        lambda: metrics.mig_from_codes(np.zeros((4, 1)), np.zeros((4, 2))),
        ValueError,
        "MIG needs at least 2 latent units, got 1",
    ),
    (
        lambda: metrics.mig_score(identity, (10, 1, 10)),
        ValueError,
        "factor 1 has a single value",
    ),
    (
        lambda: metrics.beta_vae_score(identity, (10,)),
        ValueError,
        "the metrics need at least 2 factors, got 1",
    ),
    (
        lambda: metrics.factor_vae_score(identity, "10"),
        TypeError,
        "factor_sizes must be a sequence of integers, got str",
    ),
    (
        lambda: metrics.mig_score(lambda f: f[:, 0], TEN, n_points=10),
        ValueError,
        "representation must return shape (10, d) for 10 factor vectors",
    ),
    (
        lambda: metrics.mig_score(
            lambda f: np.full(f.shape, np.nan), TEN, n_points=10
        ),
        ValueError,
        "representation returned NaN or inf",
    ),
    (
        lambda: metrics.beta_vae_score(identity, TEN, batch_size=0),
        ValueError,
        "batch_size must be at least 1, got 0",
    ),
    (
        lambda: metrics.beta_vae_feature(np.zeros((2, 3)), np.zeros((2, 2))),
        ValueError,
        "codes_1 and codes_2 must have the same shape (B, d)",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", BAD, ids=[message for _, _, message in BAD]
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
