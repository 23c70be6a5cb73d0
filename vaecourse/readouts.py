r"""Reading each factor from one latent unit: a transfer test that sees axes.

A linear probe reads a factor from a weighted sum of all the units, so it
scores a code :math:`c` and any rotation :math:`Rc` of it alike (the
weights rotate with the code): it cannot tell a disentangled code from an
entangled one. The readouts here read each factor from **one unit**, the
one that predicts it best on the training set, through a step function of
that unit (its value cut into bins, each bin predicting the mean, or the
most frequent shape, of its training points). A rotation spreads a factor
over several units, and no single one of them then reads it well.

Fitted on source images and scored on target images (zero-shot), they ask
whether the unit that carries a factor in the source domain still carries
it, on the same scale, in the target domain: the premise of DARLA
(chapter "DARLA").

The factors are dSprites' five, as targets:

- **shape**: the class (square, ellipse, heart), scored by accuracy
  (chance 1/3 for balanced shapes);
- **scale**, **position_x**, **position_y**: their values, scored by the
  coefficient of determination :math:`R^2` on the scored set;
- **orientation**: a square looks the same after a quarter turn and an
  ellipse after a half turn (:data:`SYMMETRY_PERIOD`), so the angle
  :math:`\theta` is read as the point
  :math:`(\cos\varphi, \sin\varphi)`, :math:`\varphi = 2\pi\theta / P`,
  on the circle of the shape's period :math:`P`, and scored by the
  :math:`R^2` of that point (both coordinates together). A step function
  of one unit cannot know which period applies, so the orientation
  readout is fitted within each shape (the shape is given).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from vaecourse import sprites
from vaecourse._validation import check_code_matrix, check_int

__all__ = [
    "FACTORS",
    "SYMMETRY_PERIOD",
    "N_BINS",
    "UnitReadout",
    "orientation_on_circle",
    "factor_targets",
    "fit_readouts",
    "score_readouts",
    "readout_scores",
    "random_rotation",
]

#: The factors read, in dSprites' order (colour, constant, left out).
FACTORS: tuple[str, ...] = sprites.FACTOR_NAMES[1:]
#: The smallest turn that maps each shape onto itself, in radians, for the
#: square, the ellipse and the heart (dSprites' shape indices 0, 1, 2).
SYMMETRY_PERIOD: tuple[float, ...] = (np.pi / 2, np.pi, 2 * np.pi)


class UnitReadout(NamedTuple):
    """A step function of one latent unit that predicts one factor."""

    #: The unit read (a column of the codes).
    unit: int
    #: The inner edges of its bins; a value goes to bin
    #: ``numpy.searchsorted(edges, value, side="right")``.
    edges: np.ndarray
    #: The prediction of each bin, ``(n_bins, outputs)``; for orientation
    #: ``(3, n_bins, 2)``, one table per shape.
    table: np.ndarray
    #: Its score on the training set, by which the unit was chosen.
    training_score: float


def _check_factors(name: str, factors: object, n: int | None) -> np.ndarray:
    factors = np.asarray(factors)
    if factors.dtype == bool or not np.issubdtype(factors.dtype, np.integer):
        raise TypeError(
            f"{name} must be integer factor indices, got dtype {factors.dtype}"
        )
    sizes = sprites.FACTOR_SIZES[1:]
    rows = "N" if n is None else str(n)
    if (
        factors.ndim != 2
        or factors.shape[1] != len(sizes)
        or (n is not None and len(factors) != n)
    ):
        raise ValueError(
            f"{name} must have shape ({rows}, {len(sizes)}), one row per "
            f"image with columns {', '.join(FACTORS)}; got {factors.shape}"
        )
    if (factors < 0).any() or (factors >= np.array(sizes)).any():
        raise ValueError(f"{name} must be indices on the grid {sizes}")
    return factors.astype(np.int64)


def orientation_on_circle(factors: object) -> np.ndarray:
    r"""Each sprite's orientation as a point on its shape's circle.

    :math:`(\cos\varphi, \sin\varphi)` with
    :math:`\varphi = 2\pi\theta / P_s`, where :math:`\theta` is the
    orientation angle and :math:`P_s` the :data:`SYMMETRY_PERIOD` of the
    shape: poses that look the same map to the same point.

    Parameters
    ----------
    factors : array-like
        ``(N, 5)`` integer factor indices (shape, scale, orientation, x, y).

    Returns
    -------
    numpy.ndarray
        ``(N, 2)``.
    """
    factors = _check_factors("factors", factors, None)
    theta = sprites.FACTOR_VALUES[3][factors[:, 2]]
    phi = 2 * np.pi * theta / np.asarray(SYMMETRY_PERIOD)[factors[:, 0]]
    return np.stack([np.cos(phi), np.sin(phi)], axis=1)


def factor_targets(factors: object) -> dict[str, np.ndarray]:
    """What each readout predicts, by factor name.

    ``shape``: the class index, ``(N,)``; ``orientation``:
    :func:`orientation_on_circle`, ``(N, 2)``; the others: the factor's
    value on dSprites' grid (``sprites.FACTOR_VALUES``), ``(N, 1)``.
    """
    factors = _check_factors("factors", factors, None)
    targets: dict[str, np.ndarray] = {"shape": factors[:, 0]}
    for k, name in enumerate(FACTORS[1:], start=1):
        if name == "orientation":
            targets[name] = orientation_on_circle(factors)
        else:
            values = sprites.FACTOR_VALUES[k + 1][factors[:, k]]
            targets[name] = values[:, None]
    return targets


def _edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Inner bin edges: one bin per distinct value when there are at most
    ``n_bins`` of them (midpoints), else ``n_bins`` quantile bins."""
    distinct = np.unique(values)
    if len(distinct) <= n_bins:
        return (distinct[1:] + distinct[:-1]) / 2
    inner = np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.unique(inner)


