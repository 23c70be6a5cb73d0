"""Tests of vaecourse.gradients.

Checked against closed-form gradients of Gaussian expectations and
autograd.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from vaecourse.distributions import reparameterize
from vaecourse.gradients import (
    GradientEstimate,
    pathwise_gradient,
    score_function_gradient,
)

MU, LOGVAR = 0.7, math.log(0.5)
A = 0.8


def closed_form(name: str, mu: float, logvar: float) -> tuple[float, float]:
    """(dJ/dmu, dJ/dlogvar) for J = E_{N(mu, sigma^2)}[f(z)].

    Computed from the known expectations.
    """
    var = math.exp(logvar)
    if name == "square":  # E[z^2] = mu^2 + sigma^2
        return 2 * mu, var
    if name == "exp":  # E[e^{az}] = exp(a mu + a^2 sigma^2 / 2)
        value = math.exp(A * mu + A**2 * var / 2)
        return A * value, A**2 * var / 2 * value
    if name == "sin":  # E[sin z] = sin(mu) exp(-sigma^2 / 2)
        damp = math.exp(-var / 2)
        return math.cos(mu) * damp, -math.sin(mu) * damp * var / 2
    raise ValueError(name)


OBJECTIVES = {
    "square": lambda z: z.pow(2).sum(-1),
    "exp": lambda z: torch.exp(A * z).sum(-1),
    "sin": lambda z: torch.sin(z).sum(-1),
}
ESTIMATORS = {"pathwise": pathwise_gradient, "score": score_function_gradient}


def one_dim() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([MU], dtype=torch.float64), torch.tensor(
        [LOGVAR], dtype=torch.float64
    )


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_estimators_are_unbiased_for_known_gaussian_expectations(
    estimator, objective
):
    mu, logvar = one_dim()
    n = 200_000
    estimate = ESTIMATORS[estimator](
        OBJECTIVES[objective], mu, logvar, n, torch.Generator().manual_seed(0)
    )
    expected_mu, expected_logvar = closed_form(objective, MU, LOGVAR)
    # Within 5 standard errors of the Monte-Carlo mean.
    assert abs(estimate.mean_mu.item() - expected_mu) < 5 * math.sqrt(
        estimate.variance_mu.item() / n
    )
    assert abs(estimate.mean_logvar.item() - expected_logvar) < 5 * math.sqrt(
        estimate.variance_logvar.item() / n
    )


def test_multivariate_square_gives_two_mu_and_the_variance():
    mu = torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
    logvar = torch.tensor(
        [0.0, math.log(0.25), math.log(2.0)], dtype=torch.float64
    )
    estimate = pathwise_gradient(
        lambda z: z.pow(2).sum(-1),
        mu,
        logvar,
        100_000,
        torch.Generator().manual_seed(1),
    )
    assert estimate.per_sample_mu.shape == (100_000, 3)
    torch.testing.assert_close(estimate.mean_mu, 2 * mu, atol=0.03, rtol=0)
    torch.testing.assert_close(
        estimate.mean_logvar, logvar.exp(), atol=0.03, rtol=0
    )


def test_pathwise_per_sample_gradients_equal_autograd_through_reparameterize():
    mu, logvar = (
        torch.tensor([0.3, -1.2], dtype=torch.float64),
        torch.tensor([-0.4, 0.8], dtype=torch.float64),
    )
    f = OBJECTIVES["sin"]
    n = 6
    estimate = pathwise_gradient(
        f, mu, logvar, n, torch.Generator().manual_seed(2)
    )
    mu_leaf, logvar_leaf = (
        mu.clone().requires_grad_(),
        logvar.clone().requires_grad_(),
    )
    z = reparameterize(
        mu_leaf.expand(n, 2),
        logvar_leaf.expand(n, 2),
        generator=torch.Generator().manual_seed(2),
    )
    values = f(z)
    for k in range(n):
        grad_mu, grad_logvar = torch.autograd.grad(
            values[k], (mu_leaf, logvar_leaf), retain_graph=True
        )
        torch.testing.assert_close(estimate.per_sample_mu[k], grad_mu)
        torch.testing.assert_close(estimate.per_sample_logvar[k], grad_logvar)
    # And the pathwise formulas: df/dmu = cos z,
    # df/dlogvar = cos z * (z - mu) / 2.
    torch.testing.assert_close(estimate.per_sample_mu, torch.cos(z.detach()))
    torch.testing.assert_close(
        estimate.per_sample_logvar,
        torch.cos(z.detach()) * (z.detach() - mu) / 2,
    )


def test_score_function_per_sample_gradients_equal_f_times_autograd_score():
    mu, logvar = (
        torch.tensor([0.3, -1.2], dtype=torch.float64),
        torch.tensor([-0.4, 0.8], dtype=torch.float64),
    )
    f = OBJECTIVES["exp"]
    n = 5
    estimate = score_function_gradient(
        f, mu, logvar, n, torch.Generator().manual_seed(3)
    )
    z = reparameterize(
        mu.expand(n, 2),
        logvar.expand(n, 2),
        generator=torch.Generator().manual_seed(3),
    )
    for k in range(n):
        mu_leaf, logvar_leaf = (
            mu.clone().requires_grad_(),
            logvar.clone().requires_grad_(),
        )
        log_q = (
            Normal(mu_leaf, torch.exp(0.5 * logvar_leaf)).log_prob(z[k]).sum()
        )
        score_mu, score_logvar = torch.autograd.grad(
            log_q, (mu_leaf, logvar_leaf)
        )
        torch.testing.assert_close(
            estimate.per_sample_mu[k], f(z[k : k + 1])[0] * score_mu
        )
        torch.testing.assert_close(
            estimate.per_sample_logvar[k], f(z[k : k + 1])[0] * score_logvar
        )


def test_score_function_variance_is_much_larger_than_pathwise():
    mu, logvar = one_dim()
    estimates = {
        name: estimator(
            OBJECTIVES["square"],
            mu,
            logvar,
            50_000,
            torch.Generator().manual_seed(4),
        )
        for name, estimator in ESTIMATORS.items()
    }
    # Pathwise: d/dmu z^2 = 2z, whose variance is exactly 4 sigma^2.
    assert (
        abs(estimates["pathwise"].variance_mu.item() - 4 * math.exp(LOGVAR))
        < 0.1
    )
    assert (
        estimates["score"].variance_mu.item()
        > 5 * estimates["pathwise"].variance_mu.item()
    )
    assert (
        estimates["score"].variance_logvar.item()
        > 5 * estimates["pathwise"].variance_logvar.item()
    )


def test_gradient_estimate_statistics():
    estimate = GradientEstimate(
        torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [4.0]])
    )
    assert estimate.mean_mu.tolist() == [
        2.0
    ] and estimate.variance_mu.tolist() == [2.0]
    assert estimate.mean_logvar.tolist() == [
        2.0
    ] and estimate.variance_logvar.tolist() == [8.0]
    per_sample_mu, per_sample_logvar = estimate  # a plain pair, too
    assert per_sample_mu.shape == per_sample_logvar.shape == (2, 1)


def test_results_are_reproducible_with_a_generator():
    mu, logvar = one_dim()
    for estimator in ESTIMATORS.values():
        a = estimator(
            OBJECTIVES["sin"], mu, logvar, 10, torch.Generator().manual_seed(5)
        )
        b = estimator(
            OBJECTIVES["sin"], mu, logvar, 10, torch.Generator().manual_seed(5)
        )
        assert torch.equal(a.per_sample_mu, b.per_sample_mu)


MU1, LV1 = one_dim()
SIN = OBJECTIVES["sin"]
INF = float("inf")
BAD_INPUTS = [
    (
        lambda e: e("not a function", MU1, LV1, 10),
        TypeError,
        "f must be a function of z, got str",
    ),
    (
        lambda e: e(SIN, [0.0], LV1, 10),
        TypeError,
        "mu must be a torch.Tensor, got list",
    ),
    (
        lambda e: e(SIN, MU1, torch.tensor([0]), 10),
        TypeError,
        "logvar must be a floating-point tensor, got dtype torch.int64",
    ),
    (
        lambda e: e(SIN, MU1, torch.zeros(2, dtype=torch.float64), 10),
        ValueError,
        "mu and logvar must have the same shape, got (1,) and (2,)",
    ),
    (
        lambda e: e(SIN, torch.tensor([float("nan")]), LV1, 10),
        ValueError,
        "mu contains NaN",
    ),
    (
        lambda e: e(SIN, MU1, LV1 + INF, 10),
        ValueError,
        "logvar must be finite, found inf",
    ),
    (
        lambda e: e(SIN, MU1, LV1 - INF, 10),
        ValueError,
        "logvar must be finite, found -inf",
    ),
    # A variance of the per-sample estimates needs two samples.
    (
        lambda e: e(SIN, MU1, LV1, 1),
        ValueError,
        "n_samples must be at least 2, got 1",
    ),
    (
        lambda e: e(SIN, MU1, LV1, 10.0),
        TypeError,
        "n_samples must be an integer, got float 10.0",
    ),
    (
        lambda e: e(SIN, MU1, LV1, True),
        TypeError,
        "n_samples must be an integer, got bool True",
    ),
    (
        lambda e: e(lambda z: z, MU1, LV1, 10),
        ValueError,
        "f must return one value per sample, shape (10,), got (10, 1)",
    ),
]


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "call, error, message", BAD_INPUTS, ids=[row[2] for row in BAD_INPUTS]
)
def test_bad_inputs_raise_a_clear_error(estimator, call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(ESTIMATORS[estimator])


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_n_samples_may_be_a_numpy_integer(estimator):
    a = ESTIMATORS[estimator](
        SIN, MU1, LV1, np.int64(4), torch.Generator().manual_seed(6)
    )
    b = ESTIMATORS[estimator](
        SIN, MU1, LV1, 4, torch.Generator().manual_seed(6)
    )
    assert a.per_sample_mu.shape == (4, 1)
    assert torch.equal(a.per_sample_mu, b.per_sample_mu)
