"""Tests of vaecourse.losses.

Checked against torch.distributions, closed forms and integrals.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from bad_inputs import raises, table
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from torch.distributions import (
    Bernoulli,
    ContinuousBernoulli,
    Independent,
    Normal,
)

from vaecourse import losses
from vaecourse.distributions import kl_diag_gaussian_std_normal
from vaecourse.losses import (
    bernoulli_nll,
    bernoulli_nll_with_logits,
    continuous_bernoulli_log_normalizer,
    continuous_bernoulli_nll_with_logits,
    gaussian_nll,
    mean_squared_error,
    negative_elbo,
    reconstruction_nll,
    sum_of_squares,
)


def batch(*shape, seed=0, low=0.0, high=1.0):
    g = torch.Generator().manual_seed(seed)
    uniform = torch.rand(shape, generator=g, dtype=torch.float64)
    return low + (high - low) * uniform


# --- squared error -----------------------------------------------------------


def test_sum_of_squares_is_a_sum_not_a_norm():
    x = torch.tensor([[0.0, 0.0]])
    x_hat = torch.tensor([[3.0, 4.0]])
    assert (
        sum_of_squares(x, x_hat).item() == 25.0
    )  # the notes' square root would give 5
    assert mean_squared_error(x, x_hat).item() == 12.5


def test_squared_error_matches_torch_mse():
    x, x_hat = batch(4, 3, 5, seed=1), batch(4, 3, 5, seed=2)
    per_example = torch.nn.functional.mse_loss(
        x_hat, x, reduction="none"
    ).flatten(1)
    torch.testing.assert_close(sum_of_squares(x, x_hat), per_example.sum(1))
    torch.testing.assert_close(
        mean_squared_error(x, x_hat), per_example.mean(1)
    )


# --- Gaussian NLL ------------------------------------------------------------


@pytest.mark.parametrize("variance", [0.01, 1.0, 7.5])
def test_gaussian_nll_matches_torch_normal(variance):
    x, x_hat = batch(3, 10, seed=3), batch(3, 10, seed=4)
    expected = -Independent(Normal(x_hat, math.sqrt(variance)), 1).log_prob(x)
    torch.testing.assert_close(gaussian_nll(x, x_hat, variance), expected)


def test_gaussian_nll_is_scaled_sum_of_squares_plus_constant():
    x, x_hat = batch(2, 7, seed=5), batch(2, 7, seed=6)
    s2, n = 0.3, 7
    expected = sum_of_squares(x, x_hat) / (2 * s2) + n / 2 * math.log(
        2 * math.pi * s2
    )
    torch.testing.assert_close(gaussian_nll(x, x_hat, s2), expected)


def test_gaussian_nll_with_per_pixel_variance():
    x, x_hat = batch(2, 4, seed=7), batch(2, 4, seed=8)
    var = torch.tensor([0.1, 0.2, 0.5, 2.0], dtype=torch.float64)
    expected = -Independent(Normal(x_hat, var.sqrt()), 1).log_prob(x)
    torch.testing.assert_close(gaussian_nll(x, x_hat, var), expected)


# --- Bernoulli ---------------------------------------------------------------


def test_bernoulli_nll_matches_torch_bernoulli_on_binary_data():
    probs = batch(5, 8, seed=9, low=0.01, high=0.99)
    x = (batch(5, 8, seed=10) > 0.5).double()
    expected = -Independent(Bernoulli(probs=probs), 1).log_prob(x)
    torch.testing.assert_close(bernoulli_nll(x, probs), expected)


def test_bernoulli_nll_matches_torch_bce_on_grey_values():
    x, probs = batch(5, 8, seed=11), batch(5, 8, seed=12)
    expected = torch.nn.functional.binary_cross_entropy(
        probs, x, reduction="none"
    ).sum(1)
    torch.testing.assert_close(bernoulli_nll(x, probs), expected)


@settings(max_examples=50, deadline=None)
# Beyond |logit| ~ 15, 1 - sigmoid(logit) loses digits in float64: the
# reason logits exist.
@given(
    st.lists(st.floats(-15, 15), min_size=1, max_size=8), st.integers(0, 2**16)
)
def test_bce_from_logits_equals_bce_from_probabilities(logits, seed):
    logits = torch.tensor([logits], dtype=torch.float64)
    x = batch(*logits.shape, seed=seed)
    expected = bernoulli_nll(x, torch.sigmoid(logits))
    torch.testing.assert_close(
        bernoulli_nll_with_logits(x, logits), expected, rtol=1e-6, atol=1e-6
    )


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


# --- continuous Bernoulli ----------------------------------------------------


@pytest.mark.parametrize(
    "logit", [-20.0, -3.0, -0.5, -1e-4, 0.0, 1e-5, 0.3, 2.0, 15.0]
)
def test_continuous_bernoulli_normaliser_integrates_density_to_one(logit):
    lam = 1.0 / (1.0 + math.exp(-logit))

    def unnormalised(x):
        return math.exp(x * math.log(lam) + (1 - x) * math.log1p(-lam))

    area, _ = integrate.quad(unnormalised, 0.0, 1.0, epsabs=0, epsrel=1e-12)
    log_c = continuous_bernoulli_log_normalizer(
        torch.tensor(logit, dtype=torch.float64)
    )
    assert log_c.item() == pytest.approx(-math.log(area), rel=1e-9, abs=1e-9)


def test_continuous_bernoulli_nll_matches_torch_distribution():
    logits = torch.linspace(-6, 6, 40, dtype=torch.float64).reshape(2, 20)
    x = batch(2, 20, seed=13)
    expected = -Independent(ContinuousBernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(
        continuous_bernoulli_nll_with_logits(x, logits), expected
    )


def test_continuous_bernoulli_log_normaliser_is_smooth_at_one_half():
    logits = torch.tensor(
        [-2e-3, -1e-3, -5e-4, 0.0, 5e-4, 1e-3, 2e-3], dtype=torch.float64
    )
    values = continuous_bernoulli_log_normalizer(logits)
    # log(l / tanh(l/2)) = log 2 + l^2/12 - 7 l^4/1440 + O(l^6) (SymPy).
    expected = math.log(2) + logits**2 / 12 - 7 * logits**4 / 1440
    torch.testing.assert_close(values, expected, rtol=0, atol=3e-16)


# --- the negative ELBO -------------------------------------------------------


def test_negative_elbo_follows_the_course_convention():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(6, 784, generator=g) > 0.5).float()
    logits = torch.randn(6, 784, generator=g)
    mu, logvar = (
        torch.randn(6, 20, generator=g),
        torch.randn(6, 20, generator=g),
    )
    terms = negative_elbo(x, logits, mu, logvar, beta=4.0)
    # sum over pixels and latent units, mean over the batch
    recon = (
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x, reduction="sum"
        )
        / 6
    )
    kl = kl_diag_gaussian_std_normal(mu, logvar).sum() / 6
    torch.testing.assert_close(terms.reconstruction, recon)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.loss, recon + 4.0 * kl)


def test_negative_elbo_matches_a_torch_distributions_estimate():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 10, generator=g, dtype=torch.float64)
    mean = torch.rand(3, 10, generator=g, dtype=torch.float64)
    mu, logvar = (
        torch.randn(3, 2, generator=g, dtype=torch.float64),
        torch.randn(3, 2, generator=g, dtype=torch.float64),
    )
    terms = negative_elbo(
        x, mean, mu, logvar, likelihood="gaussian", variance=0.5
    )
    log_lik = Independent(Normal(mean, math.sqrt(0.5)), 1).log_prob(x)
    q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    elbo = log_lik - torch.distributions.kl_divergence(q, p)
    torch.testing.assert_close(terms.loss, -elbo.mean())


@pytest.mark.parametrize(
    "likelihood", ["bernoulli", "gaussian", "continuous_bernoulli"]
)
def test_negative_elbo_gradients_reach_encoder_outputs(likelihood):
    x = batch(4, 6, seed=2).float()
    out = torch.zeros(4, 6, requires_grad=True)
    mu = torch.zeros(4, 2, requires_grad=True)
    logvar = torch.full((4, 2), 0.5, requires_grad=True)
    negative_elbo(
        x, out, mu + 0.1, logvar, likelihood=likelihood
    ).loss.backward()
    for t in (out, mu, logvar):
        assert (
            t.grad is not None
            and torch.isfinite(t.grad).all()
            and t.grad.abs().sum() > 0
        )


def test_negative_elbo_is_finite_at_logvar_80():
    x = batch(2, 5, seed=3).float()
    for lv in (-80.0, 80.0):
        terms = negative_elbo(
            x, torch.zeros(2, 5), torch.zeros(2, 3), torch.full((2, 3), lv)
        )
        assert torch.isfinite(terms.loss)


def test_pixels_left_in_0_to_16_are_refused_by_bce():
    digits_like = torch.tensor([[0.0, 8.0, 16.0]])
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        negative_elbo(
            digits_like,
            torch.zeros(1, 3),
            torch.zeros(1, 2),
            torch.zeros(1, 2),
        )


def test_squared_error_numpy_reference():
    x, x_hat = batch(3, 4, seed=20), batch(3, 4, seed=21)
    expected = np.sum((x.numpy() - x_hat.numpy()) ** 2, axis=1)
    np.testing.assert_allclose(sum_of_squares(x, x_hat).numpy(), expected)


def test_gaussian_nll_keeps_a_python_variance_at_full_precision():
    x, x_hat = batch(2, 3, seed=30), batch(2, 3, seed=31)
    expected = sum_of_squares(x, x_hat) / (2 * 0.2) + 3 / 2 * math.log(
        2 * math.pi * 0.2
    )
    torch.testing.assert_close(
        gaussian_nll(x, x_hat, 0.2), expected, rtol=1e-14, atol=0
    )


# --- saturated probabilities: as F.binary_cross_entropy ----------------------


def bce_by_hand(x: float, p: float) -> float:
    """-[x log p + (1 - x) log(1 - p)], each log clamped at -100."""
    log_p = max(math.log(p), -100.0) if p > 0 else -100.0
    log_1mp = max(math.log1p(-p), -100.0) if p < 1 else -100.0
    return -(x * log_p + (1 - x) * log_1mp)


# (x, p): saturated p equal to x, saturated p far from x, grey x.
SATURATED = [
    (0.0, 0.0),
    (1.0, 1.0),
    (1.0, 0.0),
    (0.0, 1.0),
    (0.3, 0.0),
    (0.3, 1.0),
    (0.5, 0.5),
    (1.0, 0.25),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_at_saturated_probabilities_matches_torch_values_and_gradients(
    dtype,
):
    x = torch.tensor([[x for x, _ in SATURATED]], dtype=dtype)
    probs = torch.tensor([[p for _, p in SATURATED]], dtype=dtype)
    ours = probs.clone().requires_grad_()
    reference = probs.clone().requires_grad_()
    loss = bernoulli_nll(x, ours)
    loss.sum().backward()
    expected = F.binary_cross_entropy(reference, x, reduction="none")
    expected.sum().backward()
    torch.testing.assert_close(loss, expected.sum(1, keepdim=False))
    assert torch.isfinite(ours.grad).all()
    torch.testing.assert_close(ours.grad, reference.grad)
    # Independent of torch: the clamped formula and its gradient
    # (p - x) / max(p (1 - p), 1e-12), 0 where p = x.
    by_hand = sum(bce_by_hand(x, p) for x, p in SATURATED)
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    grad = [(p - x) / max(p * (1 - p), 1e-12) for x, p in SATURATED]
    torch.testing.assert_close(
        ours.grad[0], torch.tensor(grad, dtype=dtype), rtol=1e-6, atol=0
    )


def test_bce_of_a_certain_wrong_pixel_is_100_nats():
    # The log clamp of F.binary_cross_entropy: -log(0) counts as 100.
    x = torch.tensor([[1.0, 0.0]])
    loss = bernoulli_nll(x, torch.tensor([[0.0, 1.0]]))
    assert loss.item() == 200.0


def test_bce_of_a_float32_sigmoid_that_reached_one():
    logits = torch.tensor([[17.0, 20.0, 40.0]], requires_grad=True)
    probs = torch.sigmoid(logits)
    assert (probs == 1.0).all()  # rounded to 1 in float32
    x = torch.ones(1, 3)
    loss = bernoulli_nll(x, probs)
    loss.sum().backward()
    assert loss.item() == 0.0
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad == 0).all()


# --- image batches (B, C, H, W): every pixel of every channel is summed ------


def images(seed: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return batch(2, 3, 4, 5, seed=seed, low=low, high=high)


def test_squared_error_sums_over_every_axis_of_an_image_batch():
    x, x_hat = images(40), images(41)
    per_example = (x - x_hat).pow(2).sum(dim=(1, 2, 3))
    torch.testing.assert_close(sum_of_squares(x, x_hat), per_example)
    torch.testing.assert_close(mean_squared_error(x, x_hat), per_example / 60)


def test_gaussian_nll_of_an_image_batch_matches_torch_normal():
    x, x_hat = images(42), images(43)
    expected = -Independent(Normal(x_hat, math.sqrt(0.3)), 3).log_prob(x)
    torch.testing.assert_close(gaussian_nll(x, x_hat, 0.3), expected)


def test_gaussian_nll_of_an_image_batch_with_per_channel_variance():
    x, x_hat = images(44), images(45)
    var = torch.tensor([0.1, 1.0, 3.0], dtype=torch.float64).reshape(3, 1, 1)
    std = var.sqrt().expand(3, 4, 5)
    expected = -Independent(Normal(x_hat, std), 3).log_prob(x)
    torch.testing.assert_close(gaussian_nll(x, x_hat, var), expected)


def test_bce_of_an_image_batch_matches_torch_bernoulli():
    x = (images(46) > 0.5).double()
    logits = images(47, low=-4.0, high=4.0)
    expected = -Independent(Bernoulli(logits=logits), 3).log_prob(x)
    torch.testing.assert_close(bernoulli_nll_with_logits(x, logits), expected)
    torch.testing.assert_close(
        bernoulli_nll(x, torch.sigmoid(logits)), expected
    )


def test_continuous_bernoulli_nll_of_an_image_batch_matches_torch():
    x, logits = images(48), images(49, low=-4.0, high=4.0)
    expected = -Independent(ContinuousBernoulli(logits=logits), 3).log_prob(x)
    torch.testing.assert_close(
        continuous_bernoulli_nll_with_logits(x, logits), expected
    )


# --- the continuous Bernoulli log-normaliser: value and gradient -------------

LOGITS = [
    0.0,
    1e-6,
    1e-4,
    1e-3,
    3e-3,
    0.01,
    0.1,
    0.2,
    0.22,
    0.25,
    0.5,
    0.9,
    0.91,
    0.95,
    1.0,
    3.0,
    10.0,
    100.0,
    1e4,
]


def log_normaliser_and_gradient(logit: float) -> tuple[float, float]:
    """log(l / tanh(l/2)) and its derivative 1/l - 1/sinh(l), 50 digits."""
    if logit == 0:
        return math.log(2), 0.0
    with mpmath.workdps(50):
        ell = mpmath.mpf(logit)
        value = mpmath.log(ell / mpmath.tanh(ell / 2))
        return float(value), float(1 / ell - 1 / mpmath.sinh(ell))


@pytest.mark.parametrize(
    "dtype, value_rtol, gradient_rtol",
    [(torch.float32, 2.5e-7, 1.5e-6), (torch.float64, 5e-16, 5e-14)],
    ids=["float32", "float64"],
)
def test_log_normaliser_value_and_gradient_match_50_digit_arithmetic(
    dtype, value_rtol, gradient_rtol
):
    logits = torch.tensor(LOGITS + [-v for v in LOGITS[1:]], dtype=dtype)
    logits.requires_grad_()
    values = continuous_bernoulli_log_normalizer(logits)
    values.sum().backward()
    # The reference is taken at the logit as rounded to dtype.
    reference = [log_normaliser_and_gradient(v) for v in logits.tolist()]
    expected_values = torch.tensor([v for v, _ in reference], dtype=dtype)
    expected_grads = torch.tensor([g for _, g in reference], dtype=dtype)
    torch.testing.assert_close(
        values.detach(), expected_values, rtol=value_rtol, atol=0
    )
    torch.testing.assert_close(
        logits.grad, expected_grads, rtol=gradient_rtol, atol=1e-30
    )


def test_log_normaliser_gradient_is_finite_and_exact_at_zero():
    logits = torch.zeros(3, requires_grad=True)
    continuous_bernoulli_log_normalizer(logits).sum().backward()
    assert logits.grad.tolist() == [0.0, 0.0, 0.0]


def continuous_bernoulli_nll_by_hand(x: float, logit: float) -> float:
    """softplus(l) - x l - log C(l), in 50-digit arithmetic."""
    with mpmath.workdps(50):
        ell = mpmath.mpf(logit)
        bce = mpmath.log1p(mpmath.exp(ell)) - x * ell
        return float(bce - mpmath.log(ell / mpmath.tanh(ell / 2)))


def test_continuous_bernoulli_nll_at_large_logits():
    # Beyond |logit| 15 torch.distributions.ContinuousBernoulli loses its
    # normaliser (sigmoid rounds to 1); 50-digit arithmetic is the reference.
    logits = torch.tensor(
        [[-300.0, -60.0, -20.0, 16.0, 25.0, 80.0]], dtype=torch.float64
    )
    x = torch.tensor([[0.0, 0.1, 0.5, 0.9, 1.0, 0.7]], dtype=torch.float64)
    expected = sum(
        continuous_bernoulli_nll_by_hand(a, b)
        for a, b in zip(x[0].tolist(), logits[0].tolist(), strict=True)
    )
    ours = continuous_bernoulli_nll_with_logits(x, logits)
    assert ours.item() == pytest.approx(expected, rel=1e-12)


# --- beta of any real kind ---------------------------------------------------


@pytest.mark.parametrize(
    "beta",
    [
        0.5,
        np.float32(0.5),
        np.float64(0.5),
        torch.tensor(0.5),
        torch.tensor(0.5, dtype=torch.float64),
    ],
    ids=[
        "float",
        "numpy float32",
        "numpy float64",
        "0-d tensor",
        "0-d float64 tensor",
    ],
)
def test_negative_elbo_takes_beta_as_any_real_number(beta):
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(3, 8, generator=g) > 0.5).float()
    logits = torch.randn(3, 8, generator=g)
    mu, logvar = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    terms = negative_elbo(x, logits, mu, logvar, beta=beta)
    expected = terms.reconstruction + 0.5 * terms.kl
    torch.testing.assert_close(terms.loss, expected)
    assert terms.loss.dtype == torch.float32


# --- the decoder variance: the shapes it may have ----------------------------


@pytest.mark.parametrize(
    "shape", [(), (1,), (1, 1), (5,), (4, 5), (4, 1), (1, 5)], ids=str
)
def test_gaussian_nll_takes_variances_that_broadcast_to_one_example(shape):
    x, x_hat = batch(3, 4, 5, seed=50), batch(3, 4, 5, seed=51)
    var = batch(*shape, seed=52, low=0.2, high=2.0)
    std = var.sqrt().expand(4, 5)
    expected = -Independent(Normal(x_hat, std), 2).log_prob(x)
    torch.testing.assert_close(gaussian_nll(x, x_hat, var), expected)


def test_a_variance_of_shape_batch_is_per_pixel_when_batch_equals_pixels():
    # Documented: a variance of shape x.shape[1:] is per pixel, even when
    # that shape happens to be (batch,).
    x, x_hat = batch(3, 3, seed=53), batch(3, 3, seed=54)
    var = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    expected = -Independent(Normal(x_hat, var.sqrt()), 1).log_prob(x)
    torch.testing.assert_close(gaussian_nll(x, x_hat, var), expected)


def test_a_variance_that_survives_in_float32_is_accepted():
    x = torch.zeros(1, 2)
    nll = gaussian_nll(x, x, 1e-30)  # a normal float32 number
    expected = 2 * 0.5 * math.log(2 * math.pi * torch.tensor(1e-30).item())
    assert nll.item() == pytest.approx(expected, rel=1e-6)


# --- bad inputs: a named error, never a silent NaN ---------------------------
# Each row: (call, error, message); the test id is the message.

x = torch.rand(2, 3, generator=torch.Generator().manual_seed(0))
z = torch.zeros(2, 3)
lv = torch.zeros(2, 4)
nan = torch.tensor([[0.1, float("nan"), 0.2], [0.0, 0.0, 0.0]])
inf, ones = float("inf"), torch.ones(2, 3)
empty = torch.zeros(0, 3)
LOSSES = {
    "sum_of_squares": sum_of_squares,
    "mean_squared_error": mean_squared_error,
    "gaussian_nll": gaussian_nll,
    "bernoulli_nll": bernoulli_nll,
    "bernoulli_nll_with_logits": bernoulli_nll_with_logits,
    "continuous_bernoulli_nll_with_logits": (
        continuous_bernoulli_nll_with_logits
    ),
}

BAD_INPUTS = [
    (
        lambda: sum_of_squares(x, torch.rand(2, 4)),
        ValueError,
        "x and x_hat must have the same shape, got (2, 3) and (2, 4)",
    ),
    (
        lambda: mean_squared_error(x, torch.rand(3, 3)),
        ValueError,
        "x and x_hat must have the same shape, got (2, 3) and (3, 3)",
    ),
    (
        lambda: sum_of_squares(torch.ones(2, 3, dtype=torch.int64), x),
        TypeError,
        "x must be a floating-point tensor, got dtype torch.int64",
    ),
    (
        lambda: sum_of_squares(x.numpy(), x),
        TypeError,
        "x must be a torch.Tensor, got ndarray",
    ),
    (lambda: sum_of_squares(nan, x), ValueError, "x contains NaN"),
    (
        lambda: sum_of_squares(x, x * inf),
        ValueError,
        "x_hat must be finite, found inf",
    ),
    (
        lambda: sum_of_squares(torch.rand(3), torch.rand(3)),
        ValueError,
        "x must have shape (batch, ...) with at least 2 dimensions",
    ),
    (
        lambda: sum_of_squares(x, x.double()),
        TypeError,
        "x and x_hat must have the same dtype, got torch.float32 and "
        "torch.float64",
    ),
    (
        lambda: bernoulli_nll(x.double(), x),
        TypeError,
        "x and probs must have the same dtype, got torch.float64 and "
        "torch.float32",
    ),
    # An empty batch: the mean over it would be NaN.
    (
        lambda: negative_elbo(
            empty, empty, torch.zeros(0, 2), torch.zeros(0, 2)
        ),
        ValueError,
        "x must hold at least one example, got a batch of size 0 "
        "(shape (0, 3))",
    ),
    # The decoder variance.
    (
        lambda: gaussian_nll(x, z, -1.0),
        ValueError,
        "variance must be positive, got minimum -1",
    ),
    (
        lambda: gaussian_nll(x, z, 0.0),
        ValueError,
        "variance must be positive, got minimum 0",
    ),
    (
        lambda: gaussian_nll(x, z, "1"),
        TypeError,
        "variance must be a real number, got str '1'",
    ),
    (
        lambda: gaussian_nll(x, z, inf),
        ValueError,
        "variance must be finite, got inf",
    ),
    (
        lambda: gaussian_nll(x, z, torch.tensor([1.0, inf, 1.0])),
        ValueError,
        "variance must be finite, found inf",
    ),
    (
        lambda: gaussian_nll(x, z, 1e-50),
        ValueError,
        "variance must be positive and finite in torch.float32, the dtype of "
        "the data: 1e-50 becomes 0.0",
    ),
    (
        lambda: gaussian_nll(x, z, torch.tensor([1e-50], dtype=torch.float64)),
        ValueError,
        "variance must be positive and finite in torch.float32",
    ),
    (
        lambda: gaussian_nll(x, z, 1e39),
        ValueError,
        "variance must be positive and finite in torch.float32, the dtype of "
        "the data: 1e+39 becomes inf",
    ),
    (
        lambda: gaussian_nll(x, z, torch.ones(2)),
        ValueError,
        "variance must be a number or a tensor broadcastable to one example's "
        "shape (3,), got shape (2,)",
    ),
    (
        lambda: gaussian_nll(x, z, torch.ones(2, 3)),
        ValueError,
        "variance must be a number or a tensor broadcastable to one example's "
        "shape (3,), got shape (2, 3)",
    ),
    (
        lambda: gaussian_nll(x, z, torch.ones(1, 1)),
        ValueError,
        "variance must be a number or a tensor broadcastable to one example's "
        "shape (3,), got shape (1, 1)",
    ),
    (
        lambda: gaussian_nll(
            torch.ones(2, 3, 4), torch.ones(2, 3, 4), torch.ones(2, 1)
        ),
        ValueError,
        "variance must be a number or a tensor broadcastable to one "
        "example's shape (3, 4), got shape (2, 1)",
    ),
    # Probabilities, targets and logits.
    (
        lambda: bernoulli_nll(x, torch.full((2, 3), 1.5)),
        ValueError,
        "probs must lie in [0, 1], found values in [1.5, 1.5]",
    ),
    (
        lambda: bernoulli_nll(x, torch.full((2, 3), -0.1)),
        ValueError,
        "probs must lie in [0, 1], found values in [-0.1, -0.1]",
    ),
    (lambda: bernoulli_nll(x * 16, x), ValueError, "x must lie in [0, 1]"),
    (
        lambda: bernoulli_nll_with_logits(x * 16, z),
        ValueError,
        "x must lie in [0, 1]",
    ),
    (
        lambda: bernoulli_nll_with_logits(x, nan),
        ValueError,
        "logits contains NaN",
    ),
    # BCE(1, +inf) = inf - inf in the stable formula: refused.
    (
        lambda: bernoulli_nll_with_logits(ones, ones * inf),
        ValueError,
        "logits must be finite, found inf",
    ),
    (
        lambda: bernoulli_nll_with_logits(0 * ones, -ones * inf),
        ValueError,
        "logits must be finite, found -inf",
    ),
    (
        lambda: continuous_bernoulli_nll_with_logits(x, ones * inf),
        ValueError,
        "logits must be finite, found inf",
    ),
    (
        lambda: continuous_bernoulli_nll_with_logits(x, -ones * inf),
        ValueError,
        "logits must be finite, found -inf",
    ),
    (
        lambda: continuous_bernoulli_log_normalizer(torch.tensor([0.0, inf])),
        ValueError,
        "logits must be finite, found inf",
    ),
    (
        lambda: continuous_bernoulli_log_normalizer(torch.tensor([1, 2])),
        TypeError,
        "logits must be a floating-point tensor, got dtype torch.int64",
    ),
    # The ELBO's other arguments.
    (
        lambda: negative_elbo(x, z, lv, lv, likelihood="poisson"),
        ValueError,
        "likelihood must be 'bernoulli', 'gaussian' or "
        "'continuous_bernoulli', got 'poisson'",
    ),
    (
        lambda: reconstruction_nll(x, z, "normal"),
        ValueError,
        "likelihood must be 'bernoulli', 'gaussian' or "
        "'continuous_bernoulli', got 'normal'",
    ),
    (
        lambda: negative_elbo(x, z, lv, lv, beta=-1.0),
        ValueError,
        "beta must be at least 0.0, got -1.0",
    ),
    (
        lambda: negative_elbo(x, z, lv, lv, beta=float("nan")),
        ValueError,
        "beta must be a number, got NaN",
    ),
    (
        lambda: negative_elbo(x, z, lv, lv, beta=np.float64("nan")),
        ValueError,
        "beta must be a number, got NaN",
    ),
    (
        lambda: negative_elbo(x, z, lv, lv, beta=inf),
        ValueError,
        "beta must be finite, got inf",
    ),
    (
        lambda: negative_elbo(x, z, lv, lv, beta=torch.tensor(inf)),
        ValueError,
        "beta must be finite, got inf",
    ),
    (
        lambda: negative_elbo(x, z, lv, lv, beta="1"),
        TypeError,
        "beta must be a real number, got str '1'",
    ),
    (
        lambda: negative_elbo(x, z, lv, lv, beta=torch.ones(2)),
        TypeError,
        "beta must be a real number, got a tensor of shape (2,)",
    ),
    (
        lambda: negative_elbo(x, z, lv, lv, beta=True),
        TypeError,
        "beta must be a real number, got bool True",
    ),
    (
        lambda: negative_elbo(x, z, torch.zeros(5, 4), torch.zeros(5, 4)),
        ValueError,
        "mu must have shape (batch, m) with the batch size of x, 2, "
        "got shape (5, 4)",
    ),
    (
        lambda: negative_elbo(x, z, torch.zeros(4), torch.zeros(4)),
        ValueError,
        "mu must have shape (batch, m) with the batch size of x, 2, "
        "got shape (4,)",
    ),
    (
        lambda: negative_elbo(
            x, z, torch.zeros(2, 1, 4), torch.zeros(2, 1, 4)
        ),
        ValueError,
        "mu must have shape (batch, m) with the batch size of x, 2, "
        "got shape (2, 1, 4)",
    ),
    (
        lambda: negative_elbo(x, z, lv, torch.full((2, 4), inf)),
        ValueError,
        "logvar must be finite, found inf",
    ),
    (
        lambda: negative_elbo(x, z, lv, torch.full((2, 4), -inf)),
        ValueError,
        "logvar must be finite, found -inf",
    ),
    (
        lambda: negative_elbo(x, z, torch.full((2, 4), inf), lv),
        ValueError,
        "mu must be finite, found inf",
    ),
]


@table(BAD_INPUTS)
def test_bad_input_raises_a_named_error(call, error, message):
    raises(call, error, message)


@pytest.mark.parametrize("loss", LOSSES.values(), ids=LOSSES.keys())
def test_every_loss_refuses_an_empty_batch(loss):
    message = "x must hold at least one example, got a batch of size 0"
    with pytest.raises(ValueError, match=message):
        loss(empty, empty)


# ------------------------------------------- Burgess et al.'s capacity


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.0), (50_000, 12.5), (100_000, 25.0), (250_000, 25.0), (1, 25e-5)],
    ids=["start", "middle", "end", "past the end", "first step"],
)
def test_capacity_schedule_rises_linearly_then_holds(step, expected):
    assert losses.capacity_schedule(step) == pytest.approx(expected)


def test_capacity_schedule_with_other_settings():
    assert losses.capacity_schedule(30, c_max=6.0, anneal_steps=40) == 4.5


def _terms(reconstruction: float, kl: float) -> losses.ELBOTerms:
    r = torch.tensor(reconstruction, requires_grad=True)
    k = torch.tensor(kl, requires_grad=True)
    return losses.ELBOTerms(loss=r + k, reconstruction=r, kl=k)


def test_capacity_objective_by_hand():
    # 80 nats of reconstruction, a KL of 12 against a capacity of 10:
    # 80 + 1000 * |12 - 10| = 2080.
    loss = losses.capacity_objective(_terms(80.0, 12.0), capacity=10.0)
    assert loss.item() == pytest.approx(2080.0)
    loss = losses.capacity_objective(_terms(80.0, 7.0), 10.0, gamma=4.0)
    assert loss.item() == pytest.approx(80.0 + 4.0 * 3.0)


@pytest.mark.parametrize(
    "kl, sign", [(12.0, 1.0), (7.0, -1.0)], ids=["above C", "below C"]
)
def test_capacity_objective_pushes_the_kl_towards_c(kl, sign):
    terms = _terms(80.0, kl)
    losses.capacity_objective(terms, capacity=10.0, gamma=1000.0).backward()
    # Above C the loss grows with the KL; below C it falls with it.
    assert terms.kl.grad.item() == sign * 1000.0
    assert terms.reconstruction.grad.item() == 1.0


def test_capacity_objective_with_zero_capacity_is_beta_vae_with_beta_gamma():
    torch.manual_seed(0)
    x = torch.rand(4, 6)
    logits, mu, logvar = (
        torch.randn(4, 6),
        torch.randn(4, 2),
        torch.randn(4, 2),
    )
    terms = losses.negative_elbo(x, logits, mu, logvar)
    beta_vae = losses.negative_elbo(x, logits, mu, logvar, beta=3.0)
    capacity = losses.capacity_objective(terms, capacity=0.0, gamma=3.0)
    torch.testing.assert_close(capacity, beta_vae.loss)


CAPACITY_BAD = [
    (
        lambda: losses.capacity_schedule(-1),
        ValueError,
        "step must be at least 0, got -1",
    ),
    (
        lambda: losses.capacity_schedule(1.5),
        TypeError,
        "step must be an integer",
    ),
    (
        lambda: losses.capacity_schedule(1, anneal_steps=0),
        ValueError,
        "anneal_steps must be at least 1, got 0",
    ),
    (
        lambda: losses.capacity_objective((1.0, 2.0), 1.0),
        TypeError,
        "terms must be the ELBOTerms returned by negative_elbo, got tuple",
    ),
    (
        lambda: losses.capacity_objective(_terms(1.0, 1.0), -1.0),
        ValueError,
        "capacity must be at least 0.0, got -1.0",
    ),
    (
        lambda: losses.capacity_objective(_terms(1.0, 1.0), 1.0, math.nan),
        ValueError,
        "gamma must be a number, got NaN",
    ),
    (
        lambda: losses.capacity_objective(_terms(1.0, math.nan), 1.0),
        ValueError,
        "terms.kl contains NaN",
    ),
    (
        lambda: losses.capacity_objective(_terms(math.inf, 1.0), 1.0),
        ValueError,
        "terms.reconstruction must be finite, found inf",
    ),
    (
        lambda: losses.capacity_objective(
            losses.ELBOTerms(
                loss=torch.ones(4),
                reconstruction=torch.ones(4),
                kl=torch.ones(4),
            ),
            1.0,
        ),
        ValueError,
        "terms.reconstruction must be a batch mean (a 0-d tensor), got "
        "shape (4,)",
    ),
]


@table(CAPACITY_BAD)
def test_capacity_bad_input(call, error, message):
    raises(call, error, message)


# --- free bits ---------------------------------------------------------------


def encoder_outputs(seed=0):
    """(8, 4) means and log-variances: units 0 and 1 near the prior (a few
    hundredths of a nat), units 2 and 3 far from it (nats)."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([0.1, 0.1, 2.0, 2.0], dtype=torch.float64)
    mu = torch.randn(8, 4, generator=g, dtype=torch.float64) * scale
    logvar = torch.randn(8, 4, generator=g, dtype=torch.float64) * scale
    return mu, logvar


