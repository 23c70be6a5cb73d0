r"""Symbolic proofs, with SymPy, of every formula the course uses.

Nothing in the notes is taken on trust: each function below builds the two
sides of an identity as SymPy expressions, from definitions (densities,
integrals, expectations), and simplifies their difference. The result is a
:class:`Proof`, whose :attr:`Proof.holds` is ``True`` exactly when the
difference simplifies to ``0``:

>>> from vaecourse import symbolic
>>> proof = symbolic.log_variance_identity()
>>> proof.holds
True
>>> print(proof)
sigma = exp(log(sigma^2)/2) for sigma > 0: holds

Print ``proof.holds`` (or ``str(proof)`` for an identity that holds) in
notebooks: these are strings this module controls, identical across SymPy
versions, whereas SymPy's own printing of an expression may change.

Contents, by chapter:

- "The log-variance trick": :func:`log_variance_identity`.
- "The ELBO": :func:`gaussian_nll_identity`,
  :func:`sum_of_squares_is_not_its_square_root`,
  :func:`bce_minimiser_and_minimum`,
  :func:`continuous_bernoulli_normaliser_integrates_to_one`, and the
  linear-Gaussian model (:func:`linear_gaussian_exact_posterior`,
  :func:`linear_gaussian_log_evidence`, :func:`linear_gaussian_elbo`,
  :func:`linear_gaussian_elbo_identity`, :func:`linear_gaussian_elbo_gap`).
- "The KL divergence, derived and verified": the Gaussian KL divergences
  (:func:`kl_univariate_gaussians_from_integral`,
  :func:`kl_multivariate_gaussians_formula`,
  :func:`verify_multivariate_kl`, :func:`verify_diagonal_kl_symbolic_dimension`)
  and the notes' derivation, line by line
  (:func:`notes_kl_derivation_steps`, :func:`check_derivation`).

Symbols carry assumptions (``positive=True`` for standard deviations,
``real=True`` for means and data), which is what makes identities such as
:math:`\log\sigma^2 = 2\log\sigma` provable: they are false for a negative
:math:`\sigma`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Real

import sympy as sp

__all__ = [
    "Proof",
    "prove_equal",
    "standard_normal_moment",
    "kl_univariate_gaussians_closed_form",
    "kl_univariate_gaussians_from_integral",
    "kl_multivariate_gaussians_formula",
    "kl_multivariate_gaussians_from_expectation",
    "verify_multivariate_kl",
    "verify_diagonal_kl_symbolic_dimension",
    "DerivationStep",
    "StepVerdict",
    "DerivationReport",
    "DERIVATION_VARIANTS",
    "notes_kl_derivation_steps",
    "notes_kl_derivation_steps_symbolic_dimension",
    "check_derivation",
    "gaussian_nll_identity",
    "sum_of_squares_is_not_its_square_root",
    "BCEMinimum",
    "bce_minimiser_and_minimum",
    "continuous_bernoulli_normaliser_integrates_to_one",
    "log_variance_identity",
    "linear_gaussian_symbols",
    "GaussianPosterior",
    "linear_gaussian_exact_posterior",
    "linear_gaussian_log_evidence",
    "linear_gaussian_elbo",
    "linear_gaussian_elbo_identity",
    "ElboGap",
    "linear_gaussian_elbo_gap",
]

HALF = sp.Rational(1, 2)


# --- proofs: the simplified difference of two expressions -------------------------

def _combined_sum_summand(expr: sp.Expr) -> sp.Expr | None:
    """Write ``expr`` as one ``Sum`` over shared limits and return its summand.

    Every term that is a multiple of a ``Sum`` contributes its summand; a term
    free of the index, ``c``, contributes ``c / m`` (since
    :math:`\\sum_{i=1}^m c/m = c`). Returns ``None`` if the sums do not share
    their limits ``(i, 1, m)``.
    """
    sums = list(expr.atoms(sp.Sum))
    if not sums or any(s.limits != sums[0].limits for s in sums):
        return None
    ((index, lower, upper),) = sums[0].limits
    if lower != 1:
        return None
    summand = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(expr)):
        factors = sp.Mul.make_args(term)
        inner = [f for f in factors if isinstance(f, sp.Sum)]
        if len(inner) == 1:
            coefficient = sp.Mul(*[f for f in factors if f is not inner[0]])
            if coefficient.has(index):
                return None
            summand += coefficient * inner[0].function
        elif not inner and not term.has(index):
            summand += term / upper
        else:
            return None
    return summand


def _simplified_difference(lhs: sp.Expr, rhs: sp.Expr) -> sp.Expr:
    """Simplify ``lhs - rhs``; the result is ``0`` exactly when the proof succeeds.

    Logarithms are expanded with the symbols' assumptions (never forced), so
    :math:`\\log(ab) = \\log a + \\log b` is used only where it is true.
    """
    difference = sp.expand(sp.expand_log(sp.sympify(lhs) - sp.sympify(rhs)))
    if difference == 0:
        return sp.S.Zero
    simplified = sp.simplify(difference)
    if simplified != 0:
        simplified = sp.simplify(sp.expand(sp.expand_log(simplified)))
    if simplified != 0 and simplified.has(sp.Sum):
        # Sums over the same range, plus free terms such as m: compare summands.
        summand = _combined_sum_summand(simplified)
        if summand is not None and _simplified_difference(summand, 0) == 0:
            return sp.S.Zero
    return simplified


@dataclass(frozen=True)
class Proof:
    r"""The outcome of proving (or refuting) the identity ``lhs = rhs``.

    Attributes
    ----------
    statement : str
        The identity in words and plain-text math, e.g.
        ``"sigma = exp(log(sigma^2)/2) for sigma > 0"``.
    lhs, rhs : sympy.Expr
        The two sides, each built from its own definition.
    difference : sympy.Expr
        ``lhs - rhs`` after simplification: ``0`` when the identity holds.
    counterexample : dict or None
        For a refuted identity, values of the symbols at which the two sides
        differ (see :attr:`counterexample_values`).
    """

    statement: str
    lhs: sp.Expr
    rhs: sp.Expr
    difference: sp.Expr
    counterexample: Mapping[sp.Symbol, sp.Expr] | None = None

    @property
    def holds(self) -> bool:
        """``True`` when ``lhs - rhs`` simplifies to 0 (a plain bool, printable as is)."""
        return bool(self.difference == 0)

    @property
    def counterexample_values(self) -> tuple[sp.Expr, sp.Expr] | None:
        """The values of ``lhs`` and ``rhs`` at :attr:`counterexample`, or ``None``."""
        if self.counterexample is None:
            return None
        return (sp.simplify(self.lhs.subs(self.counterexample).doit()),
                sp.simplify(self.rhs.subs(self.counterexample).doit()))

    def __bool__(self) -> bool:
        return self.holds

    def __str__(self) -> str:
        if self.holds:
            return f"{self.statement}: holds"
        if self.counterexample_values is not None:
            left, right = self.counterexample_values
            return f"{self.statement}: does not hold (counterexample: {left} != {right})"
        return f"{self.statement}: does not hold (difference = {self.difference})"


def prove_equal(lhs: sp.Expr, rhs: sp.Expr, statement: str) -> Proof:
    """Prove ``lhs = rhs`` by simplifying their difference.

    Parameters
    ----------
    lhs, rhs : sympy.Expr
        The two sides (numbers are accepted and converted).
    statement : str
        What is being proved, for printing.

    Returns
    -------
    Proof
        ``proof.holds`` is True when the difference simplifies to 0.
    """
    if not isinstance(statement, str):
        raise TypeError(f"statement must be a str, got {type(statement).__name__}")
    lhs, rhs = _as_expr("lhs", lhs), _as_expr("rhs", rhs)
    return Proof(statement, lhs, rhs, _simplified_difference(lhs, rhs))


def _as_expr(name: str, value: object) -> sp.Expr:
    if isinstance(value, bool) or not isinstance(value, (Real, sp.Basic)):
        raise TypeError(f"{name} must be a SymPy expression or a real number, got {type(value).__name__}")
    return sp.sympify(value)


def _check_std(name: str, value: sp.Expr) -> None:
    if value.is_positive is False:
        raise ValueError(f"{name} is a standard deviation and must be positive, got {value}")


# --- Gaussian expectations, from integrals ------------------------------------------

@lru_cache(maxsize=None)
def standard_normal_moment(power: int) -> sp.Expr:
    r"""The moment :math:`\mathbb E[\varepsilon^k]` of :math:`\varepsilon \sim \mathcal N(0, 1)`, by integration.

    .. math::

        \mathbb E[\varepsilon^k] = \int_{-\infty}^{\infty}
        \varepsilon^k \, \frac{e^{-\varepsilon^2/2}}{\sqrt{2\pi}} \, d\varepsilon
        \qquad (1, 0, 1, 0, 3, \dots)

    Every Gaussian expectation in this module reduces to these moments
    through :math:`z = \mu + L\varepsilon`.
    """
    if isinstance(power, bool) or not isinstance(power, int):
        raise TypeError(f"power must be an int, got {type(power).__name__}")
    if power < 0:
        raise ValueError(f"power must be >= 0, got {power}")
    eps = sp.Symbol("varepsilon", real=True)
    density = sp.exp(-eps**2 / 2) / sp.sqrt(2 * sp.pi)
    return sp.integrate(eps**power * density, (eps, -sp.oo, sp.oo))


def _expectation_over_standard_normals(expr: sp.Expr, noises: Sequence[sp.Symbol]) -> sp.Expr:
    """E[expr] for independent standard normal ``noises``; expr polynomial in them."""
    polynomial = sp.Poly(sp.expand(expr), *noises)
    total = sp.S.Zero
    for powers, coefficient in polynomial.terms():
        moment = sp.Mul(*[standard_normal_moment(p) for p in powers])
        total += coefficient * moment
    return total


def _gaussian_log_density(z: sp.Expr, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    r""":math:`\log\mathcal N(z; \mu, v) = -\frac12\log(2\pi v) - (z-\mu)^2/(2v)`."""
    return -sp.log(2 * sp.pi * variance) / 2 - (z - mean) ** 2 / (2 * variance)


def _gaussian_expectation(expr: sp.Expr, z: sp.Symbol, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    r""":math:`\mathbb E_{z \sim \mathcal N(\mu, v)}[f(z)]` for a polynomial ``f``, via :math:`z = \mu + \sqrt v\,\varepsilon`."""
    eps = sp.Symbol("varepsilon_0", real=True)
    return _expectation_over_standard_normals(expr.subs(z, mean + sp.sqrt(variance) * eps), [eps])


# --- the KL divergence of Gaussians --------------------------------------------------

def kl_univariate_gaussians_closed_form(mu1: sp.Expr, sigma1: sp.Expr, mu2: sp.Expr, sigma2: sp.Expr) -> sp.Expr:
    r"""Closed form of :math:`\mathrm{KL}[\mathcal N(\mu_1, \sigma_1^2) \,\|\, \mathcal N(\mu_2, \sigma_2^2)]`.

    .. math::

        \mathrm{KL} = \log\frac{\sigma_2}{\sigma_1}
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
    return sp.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - HALF


