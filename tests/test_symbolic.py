"""Tests of vaecourse.symbolic: every identity is proved, every slip is caught and named.

Symbolic results are also checked numerically against independent references
(torch.distributions, scipy quadrature, the package's own torch functions),
so a proof of the wrong formula cannot pass.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
from scipy import integrate
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vaecourse import symbolic
from vaecourse.distributions import kl_diag_gaussian_std_normal, kl_gaussians_full
from vaecourse.losses import continuous_bernoulli_log_normalizer


# --- Proof and prove_equal ------------------------------------------------------------

def test_prove_equal_reports_true_and_false_identities():
    x = sp.Symbol("x", positive=True)
    assert symbolic.prove_equal(sp.log(x**2), 2 * sp.log(x), "log x^2 = 2 log x").holds is True
    wrong = symbolic.prove_equal(sp.log(x**2), sp.log(x), "log x^2 = log x")
    assert wrong.holds is False and not wrong
    assert str(wrong).startswith("log x^2 = log x: does not hold (difference = ")


def test_logs_are_expanded_only_where_true():
    y = sp.Symbol("y", real=True)
    assert not symbolic.prove_equal(sp.log(y**2), 2 * sp.log(y), "log y^2 = 2 log y, y real").holds


def test_standard_normal_moments_from_the_integral():
    assert [symbolic.standard_normal_moment(k) for k in range(7)] == [1, 0, 1, 0, 3, 0, 15]


# --- Gaussian KL ------------------------------------------------------------------------

def test_univariate_kl_integral_equals_closed_form():
    proof = symbolic.kl_univariate_gaussians_from_integral()
    assert proof.holds
    assert not proof.lhs.has(sp.Integral)  # the integral was evaluated, not left unevaluated


def test_univariate_closed_form_matches_torch():
    mu1, s1, mu2, s2 = 0.3, 0.7, -1.2, 1.9
    value = float(symbolic.kl_univariate_gaussians_closed_form(mu1, s1, mu2, s2))
    expected = kl_divergence(Normal(mu1, s1), Normal(mu2, s2)).item()
    assert value == pytest.approx(expected, rel=1e-6)


def test_univariate_closed_form_with_a_dropped_half_is_caught():
    mu1, s1, mu2, s2 = sp.symbols("mu_1 sigma_1 mu_2 sigma_2", positive=True)
    closed = symbolic.kl_univariate_gaussians_closed_form(mu1, s1, mu2, s2)
    integral = symbolic.kl_univariate_gaussians_from_integral().lhs
    assert not symbolic.prove_equal(integral, 2 * closed, "no 1/2").holds


@pytest.mark.parametrize("k", [1, 2, 3])
def test_general_kl_formula_follows_from_the_expectation(k):
    proof = symbolic.verify_multivariate_kl(k)
    assert proof.holds, str(proof)


def test_general_kl_formula_matches_torch_and_the_package():
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(3, 3, generator=g, dtype=torch.float64) for _ in range(2))
    cov1 = a @ a.T + 0.5 * torch.eye(3, dtype=torch.float64)
    cov2 = b @ b.T + 0.5 * torch.eye(3, dtype=torch.float64)
    mu1, mu2 = (torch.randn(3, generator=g, dtype=torch.float64) for _ in range(2))
    as_matrix = lambda t: sp.Matrix(t.tolist()).applyfunc(sp.nsimplify)  # noqa: E731
    value = float(symbolic.kl_multivariate_gaussians_formula(
        as_matrix(mu1.unsqueeze(1)), as_matrix(cov1), as_matrix(mu2.unsqueeze(1)), as_matrix(cov2)))
    expected = kl_divergence(MultivariateNormal(mu1, cov1), MultivariateNormal(mu2, cov2)).item()
    assert value == pytest.approx(expected, rel=1e-6)
    assert value == pytest.approx(kl_gaussians_full(mu1, cov1, mu2, cov2).item(), rel=1e-6)


def test_general_formula_with_the_dimension_off_by_one_is_caught():
    k = 2
    scale1 = sp.diag(*sp.symbols("a_1:3", positive=True))
    mu1, mu2 = sp.Matrix(sp.symbols("mu_1:3", real=True)), sp.zeros(k, 1)
    expectation = symbolic.kl_multivariate_gaussians_from_expectation(mu1, scale1, mu2, sp.eye(k))
    formula = symbolic.kl_multivariate_gaussians_formula(mu1, scale1 * scale1.T, mu2, sp.eye(k))
    assert symbolic.prove_equal(expectation, formula, "k = 2").holds
    assert not symbolic.prove_equal(expectation, formula - sp.Rational(1, 2), "k = 3 in the formula").holds


def test_diagonal_kl_of_symbolic_dimension():
    proof = symbolic.verify_diagonal_kl_symbolic_dimension()
    assert proof.holds
    assert proof.lhs.has(sp.Sum) and proof.rhs.has(sp.Sum)


# --- the notes' derivation ------------------------------------------------------------

def test_the_corrected_derivation_is_proved_line_by_line():
    steps = symbolic.notes_kl_derivation_steps()
    assert len(steps) == 8
    report = symbolic.check_derivation(steps)
    assert report.ok, str(report)  # on failure, pytest shows the report naming the step
    assert report.first_failure is None
    assert [v.equal for v in report.verdicts] == [True] * 7
    assert str(report).endswith("all 7 steps proved")


@pytest.mark.parametrize("m", [1, 2, 4])
def test_the_derivation_holds_in_other_dimensions(m):
    report = symbolic.check_derivation(symbolic.notes_kl_derivation_steps(m=m))
    assert report.ok, str(report)


def test_the_derivation_for_symbolic_dimension():
    steps = symbolic.notes_kl_derivation_steps_symbolic_dimension()
    assert all(step.expr.has(sp.Sum) for step in steps)
    report = symbolic.check_derivation(steps)
    assert report.ok, str(report)


def test_the_first_line_is_the_kl_and_the_last_matches_the_package():
    steps = symbolic.notes_kl_derivation_steps(m=2)
    mu, sigma = [0.5, -1.5], [0.8, 1.7]
    values = {sp.Symbol(f"mu_{i + 1}", real=True): sp.nsimplify(mu[i]) for i in range(2)}
    values |= {sp.Symbol(f"sigma_{i + 1}", positive=True): sp.nsimplify(sigma[i]) for i in range(2)}
    expected = kl_diag_gaussian_std_normal(torch.tensor(mu, dtype=torch.float64),
                                           2 * torch.log(torch.tensor(sigma, dtype=torch.float64))).item()
    for step in (steps[0], steps[-1]):
        assert float(step.expr.subs(values)) == pytest.approx(expected, rel=1e-9)


WRONG_VARIANTS = [
    ("dropped_half", "step 5 -> 6 (log of a product = sum of logs): not equal"),
    ("sign_flip", "step 7 -> 8 (factor out -1/2): not equal"),
    ("index_n", "step 1 -> 2 (the general Gaussian KL formula): not equal"),
    ("dropped_index", "step 7 -> 8 (factor out -1/2): not equal"),
]


@pytest.mark.parametrize("variant, named", WRONG_VARIANTS, ids=[w[0] for w in WRONG_VARIANTS])
def test_a_wrong_step_is_reported_by_name(variant, named):
    report = symbolic.check_derivation(symbolic.notes_kl_derivation_steps(variant))
    assert not report.ok
    assert report.first_failure.describe().startswith(named)
    assert f"first failure: {named}" in str(report)


SYMBOLIC_WRONG_VARIANTS = [
    ("dropped_half", "step 1 -> 2 (log of a product = sum of logs): not equal"),
    ("sign_flip", "step 3 -> 4 (factor out -1/2): not equal"),
    ("index_n", "step 1 -> 2 (log of a product = sum of logs): not equal"),
    ("dropped_index", "step 3 -> 4 (factor out -1/2): not equal"),
]


@pytest.mark.parametrize("variant, named", SYMBOLIC_WRONG_VARIANTS, ids=[w[0] for w in SYMBOLIC_WRONG_VARIANTS])
def test_a_wrong_step_of_symbolic_dimension_is_reported_by_name(variant, named):
    report = symbolic.check_derivation(symbolic.notes_kl_derivation_steps_symbolic_dimension(variant))
    assert report.first_failure.describe(show_difference=False) == named


def test_the_index_slip_costs_exactly_n_minus_m_over_two():
    report = symbolic.check_derivation(symbolic.notes_kl_derivation_steps("index_n", m=3))
    n = sp.Symbol("n", integer=True, positive=True)
    assert sp.simplify(report.first_failure.difference - (n - 3) / 2) == 0


def test_a_step_inserted_by_hand_is_named():
    steps = symbolic.notes_kl_derivation_steps()
    wrong = symbolic.DerivationStep("a sign flip in the last step", "...", -steps[-1].expr)
    report = symbolic.check_derivation(steps + [wrong])
    assert [v.equal for v in report.verdicts] == [True] * 7 + [False]
    assert report.first_failure.describe(show_difference=False) == "step 8 -> 9 (a sign flip in the last step): not equal"


# --- reconstruction terms ---------------------------------------------------------------

@pytest.mark.parametrize("n", [None, 1, 3])
def test_gaussian_nll_is_scaled_squares_plus_a_constant(n):
    assert symbolic.gaussian_nll_identity(n).holds


def test_gaussian_nll_closed_form_matches_torch():
    proof = symbolic.gaussian_nll_identity(2)
    x, x_hat, s = sp.IndexedBase("x", real=True), sp.IndexedBase("xhat", real=True), sp.Symbol("s", positive=True)
    values = {x[1]: sp.Rational(3, 10), x[2]: sp.Rational(-1, 2), x_hat[1]: 0, x_hat[2]: sp.Rational(1, 4),
              s: sp.Rational(3, 5)}
    expected = -Normal(torch.tensor([0.0, 0.25]), 0.6).log_prob(torch.tensor([0.3, -0.5])).sum().item()
    assert float(proof.rhs.subs(values)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("n, values", [(2, (25, 5)), (1, (4, 2)), (5, (25, 5))])
def test_the_notes_square_root_is_refuted(n, values):
    proof = symbolic.sum_of_squares_is_not_its_square_root(n)
    assert proof.holds is False
    assert proof.counterexample_values == values
    assert str(proof) == f"sum_i d_i^2 = sqrt(sum_i d_i^2): does not hold (counterexample: {values[0]} != {values[1]})"


def test_bce_minimum_is_the_entropy_not_zero():
    result = symbolic.bce_minimiser_and_minimum()
    assert result.holds
    assert result.minimiser == sp.Symbol("t", positive=True)
    half = result.minimum.subs(sp.Symbol("t", positive=True), sp.Rational(1, 2))
    assert sp.simplify(half - sp.log(2)) == 0
    assert "minimised at p = t: True" in str(result)


def test_continuous_bernoulli_normaliser():
    proof = symbolic.continuous_bernoulli_normaliser_integrates_to_one()
    assert proof.holds
    lam = sp.Symbol("lambda", positive=True)
    # Without the constant C the density does not integrate to 1: that is BCE's missing term.
    assert sp.N(proof.lhs.subs(lam, sp.Rational(1, 5))) == pytest.approx(1.0)
    normaliser = 2 * sp.atanh(1 - 2 * lam) / (1 - 2 * lam)
    bare = float((proof.lhs / normaliser).subs(lam, sp.Rational(1, 5)))
    assert bare == pytest.approx(integrate.quad(lambda x: 0.2**x * 0.8 ** (1 - x), 0, 1)[0])
    assert bare != pytest.approx(1.0)
    logit = torch.tensor([math.log(0.2 / 0.8)], dtype=torch.float64)
    assert float(sp.log(normaliser.subs(lam, sp.Rational(1, 5)))) == pytest.approx(
        continuous_bernoulli_log_normalizer(logit).item(), rel=1e-9)


# --- log-variance trick -----------------------------------------------------------------

def test_log_variance_identity_needs_a_positive_sigma():
    assert symbolic.log_variance_identity().holds is True
    assert str(symbolic.log_variance_identity()) == "sigma = exp(log(sigma^2)/2) for sigma > 0: holds"
    real = symbolic.log_variance_identity(sigma_positive=False)
    assert real.holds is False
    sigma = sp.Symbol("sigma", real=True)
    assert sp.simplify(real.difference - (sp.Abs(sigma) - sigma)) == 0


# --- linear-Gaussian model ------------------------------------------------------------

def _numbers() -> dict[sp.Symbol, sp.Expr]:
    sym = symbolic.linear_gaussian_symbols()
    return {sym["w"]: sp.Rational(3, 2), sym["b"]: sp.Rational(1, 2), sym["s"]: sp.Rational(7, 10),
            sym["x"]: sp.Rational(2, 1)}


def test_exact_posterior_and_evidence():
    posterior = symbolic.linear_gaussian_exact_posterior()
    assert posterior.proof.holds
    values = _numbers()
    w, b, s, x = 1.5, 0.5, 0.7, 2.0
    joint = lambda z: math.exp(Normal(0.0, 1.0).log_prob(torch.tensor(z)).item()  # noqa: E731
                               + Normal(w * z + b, s).log_prob(torch.tensor(x)).item())
    evidence = integrate.quad(joint, -12, 12)[0]
    mean = integrate.quad(lambda z: z * joint(z), -12, 12)[0] / evidence
    var = integrate.quad(lambda z: (z - mean) ** 2 * joint(z), -12, 12)[0] / evidence
    assert float(symbolic.linear_gaussian_log_evidence().subs(values)) == pytest.approx(math.log(evidence), rel=1e-6)
    assert float(posterior.mean.subs(values)) == pytest.approx(mean, rel=1e-6)
    assert float(posterior.variance.subs(values)) == pytest.approx(var, rel=1e-6)


def test_elbo_identity_and_gap():
    assert symbolic.linear_gaussian_elbo_identity().holds
    gap = symbolic.linear_gaussian_elbo_gap()
    assert gap.gap_is_kl and gap.nonnegative and gap.zero_at_posterior and gap.holds


def test_elbo_matches_a_monte_carlo_estimate():
    sym = symbolic.linear_gaussian_symbols()
    values = _numbers() | {sym["m"]: sp.Rational(1, 2), sym["v"]: sp.Rational(1, 5)}
    elbo = float(symbolic.linear_gaussian_elbo().subs(values))
    eps = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = 0.5 + math.sqrt(0.2) * eps
    estimate = (Normal(1.5 * z + 0.5, 0.7).log_prob(torch.tensor(2.0, dtype=torch.float64))
                + Normal(0.0, 1.0).log_prob(z) - Normal(0.5, math.sqrt(0.2)).log_prob(z)).mean().item()
    assert elbo == pytest.approx(estimate, abs=0.02)
    assert elbo < float(symbolic.linear_gaussian_log_evidence().subs(values))


# --- bad inputs -------------------------------------------------------------------------

BAD_INPUTS = [
    (lambda: symbolic.notes_kl_derivation_steps("typo"), ValueError, "unknown variant 'typo'"),
    (lambda: symbolic.notes_kl_derivation_steps(3), TypeError, "variant must be a str"),
    (lambda: symbolic.notes_kl_derivation_steps(m=0), ValueError, "m must be between 1 and 6"),
    (lambda: symbolic.notes_kl_derivation_steps(m=2.0), TypeError, "m must be an int"),
    (lambda: symbolic.notes_kl_derivation_steps_symbolic_dimension("x"), ValueError, "unknown variant"),
    (lambda: symbolic.check_derivation([]), ValueError, "at least 2 lines"),
    (lambda: symbolic.check_derivation("abc"), TypeError, "steps must be a list"),
    (lambda: symbolic.check_derivation([1, 2]), TypeError, r"steps\[0\] must be a DerivationStep"),
    (lambda: symbolic.verify_multivariate_kl(4), ValueError, "k must be 1, 2 or 3"),
    (lambda: symbolic.verify_multivariate_kl(True), TypeError, "k must be an int"),
    (lambda: symbolic.kl_univariate_gaussians_closed_form(0, -1, 0, 1), ValueError, "sigma1 is a standard deviation"),
    (lambda: symbolic.kl_univariate_gaussians_closed_form(0, 1, "0", 1), TypeError, "mu2 must be a SymPy expression"),
    (lambda: symbolic.kl_multivariate_gaussians_formula([0], sp.eye(1), sp.zeros(1, 1), sp.eye(1)),
     TypeError, "mu1 must be a sympy.Matrix"),
    (lambda: symbolic.kl_multivariate_gaussians_formula(sp.zeros(2, 1), sp.eye(3), sp.zeros(2, 1), sp.eye(2)),
     ValueError, r"Sigma1 must have shape \(2, 2\)"),
    (lambda: symbolic.kl_multivariate_gaussians_formula(sp.zeros(2, 1), sp.Matrix([[1, 1], [0, 1]]),
                                                        sp.zeros(2, 1), sp.eye(2)), ValueError, "Sigma1 must be symmetric"),
    (lambda: symbolic.kl_multivariate_gaussians_formula(sp.zeros(2, 1), sp.eye(2), sp.zeros(3, 1), sp.eye(3)),
     ValueError, "same dimension"),
    (lambda: symbolic.kl_multivariate_gaussians_formula(sp.zeros(1, 2), sp.eye(2), sp.zeros(2, 1), sp.eye(2)),
     ValueError, "mu1 must be a column"),
    (lambda: symbolic.gaussian_nll_identity(0), ValueError, "n must be between 1 and 50"),
    (lambda: symbolic.gaussian_nll_identity("3"), TypeError, "n must be an int or None"),
    (lambda: symbolic.sum_of_squares_is_not_its_square_root(None), TypeError, "n must be an int"),
    (lambda: symbolic.log_variance_identity(1), TypeError, "sigma_positive must be a bool"),
    (lambda: symbolic.standard_normal_moment(-1), ValueError, "power must be >= 0"),
    (lambda: symbolic.prove_equal(1, 1, 3), TypeError, "statement must be a str"),
    (lambda: symbolic.prove_equal(torch.tensor(1.0), 1, "x"), TypeError, "lhs must be a SymPy expression"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUTS, ids=[b[2] for b in BAD_INPUTS])
def test_bad_inputs_raise_with_a_message(call, error, message):
    with pytest.raises(error, match=message):
        call()
