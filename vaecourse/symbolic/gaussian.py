r"""Gaussian densities and expectations, from integrals.

Every Gaussian expectation of :mod:`vaecourse.symbolic` reduces to the
moments of a standard normal, each an integral done by SymPy
(:func:`standard_normal_moment`): a Gaussian :math:`z = \mu + L\varepsilon`
with :math:`\varepsilon \sim \mathcal N(0, I)` turns
:math:`\mathbb E[f(z)]`, for a polynomial :math:`f`, into a sum of such
moments. No closed form of an expectation is assumed anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import sympy as sp

from vaecourse._validation import check_int

__all__ = ["standard_normal_moment"]


def standard_normal_moment(power: int) -> sp.Expr:
    r"""The moment :math:`\mathbb E[\varepsilon^k]` of a standard normal.

    .. math::

        \mathbb E[\varepsilon^k] = \int_{-\infty}^{\infty}
        \varepsilon^k \, \frac{e^{-\varepsilon^2/2}}{\sqrt{2\pi}}
        \, d\varepsilon \qquad (1, 0, 1, 0, 3, \dots),

    computed by ``sympy.integrate`` (chapter "The KL divergence, derived
    and verified").

    Parameters
    ----------
    power : int
        :math:`k \ge 0`.

    Returns
    -------
    sympy.Expr
    """
    return _standard_normal_moment(check_int("power", power, minimum=0))


@cache
def _standard_normal_moment(power: int) -> sp.Expr:
    eps = sp.Symbol("varepsilon", real=True)
    density = sp.exp(-(eps**2) / 2) / sp.sqrt(2 * sp.pi)
    return sp.integrate(eps**power * density, (eps, -sp.oo, sp.oo))


def _expectation_over_standard_normals(
    expr: sp.Expr, noises: Sequence[sp.Symbol]
) -> sp.Expr:
    """E[expr] for independent standard normal ``noises``.

    ``expr`` must be a polynomial in the noises: each monomial's
    expectation is the product of the noises' moments (independence).
    """
    polynomial = sp.Poly(sp.expand(expr), *noises)
    total = sp.S.Zero
    for powers, coefficient in polynomial.terms():
        moment = sp.Mul(*[_standard_normal_moment(p) for p in powers])
        total += coefficient * moment
    return total


def _gaussian_log_density(
    z: sp.Expr, mean: sp.Expr, variance: sp.Expr
) -> sp.Expr:
    r""":math:`\log\mathcal N(z; \mu, v)
    = -\frac12\log(2\pi v) - (z-\mu)^2/(2v)`."""
    return -sp.log(2 * sp.pi * variance) / 2 - (z - mean) ** 2 / (2 * variance)


def _gaussian_expectation(
    expr: sp.Expr, z: sp.Symbol, mean: sp.Expr, variance: sp.Expr
) -> sp.Expr:
    r""":math:`\mathbb E_{z \sim \mathcal N(\mu, v)}[f(z)]`, ``f`` a
    polynomial, by :math:`z = \mu + \sqrt v\,\varepsilon`."""
    eps = sp.Symbol("varepsilon_0", real=True)
    shifted = expr.subs(z, mean + sp.sqrt(variance) * eps)
    return _expectation_over_standard_normals(shifted, [eps])


def _multivariate_log_density(
    z: sp.Matrix, mean: sp.Matrix, cov: sp.Matrix
) -> sp.Expr:
    r""":math:`\log\mathcal N(z; \mu, \Sigma) = -\frac k2 \log 2\pi
    - \frac12 \log|\Sigma| - \frac12 (z - \mu)^\top \Sigma^{-1} (z - \mu)`.
    """
    k = z.shape[0]
    gap = z - mean
    return (
        -sp.Rational(k, 2) * sp.log(2 * sp.pi)
        - sp.log(cov.det()) / 2
        - (gap.T * cov.inv() * gap)[0, 0] / 2
    )


def _lower_triangular(name: str, k: int) -> sp.Matrix:
    """A generic Cholesky factor: lower triangular, positive diagonal.

    Every entry below the diagonal is its own real symbol, so
    ``L * L.T`` is every symmetric positive-definite matrix.
    """

    def entry(i: int, j: int) -> sp.Expr:
        if i < j:
            return sp.S.Zero
        symbol = f"{name}_{i + 1}{j + 1}"
        if i == j:
            return sp.Symbol(symbol, positive=True)
        return sp.Symbol(symbol, real=True)

    return sp.Matrix(k, k, entry)
