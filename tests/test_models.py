"""Tests of vaecourse.models: shapes, architecture, sampling and the loss.

References: torch.distributions, and the layers' affine maps by hand.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch.distributions import (
    Bernoulli,
    ContinuousBernoulli,
    Independent,
    Normal,
    kl_divergence,
)

from vaecourse.models import (
    VAE,
    Autoencoder,
    LinearAutoencoder,
    NaiveStdVAE,
    flatten_batch,
)


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n=6, d=784, seed=0):
    return torch.rand(n, d, generator=seeded(seed))


# --- shapes and architecture -------------------------------------------------


def test_default_sizes_are_those_of_pytorch_examples():
    vae = VAE()
    # fc1 784->400, fc21/fc22 400->20, fc3 20->400, fc4 400->784
    expected = (
        (784 * 400 + 400)
        + 2 * (400 * 20 + 20)
        + (20 * 400 + 400)
        + (400 * 784 + 784)
    )
    assert sum(p.numel() for p in vae.parameters()) == expected
    ae = Autoencoder()
    assert sum(p.numel() for p in ae.parameters()) == expected - (
        400 * 20 + 20
    )


@pytest.mark.parametrize("shape", [(6, 784), (6, 28, 28), (6, 1, 28, 28)])
def test_every_model_accepts_flat_or_image_batches_and_returns_flat_outputs(
    shape,
):
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


def test_autoencoder_returns_logits_and_reconstruct_applies_the_sigmoid():
    torch.manual_seed(1)
    ae = Autoencoder(input_dim=12, hidden_dim=7, latent_dim=3)
    x = images(5, 12)
    logits = ae(x)
    torch.testing.assert_close(logits, ae.decode(ae.encode(x)))
    torch.testing.assert_close(ae.reconstruct(x), torch.sigmoid(logits))
    assert logits.min() < 0  # logits, not probabilities
    # encoder: Linear, ReLU, Linear
    h = torch.relu(x @ ae.encoder[0].weight.T + ae.encoder[0].bias)
    torch.testing.assert_close(
        ae.encode(x), h @ ae.encoder[2].weight.T + ae.encoder[2].bias
    )


def test_linear_autoencoder_is_two_affine_maps():
    torch.manual_seed(2)
    lin = LinearAutoencoder(10, 3)
    x = images(4, 10)
    we, be, wd, bd = (
        lin.encoder.weight,
        lin.encoder.bias,
        lin.decoder.weight,
        lin.decoder.bias,
    )
    torch.testing.assert_close(lin(x), (x @ we.T + be) @ wd.T + bd)
    torch.testing.assert_close(lin.reconstruct(x), lin(x))
    torch.testing.assert_close(lin.decode_mean(lin.encode(x)), lin(x))
    no_bias = LinearAutoencoder(10, 3, bias=False)
    assert no_bias.encoder.bias is None and no_bias.decoder.bias is None
    assert torch.equal(
        no_bias(torch.zeros(1, 10)), torch.zeros(1, 10)
    )  # linear, not affine


def test_linear_vae_has_no_hidden_layer():
    vae = VAE(
        input_dim=5, hidden_dim=None, latent_dim=2, likelihood="gaussian"
    )
    assert isinstance(vae.decoder, torch.nn.Linear)
    x = images(3, 5)
    mu, logvar = vae.encode(x)
    torch.testing.assert_close(mu, x @ vae.mu_head.weight.T + vae.mu_head.bias)
    torch.testing.assert_close(
        logvar, x @ vae.logvar_head.weight.T + vae.logvar_head.bias
    )


# --- the VAE -----------------------------------------------------------------


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


@pytest.mark.parametrize(
    "likelihood", ["bernoulli", "gaussian", "continuous_bernoulli"]
)
def test_loss_is_the_one_sample_negative_elbo(likelihood):
    torch.manual_seed(5)
    vae = VAE(
        input_dim=10,
        hidden_dim=8,
        latent_dim=3,
        likelihood=likelihood,
        decoder_variance=0.3,
    )
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
    torch.testing.assert_close(
        terms.reconstruction, recon, rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(
        terms.loss, recon + 2.0 * kl, rtol=1e-4, atol=1e-4
    )


def test_loss_has_gradients_for_every_parameter():
    torch.manual_seed(6)
    vae = VAE(input_dim=10, hidden_dim=8, latent_dim=3)
    vae.loss(images(4, 10), generator=seeded()).loss.backward()
    for name, p in vae.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "likelihood", ["bernoulli", "gaussian", "continuous_bernoulli"]
)
def test_sample_decodes_prior_draws_to_the_decoder_mean(likelihood):
    torch.manual_seed(7)
    vae = VAE(input_dim=10, hidden_dim=8, latent_dim=3, likelihood=likelihood)
    samples = vae.sample(5, seeded(2))
    z = torch.randn(5, 3, generator=seeded(2))
    output = vae.decode(z)
    expected = {
        "bernoulli": torch.sigmoid(output),
        "gaussian": output,
        "continuous_bernoulli": ContinuousBernoulli(logits=output).mean,
    }[likelihood]
    torch.testing.assert_close(samples, expected)
    assert not samples.requires_grad
    if likelihood != "gaussian":
        assert ((samples >= 0) & (samples <= 1)).all()


def test_continuous_bernoulli_mean_is_not_the_sigmoid():
    vae = VAE(
        input_dim=4,
        hidden_dim=3,
        latent_dim=2,
        likelihood="continuous_bernoulli",
    )
    with torch.no_grad():
        vae.decoder[-1].bias.fill_(2.0)
        vae.decoder[-1].weight.zero_()
    mean = vae.decode_mean(torch.zeros(1, 2))
    # mean of CB(lambda) = lambda / (2 lambda - 1)
    #                      + 1 / (2 artanh(1 - 2 lambda))
    lam = torch.sigmoid(torch.tensor(2.0))
    expected = lam / (2 * lam - 1) + 1 / (2 * torch.atanh(1 - 2 * lam))
    torch.testing.assert_close(mean, expected.expand(1, 4))
    assert not torch.allclose(mean, lam.expand(1, 4))


def test_forward_is_encode_reparameterize_decode_and_reuses_encode():
    # A subclass that changes the encoder changes forward too: forward
    # calls encode rather than repeating it.
    torch.manual_seed(9)
    vae = VAE(input_dim=8, hidden_dim=6, latent_dim=3)
    mu = torch.tensor([[0.5, -1.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0), -2.0]])
    vae.encode = lambda x: (mu, logvar)
    output, mu_out, logvar_out = vae(images(1, 8), seeded(2))
    eps = torch.randn(1, 3, generator=seeded(2))
    z = mu + torch.tensor([[1.0, 2.0, math.exp(-1.0)]]) * eps
    torch.testing.assert_close(output, vae.decode(z))
    assert mu_out is mu and logvar_out is logvar


# --- the naive encoder that predicts sigma (chapter 5) -----------------------


def test_naive_std_vae_gives_nan_log_variance_for_negative_sigma():
    vae = NaiveStdVAE(input_dim=4, hidden_dim=3, latent_dim=2)
    assert not hasattr(vae, "logvar_head")
    with torch.no_grad():
        vae.std_head.weight.zero_()
        vae.std_head.bias.copy_(torch.tensor([0.5, -0.5]))
    x = images(3, 4)
    mu, sigma = vae.encode_std(x)
    torch.testing.assert_close(sigma, torch.tensor([[0.5, -0.5]]).expand(3, 2))
    mu, logvar = vae.encode(x)
    torch.testing.assert_close(
        logvar[:, 0], torch.full((3,), 2 * math.log(0.5))
    )
    assert torch.isnan(logvar[:, 1]).all()
    output, _, logvar_forward = vae(x, seeded())
    # the sample itself is finite: only the KL breaks
    assert torch.isfinite(output).all()
    assert torch.isnan(logvar_forward[:, 1]).all()
    with torch.no_grad():
        vae.std_head.bias.zero_()
    # sigma = 0 gives log(sigma^2) = -inf, whose KL is infinite
    assert torch.isneginf(vae.encode(x)[1]).all()
    with pytest.raises(ValueError, match="logvar must be finite, found -inf"):
        vae.loss(x, generator=seeded())


def test_naive_std_vae_samples_with_sigma_whatever_its_sign():
    vae = NaiveStdVAE(input_dim=4, hidden_dim=3, latent_dim=2)
    with torch.no_grad():
        vae.std_head.weight.zero_()
        vae.std_head.bias.copy_(torch.tensor([0.5, -0.5]))
    x = images(3, 4)
    output, mu, _ = vae(x, seeded(4))
    z = mu + torch.tensor([0.5, -0.5]) * torch.randn(3, 2, generator=seeded(4))
    torch.testing.assert_close(output, vae.decode(z))


def test_naive_std_vae_matches_vae_for_positive_sigma():
    torch.manual_seed(8)
    naive = NaiveStdVAE(input_dim=6, hidden_dim=5, latent_dim=2)
    with torch.no_grad():
        naive.std_head.weight.zero_()
        naive.std_head.bias.fill_(0.7)
    vae = VAE(input_dim=6, hidden_dim=5, latent_dim=2)
    vae.load_state_dict(
        {
            k.replace("std_head", "logvar_head"): v
            for k, v in naive.state_dict().items()
        }
    )
    with torch.no_grad():
        vae.logvar_head.bias.fill_(math.log(0.49))
    x = images(3, 6)
    torch.testing.assert_close(
        naive.loss(x, generator=seeded(3)), vae.loss(x, generator=seeded(3))
    )


def test_naive_std_vae_starts_from_the_same_weights_as_vae():
    # Chapter 5 compares the two from one seed: the sigma head is the
    # log-variance head's layer, read differently.
    torch.manual_seed(0)
    vae = VAE(input_dim=6, hidden_dim=5, latent_dim=2)
    torch.manual_seed(0)
    naive = NaiveStdVAE(input_dim=6, hidden_dim=5, latent_dim=2)
    renamed = {
        k.replace("logvar_head", "std_head"): v
        for k, v in vae.state_dict().items()
    }
    assert renamed.keys() == naive.state_dict().keys()
    for name, value in naive.state_dict().items():
        assert torch.equal(value, renamed[name]), name


# --- dtypes, empty batches, generators ---------------------------------------


def test_float64_data_into_a_float32_model_names_both_dtypes_and_the_fix():
    # torch.from_numpy(digits / 16.0) is float64; the models are float32.
    x = torch.from_numpy(np.random.default_rng(0).random((3, 12)))
    message = re.escape(
        "x has dtype torch.float64 but the model's weights have dtype "
        "torch.float32: convert the data with x.to(torch.float32)"
    )
    calls = [
        lambda: Autoencoder(12, 6, 2)(x),
        lambda: LinearAutoencoder(12, 2).encode(x),
        lambda: VAE(12, 6, 2)(x),
        lambda: VAE(12, 6, 2).encode(x),
        lambda: VAE(12, 6, 2).loss(x),
    ]
    for call in calls:
        with pytest.raises(TypeError, match=message):
            call()
    with pytest.raises(TypeError, match="z has dtype torch.float64"):
        VAE(12, 6, 2).decode(torch.zeros(1, 2, dtype=torch.float64))
    # converted either way, it works
    assert VAE(12, 6, 2)(x.float())[0].dtype == torch.float32
    double = VAE(12, 6, 2).double()
    assert double(x)[0].dtype == torch.float64
    assert double.sample(2).dtype == torch.float64


def test_an_empty_batch_is_refused_by_the_loss_not_averaged_to_nan():
    with pytest.raises(ValueError, match=r"x must hold at least one example"):
        VAE(8, 6, 2).loss(torch.zeros(0, 8))


def test_integers_of_any_kind_are_sizes():
    vae = VAE(np.int64(8), torch.tensor(6), 2)
    assert (vae.input_dim, vae.hidden_dim) == (8, 6)
    assert type(vae.input_dim) is int and type(vae.hidden_dim) is int
    assert (
        VAE(
            8, 6, 2, likelihood="gaussian", decoder_variance=np.float32(0.5)
        ).decoder_variance
        == 0.5
    )


# --- bad inputs --------------------------------------------------------------

BAD_INPUTS = [
    (
        lambda: VAE()(torch.rand(32, 27, 27)),
        ValueError,
        r"x must have shape \(batch, 784\) \(or \(batch, ...\) with 784 "
        r"values "
        r"per example\), got \(32, 27, 27\)",
    ),
    (
        lambda: VAE().encode(torch.rand(784)),
        ValueError,
        r"x must have shape \(batch, 784\), got \(784,\); "
        r"add a batch dimension",
    ),
    (
        lambda: Autoencoder()(torch.rand(3, 100)),
        ValueError,
        r"x must have shape \(batch, 784\) .*got \(3, 100\)",
    ),
    (
        lambda: LinearAutoencoder(10, 2).encode(
            torch.ones(2, 10, dtype=torch.int64)
        ),
        TypeError,
        "x must be a floating-point tensor",
    ),
    (
        lambda: VAE().loss(torch.full((2, 784), float("nan"))),
        ValueError,
        "x contains NaN",
    ),
    (
        lambda: VAE().loss(torch.zeros(0, 784)),
        ValueError,
        r"x must hold at least one example, got a batch of size 0",
    ),
    (
        lambda: VAE(8, 4, 2)(torch.rand(2, 8, dtype=torch.float64)),
        TypeError,
        r"x has dtype torch.float64 but the model's weights have dtype "
        r"torch.float32: convert the data with x.to\(torch.float32\)",
    ),
    (
        lambda: VAE().decode(torch.zeros(5, 3)),
        ValueError,
        r"z must have shape \(batch, 20\), got \(5, 3\)",
    ),
    (
        lambda: Autoencoder().decode(torch.zeros(20)),
        ValueError,
        r"z must have shape \(batch, 20\), got \(20,\)",
    ),
    (
        lambda: VAE(likelihood="poisson"),
        ValueError,
        "likelihood must be 'bernoulli', 'gaussian' or "
        "'continuous_bernoulli', "
        "got 'poisson'",
    ),
    (
        lambda: VAE(latent_dim=0),
        ValueError,
        "latent_dim must be at least 1, got 0",
    ),
    (
        lambda: VAE(input_dim=True),
        TypeError,
        "input_dim must be an integer, got bool",
    ),
    (
        lambda: Autoencoder(hidden_dim=2.5),
        TypeError,
        "hidden_dim must be an integer, got float 2.5",
    ),
    (
        lambda: LinearAutoencoder(10, "2"),
        TypeError,
        "latent_dim must be an integer, got str",
    ),
    (
        lambda: VAE(likelihood="gaussian", decoder_variance=0.0),
        ValueError,
        "decoder_variance must be positive, got 0.0",
    ),
    (
        lambda: VAE(likelihood="gaussian", decoder_variance=float("inf")),
        ValueError,
        "decoder_variance must be finite, got inf",
    ),
    (
        lambda: VAE(decoder_variance="1"),
        TypeError,
        "decoder_variance must be a real number, got str",
    ),
    (lambda: VAE().sample(0), ValueError, "n must be at least 1, got 0"),
    (lambda: VAE().sample(2.0), TypeError, "n must be an integer, got float"),
    (
        lambda: VAE().sample(2, generator=0),
        TypeError,
        r"generator must be a torch.Generator or None, got int 0; "
        r"for a seed s, "
        r"pass torch.Generator\(\).manual_seed\(s\)",
    ),
    (
        lambda: VAE(8, 4, 2)(torch.rand(2, 8), 0),
        TypeError,
        "generator must be a torch.Generator or None, got int 0",
    ),
    (
        lambda: VAE(8, 4, 2).loss(torch.rand(2, 8), generator=1),
        TypeError,
        "generator must be a torch.Generator or None, got int 1",
    ),
    (
        lambda: LinearAutoencoder(10, 2, bias="yes"),
        TypeError,
        "bias must be a bool",
    ),
    (
        lambda: VAE().loss(torch.full((2, 784), 3.0)),
        ValueError,
        r"x must lie in \[0, 1\]",
    ),
    (
        lambda: flatten_batch([1.0, 2.0], 2),
        TypeError,
        "x must be a torch.Tensor",
    ),
]


@pytest.mark.parametrize(
    "call, error, message",
    BAD_INPUTS,
    ids=[message for _, _, message in BAD_INPUTS],
)
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
