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

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score

from vaecourse._validation import (
    check_generator,
    check_instance,
    check_int,
    check_mean_logvar,
    check_real,
)

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
    "unit_information",
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


def _check_factor_sequence(factor_sizes: object) -> tuple[int, ...]:
    if isinstance(factor_sizes, (str, bytes)) or not isinstance(
        factor_sizes, Sequence
    ):
        raise TypeError(
            "factor_sizes must be a sequence of integers, got "
            f"{type(factor_sizes).__name__}"
        )
    return tuple(
        check_int(f"factor_sizes[{k}]", size, minimum=1)
        for k, size in enumerate(factor_sizes)
    )


def _check_sizes(factor_sizes: object) -> tuple[int, ...]:
    sizes = _check_factor_sequence(factor_sizes)
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


def _check_count(name: str, value: object, minimum: int, why: str) -> int:
    """:func:`check_int`, with the reason for ``minimum`` in the message."""
    value = check_int(name, value)
    if value < minimum:
        raise ValueError(
            f"{name} must be at least {minimum} ({why}), got {value}"
        )
    return value


# What each set of NumPy dtype kinds is called in messages.
_KINDS = {
    "iuf": "real numbers",
    "iu": "integers",
    "b": "booleans",
}


def _check_array(
    name: str,
    value: object,
    labels: str,
    *,
    kinds: str = "iuf",
    hint: str = "",
) -> np.ndarray:
    """``value`` as an array of the shape ``labels`` writes, ``"(N, d)"``.

    NumPy's counterpart of the package's tensor checks: a dtype outside
    ``kinds`` (NumPy's kind letters: ``b`` bool, ``i``/``u`` integers,
    ``f`` floats) raises ``TypeError`` (``hint`` appended to its message),
    a wrong number of dimensions, NaN or an infinity raises
    ``ValueError``, with the messages of
    :func:`vaecourse._validation.check_finite`. The values are always
    scanned: a metric runs once, not at every step of a training loop.
    """
    array = np.asarray(value)
    if array.dtype.kind not in kinds:
        raise TypeError(
            f"{name} must hold {_KINDS[kinds]}, got dtype {array.dtype}" + hint
        )
    ndim = len([size for size in labels.strip("()").split(",") if size])
    if array.ndim != ndim:
        raise ValueError(f"{name} must have shape {labels}, got {array.shape}")
    finite = np.isfinite(array)
    if not finite.all():
        if np.isnan(array).any():
            raise ValueError(f"{name} contains NaN")
        raise ValueError(
            f"{name} must be finite, found {array[~finite].flat[0]}"
        )
    return array


def _check_same_length(
    name_a: str, a: np.ndarray, name_b: str, b: np.ndarray
) -> None:
    if len(a) != len(b):
        raise ValueError(
            f"{name_a} and {name_b} must hold the same number of points, "
            f"got {len(a)} and {len(b)}"
        )


def sample_factor_grid(
    factor_sizes: Sequence[int], n: int, rng: np.random.Generator
) -> np.ndarray:
    r"""``n`` factor vectors drawn uniformly from the grid, ``(n, K)``.

    Factor :math:`k` takes a value in :math:`\{0, \dots, n_k - 1\}`,
    :math:`n_k` = ``factor_sizes[k]``, each factor drawn independently.
    """
    sizes = _check_factor_sequence(factor_sizes)
    n = check_int("n", n, minimum=1)
    check_instance("rng", rng, np.random.Generator)
    return np.stack([rng.integers(0, size, n) for size in sizes], 1)


def _check_representation(representation: object) -> None:
    if not callable(representation):
        raise TypeError(
            "representation must be a function of factor indices, got "
            f"{type(representation).__name__}"
        )


