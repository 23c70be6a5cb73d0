"""Tests of vaecourse.readouts: one-unit readouts of the factors."""

from __future__ import annotations

import numpy as np
import pytest
from bad_inputs import raises, table
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from vaecourse import readouts, sprites

N = 3_000


def factors(n: int = N, seed: int = 0) -> np.ndarray:
    return sprites.sample_factors(n, seed=seed)[:, 1:]


def identity_code(f: np.ndarray) -> np.ndarray:
    """Each factor's value in a unit of its own, plus two constant units."""
    values = [sprites.FACTOR_VALUES[k + 1][f[:, k]] for k in range(5)]
    return np.stack([*values, np.zeros(len(f)), np.ones(len(f))], axis=1)


# A fixed permutation of the seven units: the readouts must find each
# factor wherever it is.
PERMUTATION = np.array([4, 6, 0, 2, 5, 1, 3])


def test_a_permuted_identity_code_scores_one_on_every_factor():
    train, test = factors(seed=0), factors(seed=1)
    fitted = readouts.fit_readouts(identity_code(train)[:, PERMUTATION], train)
    scores = readouts.score_readouts(
        fitted, identity_code(test)[:, PERMUTATION], test
    )
    assert scores == pytest.approx(dict.fromkeys(readouts.FACTORS, 1.0))
    # Each factor is read from the unit that holds it.
    where = {k: int(np.flatnonzero(PERMUTATION == k)[0]) for k in range(5)}
    assert [fitted[name].unit for name in readouts.FACTORS] == [
        where[k] for k in range(5)
    ]


def test_a_rotated_code_scores_lower_though_a_linear_probe_cannot_tell():
    train, test = factors(seed=0), factors(seed=1)
    code_train, code_test = identity_code(train), identity_code(test)
    rotation = readouts.random_rotation(code_train.shape[1], seed=3)
    plain = readouts.readout_scores(code_train, train, code_test, test)
    rotated = readouts.readout_scores(
        code_train @ rotation, train, code_test @ rotation, test
    )
    for name in readouts.FACTORS:
        assert rotated[name] < plain[name] - 0.05, name
    # A linear probe scores the rotated code exactly as the code itself.
    x = sprites.FACTOR_VALUES[4][test[:, 3]]
    for code_a, code_b in ((code_train, code_test),):
        for q in (np.eye(len(rotation)), rotation):
            probe = LinearRegression().fit(
                code_a @ q, sprites.FACTOR_VALUES[4][train[:, 3]]
            )
            assert r2_score(x, probe.predict(code_b @ q)) == pytest.approx(1)


def test_r2_and_accuracy_match_an_independent_computation():
    train, test = factors(seed=0), factors(seed=1)
    rng = np.random.default_rng(0)
    code_train = identity_code(train) + rng.normal(0, 0.05, (N, 7))
    code_test = identity_code(test) + rng.normal(0, 0.05, (N, 7))
    fitted = readouts.fit_readouts(code_train, train, n_bins=10)
    scores = readouts.score_readouts(fitted, code_test, test)
    # The scale readout by hand: deciles of its unit, bin means, R^2.
    unit = fitted["scale"].unit
    assert unit == 1
    edges = np.quantile(code_train[:, unit], np.arange(1, 10) / 10)
    scale = sprites.FACTOR_VALUES[2]
    bin_train = np.digitize(code_train[:, unit], edges)
    means = np.array(
        [scale[train[bin_train == b, 1]].mean() for b in range(10)]
    )
    predicted = means[np.digitize(code_test[:, unit], edges)]
    expected = r2_score(scale[test[:, 1]], predicted)
    assert scores["scale"] == pytest.approx(expected, abs=1e-12)
    # Shape: the most frequent shape of each bin, scored by accuracy.
    unit = fitted["shape"].unit
    edges = np.quantile(code_train[:, unit], np.arange(1, 10) / 10)
    bin_train = np.digitize(code_train[:, unit], edges)
    majority = np.array(
        [np.bincount(train[bin_train == b, 0]).argmax() for b in range(10)]
    )
    guess = majority[np.digitize(code_test[:, unit], edges)]
    assert scores["shape"] == pytest.approx((guess == test[:, 0]).mean())


