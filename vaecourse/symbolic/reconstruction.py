r"""The reconstruction term's likelihoods (chapters "Autoencoders", "The
ELBO" and "The KL divergence, derived and verified").

A Gaussian decoder's negative log-likelihood is a scaled sum of squares
plus a constant (:func:`gaussian_nll_identity`), and a sum of squares is not
its square root (:func:`sum_of_squares_is_not_its_square_root`, erratum 1).
Binary cross-entropy is minimised at the target, with the binary entropy as
its minimum (:func:`bce_minimiser_and_minimum`), and the continuous
Bernoulli's constant normalises it on grey values
(:func:`continuous_bernoulli_normaliser_integrates_to_one`, erratum 2).
The expected squared error splits into a distance to the mean and a
variance (:func:`squared_error_split`, chapter "DARLA"): why a pixel loss
blurs.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from vaecourse._validation import check_int
from vaecourse.symbolic.proof import (
    HALF,
    Proof,
    _simplified_difference,
    prove_equal,
)

__all__ = [
    "gaussian_nll_identity",
    "sum_of_squares_is_not_its_square_root",
    "BCEMinimum",
    "bce_minimiser_and_minimum",
    "continuous_bernoulli_normaliser_integrates_to_one",
    "squared_error_split",
]


def _check_dimension(name: str, value: object) -> int:
    value = check_int(name, value)
    if not 1 <= value <= 50:
        raise ValueError(f"{name} must be between 1 and 50, got {value}")
    return value


def gaussian_nll_identity(n: int | None = None) -> Proof:
    r"""Prove the Gaussian negative log-likelihood to be a scaled sum of
    squares plus a constant.

    .. math::

        \begin{aligned}
        -\log\mathcal N(x; \hat x, s^2 I)
        &= -\sum_{i=1}^n \log\left(\frac{1}{\sqrt{2\pi s^2}}
          e^{-(x_i - \hat x_i)^2 / (2 s^2)}\right) \\
        &= \frac{\|x - \hat x\|^2}{2 s^2} + \frac n2 \log(2\pi s^2),
        \end{aligned}

    with :math:`\|x - \hat x\|^2 = \sum_i (x_i - \hat x_i)^2`, a sum of
    squares with no square root (chapter "The ELBO"; erratum 8).

    Parameters
    ----------
    n : int or None
        Data dimension, 1 to 50; ``None`` (default) proves it for a
        symbolic :math:`n` with ``sympy.Sum``.

    Returns
    -------
    Proof
    """
    if n is not None:
        n = _check_dimension("n", n)
    s = sp.Symbol("s", positive=True)
    i = sp.Symbol("i", integer=True, positive=True)
    x = sp.IndexedBase("x", real=True)
    x_hat = sp.IndexedBase("xhat", real=True)
    if n is None:
        size = sp.Symbol("n", integer=True, positive=True)
    else:
        size = sp.Integer(n)

    def total(f: sp.Expr) -> sp.Expr:
        if n is None:
            return sp.Sum(f, (i, 1, size))
        return sp.Add(*[f.subs(i, j) for j in range(1, n + 1)])

    density = sp.exp(-((x[i] - x_hat[i]) ** 2) / (2 * s**2)) / sp.sqrt(
        2 * sp.pi * s**2
    )
    nll = -total(sp.log(density))
    closed = total((x[i] - x_hat[i]) ** 2) / (2 * s**2) + size / 2 * sp.log(
        2 * sp.pi * s**2
    )
    return prove_equal(
        nll,
        closed,
        "-log N(x; xhat, s^2 I) = ||x - xhat||^2/(2 s^2) "
        "+ (n/2) log(2 pi s^2)",
        latex=r"\frac{\|x - \hat x\|_2^2}{2 s^2} + \frac n2 \log(2\pi s^2)",
    )


def sum_of_squares_is_not_its_square_root(n: int = 2) -> Proof:
    r"""Refute the notes' :math:`\|x - \hat x\|_2^2
    = \sqrt{\sum_i (x_i - \hat x_i)^2}` (erratum 1).

    The difference :math:`S - \sqrt S` of :math:`S = \sum_i d_i^2` does not
    simplify to 0; the counterexample :math:`d = (3, 4)` gives
    :math:`25 \ne 5`. (The two agree only where :math:`S \in \{0, 1\}`.)

    Parameters
    ----------
    n : int
        Number of coordinates, 1 to 50, default 2.

    Returns
    -------
    Proof
        ``holds`` is False and ``counterexample`` is set.
    """
    n = _check_dimension("n", n)
    d = sp.symbols(f"d_1:{n + 1}", real=True)
    squares = sp.Add(*[di**2 for di in d])
    values = dict.fromkeys(d, sp.Integer(0))
    if n == 1:
        values[d[0]] = sp.Integer(2)
    else:
        values[d[0]], values[d[1]] = sp.Integer(3), sp.Integer(4)
    return Proof(
        "sum_i d_i^2 = sqrt(sum_i d_i^2)",
        squares,
        sp.sqrt(squares),
        _simplified_difference(squares, sp.sqrt(squares)),
        values,
    )


@dataclass(frozen=True)
class BCEMinimum:
    r"""Binary cross-entropy :math:`-[t\log p + (1 - t)\log(1 - p)]` as a
    function of :math:`p`, minimised.

    Attributes
    ----------
    bce, entropy : sympy.Expr
        The loss and the binary entropy
        :math:`H(t) = -[t\log t + (1 - t)\log(1 - t)]`.
    minimiser : sympy.Expr or None
        The stationary point ``sympy.solve`` finds for
        :math:`\partial\mathrm{BCE}/\partial p = 0`, or ``None`` if it does
        not find exactly one.
    minimum : sympy.Expr
        The loss at :attr:`minimiser` (``nan`` without one).
    minimiser_is_target : bool
        The only stationary point is :math:`p = t`, and it is a minimum.
    minimum_is_entropy : bool
        The minimum equals :math:`H(t)`.
    minimum_positive_inside : bool
        :math:`H(t) > 0` for :math:`0 < t < 1` (concave, 0 at both ends).
    minimum_zero_at_binary_targets : bool
        :math:`H(t) \to 0` as :math:`t \to 0` or :math:`t \to 1`.
    """

    bce: sp.Expr
    minimiser: sp.Expr | None
    minimum: sp.Expr
    entropy: sp.Expr
    minimiser_is_target: bool
    minimum_is_entropy: bool
    minimum_positive_inside: bool
    minimum_zero_at_binary_targets: bool

    @property
    def holds(self) -> bool:
        """True when all four facts are proved."""
        return (
            self.minimiser_is_target
            and self.minimum_is_entropy
            and self.minimum_positive_inside
            and self.minimum_zero_at_binary_targets
        )

    def __str__(self) -> str:
        return "\n".join(
            [
                f"BCE(t, p) is minimised at p = t: {self.minimiser_is_target}",
                "its minimum BCE(t, t) is the binary entropy H(t): "
                f"{self.minimum_is_entropy}",
                "H(t) > 0 for 0 < t < 1 (the minimum is not 0 for grey "
                f"values): {self.minimum_positive_inside}",
                "H(t) -> 0 as t -> 0 or t -> 1 (binary targets): "
                f"{self.minimum_zero_at_binary_targets}",
            ]
        )


def bce_minimiser_and_minimum() -> BCEMinimum:
    r"""Binary cross-entropy with a target :math:`t \in [0, 1]`: minimised
    at :math:`p = t`, with the minimum :math:`H(t)`.

    .. math::

        \begin{aligned}
        &\mathrm{BCE}(t, p) = -[t\log p + (1 - t)\log(1 - p)], \\
        &\frac{\partial \mathrm{BCE}}{\partial p} = 0 \iff p = t, \qquad
        \mathrm{BCE}(t, t) = H(t) > 0 \text{ for } 0 < t < 1.
        \end{aligned}

    So BCE is a valid loss for grey values (erratum 2), but its minimum is
    not 0 unless :math:`t \in \{0, 1\}` (chapter "The ELBO"). The
    minimiser is what ``sympy.solve`` returns, and the minimum is the loss
    there.

    Returns
    -------
    BCEMinimum
    """
    # t in (0, 1) is written t = u / (1 + u), u > 0, where the sign of an
    # expression on the whole interval is needed.
    t, p = sp.Symbol("t", positive=True), sp.Symbol("p", positive=True)
    u = sp.Symbol("u", positive=True)
    bce = -(t * sp.log(p) + (1 - t) * sp.log(1 - p))
    stationary = sp.solve(sp.diff(bce, p), p)
    entropy = -(t * sp.log(t) + (1 - t) * sp.log(1 - t))
    if len(stationary) == 1:
        minimiser = stationary[0]
        curvature = sp.simplify(
            sp.diff(bce, p, 2).subs(p, minimiser).subs(t, u / (1 + u))
        )
        minimiser_is_target = minimiser == t and bool(curvature.is_positive)
        minimum = bce.subs(p, minimiser)
        minimum_is_entropy = _simplified_difference(minimum, entropy) == 0
    else:
        minimiser, minimum = None, sp.nan
        minimiser_is_target = minimum_is_entropy = False
    ends = [sp.limit(entropy, t, 0, "+"), sp.limit(entropy, t, 1, "-")]
    minimum_zero_at_binary_targets = ends == [0, 0]
    concavity = sp.simplify(sp.diff(entropy, t, 2).subs(t, u / (1 + u)))
    # Strictly concave on (0, 1) and 0 at both ends: positive inside.
    minimum_positive_inside = (
        bool(concavity.is_negative) and minimum_zero_at_binary_targets
    )
    return BCEMinimum(
        bce,
        minimiser,
        minimum,
        entropy,
        minimiser_is_target,
        minimum_is_entropy,
        minimum_positive_inside,
        minimum_zero_at_binary_targets,
    )


def _generic_branch(
    expr: sp.Expr, symbol: sp.Symbol, generic_value: sp.Expr
) -> sp.Expr:
    """The branch of a ``Piecewise`` that holds at a generic value."""
    if not isinstance(expr, sp.Piecewise):
        return expr
    return next(
        branch
        for branch, condition in expr.args
        if condition.subs(symbol, generic_value) == sp.true
    )


def continuous_bernoulli_normaliser_integrates_to_one() -> Proof:
    r"""The continuous Bernoulli density integrates to 1 over [0, 1].

    .. math::

        \begin{aligned}
        &C(\lambda) \int_0^1 \lambda^x (1 - \lambda)^{1 - x} dx = 1, \\
        &C(\lambda) = \frac{2\operatorname{artanh}(1 - 2\lambda)}
        {1 - 2\lambda} \;(\lambda \ne \tfrac12), \quad C(\tfrac12) = 2,
        \end{aligned}

    the constant of Loaiza-Ganem & Cunningham (2019) that BCE leaves out on
    grey values (chapter "The ELBO"). The integral is done by
    ``sympy.integrate``; :math:`\lambda = u / (1 + u)`, :math:`u > 0`,
    covers :math:`(0, 1)`. The value 2 at :math:`\lambda = 1/2` is checked
    as the limit of :math:`C`.

    Returns
    -------
    Proof
        ``lhs`` is :math:`C(\lambda)\int_0^1 \dots` (for
        :math:`\lambda \ne 1/2`), ``rhs`` is 1.
    """
    x = sp.Symbol("x", real=True)
    lam, u = sp.Symbol("lambda", positive=True), sp.Symbol("u", positive=True)
    normaliser = 2 * sp.atanh(1 - 2 * lam) / (1 - 2 * lam)
    integral = sp.integrate(lam**x * (1 - lam) ** (1 - x), (x, 0, 1))
    # SymPy may split off lambda = 1/2 (u = 1) as a case of its own; that
    # case is the limit checked below.
    lhs = normaliser * _generic_branch(integral, lam, sp.Rational(1, 5))
    on_unit_interval = sp.simplify(lhs.subs(lam, u / (1 + u)).rewrite(sp.log))
    on_unit_interval = _generic_branch(on_unit_interval, u, sp.Integer(2))
    half_integral = sp.integrate(HALF**x * HALF ** (1 - x), (x, 0, 1))
    at_half = sp.limit(normaliser, lam, HALF) * half_integral
    difference = _simplified_difference(on_unit_interval, 1)
    difference += _simplified_difference(at_half, 1)
    return Proof(
        "C(lambda) * integral_0^1 lambda^x (1 - lambda)^(1 - x) dx = 1",
        lhs,
        sp.Integer(1),
        difference,
        latex=r"C(\lambda) = \frac{2 \operatorname{artanh}(1 - 2\lambda)}"
        r"{1 - 2\lambda}",
    )


def squared_error_split(n_points: int = 3, dim: int = 2) -> Proof:
    r"""Prove that the expected squared error splits in two, for every
    distribution on ``n_points`` points of :math:`\mathbb R^{dim}`.

    .. math::

        \mathbb E\,\|\hat x - x\|_2^2
        = \|\hat x - \bar x\|_2^2 + \mathbb E\,\|x - \bar x\|_2^2,
        \qquad \bar x = \mathbb E[x],

    for every :math:`\hat x`, every set of points :math:`x_1, \dots,
    x_n` and every set of probabilities :math:`p_i > 0` summing to 1 (the
    last is :math:`1 - \sum_{i<n} p_i`). Conditioned on a code :math:`z`,
    it is chapter "DARLA"'s reason why a pixel loss asks for the blurred
    mean :math:`\bar x = \mathbb E[x \mid z]`.

    Parameters
    ----------
    n_points : int, default 3
        The size of the distribution's support, 1 to 6.
    dim : int, default 2
        The dimension of the points, 1 to 4.
    """
    n_points = check_int("n_points", n_points)
    dim = check_int("dim", dim)
    if not 1 <= n_points <= 6:
        raise ValueError(f"n_points must be between 1 and 6, got {n_points}")
    if not 1 <= dim <= 4:
        raise ValueError(f"dim must be between 1 and 4, got {dim}")
    free = sp.symbols(f"p_1:{n_points}", positive=True)
    weights = [*free, 1 - sum(free)]
    points = [
        sp.Matrix(sp.symbols(f"x_{i}_1:{dim + 1}", real=True))
        for i in range(1, n_points + 1)
    ]
    x_hat = sp.Matrix(sp.symbols(f"xhat_1:{dim + 1}", real=True))
    mean = sum(
        (p * x for p, x in zip(weights, points, strict=True)), sp.zeros(dim, 1)
    )

    def squared_norm(v: sp.Matrix) -> sp.Expr:
        return (v.T * v)[0, 0]

    return prove_equal(
        sum(
            p * squared_norm(x_hat - x)
            for p, x in zip(weights, points, strict=True)
        ),
        squared_norm(x_hat - mean)
        + sum(
            p * squared_norm(x - mean)
            for p, x in zip(weights, points, strict=True)
        ),
        f"E||xhat - x||^2 = ||xhat - xbar||^2 + E||x - xbar||^2, "
        f"{n_points} points in R^{dim}",
        latex=r"\mathbb E\,\|\hat x - x\|_2^2 &= \|\hat x - \bar x\|_2^2"
        r" + \mathbb E\,\|x - \bar x\|_2^2",
    )