def _represent(
    representation: Representation,
    factors: np.ndarray,
    units: int | None = None,
) -> np.ndarray:
    """``representation(factors)`` as float64 ``(N, d)``, checked.

    ``units``: the ``d`` of an earlier call, which every call must keep
    (the features of the two sets are compared unit by unit).
    """
    _check_representation(representation)
    n = len(factors)
    returned = representation(factors)
    try:
        codes = np.asarray(returned)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            "representation must return an array of real numbers, got "
            f"a {type(returned).__name__} NumPy cannot convert: {error}"
        ) from None
    # Booleans are numbers here (a binary code), as the float64 copy makes
    # them; strings, objects and complex numbers are not.
    if codes.dtype.kind not in "biuf":
        raise TypeError(
            "representation must return an array of real numbers, got "
            f"a {type(returned).__name__} of dtype {codes.dtype}"
        )
    codes = codes.astype(np.float64, copy=False)
    if codes.ndim != 2 or codes.shape[0] != n:
        raise ValueError(
            f"representation must return shape ({n}, d) for "
            f"{n} factor vectors, got {codes.shape}"
        )
    if codes.shape[1] == 0:
        raise ValueError(
            f"representation returned no unit, shape {codes.shape}: it "
            "must return at least one number per factor vector"
        )
    if units is not None and codes.shape[1] != units:
        raise ValueError(
            f"representation returned {codes.shape[1]} units here and "
            f"{units} on an earlier call: it must return the same number "
            "of units on every call"
        )
    bad = ~np.isfinite(codes).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        kind = "NaN" if np.isnan(codes[first]).any() else "inf"
        raise ValueError(
            f"representation returned {kind} for {int(bad.sum())} of {n} "
            f"factor vectors (the first: {factors[first].tolist()}); the "
            "metrics need finite codes"
        )
    return codes


def _check_every_factor(
    labels: np.ndarray, n_factors: int, name: str, what: str
) -> None:
    """Raise unless each factor labels at least one of the points."""
    counts = np.bincount(labels, minlength=n_factors)
    if (counts == 0).any():
        k = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(
            f"the {len(labels)} {what} drawn hold none of factor {k}: the "
            "classifier could never predict it, and the score would "
            f"measure the draw, not the representation; raise {name}"
        )


# ----------------------------------------------------------- beta-VAE


