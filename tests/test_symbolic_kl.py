"""Tests of vaecourse.symbolic.kl: the Gaussian KL divergence, derived.

Every proof is also checked with numbers against an independent reference
(torch.distributions, a Monte-Carlo estimate, the package's torch code), so
a proof of the wrong formula cannot pass.
"""

from __future__ import annotations

import re

import pytest
import sympy as sp
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vaecourse import symbolic
from vaecourse.distributions import kl_gaussians_full

# The symbols of the univariate proofs, with the module's assumptions:
# means real, standard deviations positive. SymPy treats a symbol with other
# assumptions as a different symbol.
MU_1, MU_2 = sp.symbols("mu_1 mu_2", real=True)
SIGMA_1, SIGMA_2 = sp.symbols("sigma_1 sigma_2", positive=True)
Z = sp.Symbol("z", real=True)


def named(name: str, tensor: torch.Tensor) -> dict[str, float]:
    """The entries of a vector or matrix by their symbols' names, from 1:
    ``a_1, a_2`` or ``A_11, A_12, ...``."""
    if tensor.dim() == 1:
        return {f"{name}_{i + 1}": v for i, v in enumerate(tensor.tolist())}
    return {
        f"{name}_{i + 1}{j + 1}": v
        for i, row in enumerate(tensor.tolist())
        for j, v in enumerate(row)
    }


def at(expr: sp.Expr, values: dict[str, float]) -> float:
    """``expr`` with each free symbol replaced by the value of its name."""
    free = {s: sp.nsimplify(values[s.name]) for s in expr.free_symbols}
    return float(expr.subs(free))


# --- one dimension ----------------------------------------------------------


def test_univariate_kl_integral_equals_closed_form():
    proof = symbolic.kl_univariate_gaussians_from_integral()
    assert proof.holds
    # The integral was evaluated, not left unevaluated.
    assert not proof.lhs.has(sp.Integral)
    assert proof.lhs.free_symbols == {MU_1, MU_2, SIGMA_1, SIGMA_2}


def test_the_general_formula_in_one_dimension_is_the_univariate_one():
    # Chapter 7's exercise: 1 x 1 matrices in the d-dimensional formula.
    proof = symbolic.kl_formula_in_one_dimension()
    assert proof.holds
    assert proof.lhs.free_symbols == {MU_1, MU_2, SIGMA_1, SIGMA_2}
    # the left side is the general formula's, evaluated independently
    mu1, s1, mu2, s2 = 0.3, 0.7, -1.2, 1.9
    general = symbolic.kl_multivariate_gaussians_formula(
        sp.Matrix([mu1]),
        sp.Matrix([s1**2]),
        sp.Matrix([mu2]),
        sp.Matrix([s2**2]),
    )
    at = {MU_1: mu1, SIGMA_1: s1, MU_2: mu2, SIGMA_2: s2}
    assert float(proof.lhs.subs(at)) == pytest.approx(float(general))
    # and a slip, the -d term dropped, is caught
    assert not symbolic.prove_equal(
        proof.lhs - sp.Rational(1, 2), proof.rhs, ""
    ).holds


def test_univariate_closed_form_matches_torch():
    mu1, s1, mu2, s2 = 0.3, 0.7, -1.2, 1.9
    closed = symbolic.kl_univariate_gaussians_closed_form(mu1, s1, mu2, s2)
    expected = kl_divergence(Normal(mu1, s1), Normal(mu2, s2)).item()
    assert float(closed) == pytest.approx(expected, rel=1e-6)


def test_the_closed_form_holds_and_the_doubled_form_is_refuted():
    integral = symbolic.kl_univariate_gaussians_from_integral().lhs
    closed = symbolic.kl_univariate_gaussians_closed_form(
        MU_1, SIGMA_1, MU_2, SIGMA_2
    )
    # With the module's own symbols the check can only fail for the
    # doubled form (the 1/2 of the formula dropped), not for the true one.
    assert symbolic.prove_equal(integral, closed, "closed form").holds
    doubled = symbolic.prove_equal(integral, 2 * closed, "no 1/2")
    assert not doubled.holds
    assert sp.simplify(doubled.difference + closed) == 0


def test_the_log_ratio_line_is_proved():
    steps = symbolic.gaussian_log_ratio_steps()
    assert len(steps) == 2
    assert steps[1].expr.free_symbols == {MU_1, MU_2, SIGMA_1, SIGMA_2, Z}
    assert symbolic.check_derivation(steps).ok


@pytest.mark.parametrize("z", [-2.0, 0.4, 3.5])
def test_the_log_ratio_line_matches_torch(z):
    values = {"mu_1": 0.3, "sigma_1": 0.7, "mu_2": -1.2, "sigma_2": 1.9}
    line = at(symbolic.gaussian_log_ratio_steps()[1].expr, values | {"z": z})
    q, p = (
        Normal(*torch.tensor(pair, dtype=torch.float64))
        for pair in ([0.3, 0.7], [-1.2, 1.9])
    )
    point = torch.tensor(z, dtype=torch.float64)
    expected = q.log_prob(point) - p.log_prob(point)
    assert line == pytest.approx(expected.item(), rel=1e-12)