def _univariate_kl_symbols() -> tuple[sp.Symbol, sp.Symbol, sp.Symbol, sp.Symbol]:
    mu1, mu2 = sp.symbols("mu_1 mu_2", real=True)
    sigma1, sigma2 = sp.symbols("sigma_1 sigma_2", positive=True)
    return mu1, sigma1, mu2, sigma2


@lru_cache(maxsize=None)
def _kl_univariate_integral() -> sp.Expr:
    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    z = sp.Symbol("z", real=True)
    q = sp.exp(-(z - mu1) ** 2 / (2 * sigma1**2)) / sp.sqrt(2 * sp.pi * sigma1**2)
    log_ratio = _gaussian_log_density(z, mu1, sigma1**2) - _gaussian_log_density(z, mu2, sigma2**2)
    # log q - log p is a quadratic in z once the logs are expanded (sigma > 0).
    integrand = q * sp.expand(sp.expand_log(log_ratio))
    return sp.integrate(integrand, (z, -sp.oo, sp.oo))


def kl_univariate_gaussians_from_integral() -> Proof:
    r"""Derive the univariate Gaussian KL from its integral and compare it with the closed form.

    .. math::

        \mathrm{KL}(q \,\|\, p) = \int_{-\infty}^{\infty} q(z)
        \log\frac{q(z)}{p(z)} \, dz,
        \qquad q = \mathcal N(\mu_1, \sigma_1^2),\; p = \mathcal N(\mu_2, \sigma_2^2),

    computed by ``sympy.integrate`` over the real line, equals
    :func:`kl_univariate_gaussians_closed_form`.

    Returns
    -------
    Proof
        ``lhs`` is the integral (evaluated), ``rhs`` the closed form, in the
        symbols ``mu_1, sigma_1, mu_2, sigma_2`` (``sigma`` positive).
    """
    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    return prove_equal(
        _kl_univariate_integral(),
        kl_univariate_gaussians_closed_form(mu1, sigma1, mu2, sigma2),
        "integral of q log(q/p) over the real line = the closed form",
    )


def _check_gaussian_parameters(mean_name: str, mean: sp.Matrix, cov_name: str, cov: sp.Matrix) -> int:
    if not isinstance(mean, sp.MatrixBase):
        raise TypeError(f"{mean_name} must be a sympy.Matrix column (k x 1), got {type(mean).__name__}")
    if not isinstance(cov, sp.MatrixBase):
        raise TypeError(f"{cov_name} must be a sympy.Matrix (k x k), got {type(cov).__name__}")
    if mean.shape[1] != 1:
        raise ValueError(f"{mean_name} must be a column of shape (k, 1), got shape {mean.shape}")
    k = mean.shape[0]
    if cov.shape != (k, k):
        raise ValueError(f"{cov_name} must have shape ({k}, {k}) to match {mean_name}, got {cov.shape}")
    if any(sp.simplify(entry) != 0 for entry in cov - cov.T):
        raise ValueError(f"{cov_name} must be symmetric")
    return k


