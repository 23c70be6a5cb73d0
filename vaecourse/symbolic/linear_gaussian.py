r"""The linear-Gaussian model, where every term of the ELBO has a closed
form (chapter "The ELBO").

The model is :math:`p(z) = \mathcal N(0, 1)`,
:math:`p(x \mid z) = \mathcal N(wz + b, s^2)`, and :math:`q(z) =
\mathcal N(\mu, v)` a Gaussian approximate posterior. From the densities
alone, SymPy finds the exact posterior and the evidence
(:func:`linear_gaussian_exact_posterior`), proves
:math:`\log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}(q \,\|\, p(z \mid x))`
(:func:`linear_gaussian_elbo_identity`) and the bound
(:func:`linear_gaussian_elbo_gap`), and that the aggregate posterior has
the prior's variance (:func:`linear_gaussian_aggregate_variance_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from vaecourse.symbolic.gaussian import (
    _gaussian_expectation,
    _gaussian_log_density,
)
from vaecourse.symbolic.kl import kl_univariate_gaussians_closed_form
from vaecourse.symbolic.proof import (
    HALF,
    DerivationStep,
    Proof,
    _simplified_difference,
    prove_equal,
)

__all__ = [
    "linear_gaussian_symbols",
    "completing_the_square_steps",
    "GaussianPosterior",
    "linear_gaussian_exact_posterior",
    "linear_gaussian_log_evidence",
    "linear_gaussian_elbo",
    "linear_gaussian_elbo_identity",
    "ElboGap",
    "linear_gaussian_elbo_gap",
    "linear_gaussian_aggregate_variance_steps",
]


def linear_gaussian_symbols() -> dict[str, sp.Symbol]:
    r"""Symbols of the 1-D linear-Gaussian model.

    The model is :math:`p(z) = \mathcal N(0, 1)`,
    :math:`p(x \mid z) = \mathcal N(wz + b, s^2)`.

    Returns
    -------
    dict
        ``"x"``, ``"z"``, ``"w"``, ``"b"`` (real), ``"s"`` (positive: the
        decoder's standard deviation), and the parameters of a Gaussian
        :math:`q(z) = \mathcal N(\mu, v)`: ``"q_mean"`` (real, printed
        ``mu``) and ``"q_var"`` (positive: a variance, printed ``v``).
        Substitute numbers with ``expr.subs``.
    """
    x, z, w, b, q_mean = sp.symbols("x z w b mu", real=True)
    s, q_var = sp.symbols("s v", positive=True)
    return {
        "x": x,
        "z": z,
        "w": w,
        "b": b,
        "s": s,
        "q_mean": q_mean,
        "q_var": q_var,
    }


def _log_joint() -> sp.Expr:
    r""":math:`\log p(z) + \log p(x \mid z)`."""
    sym = linear_gaussian_symbols()
    x, z, w, b, s = sym["x"], sym["z"], sym["w"], sym["b"], sym["s"]
    log_prior = _gaussian_log_density(z, 0, 1)
    log_likelihood = _gaussian_log_density(x, w * z + b, s**2)
    return log_prior + log_likelihood


def completing_the_square_steps() -> list[DerivationStep]:
    r"""Completing the square in :math:`z`, line by line (chapter "From
    autoencoder to VAE", the exercise on the exact posterior).

    .. math::

        \begin{aligned}
        \log p(z) + \log p(x \mid z)
        &= -\frac{z^2}{2} - \frac{(x - wz - b)^2}{2 s^2} + \text{const} \\
        &= -\frac12 \left(1 + \frac{w^2}{s^2}\right) z^2
           + \frac{w (x - b)}{s^2}\, z + \text{const},
        \end{aligned}

    each "const" free of :math:`z` and written out in the expressions:
    :math:`-\log 2\pi - \log s` on the first line, and that minus
    :math:`(x - b)^2 / (2 s^2)` on the second. The first line is the sum
    of the two log-densities, from their definitions; check the steps with
    :func:`vaecourse.symbolic.check_derivation`.

    Returns
    -------
    list of DerivationStep
        Three lines, in the symbols of :func:`linear_gaussian_symbols`.
    """
    sym = linear_gaussian_symbols()
    x, z, w, b, s = sym["x"], sym["z"], sym["w"], sym["b"], sym["s"]
    constant = -sp.log(2 * sp.pi) - sp.log(s)
    return [
        DerivationStep(
            "log p(z) + log p(x | z), the densities written out",
            r"\log p(z) + \log p(x \mid z)",
            _log_joint(),
        ),
        DerivationStep(
            "the two exponents, the normalisers in const",
            r"-\frac{z^2}{2} - \frac{(x - wz - b)^2}{2 s^2} + \text{const}",
            -(z**2) / 2 - (x - w * z - b) ** 2 / (2 * s**2) + constant,
        ),
        DerivationStep(
            "the square expanded, collected in z",
            r"-\frac12 \left(1 + \frac{w^2}{s^2}\right) z^2"
            r" + \frac{w (x - b)}{s^2}\, z + \text{const}",
            -HALF * (1 + w**2 / s**2) * z**2
            + w * (x - b) / s**2 * z
            + constant
            - (x - b) ** 2 / (2 * s**2),
        ),
    ]


def _posterior_mean_and_variance() -> tuple[sp.Expr, sp.Expr]:
    sym = linear_gaussian_symbols()
    x, w, b, s = sym["x"], sym["w"], sym["b"], sym["s"]
    return w * (x - b) / (w**2 + s**2), s**2 / (w**2 + s**2)


@dataclass(frozen=True)
class GaussianPosterior:
    r"""The exact posterior :math:`p(z \mid x) = \mathcal N(\text{mean},
    \text{variance})` and its proof."""

    mean: sp.Expr
    variance: sp.Expr
    proof: Proof


def linear_gaussian_exact_posterior() -> GaussianPosterior:
    r"""Exact posterior of the linear-Gaussian model, by Bayes' rule.

    .. math::

        p(z \mid x) = \mathcal N\!\left(\frac{w (x - b)}{w^2 + s^2},\;
        \frac{s^2}{w^2 + s^2}\right),
        \qquad
        p(x) = \mathcal N(x; b, w^2 + s^2).

    The proof shows :math:`\log p(z) + \log p(x \mid z) = \log p(x) + \log
    p(z \mid x)` for every :math:`z`: both sides are Gaussian densities
    written out, and since :math:`p(z \mid x)` integrates to 1, this is
    also :math:`p(x) = \int p(z)\,p(x \mid z)\,dz` (chapter "The ELBO").

    Returns
    -------
    GaussianPosterior
        ``mean``, ``variance`` in the symbols of
        :func:`linear_gaussian_symbols`.
    """
    z = linear_gaussian_symbols()["z"]
    mean, variance = _posterior_mean_and_variance()
    proof = prove_equal(
        _log_joint(),
        linear_gaussian_log_evidence()
        + _gaussian_log_density(z, mean, variance),
        "log p(x, z) = log p(x) + log N(z; w(x-b)/(w^2+s^2), s^2/(w^2+s^2))",
        latex=r"p(z \mid x) = \mathcal N\!\left(\frac{w (x - b)}{w^2 + s^2},\;"
        r" \frac{s^2}{w^2 + s^2}\right)",
    )
    return GaussianPosterior(mean, variance, proof)


def linear_gaussian_log_evidence() -> sp.Expr:
    r"""The exact log-evidence of the linear-Gaussian model,
    :math:`\log p(x) = \log\mathcal N(x; b, w^2 + s^2)`.

    Proved together with the posterior by
    :func:`linear_gaussian_exact_posterior`.
    """
    sym = linear_gaussian_symbols()
    return _gaussian_log_density(
        sym["x"], sym["b"], sym["w"] ** 2 + sym["s"] ** 2
    )


def linear_gaussian_elbo() -> sp.Expr:
    r"""The ELBO of the linear-Gaussian model for
    :math:`q(z) = \mathcal N(\mu, v)`, from its definition.

    .. math::

        \mathrm{ELBO}(q) = \mathbb E_{q}\left[\log p(x \mid z) + \log p(z)
        - \log q(z)\right],

    the expectation taken by :math:`z = \mu + \sqrt v\,\varepsilon` and the
    moments of :math:`\varepsilon \sim \mathcal N(0, 1)`.

    Returns
    -------
    sympy.Expr
        In the symbols of :func:`linear_gaussian_symbols`.
    """
    sym = linear_gaussian_symbols()
    z, q_mean, q_var = sym["z"], sym["q_mean"], sym["q_var"]
    integrand = sp.expand(
        sp.expand_log(_log_joint() - _gaussian_log_density(z, q_mean, q_var))
    )
    return _gaussian_expectation(integrand, z, q_mean, q_var)


def linear_gaussian_elbo_identity() -> Proof:
    r"""Prove :math:`\log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}(q \,\|\,
    p(z \mid x))` for every Gaussian :math:`q`.

    With :math:`q = \mathcal N(\mu, v)` for symbolic :math:`\mu` and :math:`v`,
    the ELBO from :func:`linear_gaussian_elbo`, the exact posterior from
    :func:`linear_gaussian_exact_posterior`, and the KL divergence of two
    Gaussians from its closed form (proved from the integral by
    :func:`kl_univariate_gaussians_from_integral`). Since the KL is
    :math:`\ge 0`, :math:`\mathrm{ELBO} \le \log p(x)` (chapter "The
    ELBO").

    Returns
    -------
    Proof
    """
    sym = linear_gaussian_symbols()
    posterior = linear_gaussian_exact_posterior()
    kl = kl_univariate_gaussians_closed_form(
        sym["q_mean"],
        sp.sqrt(sym["q_var"]),
        posterior.mean,
        sp.sqrt(posterior.variance),
    )
    return prove_equal(
        linear_gaussian_log_evidence(),
        linear_gaussian_elbo() + kl,
        "log p(x) = ELBO(q) + KL(q || p(z|x)) for q = N(mu, v)",
    )


@dataclass(frozen=True)
class ElboGap:
    r"""The gap :math:`\log p(x) - \mathrm{ELBO}(q)` of the
    linear-Gaussian model.

    Attributes
    ----------
    gap : sympy.Expr
        :math:`\log p(x) - \mathrm{ELBO}(q)` as a function of ``mu`` and
        ``v``.
    gap_is_kl : bool
        The gap equals :math:`\mathrm{KL}(q \,\|\, p(z \mid x))`.
    nonnegative : bool
        The gap is :math:`\frac12(r - 1 - \log r)
        + \frac{(\mu - \mu_{post})^2}{2 v_{post}}` with
        :math:`r = v / v_{post} > 0`, and :math:`r - 1 - \log r \ge 0`
        (its minimum over :math:`r > 0` is 0, at :math:`r = 1`).
    zero_at_posterior : bool
        The gap is 0 at :math:`\mu = \mu_{post}`, :math:`v = v_{post}`.
    """

    gap: sp.Expr
    gap_is_kl: bool
    nonnegative: bool
    zero_at_posterior: bool

    @property
    def holds(self) -> bool:
        """True when all three facts are proved, so ELBO <= log p(x), with
        equality at the exact posterior."""
        return self.gap_is_kl and self.nonnegative and self.zero_at_posterior

    def __str__(self) -> str:
        return "\n".join(
            [
                f"log p(x) - ELBO(q) = KL(q || p(z|x)): {self.gap_is_kl}",
                "log p(x) - ELBO(q) >= 0 for every mu and v > 0: "
                f"{self.nonnegative}",
                "log p(x) - ELBO(q) = 0 at the exact posterior: "
                f"{self.zero_at_posterior}",
            ]
        )


def linear_gaussian_elbo_gap() -> ElboGap:
    r"""Prove :math:`\mathrm{ELBO}(q) \le \log p(x)`, with equality
    exactly at the posterior.

    Returns
    -------
    ElboGap
        See its attributes for what is proved.
    """
    sym = linear_gaussian_symbols()
    q_mean, q_var = sym["q_mean"], sym["q_var"]
    posterior = linear_gaussian_exact_posterior()
    mean, variance = posterior.mean, posterior.variance
    gap = linear_gaussian_log_evidence() - linear_gaussian_elbo()
    kl = kl_univariate_gaussians_closed_form(
        q_mean, sp.sqrt(q_var), mean, sp.sqrt(variance)
    )
    gap_is_kl = _simplified_difference(gap, kl) == 0
    r = sp.Symbol("r", positive=True)
    square = (q_mean - mean) ** 2 / (2 * variance)
    split = HALF * (r - 1 - sp.log(r)) + square
    split_is_gap = (
        _simplified_difference(split.subs(r, q_var / variance), gap) == 0
    )
    # r - 1 - log r: stationary only at r = 1, convex (second derivative
    # 1/r^2 > 0), and 0 there.
    bowl = r - 1 - sp.log(r)
    bowl_min_zero = (
        sp.solve(sp.diff(bowl, r), r) == [1]
        and bool(sp.diff(bowl, r, 2).is_positive)
        and bowl.subs(r, 1) == 0
    )
    # The quadratic term is a square over a positive variance.
    nonnegative = (
        split_is_gap and bowl_min_zero and bool(square.is_nonnegative)
    )
    at_posterior = gap.subs({q_mean: mean, q_var: variance}, simultaneous=True)
    zero_at_posterior = _simplified_difference(at_posterior, 0) == 0
    return ElboGap(gap, gap_is_kl, nonnegative, zero_at_posterior)


def linear_gaussian_aggregate_variance_steps() -> list[DerivationStep]:
    r"""The aggregate posterior of the linear-Gaussian model has the
    prior's variance, 1.

    With the exact posterior :math:`q(z \mid x) = \mathcal N(\mu(x), v)`,
    :math:`\mu(x) = w(x - b)/(w^2 + s^2)`, :math:`v = s^2/(w^2 + s^2)`, and
    the data drawn from the model, :math:`x \sim p(x) = \mathcal N(b, w^2 +
    s^2)`, the aggregate posterior :math:`q(z) = \mathbb E_x[q(z \mid x)]`
    has

    .. math::

        \operatorname{Var}_{q(z)}[z]
        = \frac{s^2}{w^2 + s^2}
        + \operatorname{Var}_x\!\left[\frac{w (x - b)}{w^2 + s^2}\right]
        = \frac{s^2}{w^2 + s^2} + \frac{w^2 (w^2 + s^2)}{(w^2 + s^2)^2}
        = 1 .

    Line 1 is computed from the mixture's definition,
    :math:`\mathbb E_x\mathbb E_{q(z \mid x)}[z^2] - (\mathbb E_x
    \mathbb E_{q(z \mid x)}[z])^2`, line 2 from the variance of the
    posterior means, both by Gaussian expectations (chapter "The ELBO",
    erratum 9).

    Returns
    -------
    list of DerivationStep
        Four lines; feed them to :func:`check_derivation`.
    """
    sym = linear_gaussian_symbols()
    x, z, w, b, s = sym["x"], sym["z"], sym["w"], sym["b"], sym["s"]
    mean, variance = _posterior_mean_and_variance()
    evidence_variance = w**2 + s**2

    def over_data(expr: sp.Expr) -> sp.Expr:
        return _gaussian_expectation(expr, x, b, evidence_variance)

    def over_posterior(expr: sp.Expr) -> sp.Expr:
        return _gaussian_expectation(expr, z, mean, variance)

    aggregate_second_moment = over_data(over_posterior(z**2))
    aggregate_mean = over_data(over_posterior(z))
    variance_of_means = over_data(mean**2) - over_data(mean) ** 2
    return [
        DerivationStep(
            "definition: E_x E_q(z|x)[z^2] - (E_x E_q(z|x)[z])^2",
            r"\operatorname{Var}_{q(z)}[z]",
            aggregate_second_moment - aggregate_mean**2,
        ),
        DerivationStep(
            "law of total variance",
            r"\frac{s^2}{w^2 + s^2}"
            r" + \operatorname{Var}_x\!\left[\frac{w (x - b)}{w^2 + s^2}"
            r"\right]",
            variance + variance_of_means,
        ),
        DerivationStep(
            "Var[c x] = c^2 Var[x], Var_x[x] = w^2 + s^2",
            r"\frac{s^2}{w^2 + s^2}"
            r" + \frac{w^2 (w^2 + s^2)}{(w^2 + s^2)^2}",
            s**2 / (w**2 + s**2) + w**2 * (w**2 + s**2) / (w**2 + s**2) ** 2,
        ),
        DerivationStep("add the fractions", "1", sp.Integer(1)),
    ]
