"""Tests of vaecourse.losses against torch.distributions, closed forms and integrals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from torch.distributions import Bernoulli, ContinuousBernoulli, Independent, Normal

from vaecourse.distributions import kl_diag_gaussian_std_normal
from vaecourse.losses import (
    bernoulli_nll,
    bernoulli_nll_with_logits,
    continuous_bernoulli_log_normalizer,
    continuous_bernoulli_nll_with_logits,
    gaussian_nll,
    mean_squared_error,
    negative_elbo,
    sum_of_squares,
)


def batch(*shape, seed=0, low=0.0, high=1.0):
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=g, dtype=torch.float64)


# --- squared error ---------------------------------------------------------------

def test_sum_of_squares_is_a_sum_not_a_norm():
    x = torch.tensor([[0.0, 0.0]])
    x_hat = torch.tensor([[3.0, 4.0]])
    assert sum_of_squares(x, x_hat).item() == 25.0  # the notes' square root would give 5
    assert mean_squared_error(x, x_hat).item() == 12.5


def test_squared_error_matches_torch_mse():
    x, x_hat = batch(4, 3, 5, seed=1), batch(4, 3, 5, seed=2)
    per_example = torch.nn.functional.mse_loss(x_hat, x, reduction="none").flatten(1)
    torch.testing.assert_close(sum_of_squares(x, x_hat), per_example.sum(1))
    torch.testing.assert_close(mean_squared_error(x, x_hat), per_example.mean(1))


# --- Gaussian NLL ----------------------------------------------------------------

@pytest.mark.parametrize("variance", [0.01, 1.0, 7.5])
def test_gaussian_nll_matches_torch_normal(variance):
    x, x_hat = batch(3, 10, seed=3), batch(3, 10, seed=4)
    expected = -Independent(Normal(x_hat, math.sqrt(variance)), 1).log_prob(x)
    torch.testing.assert_close(gaussian_nll(x, x_hat, variance), expected)


def test_gaussian_nll_is_scaled_sum_of_squares_plus_constant():
    x, x_hat = batch(2, 7, seed=5), batch(2, 7, seed=6)
    s2, n = 0.3, 7
    expected = sum_of_squares(x, x_hat) / (2 * s2) + n / 2 * math.log(2 * math.pi * s2)
    torch.testing.assert_close(gaussian_nll(x, x_hat, s2), expected)


def test_gaussian_nll_with_per_pixel_variance():
    x, x_hat = batch(2, 4, seed=7), batch(2, 4, seed=8)
    var = torch.tensor([0.1, 0.2, 0.5, 2.0], dtype=torch.float64)
    expected = -Independent(Normal(x_hat, var.sqrt()), 1).log_prob(x)
    torch.testing.assert_close(gaussian_nll(x, x_hat, var), expected)


# --- Bernoulli -------------------------------------------------------------------

def test_bernoulli_nll_matches_torch_bernoulli_on_binary_data():
    probs = batch(5, 8, seed=9, low=0.01, high=0.99)
    x = (batch(5, 8, seed=10) > 0.5).double()
    expected = -Independent(Bernoulli(probs=probs), 1).log_prob(x)
    torch.testing.assert_close(bernoulli_nll(x, probs), expected)


def test_bernoulli_nll_matches_torch_bce_on_grey_values():
    x, probs = batch(5, 8, seed=11), batch(5, 8, seed=12)
    expected = torch.nn.functional.binary_cross_entropy(probs, x, reduction="none").sum(1)
    torch.testing.assert_close(bernoulli_nll(x, probs), expected)


@settings(max_examples=50, deadline=None)
# Beyond |logit| ~ 15, 1 - sigmoid(logit) loses digits in float64: the reason logits exist.
@given(st.lists(st.floats(-15, 15), min_size=1, max_size=8), st.integers(0, 2**16))
def test_bce_from_logits_equals_bce_from_probabilities(logits, seed):
    logits = torch.tensor([logits], dtype=torch.float64)
    x = batch(*logits.shape, seed=seed)
    expected = bernoulli_nll(x, torch.sigmoid(logits))
    torch.testing.assert_close(bernoulli_nll_with_logits(x, logits), expected, rtol=1e-6, atol=1e-6)


def test_bce_on_grey_values_is_minimised_at_x_but_not_zero_there():
    x = torch.tensor([[0.3, 0.5, 0.9]], dtype=torch.float64)
    at_x = bernoulli_nll(x, x)
    entropy = -(x * x.log() + (1 - x) * (1 - x).log()).sum()
    torch.testing.assert_close(at_x, entropy.reshape(1))
    assert at_x.item() > 0
    for shift in (-0.05, 0.05):
        assert bernoulli_nll(x, x + shift).item() > at_x.item()


def test_bernoulli_nll_is_finite_at_saturated_probabilities():
    x = torch.tensor([[1.0, 0.0]])
    assert torch.isfinite(bernoulli_nll(x, torch.tensor([[0.0, 1.0]]))).all()


# --- continuous Bernoulli ----------------------------------------------------------

@pytest.mark.parametrize("logit", [-20.0, -3.0, -0.5, -1e-4, 0.0, 1e-5, 0.3, 2.0, 15.0])
def test_continuous_bernoulli_normaliser_integrates_density_to_one(logit):
    lam = 1.0 / (1.0 + math.exp(-logit))

    def unnormalised(x):
        return math.exp(x * math.log(lam) + (1 - x) * math.log1p(-lam))

    area, _ = integrate.quad(unnormalised, 0.0, 1.0, epsabs=0, epsrel=1e-12)
    log_c = continuous_bernoulli_log_normalizer(torch.tensor(logit, dtype=torch.float64))
    assert log_c.item() == pytest.approx(-math.log(area), rel=1e-9, abs=1e-9)


def test_continuous_bernoulli_nll_matches_torch_distribution():
    logits = torch.linspace(-6, 6, 40, dtype=torch.float64).reshape(2, 20)
    x = batch(2, 20, seed=13)
    expected = -Independent(ContinuousBernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(continuous_bernoulli_nll_with_logits(x, logits), expected)


def test_continuous_bernoulli_log_normaliser_is_smooth_at_one_half():
    logits = torch.tensor([-2e-3, -1e-3, -5e-4, 0.0, 5e-4, 1e-3, 2e-3], dtype=torch.float64)
    values = continuous_bernoulli_log_normalizer(logits)
    expected = math.log(2) + logits**2 / 12 - logits**4 / 1440
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-13)


# --- the negative ELBO -------------------------------------------------------------

def test_negative_elbo_follows_the_course_convention():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(6, 784, generator=g) > 0.5).float()
    logits = torch.randn(6, 784, generator=g)
    mu, logvar = torch.randn(6, 20, generator=g), torch.randn(6, 20, generator=g)
    terms = negative_elbo(x, logits, mu, logvar, beta=4.0)
    # sum over pixels and latent units, mean over the batch
    recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 6
    kl = kl_diag_gaussian_std_normal(mu, logvar).sum() / 6
    torch.testing.assert_close(terms.reconstruction, recon)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.loss, recon + 4.0 * kl)


def test_negative_elbo_matches_a_torch_distributions_estimate():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 10, generator=g, dtype=torch.float64)
    mean = torch.rand(3, 10, generator=g, dtype=torch.float64)
    mu, logvar = torch.randn(3, 2, generator=g, dtype=torch.float64), torch.randn(3, 2, generator=g, dtype=torch.float64)
    terms = negative_elbo(x, mean, mu, logvar, likelihood="gaussian", variance=0.5)
    log_lik = Independent(Normal(mean, math.sqrt(0.5)), 1).log_prob(x)
    q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    elbo = log_lik - torch.distributions.kl_divergence(q, p)
    torch.testing.assert_close(terms.loss, -elbo.mean())


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "continuous_bernoulli"])
def test_negative_elbo_gradients_reach_encoder_outputs(likelihood):
    x = batch(4, 6, seed=2).float()
    out = torch.zeros(4, 6, requires_grad=True)
    mu = torch.zeros(4, 2, requires_grad=True)
    logvar = torch.full((4, 2), 0.5, requires_grad=True)
    negative_elbo(x, out, mu + 0.1, logvar, likelihood=likelihood).loss.backward()
    for t in (out, mu, logvar):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_negative_elbo_is_finite_at_logvar_80():
    x = batch(2, 5, seed=3).float()
    for lv in (-80.0, 80.0):
        terms = negative_elbo(x, torch.zeros(2, 5), torch.zeros(2, 3), torch.full((2, 3), lv))
        assert torch.isfinite(terms.loss)


def test_pixels_left_in_0_to_16_are_refused_by_bce():
    digits_like = torch.tensor([[0.0, 8.0, 16.0]])
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        negative_elbo(digits_like, torch.zeros(1, 3), torch.zeros(1, 2), torch.zeros(1, 2))


def test_squared_error_numpy_reference():
    x, x_hat = batch(3, 4, seed=20), batch(3, 4, seed=21)
    expected = np.sum((x.numpy() - x_hat.numpy()) ** 2, axis=1)
    np.testing.assert_allclose(sum_of_squares(x, x_hat).numpy(), expected)


def test_gaussian_nll_keeps_a_python_variance_at_full_precision():
    x, x_hat = batch(2, 3, seed=30), batch(2, 3, seed=31)
    expected = sum_of_squares(x, x_hat) / (2 * 0.2) + 3 / 2 * math.log(2 * math.pi * 0.2)
    torch.testing.assert_close(gaussian_nll(x, x_hat, 0.2), expected, rtol=1e-14, atol=0)