def _bin_table(
    bins: np.ndarray, target: np.ndarray, n_bins: int, classes: int | None
) -> np.ndarray:
    """Each bin's prediction: the mean target, or the most frequent class
    (the smallest on a tie); an empty bin predicts as the whole set does."""
    if classes is not None:
        counts = np.zeros((n_bins, classes))
        np.add.at(counts, (bins, target), 1.0)
        counts[counts.sum(1) == 0] = np.bincount(target, minlength=classes)
        return counts.argmax(1)[:, None].astype(np.float64)
    sums = np.zeros((n_bins, target.shape[1]))
    np.add.at(sums, bins, target)
    counts = np.bincount(bins, minlength=n_bins)[:, None]
    table = np.where(counts > 0, sums / np.maximum(counts, 1), target.mean(0))
    return table


def _score(name: str, target: np.ndarray, predicted: np.ndarray) -> float:
    if name == "shape":
        return float((predicted[:, 0] == target).mean())
    total = ((target - target.mean(0)) ** 2).sum()
    return float(1.0 - ((target - predicted) ** 2).sum() / total)


def _fit_unit(
    name: str,
    column: np.ndarray,
    target: np.ndarray,
    shapes: np.ndarray,
    n_bins: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges, table and training predictions of one unit for one factor."""
    edges = _edges(column, n_bins)
    bins = np.searchsorted(edges, column, side="right")
    size = len(edges) + 1
    if name == "shape":
        table = _bin_table(bins, target, size, classes=3)
        return edges, table, table[bins]
    if name != "orientation":
        table = _bin_table(bins, target, size, classes=None)
        return edges, table, table[bins]
    table = np.zeros((3, size, 2))
    predicted = np.zeros_like(target)
    for shape in range(3):
        rows = shapes == shape
        if rows.any():
            table[shape] = _bin_table(bins[rows], target[rows], size, None)
            predicted[rows] = table[shape][bins[rows]]
    return edges, table, predicted


def _predict(
    name: str, readout: UnitReadout, codes: np.ndarray, shapes: np.ndarray
) -> np.ndarray:
    bins = np.searchsorted(readout.edges, codes[:, readout.unit], side="right")
    if name == "orientation":
        return readout.table[shapes, bins]
    return readout.table[bins]


def _check_varies(factors: np.ndarray, what: str) -> None:
    for k, name in enumerate(FACTORS):
        if (factors[:, k] == factors[0, k]).all():
            raise ValueError(
                f"factor {name} takes one value only in the {what}: a "
                "readout needs it to vary"
            )


#: The number of bins per unit, as many as the factor with the most values
#: has (orientation, 40), so that a unit equal to a factor is read exactly.
N_BINS = max(sprites.FACTOR_SIZES)


def fit_readouts(
    codes: object, factors: object, n_bins: int = N_BINS
) -> dict[str, UnitReadout]:
    """For each factor, the one unit that reads it best, and its readout.

    For every unit, the factor is predicted by a step function of that
    unit: its training values are cut into ``n_bins`` bins of equal counts
    (or one bin per distinct value, where there are at most ``n_bins``),
    and each bin predicts the mean target of its training points (the most
    frequent shape, for shape). The unit with the best training score
    (accuracy or :math:`R^2`, as in :func:`score_readouts`) is kept; on a
    tie, the first.

    Parameters
    ----------
    codes : array-like
        ``(N, d)`` real codes (encoder means), N >= 2, finite.
    factors : array-like
        ``(N, 5)`` integer factor indices; every factor must vary.
    n_bins : int, default :data:`N_BINS`
        Bins per unit, at least 2.

    Returns
    -------
    dict of str to UnitReadout
        One readout per name of :data:`FACTORS`.
    """
    codes = check_code_matrix("codes", codes)
    factors = _check_factors("factors", factors, len(codes))
    n_bins = check_int("n_bins", n_bins, minimum=2)
    _check_varies(factors, "training set")
    targets = factor_targets(factors)
    readouts = {}
    for name in FACTORS:
        best = None
        for unit in range(codes.shape[1]):
            edges, table, predicted = _fit_unit(
                name, codes[:, unit], targets[name], factors[:, 0], n_bins
            )
            score = _score(name, targets[name], predicted)
            if best is None or score > best.training_score:
                best = UnitReadout(unit, edges, table, score)
        readouts[name] = best
    return readouts


def score_readouts(
    readouts: Mapping[str, UnitReadout], codes: object, factors: object
) -> dict[str, float]:
    r"""The readouts' scores on a (test) set: one number per factor.

    Shape: the accuracy. The others: :math:`R^2 = 1 - \sum_n \|y_n -
    \hat y_n\|^2 / \sum_n \|y_n - \bar y\|^2` on this set (1 for a perfect
    readout, 0 for one no better than this set's mean, below 0 for one
    worse than it: a readout fitted on another domain can be). No mean
    over factors is taken: an accuracy and an :math:`R^2` have different
    chance levels.

    Raises
    ------
    ValueError
        If a factor is constant on this set (:math:`R^2` is then 0 / 0),
        or the codes have fewer units than a readout reads.
    """
    if not isinstance(readouts, Mapping) or set(readouts) != set(FACTORS):
        raise TypeError(
            "readouts must be the dict of fit_readouts, one UnitReadout per "
            f"factor of {FACTORS}"
        )
    codes = check_code_matrix("codes", codes)
    factors = _check_factors("factors", factors, len(codes))
    _check_varies(factors, "scored set")
    needed = max(readout.unit for readout in readouts.values()) + 1
    if codes.shape[1] < needed:
        raise ValueError(
            f"codes must have at least {needed} columns: the readouts read "
            f"unit {needed - 1}; got {codes.shape[1]}"
        )
    targets = factor_targets(factors)
    return {
        name: _score(
            name,
            targets[name],
            _predict(name, readouts[name], codes, factors[:, 0]),
        )
        for name in FACTORS
    }


def readout_scores(
    train_codes: object,
    train_factors: object,
    test_codes: object,
    test_factors: object,
    n_bins: int = N_BINS,
) -> dict[str, float]:
    """Fit the one-unit readouts on a training set, score them on a test set.

    :func:`score_readouts` of :func:`fit_readouts`; with source images for
    training and target images for the test, the zero-shot transfer score
    of each factor.
    """
    readouts = fit_readouts(train_codes, train_factors, n_bins)
    return score_readouts(readouts, test_codes, test_factors)


def random_rotation(d: int, seed: int = 0) -> np.ndarray:
    r"""A random rotation of :math:`\mathbb R^d`, uniform (Haar).

    The :math:`Q` of the QR decomposition of a standard Gaussian matrix,
    with the signs of its columns fixed so that :math:`R` has a positive
    diagonal (Mezzadri 2007), and one column negated if needed so that
    :math:`\det Q = +1`. Multiplying a code by it, ``codes @ Q``, keeps
    every linear probe's score and mixes its units.
    """
    d = check_int("d", d, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    gaussian = np.random.default_rng(seed).standard_normal((d, d))
    q, r = np.linalg.qr(gaussian)
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q