def test_a_log_ratio_with_a_flipped_sign_is_caught():
    first, line = symbolic.gaussian_log_ratio_steps()
    flipped = line.expr - 2 * (Z - MU_2) ** 2 / (2 * SIGMA_2**2)
    wrong = symbolic.DerivationStep(line.label, line.latex, flipped)
    assert not symbolic.check_derivation([first, wrong]).ok


# --- the trace lemma -------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3])
def test_the_trace_lemma_is_proved(k):
    steps = symbolic.trace_lemma_steps(k)
    report = symbolic.check_derivation(steps)
    assert report.ok, str(report)
    names = {s.name for s in steps[0].expr.free_symbols}
    # A generic matrix: A_12 and A_21 are two independent symbols.
    entries = range(1, k + 1)
    assert {f"A_{i}{j}" for i in entries for j in entries} <= names
    # The expectation was taken: no noise symbol is left.
    assert not any(name.startswith("varepsilon") for name in names)


def test_the_trace_lemma_matches_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    k = 3
    A = torch.randn(k, k, generator=g, dtype=torch.float64)
    a, mu = (torch.randn(k, generator=g, dtype=torch.float64) for _ in "ab")
    L = torch.randn(k, k, generator=g, dtype=torch.float64).tril()
    L.diagonal().abs_().add_(0.5)
    values = named("A", A) | named("l", L) | named("a", a) | named("mu", mu)
    steps = symbolic.trace_lemma_steps(k)

    n = 100_000
    z = mu + torch.randn(n, k, generator=g, dtype=torch.float64) @ L.T
    quadratic = torch.einsum("ni,ij,nj->n", z - a, A, z - a)
    estimate, error = quadratic.mean(), quadratic.std() / n**0.5
    assert abs(at(steps[0].expr, values) - estimate.item()) < 4 * error.item()
    closed = torch.trace(A @ L @ L.T) + (mu - a) @ A @ (mu - a)
    assert at(steps[-1].expr, values) == pytest.approx(closed.item(), rel=1e-9)


def test_a_lemma_with_the_wrong_covariance_is_caught():
    steps = symbolic.trace_lemma_steps(2)
    A = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"A_{i + 1}{j + 1}", real=True))
    L = sp.Matrix(
        [
            [sp.Symbol("l_11", positive=True), 0],
            [sp.Symbol("l_21", real=True), sp.Symbol("l_22", positive=True)],
        ]
    )
    last = steps[-1]
    right = (A * L * L.T).trace()
    # The test's symbols are the module's: tr(A L L^T) cancels exactly.
    assert not sp.expand(last.expr - right).free_symbols & L.free_symbols
    # L^T L is not the covariance of z = mu_1 + L eps.
    wrong = last.expr - right + (A * L.T * L).trace()
    report = symbolic.check_derivation(
        [*steps[:-1], symbolic.DerivationStep(last.label, last.latex, wrong)]
    )
    assert report.first_failure.number == 3


# --- k dimensions -----------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3])
def test_general_kl_formula_follows_from_the_expectation(k):
    proof = symbolic.verify_multivariate_kl(k)
    assert proof.holds, str(proof)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_the_general_formula_is_derived_line_by_line(k):
    steps = symbolic.multivariate_kl_derivation_steps(k)
    assert len(steps) == 3
    report = symbolic.check_derivation(steps)
    assert report.ok, str(report)


def _generic_pair_values(k: int, seed: int) -> tuple[dict, tuple]:
    """Numbers for the symbols mu_i, nu_i, a_ij, b_ij of the k-dimensional
    proofs, and the same Gaussians as torch tensors."""
    g = torch.Generator().manual_seed(seed)
    mu1, mu2 = (torch.randn(k, generator=g, dtype=torch.float64) for _ in "ab")
    L1, L2 = (
        torch.randn(k, k, generator=g, dtype=torch.float64).tril()
        for _ in "ab"
    )
    for L in (L1, L2):
        L.diagonal().abs_().add_(0.5)
    values = named("mu", mu1) | named("nu", mu2)
    values |= named("a", L1) | named("b", L2)
    return values, (mu1, L1, mu2, L2)


def test_every_line_of_the_derivation_is_the_kl_in_numbers():
    values, (mu1, L1, mu2, L2) = _generic_pair_values(2, seed=3)
    expected = kl_divergence(
        MultivariateNormal(mu1, scale_tril=L1),
        MultivariateNormal(mu2, scale_tril=L2),
    ).item()
    for step in symbolic.multivariate_kl_derivation_steps(2):
        assert at(step.expr, values) == pytest.approx(expected, rel=1e-9)


def test_a_middle_line_that_loses_the_minus_k_is_caught():
    first, middle, last = symbolic.multivariate_kl_derivation_steps(2)
    # -1/2 E[(z - mu_1)^T Sigma_1^-1 (z - mu_1)] = -k/2, with its sign lost.
    flipped = symbolic.DerivationStep(
        middle.label, middle.latex, middle.expr + 2
    )
    report = symbolic.check_derivation([first, flipped, last])
    assert report.first_failure.number == 2
    assert report.first_failure.difference == -2