def kl_multivariate_gaussians_formula(mu1: sp.Matrix, Sigma1: sp.Matrix, mu2: sp.Matrix, Sigma2: sp.Matrix) -> sp.Expr:
    r"""The general Gaussian KL formula the notes quote, for dimension :math:`k`.

    .. math::

        \mathrm{KL}\left[\mathcal N(\mu_1, \Sigma_1) \,\|\, \mathcal N(\mu_2, \Sigma_2)\right]
        = \frac12\left[\log\frac{|\Sigma_2|}{|\Sigma_1|} - k
        + \operatorname{tr}\{\Sigma_2^{-1}\Sigma_1\}
        + (\mu_2 - \mu_1)^\top \Sigma_2^{-1} (\mu_2 - \mu_1)\right].

    The notes write :math:`n` for :math:`k`; for the VAE's latent Gaussians
    :math:`k = m`, the latent dimension. :func:`verify_multivariate_kl`
    proves it from the expectation :math:`\mathbb E_q[\log q - \log p]`.

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
    if _check_gaussian_parameters("mu2", mu2, "Sigma2", Sigma2) != k:
        raise ValueError(f"mu1 and mu2 must have the same dimension, got {mu1.shape[0]} and {mu2.shape[0]}")
    precision2 = Sigma2.inv()
    gap = mu2 - mu1
    return HALF * (sp.log(Sigma2.det() / Sigma1.det()) - k
                   + (precision2 * Sigma1).trace() + (gap.T * precision2 * gap)[0, 0])


def _multivariate_log_density(z: sp.Matrix, mean: sp.Matrix, cov: sp.Matrix) -> sp.Expr:
    k = z.shape[0]
    gap = z - mean
    return (-sp.Rational(k, 2) * sp.log(2 * sp.pi) - sp.log(cov.det()) / 2
            - (gap.T * cov.inv() * gap)[0, 0] / 2)


def kl_multivariate_gaussians_from_expectation(mu1: sp.Matrix, scale1: sp.Matrix, mu2: sp.Matrix, Sigma2: sp.Matrix) -> sp.Expr:
    r"""KL of two Gaussians computed from its definition, :math:`\mathbb E_q[\log q(z) - \log p(z)]`.

    With :math:`q = \mathcal N(\mu_1, \Sigma_1)`, :math:`\Sigma_1 = L_1 L_1^\top`,
    and :math:`p = \mathcal N(\mu_2, \Sigma_2)`, the log-densities

    .. math::

        \log\mathcal N(z; \mu, \Sigma) = -\frac k2 \log 2\pi - \frac12 \log|\Sigma|
        - \frac12 (z - \mu)^\top \Sigma^{-1} (z - \mu)

    are written out, :math:`z = \mu_1 + L_1\varepsilon` is substituted, and
    the expectation is taken term by term with the moments of
    :math:`\varepsilon \sim \mathcal N(0, I)` (:func:`standard_normal_moment`).
    No step uses the closed form.

    Parameters
    ----------
    mu1 : sympy.Matrix
        Mean of ``q``, shape ``(k, 1)``.
    scale1 : sympy.Matrix
        A square root :math:`L_1` of :math:`\Sigma_1` (e.g. its Cholesky factor),
        shape ``(k, k)``.
    mu2, Sigma2 : sympy.Matrix
        Mean and covariance of ``p``.

    Returns
    -------
    sympy.Expr
    """
    Sigma1 = scale1 * scale1.T if isinstance(scale1, sp.MatrixBase) else scale1
    k = _check_gaussian_parameters("mu1", mu1, "scale1 * scale1.T", Sigma1)
    if _check_gaussian_parameters("mu2", mu2, "Sigma2", Sigma2) != k:
        raise ValueError(f"mu1 and mu2 must have the same dimension, got {mu1.shape[0]} and {mu2.shape[0]}")
    noises = sp.symbols(f"varepsilon_1:{k + 1}", real=True)
    z = mu1 + scale1 * sp.Matrix(noises)
    log_ratio = _multivariate_log_density(z, mu1, Sigma1) - _multivariate_log_density(z, mu2, Sigma2)
    return _expectation_over_standard_normals(log_ratio, noises)


def _lower_triangular(name: str, k: int) -> sp.Matrix:
    """A generic Cholesky factor: lower triangular, positive diagonal."""
    return sp.Matrix(k, k, lambda i, j: sp.Symbol(f"{name}_{i + 1}{j + 1}", positive=True) if i == j
                     else sp.Symbol(f"{name}_{i + 1}{j + 1}", real=True) if i > j else 0)


def verify_multivariate_kl(k: int) -> Proof:
    r"""Prove the general Gaussian KL formula in dimension ``k`` for generic covariances.

    Both covariances are generic symmetric positive-definite matrices
    :math:`\Sigma = L L^\top` (:math:`L` lower triangular with a positive
    diagonal, every entry a symbol), the means generic columns. The formula
    (:func:`kl_multivariate_gaussians_formula`) is compared with the
    expectation of the log-density ratio
    (:func:`kl_multivariate_gaussians_from_expectation`).

    Parameters
    ----------
    k : int
        Dimension, 1 to 3 (3 takes about 2 s).

    Returns
    -------
    Proof
    """
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if not 1 <= k <= 3:
        raise ValueError(f"k must be 1, 2 or 3 (larger symbolic inverses are slow), got {k}")
    scale1, scale2 = _lower_triangular("a", k), _lower_triangular("b", k)
    mu1 = sp.Matrix(sp.symbols(f"mu_1:{k + 1}", real=True))
    mu2 = sp.Matrix(sp.symbols(f"nu_1:{k + 1}", real=True))
    Sigma1, Sigma2 = scale1 * scale1.T, scale2 * scale2.T
    return prove_equal(
        kl_multivariate_gaussians_from_expectation(mu1, scale1, mu2, Sigma2),
        kl_multivariate_gaussians_formula(mu1, Sigma1, mu2, Sigma2),
        f"E_q[log q - log p] = KL formula for generic {k}x{k} covariances",
    )


def _diagonal_symbols(index: sp.Symbol) -> tuple[sp.IndexedBase, sp.IndexedBase]:
    return sp.IndexedBase("mu", real=True), sp.IndexedBase("sigma", positive=True)


def verify_diagonal_kl_symbolic_dimension() -> Proof:
    r"""Prove the general formula for diagonal covariances of symbolic dimension :math:`m`.

    With :math:`\Sigma_1 = \operatorname{diag}(\sigma_i^2)`,
    :math:`\Sigma_2 = \operatorname{diag}(\tau_i^2)`, the coordinates are
    independent, so :math:`\log q - \log p` is a sum over :math:`i` of
    one-dimensional log-ratios and its expectation is the ``Sum`` of the
    univariate KL divergences, each taken from the integral
    (:func:`kl_univariate_gaussians_from_integral`). The formula gives

    .. math::

        \frac12\left[\sum_{i=1}^m \log\tau_i^2 - \sum_{i=1}^m \log\sigma_i^2 - m
        + \sum_{i=1}^m \frac{\sigma_i^2}{\tau_i^2}
        + \sum_{i=1}^m \frac{(\nu_i - \mu_i)^2}{\tau_i^2}\right].

    Returns
    -------
    Proof
    """
    m = sp.Symbol("m", integer=True, positive=True)
    i = sp.Symbol("i", integer=True, positive=True)
    mu, sigma = _diagonal_symbols(i)
    nu, tau = sp.IndexedBase("nu", real=True), sp.IndexedBase("tau", positive=True)
    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    univariate = _kl_univariate_integral().subs({mu1: mu[i], sigma1: sigma[i], mu2: nu[i], sigma2: tau[i]},
                                                simultaneous=True)

    def total(f: sp.Expr) -> sp.Sum:
        return sp.Sum(f, (i, 1, m))

    formula = HALF * (total(sp.log(tau[i] ** 2)) - total(sp.log(sigma[i] ** 2)) - m
                      + total(sigma[i] ** 2 / tau[i] ** 2) + total((nu[i] - mu[i]) ** 2 / tau[i] ** 2))
    return prove_equal(total(univariate), formula,
                       "sum of m univariate KLs = KL formula, diagonal covariances, symbolic m")


# --- the notes' derivation, line by line ------------------------------------------------

@dataclass(frozen=True)
class DerivationStep:
    """One line of a derivation.

    Attributes
    ----------
    label : str
        Why this line follows from the previous one (for the first line: what
        it is).
    latex : str
        The line as the notes write it, corrected, in LaTeX (no ``$``).
    expr : sympy.Expr
        The line as a SymPy expression.
    """

    label: str
    latex: str
    expr: sp.Expr


@dataclass(frozen=True)
class StepVerdict:
    """Whether line ``number - 1`` equals line ``number`` of a derivation (numbered from 1)."""

    number: int
    label: str
    equal: bool
    difference: sp.Expr

    def describe(self, show_difference: bool = True) -> str:
        """``"step 5 -> 6 (label): equal"`` or ``"...: not equal[, difference = ...]"``."""
        head = f"step {self.number - 1} -> {self.number} ({self.label})"
        if self.equal:
            return f"{head}: equal"
        return f"{head}: not equal" + (f", difference = {self.difference}" if show_difference else "")

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class DerivationReport:
    """Per-step verdicts of :func:`check_derivation`."""

    verdicts: tuple[StepVerdict, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when every line equals the next."""
        return all(v.equal for v in self.verdicts)

    @property
    def first_failure(self) -> StepVerdict | None:
        """The first step whose two lines differ, or ``None``."""
        return next((v for v in self.verdicts if not v.equal), None)

    def summary(self, show_difference: bool = True) -> str:
        """One line per step, then the conclusion (naming the first failing step)."""
        lines = [v.describe(show_difference) for v in self.verdicts]
        if self.ok:
            lines.append(f"all {len(self.verdicts)} steps proved")
        else:
            lines.append(f"first failure: {self.first_failure.describe(show_difference)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


#: The variants of the derivation, the correct one and the slips the checker must catch.
DERIVATION_VARIANTS: dict[str, str] = {
    "corrected": "the notes' derivation with their slips fixed",
    "dropped_half": "the factor 1/2 dropped in the line 'log of a product = sum of logs'",
    "sign_flip": "the sign of mu_i^2 flipped in the last line",
    "index_n": "the notes' n (the data dimension) written for the latent dimension m",
    "dropped_index": "the notes' last line as printed: sigma and mu without the index i",
}


def _check_variant(variant: str) -> None:
    if not isinstance(variant, str):
        raise TypeError(f"variant must be a str, got {type(variant).__name__}")
    if variant not in DERIVATION_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(DERIVATION_VARIANTS)}")