def _check_code_pairs(
    codes_1: object, codes_2: object
) -> tuple[np.ndarray, np.ndarray]:
    codes_1 = _check_array("codes_1", codes_1, "(B, d)")
    codes_2 = _check_array("codes_2", codes_2, "(B, d)")
    if codes_1.shape != codes_2.shape:
        raise ValueError(
            "codes_1 and codes_2 must have the same shape (B, d), got "
            f"{codes_1.shape} and {codes_2.shape}"
        )
    if len(codes_1) == 0:
        raise ValueError(
            "codes_1 and codes_2 must hold at least one pair, got a batch "
            "of 0: the mean over no pairs is NaN"
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
        Representations of the two images of each pair, ``(B, d)``, real
        and finite, ``B >= 1``.

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
    *,
    every_factor: bool = False,
    units: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, len(sizes), n_points)
    if every_factor:  # before the draws below: the same stream either way
        _check_every_factor(labels, len(sizes), "n_train", "training points")
    first = sample_factor_grid(sizes, n_points * batch_size, rng)
    second = sample_factor_grid(sizes, n_points * batch_size, rng)
    rows = np.arange(n_points * batch_size)
    shared = np.repeat(labels, batch_size)
    second[rows, shared] = first[rows, shared]
    codes_1 = _represent(representation, first, units)
    codes_2 = _represent(representation, second, codes_1.shape[1])
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
    r"""The beta-VAE metric (Higgins et al. 2017).

    For each point a factor :math:`k` is drawn at random, then
    ``batch_size`` pairs of factor vectors that share factor :math:`k`;
    the point's feature is :func:`beta_vae_feature` of their
    representations and its label is :math:`k`. A linear classifier
    (scikit-learn's ``LogisticRegression``, lbfgs, ``max_iter`` set) is
    fitted on ``n_train`` points and scored on ``n_eval`` others:

    .. math::

        \text{accuracy} = \frac1n \sum_{i=1}^{n}
            [\hat k(f_i) = k_i],

    over the training points (``train_accuracy``, in-sample) and over the
    evaluation points (``eval_accuracy``, the score). Chance is
    :math:`1/K`.

    Every factor must label at least one training point, and there must
    be at least one evaluation point per factor (``n_train, n_eval >=
    K``). A factor that labels no training point is a class the
    classifier can never predict: its evaluation points are errors
    whatever the representation, and the score measures the draw. The
    labels are drawn before any image, so too few training points fail
    at once. Evaluation points are only averaged, so a factor missing
    there biases nothing; ``n_eval >= K`` lets each be tested. These are
    floors, not good sizes: with few points per unit a linear classifier
    fits any labels, and the training accuracy says nothing.

    Settings are disentanglement_lib's (batch 64, 10,000 and 5,000 points).
    scikit-learn changed its default solver in 0.22, so scores computed
    with older versions need not reproduce exactly.

    Returns
    -------
    BetaVAEScore
        Train and evaluation accuracy.
    """
    _check_representation(representation)
    sizes = _check_sizes(factor_sizes)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n_train = _check_count(
        "n_train", n_train, len(sizes), "one training point per factor"
    )
    n_eval = _check_count(
        "n_eval", n_eval, len(sizes), "one evaluation point per factor"
    )
    seed = check_int("seed", seed, minimum=0)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    rng = np.random.default_rng(seed)
    x_train, y_train = _beta_vae_points(
        representation, sizes, n_train, batch_size, rng, every_factor=True
    )
    x_eval, y_eval = _beta_vae_points(
        representation, sizes, n_eval, batch_size, rng, units=x_train.shape[1]
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
    factor is held fixed (batch variances with ``ddof=1``). The ratio is
    the batch variance of :math:`z_j / s_j`, the unit divided by its
    global standard deviation :math:`s_j`, as Kim and Mnih normalise.

    Parameters
    ----------
    codes : numpy.ndarray
        Representations of the batch, ``(B, d)``, finite, ``B >= 2`` (a
        batch of one has no within-batch variance).
    global_variances : numpy.ndarray
        ``(d,)``: each unit's variance over the whole data, ``> 0`` for
        every active unit (the ratio divides by it).
    active : numpy.ndarray
        ``(d,)`` booleans: the units kept after pruning, at least one.

    Returns
    -------
    int
        The position of the chosen unit among the active ones.
    """
    codes = np.asarray(_check_array("codes", codes, "(B, d)"), np.float64)
    if len(codes) < 2:
        raise ValueError(
            f"codes must hold at least 2 points, got a batch of "
            f"{len(codes)}: a batch of one has no within-batch variance, "
            "so no unit can be seen to vary least"
        )
    d = codes.shape[1]
    global_variances = _check_array(
        "global_variances", global_variances, "(d,)"
    )
    active = _check_array("active", active, "(d,)", kinds="b")
    for name, array in (
        ("global_variances", global_variances),
        ("active", active),
    ):
        if array.shape != (d,):
            raise ValueError(
                f"{name} must have shape (d,) = ({d},), one entry per "
                f"unit of codes, got {array.shape}"
            )
    if (global_variances < 0).any():
        j = int(np.flatnonzero(global_variances < 0)[0])
        raise ValueError(
            "global_variances must be non-negative, found "
            f"{global_variances[j]} for unit {j}"
        )
    if not active.any():
        raise ValueError("active selects no unit: there is none to vote for")
    constant = active & (global_variances == 0)
    if constant[active].all():
        raise ValueError(
            "no active unit varies (global_variances is 0 for every one): "
            "no ratio can be formed, so no vote can be cast"
        )
    if constant.any():
        j = int(np.flatnonzero(constant)[0])
        raise ValueError(
            f"global_variances is 0 for active unit {j}: a unit that does "
            "not vary has no scale to divide by; prune it "
            f"(active[{j}] = False)"
        )
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
    r"""The FactorVAE metric (Kim and Mnih 2018).

    Each unit's global variance :math:`s_j^2` is estimated on
    ``n_variance`` random points (``ddof=1``), and units with a standard
    deviation :math:`s_j` below ``prune_std`` are pruned: the threshold
    is on :math:`s_j`, not :math:`s_j^2`, as in disentanglement_lib's
    ``_prune_dims``. Each vote fixes a random factor :math:`k` across a
    batch and takes :func:`factor_vae_vote`. With :math:`c_{kj}` the
    number of training votes of factor :math:`k` for unit :math:`j`, the
    classifier assigns each unit its majority factor, and scores the
    fraction of votes it gets right:

    .. math::

        a(j) = \arg\max_k c_{kj}, \qquad
        \text{accuracy} = \frac{\sum_j c_{a(j)\,j}}{\sum_{k,j} c_{kj}},

    ties, and units no training vote chose, going to the lowest factor.
    The evaluation accuracy is the same fraction of the evaluation votes
    :math:`c'_{kj}`, with the same :math:`a` (fitted on the training
    votes only). With every unit pruned (an all-constant representation)
    both accuracies are 0, as in disentanglement_lib.

    Every factor must cast at least one training vote, and there must be
    at least one evaluation vote per factor (``n_train, n_eval >= K``). A
    factor with no training vote is never assigned to a unit, so its
    evaluation votes are errors whatever the representation (and with
    ``n_train=1`` the training accuracy is 1.0, one vote agreeing with
    itself). The labels are drawn before any image, so too few training
    votes fail at once. Evaluation votes are only counted, so a factor
    missing there biases nothing; ``n_eval >= K`` lets each be tested.
    These are floors, not good sizes. A unit constant on the
    ``n_variance`` points must be pruned (``prune_std > 0``): its vote
    would divide by a global variance of 0.

    Settings: disentanglement_lib's (batch 64, 10,000 training and 5,000
    evaluation votes, 10,000 points for the variances) with the pruning
    threshold 0.05 of its unsupervised study (the code's default is 0).

    Returns
    -------
    FactorVAEScore
        Train and evaluation accuracy, and the number of active units.
    """
    _check_representation(representation)
    sizes = _check_sizes(factor_sizes)
    batch_size = _check_count(
        "batch_size", batch_size, 2, "a batch of one has no variance"
    )
    n_train = _check_count(
        "n_train", n_train, len(sizes), "one training vote per factor"
    )
    n_eval = _check_count(
        "n_eval", n_eval, len(sizes), "one evaluation vote per factor"
    )
    n_variance = check_int("n_variance", n_variance, minimum=2)
    prune_std = check_real("prune_std", prune_std, minimum=0.0)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    codes = _represent(
        representation, sample_factor_grid(sizes, n_variance, rng)
    )
    d = codes.shape[1]
    global_variances = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_std
    if not active.any():
        return FactorVAEScore(0.0, 0.0, 0)
    if (active & (global_variances == 0)).any():
        j = int(np.flatnonzero(active & (global_variances == 0))[0])
        raise ValueError(
            f"unit {j} of the representation is constant on the "
            f"{n_variance} points, and prune_std={prune_std} keeps it: "
            "its vote would divide by a global variance of 0; set "
            "prune_std above 0 to prune it"
        )

    def votes(n_votes: int, every_factor: bool) -> np.ndarray:
        counts = np.zeros((len(sizes), int(active.sum())), dtype=np.int64)
        labels = rng.integers(0, len(sizes), n_votes)
        if every_factor:  # before the draws below: the same stream
            _check_every_factor(
                labels, len(sizes), "n_train", "training votes"
            )
        factors = sample_factor_grid(sizes, n_votes * batch_size, rng)
        factors = factors.reshape(n_votes, batch_size, len(sizes))
        for i, k in enumerate(labels):
            factors[i, :, k] = factors[i, 0, k]
        codes = _represent(representation, factors.reshape(-1, len(sizes)), d)
        codes = codes.reshape(n_votes, batch_size, -1)
        for i, k in enumerate(labels):
            counts[k, factor_vae_vote(codes[i], global_variances, active)] += 1
        return counts

    train_votes = votes(n_train, every_factor=True)
    eval_votes = votes(n_eval, every_factor=False)
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
    (disentanglement_lib's ``histogram_discretize``). ``codes``: ``(N,
    d)``, real and finite (a range with NaN or inf has no bins).
    """
    n_bins = check_int("n_bins", n_bins, minimum=2)
    codes = np.asarray(_check_array("codes", codes, "(N, d)"), np.float64)
    if len(codes) == 0:
        raise ValueError(
            f"codes must hold at least one point, got shape {codes.shape}"
        )
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], n_bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def _check_discrete_pair(
    name: str, discrete: object, factors: object
) -> tuple[np.ndarray, np.ndarray]:
    discrete = _check_array(
        name,
        discrete,
        "(N, d)",
        kinds="iu",
        hint=" (bin numbers: discretize real codes first)",
    )
    factors = _check_array("factors", factors, "(N, K)", kinds="iu")
    _check_same_length(name, discrete, "factors", factors)
    if len(factors) == 0:
        raise ValueError(
            f"{name} and factors must hold at least one point, got 0"
        )
    return discrete, factors