def test_general_kl_formula_matches_torch_and_the_package():
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(3, 3, generator=g, dtype=torch.float64) for _ in "ab")
    cov1 = a @ a.T + 0.5 * torch.eye(3, dtype=torch.float64)
    cov2 = b @ b.T + 0.5 * torch.eye(3, dtype=torch.float64)
    mu1, mu2 = (torch.randn(3, generator=g, dtype=torch.float64) for _ in "ab")

    def as_matrix(t: torch.Tensor) -> sp.Matrix:
        return sp.Matrix(t.tolist()).applyfunc(sp.nsimplify)

    value = float(
        symbolic.kl_multivariate_gaussians_formula(
            as_matrix(mu1.unsqueeze(1)),
            as_matrix(cov1),
            as_matrix(mu2.unsqueeze(1)),
            as_matrix(cov2),
        )
    )
    expected = kl_divergence(
        MultivariateNormal(mu1, cov1), MultivariateNormal(mu2, cov2)
    ).item()
    assert value == pytest.approx(expected, rel=1e-6)
    package = kl_gaussians_full(mu1, cov1, mu2, cov2).item()
    assert value == pytest.approx(package, rel=1e-6)


def test_general_formula_with_the_dimension_off_by_one_is_caught():
    k = 2
    scale1 = sp.diag(*sp.symbols("a_1:3", positive=True))
    mu1, mu2 = sp.Matrix(sp.symbols("mu_1:3", real=True)), sp.zeros(k, 1)
    expectation = symbolic.kl_multivariate_gaussians_from_expectation(
        mu1, scale1, mu2, sp.eye(k)
    )
    formula = symbolic.kl_multivariate_gaussians_formula(
        mu1, scale1 * scale1.T, mu2, sp.eye(k)
    )
    assert symbolic.prove_equal(expectation, formula, "k = 2").holds
    off_by_one = formula - sp.Rational(1, 2)
    assert not symbolic.prove_equal(expectation, off_by_one, "k = 3").holds


def test_diagonal_kl_of_symbolic_dimension():
    proof = symbolic.verify_diagonal_kl_symbolic_dimension()
    assert proof.holds
    assert proof.lhs.has(sp.Sum) and proof.rhs.has(sp.Sum)


# --- bad inputs -------------------------------------------------------------


def _call(function, *args):
    return lambda: function(*args)


formula = symbolic.kl_multivariate_gaussians_formula
BAD_INPUTS = [
    (
        _call(symbolic.verify_multivariate_kl, 4),
        ValueError,
        "k must be 1, 2 or 3 (larger symbolic inverses are slow), got 4",
    ),
    (
        _call(symbolic.verify_multivariate_kl, True),
        TypeError,
        "k must be an integer, got bool True",
    ),
    (
        _call(symbolic.trace_lemma_steps, 0),
        ValueError,
        "k must be 1, 2 or 3 (larger symbolic inverses are slow), got 0",
    ),
    (
        _call(symbolic.multivariate_kl_derivation_steps, 2.0),
        TypeError,
        "k must be an integer, got float 2.0",
    ),
    (
        _call(symbolic.kl_univariate_gaussians_closed_form, 0, -1, 0, 1),
        ValueError,
        "sigma1 is a standard deviation and must be positive, got -1",
    ),
    (
        _call(symbolic.kl_univariate_gaussians_closed_form, 0, 1, "0", 1),
        TypeError,
        "mu2 must be a SymPy expression or a real number, got str",
    ),
    (
        _call(formula, [0], sp.eye(1), sp.zeros(1, 1), sp.eye(1)),
        TypeError,
        "mu1 must be a sympy.Matrix column (k x 1), got list",
    ),
    (
        _call(formula, sp.zeros(2, 1), sp.eye(3), sp.zeros(2, 1), sp.eye(2)),
        ValueError,
        "Sigma1 must have shape (2, 2) to match mu1, got (3, 3)",
    ),
    (
        _call(
            formula,
            sp.zeros(2, 1),
            sp.Matrix([[1, 1], [0, 1]]),
            sp.zeros(2, 1),
            sp.eye(2),
        ),
        ValueError,
        "Sigma1 must be symmetric",
    ),
    (
        _call(formula, sp.zeros(2, 1), sp.eye(2), sp.zeros(3, 1), sp.eye(3)),
        ValueError,
        "mu1 and mu2 must have the same dimension, got 2 and 3",
    ),
    (
        _call(formula, sp.zeros(1, 2), sp.eye(2), sp.zeros(2, 1), sp.eye(2)),
        ValueError,
        "mu1 must be a column of shape (k, 1), got shape (1, 2)",
    ),
    (
        _call(
            symbolic.kl_multivariate_gaussians_from_expectation,
            sp.zeros(2, 1),
            "L",
            sp.zeros(2, 1),
            sp.eye(2),
        ),
        TypeError,
        "scale1 * scale1.T must be a sympy.Matrix (k x k), got str",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", BAD_INPUTS, ids=[b[2] for b in BAD_INPUTS]
)
def test_bad_inputs_raise_with_a_message(call, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call()
