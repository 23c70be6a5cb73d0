"""Tests of vaecourse.symbolic.linear_gaussian: the posterior, the evidence,
the ELBO identity and the aggregate posterior of the linear-Gaussian model,
against quadrature and Monte-Carlo estimates."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
from scipy import integrate
from torch.distributions import Normal

from vaecourse import symbolic

SYMBOLS = symbolic.linear_gaussian_symbols()
W, B, S, X = 1.5, 0.5, 0.7, 2.0


def _numbers() -> dict[sp.Symbol, sp.Expr]:
    return {
        SYMBOLS["w"]: sp.Rational(3, 2),
        SYMBOLS["b"]: sp.Rational(1, 2),
        SYMBOLS["s"]: sp.Rational(7, 10),
        SYMBOLS["x"]: sp.Rational(2, 1),
    }


def test_exact_posterior_and_evidence():
    posterior = symbolic.linear_gaussian_exact_posterior()
    assert posterior.proof.holds
    values = _numbers()

    def joint(z: float) -> float:
        z = torch.tensor(z, dtype=torch.float64)
        x = torch.tensor(X, dtype=torch.float64)
        log_prior = Normal(0.0, 1.0).log_prob(z)
        return math.exp(log_prior + Normal(W * z + B, S).log_prob(x))

    evidence = integrate.quad(joint, -12, 12)[0]
    mean = integrate.quad(lambda z: z * joint(z), -12, 12)[0] / evidence
    var = (
        integrate.quad(lambda z: (z - mean) ** 2 * joint(z), -12, 12)[0]
        / evidence
    )
    log_evidence = symbolic.linear_gaussian_log_evidence().subs(values)
    assert float(log_evidence) == pytest.approx(math.log(evidence), rel=1e-6)
    assert float(posterior.mean.subs(values)) == pytest.approx(mean, rel=1e-6)
    assert float(posterior.variance.subs(values)) == pytest.approx(
        var, rel=1e-6
    )


def test_elbo_identity_and_gap():
    assert symbolic.linear_gaussian_elbo_identity().holds
    gap = symbolic.linear_gaussian_elbo_gap()
    assert gap.gap_is_kl and gap.nonnegative and gap.zero_at_posterior
    assert gap.holds


def test_elbo_matches_a_monte_carlo_estimate():
    values = _numbers() | {
        SYMBOLS["q_mean"]: sp.Rational(1, 2),
        SYMBOLS["q_var"]: sp.Rational(1, 5),
    }
    elbo = float(symbolic.linear_gaussian_elbo().subs(values))
    eps = torch.randn(
        200_000,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
    )
    z = 0.5 + math.sqrt(0.2) * eps
    x = torch.tensor(X, dtype=torch.float64)
    estimate = (
        Normal(W * z + B, S).log_prob(x)
        + Normal(0.0, 1.0).log_prob(z)
        - Normal(0.5, math.sqrt(0.2)).log_prob(z)
    ).mean()
    assert elbo == pytest.approx(estimate.item(), abs=0.02)
    log_evidence = symbolic.linear_gaussian_log_evidence().subs(values)
    assert elbo < float(log_evidence)


def test_the_aggregate_posterior_has_the_priors_variance():
    steps = symbolic.linear_gaussian_aggregate_variance_steps()
    assert len(steps) == 4
    report = symbolic.check_derivation(steps)
    assert report.ok, str(report)
    assert steps[0].expr.free_symbols <= {SYMBOLS[n] for n in "wbs"}


def test_the_aggregate_variance_matches_a_monte_carlo_estimate():
    # Data from the model, then one code from each exact posterior.
    generator = torch.Generator().manual_seed(1)
    n = 200_000
    z_prior = torch.randn(n, generator=generator, dtype=torch.float64)
    noise = torch.randn(n, generator=generator, dtype=torch.float64)
    x = W * z_prior + B + S * noise
    posterior = symbolic.linear_gaussian_exact_posterior()
    mean = sp.lambdify([SYMBOLS[s] for s in "xwbs"], posterior.mean)
    variance = float(posterior.variance.subs(_numbers()))
    means = mean(x, W, B, S)
    eps = torch.randn(n, generator=generator, dtype=torch.float64)
    codes = means + math.sqrt(variance) * eps

    values = _numbers()
    aggregate, total, _, one = (
        float(step.expr.subs(values))
        for step in symbolic.linear_gaussian_aggregate_variance_steps()
    )
    # The variance of a variance estimate is about 2 var^2 / n.
    tolerance = 4 * math.sqrt(2 / n)
    assert aggregate == total == one == 1
    assert codes.var().item() == pytest.approx(aggregate, abs=tolerance)
    assert variance + means.var().item() == pytest.approx(total, abs=tolerance)


def test_a_variance_of_the_means_without_var_x_is_caught():
    steps = symbolic.linear_gaussian_aggregate_variance_steps()
    w, s = SYMBOLS["w"], SYMBOLS["s"]
    third = steps[2]
    # Var_x[w (x - b) / c] taken as w^2 / c^2, forgetting Var_x[x].
    forgot = s**2 / (w**2 + s**2) + w**2 / (w**2 + s**2) ** 2
    wrong = symbolic.DerivationStep(third.label, third.latex, forgot)
    report = symbolic.check_derivation([*steps[:2], wrong, steps[3]])
    assert report.first_failure.number == 3


def test_completing_the_square_holds_line_by_line():
    report = symbolic.check_derivation(symbolic.completing_the_square_steps())
    assert [v.equal for v in report.verdicts] == [True, True]


def test_completing_the_square_against_the_log_densities_in_numbers():
    # Independent of SymPy: torch's log-densities at a few z, in float64.
    last = symbolic.completing_the_square_steps()[-1].expr
    z = SYMBOLS["z"]
    for value in (-1.3, 0.0, 2.2):
        f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        torch_value = (
            Normal(f64(0.0), f64(1.0)).log_prob(f64(value))
            + Normal(f64(W * value + B), f64(S)).log_prob(f64(X))
        ).item()
        ours = float(last.subs(_numbers()).subs(z, value))
        assert ours == pytest.approx(torch_value, rel=1e-12)


@pytest.mark.parametrize(
    "slip",
    ["w (x - b) / s^2 z with the wrong sign", "w^2 / s^2 dropped from z^2"],
)
def test_a_slip_in_completing_the_square_is_caught(slip):
    steps = symbolic.completing_the_square_steps()
    x, z, w, b, s = (SYMBOLS[k] for k in "xzwbs")
    last = steps[-1]
    if slip.startswith("w (x - b)"):
        wrong = last.expr - 2 * w * (x - b) / s**2 * z
    else:
        wrong = last.expr + w**2 / s**2 * z**2 / 2
    broken = [*steps[:-1], symbolic.DerivationStep(last.label, "", wrong)]
    assert symbolic.check_derivation(broken).first_failure.number == 3