def mutual_information_matrix(
    discrete_codes: np.ndarray, factors: np.ndarray
) -> np.ndarray:
    r"""Mutual information, in nats, of each unit with each factor, ``(d, K)``.

    .. math::

        I(z_j; v_k) = \sum_{a, b} \hat p(a, b)
            \log \frac{\hat p(a, b)}{\hat p(a)\, \hat p(b)},

    plug-in estimates from the empirical joint distribution of the points
    (scikit-learn's ``mutual_info_score``). Both arrays hold integers:
    ``discrete_codes`` ``(N, d)`` bin numbers (:func:`discretize` real
    codes first: each distinct real value would be a bin of its own),
    ``factors`` ``(N, K)`` factor values of the same points.
    """
    discrete_codes, factors = _check_discrete_pair(
        "discrete_codes", discrete_codes, factors
    )
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

    There must be more points than bins, :math:`N > n_{\text{bins}}`.
    With :math:`N \le n_{\text{bins}}` points a unit can put each point
    in a bin of its own; it then determines every factor on these points
    (:math:`I(z_j; v_k) = H(v_k)`), whatever it encodes, and two such
    units give a gap of 0 (``mig_score`` on 3 points returned 0.0). More
    points than bins make this impossible by the pigeonhole principle.
    It is a floor, not a good size: the plug-in information is biased
    upwards by about :math:`(n_{\text{bins}} - 1)(n_k - 1) / (2N)` nats
    for a factor of :math:`n_k` values, so :math:`N` should be well
    above :math:`n_{\text{bins}} n_k`.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N, d)`` representations, real and finite, ``d >= 2``.
    factors : numpy.ndarray
        ``(N, K)`` integer factor values of the same points, each factor
        taking at least two values on them (:math:`H(v_k) > 0`).
    n_bins : int, default 20
        At least 2, and fewer than ``N``.

    Returns
    -------
    float
        In [0, 1].
    """
    n_bins = check_int("n_bins", n_bins, minimum=2)
    codes = _check_array("codes", codes, "(N, d)")
    factors = _check_array("factors", factors, "(N, K)", kinds="iu")
    _check_same_length("codes", codes, "factors", factors)
    if codes.shape[1] < 2:
        raise ValueError(
            f"MIG needs at least 2 latent units, got {codes.shape[1]}"
        )
    if len(codes) <= n_bins:
        raise ValueError(
            f"MIG needs more points than bins, got {len(codes)} points "
            f"and n_bins={n_bins}: with no more points than bins each "
            "point can have a bin of its own, and every gap can be 0"
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
    :func:`mig_from_codes` for the estimator and for why ``n_points``
    must exceed ``n_bins``.
    """
    _check_representation(representation)
    sizes = _check_sizes(factor_sizes)
    n_bins = check_int("n_bins", n_bins, minimum=2)
    n_points = _check_count(
        "n_points", n_points, n_bins + 1, f"more than n_bins={n_bins}"
    )
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    factors = sample_factor_grid(sizes, n_points, rng)
    return mig_from_codes(_represent(representation, factors), factors, n_bins)


