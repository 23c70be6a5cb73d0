r"""Disentanglement metrics: the beta-VAE metric, the FactorVAE metric, MIG.

Each metric asks how well single latent units line up with single ground
truth factors of variation. They are written from the papers' definitions
and the procedures of google-research/disentanglement_lib
(``evaluation/metrics/beta_vae.py``, ``factor_vae.py``, ``mig.py``), with
its default settings; each docstring says where the course differs.

The data are described by the number of values of each factor,
``factor_sizes`` (dSprites' five varying factors: ``(3, 6, 40, 32, 32)``),
and a ``representation``: a function from an ``(N, K)`` integer array of
factor indices to an ``(N, d)`` array, for a VAE the encoder mean of the
images those factors draw. Factors are drawn uniformly from the grid with
NumPy's ``default_rng(seed)`` (disentanglement_lib uses ``RandomState``, so
the draws, though not their law, differ).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score

from vaecourse._validation import check_int, check_real

__all__ = [
    "BetaVAEScore",
    "FactorVAEScore",
    "sample_factor_grid",
    "beta_vae_feature",
    "beta_vae_score",
    "factor_vae_vote",
    "factor_vae_score",
    "discretize",
    "mutual_information_matrix",
    "mig_from_codes",
    "mig_score",
]

Representation = Callable[[np.ndarray], np.ndarray]


class BetaVAEScore(NamedTuple):
    """Accuracy of the beta-VAE metric's linear classifier."""

    train_accuracy: float
    eval_accuracy: float


class FactorVAEScore(NamedTuple):
    """Accuracy of the FactorVAE metric's majority-vote classifier."""

    train_accuracy: float
    eval_accuracy: float
    active_dims: int


def _check_sizes(factor_sizes: object) -> tuple[int, ...]:
    if isinstance(factor_sizes, (str, bytes)) or not isinstance(
        factor_sizes, Sequence
    ):
        raise TypeError(
            "factor_sizes must be a sequence of integers, got "
            f"{type(factor_sizes).__name__}"
        )
    sizes = tuple(
        check_int(f"factor_sizes[{k}]", size, minimum=1)
        for k, size in enumerate(factor_sizes)
    )
    if len(sizes) < 2:
        raise ValueError(
            f"the metrics need at least 2 factors, got {len(sizes)}"
        )
    for k, size in enumerate(sizes):
        if size < 2:
            raise ValueError(
                f"factor {k} has a single value: it does not vary, so no "
                "latent can capture it; leave it out of factor_sizes"
            )
    return sizes