_LATEX_GENERAL = (r"\frac12\left[\log\frac{|\Sigma_2|}{|\Sigma_1|} - {dim}"
                  r" + \operatorname{tr}\{\Sigma_2^{-1}\Sigma_1\}"
                  r" + (\mu_2 - \mu_1)^\top \Sigma_2^{-1} (\mu_2 - \mu_1)\right]")


def _tail_lines(variant: str, dim: sp.Expr, dim_tex: str,
                total: Callable[[Callable[[sp.Expr], sp.Expr]], sp.Expr],
                mu: Callable[[object], sp.Expr], sigma: Callable[[object], sp.Expr]) -> list[DerivationStep]:
    """The last three lines of the notes' derivation, shared by both dimensions."""
    half_log_sum = 1 if variant == "dropped_half" else HALF
    mu_sign = 1 if variant == "sign_flip" else -1
    if variant == "dropped_index":
        plain_mu, plain_sigma = sp.Symbol("mu", real=True), sp.Symbol("sigma", positive=True)
        last_summand = lambda i: 1 + sp.log(plain_sigma**2) - plain_mu**2 - plain_sigma**2  # noqa: E731
        last_tex = r"-\frac12 \sum_i \left[1 + \log(\sigma^2) - \mu^2 - \sigma^2\right]"
    else:
        last_summand = lambda i: 1 + sp.log(sigma(i) ** 2) + mu_sign * mu(i) ** 2 - sigma(i) ** 2  # noqa: E731
        sign_tex = "+" if variant == "sign_flip" else "-"
        last_tex = rf"-\frac12 \sum_i \left[1 + \log\sigma_i^2 {sign_tex} \mu_i^2 - \sigma_i^2\right]"
    squares = total(lambda i: sigma(i) ** 2) + total(lambda i: mu(i) ** 2)
    half_tex = "" if variant == "dropped_half" else r"\frac12"
    return [
        DerivationStep(
            "log of a product = sum of logs",
            half_tex + rf"\left[-\sum_i \log\sigma_i^2 - {dim_tex} + \sum_i \sigma_i^2 + \sum_i \mu_i^2\right]",
            half_log_sum * (-total(lambda i: sp.log(sigma(i) ** 2)) - dim + squares)),
        DerivationStep(
            f"{dim_tex} = sum_i 1",
            r"\frac12\left[-\sum_i \left(\log\sigma_i^2 + 1\right) + \sum_i \sigma_i^2 + \sum_i \mu_i^2\right]",
            HALF * (-total(lambda i: sp.log(sigma(i) ** 2) + 1) + squares)),
        DerivationStep("factor out -1/2", last_tex, -HALF * total(last_summand)),
    ]


