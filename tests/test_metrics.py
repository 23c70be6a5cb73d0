"""Tests of vaecourse.metrics: the beta-VAE metric, FactorVAE, MIG.

No library computes these well enough to be a reference (PART3 of the
design notes), so the references are the definitions: representations
whose answer is known (the factors themselves, a constant, duplicates, a
rotation, noise, units that answer the training and the evaluation draws
differently), tiny cases computed by hand, and loops that recompute a
score from the draws the metric made, read back from its calls of the
representation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from bad_inputs import raises, table
from sklearn.linear_model import LogisticRegression

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


def by_set(honest, other, n_rows):
    """``honest`` codes, except on calls of ``n_rows`` factor vectors.

    The metrics draw their training and evaluation points in calls of
    different sizes (``n_train * batch_size`` and ``n_eval *
    batch_size`` factor vectors), so a representation can tell them
    apart and answer one set differently: a test then sees which set the
    classifier was fitted on and which set it was scored on.
    """

    def representation(factors):
        return (other if len(factors) == n_rows else honest)(factors)

    return representation


def shifted(factors):
    # Unit j holds factor j - 1 (cyclically): the identity, units rolled.
    return np.roll(factors + 1.0, 1, axis=1)


def recording(representation):
    """``representation``, and a list of its calls ``(factors, codes)``."""
    calls = []

    def recorded(factors):
        codes = representation(factors)
        calls.append((factors.copy(), codes))
        return codes

    return recorded, calls


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


def test_beta_vae_metric_fits_on_training_points_and_scores_the_others():
    # The training points see the identity: the unit of the shared
    # factor has feature 0, the others about 3.3, and the classifier
    # learns "label = the unit at 0" (training accuracy 1). The
    # evaluation points see the units rolled by one: the unit at 0 is
    # k + 1 for label k, so the classifier is wrong on every one.
    # Fitted on the evaluation points, or scoring the training points,
    # it would report 1 for both.
    n_eval_rows = SMALL["n_eval"] * SMALL["batch_size"]
    score = metrics.beta_vae_score(
        by_set(identity, shifted, n_eval_rows), TEN, **SMALL
    )
    assert score == (1.0, 0.0)


def test_beta_vae_metric_matches_a_loop_over_its_draws():
    # A reference that shares nothing with the function but the
    # classifier: the draws are read from the representation's calls,
    # each pair's label is the factor its two factor vectors share all
    # through the batch, and each feature is a sum over the batch.
    recorded, calls = recording(rotation())
    score = metrics.beta_vae_score(recorded, TEN, seed=3, **SMALL)
    batch = SMALL["batch_size"]

    def points(n_points):
        (first, codes_1), (second, codes_2) = [
            call for call in calls if len(call[0]) == n_points * batch
        ]
        features, labels = [], []
        for i in range(n_points):
            rows = range(i * batch, (i + 1) * batch)
            shared = [
                k
                for k in range(len(TEN))
                if all(first[r, k] == second[r, k] for r in rows)
            ]
            assert len(shared) == 1  # a clash of the other factors: 1e-31
            labels.append(shared[0])
            features.append(
                [
                    sum(abs(codes_1[r, j] - codes_2[r, j]) for r in rows)
                    / batch
                    for j in range(codes_1.shape[1])
                ]
            )
        return np.array(features), np.array(labels)

    x_train, y_train = points(SMALL["n_train"])
    x_eval, y_eval = points(SMALL["n_eval"])
    classifier = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    assert score == (
        classifier.score(x_train, y_train),
        classifier.score(x_eval, y_eval),
    )
    # A score that tells the two sets apart (neither 1 nor chance).
    assert 0.2 < score.eval_accuracy < score.train_accuracy < 0.9


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


def test_factor_vae_prunes_by_the_standard_deviation_not_the_variance():
    # Two more units, each two values 0 and h with probability 1/2: its
    # standard deviation is h / 2, its variance h^2 / 4.
    def with_two_steps(factors):
        small = 0.2 * (factors[:, :1] % 2)  # std 0.1, variance 0.01
        medium = 3.0 * (factors[:, 1:2] % 2)  # std 1.5, variance 2.25
        return np.hstack([factors + 1.0, small, medium])  # std 2.87

    def active(prune_std):
        return metrics.factor_vae_score(
            with_two_steps, TEN, prune_std=prune_std, **SMALL
        ).active_dims

    # 0.1 >= 0.05 keeps the small unit (its variance 0.01 would not).
    assert active(0.05) == 12
    # 1.5 < 2 prunes the medium unit (its variance 2.25 would not).
    assert active(2.0) == 10


def test_factor_vae_divides_by_the_global_variance():
    # Two factors, two units that mix them at different scales:
    #     z_0 = 100 (v_0 + v_1 / 2),    z_1 = v_1 + v_0 / 2.
    # With v_0 fixed, both units vary only through v_1, with batch
    # variances 100^2 s^2 / 4 and s^2 (s^2 the batch variance of v_1),
    # over global variances 100^2 V (1 + 1/4) and V (1 + 1/4): ratios
    # 0.2 s^2 / V and 0.8 s^2 / V. Unit 0 wins, by a factor of about 4
    # whatever the batch; with v_1 fixed unit 1 wins likewise. Every vote
    # is right: both accuracies are 1. Dividing by the global standard
    # deviation instead compares 25 s^2 with s^2 (and, v_1 fixed, 100 s^2
    # with s^2 / 4), all over sqrt(1.25 V): unit 1 wins every vote, and
    # the score falls to about 1/2.
    def mixed(factors):
        v0, v1 = factors[:, 0] * 1.0, factors[:, 1] * 1.0
        return np.stack([100 * (v0 + v1 / 2), v1 + v0 / 2], 1)

    score = metrics.factor_vae_score(mixed, (10, 10), **SMALL)
    assert score == (1.0, 1.0, 2)


def test_factor_vae_scores_evaluation_votes_with_the_training_assignment():
    # The training votes see the identity, so unit j is assigned factor
    # j. The evaluation votes see the units rolled by one: factor k now
    # votes for unit k + 1, which is assigned k + 1, so every evaluation
    # vote is wrong. A majority vote refitted on the evaluation votes
    # would get them all right.
    n_eval_rows = SMALL["n_eval"] * SMALL["batch_size"]
    score = metrics.factor_vae_score(
        by_set(identity, shifted, n_eval_rows), TEN, **SMALL
    )
    assert score == (1.0, 0.0, 10)


def test_factor_vae_metric_matches_a_loop_over_its_draws():
    # As for the beta-VAE metric: the draws are read from the calls (the
    # label of a vote is the factor constant over its batch), variances
    # are sums, and the majority vote is a loop over the counts.
    recorded, calls = recording(rotation())
    n_variance = 1000
    score = metrics.factor_vae_score(
        recorded, TEN, seed=2, n_variance=n_variance, **SMALL
    )
    batch, n_factors = SMALL["batch_size"], len(TEN)

    def variance(values):
        mean = sum(values) / len(values)
        return sum((v - mean) ** 2 for v in values) / (len(values) - 1)

    ((_, codes),) = [c for c in calls if len(c[0]) == n_variance]
    d = codes.shape[1]
    global_variance = [variance(codes[:, j]) for j in range(d)]
    units = [j for j in range(d) if math.sqrt(global_variance[j]) >= 0.05]

    def counts(n_votes):
        ((factors, codes),) = [
            c for c in calls if len(c[0]) == n_votes * batch
        ]
        votes = [[0] * len(units) for _ in range(n_factors)]
        for i in range(n_votes):
            rows = slice(i * batch, (i + 1) * batch)
            fixed = [
                k for k in range(n_factors) if len(set(factors[rows, k])) == 1
            ]
            assert len(fixed) == 1
            ratios = [
                variance(codes[rows, j]) / global_variance[j] for j in units
            ]
            votes[fixed[0]][ratios.index(min(ratios))] += 1
        return votes

    train, evaluation = counts(SMALL["n_train"]), counts(SMALL["n_eval"])
    # The first factor with the most votes (numpy's argmax on ties).
    assigned = [
        max(range(n_factors), key=lambda k: train[k][u])
        for u in range(len(units))
    ]

    def accuracy(votes):
        right = sum(votes[assigned[u]][u] for u in range(len(units)))
        return right / sum(map(sum, votes))

    assert score == (accuracy(train), accuracy(evaluation), len(units))
    assert 0.2 < score.eval_accuracy < 0.9


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

NAN_CODES = np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 0.0]])
INF_CODES = np.array([[0.0, 1.0], [np.inf, 2.0], [1.0, 0.0]])
VOTE_CODES = np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0]])
ALL = np.ones(3, bool)
# Sizes at which the representation's first call comes fast.
FEW = {"batch_size": 4, "n_train": 100, "n_eval": 10}


def one_unit_fewer_after(n_rows):
    """Ten units on calls of ``n_rows`` factor vectors, nine on others."""
    return lambda f: (f + 1.0) if len(f) == n_rows else (f[:, 1:] + 1.0)


def constant_unit(factors):
    return np.hstack([factors + 1.0, np.ones((len(factors), 1))])


BAD = [
    # ---- the beta-VAE metric's feature
    (
        lambda: metrics.beta_vae_feature(NAN_CODES, np.zeros((3, 2))),
        ValueError,
        "codes_1 contains NaN",
    ),
    (
        lambda: metrics.beta_vae_feature(np.zeros((3, 2)), INF_CODES),
        ValueError,
        "codes_2 must be finite, found inf",
    ),
    (
        lambda: metrics.beta_vae_feature([["a"]], [["b"]]),
        TypeError,
        "codes_1 must hold real numbers, got dtype <U1",
    ),
    (
        lambda: metrics.beta_vae_feature(np.zeros(3), np.zeros(3)),
        ValueError,
        "codes_1 must have shape (B, d), got (3,)",
    ),
    (
        lambda: metrics.beta_vae_feature(np.zeros((2, 3)), np.zeros((2, 2))),
        ValueError,
        "codes_1 and codes_2 must have the same shape (B, d)",
    ),
    (
        lambda: metrics.beta_vae_feature(np.zeros((0, 2)), np.zeros((0, 2))),
        ValueError,
        "codes_1 and codes_2 must hold at least one pair, got a batch of 0",
    ),
    # ---- the beta-VAE metric
    (
        lambda: metrics.beta_vae_score(identity, TEN, n_train=2),
        ValueError,
        "n_train must be at least 10 (one training point per factor), got 2",
    ),
    (
        lambda: metrics.beta_vae_score(identity, TEN, n_eval=5),
        ValueError,
        "n_eval must be at least 10 (one evaluation point per factor), got 5",
    ),
    (
        # Ten labels drawn for ten factors: some factor is missing.
        lambda: metrics.beta_vae_score(identity, TEN, n_train=10),
        ValueError,
        "the 10 training points drawn hold none of factor",
    ),
    (
        lambda: metrics.beta_vae_score(identity, TEN, batch_size=0),
        ValueError,
        "batch_size must be at least 1, got 0",
    ),
    (
        lambda: metrics.beta_vae_score("identity", TEN),
        TypeError,
        "representation must be a function of factor indices, got str",
    ),
    (
        lambda: metrics.beta_vae_score(identity, (10,)),
        ValueError,
        "the metrics need at least 2 factors, got 1",
    ),
    (
        lambda: metrics.beta_vae_score(
            lambda f: np.full(f.shape, np.inf), TEN, **FEW
        ),
        ValueError,
        "representation returned inf for",
    ),
    (
        lambda: metrics.beta_vae_score(
            # Ten units for the training points, nine for the others.
            one_unit_fewer_after(100 * 4),
            TEN,
            **FEW,
        ),
        ValueError,
        "representation returned 9 units here and 10 on an earlier call",
    ),
    # ---- the FactorVAE metric's vote
    (
        lambda: metrics.factor_vae_vote(NAN_CODES, np.ones(2), ALL[:2]),
        ValueError,
        "codes contains NaN",
    ),
    (
        lambda: metrics.factor_vae_vote(VOTE_CODES[:1], np.ones(3), ALL),
        ValueError,
        "codes must hold at least 2 points, got a batch of 1: a batch of one "
        "has no within-batch variance",
    ),
    (
        lambda: metrics.factor_vae_vote(VOTE_CODES, np.zeros(3), ALL),
        ValueError,
        "no active unit varies (global_variances is 0 for every one): "
        "no ratio can be formed, so no vote can be cast",
    ),
    (
        lambda: metrics.factor_vae_vote(VOTE_CODES, np.array([1, 0, 1]), ALL),
        ValueError,
        "global_variances is 0 for active unit 1",
    ),
    (
        lambda: metrics.factor_vae_vote(
            VOTE_CODES, np.array([-1.0, 1, 1]), ALL
        ),
        ValueError,
        "global_variances must be non-negative, found -1.0 for unit 0",
    ),
    (
        lambda: metrics.factor_vae_vote(
            VOTE_CODES, np.array([1.0, np.nan, 1.0]), ALL
        ),
        ValueError,
        "global_variances contains NaN",
    ),
    (
        lambda: metrics.factor_vae_vote(VOTE_CODES, np.ones(3), ALL[:2]),
        ValueError,
        "active must have shape (d,) = (3,), one entry per unit of codes, "
        "got (2,)",
    ),
    (
        lambda: metrics.factor_vae_vote(VOTE_CODES, np.ones(4), ALL),
        ValueError,
        "global_variances must have shape (d,) = (3,), one entry per unit",
    ),
    (
        lambda: metrics.factor_vae_vote(VOTE_CODES, np.ones(3), [0, 2]),
        TypeError,
        "active must hold booleans, got dtype int64",
    ),
    (
        lambda: metrics.factor_vae_vote(VOTE_CODES, np.ones(3), ~ALL),
        ValueError,
        "active selects no unit: there is none to vote for",
    ),
    # ---- the FactorVAE metric
    (
        lambda: metrics.factor_vae_score(identity, TEN, n_train=1),
        ValueError,
        "n_train must be at least 10 (one training vote per factor), got 1",
    ),
    (
        lambda: metrics.factor_vae_score(identity, TEN, n_eval=3),
        ValueError,
        "n_eval must be at least 10 (one evaluation vote per factor), got 3",
    ),
    (
        lambda: metrics.factor_vae_score(
            identity, TEN, batch_size=4, n_train=10, n_variance=50
        ),
        ValueError,
        "the 10 training votes drawn hold none of factor",
    ),
    (
        lambda: metrics.factor_vae_score(identity, TEN, batch_size=1),
        ValueError,
        "batch_size must be at least 2 (a batch of one has no variance), "
        "got 1",
    ),
    (
        lambda: metrics.factor_vae_score(
            constant_unit, TEN, prune_std=0.0, n_variance=50, **FEW
        ),
        ValueError,
        "unit 10 of the representation is constant on the 50 points, and "
        "prune_std=0.0 keeps it",
    ),
    (
        lambda: metrics.factor_vae_score(
            lambda f: np.where(f == 3, np.nan, f), TEN, n_variance=50, **FEW
        ),
        ValueError,
        "representation returned NaN for",
    ),
    (
        lambda: metrics.factor_vae_score(
            # Ten units for the global variances, nine for the votes.
            one_unit_fewer_after(50),
            TEN,
            n_variance=50,
            **FEW,
        ),
        ValueError,
        "representation returned 9 units here and 10 on an earlier call",
    ),
    (
        lambda: metrics.factor_vae_score(identity, "10"),
        TypeError,
        "factor_sizes must be a sequence of integers, got str",
    ),
    (
        lambda: metrics.factor_vae_score(identity, {"shape": 3, "x": 32}),
        TypeError,
        "factor_sizes must be a sequence of integers, got dict",
    ),
    (
        lambda: metrics.factor_vae_score(identity, (10, 2.5)),
        TypeError,
        "factor_sizes[1] must be an integer, got float 2.5",
    ),
    (
        lambda: metrics.factor_vae_score(identity, (10, 0)),
        ValueError,
        "factor_sizes[1] must be at least 1, got 0",
    ),
    # ---- the representation's answer (any metric)
    (
        lambda: metrics.mig_score(lambda f: f[:, 0], TEN, n_points=30),
        ValueError,
        "representation must return shape (30, d) for 30 factor vectors, "
        "got (30,)",
    ),
    (
        lambda: metrics.mig_score(lambda f: f[:-1], TEN, n_points=30),
        ValueError,
        "representation must return shape (30, d) for 30 factor vectors, "
        "got (29, 10)",
    ),
    (
        lambda: metrics.mig_score(
            lambda f: np.full(f.shape, np.nan), TEN, n_points=30
        ),
        ValueError,
        "representation returned NaN for 30 of 30 factor vectors (the "
        "first: [",
    ),
    (
        lambda: metrics.mig_score(
            lambda f: [["x"] * 2] * len(f), TEN, n_points=30
        ),
        TypeError,
        "representation must return an array of real numbers, got a list "
        "of dtype <U1",
    ),
    (
        lambda: metrics.mig_score(
            lambda f: [[1.0], [1.0, 2.0]], TEN, n_points=30
        ),
        TypeError,
        "representation must return an array of real numbers, got a list "
        "NumPy cannot convert",
    ),
    (
        lambda: metrics.mig_score(
            lambda f: np.zeros((len(f), 0)), TEN, n_points=30
        ),
        ValueError,
        "representation returned no unit, shape (30, 0)",
    ),
    # ---- MIG
    (
        lambda: metrics.mig_score(identity, TEN, n_points=3),
        ValueError,
        "n_points must be at least 21 (more than n_bins=20), got 3",
    ),
    (
        lambda: metrics.mig_score(identity, TEN, n_bins=1),
        ValueError,
        "n_bins must be at least 2, got 1",
    ),
    (
        lambda: metrics.mig_score(identity, (10, 1, 10)),
        ValueError,
        "factor 1 has a single value",
    ),
    (
        lambda: metrics.mig_from_codes(
            np.zeros((5, 2)), np.zeros((4, 2), int)
        ),
        ValueError,
        "codes and factors must hold the same number of points, got 5 and 4",
    ),
    (
        lambda: metrics.mig_from_codes(
            np.random.default_rng(0).normal(size=(6, 2)),
            np.array([[0, 1], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]]),
            n_bins=2,
        ),
        ValueError,
        "factor 0 takes a single value on these points",
    ),
    (
        lambda: metrics.mig_from_codes(
            np.zeros((4, 1)), np.zeros((4, 2), int)
        ),
        ValueError,
        "MIG needs at least 2 latent units, got 1",
    ),
    (
        lambda: metrics.mig_from_codes(np.eye(8), np.eye(8, dtype=int)),
        ValueError,
        "MIG needs more points than bins, got 8 points and n_bins=20",
    ),
    (
        lambda: metrics.mig_from_codes(NAN_CODES, np.eye(3, 2, dtype=int)),
        ValueError,
        "codes contains NaN",
    ),
    (
        lambda: metrics.mig_from_codes(np.eye(3, 2), np.eye(3, 2)),
        TypeError,
        "factors must hold integers, got dtype float64",
    ),
    (
        lambda: metrics.mutual_information_matrix(
            np.zeros((5, 2), int), np.zeros((4, 2), int)
        ),
        ValueError,
        "discrete_codes and factors must hold the same number of points, "
        "got 5 and 4",
    ),
    (
        lambda: metrics.mutual_information_matrix(
            np.zeros((5, 2)), np.zeros((5, 2), int)
        ),
        TypeError,
        "discrete_codes must hold integers, got dtype float64",
    ),
    (
        lambda: metrics.discretize(INF_CODES),
        ValueError,
        "codes must be finite, found inf",
    ),
    (
        lambda: metrics.discretize(np.zeros(4)),
        ValueError,
        "codes must have shape (N, d), got (4,)",
    ),
    # ---- the factor sampler
    (
        lambda: metrics.sample_factor_grid(TEN, 5, 0),
        TypeError,
        "rng must be a numpy.random._generator.Generator, got int",
    ),
    (
        lambda: metrics.sample_factor_grid(TEN, 0, np.random.default_rng()),
        ValueError,
        "n must be at least 1, got 0",
    ),
]


@table(BAD)
def test_bad_input(call, error, message):
    raises(call, error, message)


# --- I(x; z_j) of each unit --------------------------------------------------


def test_unit_information_is_zero_for_a_unit_that_ignores_its_input():
    mu = torch.full((40, 1), 0.3, dtype=torch.float64)
    logvar = torch.full((40, 1), -1.0, dtype=torch.float64)
    info = metrics.unit_information(
        mu, logvar, samples=4, generator=torch.Generator().manual_seed(0)
    )
    assert info == pytest.approx([0.0], abs=1e-12)


def test_unit_information_is_log_n_for_a_unit_that_tells_inputs_apart():
    # Means 100 standard deviations apart: every draw names its input.
    mu = torch.arange(30, dtype=torch.float64)[:, None] * 100.0
    info = metrics.unit_information(mu, torch.zeros_like(mu))
    assert info == pytest.approx([math.log(30)], rel=1e-9)


@pytest.mark.parametrize(
    "means, sigmas",
    [((0.8, -0.8), (1.0, 1.0)), ((0.0, 0.0), (0.5, 2.0))],
    ids=["means differ", "only sigmas differ"],
)
def test_unit_information_matches_quadrature_for_two_inputs(means, sigmas):
    """I(x; z) for x uniform on two inputs with q(z|x_n) = N(m_n, s_n^2)."""
    from scipy import integrate, stats

    def log_density(z, n):
        return stats.norm.logpdf(z, means[n], sigmas[n])

    def integrand(z, n):
        own = log_density(z, n)
        mixture = np.logaddexp(log_density(z, 0), log_density(z, 1))
        return math.exp(own) * (own - mixture + math.log(2))

    exact = 0.5 * sum(
        integrate.quad(integrand, -40, 40, args=(n,))[0] for n in (0, 1)
    )
    mu = torch.tensor([[m] for m in means], dtype=torch.float64)
    logvar = torch.tensor([[2 * math.log(s)] for s in sigmas])
    info = metrics.unit_information(
        mu,
        logvar.double(),
        samples=40_000,
        generator=torch.Generator().manual_seed(1),
    )
    # Monte Carlo over 2 x 40,000 draws: a standard error near 0.002
    assert info[0] == pytest.approx(exact, abs=0.01)
    assert 0.1 < exact < math.log(2)


def test_unit_information_sees_information_at_a_scale_no_decoder_reads():
    # The chapter's capacity model: sigma = 1e-6, means 1e-3 apart.
    mu = torch.linspace(0, 1e-3, 20, dtype=torch.float64)[:, None]
    logvar = torch.full_like(mu, 2 * math.log(1e-6))
    info = metrics.unit_information(mu, logvar)
    assert info[0] == pytest.approx(math.log(20), rel=1e-6)


BAD_UNIT_INFORMATION = [
    (
        lambda: metrics.unit_information(torch.zeros(1, 3), torch.zeros(1, 3)),
        ValueError,
        "mu must have shape (N, m) with N >= 2 inputs, got (1, 3)",
    ),
    (
        lambda: metrics.unit_information(
            torch.zeros(4, 3), torch.full((4, 3), float("nan"))
        ),
        ValueError,
        "logvar contains NaN",
    ),
    (
        lambda: metrics.unit_information(
            torch.zeros(4, 3), torch.zeros(4, 3), samples=0
        ),
        ValueError,
        "samples must be at least 1, got 0",
    ),
]


@table(BAD_UNIT_INFORMATION)
def test_unit_information_names_bad_inputs(call, error, message):
    raises(call, error, message)
