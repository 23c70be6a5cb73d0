"""Tests of vaecourse.distributions.

Checked against torch.distributions and Monte Carlo.
"""

from __future__ import annotations

import math

import pytest
import torch
from bad_inputs import raises, table
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import (
    Independent,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

from vaecourse.distributions import (
    kl_diag_gaussian_std_normal,
    kl_diag_gaussians,
    kl_gaussians_full,
    logvar_to_std,
    reparameterize,
    std_to_logvar,
)

finite = st.floats(min_value=-8.0, max_value=8.0, allow_nan=False)


def diag_normal(mu: torch.Tensor, logvar: torch.Tensor) -> Independent:
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def random_spd(
    k: int, generator: torch.Generator, batch: tuple[int, ...] = ()
) -> torch.Tensor:
    a = torch.randn(*batch, k, k, generator=generator, dtype=torch.float64)
    return a @ a.transpose(-1, -2) + 0.5 * torch.eye(k, dtype=torch.float64)


# --- log-variance <-> standard deviation ------------------------------------


def test_logvar_to_std_matches_sqrt_of_variance():
    var = torch.tensor([1e-6, 0.25, 1.0, 4.0, 1e6], dtype=torch.float64)
    torch.testing.assert_close(logvar_to_std(torch.log(var)), var.sqrt())


def test_std_to_logvar_inverts_logvar_to_std():
    logvar = torch.linspace(-80, 80, 33, dtype=torch.float64)
    torch.testing.assert_close(std_to_logvar(logvar_to_std(logvar)), logvar)


def test_logvar_to_std_is_positive_and_finite_at_extremes():
    std = logvar_to_std(torch.tensor([-80.0, 0.0, 80.0]))
    assert torch.isfinite(std).all() and (std > 0).all()


# --- reparameterization ---------------------------------------------------


def test_reparameterize_has_the_right_mean_and_variance():
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
    logvar = torch.tensor(
        [math.log(0.25), 0.0, math.log(9.0)], dtype=torch.float64
    )
    n = 200_000
    z = reparameterize(mu.expand(n, 3), logvar.expand(n, 3), generator=g)
    var = logvar.exp()
    # 5 standard errors of the sample mean and of the sample variance.
    assert torch.all((z.mean(0) - mu).abs() < 5 * torch.sqrt(var / n))
    assert torch.all((z.var(0) - var).abs() < 5 * var * math.sqrt(2 / n))


def test_reparameterize_is_reproducible_with_a_generator():
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)
    a = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(7))
    b = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_reparameterize_gradients_reach_mu_and_logvar():
    g = torch.Generator().manual_seed(1)
    mu = torch.tensor([[0.5, -1.0]], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor(
        [[0.3, -0.7]], dtype=torch.float64, requires_grad=True
    )
    eps = torch.randn(
        1, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    z = reparameterize(mu, logvar, generator=g)
    z.sum().backward()
    # dz/dmu = 1 and dz/dlogvar = sigma * eps / 2, the pathwise derivatives.
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(
        logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps
    )


def test_reparameterize_passes_gradcheck():
    mu = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)

    def sample(m, lv):
        return reparameterize(
            m, lv, generator=torch.Generator().manual_seed(3)
        )

    assert torch.autograd.gradcheck(sample, (mu, logvar))


# --- KL from the standard normal ---------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=6))
def test_kl_std_normal_matches_torch_distributions(pairs):
    mu = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    logvar = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    prior = diag_normal(torch.zeros_like(mu), torch.zeros_like(logvar))
    expected = kl_divergence(diag_normal(mu, logvar), prior)
    torch.testing.assert_close(
        kl_diag_gaussian_std_normal(mu, logvar), expected
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=6))
def test_kl_std_normal_is_nonnegative(pairs):
    mu = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    logvar = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    assert kl_diag_gaussian_std_normal(mu, logvar) >= 0


