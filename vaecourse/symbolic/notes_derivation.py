r"""The notes' derivation of the VAE's KL term, line by line (chapter "The
KL divergence, derived and verified").

Each line of the notes' derivation of
:math:`\mathrm{KL}[\mathcal N(\mu, \operatorname{diag}\sigma^2) \,\|\,
\mathcal N(0, I)]`, corrected, is a
:class:`DerivationStep`: the line in LaTeX, as the
chapter displays it, and as a SymPy expression.
:func:`check_derivation` proves each line equal to the
next. The deliberately wrong variants (:data:`DERIVATION_VARIANTS`) are the
slips the checker must catch.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from vaecourse._validation import check_int
from vaecourse.symbolic.kl import (
    _LATEX_GENERAL_KL,
    _diagonal_symbols,
    _kl_univariate_integral,
    _univariate_kl_symbols,
    kl_multivariate_gaussians_from_expectation,
)
from vaecourse.symbolic.proof import HALF, DerivationStep

__all__ = [
    "DERIVATION_VARIANTS",
    "notes_kl_derivation_steps",
    "notes_kl_derivation_steps_symbolic_dimension",
]

#: The variants of the derivation, the correct one and the slips the
#: checker must catch.
DERIVATION_VARIANTS: dict[str, str] = {
    "corrected": "the notes' derivation with their slips fixed",
    "dropped_half": "the factor 1/2 dropped in the line "
    "'log of a product = sum of logs'",
    "sign_flip": "the sign of mu_i^2 flipped in the last line",
    "index_n": "the notes' n (the data dimension) written for the latent "
    "dimension m",
    "dropped_index": "the notes' last line as printed: sigma and mu "
    "without the index i",
}


def _check_variant(variant: str) -> None:
    if not isinstance(variant, str):
        raise TypeError(f"variant must be a str, got {type(variant).__name__}")
    if variant not in DERIVATION_VARIANTS:
        raise ValueError(
            f"unknown variant {variant!r}; choose one of "
            f"{', '.join(DERIVATION_VARIANTS)}"
        )


def _tail_lines(
    variant: str,
    dim: sp.Expr,
    dim_tex: str,
    total: Callable[[Callable[[object], sp.Expr]], sp.Expr],
    mu: Callable[[object], sp.Expr],
    sigma: Callable[[object], sp.Expr],
) -> list[DerivationStep]:
    """The last three lines of the notes' derivation.

    Shared by the concrete and the symbolic dimension: ``total(f)`` sums
    ``f(i)`` over the latent units, ``mu(i)`` and ``sigma(i)`` are the
    unit's mean and standard deviation.
    """
    half_log_sum = 1 if variant == "dropped_half" else HALF
    mu_sign = 1 if variant == "sign_flip" else -1
    if variant == "dropped_index":
        plain_mu = sp.Symbol("mu", real=True)
        plain_sigma = sp.Symbol("sigma", positive=True)

        def last_summand(i: object) -> sp.Expr:
            return 1 + sp.log(plain_sigma**2) - plain_mu**2 - plain_sigma**2

        last_tex = (
            r"-\frac12 \sum_i \left[1 + \log(\sigma^2) - \mu^2"
            r" - \sigma^2\right]"
        )
    else:

        def last_summand(i: object) -> sp.Expr:
            return (
                1
                + sp.log(sigma(i) ** 2)
                + mu_sign * mu(i) ** 2
                - sigma(i) ** 2
            )

        sign_tex = "+" if variant == "sign_flip" else "-"
        last_tex = (
            r"-\frac12 \sum_i \left[1 + \log\sigma_i^2 "
            rf"{sign_tex} \mu_i^2 - \sigma_i^2\right]"
        )
    squares = total(lambda i: sigma(i) ** 2) + total(lambda i: mu(i) ** 2)
    half_tex = "" if variant == "dropped_half" else r"\frac12"
    return [
        DerivationStep(
            "log of a product = sum of logs",
            half_tex + rf"\left[-\sum_i \log\sigma_i^2 - {dim_tex}"
            r" + \sum_i \sigma_i^2 + \sum_i \mu_i^2\right]",
            half_log_sum
            * (-total(lambda i: sp.log(sigma(i) ** 2)) - dim + squares),
        ),
        DerivationStep(
            f"{dim_tex} = sum_i 1",
            r"\frac12\left[-\sum_i \left(\log\sigma_i^2 + 1\right)"
            r" + \sum_i \sigma_i^2 + \sum_i \mu_i^2\right]",
            HALF * (-total(lambda i: sp.log(sigma(i) ** 2) + 1) + squares),
        ),
        DerivationStep(
            "factor out -1/2", last_tex, -HALF * total(last_summand)
        ),
    ]


def notes_kl_derivation_steps(
    variant: str = "corrected", m: int = 3
) -> list[DerivationStep]:
    r"""The notes' derivation of
    :math:`\mathrm{KL}[\mathcal N(\mu, \Sigma) \,\|\, \mathcal N(0, I)]`,
    one line per step.

    The latent dimension is a concrete ``m`` (matrices need a size): the
    symbols are :math:`\mu_1, \dots, \mu_m` (real) and
    :math:`\sigma_1, \dots, \sigma_m` (positive), :math:`\Sigma =
    \operatorname{diag}(\sigma_i^2)`. The lines:

    1. :math:`\mathrm{KL}[\mathcal N(\mu, \Sigma) \| \mathcal N(0, I)]`,
       computed as :math:`\mathbb E_q[\log q - \log p]` from the
       log-densities
       (:func:`kl_multivariate_gaussians_from_expectation`);
    2. the general formula with :math:`(\mu_1, \Sigma_1, \mu_2, \Sigma_2)
       = (\mu, \Sigma, 0, I)`;
    3. the substituted formula; 4. :math:`\frac12[-\log|\Sigma| - m +
       \operatorname{tr}\Sigma + \mu^\top\mu]`; 5. determinant and trace
       of the diagonal :math:`\Sigma`; 6. log of a product as a sum of
       logs; 7. :math:`m = \sum_i 1`; 8. the final
       :math:`-\frac12\sum_i(1 + \log\sigma_i^2 - \mu_i^2 - \sigma_i^2)`.

    Parameters
    ----------
    variant : str
        ``"corrected"`` (default), or a deliberately wrong variant for the
        tests and exercises: one of :data:`DERIVATION_VARIANTS`.
    m : int
        Latent dimension, 1 to 6.

    Returns
    -------
    list of DerivationStep
        Feed it to :func:`check_derivation`.
    """
    _check_variant(variant)
    m = check_int("m", m)
    if not 1 <= m <= 6:
        raise ValueError(f"m must be between 1 and 6, got {m}")
    mus = sp.symbols(f"mu_1:{m + 1}", real=True)
    sigmas = sp.symbols(f"sigma_1:{m + 1}", positive=True)
    mu, zero, eye = sp.Matrix(mus), sp.zeros(m, 1), sp.eye(m)
    Sigma = sp.diag(*[s**2 for s in sigmas])
    # The notes' n is the data dimension, a different number from m.
    if variant == "index_n":
        dim, dim_tex = sp.Symbol("n", integer=True, positive=True), "n"
    else:
        dim, dim_tex = sp.Integer(m), "m"

    def total(f: Callable[[int], sp.Expr]) -> sp.Expr:
        return sp.Add(*[f(i) for i in range(m)])

    gap = zero - mu
    lines = [
        DerivationStep(
            "definition: E_q[log q(z) - log p(z)], from the log-densities",
            r"\mathrm{KL}[\mathcal N(\mu, \Sigma) \,\|\, \mathcal N(0, I)]",
            kl_multivariate_gaussians_from_expectation(
                mu, sp.diag(*sigmas), zero, eye
            ),
        ),
        DerivationStep(
            "the general Gaussian KL formula",
            _LATEX_GENERAL_KL.replace("{dim}", dim_tex),
            HALF
            * (
                sp.log(eye.det() / Sigma.det())
                - dim
                + (eye.inv() * Sigma).trace()
                + (gap.T * eye.inv() * gap)[0, 0]
            ),
        ),
        DerivationStep(
            "mu_1 = mu, Sigma_1 = Sigma, mu_2 = 0, Sigma_2 = I",
            rf"\frac12\left[\log\frac{{|I|}}{{|\Sigma|}} - {dim_tex}"
            r" + \operatorname{tr}\{I^{-1}\Sigma\}"
            r" + (\vec 0 - \mu)^\top I^{-1} (\vec 0 - \mu)\right]",
            HALF
            * (
                sp.log(sp.Integer(1) / Sigma.det())
                - dim
                + Sigma.trace()
                + (gap.T * gap)[0, 0]
            ),
        ),
        DerivationStep(
            "|I| = 1, I^-1 = I, (0 - mu)^T (0 - mu) = mu^T mu",
            rf"\frac12\left[-\log|\Sigma| - {dim_tex}"
            r" + \operatorname{tr}\{\Sigma\} + \mu^\top\mu\right]",
            HALF
            * (-sp.log(Sigma.det()) - dim + Sigma.trace() + (mu.T * mu)[0, 0]),
        ),
        DerivationStep(
            "Sigma = diag(sigma_i^2): determinant and trace",
            rf"\frac12\left[-\log\prod_i \sigma_i^2 - {dim_tex}"
            r" + \sum_i \sigma_i^2 + \sum_i \mu_i^2\right]",
            HALF
            * (
                -sp.log(sp.Mul(*[s**2 for s in sigmas]))
                - dim
                + total(lambda i: sigmas[i] ** 2)
                + total(lambda i: mus[i] ** 2)
            ),
        ),
    ]
    return lines + _tail_lines(
        variant, dim, dim_tex, total, lambda i: mus[i], lambda i: sigmas[i]
    )


def notes_kl_derivation_steps_symbolic_dimension(
    variant: str = "corrected",
) -> list[DerivationStep]:
    r"""The end of the notes' derivation for a symbolic latent dimension
    :math:`m`, with ``Sum``.

    Lines: the sum over :math:`i = 1, \dots, m` of the univariate KL
    divergences :math:`\mathrm{KL}[\mathcal N(\mu_i, \sigma_i^2) \|
    \mathcal N(0, 1)]` (each from the integral; the KL of independent
    coordinates is the sum of theirs), then lines 6 to 8 of
    :func:`notes_kl_derivation_steps` written with ``sympy.Sum`` and an
    ``IndexedBase``.

    Parameters
    ----------
    variant : str
        As in :func:`notes_kl_derivation_steps`.

    Returns
    -------
    list of DerivationStep
    """
    _check_variant(variant)
    m = sp.Symbol("m", integer=True, positive=True)
    i = sp.Symbol("i", integer=True, positive=True)
    mu, sigma = _diagonal_symbols()
    if variant == "index_n":
        dim, dim_tex = sp.Symbol("n", integer=True, positive=True), "n"
    else:
        dim, dim_tex = m, "m"

    def total(f: Callable[[sp.Symbol], sp.Expr]) -> sp.Sum:
        return sp.Sum(f(i), (i, 1, m))

    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    univariate = _kl_univariate_integral().subs(
        {mu1: mu[i], sigma1: sigma[i], mu2: 0, sigma2: 1}, simultaneous=True
    )
    first = DerivationStep(
        "KL of independent coordinates = sum of their KLs "
        "(each from the integral)",
        r"\sum_{i=1}^m \mathrm{KL}[\mathcal N(\mu_i, \sigma_i^2)"
        r" \,\|\, \mathcal N(0, 1)]",
        sp.Sum(univariate, (i, 1, m)),
    )
    return [first] + _tail_lines(
        variant, dim, dim_tex, total, lambda j: mu[j], lambda j: sigma[j]
    )