def notes_kl_derivation_steps(variant: str = "corrected", m: int = 3) -> list[DerivationStep]:
    r"""The notes' derivation of :math:`\mathrm{KL}[\mathcal N(\mu, \Sigma) \,\|\, \mathcal N(0, I)]`, one line per step.

    The latent dimension is a concrete ``m`` (matrices need a size): the
    symbols are :math:`\mu_1, \dots, \mu_m` (real) and
    :math:`\sigma_1, \dots, \sigma_m` (positive), :math:`\Sigma =
    \operatorname{diag}(\sigma_i^2)`. The lines:

    1. :math:`\mathrm{KL}[\mathcal N(\mu, \Sigma) \| \mathcal N(0, I)]`,
       computed as :math:`\mathbb E_q[\log q - \log p]` from the log-densities
       (:func:`kl_multivariate_gaussians_from_expectation`);
    2. the general formula with :math:`(\mu_1, \Sigma_1, \mu_2, \Sigma_2) =
       (\mu, \Sigma, 0, I)`;
    3. the substituted formula; 4. :math:`\frac12[-\log|\Sigma| - m +
       \operatorname{tr}\Sigma + \mu^\top\mu]`; 5. determinant and trace of
       the diagonal :math:`\Sigma`; 6. log of a product as a sum of logs;
       7. :math:`m = \sum_i 1`; 8. the final
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
    if isinstance(m, bool) or not isinstance(m, int):
        raise TypeError(f"m must be an int, got {type(m).__name__}")
    if not 1 <= m <= 6:
        raise ValueError(f"m must be between 1 and 6, got {m}")
    mus = sp.symbols(f"mu_1:{m + 1}", real=True)
    sigmas = sp.symbols(f"sigma_1:{m + 1}", positive=True)
    mu, zero, eye = sp.Matrix(mus), sp.zeros(m, 1), sp.eye(m)
    Sigma = sp.diag(*[s**2 for s in sigmas])
    # The notes' n is the data dimension, a different number from m.
    dim = sp.Symbol("n", integer=True, positive=True) if variant == "index_n" else sp.Integer(m)
    dim_tex = "n" if variant == "index_n" else "m"

    def total(f: Callable[[int], sp.Expr]) -> sp.Expr:
        return sp.Add(*[f(i) for i in range(m)])

    gap = zero - mu
    lines = [
        DerivationStep(
            "definition: E_q[log q(z) - log p(z)], from the log-densities",
            r"\mathrm{KL}[\mathcal N(\mu, \Sigma) \,\|\, \mathcal N(0, I)]",
            kl_multivariate_gaussians_from_expectation(mu, sp.diag(*sigmas), zero, eye)),
        DerivationStep(
            "the general Gaussian KL formula",
            _LATEX_GENERAL.replace("{dim}", dim_tex),
            HALF * (sp.log(eye.det() / Sigma.det()) - dim + (eye.inv() * Sigma).trace()
                    + ((zero - mu).T * eye.inv() * (zero - mu))[0, 0])),
        DerivationStep(
            "substitute mu_1 = mu, Sigma_1 = Sigma, mu_2 = 0, Sigma_2 = I",
            rf"\frac12\left[\log\frac{{|I|}}{{|\Sigma|}} - {dim_tex} + \operatorname{{tr}}\{{I^{{-1}}\Sigma\}}"
            r" + (\vec 0 - \mu)^\top I^{-1} (\vec 0 - \mu)\right]",
            HALF * (sp.log(sp.Integer(1) / Sigma.det()) - dim + Sigma.trace() + (gap.T * gap)[0, 0])),
        DerivationStep(
            "|I| = 1, I^-1 = I, (0 - mu)^T (0 - mu) = mu^T mu",
            rf"\frac12\left[-\log|\Sigma| - {dim_tex} + \operatorname{{tr}}\{{\Sigma\}} + \mu^\top\mu\right]",
            HALF * (-sp.log(Sigma.det()) - dim + Sigma.trace() + (mu.T * mu)[0, 0])),
        DerivationStep(
            "Sigma = diag(sigma_i^2): determinant and trace",
            rf"\frac12\left[-\log\prod_i \sigma_i^2 - {dim_tex} + \sum_i \sigma_i^2 + \sum_i \mu_i^2\right]",
            HALF * (-sp.log(sp.Mul(*[s**2 for s in sigmas])) - dim + total(lambda i: sigmas[i] ** 2)
                    + total(lambda i: mus[i] ** 2))),
    ]
    return lines + _tail_lines(variant, dim, dim_tex, total, lambda i: mus[i], lambda i: sigmas[i])


def notes_kl_derivation_steps_symbolic_dimension(variant: str = "corrected") -> list[DerivationStep]:
    r"""The end of the notes' derivation for a symbolic latent dimension :math:`m`, with ``Sum``.

    Lines: the sum over :math:`i = 1, \dots, m` of the univariate KL
    divergences :math:`\mathrm{KL}[\mathcal N(\mu_i, \sigma_i^2) \| \mathcal
    N(0, 1)]` (each from the integral; the KL of independent coordinates is
    the sum of theirs), then lines 6 to 8 of
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
    mu, sigma = _diagonal_symbols(i)
    dim = sp.Symbol("n", integer=True, positive=True) if variant == "index_n" else m
    dim_tex = "n" if variant == "index_n" else "m"

    def total(f: Callable[[sp.Symbol], sp.Expr]) -> sp.Sum:
        return sp.Sum(f(i), (i, 1, m))

    mu1, sigma1, mu2, sigma2 = _univariate_kl_symbols()
    univariate = _kl_univariate_integral().subs({mu1: mu[i], sigma1: sigma[i], mu2: 0, sigma2: 1},
                                                simultaneous=True)
    first = DerivationStep(
        "KL of independent coordinates = sum of their KLs (each from the integral)",
        r"\sum_{i=1}^m \mathrm{KL}[\mathcal N(\mu_i, \sigma_i^2) \,\|\, \mathcal N(0, 1)]",
        sp.Sum(univariate, (i, 1, m)))
    return [first] + _tail_lines(variant, dim, dim_tex, total, lambda j: mu[j], lambda j: sigma[j])


def check_derivation(steps: Sequence[DerivationStep]) -> DerivationReport:
    """Prove each line of a derivation equal to the next; name the steps that fail.

    Parameters
    ----------
    steps : list of DerivationStep
        At least two lines, e.g. from :func:`notes_kl_derivation_steps`.

    Returns
    -------
    DerivationReport
        ``report.ok`` is True when every step holds; ``report.first_failure``
        names the first step that does not, e.g.
        ``"step 5 -> 6 (log of a product = sum of logs): not equal, difference = ..."``.
    """
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise TypeError(f"steps must be a list of DerivationStep, got {type(steps).__name__}")
    for position, step in enumerate(steps, start=1):
        if not isinstance(step, DerivationStep):
            raise TypeError(f"steps[{position - 1}] must be a DerivationStep, got {type(step).__name__}")
    if len(steps) < 2:
        raise ValueError(f"steps must hold at least 2 lines to compare, got {len(steps)}")
    verdicts = []
    for number in range(2, len(steps) + 1):
        before, after = steps[number - 2], steps[number - 1]
        difference = _simplified_difference(before.expr, after.expr)
        verdicts.append(StepVerdict(number, after.label, bool(difference == 0), difference))
    return DerivationReport(tuple(verdicts))


