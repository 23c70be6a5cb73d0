"""Tests of vaecourse.linear_gaussian.

Checked against torch.distributions, quadrature and Monte Carlo.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_inputs import raises, table
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import MultivariateNormal, Normal

from vaecourse.distributions import kl_diag_gaussians
from vaecourse.linear_gaussian import (
    elbo,
    elbo_monte_carlo,
    exact_posterior,
    expected_log_likelihood,
    log_marginal,
    sample,
)

W, B, S2 = 1.5, -0.5, 0.3
X = torch.tensor([-3.0, -0.5, 0.0, 0.7, 2.5], dtype=torch.float64)


def grid_log_joint(x: float, w: float, b: float, s2: float):
    """log p(z) + log p(x | z) on a fine grid, from torch.distributions."""
    z = torch.linspace(-12, 12, 48_001, dtype=torch.float64)
    log_joint = Normal(0.0, 1.0).log_prob(z) + Normal(
        w * z + b, math.sqrt(s2)
    ).log_prob(torch.tensor(x))
    return z, log_joint


def test_log_marginal_matches_the_gaussian_marginal():
    expected = Normal(B, math.sqrt(W**2 + S2)).log_prob(X)
    torch.testing.assert_close(log_marginal(X, W, B, S2), expected)


def test_log_marginal_matches_quadrature_of_the_joint():
    for x in X.tolist():
        z, log_joint = grid_log_joint(x, W, B, S2)
        quadrature = torch.log(torch.trapezoid(log_joint.exp(), z))
        torch.testing.assert_close(
            log_marginal(torch.tensor([x], dtype=torch.float64), W, B, S2)[0],
            quadrature,
        )


def test_exact_posterior_matches_the_normalised_grid_posterior():
    for x in X.tolist():
        z, log_joint = grid_log_joint(x, W, B, S2)
        density = (log_joint - torch.logsumexp(log_joint, 0)).exp()
        density = density / torch.trapezoid(density, z)
        grid_mean = torch.trapezoid(z * density, z)
        grid_var = torch.trapezoid((z - grid_mean) ** 2 * density, z)
        mean, var = exact_posterior(
            torch.tensor([x], dtype=torch.float64), W, B, S2
        )
        torch.testing.assert_close(mean[0], grid_mean)
        torch.testing.assert_close(var[0], grid_var)


def test_exact_posterior_matches_conditioning_the_joint_gaussian():
    # (z, x) is jointly Gaussian: condition it with the textbook formula.
    cov = torch.tensor([[1.0, W], [W, W**2 + S2]], dtype=torch.float64)
    mean_z_given_x = cov[0, 1] / cov[1, 1] * (X - B)
    var_z_given_x = cov[0, 0] - cov[0, 1] ** 2 / cov[1, 1]
    mean, var = exact_posterior(X, W, B, S2)
    torch.testing.assert_close(mean, mean_z_given_x)
    torch.testing.assert_close(var, var_z_given_x.expand(5))


def test_sample_has_the_joint_moments():
    z, x = sample(
        200_000, W, B, S2, generator=torch.Generator().manual_seed(0)
    )
    joint = MultivariateNormal(
        torch.tensor([0.0, B], dtype=torch.float64),
        torch.tensor([[1.0, W], [W, W**2 + S2]], dtype=torch.float64),
    )
    pairs = torch.stack([z, x], 1)
    torch.testing.assert_close(pairs.mean(0), joint.mean, atol=0.02, rtol=0)
    torch.testing.assert_close(
        torch.cov(pairs.T), joint.covariance_matrix, atol=0.03, rtol=0
    )


def test_expected_log_likelihood_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    m, v = 0.4, 0.2
    z = m + math.sqrt(v) * torch.randn(
        400_000, 1, generator=g, dtype=torch.float64
    )
    log_lik = Normal(W * z + B, math.sqrt(S2)).log_prob(X)
    standard_error = log_lik.std(0) / math.sqrt(z.shape[0])
    assert torch.all(
        (expected_log_likelihood(X, W, B, S2, m, v) - log_lik.mean(0)).abs()
        < 5 * standard_error
    )


def test_elbo_equals_log_marginal_at_the_exact_posterior():
    mean, var = exact_posterior(X, W, B, S2)
    torch.testing.assert_close(
        elbo(X, W, B, S2, mean, var), log_marginal(X, W, B, S2)
    )


@settings(max_examples=60, deadline=None)
@given(
    m=st.floats(-4, 4),
    log_v=st.floats(-5, 3),
    x=st.floats(-5, 5),
    w=st.floats(-3, 3),
    b=st.floats(-2, 2),
    log_s2=st.floats(-3, 2),
)
def test_log_marginal_minus_elbo_is_the_kl_to_the_posterior(
    m, log_v, x, w, b, log_s2
):
    x_t = torch.tensor([x], dtype=torch.float64)
    s2 = math.exp(log_s2)
    post_mean, post_var = exact_posterior(x_t, w, b, s2)
    gap = log_marginal(x_t, w, b, s2) - elbo(x_t, w, b, s2, m, math.exp(log_v))
    kl = kl_diag_gaussians(
        torch.tensor([[m]], dtype=torch.float64),
        torch.tensor([[log_v]], dtype=torch.float64),
        post_mean.unsqueeze(-1),
        post_var.log().unsqueeze(-1),
    )
    torch.testing.assert_close(gap, kl, rtol=1e-9, atol=1e-9)
    assert gap.item() >= -1e-12


def test_elbo_matches_its_monte_carlo_estimate():
    g = torch.Generator().manual_seed(2)
    m, v = torch.full_like(X, 0.3), torch.full_like(X, 0.5)
    n = 100_000
    estimates = torch.stack(
        [
            elbo_monte_carlo(X, W, B, S2, m, v, n_samples=n, generator=g)
            for _ in range(4)
        ]
    )
    # Four independent estimates: their spread bounds the error of each.
    spread = estimates.std(0).clamp(min=1e-3)
    assert torch.all(
        (estimates.mean(0) - elbo(X, W, B, S2, m, v)).abs() < 5 * spread
    )


def test_elbo_monte_carlo_has_zero_variance_at_the_exact_posterior():
    # log p(x|z) + log p(z) - log q(z) = log p(x) for every z when q is
    # the posterior.
    mean, var = exact_posterior(X, W, B, S2)
    estimate = elbo_monte_carlo(
        X,
        W,
        B,
        S2,
        mean,
        var,
        n_samples=3,
        generator=torch.Generator().manual_seed(3),
    )
    torch.testing.assert_close(estimate, log_marginal(X, W, B, S2))


def test_functions_broadcast_over_parameters():
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    x = torch.tensor([1.0], dtype=torch.float64)
    assert log_marginal(x, w, 0.0, 1.0).shape == (3,)
    mean, var = exact_posterior(x, w, 0.0, 1.0)
    assert mean.shape == var.shape == (3,)


INF, NAN = float("inf"), float("nan")
X32 = X.float()
BAD_INPUTS = [
    (
        lambda: log_marginal([1.0], W, B, S2),
        TypeError,
        "x must be a torch.Tensor, got list",
    ),
    (
        lambda: log_marginal(torch.tensor([1]), W, B, S2),
        TypeError,
        "x must be a floating-point tensor, got dtype torch.int64",
    ),
    (
        lambda: log_marginal(torch.tensor([NAN]), W, B, S2),
        ValueError,
        "x contains NaN",
    ),
    (
        lambda: log_marginal(torch.tensor([INF]), W, B, S2),
        ValueError,
        "x must be finite, found inf",
    ),
    (
        lambda: log_marginal(X, "1", B, S2),
        TypeError,
        "w must be a real number, got str '1'",
    ),
    (
        lambda: log_marginal(X, True, B, S2),
        TypeError,
        "w must be a real number, got bool True",
    ),
    (
        lambda: log_marginal(X, torch.tensor([1]), B, S2),
        TypeError,
        "w must be a floating-point tensor, got dtype torch.int64",
    ),
    (
        lambda: log_marginal(X, W, INF, S2),
        ValueError,
        "b must be finite, got inf",
    ),
    (
        lambda: log_marginal(X, W, torch.tensor([0.0, -INF]), S2),
        ValueError,
        "b must be finite, found -inf",
    ),
    (
        lambda: log_marginal(X32, 1e39, B, S2),
        ValueError,
        "w must be finite in torch.float32, the dtype of x: 1e+39 overflows",
    ),
    (
        lambda: log_marginal(X, W, B, 0.0),
        ValueError,
        "s2 must be positive, got minimum 0",
    ),
    (
        lambda: log_marginal(X, W, B, INF),
        ValueError,
        "s2 must be finite, got inf",
    ),
    (
        lambda: log_marginal(X32, W, B, 1e-50),
        ValueError,
        "s2 must be positive and finite in torch.float32, the dtype of the "
        "data: 1e-50 becomes 0.0",
    ),
    (
        lambda: exact_posterior(X, W, B, -1.0),
        ValueError,
        "s2 must be positive, got minimum -1",
    ),
    (
        lambda: elbo(X, W, B, S2, 0.0, 0.0),
        ValueError,
        "q_var must be positive, got minimum 0",
    ),
    (
        lambda: elbo(X, W, B, S2, NAN, 1.0),
        ValueError,
        "q_mean must be a number, got NaN",
    ),
    (
        lambda: elbo(X, W, B, S2, torch.tensor([NAN]), 1.0),
        ValueError,
        "q_mean contains NaN",
    ),
    (
        lambda: elbo_monte_carlo(X, W, B, S2, 0.0, 1.0, n_samples=0),
        ValueError,
        "n_samples must be at least 1, got 0",
    ),
    (
        lambda: elbo_monte_carlo(X, W, B, S2, 0.0, 1.0, n_samples=2.0),
        TypeError,
        "n_samples must be an integer, got float 2.0",
    ),
    (lambda: sample(0, W, B, S2), ValueError, "n must be at least 1, got 0"),
    (
        lambda: sample("3", W, B, S2),
        TypeError,
        "n must be an integer, got str '3'",
    ),
]


@table(BAD_INPUTS)
def test_bad_inputs_raise_a_clear_error(call, error, message):
    raises(call, error, message)


def test_parameters_may_be_numpy_numbers_and_0_d_tensors():
    expected = log_marginal(X, W, B, S2)
    for w, s2 in [
        (np.float32(W), np.float64(S2)),
        (torch.tensor(W), torch.tensor(S2, dtype=torch.float64)),
    ]:
        torch.testing.assert_close(log_marginal(X, w, B, s2), expected)
    z, _ = sample(np.int64(3), W, B, S2)
    assert z.shape == (3,)
