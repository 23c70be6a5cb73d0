"""Bad inputs raise a TypeError or ValueError whose message names the problem."""

from __future__ import annotations

import pytest
import torch

from vaecourse import distributions as D
from vaecourse import losses as L

x = torch.rand(2, 3)
z = torch.zeros(2, 3)
lv = torch.zeros(2, 4)
nan = torch.tensor([[0.1, float("nan"), 0.2], [0.0, 0.0, 0.0]])
spd = torch.eye(2).expand(3, 2, 2).contiguous()
not_pd = torch.tensor([[1.0, 2.0], [2.0, 1.0]]).expand(3, 2, 2).contiguous()
not_sym = torch.tensor([[1.0, 0.5], [0.0, 1.0]]).expand(3, 2, 2).contiguous()
m2 = torch.zeros(3, 2)

BAD_INPUTS = [
    # (call, exception, message fragment)
    (lambda: L.sum_of_squares(x, torch.rand(2, 4)), ValueError, r"x and x_hat must have the same shape, got \(2, 3\) and \(2, 4\)"),
    (lambda: L.mean_squared_error(x, torch.rand(3, 3)), ValueError, "same shape"),
    (lambda: L.sum_of_squares(torch.ones(2, 3, dtype=torch.int64), x), TypeError, "x must be a floating-point tensor, got dtype torch.int64"),
    (lambda: L.sum_of_squares(x.numpy(), x), TypeError, "x must be a torch.Tensor, got ndarray"),
    (lambda: L.sum_of_squares(nan, x), ValueError, "x contains NaN"),
    (lambda: L.sum_of_squares(torch.rand(3), torch.rand(3)), ValueError, r"x must have shape \(batch, ...\)"),
    (lambda: L.gaussian_nll(x, z, -1.0), ValueError, "variance must be positive"),
    (lambda: L.gaussian_nll(x, z, 0.0), ValueError, "variance must be positive"),
    (lambda: L.gaussian_nll(x, z, "1"), TypeError, "variance must be a positive number"),
    (lambda: L.bernoulli_nll(x, torch.full((2, 3), 1.5)), ValueError, r"probs must lie in \[0, 1\]"),
    (lambda: L.bernoulli_nll(x, torch.full((2, 3), -0.1)), ValueError, r"probs must lie in \[0, 1\]"),
    (lambda: L.bernoulli_nll(x * 16, x), ValueError, r"x must lie in \[0, 1\]"),
    (lambda: L.bernoulli_nll_with_logits(x * 16, z), ValueError, r"x must lie in \[0, 1\]"),
    (lambda: L.bernoulli_nll_with_logits(x, nan), ValueError, "logits contains NaN"),
    (lambda: L.continuous_bernoulli_log_normalizer(torch.tensor([1, 2])), TypeError, "logits must be a floating-point"),
    (lambda: L.negative_elbo(x, z, lv, lv, likelihood="poisson"), ValueError, "likelihood must be"),
    (lambda: L.negative_elbo(x, z, lv, lv, beta=-1.0), ValueError, "beta must be a non-negative number"),
    (lambda: L.negative_elbo(x, z, torch.zeros(5, 4), torch.zeros(5, 4)), ValueError, "same batch size"),
    (lambda: D.kl_diag_gaussian_std_normal(z, lv), ValueError, r"mu and logvar must have the same shape"),
    (lambda: D.kl_diag_gaussian_std_normal(nan, z), ValueError, "mu contains NaN"),
    (lambda: D.kl_diag_gaussian_std_normal(z, z.half().int()), TypeError, "logvar must be a floating-point"),
    (lambda: D.kl_diag_gaussians(z, z, z, lv), ValueError, "mu_q and logvar_p must have the same shape"),
    (lambda: D.reparameterize(z, lv), ValueError, "mu and logvar must have the same shape"),
    (lambda: D.reparameterize(z, nan), ValueError, "logvar contains NaN"),
    (lambda: D.std_to_logvar(torch.tensor([1.0, -0.5])), ValueError, "std must be positive"),
    (lambda: D.std_to_logvar(torch.tensor([1.0, 0.0])), ValueError, "std must be positive"),
    (lambda: D.kl_gaussians_full(m2, spd, m2, not_pd), ValueError, "cov_p is not positive definite"),
    (lambda: D.kl_gaussians_full(m2, not_pd, m2, spd), ValueError, "cov_q is not positive definite"),
    (lambda: D.kl_gaussians_full(m2, not_sym, m2, spd), ValueError, "cov_q is not symmetric"),
    (lambda: D.kl_gaussians_full(m2, spd[:, :1], m2, spd[:, :1]), ValueError, "cov_q must be a square matrix"),
    (lambda: D.kl_gaussians_full(torch.zeros(3, 3), spd, torch.zeros(3, 3), spd), ValueError, "cov_q must have shape"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUTS, ids=[m[:40] for _, _, m in BAD_INPUTS])
def test_bad_input_raises_a_named_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