def test_kl_std_normal_is_zero_exactly_at_the_prior():
    assert (
        kl_diag_gaussian_std_normal(torch.zeros(5), torch.zeros(5)).item()
        == 0.0
    )
    assert (
        kl_diag_gaussian_std_normal(
            torch.tensor([1e-3]), torch.zeros(1)
        ).item()
        > 0
    )


def test_kl_std_normal_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([0.7, -1.2, 0.1], dtype=torch.float64)
    logvar = torch.tensor([-0.5, 0.4, 1.1], dtype=torch.float64)
    q = diag_normal(mu, logvar)
    p = diag_normal(
        torch.zeros(3, dtype=torch.float64),
        torch.zeros(3, dtype=torch.float64),
    )
    z = reparameterize(
        mu.expand(400_000, 3), logvar.expand(400_000, 3), generator=g
    )
    log_ratio = q.log_prob(z) - p.log_prob(z)
    estimate, stderr = log_ratio.mean(), log_ratio.std() / math.sqrt(len(z))
    assert abs(kl_diag_gaussian_std_normal(mu, logvar) - estimate) < 5 * stderr


def test_kl_std_normal_batch_shape_sums_only_the_last_dimension():
    mu, logvar = torch.randn(4, 5, 3), torch.randn(4, 5, 3)
    assert kl_diag_gaussian_std_normal(mu, logvar).shape == (4, 5)


def test_kl_std_normal_finite_with_gradients_at_logvar_80():
    mu = torch.zeros(2, 3, requires_grad=True)
    logvar = torch.tensor(
        [[-80.0, 0.0, 80.0], [80.0, -80.0, 1.0]], requires_grad=True
    )
    kl = kl_diag_gaussian_std_normal(mu, logvar)
    kl.sum().backward()
    assert torch.isfinite(kl).all()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(logvar.grad).all()


# --- KL between diagonal Gaussians -------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(finite, finite, finite, finite), min_size=1, max_size=5)
)
def test_kl_diag_gaussians_matches_torch_distributions(rows):
    mu_q, lv_q, mu_p, lv_p = (
        torch.tensor(c, dtype=torch.float64) for c in zip(*rows, strict=True)
    )
    expected = kl_divergence(diag_normal(mu_q, lv_q), diag_normal(mu_p, lv_p))
    actual = kl_diag_gaussians(mu_q, lv_q, mu_p, lv_p)
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-9)
    assert actual >= -1e-12


def test_kl_diag_gaussians_reduces_to_the_std_normal_case():
    mu, logvar = torch.randn(6, 4), torch.randn(6, 4)
    zeros = torch.zeros_like(mu)
    torch.testing.assert_close(
        kl_diag_gaussians(mu, logvar, zeros, zeros),
        kl_diag_gaussian_std_normal(mu, logvar),
    )


def test_kl_diag_gaussians_zero_iff_equal():
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.all(kl_diag_gaussians(mu, logvar, mu, logvar) == 0)
    assert torch.all(kl_diag_gaussians(mu, logvar, mu + 0.01, logvar) > 0)
    assert torch.all(kl_diag_gaussians(mu, logvar, mu, logvar + 0.01) > 0)


def test_kl_diag_gaussians_finite_at_logvar_80_in_float64():
    lv = torch.tensor([[-80.0, 80.0]], dtype=torch.float64)
    kl = kl_diag_gaussians(
        torch.zeros_like(lv), lv, torch.zeros_like(lv), lv.flip(-1)
    )
    assert torch.isfinite(kl).all()


# --- KL between full-covariance Gaussians ------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_kl_full_matches_torch_multivariate_normal(k):
    g = torch.Generator().manual_seed(k)
    mu_q = torch.randn(4, k, generator=g, dtype=torch.float64)
    mu_p = torch.randn(4, k, generator=g, dtype=torch.float64)
    cov_q, cov_p = random_spd(k, g, (4,)), random_spd(k, g, (4,))
    expected = kl_divergence(
        MultivariateNormal(mu_q, cov_q), MultivariateNormal(mu_p, cov_p)
    )
    torch.testing.assert_close(
        kl_gaussians_full(mu_q, cov_q, mu_p, cov_p), expected
    )