def sample_factor_grid(
    factor_sizes: Sequence[int], n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` factor vectors drawn uniformly from the grid, ``(n, K)``."""
    return np.stack([rng.integers(0, size, n) for size in factor_sizes], 1)


def _represent(
    representation: Representation, factors: np.ndarray
) -> np.ndarray:
    if not callable(representation):
        raise TypeError(
            "representation must be a function of factor indices, got "
            f"{type(representation).__name__}"
        )
    codes = np.asarray(representation(factors), dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] != len(factors):
        raise ValueError(
            f"representation must return shape ({len(factors)}, d) for "
            f"{len(factors)} factor vectors, got {codes.shape}"
        )
    if not np.isfinite(codes).all():
        raise ValueError("representation returned NaN or inf")
    return codes


# ----------------------------------------------------------- beta-VAE


def _check_code_pairs(
    codes_1: object, codes_2: object
) -> tuple[np.ndarray, np.ndarray]:
    codes_1, codes_2 = np.asarray(codes_1), np.asarray(codes_2)
    if codes_1.shape != codes_2.shape or codes_1.ndim != 2:
        raise ValueError(
            "codes_1 and codes_2 must have the same shape (B, d), got "
            f"{codes_1.shape} and {codes_2.shape}"
        )
    return codes_1, codes_2


def beta_vae_feature(codes_1: np.ndarray, codes_2: np.ndarray) -> np.ndarray:
    r"""The beta-VAE metric's feature of one batch of pairs.

    .. math::

        f = \frac1B \sum_{b=1}^{B}
            \left| r(x_{1,b}) - r(x_{2,b}) \right|,

    where the two images of each pair share the value of one factor
    :math:`k` (the label), so the units that encode :math:`k` differ little.

    Parameters
    ----------
    codes_1, codes_2 : numpy.ndarray
        Representations of the two images of each pair, ``(B, d)``.

    Returns
    -------
    numpy.ndarray
        ``(d,)``.
    """
    codes_1, codes_2 = _check_code_pairs(codes_1, codes_2)
    return np.abs(codes_1 - codes_2).mean(axis=0)


def _beta_vae_points(
    representation: Representation,
    sizes: tuple[int, ...],
    n_points: int,
    batch_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, len(sizes), n_points)
    first = sample_factor_grid(sizes, n_points * batch_size, rng)
    second = sample_factor_grid(sizes, n_points * batch_size, rng)
    rows = np.arange(n_points * batch_size)
    shared = np.repeat(labels, batch_size)
    second[rows, shared] = first[rows, shared]
    codes_1 = _represent(representation, first)
    codes_2 = _represent(representation, second)
    d = codes_1.shape[1]
    features = (
        np.abs(codes_1 - codes_2).reshape(n_points, batch_size, d).mean(1)
    )
    return features, labels


def beta_vae_score(
    representation: Representation,
    factor_sizes: Sequence[int],
    *,
    batch_size: int = 64,
    n_train: int = 10_000,
    n_eval: int = 5_000,
    seed: int = 0,
    max_iter: int = 1000,
) -> BetaVAEScore:
    """The beta-VAE metric (Higgins et al. 2017).

    For each point a factor :math:`k` is drawn at random, then
    ``batch_size`` pairs of factor vectors that share factor :math:`k`;
    the point's feature is :func:`beta_vae_feature` of their
    representations and its label is :math:`k`. A linear classifier
    (scikit-learn's ``LogisticRegression``, lbfgs, ``max_iter`` set) is
    fitted on ``n_train`` points and scored on ``n_eval`` others. Chance is
    :math:`1/K`.

    Settings are disentanglement_lib's (batch 64, 10,000 and 5,000 points).
    scikit-learn changed its default solver in 0.22, so scores computed
    with older versions need not reproduce exactly.

    Returns
    -------
    BetaVAEScore
        Train and evaluation accuracy.
    """
    sizes = _check_sizes(factor_sizes)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n_train = check_int("n_train", n_train, minimum=2)
    n_eval = check_int("n_eval", n_eval, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    rng = np.random.default_rng(seed)
    x_train, y_train = _beta_vae_points(
        representation, sizes, n_train, batch_size, rng
    )
    x_eval, y_eval = _beta_vae_points(
        representation, sizes, n_eval, batch_size, rng
    )
    if len(np.unique(y_train)) < 2:
        raise ValueError(
            "the training points hold a single label: raise n_train"
        )
    classifier = LogisticRegression(max_iter=max_iter)
    classifier.fit(x_train, y_train)
    return BetaVAEScore(
        train_accuracy=float(classifier.score(x_train, y_train)),
        eval_accuracy=float(classifier.score(x_eval, y_eval)),
    )


# ---------------------------------------------------------- FactorVAE


def factor_vae_vote(
    codes: np.ndarray, global_variances: np.ndarray, active: np.ndarray
) -> int:
    r"""The FactorVAE metric's vote of a batch with one factor held fixed.

    .. math::

        \arg\min_{j \in \text{active}}
            \frac{\operatorname{Var}_{\text{batch}}[z_j]}
                 {\operatorname{Var}_{\text{all}}[z_j]},

    the unit that varies least, relative to its overall spread, when one
    factor is held fixed (batch variances with ``ddof=1``).

    Parameters
    ----------
    codes : numpy.ndarray
        Representations of the batch, ``(B, d)``.
    global_variances : numpy.ndarray
        ``(d,)``: each unit's variance over the whole data.
    active : numpy.ndarray
        ``(d,)`` booleans: the units kept after pruning.

    Returns
    -------
    int
        The position of the chosen unit among the active ones.
    """
    codes = np.asarray(codes, dtype=np.float64)
    active = np.asarray(active, dtype=bool)
    if not active.any():
        raise ValueError("no active unit to vote for")
    local = np.var(codes, axis=0, ddof=1)
    return int(np.argmin(local[active] / global_variances[active]))


def factor_vae_score(
    representation: Representation,
    factor_sizes: Sequence[int],
    *,
    batch_size: int = 64,
    n_train: int = 10_000,
    n_eval: int = 5_000,
    n_variance: int = 10_000,
    prune_std: float = 0.05,
    seed: int = 0,
) -> FactorVAEScore:
    """The FactorVAE metric (Kim and Mnih 2018).

    Each unit's global variance is estimated on ``n_variance`` random
    points; units with a standard deviation below ``prune_std`` are
    pruned. Each vote fixes a random factor :math:`k` across a batch and
    takes :func:`factor_vae_vote`; the classifier maps each unit to the
    factor that most often voted for it (majority vote), and its accuracy
    is the fraction of votes it gets right. With every unit pruned (an
    all-constant representation) both accuracies are 0, as in
    disentanglement_lib.

    Settings: disentanglement_lib's (batch 64, 10,000 training and 5,000
    evaluation votes, 10,000 points for the variances) with the pruning
    threshold 0.05 of its unsupervised study (the code's default is 0).

    Returns
    -------
    FactorVAEScore
        Train and evaluation accuracy, and the number of active units.
    """
    sizes = _check_sizes(factor_sizes)
    batch_size = check_int("batch_size", batch_size, minimum=2)
    n_train = check_int("n_train", n_train, minimum=1)
    n_eval = check_int("n_eval", n_eval, minimum=1)
    n_variance = check_int("n_variance", n_variance, minimum=2)
    prune_std = check_real("prune_std", prune_std, minimum=0.0)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    codes = _represent(
        representation, sample_factor_grid(sizes, n_variance, rng)
    )
    global_variances = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_std
    if not active.any():
        return FactorVAEScore(0.0, 0.0, 0)

    def votes(n_votes: int) -> np.ndarray:
        counts = np.zeros((len(sizes), int(active.sum())), dtype=np.int64)
        labels = rng.integers(0, len(sizes), n_votes)
        factors = sample_factor_grid(sizes, n_votes * batch_size, rng)
        factors = factors.reshape(n_votes, batch_size, len(sizes))
        for i, k in enumerate(labels):
            factors[i, :, k] = factors[i, 0, k]
        codes = _represent(representation, factors.reshape(-1, len(sizes)))
        codes = codes.reshape(n_votes, batch_size, -1)
        for i, k in enumerate(labels):
            counts[k, factor_vae_vote(codes[i], global_variances, active)] += 1
        return counts

    train_votes = votes(n_train)
    eval_votes = votes(n_eval)
    # Each unit is assigned the factor that voted for it most often.
    assigned = np.argmax(train_votes, axis=0)
    units = np.arange(train_votes.shape[1])
    return FactorVAEScore(
        train_accuracy=float(
            train_votes[assigned, units].sum() / train_votes.sum()
        ),
        eval_accuracy=float(
            eval_votes[assigned, units].sum() / eval_votes.sum()
        ),
        active_dims=int(active.sum()),
    )


# ---------------------------------------------------------------- MIG


def discretize(codes: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Each unit's values put into ``n_bins`` equal-width bins (integers).

    The bins span each unit's own range, as ``numpy.histogram`` draws them
    (disentanglement_lib's ``histogram_discretize``).
    """
    codes = np.asarray(codes, dtype=np.float64)
    n_bins = check_int("n_bins", n_bins, minimum=2)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (N, d), got {codes.shape}")
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], n_bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def mutual_information_matrix(
    discrete_codes: np.ndarray, factors: np.ndarray
) -> np.ndarray:
    """Mutual information, in nats, of each unit with each factor, ``(d, K)``.

    Plug-in estimates from the empirical joint distribution
    (scikit-learn's ``mutual_info_score``).
    """
    d, k = discrete_codes.shape[1], factors.shape[1]
    return np.array(
        [
            [
                mutual_info_score(factors[:, b], discrete_codes[:, a])
                for b in range(k)
            ]
            for a in range(d)
        ]
    )


def mig_from_codes(
    codes: np.ndarray, factors: np.ndarray, n_bins: int = 20
) -> float:
    r"""Mutual information gap of given codes and factors.

    .. math::

        \begin{aligned}
        \mathrm{MIG} &= \frac1K \sum_{k=1}^{K}
            \frac{I(z_{j^{(k)}}; v_k) - \max_{j \ne j^{(k)}} I(z_j; v_k)}
                 {H(v_k)}, \\
        j^{(k)} &= \arg\max_j I(z_j; v_k),
        \end{aligned}

    with each unit discretised by :func:`discretize` and every information
    and entropy estimated from the empirical distribution of the points
    (as disentanglement_lib does; Chen et al.'s own code estimates them by
    sampling :math:`q(z \mid x)` instead).

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N, d)`` representations, ``d >= 2``.
    factors : numpy.ndarray
        ``(N, K)`` integer factor values of the same points.
    n_bins : int, default 20

    Returns
    -------
    float
        In [0, 1].
    """
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2:
        raise ValueError(
            "codes and factors must have shapes (N, d) and (N, K), got "
            f"{codes.shape} and {factors.shape}"
        )
    if len(codes) != len(factors):
        raise ValueError(
            "codes and factors must hold the same number of points, got "
            f"{len(codes)} and {len(factors)}"
        )
    if codes.shape[1] < 2:
        raise ValueError(
            f"MIG needs at least 2 latent units, got {codes.shape[1]}"
        )
    information = mutual_information_matrix(discretize(codes, n_bins), factors)
    entropy = np.array(
        [mutual_info_score(column, column) for column in factors.T]
    )
    if (entropy == 0).any():
        k = int(np.flatnonzero(entropy == 0)[0])
        raise ValueError(
            f"factor {k} takes a single value on these points: its "
            "entropy is 0 and MIG is undefined"
        )
    top_two = np.sort(information, axis=0)[::-1][:2]
    return float(np.mean((top_two[0] - top_two[1]) / entropy))


def mig_score(
    representation: Representation,
    factor_sizes: Sequence[int],
    *,
    n_points: int = 10_000,
    n_bins: int = 20,
    seed: int = 0,
) -> float:
    """MIG (Chen et al. 2018) of a representation on ``n_points`` points.

    Settings: disentanglement_lib's (10,000 points, 20 bins); see
    :func:`mig_from_codes` for the estimator.
    """
    sizes = _check_sizes(factor_sizes)
    n_points = check_int("n_points", n_points, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    factors = sample_factor_grid(sizes, n_points, rng)
    return mig_from_codes(_represent(representation, factors), factors, n_bins)