def test_free_bits_kl_clamps_each_units_batch_mean_kl_then_sums():
    mu, logvar = encoder_outputs()
    q = Normal(mu, (0.5 * logvar).exp())
    per_unit = torch.distributions.kl_divergence(
        q, Normal(torch.zeros_like(mu), torch.ones_like(mu))
    ).mean(0)  # (4,), the reference
    assert (per_unit[:2] < 0.5).all() and (per_unit[2:] > 0.5).all()
    torch.testing.assert_close(
        losses.free_bits_kl(mu, logvar, 0.5),
        0.5 + 0.5 + per_unit[2:].sum(),
    )
    # lambda = 0: the batch mean of the KL term
    torch.testing.assert_close(
        losses.free_bits_kl(mu, logvar, 0.0),
        kl_diag_gaussian_std_normal(mu, logvar).mean(),
    )


def test_free_bits_give_a_unit_below_lambda_no_gradient():
    mu, logvar = encoder_outputs()
    mu.requires_grad_(True)
    losses.free_bits_kl(mu, logvar, 0.5).backward()
    free = mu.grad.clone()
    mu.grad = None
    kl_diag_gaussian_std_normal(mu, logvar).mean().backward()
    assert (free[:, :2] == 0).all() and (mu.grad[:, :2] != 0).all()
    torch.testing.assert_close(free[:, 2:], mu.grad[:, 2:])


