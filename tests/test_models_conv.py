"""Tests of vaecourse.models.ConvVAE, the conv VAE of Part III."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Independent,
    Normal,
    kl_divergence,
)

from vaecourse.models import VAE, ConvVAE
from vaecourse.train import set_seed, train_vae


def conv_vae(image_size=32, **kwargs):
    set_seed(0)
    return ConvVAE(image_size, **kwargs)


def images(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, size, size, generator=g) > 0.7).float()


@pytest.mark.parametrize("size, convs", [(64, 4), (32, 3)])
def test_shapes_and_the_burgess_architecture(size, convs):
    model = conv_vae(size)
    x = images(3, size)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 10)
    output, mu2, _ = model(x, torch.Generator().manual_seed(0))
    assert output.shape == (3, size * size)
    torch.testing.assert_close(mu, mu2)
    assert model.decode(mu).shape == (3, size * size)
    samples = model.sample(4, torch.Generator().manual_seed(1))
    assert samples.shape == (4, size * size)
    assert ((samples >= 0) & (samples <= 1)).all()
    # every accepted layout gives the same code
    for layout in (x[:, 0], x.reshape(3, -1)):
        torch.testing.assert_close(model.encode(layout)[0], mu)
    # 4x4 kernels, stride 2: each convolution halves the side, to 4 x 4
    conv = [m for m in model.convolutions if isinstance(m, torch.nn.Conv2d)]
    filters = [32, 32, 64, 64] if size == 64 else [32, 64, 64]
    assert [c.out_channels for c in conv] == filters and len(conv) == convs
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in conv)
    assert model.convolutions(x).shape == (3, 64, 4, 4)
    dense = [m for m in model.encoder_body if isinstance(m, torch.nn.Linear)]
    assert [d.out_features for d in dense] == [256]
    deconv = [
        m for m in model.decoder if isinstance(m, torch.nn.ConvTranspose2d)
    ]
    assert [d.out_channels for d in deconv] == [*filters[::-1][1:], 1]


def test_loss_is_the_negative_elbo_of_torch_distributions():
    model = conv_vae(32)
    x = images(6, 32)
    terms = model.loss(x, beta=3.0, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))
        logits = model.decode(mu + std * eps)
        recon = -Independent(Bernoulli(logits=logits), 1).log_prob(
            x.reshape(6, -1)
        )
        kl = kl_divergence(
            Independent(Normal(mu, std), 1),
            Independent(Normal(torch.zeros_like(mu), 1.0), 1),
        )
    torch.testing.assert_close(
        terms.reconstruction.detach(), recon.mean(), rtol=1e-5, atol=1e-3
    )
    torch.testing.assert_close(
        terms.kl.detach(), kl.mean(), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        terms.loss.detach(), (recon + 3.0 * kl).mean(), rtol=1e-5, atol=1e-3
    )
    # the same function as the MLP VAE's loss: VAE.loss on the same outputs
    assert isinstance(model, VAE)
    mlp = VAE.loss(
        model, x, beta=3.0, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(tuple(mlp), tuple(terms))


def test_channels_last_gives_the_same_numbers():
    plain = conv_vae(32, channels_last=False)
    fast = conv_vae(32)  # the default
    assert fast.channels_last
    x = images(4, 32)
    a = plain.loss(x, generator=torch.Generator().manual_seed(0))
    b = fast.loss(x, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(tuple(a), tuple(b), rtol=1e-5, atol=1e-3)


def test_train_vae_trains_it_deterministically():
    data = images(24, 32)
    runs = []
    for _ in range(2):
        model = conv_vae(32)
        history = train_vae(
            model, data[:16], data[16:], epochs=2, batch_size=8, lr=1e-3
        )
        runs.append(history)
    assert runs[0] == runs[1]
    assert runs[0].train_loss[-1] < runs[0].train_loss[0]


BAD = [
    (lambda: ConvVAE(48), ValueError, "image_size must be 64 or 32, got 48"),
    (lambda: ConvVAE(64, 0), ValueError, "latent_dim must be at least 1"),
    (
        lambda: ConvVAE(64, channels_last=1),
        TypeError,
        "channels_last must be a bool, got int",
    ),
    (
        lambda: conv_vae(64).encode(images(2, 32)),
        ValueError,
        r"x must hold 64x64 images: shape \(batch, 1, 64, 64\), "
        r"\(batch, 64, 64\) or \(batch, 4096\), got \(2, 1, 32, 32\)",
    ),
    (
        lambda: conv_vae(32).loss(images(2, 64)),
        ValueError,
        r"x must hold 32x32 images",
    ),
    (
        lambda: conv_vae(32).encode(images(2, 32).double()),
        TypeError,
        "x has dtype torch.float64",
    ),
    (
        lambda: conv_vae(32).encode(images(2, 32) * float("nan")),
        ValueError,
        "x contains NaN",
    ),
    (
        lambda: conv_vae(32).decode(torch.zeros(2, 3)),
        ValueError,
        r"z must have shape \(batch, 10\)",
    ),
    (
        lambda: conv_vae(32).loss(images(2, 32) * 2),
        ValueError,
        r"x must lie in \[0, 1\]",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", BAD, ids=[message for _, _, message in BAD]
)
def test_bad_inputs_name_the_problem(call, error, message):
    with pytest.raises(error, match=message):
        call()