# --- the information each unit carries about the input -----------------------


def unit_information(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    samples: int = 1,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    r"""The mutual information :math:`I(x; z_j)` of each latent unit, nats.

    With the data distribution taken as the :math:`N` inputs whose
    posteriors :math:`q(z_j \mid x_n) = \mathcal N(\mu_{nj},
    \sigma_{nj}^2)` are given, and the aggregate posterior
    :math:`q(z_j) = \frac1N \sum_k q(z_j \mid x_k)`,

    .. math::

        I(x; z_j) = \frac1N \sum_{n=1}^{N}
        \mathbb E_{q(z_j \mid x_n)}\left[\log q(z_j \mid x_n)
        - \log q(z_j)\right],

    estimated with ``samples`` draws of :math:`z_j` per input. It lies in
    :math:`[0, \log N]`: 0 for a unit whose posterior is the same for
    every input, :math:`\log N` for one that tells every input apart. A
    unit can carry information at a scale its decoder cannot read (means
    that differ by 1e-3 with :math:`\sigma` = 1e-6 tell the inputs apart).

    Parameters
    ----------
    mu, logvar : torch.Tensor
        ``(N, m)``, finite, the same shape and dtype; N >= 2.
    samples : int, default 1
        Draws per input.
    generator : torch.Generator, optional
        The source of the draws.

    Returns
    -------
    numpy.ndarray
        ``(m,)`` float64.
    """
    check_mean_logvar(mu, logvar)
    if mu.dim() != 2 or len(mu) < 2:
        raise ValueError(
            f"mu must have shape (N, m) with N >= 2 inputs, got "
            f"{tuple(mu.shape)}"
        )
    samples = check_int("samples", samples, minimum=1)
    generator = check_generator(generator)
    mu, logvar = mu.detach().double(), logvar.detach().double()
    std = (0.5 * logvar).exp()
    n = len(mu)
    total = torch.zeros(mu.shape[1], dtype=torch.float64)
    for _ in range(samples):
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        z = mu + std * eps  # (N, m): one draw of each unit for each input
        for j in range(mu.shape[1]):  # (N, N) at a time, not (N, N, m)
            # log N(z_n; mu_k, sigma_k) of unit j, for every pair (n, k)
            log_q = (
                -0.5
                * ((z[:, j, None] - mu[None, :, j]) / std[None, :, j]) ** 2
                - 0.5 * logvar[None, :, j]
                - 0.5 * math.log(2 * math.pi)
            )
            own = log_q.diagonal()  # log q(z_n | x_n)
            aggregate = torch.logsumexp(log_q, dim=1) - math.log(n)
            total[j] += (own - aggregate).mean()
    return (total / samples).numpy()