# --- reconstruction terms ------------------------------------------------------------

def _check_dimension(name: str, value: int | None, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, got {type(value).__name__}")
    if not 1 <= value <= 50:
        raise ValueError(f"{name} must be between 1 and 50, got {value}")


def gaussian_nll_identity(n: int | None = None) -> Proof:
    r"""Prove the Gaussian negative log-likelihood as a scaled sum of squares plus a constant.

    .. math::

        -\log\mathcal N(x; \hat x, s^2 I)
        = -\sum_{i=1}^n \log\left(\frac{1}{\sqrt{2\pi s^2}}
          e^{-(x_i - \hat x_i)^2 / (2 s^2)}\right)
        = \frac{\|x - \hat x\|^2}{2 s^2} + \frac n2 \log(2\pi s^2),

    with :math:`\|x - \hat x\|^2 = \sum_i (x_i - \hat x_i)^2`, a sum of
    squares with no square root (chapter "The ELBO"; erratum 8).

    Parameters
    ----------
    n : int or None
        Data dimension; ``None`` (default) proves it for a symbolic :math:`n`
        with ``sympy.Sum``.

    Returns
    -------
    Proof
    """
    _check_dimension("n", n, allow_none=True)
    s = sp.Symbol("s", positive=True)
    i = sp.Symbol("i", integer=True, positive=True)
    x, x_hat = sp.IndexedBase("x", real=True), sp.IndexedBase("xhat", real=True)
    size = sp.Symbol("n", integer=True, positive=True) if n is None else sp.Integer(n)

    def total(f: sp.Expr) -> sp.Expr:
        return sp.Sum(f, (i, 1, size)) if n is None else sp.Add(*[f.subs(i, j) for j in range(1, n + 1)])

    density = sp.exp(-(x[i] - x_hat[i]) ** 2 / (2 * s**2)) / sp.sqrt(2 * sp.pi * s**2)
    nll = -total(sp.log(density))
    closed = total((x[i] - x_hat[i]) ** 2) / (2 * s**2) + size / 2 * sp.log(2 * sp.pi * s**2)
    return prove_equal(nll, closed, "-log N(x; xhat, s^2 I) = ||x - xhat||^2/(2 s^2) + (n/2) log(2 pi s^2)")


def sum_of_squares_is_not_its_square_root(n: int = 2) -> Proof:
    r"""Refute the notes' :math:`\|x - \hat x\|_2^2 = \sqrt{\sum_i (x_i - \hat x_i)^2}` (erratum 1).

    The difference :math:`S - \sqrt S` of :math:`S = \sum_i d_i^2` does not
    simplify to 0; the counterexample :math:`d = (3, 4)` gives :math:`25 \ne 5`.
    (The two agree only where :math:`S \in \{0, 1\}`.)

    Parameters
    ----------
    n : int
        Number of coordinates, default 2.

    Returns
    -------
    Proof
        ``holds`` is False and ``counterexample`` is set.
    """
    _check_dimension("n", n, allow_none=False)
    d = sp.symbols(f"d_1:{n + 1}", real=True)
    squares = sp.Add(*[di**2 for di in d])
    values = dict.fromkeys(d, sp.Integer(0))
    if n == 1:
        values[d[0]] = sp.Integer(2)
    else:
        values[d[0]], values[d[1]] = sp.Integer(3), sp.Integer(4)
    return Proof("sum_i d_i^2 = sqrt(sum_i d_i^2)", squares, sp.sqrt(squares),
                 _simplified_difference(squares, sp.sqrt(squares)), values)


@dataclass(frozen=True)
class BCEMinimum:
    r"""Facts about binary cross-entropy :math:`-[t\log p + (1 - t)\log(1 - p)]` as a function of :math:`p`.

    Attributes
    ----------
    bce, minimiser, minimum, entropy : sympy.Expr
        The loss, its minimiser over ``p``, its minimum value, and the binary
        entropy :math:`H(t) = -[t\log t + (1 - t)\log(1 - t)]`.
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
    minimiser: sp.Expr
    minimum: sp.Expr
    entropy: sp.Expr
    minimiser_is_target: bool
    minimum_is_entropy: bool
    minimum_positive_inside: bool
    minimum_zero_at_binary_targets: bool

    @property
    def holds(self) -> bool:
        """True when all four facts are proved."""
        return (self.minimiser_is_target and self.minimum_is_entropy
                and self.minimum_positive_inside and self.minimum_zero_at_binary_targets)

    def __str__(self) -> str:
        return "\n".join([
            f"BCE(t, p) is minimised at p = t: {self.minimiser_is_target}",
            f"its minimum BCE(t, t) is the binary entropy H(t): {self.minimum_is_entropy}",
            f"H(t) > 0 for 0 < t < 1 (the minimum is not 0 for grey values): {self.minimum_positive_inside}",
            f"H(t) -> 0 as t -> 0 or t -> 1 (binary targets): {self.minimum_zero_at_binary_targets}",
        ])


def bce_minimiser_and_minimum() -> BCEMinimum:
    r"""Binary cross-entropy with a target :math:`t \in [0, 1]`: minimised at :math:`p = t`, minimum :math:`H(t)`.

    .. math::

        \mathrm{BCE}(t, p) = -[t\log p + (1 - t)\log(1 - p)], \quad
        \frac{\partial \mathrm{BCE}}{\partial p} = 0 \iff p = t, \quad
        \mathrm{BCE}(t, t) = H(t) > 0 \text{ for } 0 < t < 1.

    So BCE is a valid loss for grey values (erratum 2), but its minimum is
    not 0 unless :math:`t \in \{0, 1\}` (chapter "The ELBO").

    Returns
    -------
    BCEMinimum
    """
    # t in (0, 1) is written t = u / (1 + u) with u > 0 where positivity is needed.
    t, p, u = sp.Symbol("t", positive=True), sp.Symbol("p", positive=True), sp.Symbol("u", positive=True)
    bce = -(t * sp.log(p) + (1 - t) * sp.log(1 - p))
    stationary = sp.solve(sp.diff(bce, p), p)
    curvature = sp.simplify(sp.diff(bce, p, 2).subs(p, t).subs(t, u / (1 + u)))
    minimiser_is_target = stationary == [t] and bool(curvature.is_positive)
    minimum = bce.subs(p, t)
    entropy = -(t * sp.log(t) + (1 - t) * sp.log(1 - t))
    minimum_is_entropy = _simplified_difference(minimum, entropy) == 0
    ends = [sp.limit(entropy, t, 0, "+"), sp.limit(entropy, t, 1, "-")]
    concavity = sp.simplify(sp.diff(entropy, t, 2).subs(t, u / (1 + u)))
    minimum_zero_at_binary_targets = ends == [0, 0]
    # Strictly concave on (0, 1) and 0 at both ends: positive inside.
    minimum_positive_inside = bool(concavity.is_negative) and minimum_zero_at_binary_targets
    return BCEMinimum(bce, t, minimum, entropy, minimiser_is_target, minimum_is_entropy,
                      minimum_positive_inside, minimum_zero_at_binary_targets)


def _generic_branch(expr: sp.Expr, symbol: sp.Symbol, generic_value: sp.Expr) -> sp.Expr:
    """The branch of a ``Piecewise`` that applies at a generic value of ``symbol``."""
    if not isinstance(expr, sp.Piecewise):
        return expr
    return next(branch for branch, condition in expr.args if condition.subs(symbol, generic_value) == sp.true)


def continuous_bernoulli_normaliser_integrates_to_one() -> Proof:
    r"""The continuous Bernoulli density integrates to 1 over :math:`[0, 1]`.

    .. math::

        C(\lambda) \int_0^1 \lambda^x (1 - \lambda)^{1 - x} dx = 1, \qquad
        C(\lambda) = \frac{2\operatorname{artanh}(1 - 2\lambda)}{1 - 2\lambda}
        \;(\lambda \ne \tfrac12), \quad C(\tfrac12) = 2,

    the constant of Loaiza-Ganem & Cunningham (2019) that BCE leaves out on
    grey values (chapter "The ELBO"). The integral is done by
    ``sympy.integrate``; :math:`\lambda = u / (1 + u)`, :math:`u > 0`,
    covers :math:`(0, 1)`. The value 2 at :math:`\lambda = 1/2` is checked as
    the limit of :math:`C`.

    Returns
    -------
    Proof
        ``lhs`` is :math:`C(\lambda)\int_0^1 \dots` (for :math:`\lambda \ne 1/2`),
        ``rhs`` is 1.
    """
    x = sp.Symbol("x", real=True)
    lam, u = sp.Symbol("lambda", positive=True), sp.Symbol("u", positive=True)
    normaliser = 2 * sp.atanh(1 - 2 * lam) / (1 - 2 * lam)
    integral = sp.integrate(lam**x * (1 - lam) ** (1 - x), (x, 0, 1))
    # SymPy may split off lambda = 1/2 (u = 1) as a separate case; that case is checked below.
    lhs = normaliser * _generic_branch(integral, lam, sp.Rational(1, 5))
    on_unit_interval = _generic_branch(sp.simplify(lhs.subs(lam, u / (1 + u)).rewrite(sp.log)), u, sp.Integer(2))
    at_half = sp.limit(normaliser, lam, HALF) * sp.integrate(HALF**x * HALF ** (1 - x), (x, 0, 1))
    difference = _simplified_difference(on_unit_interval, 1) + _simplified_difference(at_half, 1)
    return Proof("C(lambda) * integral_0^1 lambda^x (1 - lambda)^(1 - x) dx = 1", lhs, sp.Integer(1),
                 difference)


# --- the log-variance trick --------------------------------------------------------

def log_variance_identity(sigma_positive: bool = True) -> Proof:
    r"""Prove :math:`\sigma = e^{\log(\sigma^2)/2}` (chapter "The log-variance trick").

    .. math::

        e^{\log(\sigma^2)/2} = e^{2\log(\sigma)/2} = e^{\log\sigma} = \sigma
        \qquad (\sigma > 0).

    The middle step, :math:`\log\sigma^2 = 2\log\sigma`, needs
    :math:`\sigma > 0`: for a real :math:`\sigma` of either sign the left side
    is :math:`|\sigma|`, and the identity fails.

    Parameters
    ----------
    sigma_positive : bool
        True (default): :math:`\sigma` is a positive symbol, and the identity
        holds. False: :math:`\sigma` is only real, and it does not (the
        difference is :math:`|\sigma| - \sigma`).

    Returns
    -------
    Proof
    """
    if not isinstance(sigma_positive, bool):
        raise TypeError(f"sigma_positive must be a bool, got {type(sigma_positive).__name__}")
    sigma = sp.Symbol("sigma", positive=True) if sigma_positive else sp.Symbol("sigma", real=True)
    statement = "sigma = exp(log(sigma^2)/2) for " + ("sigma > 0" if sigma_positive else "any real sigma")
    return prove_equal(sp.exp(sp.log(sigma**2) / 2), sigma, statement)


# --- the linear-Gaussian model ---------------------------------------------------------

def linear_gaussian_symbols() -> dict[str, sp.Symbol]:
    r"""Symbols of the 1-D linear-Gaussian model :math:`p(z) = \mathcal N(0, 1)`, :math:`p(x \mid z) = \mathcal N(wz + b, s^2)`.

    Returns
    -------
    dict
        ``"x"``, ``"z"``, ``"w"``, ``"b"`` (real), ``"s"`` (positive: the
        decoder's standard deviation), and the parameters of a Gaussian
        :math:`q(z) = \mathcal N(m, v)`: ``"m"`` (real) and ``"v"``
        (positive: a variance). Substitute numbers with ``expr.subs``.
    """
    x, z, w, b, m = sp.symbols("x z w b m", real=True)
    s, v = sp.symbols("s v", positive=True)
    return {"x": x, "z": z, "w": w, "b": b, "s": s, "m": m, "v": v}


def _log_joint() -> sp.Expr:
    sym = linear_gaussian_symbols()
    x, z, w, b, s = sym["x"], sym["z"], sym["w"], sym["b"], sym["s"]
    return _gaussian_log_density(z, 0, 1) + _gaussian_log_density(x, w * z + b, s**2)


@dataclass(frozen=True)
class GaussianPosterior:
    """The exact posterior :math:`p(z \\mid x) = \\mathcal N(\\text{mean}, \\text{variance})` and its proof."""

    mean: sp.Expr
    variance: sp.Expr
    proof: Proof


def linear_gaussian_exact_posterior() -> GaussianPosterior:
    r"""Exact posterior of the linear-Gaussian model, proved by Bayes' rule.

    .. math::

        p(z \mid x) = \mathcal N\!\left(\frac{w (x - b)}{w^2 + s^2},\;
        \frac{s^2}{w^2 + s^2}\right),
        \qquad
        p(x) = \mathcal N(x; b, w^2 + s^2).

    The proof shows :math:`\log p(z) + \log p(x \mid z) = \log p(x) + \log
    p(z \mid x)` for every :math:`z`: both sides are Gaussian densities
    written out, and since :math:`p(z \mid x)` integrates to 1, this is also
    :math:`p(x) = \int p(z)\,p(x \mid z)\,dz` (chapter "The ELBO").

    Returns
    -------
    GaussianPosterior
        ``mean``, ``variance`` in the symbols of :func:`linear_gaussian_symbols`.
    """
    sym = linear_gaussian_symbols()
    x, z, w, b, s = sym["x"], sym["z"], sym["w"], sym["b"], sym["s"]
    mean, variance = w * (x - b) / (w**2 + s**2), s**2 / (w**2 + s**2)
    proof = prove_equal(_log_joint(), linear_gaussian_log_evidence() + _gaussian_log_density(z, mean, variance),
                        "log p(z) + log p(x|z) = log p(x) + log N(z; w(x-b)/(w^2+s^2), s^2/(w^2+s^2))")
    return GaussianPosterior(mean, variance, proof)


def linear_gaussian_log_evidence() -> sp.Expr:
    r"""The exact log-evidence :math:`\log p(x) = \log\mathcal N(x; b, w^2 + s^2)` of the linear-Gaussian model.

    Proved together with the posterior by :func:`linear_gaussian_exact_posterior`.
    """
    sym = linear_gaussian_symbols()
    return _gaussian_log_density(sym["x"], sym["b"], sym["w"] ** 2 + sym["s"] ** 2)


def linear_gaussian_elbo() -> sp.Expr:
    r"""The ELBO of the linear-Gaussian model for :math:`q(z) = \mathcal N(m, v)`, from its definition.

    .. math::

        \mathrm{ELBO}(q) = \mathbb E_{q}\left[\log p(x \mid z) + \log p(z) - \log q(z)\right],

    the expectation taken by :math:`z = m + \sqrt v\,\varepsilon` and the
    moments of :math:`\varepsilon \sim \mathcal N(0, 1)`.

    Returns
    -------
    sympy.Expr
        In the symbols of :func:`linear_gaussian_symbols`.
    """
    sym = linear_gaussian_symbols()
    z, m, v = sym["z"], sym["m"], sym["v"]
    integrand = sp.expand(sp.expand_log(_log_joint() - _gaussian_log_density(z, m, v)))
    return _gaussian_expectation(integrand, z, m, v)


def linear_gaussian_elbo_identity() -> Proof:
    r"""Prove :math:`\log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}(q \,\|\, p(z \mid x))` for every Gaussian :math:`q`.

    With :math:`q = \mathcal N(m, v)` for symbolic :math:`m` and :math:`v`,
    the ELBO from :func:`linear_gaussian_elbo`, the exact posterior from
    :func:`linear_gaussian_exact_posterior`, and the KL divergence of two
    Gaussians from its closed form (proved from the integral by
    :func:`kl_univariate_gaussians_from_integral`). Since the KL is
    :math:`\ge 0`, :math:`\mathrm{ELBO} \le \log p(x)` (chapter "The ELBO").

    Returns
    -------
    Proof
    """
    sym = linear_gaussian_symbols()
    posterior = linear_gaussian_exact_posterior()
    kl = kl_univariate_gaussians_closed_form(sym["m"], sp.sqrt(sym["v"]), posterior.mean, sp.sqrt(posterior.variance))
    return prove_equal(linear_gaussian_log_evidence(), linear_gaussian_elbo() + kl,
                       "log p(x) = ELBO(q) + KL(q || p(z|x)) for q = N(m, v)")


@dataclass(frozen=True)
class ElboGap:
    r"""The gap :math:`\log p(x) - \mathrm{ELBO}(q)` of the linear-Gaussian model.

    Attributes
    ----------
    gap : sympy.Expr
        :math:`\log p(x) - \mathrm{ELBO}(q)` as a function of ``m`` and ``v``.
    gap_is_kl : bool
        The gap equals :math:`\mathrm{KL}(q \,\|\, p(z \mid x))`.
    nonnegative : bool
        The gap is :math:`\frac12(r - 1 - \log r) + \frac{(m - \mu_{post})^2}{2 v_{post}}`
        with :math:`r = v / v_{post} > 0`, and :math:`r - 1 - \log r \ge 0`
        (its minimum over :math:`r > 0` is 0, at :math:`r = 1`).
    zero_at_posterior : bool
        The gap is 0 at :math:`m = \mu_{post}`, :math:`v = v_{post}`.
    """

    gap: sp.Expr
    gap_is_kl: bool
    nonnegative: bool
    zero_at_posterior: bool

    @property
    def holds(self) -> bool:
        """True when all three facts are proved, so ELBO <= log p(x), with equality at the exact posterior."""
        return self.gap_is_kl and self.nonnegative and self.zero_at_posterior

    def __str__(self) -> str:
        return "\n".join([
            f"log p(x) - ELBO(q) = KL(q || p(z|x)): {self.gap_is_kl}",
            f"log p(x) - ELBO(q) >= 0 for every m and v > 0: {self.nonnegative}",
            f"log p(x) - ELBO(q) = 0 at the exact posterior: {self.zero_at_posterior}",
        ])


def linear_gaussian_elbo_gap() -> ElboGap:
    r"""Prove :math:`\mathrm{ELBO}(q) \le \log p(x)`, with equality exactly at the posterior.

    Returns
    -------
    ElboGap
        See its attributes for what is proved.
    """
    sym = linear_gaussian_symbols()
    m, v = sym["m"], sym["v"]
    posterior = linear_gaussian_exact_posterior()
    gap = linear_gaussian_log_evidence() - linear_gaussian_elbo()
    kl = kl_univariate_gaussians_closed_form(m, sp.sqrt(v), posterior.mean, sp.sqrt(posterior.variance))
    gap_is_kl = _simplified_difference(gap, kl) == 0
    r = sp.Symbol("r", positive=True)
    split = HALF * (r - 1 - sp.log(r)) + (m - posterior.mean) ** 2 / (2 * posterior.variance)
    split_is_gap = _simplified_difference(split.subs(r, v / posterior.variance), gap) == 0
    # r - 1 - log r: stationary only at r = 1, convex (second derivative 1/r^2 > 0), value 0 there.
    bowl = r - 1 - sp.log(r)
    bowl_min_zero = (sp.solve(sp.diff(bowl, r), r) == [1] and bool(sp.diff(bowl, r, 2).is_positive)
                     and bowl.subs(r, 1) == 0)
    # The quadratic term is a square over a positive variance.
    square_nonnegative = bool(((m - posterior.mean) ** 2 / (2 * posterior.variance)).is_nonnegative)
    nonnegative = split_is_gap and bowl_min_zero and square_nonnegative
    at_posterior = gap.subs({m: posterior.mean, v: posterior.variance}, simultaneous=True)
    zero_at_posterior = _simplified_difference(at_posterior, 0) == 0
    return ElboGap(gap, gap_is_kl, nonnegative, zero_at_posterior)