def test_kl_full_matches_monte_carlo():
    g = torch.Generator().manual_seed(11)
    mu_q, mu_p = (
        torch.randn(3, generator=g, dtype=torch.float64),
        torch.zeros(3, dtype=torch.float64),
    )
    cov_q, cov_p = random_spd(3, g), random_spd(3, g)
    q, p = MultivariateNormal(mu_q, cov_q), MultivariateNormal(mu_p, cov_p)
    torch.manual_seed(0)
    z = q.sample((400_000,))
    log_ratio = q.log_prob(z) - p.log_prob(z)
    stderr = log_ratio.std() / math.sqrt(len(z))
    assert (
        abs(kl_gaussians_full(mu_q, cov_q, mu_p, cov_p) - log_ratio.mean())
        < 5 * stderr
    )


def test_kl_full_agrees_with_diag_for_diagonal_covariances():
    mu_q, mu_p = (
        torch.randn(5, 3, dtype=torch.float64),
        torch.randn(5, 3, dtype=torch.float64),
    )
    lv_q, lv_p = (
        torch.randn(5, 3, dtype=torch.float64),
        torch.randn(5, 3, dtype=torch.float64),
    )
    full = kl_gaussians_full(
        mu_q, torch.diag_embed(lv_q.exp()), mu_p, torch.diag_embed(lv_p.exp())
    )
    torch.testing.assert_close(full, kl_diag_gaussians(mu_q, lv_q, mu_p, lv_p))


def test_kl_full_zero_iff_equal():
    g = torch.Generator().manual_seed(2)
    mu, cov = (
        torch.randn(3, generator=g, dtype=torch.float64),
        random_spd(3, g),
    )
    assert abs(kl_gaussians_full(mu, cov, mu, cov).item()) < 1e-12
    assert kl_gaussians_full(mu, cov, mu + 0.01, cov).item() > 0


def test_kl_full_accepts_a_covariance_symmetric_up_to_rounding():
    g = torch.Generator().manual_seed(3)
    cov = random_spd(3, g)
    rounded = cov.clone()
    rounded[0, 1] += 1e-14  # far below any real asymmetry
    mu = torch.zeros(3, dtype=torch.float64)
    torch.testing.assert_close(
        kl_gaussians_full(mu, rounded, mu, cov),
        kl_gaussians_full(mu, cov, mu, cov),
        atol=1e-12,
        rtol=0,
    )


# --- bad inputs: a named error, never a silent NaN or inf --------------------
# Each row: (call, error, message); the test id is the message.

z = torch.zeros(2, 3)
lv = torch.zeros(2, 4)
nan = torch.tensor([[0.1, float("nan"), 0.2], [0.0, 0.0, 0.0]])
inf = float("inf")
spd = torch.eye(2).expand(3, 2, 2).contiguous()
not_pd = torch.tensor([[1.0, 2.0], [2.0, 1.0]]).expand(3, 2, 2).contiguous()
not_sym = torch.tensor([[1.0, 0.5], [0.0, 1.0]]).expand(3, 2, 2).contiguous()
# Off by 1e-3 between the two triangles: a real asymmetry, not rounding.
nearly_sym = torch.tensor([[1.0, 0.3], [0.301, 1.0]]).expand(3, 2, 2)
m2 = torch.zeros(3, 2)

