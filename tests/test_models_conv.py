"""Tests of vaecourse.models.ConvVAE, the conv VAE of Part III.

References: the negative ELBO of torch.distributions; layers made by hand
in the same order after the same seed; the parameter names and shapes of
the RGB model as the shipped files ``darla_*`` hold them (typed from the
model as it was before ConvVAE took ``channels``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bad_inputs import raises, table
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


def images(n, size, seed=0, channels=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, channels, size, size, generator=g) > 0.7).float()


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


@pytest.mark.parametrize("channels", [1, 3])
def test_loss_is_the_negative_elbo_of_torch_distributions(channels):
    model = conv_vae(32, channels=channels)
    x = images(6, 32, channels=channels)
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


# -- channels -----------------------------------------------------------------

# The parameters of vaecourse.darla.ColourConvVAE(latent_dim=10) before it
# became ConvVAE(32, channels=3): names and shapes, in order.
RGB_PARAMETERS = [
    ("convolutions.0.weight", (32, 3, 4, 4)),
    ("convolutions.0.bias", (32,)),
    ("convolutions.2.weight", (64, 32, 4, 4)),
    ("convolutions.2.bias", (64,)),
    ("convolutions.4.weight", (64, 64, 4, 4)),
    ("convolutions.4.bias", (64,)),
    ("encoder_body.1.weight", (256, 1024)),
    ("encoder_body.1.bias", (256,)),
    ("mu_head.weight", (10, 256)),
    ("mu_head.bias", (10,)),
    ("logvar_head.weight", (10, 256)),
    ("logvar_head.bias", (10,)),
    ("decoder.0.weight", (256, 10)),
    ("decoder.0.bias", (256,)),
    ("decoder.2.weight", (1024, 256)),
    ("decoder.2.bias", (1024,)),
    ("decoder.5.weight", (64, 64, 4, 4)),
    ("decoder.5.bias", (64,)),
    ("decoder.7.weight", (64, 32, 4, 4)),
    ("decoder.7.bias", (32,)),
    ("decoder.9.weight", (32, 3, 4, 4)),
    ("decoder.9.bias", (3,)),
]
WEIGHTS = Path(__file__).resolve().parents[1] / "vaecourse" / "weights"


def shapes(model):
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def test_three_channels_read_and_write_rgb_images():
    model = conv_vae(32, channels=3)
    assert (model.channels, model.image_size) == (3, 32)
    assert model.input_dim == 3 * 32 * 32
    x = images(4, 32, channels=3)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (4, 10)
    output, _, _ = model(x, torch.Generator().manual_seed(0))
    assert output.shape == (4, 3072)
    assert model.decode_mean(mu).shape == (4, 3072)
    assert model.sample(2, torch.Generator().manual_seed(1)).shape == (2, 3072)
    # Flat images are channels first, then rows: the same code.
    torch.testing.assert_close(model.encode(x.reshape(4, -1))[0], mu)
    # The first convolution reads 3 channels, the last transposed one
    # writes 3; every other layer is the grey model's.
    grey = conv_vae(32)
    for (name, shape), (grey_name, grey_shape) in zip(
        shapes(model), shapes(grey), strict=True
    ):
        assert name == grey_name
        if name in ("convolutions.0.weight", "decoder.9.weight"):
            assert shape[1] == 3 and grey_shape[1] == 1, name
            assert shape[0] == grey_shape[0] and shape[2:] == grey_shape[2:]
        elif name == "decoder.9.bias":
            assert (shape, grey_shape) == ((3,), (1,))
        else:
            assert shape == grey_shape, name


def test_three_channels_keep_the_parameters_of_the_shipped_rgb_files():
    assert shapes(conv_vae(32, channels=3)) == RGB_PARAMETERS
    load_file = pytest.importorskip("safetensors.torch").load_file
    for name in ("darla_vae_beta1", "darla_vae_beta4", "darla_vae_dae"):
        stored = load_file(WEIGHTS / f"{name}.safetensors")
        assert {k: tuple(v.shape) for k, v in stored.items()} == dict(
            RGB_PARAMETERS
        ), name
        # strict: no parameter missing, none left over
        conv_vae(32, channels=3).load_state_dict(stored, strict=True)


@pytest.mark.parametrize("channels", [1, 3])
def test_seeded_layers_are_drawn_as_if_made_by_hand(channels):
    # The VAE constructor makes no layer of its own before the
    # convolutions: after the same seed, the first convolution and the
    # dense layer are the ones made by hand in the same order.
    model = conv_vae(32, channels=channels, channels_last=False)
    set_seed(0)
    first = torch.nn.Conv2d(channels, 32, 4, 2, 1)
    second = torch.nn.Conv2d(32, 64, 4, 2, 1)
    third = torch.nn.Conv2d(64, 64, 4, 2, 1)
    dense = torch.nn.Linear(64 * 4 * 4, 256)
    convs = [m for m in model.convolutions if isinstance(m, torch.nn.Conv2d)]
    for mine, theirs in zip(convs, [first, second, third], strict=True):
        torch.testing.assert_close(mine.weight, theirs.weight, rtol=0, atol=0)
    torch.testing.assert_close(
        model.encoder_body[1].weight, dense.weight, rtol=0, atol=0
    )


def test_the_vae_constructor_checks_and_records_the_sizes(monkeypatch):
    calls = []
    real = VAE.__init__

    def spy(self, *args, **kwargs):
        calls.append(type(self))
        real(self, *args, **kwargs)

    monkeypatch.setattr(VAE, "__init__", spy)
    model = ConvVAE(32, 4, channels=3)
    assert calls == [ConvVAE]
    assert model.hidden_dim == 256 and model.latent_dim == 4
    assert model.likelihood == "bernoulli" and model.returns_logits
    assert model.decoder_variance == 1.0


BAD = [
    (lambda: ConvVAE(48), ValueError, "image_size must be 64 or 32, got 48"),
    (lambda: ConvVAE("32"), TypeError, "image_size must be an integer"),
    (lambda: ConvVAE(64, 0), ValueError, "latent_dim must be at least 1"),
    (
        lambda: ConvVAE(64, channels_last=1),
        TypeError,
        "channels_last must be True or False, got int 1",
    ),
    (
        lambda: ConvVAE(32, channels=0),
        ValueError,
        "channels must be at least 1, got 0",
    ),
    (
        lambda: ConvVAE(32, channels=3.0),
        TypeError,
        "channels must be an integer, got float 3.0",
    ),
    (
        lambda: conv_vae(64).encode(images(2, 32)),
        ValueError,
        "x must hold 64x64 images: shape (batch, 1, 64, 64), "
        "(batch, 64, 64) or (batch, 4096), got (2, 1, 32, 32)",
    ),
    (
        lambda: conv_vae(32).loss(images(2, 64)),
        ValueError,
        "x must hold 32x32 images",
    ),
    (
        lambda: conv_vae(32, channels=3).encode(images(2, 32)),
        ValueError,
        "x must hold 3x32x32 images: shape (batch, 3, 32, 32) or "
        "(batch, 3072), got (2, 1, 32, 32)",
    ),
    (
        # Without a channel axis only a grey image is accepted.
        lambda: conv_vae(32, channels=3).encode(torch.zeros(2, 32, 32)),
        ValueError,
        "x must hold 3x32x32 images",
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
        "z must have shape (batch, 10)",
    ),
    (
        lambda: conv_vae(32).loss(images(2, 32) * 2),
        ValueError,
        "x must lie in [0, 1]",
    ),
    (
        lambda: conv_vae(32, channels=3).loss(images(2, 32, channels=3) * 2),
        ValueError,
        "x must lie in [0, 1]",
    ),
]


@table(BAD)
def test_bad_inputs_name_the_problem(call, error, message):
    raises(call, error, message)