def test_negative_elbo_with_free_bits_weighs_them_and_reports_the_kl():
    mu, logvar = encoder_outputs()
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(8, 10, generator=g) > 0.5).double()
    logits = torch.randn(8, 10, generator=g, dtype=torch.float64)
    plain = negative_elbo(x, logits, mu, logvar, beta=2.0)
    free = negative_elbo(x, logits, mu, logvar, beta=2.0, free_bits=0.5)
    torch.testing.assert_close(free.kl, plain.kl)
    torch.testing.assert_close(free.reconstruction, plain.reconstruction)
    torch.testing.assert_close(
        free.loss,
        plain.reconstruction + 2.0 * losses.free_bits_kl(mu, logvar, 0.5),
    )
    assert free.loss > plain.loss  # two units counted at 0.5 nats


FREE_BITS_BAD = [
    (
        lambda: losses.free_bits_kl(*encoder_outputs(), -0.1),
        ValueError,
        "free_bits must be at least 0.0, got -0.1",
    ),
    (
        lambda: losses.free_bits_kl(*encoder_outputs(), float("nan")),
        ValueError,
        "free_bits must be a number, got NaN",
    ),
    (
        lambda: losses.free_bits_kl(torch.zeros(4), torch.zeros(4), 0.5),
        ValueError,
        "mu must have shape (batch, m), got (4,)",
    ),
    (
        lambda: losses.free_bits_kl(torch.zeros(2, 3), torch.zeros(2, 2), 0.5),
        ValueError,
        "logvar",
    ),
    (
        lambda: negative_elbo(
            torch.ones(2, 3),
            torch.zeros(2, 3),
            torch.zeros(2, 1),
            torch.zeros(2, 1),
            free_bits=-1.0,
        ),
        ValueError,
        "free_bits must be at least 0.0, got -1.0",
    ),
]


@table(FREE_BITS_BAD)
def test_free_bits_bad_input(call, error, message):
    raises(call, error, message)
