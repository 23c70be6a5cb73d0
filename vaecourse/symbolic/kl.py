r"""The KL divergence of two Gaussians, derived from its definition
(chapter "The KL divergence, derived and verified").

In one dimension the KL divergence is an integral over the real line
(:func:`kl_univariate_gaussians_from_integral`), and the log-density ratio
inside it is the line :func:`gaussian_log_ratio_steps` proves. In
:math:`k` dimensions it is the expectation of the log-density ratio, written
as two quadratic expectations and closed by the trace lemma
(:func:`multivariate_kl_derivation_steps`, :func:`trace_lemma_steps`,
:func:`verify_multivariate_kl`). For diagonal covariances it holds for a
symbolic dimension (:func:`verify_diagonal_kl_symbolic_dimension`).
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from vaecourse._validation import check_int
from vaecourse.symbolic.gaussian import (
    _expectation_over_standard_normals,
    _gaussian_log_density,
    _lower_triangular,
    _multivariate_log_density,
)
from vaecourse.symbolic.proof import (
    HALF,
    DerivationStep,
    Proof,
    _as_expr,
    prove_equal,
)

__all__ = [
    "kl_univariate_gaussians_closed_form",
    "kl_univariate_gaussians_from_integral",
    "gaussian_log_ratio_steps",
    "kl_multivariate_gaussians_formula",
    "kl_multivariate_gaussians_from_expectation",
    "trace_lemma_steps",
    "multivariate_kl_derivation_steps",
    "verify_multivariate_kl",
    "verify_diagonal_kl_symbolic_dimension",
    "kl_formula_in_one_dimension",
]

# The general formula as the chapters display it; {dim} is the dimension:
# k here, m (or the notes' n) in the notes' derivation.
_LATEX_GENERAL_KL = (
    r"\frac12\left[\log\frac{|\Sigma_2|}{|\Sigma_1|} - {dim}"
    r" + \operatorname{tr}\{\Sigma_2^{-1}\Sigma_1\}"
    r" + (\mu_2 - \mu_1)^\top \Sigma_2^{-1} (\mu_2 - \mu_1)\right]"
)


def _check_std(name: str, value: sp.Expr) -> None:
    if value.is_positive is False:
        raise ValueError(
            f"{name} is a standard deviation and must be positive, got {value}"
        )


def _check_small_dimension(k: int) -> int:
    k = check_int("k", k)
    if not 1 <= k <= 3:
        raise ValueError(
            f"k must be 1, 2 or 3 (larger symbolic inverses are slow), got {k}"
        )
    return k


# --- one dimension ----------------------------------------------------------


def kl_univariate_gaussians_closed_form(
    mu1: sp.Expr, sigma1: sp.Expr, mu2: sp.Expr, sigma2: sp.Expr
) -> sp.Expr:
    r"""The closed form of the KL divergence of two univariate Gaussians.

    .. math::

        \mathrm{KL}\left[\mathcal N(\mu_1, \sigma_1^2) \,\|\,
        \mathcal N(\mu_2, \sigma_2^2)\right]
        = \log\frac{\sigma_2}{\sigma_1}
        + \frac{\sigma_1^2 + (\mu_1 - \mu_2)^2}{2\sigma_2^2} - \frac12 .

    Proved from the integral by :func:`kl_univariate_gaussians_from_integral`
    (chapter "The KL divergence, derived and verified").

    Parameters
    ----------
    mu1, sigma1, mu2, sigma2 : sympy.Expr or float
        Means and standard deviations (not variances); ``sigma1`` and
        ``sigma2`` must not be known to be non-positive.

    Returns
    -------
    sympy.Expr
    """
    mu1, sigma1 = _as_expr("mu1", mu1), _as_expr("sigma1", sigma1)
    mu2, sigma2 = _as_expr("mu2", mu2), _as_expr("sigma2", sigma2)
    _check_std("sigma1", sigma1)
    _check_std("sigma2", sigma2)
    return (
        sp.log(sigma2 / sigma1)
        + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2)
        - HALF
    )


def _univariate_kl_symbols() -> tuple[sp.Symbol, ...]:
    """``mu_1, sigma_1, mu_2, sigma_2``: means real, deviations positive."""
    mu1, mu2 = sp.symbols("mu_1 mu_2", real=True)
    sigma1, sigma2 = sp.symbols("sigma_1 sigma_2", positive=True)
    return mu1, sigma1, mu2, sigma2


@cache
def _kl_univariate_integral() -> sp.Expr:
    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    z = sp.Symbol("z", real=True)
    q = sp.exp(-((z - mu1) ** 2) / (2 * sigma1**2))
    q /= sp.sqrt(2 * sp.pi * sigma1**2)
    log_q = _gaussian_log_density(z, mu1, sigma1**2)
    log_p = _gaussian_log_density(z, mu2, sigma2**2)
    # log q - log p is a quadratic in z once the logs are expanded.
    integrand = q * sp.expand(sp.expand_log(log_q - log_p))
    return sp.integrate(integrand, (z, -sp.oo, sp.oo))


def kl_univariate_gaussians_from_integral() -> Proof:
    r"""Derive the univariate Gaussian KL from its integral.

    .. math::

        \mathrm{KL}(q \,\|\, p) = \int_{-\infty}^{\infty} q(z)
        \log\frac{q(z)}{p(z)} \, dz,
        \qquad q = \mathcal N(\mu_1, \sigma_1^2),\;
        p = \mathcal N(\mu_2, \sigma_2^2),

    computed by ``sympy.integrate`` over the real line, equals
    :func:`kl_univariate_gaussians_closed_form`.

    Returns
    -------
    Proof
        ``lhs`` is the integral (evaluated), ``rhs`` the closed form, in
        the symbols ``mu_1, sigma_1, mu_2, sigma_2`` (``mu`` real,
        ``sigma`` positive).
    """
    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    return prove_equal(
        _kl_univariate_integral(),
        kl_univariate_gaussians_closed_form(mu1, sigma1, mu2, sigma2),
        "integral of q log(q/p) over the real line = the closed form",
        latex=r"\mathrm{KL}\left[\mathcal N(\mu_1, \sigma_1^2) \,\|\,"
        r" \mathcal N(\mu_2, \sigma_2^2)\right] = "
        r"\log\frac{\sigma_2}{\sigma_1}"
        r" + \frac{\sigma_1^2 + (\mu_1 - \mu_2)^2}{2\sigma_2^2} - \frac12",
    )


def gaussian_log_ratio_steps() -> list[DerivationStep]:
    r"""The log-density ratio of two univariate Gaussians, in two lines.

    .. math::

        \log q(z) - \log p(z) = \log\frac{\sigma_2}{\sigma_1}
        - \frac{(z - \mu_1)^2}{2\sigma_1^2}
        + \frac{(z - \mu_2)^2}{2\sigma_2^2}

    for :math:`q = \mathcal N(\mu_1, \sigma_1^2)`,
    :math:`p = \mathcal N(\mu_2, \sigma_2^2)` and every real :math:`z`:
    the first line is built from the two log-densities, the second is the
    chapter's display (chapter "The KL divergence, derived and verified").

    Returns
    -------
    list of DerivationStep
        Feed it to :func:`check_derivation`.
    """
    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    z = sp.Symbol("z", real=True)
    return [
        DerivationStep(
            "definition: log N(z; mu_1, sigma_1^2) - log N(z; mu_2, "
            "sigma_2^2)",
            r"\log q(z) - \log p(z)",
            _gaussian_log_density(z, mu1, sigma1**2)
            - _gaussian_log_density(z, mu2, sigma2**2),
        ),
        DerivationStep(
            "log-densities written out, log(2 pi) cancels",
            r"\log\frac{\sigma_2}{\sigma_1}"
            r" - \frac{(z - \mu_1)^2}{2\sigma_1^2}"
            r" + \frac{(z - \mu_2)^2}{2\sigma_2^2}",
            sp.log(sigma2 / sigma1)
            - (z - mu1) ** 2 / (2 * sigma1**2)
            + (z - mu2) ** 2 / (2 * sigma2**2),
        ),
    ]


# --- k dimensions -----------------------------------------------------------


def _check_gaussian_parameters(
    mean_name: str, mean: sp.Matrix, cov_name: str, cov: sp.Matrix
) -> int:
    """Raise unless ``mean`` is a column and ``cov`` a matching symmetric
    square matrix; return the dimension."""
    if not isinstance(mean, sp.MatrixBase):
        raise TypeError(
            f"{mean_name} must be a sympy.Matrix column (k x 1), "
            f"got {type(mean).__name__}"
        )
    if not isinstance(cov, sp.MatrixBase):
        raise TypeError(
            f"{cov_name} must be a sympy.Matrix (k x k), "
            f"got {type(cov).__name__}"
        )
    if mean.shape[1] != 1:
        raise ValueError(
            f"{mean_name} must be a column of shape (k, 1), "
            f"got shape {mean.shape}"
        )
    k = mean.shape[0]
    if cov.shape != (k, k):
        raise ValueError(
            f"{cov_name} must have shape ({k}, {k}) to match {mean_name}, "
            f"got {cov.shape}"
        )
    if any(sp.simplify(entry) != 0 for entry in cov - cov.T):
        raise ValueError(f"{cov_name} must be symmetric")
    return k


def _check_same_dimension(k: int, mu1: sp.Matrix, mu2: sp.Matrix) -> None:
    if mu2.shape[0] != k:
        raise ValueError(
            "mu1 and mu2 must have the same dimension, "
            f"got {mu1.shape[0]} and {mu2.shape[0]}"
        )


def kl_multivariate_gaussians_formula(
    mu1: sp.Matrix, Sigma1: sp.Matrix, mu2: sp.Matrix, Sigma2: sp.Matrix
) -> sp.Expr:
    r"""The general Gaussian KL formula the notes quote, in dimension k.

    .. math::

        \begin{aligned}
        &\mathrm{KL}\left[\mathcal N(\mu_1, \Sigma_1) \,\|\,
        \mathcal N(\mu_2, \Sigma_2)\right] \\
        &= \frac12\left[\log\frac{|\Sigma_2|}{|\Sigma_1|} - d
        + \operatorname{tr}\{\Sigma_2^{-1}\Sigma_1\}\right. \\
        &\qquad \left. + (\mu_2 - \mu_1)^\top \Sigma_2^{-1}
        (\mu_2 - \mu_1)\right].
        \end{aligned}

    Here :math:`d` is the dimension (the argument's length); the notes
    write :math:`n` for it, and for the VAE's latent Gaussians
    :math:`d = m`, the latent dimension.
    :func:`multivariate_kl_derivation_steps` derives it from the
    expectation :math:`\mathbb E_q[\log q - \log p]`.

    Parameters
    ----------
    mu1, mu2 : sympy.Matrix
        Means, columns of shape ``(k, 1)``.
    Sigma1, Sigma2 : sympy.Matrix
        Symmetric covariances of shape ``(k, k)``.

    Returns
    -------
    sympy.Expr
    """
    k = _check_gaussian_parameters("mu1", mu1, "Sigma1", Sigma1)
    _check_gaussian_parameters("mu2", mu2, "Sigma2", Sigma2)
    _check_same_dimension(k, mu1, mu2)
    precision2 = Sigma2.inv()
    gap = mu2 - mu1
    return HALF * (
        sp.log(Sigma2.det() / Sigma1.det())
        - k
        + (precision2 * Sigma1).trace()
        + (gap.T * precision2 * gap)[0, 0]
    )


def _noise(k: int) -> sp.Matrix:
    r"""The column :math:`\varepsilon` of ``k`` standard normal symbols."""
    return sp.Matrix(sp.symbols(f"varepsilon_1:{k + 1}", real=True))


def kl_multivariate_gaussians_from_expectation(
    mu1: sp.Matrix, scale1: sp.Matrix, mu2: sp.Matrix, Sigma2: sp.Matrix
) -> sp.Expr:
    r"""The KL of two Gaussians from its definition,
    :math:`\mathbb E_q[\log q(z) - \log p(z)]`.

    With :math:`q = \mathcal N(\mu_1, \Sigma_1)`,
    :math:`\Sigma_1 = L_1 L_1^\top`, and
    :math:`p = \mathcal N(\mu_2, \Sigma_2)`, the log-densities

    .. math::

        \log\mathcal N(z; \mu, \Sigma) = -\frac d2 \log 2\pi
        - \frac12 \log|\Sigma| - \frac12 (z - \mu)^\top \Sigma^{-1} (z - \mu)

    are written out, :math:`z = \mu_1 + L_1\varepsilon` is substituted,
    and the expectation is taken term by term with the moments of
    :math:`\varepsilon \sim \mathcal N(0, I)`
    (:func:`standard_normal_moment`). No step uses the closed form.

    Parameters
    ----------
    mu1 : sympy.Matrix
        Mean of ``q``, shape ``(k, 1)``.
    scale1 : sympy.Matrix
        A square root :math:`L_1` of :math:`\Sigma_1` (e.g. its Cholesky
        factor), shape ``(k, k)``.
    mu2, Sigma2 : sympy.Matrix
        Mean and covariance of ``p``.

    Returns
    -------
    sympy.Expr
    """
    if isinstance(scale1, sp.MatrixBase):
        Sigma1 = scale1 * scale1.T
    else:
        Sigma1 = scale1  # not a matrix: the check below names it
    k = _check_gaussian_parameters("mu1", mu1, "scale1 * scale1.T", Sigma1)
    _check_gaussian_parameters("mu2", mu2, "Sigma2", Sigma2)
    _check_same_dimension(k, mu1, mu2)
    noise = _noise(k)
    z = mu1 + scale1 * noise
    log_q = _multivariate_log_density(z, mu1, Sigma1)
    log_p = _multivariate_log_density(z, mu2, Sigma2)
    return _expectation_over_standard_normals(log_q - log_p, list(noise))


def _quadratic_form(vector: sp.Matrix, matrix: sp.Matrix) -> sp.Expr:
    r""":math:`v^\top A v`, as a scalar."""
    return (vector.T * matrix * vector)[0, 0]


def _expected_quadratic_form(
    mean: sp.Matrix, scale: sp.Matrix, a: sp.Matrix, A: sp.Matrix
) -> sp.Expr:
    r""":math:`\mathbb E[(z - a)^\top A (z - a)]` for
    :math:`z = \mu + L\varepsilon`, from the moments of
    :math:`\varepsilon` (not from the trace lemma)."""
    noise = _noise(mean.shape[0])
    z = mean + scale * noise
    return _expectation_over_standard_normals(
        _quadratic_form(z - a, A), list(noise)
    )


def trace_lemma_steps(k: int = 2) -> list[DerivationStep]:
    r"""The trace lemma, for a generic matrix and vector of dimension k.

    For :math:`z \sim \mathcal N(\mu_1, \Sigma_1)`, any vector :math:`a`
    and any matrix :math:`A` (symmetric or not),

    .. math::

        \begin{aligned}
        \mathbb E\left[(z - a)^\top A (z - a)\right]
        &= \mathbb E\left[\operatorname{tr}\left(A (z - \mu_1)
          (z - \mu_1)^\top\right)\right] \\
        &\quad + (\mu_1 - a)^\top A (\mu_1 - a) \\
        &= \operatorname{tr}(A\Sigma_1) + (\mu_1 - a)^\top A (\mu_1 - a).
        \end{aligned}

    Every entry of :math:`A`, :math:`a` and :math:`\mu_1` is its own real
    symbol, and :math:`\Sigma_1 = L L^\top` with :math:`L` a generic lower
    triangular matrix with a positive diagonal. The two expectations are
    taken from the moments of :math:`\varepsilon \sim \mathcal N(0, I)`
    through :math:`z = \mu_1 + L\varepsilon`, never from the lemma
    (chapter "The KL divergence, derived and verified").

    Parameters
    ----------
    k : int
        Dimension, 1 to 3.

    Returns
    -------
    list of DerivationStep
        Three lines; feed them to :func:`check_derivation`.
    """
    k = _check_small_dimension(k)
    A = sp.Matrix(k, k, lambda i, j: sp.Symbol(f"A_{i + 1}{j + 1}", real=True))
    a = sp.Matrix(sp.symbols(f"a_1:{k + 1}", real=True))
    mu1 = sp.Matrix(sp.symbols(f"mu_1:{k + 1}", real=True))
    scale = _lower_triangular("l", k)
    noise = _noise(k)
    centred = scale * noise  # z - mu_1
    outer_mean = _expectation_over_standard_normals(
        (A * centred * centred.T).trace(), list(noise)
    )
    offset = _quadratic_form(mu1 - a, A)
    return [
        DerivationStep(
            "definition: E over z = mu_1 + L eps, from the moments of eps",
            r"\mathbb E\left[(z - a)^\top A (z - a)\right]",
            _expected_quadratic_form(mu1, scale, a, A),
        ),
        DerivationStep(
            "z - a = (z - mu_1) + (mu_1 - a), cross terms mean 0",
            r"\mathbb E\left[\operatorname{tr}\left(A (z - \mu_1)"
            r"(z - \mu_1)^\top\right)\right]"
            r" + (\mu_1 - a)^\top A (\mu_1 - a)",
            outer_mean + offset,
        ),
        DerivationStep(
            "E[(z - mu_1)(z - mu_1)^T] = Sigma_1",
            r"\operatorname{tr}(A\Sigma_1) + (\mu_1 - a)^\top A (\mu_1 - a)",
            (A * scale * scale.T).trace() + offset,
        ),
    ]


def _generic_gaussians(k: int) -> tuple[sp.Matrix, ...]:
    """Means ``mu, nu`` and Cholesky factors ``a, b`` of two generic
    ``k``-dimensional Gaussians."""
    mu1 = sp.Matrix(sp.symbols(f"mu_1:{k + 1}", real=True))
    mu2 = sp.Matrix(sp.symbols(f"nu_1:{k + 1}", real=True))
    return mu1, _lower_triangular("a", k), mu2, _lower_triangular("b", k)


def multivariate_kl_derivation_steps(k: int = 2) -> list[DerivationStep]:
    r"""The general Gaussian KL formula, derived in three lines.

    With all expectations under :math:`z \sim p_1 = \mathcal N(\mu_1,
    \Sigma_1)` and :math:`p_2 = \mathcal N(\mu_2, \Sigma_2)`:

    1. :math:`\mathrm{KL}(p_1 \,\|\, p_2) = \mathbb E[\log p_1(z) - \log
       p_2(z)]`, from the log-densities
       (:func:`kl_multivariate_gaussians_from_expectation`);
    2. :math:`\frac12 \log\frac{|\Sigma_2|}{|\Sigma_1|}
       - \frac12 \mathbb E[(z - \mu_1)^\top \Sigma_1^{-1} (z - \mu_1)]
       + \frac12 \mathbb E[(z - \mu_2)^\top \Sigma_2^{-1} (z - \mu_2)]`,
       each expectation from the moments of :math:`\varepsilon`;
    3. the formula (:func:`kl_multivariate_gaussians_formula`), which is
       line 2 after the trace lemma (:func:`trace_lemma_steps`), applied
       with :math:`a = \mu_1, A = \Sigma_1^{-1}` and
       :math:`a = \mu_2, A = \Sigma_2^{-1}`.

    Both covariances are generic, :math:`\Sigma = L L^\top` with :math:`L`
    lower triangular, every entry a symbol (chapter "The KL divergence,
    derived and verified").

    Parameters
    ----------
    k : int
        Dimension, 1 to 3.

    Returns
    -------
    list of DerivationStep
    """
    k = _check_small_dimension(k)
    mu1, scale1, mu2, scale2 = _generic_gaussians(k)
    Sigma1, Sigma2 = scale1 * scale1.T, scale2 * scale2.T
    quadratic1 = _expected_quadratic_form(mu1, scale1, mu1, Sigma1.inv())
    quadratic2 = _expected_quadratic_form(mu1, scale1, mu2, Sigma2.inv())
    return [
        DerivationStep(
            "definition: E[log p_1(z) - log p_2(z)], z ~ p_1",
            r"\mathrm{KL}(p_1 \,\|\, p_2)"
            r" = \mathbb E\left[\log p_1(z) - \log p_2(z)\right]",
            kl_multivariate_gaussians_from_expectation(
                mu1, scale1, mu2, Sigma2
            ),
        ),
        DerivationStep(
            "log-densities written out, log(2 pi) cancels",
            r"\frac12 \log\frac{|\Sigma_2|}{|\Sigma_1|}"
            r" - \frac12 \mathbb E\left[(z - \mu_1)^\top \Sigma_1^{-1}"
            r" (z - \mu_1)\right]"
            # A line break of the chapter's aligned display, kept here so
            # that the chapter shows this latex word for word.
            r" \\ &\quad + \frac12 \mathbb E\left[(z - \mu_2)^\top"
            r" \Sigma_2^{-1} (z - \mu_2)\right]",
            HALF * sp.log(Sigma2.det() / Sigma1.det())
            - HALF * quadratic1
            + HALF * quadratic2,
        ),
        DerivationStep(
            "the trace lemma, twice",
            _LATEX_GENERAL_KL.replace("{dim}", "d"),
            kl_multivariate_gaussians_formula(mu1, Sigma1, mu2, Sigma2),
        ),
    ]


def verify_multivariate_kl(k: int) -> Proof:
    r"""Prove the general Gaussian KL formula in dimension k, directly.

    Both covariances are generic symmetric positive-definite matrices
    :math:`\Sigma = L L^\top` (:math:`L` lower triangular with a positive
    diagonal, every entry a symbol), the means generic columns. The
    formula (:func:`kl_multivariate_gaussians_formula`) is compared with
    the expectation of the log-density ratio
    (:func:`kl_multivariate_gaussians_from_expectation`): lines 1 and 3 of
    :func:`multivariate_kl_derivation_steps`, without the middle line.

    Parameters
    ----------
    k : int
        Dimension, 1 to 3 (3 takes about 2 s).

    Returns
    -------
    Proof
    """
    k = _check_small_dimension(k)
    mu1, scale1, mu2, scale2 = _generic_gaussians(k)
    Sigma1, Sigma2 = scale1 * scale1.T, scale2 * scale2.T
    return prove_equal(
        kl_multivariate_gaussians_from_expectation(mu1, scale1, mu2, Sigma2),
        kl_multivariate_gaussians_formula(mu1, Sigma1, mu2, Sigma2),
        f"E_q[log q - log p] = KL formula for generic {k}x{k} covariances",
    )


# --- diagonal covariances, any dimension ------------------------------------


def _diagonal_symbols() -> tuple[sp.IndexedBase, sp.IndexedBase]:
    """The indexed means ``mu[i]`` (real) and deviations ``sigma[i]``."""
    return (
        sp.IndexedBase("mu", real=True),
        sp.IndexedBase("sigma", positive=True),
    )


def verify_diagonal_kl_symbolic_dimension() -> Proof:
    r"""Prove the general formula for diagonal covariances of symbolic
    dimension :math:`m`.

    With :math:`\Sigma_1 = \operatorname{diag}(\sigma_i^2)`,
    :math:`\Sigma_2 = \operatorname{diag}(\tau_i^2)`, the coordinates are
    independent, so :math:`\log q - \log p` is a sum over :math:`i` of
    one-dimensional log-ratios and its expectation is the ``Sum`` of the
    univariate KL divergences, each taken from the integral
    (:func:`kl_univariate_gaussians_from_integral`). The formula gives

    .. math::

        \frac12\left[\sum_{i=1}^m \log\tau_i^2 - \sum_{i=1}^m \log\sigma_i^2
        - m + \sum_{i=1}^m \frac{\sigma_i^2}{\tau_i^2}
        + \sum_{i=1}^m \frac{(\nu_i - \mu_i)^2}{\tau_i^2}\right].

    Returns
    -------
    Proof
    """
    m = sp.Symbol("m", integer=True, positive=True)
    i = sp.Symbol("i", integer=True, positive=True)
    mu, sigma = _diagonal_symbols()
    nu = sp.IndexedBase("nu", real=True)
    tau = sp.IndexedBase("tau", positive=True)
    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    univariate = _kl_univariate_integral().subs(
        {mu1: mu[i], sigma1: sigma[i], mu2: nu[i], sigma2: tau[i]},
        simultaneous=True,
    )

    def total(f: sp.Expr) -> sp.Sum:
        return sp.Sum(f, (i, 1, m))

    formula = HALF * (
        total(sp.log(tau[i] ** 2))
        - total(sp.log(sigma[i] ** 2))
        - m
        + total(sigma[i] ** 2 / tau[i] ** 2)
        + total((nu[i] - mu[i]) ** 2 / tau[i] ** 2)
    )
    return prove_equal(
        total(univariate),
        formula,
        "sum of m univariate KLs = KL formula, diagonal covariances, "
        "symbolic m",
        latex=r"&\sum_{i=1}^m \mathrm{KL}\left[\mathcal N(\mu_i, \sigma_i^2)"
        r" \,\|\, \mathcal N(\nu_i, \tau_i^2)\right] \\ &= \frac12\left["
        r"\sum_{i=1}^m \log\tau_i^2 - \sum_{i=1}^m \log\sigma_i^2 - m"
        r" + \sum_{i=1}^m \frac{\sigma_i^2}{\tau_i^2}"
        r" + \sum_{i=1}^m \frac{(\nu_i - \mu_i)^2}{\tau_i^2}\right]",
    )


def kl_formula_in_one_dimension() -> Proof:
    r"""Prove that the general formula at :math:`d = 1` is the univariate
    closed form (chapter 7's exercise).

    .. math::

        \begin{aligned}
        &\frac12\left[\log\frac{\sigma_2^2}{\sigma_1^2} - 1
        + \frac{\sigma_1^2}{\sigma_2^2}
        + \frac{(\mu_2 - \mu_1)^2}{\sigma_2^2}\right] \\
        &= \log\frac{\sigma_2}{\sigma_1}
        + \frac{\sigma_1^2 + (\mu_1 - \mu_2)^2}{2\sigma_2^2} - \frac12 ,
        \end{aligned}

    the left side being :func:`kl_multivariate_gaussians_formula` of
    :math:`1 \times 1` matrices, for every :math:`\mu_1, \mu_2` and
    :math:`\sigma_1, \sigma_2 > 0`.
    """
    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    general = kl_multivariate_gaussians_formula(
        sp.Matrix([mu1]),
        sp.Matrix([sigma1**2]),
        sp.Matrix([mu2]),
        sp.Matrix([sigma2**2]),
    )
    return prove_equal(
        general,
        kl_univariate_gaussians_closed_form(mu1, sigma1, mu2, sigma2),
        "the general KL formula at d = 1 = the univariate closed form",
        latex=r"&\frac12\left[\log\frac{\sigma_2^2}{\sigma_1^2} - 1"
        r" + \frac{\sigma_1^2}{\sigma_2^2}"
        r" + \frac{(\mu_2 - \mu_1)^2}{\sigma_2^2}\right] \\ &= "
        r"\log\frac{\sigma_2}{\sigma_1}"
        r" + \frac{\sigma_1^2 + (\mu_1 - \mu_2)^2}{2\sigma_2^2} - \frac12",
    )
