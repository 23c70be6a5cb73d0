"""Tests of vaecourse.models: shapes, architecture, sampling and the loss, against references."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, ContinuousBernoulli, Independent, Normal, kl_divergence

from vaecourse.models import VAE, Autoencoder, LinearAutoencoder, flatten_batch


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n=6, d=784, seed=0):
    return torch.rand(n, d, generator=seeded(seed))


# --- shapes and architecture -----------------------------------------------------------

def test_default_sizes_are_those_of_pytorch_examples():
    vae = VAE()
    # fc1 784->400, fc21/fc22 400->20, fc3 20->400, fc4 400->784
    expected = (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)
    assert sum(p.numel() for p in vae.parameters()) == expected
    ae = Autoencoder()
    assert sum(p.numel() for p in ae.parameters()) == expected - (400 * 20 + 20)


@pytest.mark.parametrize("shape", [(6, 784), (6, 28, 28), (6, 1, 28, 28)])
def test_every_model_accepts_flat_or_image_batches_and_returns_flat_outputs(shape):
    torch.manual_seed(0)
    x = torch.rand(*shape)
    flat = x.reshape(6, 784)
    ae, lin, vae = Autoencoder(), LinearAutoencoder(784, 5), VAE()
    assert ae.encode(x).shape == (6, 20)
    assert ae(x).shape == (6, 784)
    torch.testing.assert_close(ae(x), ae(flat))
    assert lin.encode(x).shape == (6, 5)
    torch.testing.assert_close(lin(x), lin(flat))
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (6, 20)
    output, mu2, logvar2 = vae(x, seeded())
    assert output.shape == (6, 784)
    torch.testing.assert_close(output, vae(flat, seeded())[0])


def test_autoencoder_decoder_returns_logits_and_reconstruct_applies_the_sigmoid():
    torch.manual_seed(1)
    ae = Autoencoder(input_dim=12, hidden_dim=7, latent_dim=3)
    x = images(5, 12)
    logits = ae(x)
    torch.testing.assert_close(logits, ae.decode(ae.encode(x)))
    torch.testing.assert_close(ae.reconstruct(x), torch.sigmoid(logits))
    assert logits.min() < 0  # logits, not probabilities
    # encoder: Linear, ReLU, Linear
    h = torch.relu(x @ ae.encoder[0].weight.T + ae.encoder[0].bias)
    torch.testing.assert_close(ae.encode(x), h @ ae.encoder[2].weight.T + ae.encoder[2].bias)


def test_linear_autoencoder_is_two_affine_maps():
    torch.manual_seed(2)
    lin = LinearAutoencoder(10, 3)
    x = images(4, 10)
    we, be, wd, bd = lin.encoder.weight, lin.encoder.bias, lin.decoder.weight, lin.decoder.bias
    torch.testing.assert_close(lin(x), (x @ we.T + be) @ wd.T + bd)
    torch.testing.assert_close(lin.reconstruct(x), lin(x))
    torch.testing.assert_close(lin.decode_mean(lin.encode(x)), lin(x))
    no_bias = LinearAutoencoder(10, 3, bias=False)
    assert no_bias.encoder.bias is None and no_bias.decoder.bias is None
    assert torch.equal(no_bias(torch.zeros(1, 10)), torch.zeros(1, 10))  # linear, not affine


def test_linear_vae_has_no_hidden_layer():
    vae = VAE(input_dim=5, hidden_dim=None, latent_dim=2, likelihood="gaussian")
    assert isinstance(vae.decoder, torch.nn.Linear)
    x = images(3, 5)
    mu, logvar = vae.encode(x)
    torch.testing.assert_close(mu, x @ vae.mu_head.weight.T + vae.mu_head.bias)
    torch.testing.assert_close(logvar, x @ vae.logvar_head.weight.T + vae.logvar_head.bias)


# --- the VAE ------------------------------------------------------------------------

def test_forward_samples_z_with_the_reparameterization_trick():
    torch.manual_seed(3)
    vae = VAE(input_dim=8, hidden_dim=6, latent_dim=3)
    x = images(4, 8)
    output, mu, logvar = vae(x, seeded(5))
    eps = torch.randn(mu.shape, generator=seeded(5))
    z = mu + torch.exp(0.5 * logvar) * eps
    torch.testing.assert_close(output, vae.decode(z))
    # the same generator state gives the same sample; another gives another
    torch.testing.assert_close(vae(x, seeded(5))[0], output)
    assert not torch.allclose(vae(x, seeded(6))[0], output)


def test_forward_samples_in_eval_mode_too():
    # Decoding z = mu at test time is not the ELBO (pytorch/examples PR #419).
    torch.manual_seed(4)
    vae = VAE(input_dim=8, hidden_dim=6, latent_dim=3).eval()
    x = images(4, 8)
    mu, _ = vae.encode(x)
    assert not torch.allclose(vae(x, seeded(0))[0], vae.decode(mu))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "continuous_bernoulli"])
def test_loss_is_the_one_sample_negative_elbo(likelihood):
    torch.manual_seed(5)
    vae = VAE(input_dim=10, hidden_dim=8, latent_dim=3, likelihood=likelihood, decoder_variance=0.3)
    x = images(7, 10)
    if likelihood == "bernoulli":
        x = (x > 0.5).float()  # torch's Bernoulli accepts only binary values
    terms = vae.loss(x, beta=2.0, generator=seeded(1))
    output, mu, logvar = vae(x, seeded(1))
    if likelihood == "bernoulli":
        decoder = Independent(Bernoulli(logits=output), 1)
    elif likelihood == "continuous_bernoulli":
        decoder = Independent(ContinuousBernoulli(logits=output), 1)
    else:
        decoder = Independent(Normal(output, math.sqrt(0.3)), 1)
    recon = -decoder.log_prob(x).mean()
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    kl = kl_divergence(q, prior).mean()
    torch.testing.assert_close(terms.reconstruction, recon, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.loss, recon + 2.0 * kl, rtol=1e-4, atol=1e-4)


def test_loss_has_gradients_for_every_parameter():
    torch.manual_seed(6)
    vae = VAE(input_dim=10, hidden_dim=8, latent_dim=3)
    vae.loss(images(4, 10), generator=seeded()).loss.backward()
    for name, p in vae.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "continuous_bernoulli"])
def test_sample_decodes_prior_draws_to_the_decoder_mean(likelihood):
    torch.manual_seed(7)
    vae = VAE(input_dim=10, hidden_dim=8, latent_dim=3, likelihood=likelihood)
    samples = vae.sample(5, seeded(2))
    z = torch.randn(5, 3, generator=seeded(2))
    output = vae.decode(z)
    expected = {"bernoulli": torch.sigmoid(output),
                "gaussian": output,
                "continuous_bernoulli": ContinuousBernoulli(logits=output).mean}[likelihood]
    torch.testing.assert_close(samples, expected)
    assert not samples.requires_grad
    if likelihood != "gaussian":
        assert ((samples >= 0) & (samples <= 1)).all()


def test_continuous_bernoulli_mean_is_not_the_sigmoid():
    vae = VAE(input_dim=4, hidden_dim=3, latent_dim=2, likelihood="continuous_bernoulli")
    with torch.no_grad():
        vae.decoder[-1].bias.fill_(2.0)
        vae.decoder[-1].weight.zero_()
    mean = vae.decode_mean(torch.zeros(1, 2))
    # mean of CB(lambda) = lambda / (2 lambda - 1) + 1 / (2 artanh(1 - 2 lambda))
    lam = torch.sigmoid(torch.tensor(2.0))
    expected = lam / (2 * lam - 1) + 1 / (2 * torch.atanh(1 - 2 * lam))
    torch.testing.assert_close(mean, expected.expand(1, 4))
    assert not torch.allclose(mean, lam.expand(1, 4))


def test_std_parameterization_gives_nan_log_variance_for_negative_sigma():
    vae = VAE(input_dim=4, hidden_dim=3, latent_dim=2, parameterization="std")
    assert not hasattr(vae, "logvar_head")
    with torch.no_grad():
        vae.std_head.weight.zero_()
        vae.std_head.bias.copy_(torch.tensor([0.5, -0.5]))
    x = images(3, 4)
    mu, logvar = vae.encode(x)
    torch.testing.assert_close(logvar[:, 0], torch.full((3,), 2 * math.log(0.5)))
    assert torch.isnan(logvar[:, 1]).all()
    output, _, _ = vae(x, seeded())
    assert torch.isfinite(output).all()  # the sample itself is finite: only the KL breaks
    with torch.no_grad():
        vae.std_head.bias.zero_()
    assert torch.isneginf(vae.encode(x)[1]).all()  # sigma = 0 gives log(sigma^2) = -inf
    assert torch.isinf(vae.loss(x, generator=seeded()).kl)


def test_std_parameterization_matches_logvar_for_positive_sigma():
    torch.manual_seed(8)
    fragile = VAE(input_dim=6, hidden_dim=5, latent_dim=2, parameterization="std")
    with torch.no_grad():
        fragile.std_head.weight.zero_()
        fragile.std_head.bias.fill_(0.7)
    safe = VAE(input_dim=6, hidden_dim=5, latent_dim=2)
    safe.load_state_dict({k.replace("std_head", "logvar_head"): v for k, v in fragile.state_dict().items()})
    with torch.no_grad():
        safe.logvar_head.bias.fill_(math.log(0.49))
    x = images(3, 6)
    torch.testing.assert_close(fragile.loss(x, generator=seeded(3)), safe.loss(x, generator=seeded(3)))


# --- bad inputs -------------------------------------------------------------------------

BAD_INPUTS = [
    (lambda: VAE()(torch.rand(32, 27, 27)), ValueError,
     r"x must have shape \(batch, 784\) \(or \(batch, ...\) with 784 values per example\), got \(32, 27, 27\)"),
    (lambda: VAE().encode(torch.rand(784)), ValueError,
     r"x must have shape \(batch, 784\), got \(784,\); add a batch dimension"),
    (lambda: Autoencoder()(torch.rand(3, 100)), ValueError, r"got \(3, 100\)"),
    (lambda: LinearAutoencoder(10, 2).encode(torch.ones(2, 10, dtype=torch.int64)), TypeError,
     "x must be a floating-point tensor"),
    (lambda: VAE().loss(torch.full((2, 784), float("nan"))), ValueError, "x contains NaN"),
    (lambda: VAE().decode(torch.zeros(5, 3)), ValueError, r"z must have shape \(batch, 20\), got \(5, 3\)"),
    (lambda: Autoencoder().decode(torch.zeros(20)), ValueError, r"z must have shape \(batch, 20\), got \(20,\)"),
    (lambda: VAE(likelihood="poisson"), ValueError, "likelihood must be 'bernoulli', 'gaussian'"),
    (lambda: VAE(parameterization="sigma"), ValueError, "parameterization must be 'logvar' or 'std'"),
    (lambda: VAE(latent_dim=0), ValueError, "latent_dim must be a positive int, got 0"),
    (lambda: Autoencoder(hidden_dim=2.5), TypeError, "hidden_dim must be a positive int, got float"),
    (lambda: VAE(likelihood="gaussian", decoder_variance=0.0), ValueError, "decoder_variance must be a positive"),
    (lambda: VAE().sample(0), ValueError, "n must be a positive int"),
    (lambda: LinearAutoencoder(10, 2, bias="yes"), TypeError, "bias must be a bool"),
    (lambda: VAE().loss(torch.full((2, 784), 3.0)), ValueError, r"x must lie in \[0, 1\]"),
    (lambda: flatten_batch([1.0, 2.0], 2), TypeError, "x must be a torch.Tensor"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