BAD_INPUTS = [
    (
        lambda: kl_diag_gaussian_std_normal(z, lv),
        ValueError,
        "mu and logvar must have the same shape, got (2, 3) and (2, 4)",
    ),
    (
        lambda: kl_diag_gaussian_std_normal(nan, z),
        ValueError,
        "mu contains NaN",
    ),
    (
        lambda: kl_diag_gaussian_std_normal(z, z.int()),
        TypeError,
        "logvar must be a floating-point tensor, got dtype torch.int32",
    ),
    # exp(+inf) - inf is NaN; a variance of 0 has an infinite KL.
    (
        lambda: kl_diag_gaussian_std_normal(z, torch.full((2, 3), inf)),
        ValueError,
        "logvar must be finite, found inf",
    ),
    (
        lambda: kl_diag_gaussian_std_normal(z, torch.full((2, 3), -inf)),
        ValueError,
        "logvar must be finite, found -inf",
    ),
    (
        lambda: kl_diag_gaussian_std_normal(z + inf, z),
        ValueError,
        "mu must be finite, found inf",
    ),
    (
        lambda: kl_diag_gaussians(z, z, z, lv),
        ValueError,
        "mu_p and logvar_p must have the same shape, got (2, 3) and (2, 4)",
    ),
    (
        lambda: kl_diag_gaussians(z, z, lv, lv),
        ValueError,
        "mu_q and mu_p must have the same shape, got (2, 3) and (2, 4)",
    ),
    (
        lambda: kl_diag_gaussians(z, z - inf, z, z),
        ValueError,
        "logvar_q must be finite, found -inf",
    ),
    (
        lambda: kl_diag_gaussians(z, z, z, z + inf),
        ValueError,
        "logvar_p must be finite, found inf",
    ),
    (
        lambda: reparameterize(z, lv),
        ValueError,
        "mu and logvar must have the same shape, got (2, 3) and (2, 4)",
    ),
    (lambda: reparameterize(z, nan), ValueError, "logvar contains NaN"),
    (
        lambda: reparameterize(z, z + inf),
        ValueError,
        "logvar must be finite, found inf",
    ),
    (
        lambda: std_to_logvar(torch.tensor([1.0, -0.5])),
        ValueError,
        "std must be positive, got minimum -0.5",
    ),
    (
        lambda: std_to_logvar(torch.tensor([1.0, 0.0])),
        ValueError,
        "std must be positive, got minimum 0",
    ),
    (
        lambda: std_to_logvar(torch.tensor([1.0, inf])),
        ValueError,
        "std must be finite, found inf",
    ),
    (
        lambda: std_to_logvar(0.5),
        TypeError,
        "std must be a torch.Tensor, got float",
    ),
    (
        lambda: kl_gaussians_full(m2, spd, m2, not_pd),
        ValueError,
        "cov_p is not positive definite",
    ),
    (
        lambda: kl_gaussians_full(m2, not_pd, m2, spd),
        ValueError,
        "cov_q is not positive definite",
    ),
    (
        lambda: kl_gaussians_full(m2, not_sym, m2, spd),
        ValueError,
        "cov_q is not symmetric",
    ),
    (
        lambda: kl_gaussians_full(m2, spd, m2, nearly_sym),
        ValueError,
        "cov_p is not symmetric",
    ),
    (
        lambda: kl_gaussians_full(m2, spd[:, :1], m2, spd[:, :1]),
        ValueError,
        "cov_q must be a square matrix (..., k, k), got shape (3, 1, 2)",
    ),
    (
        lambda: kl_gaussians_full(m2, spd.where(spd == 0, inf), m2, spd),
        ValueError,
        "cov_q must be finite, found inf",
    ),
    (
        lambda: kl_gaussians_full(
            torch.zeros(3, 3), spd, torch.zeros(3, 3), spd
        ),
        ValueError,
        "cov_q must have shape (..., k, k) matching mu_q (..., k), "
        "got (3, 2, 2) and (3, 3)",
    ),
    # The right k but another batch shape, broadcastable or not.
    (
        lambda: kl_gaussians_full(torch.zeros(2), spd, torch.zeros(2), spd),
        ValueError,
        "cov_q must have shape (..., k, k) matching mu_q (..., k), "
        "got (3, 2, 2) and (2,)",
    ),
    (
        lambda: kl_gaussians_full(
            torch.zeros(4, 2), spd, torch.zeros(4, 2), spd
        ),
        ValueError,
        "cov_q must have shape (..., k, k) matching mu_q (..., k), "
        "got (3, 2, 2) and (4, 2)",
    ),
]


@table(BAD_INPUTS)
def test_bad_input_raises_a_named_error(call, error, message):
    raises(call, error, message)