def test_orientation_is_read_modulo_each_shapes_symmetry():
    f = np.array([[0, 0, k, 0, 0] for k in range(40)])
    f[:, 0] = 0  # square: a quarter turn maps it onto itself
    theta = sprites.FACTOR_VALUES[3]
    square = readouts.orientation_on_circle(f)
    np.testing.assert_allclose(square[:, 0], np.cos(4 * theta), atol=1e-12)
    np.testing.assert_allclose(square[:, 1], np.sin(4 * theta), atol=1e-12)
    f[:, 0] = 1  # ellipse: a half turn
    np.testing.assert_allclose(
        readouts.orientation_on_circle(f)[:, 0], np.cos(2 * theta), atol=1e-12
    )
    f[:, 0] = 2  # heart: a whole turn; 0 and 2 pi are the same pose
    heart = readouts.orientation_on_circle(f)
    np.testing.assert_allclose(heart[0], heart[-1], atol=1e-12)
    np.testing.assert_allclose(heart[:, 1], np.sin(theta), atol=1e-12)


def test_a_code_shifted_in_the_target_domain_loses_that_factor_only():
    train, test = factors(seed=0), factors(seed=1)
    code_train, code_test = identity_code(train), identity_code(test)
    shifted = code_test.copy()
    shifted[:, 3] += 0.5  # position x moves by half the frame
    same = readouts.readout_scores(code_train, train, code_test, test)
    moved = readouts.readout_scores(code_train, train, shifted, test)
    assert moved["position_x"] < 0
    for name in ("shape", "scale", "orientation", "position_y"):
        assert moved[name] == same[name]


def test_random_rotation_is_a_rotation_and_seeded():
    q = readouts.random_rotation(6, seed=1)
    np.testing.assert_allclose(q @ q.T, np.eye(6), atol=1e-12)
    assert np.linalg.det(q) == pytest.approx(1.0)
    assert np.array_equal(q, readouts.random_rotation(6, seed=1))
    assert not np.allclose(q, readouts.random_rotation(6, seed=2))


F = factors(50)
C = identity_code(F)
BAD = [
    (lambda: readouts.fit_readouts(C[:, :0], F), ValueError, "shape (N, d)"),
    (
        lambda: readouts.fit_readouts(np.where(C > 0.5, np.nan, C), F),
        ValueError,
        "codes must be finite",
    ),
    (
        lambda: readouts.fit_readouts(C, F.astype(float)),
        TypeError,
        "factors must be integer factor indices, got dtype float64",
    ),
    (
        lambda: readouts.fit_readouts(C, F[:49]),
        ValueError,
        "factors must have shape (50, 5)",
    ),
    (
        lambda: readouts.fit_readouts(C, np.where(F == F, 40, F)),
        ValueError,
        "must be indices on the grid",
    ),
    (
        lambda: readouts.fit_readouts(C, np.tile(F[:1], (50, 1))),
        ValueError,
        "factor shape takes one value only in the training set",
    ),
    (
        lambda: readouts.fit_readouts(C, F, n_bins=1),
        ValueError,
        "n_bins must be",
    ),
    (
        lambda: readouts.score_readouts(
            readouts.fit_readouts(C, F), C[:, :2], F
        ),
        ValueError,
        "codes must have at least",
    ),
    (
        lambda: readouts.score_readouts({}, C, F),
        TypeError,
        "readouts must be the dict of fit_readouts",
    ),
]


@table(BAD)
def test_bad_inputs_are_named(call, error, message):
    raises(call, error, message)


def test_orientation_r2_is_variance_weighted_over_cos_and_sin():
    train, test = factors(seed=0), factors(seed=1)
    test[:, 2] %= 10  # a quarter of the poses: cos and sin have means != 0
    rng = np.random.default_rng(1)
    code_train = identity_code(train) + rng.normal(0, 0.2, (N, 7))
    code_test = identity_code(test) + rng.normal(0, 0.2, (N, 7))
    fitted = readouts.fit_readouts(code_train, train)
    orientation = fitted["orientation"]
    bins = np.searchsorted(
        orientation.edges, code_test[:, orientation.unit], side="right"
    )
    predicted = orientation.table[test[:, 0], bins]
    expected = r2_score(
        readouts.orientation_on_circle(test),
        predicted,
        multioutput="variance_weighted",
    )
    score = readouts.score_readouts(fitted, code_test, test)["orientation"]
    assert score == pytest.approx(expected, abs=1e-12)
