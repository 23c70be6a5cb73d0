"""Tests of vaecourse.darla: domains, the DAE, β-VAE_DAE, training, probes.

References: palettes typed by hand from the HSV colour wheel; sprites
averaged by hand from :mod:`vaecourse.sprites`; losses computed by hand
and with ``torch.distributions``; least squares with NumPy; spies on the
sampler to see every batch the trainers draw.
"""

from __future__ import annotations

import copy
import inspect
import math
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from vaecourse import darla, sprites

# Full saturation and value at hues 0, 90, 180, 270 and 45, 135, 225, 315.
SOURCE = np.array([[1, 0, 0], [0.5, 1, 0], [0, 1, 1], [0.5, 0, 1]])
TARGET = np.array([[1, 0.75, 0], [0, 1, 0.25], [0, 0.25, 1], [1, 0, 0.75]])
PALETTES = {"source": SOURCE, "target": TARGET}


def foreground(images: torch.Tensor) -> np.ndarray:
    """The one colour of each image, from its lit pixels, ``(N, 3)``.

    A pixel is coverage x colour and every colour has a channel at 1, so
    a lit pixel divided by its largest channel is the colour.
    """
    x = images.reshape(-1, 3, 32 * 32).permute(0, 2, 1).double().numpy()
    colours = []
    for pixels in x:
        peak = pixels.max(1)
        lit = pixels[peak > 0] / peak[peak > 0, None]
        assert len(lit) > 0, "an image without a sprite"
        # All lit pixels of one image have the same colour.
        np.testing.assert_allclose(lit, lit[:1].repeat(len(lit), 0), atol=1e-6)
        colours.append(lit[0])
    return np.array(colours)


def palette_index(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index in ``palette`` of each colour; -1 where it is not there."""
    distance = np.abs(colours[:, None, :] - palette[None, :, :]).max(-1)
    index = distance.argmin(1)
    return np.where(distance.min(1) < 1e-6, index, -1)


# -- domains ------------------------------------------------------------------


def test_palettes_are_the_stated_hues_and_disjoint():
    np.testing.assert_allclose(darla.palette("source"), SOURCE, atol=1e-7)
    np.testing.assert_allclose(darla.palette("target"), TARGET, atol=1e-7)
    np.testing.assert_allclose(darla.SOURCE_COLOURS, SOURCE, atol=1e-7)
    np.testing.assert_allclose(darla.TARGET_COLOURS, TARGET, atol=1e-7)
    source, target = darla.palette("source"), darla.palette("target")
    # No target colour is a source colour, or even close to one.
    gap = np.abs(source[:, None, :] - target[None, :, :]).max(-1)
    assert gap.min() >= 0.5
    assert not set(darla.SOURCE_HUES) & set(darla.TARGET_HUES)


def test_colourise_hand_case():
    coverage = torch.zeros(2, 1024)
    coverage[0, 0], coverage[0, 5] = 1.0, 0.25
    coverage[1, 1023] = 0.5
    rgb = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.25, 1.0]])
    x = darla.colourise(coverage, rgb).reshape(2, 3, 1024)
    expected = torch.zeros(2, 3, 1024)
    expected[0, :, 0] = torch.tensor([1.0, 0.5, 0.0])
    expected[0, :, 5] = torch.tensor([0.25, 0.125, 0.0])
    expected[1, :, 1023] = torch.tensor([0.0, 0.125, 0.5])
    torch.testing.assert_close(x, expected, rtol=0, atol=0)


def test_coloured_images_are_averaged_sprites_times_their_colour():
    classes = sprites.sample_factors(20, seed=3)
    colours = np.arange(20) % 4
    for domain, palette in PALETTES.items():
        x = darla.coloured_sprite_images(classes, colours, domain)
        assert x.shape == (20, 3072) and x.dtype == torch.float32
        big = sprites.DrawnSprites().images(sprites.factors_to_index(classes))
        small = big.reshape(20, 32, 2, 32, 2).mean(axis=(2, 4))
        expected = palette[colours][:, :, None, None] * small[:, None]
        np.testing.assert_allclose(
            x.numpy(), expected.reshape(20, 3072), rtol=0, atol=1e-7
        )


@pytest.mark.parametrize("domain", ["source", "target"])
def test_sampler_draws_only_from_its_domain(domain):
    batch = darla.sample_sprites(400, domain, 7)
    assert batch.domain == domain
    assert batch.images.shape == (400, 3072)
    assert 0.0 <= batch.images.min() and batch.images.max() <= 1.0
    colours = foreground(batch.images)
    index = palette_index(colours, PALETTES[domain])
    np.testing.assert_array_equal(index, batch.colours)
    other = "target" if domain == "source" else "source"
    assert (palette_index(colours, PALETTES[other]) == -1).all()
    # Every colour of the domain shows up; factors cover the grid.
    assert set(batch.colours) == {0, 1, 2, 3}
    assert (batch.classes.max(0) < np.array(sprites.FACTOR_SIZES)).all()
    assert len(set(batch.classes[:, 1])) == 3


def test_sampler_is_seeded():
    a = darla.sample_sprites(8, "source", 5)
    b = darla.sample_sprites(8, "source", np.random.default_rng(5))
    c = darla.sample_sprites(8, "source", 6)
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    assert not torch.equal(a.images, c.images)


# -- models and noise ---------------------------------------------------------


def test_models_take_rgb_images():
    torch.manual_seed(0)
    vae, dae = darla.ColourConvVAE(latent_dim=6), darla.DenoisingAutoencoder()
    x = darla.sample_sprites(4, "source", 0).images
    for batch in (x, x.reshape(4, 3, 32, 32)):
        mu, logvar = vae.encode(batch)
        assert mu.shape == logvar.shape == (4, 6)
        assert vae(batch)[0].shape == (4, 3072)
        assert dae(batch).shape == (4, 3072)
    probs = vae.decode_mean(mu)
    assert probs.shape == (4, 3072) and 0 <= probs.min() <= probs.max() <= 1


def test_mask_pixels_masks_whole_pixels_at_the_rate():
    x = torch.rand(200, 3072) + 0.5  # no zeros before masking
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(darla.mask_pixels(x, 0.0, g), x)
    assert (darla.mask_pixels(x, 1.0, g) == 0).all()
    masked = darla.mask_pixels(x, 0.3, g).reshape(200, 3, 1024) == 0
    # The three channels of a pixel are masked together.
    assert (masked.all(1) == masked.any(1)).all()
    rate = masked[:, 0].double().mean().item()
    se = math.sqrt(0.3 * 0.7 / (200 * 1024))
    assert abs(rate - 0.3) < 5 * se
    a = darla.mask_pixels(x, 0.3, torch.Generator().manual_seed(1))
    b = darla.mask_pixels(x, 0.3, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    # Unmasked values are untouched.
    assert torch.equal(a[a != 0], x[a != 0])


def bernoulli_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """-[x log p + (1 - x) log(1 - p)], p = sigmoid(logits), per example.

    Summed over values; grey x in [0, 1] allowed (the cross-entropy).
    """
    p_log = torch.nn.functional.logsigmoid(logits)
    q_log = torch.nn.functional.logsigmoid(-logits)
    return -(x * p_log + (1 - x) * q_log).sum(1)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_dae_step_reconstructs_clean_images_from_masked_ones(fraction):
    torch.manual_seed(0)
    dae = darla.DenoisingAutoencoder()
    # Grey values everywhere, so that J(x) and J(0) differ clearly.
    x = torch.rand(8, 3072, generator=torch.Generator().manual_seed(1))
    seen = x if fraction == 0.0 else torch.zeros_like(x)
    with torch.no_grad():
        expected = bernoulli_nll(x, dae(seen)).mean()
    optimizer = torch.optim.SGD(dae.parameters(), lr=0.0)
    loss = darla.dae_step(dae, optimizer, x, mask_fraction=fraction)
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-5)


# -- objectives ---------------------------------------------------------------


def frozen_linear() -> nn.Linear:
    j = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        j.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, 0.0]]))
    return darla.freeze(j)


def test_beta_vae_dae_loss_tiny_hand_case():
    # J(v) = (v1 + v2, 2 v1). Example 1: J(x) = (1, 2), J(x_hat) =
    # (0.5, 1), distance 0.25 + 1; KL of N(1, 1) is 1/2. Example 2:
    # J(x) = (1, 0), J(x_hat) = (0, 0), distance 1; KL of N(0, 2) is
    # (1 - log 2) / 2. Means over the batch: 1.125 and the KLs' mean.
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x_hat = torch.tensor([[0.5, 0.0], [0.0, 0.0]])
    mu = torch.tensor([[1.0], [0.0]])
    logvar = torch.tensor([[0.0], [math.log(2.0)]])
    terms = darla.beta_vae_dae_loss(
        x, x_hat, mu, logvar, frozen_linear(), beta=2.0
    )
    kl = (0.5 + (1 - math.log(2.0)) / 2) / 2
    assert terms.reconstruction.item() == pytest.approx(1.125, abs=1e-6)
    assert terms.kl.item() == pytest.approx(kl, abs=1e-6)
    assert terms.objective.item() == pytest.approx(1.125 + 2 * kl, abs=1e-6)


def test_identity_dae_gives_the_pixel_l2_loss():
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(5, 12, generator=g), torch.rand(5, 12, generator=g)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    terms = darla.beta_vae_dae_loss(
        x, x_hat, mu, logvar, nn.Identity(), beta=3.5
    )
    l2 = ((x - x_hat) ** 2).sum(1).mean()
    q = Normal(mu, (0.5 * logvar).exp())
    kl = kl_divergence(q, Normal(0.0, 1.0)).sum(1).mean()
    torch.testing.assert_close(terms.reconstruction, l2)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.objective, l2 + 3.5 * kl)


def reference_terms(model, x, seed, objective, beta, j=None):
    """The step's objective by hand: z = mu + sigma eps, eps from seed."""
    with torch.no_grad():
        mu, logvar = model.encode(x)
        eps = torch.randn(
            mu.shape, generator=torch.Generator().manual_seed(seed)
        )
        logits = model.decode(mu + (0.5 * logvar).exp() * eps)
        kl = kl_divergence(
            Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)
        ).sum(1)
        if objective == "bernoulli":
            rec = bernoulli_nll(x, logits)
        else:
            j = j or (lambda v: v)
            rec = ((j(torch.sigmoid(logits)) - j(x)) ** 2).sum(1)
    return rec.mean() + beta * kl.mean(), rec.mean(), kl.mean()


@pytest.mark.parametrize("objective", ["bernoulli", "l2", "dae"])
def test_step_minimises_the_stated_objective(objective):
    torch.manual_seed(0)
    model = darla.ColourConvVAE(latent_dim=4)
    j = darla.freeze(darla.DenoisingAutoencoder())
    dae = j if objective == "dae" else None
    x = darla.sample_sprites(6, "source", 2).images
    # A large beta: the KL of a fresh encoder is small.
    expected = reference_terms(model, x, 11, objective, 300.0, dae)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    terms = darla.darla_vae_step(
        model,
        optimizer,
        x,
        objective=objective,
        beta=300.0,
        dae=dae,
        generator=torch.Generator().manual_seed(11),
    )
    for got, want in zip(terms, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    assert expected[2] > 1e-3
    torch.testing.assert_close(
        terms.objective - terms.reconstruction,
        300.0 * expected[2],
        rtol=1e-3,
        atol=0.0,
    )


def test_dae_stays_frozen_while_the_vae_learns():
    torch.manual_seed(0)
    model = darla.ColourConvVAE(latent_dim=4)
    dae = darla.freeze(darla.DenoisingAutoencoder())
    dae_before = copy.deepcopy(dae.state_dict())
    vae_before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = darla.sample_sprites(8, "source", 3).images
    darla.darla_vae_step(
        model, optimizer, x, objective="dae", beta=1.0, dae=dae
    )
    for name, value in dae.state_dict().items():
        assert torch.equal(value, dae_before[name]), name
    assert all(p.grad is None for p in dae.parameters())
    assert not dae.training
    # Every tensor of the VAE moved, the decoder's through J.
    for name, value in model.state_dict().items():
        assert not torch.equal(value, vae_before[name]), name
    assert all(p.grad is not None for p in model.parameters())
    # The same over a short training run.
    darla.train_darla_vae(
        model, objective="dae", dae=dae, steps=2, batch_size=4
    )
    for name, value in dae.state_dict().items():
        assert torch.equal(value, dae_before[name]), name
    assert all(p.grad is None for p in dae.parameters())


# -- training -----------------------------------------------------------------


@pytest.fixture
def spy(monkeypatch):
    """Record every batch drawn through darla.sample_sprites."""
    batches = []
    real = darla.sample_sprites

    def sample(*args, **kwargs):
        batch = real(*args, **kwargs)
        batches.append(batch)
        return batch

    monkeypatch.setattr(darla, "sample_sprites", sample)
    return batches


def assert_all_source(batches):
    for batch in batches:
        assert batch.domain == "source"
        index = palette_index(foreground(batch.images), SOURCE)
        assert (index >= 0).all()
        assert (palette_index(foreground(batch.images), TARGET) == -1).all()


def test_trainers_only_ever_see_source_images(spy):
    torch.manual_seed(0)
    dae = darla.DenoisingAutoencoder()
    darla.train_dae(dae, steps=3, batch_size=8)
    assert len(spy) == 3
    darla.freeze(dae)
    for objective in darla.OBJECTIVES:
        model = darla.ColourConvVAE(latent_dim=4)
        darla.train_darla_vae(
            model,
            objective=objective,
            dae=dae if objective == "dae" else None,
            steps=2,
            batch_size=8,
        )
    assert len(spy) == 3 + 2 * len(darla.OBJECTIVES)
    assert_all_source(spy)
    # No trainer takes images or a domain: there is no way to pass target
    # data in.
    for trainer in (darla.train_dae, darla.train_darla_vae):
        names = set(inspect.signature(trainer).parameters)
        assert not names & {"x", "data", "images", "domain", "dataset"}


def test_transfer_fits_probes_on_source_images_only(spy, monkeypatch):
    fitted = []
    real_fit = darla.fit_probes

    def fit(codes, factors):
        fitted.append(np.asarray(codes))
        return real_fit(codes, factors)

    monkeypatch.setattr(darla, "fit_probes", fit)
    torch.manual_seed(0)
    model = darla.ColourConvVAE(latent_dim=4).eval()
    scores = darla.transfer_scores(model, n_train=60, n_test=40)
    assert set(scores) == {"source", "target"}
    assert set(scores["source"]) == set(darla.PROBED_FACTORS)
    assert [b.domain for b in spy] == ["source", "source", "target"]
    assert len(fitted) == 1
    train = spy[0]
    assert_all_source([train])
    np.testing.assert_array_equal(
        fitted[0], darla.encoder_means(model, train.images)
    )
    # The target set really is in the target colours.
    assert (palette_index(foreground(spy[2].images), TARGET) >= 0).all()


def test_training_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    start = darla.ColourConvVAE(latent_dim=4)
    dae = darla.DenoisingAutoencoder()
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    runs = []
    for _ in range(2):
        model, j = copy.deepcopy(start), copy.deepcopy(dae)
        dae_curves = darla.train_dae(j, steps=2, batch_size=4, seed=3)
        curves = darla.train_darla_vae(
            model,
            objective="dae",
            dae=darla.freeze(j),
            steps=2,
            batch_size=4,
            seed=3,
            log_every=1,
        )
        runs.append((model.state_dict(), dae_curves, curves))
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    (a, dae_a, curves_a), (b, dae_b, curves_b) = runs
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert dae_a == dae_b and curves_a == curves_b
    assert curves_a.step == [1, 2] and len(dae_a.objective) == 1


# -- probes -------------------------------------------------------------------


def grid_factors(n: int, seed: int) -> np.ndarray:
    return sprites.sample_factors(n, seed=seed)[:, 1:]


def test_probes_on_the_factors_score_one_and_on_noise_chance():
    train, test = grid_factors(3000, 1), grid_factors(2000, 2)
    scores = darla.probe_scores(train, train, test, test)
    assert scores["shape"] >= 0.99
    for name in darla.PROBED_FACTORS[1:]:
        assert scores[name] == pytest.approx(1.0, abs=1e-9), name
    rng = np.random.default_rng(0)
    noise = darla.probe_scores(
        rng.normal(size=(3000, 10)), train, rng.normal(size=(2000, 10)), test
    )
    assert abs(noise["shape"] - 1 / 3) < 0.05
    for name in darla.PROBED_FACTORS[1:]:
        assert -0.02 < noise[name] < 0.01, name


def test_probe_r2_matches_least_squares_by_hand():
    rng = np.random.default_rng(1)
    train, test = grid_factors(500, 3), grid_factors(300, 4)
    mix = rng.normal(size=(5, 7))

    def codes(factors):
        values = sprites.factor_values(
            np.concatenate([np.zeros((len(factors), 1), int), factors], 1)
        )[:, 1:]
        return values @ mix + rng.normal(scale=0.3, size=(len(factors), 7))

    train_codes, test_codes = codes(train), codes(test)
    scores = darla.probe_scores(train_codes, train, test_codes, test)
    design = np.c_[np.ones(len(train)), train_codes]
    test_design = np.c_[np.ones(len(test)), test_codes]
    for k, name in enumerate(darla.PROBED_FACTORS[1:], start=1):
        y = sprites.FACTOR_VALUES[k + 1][train[:, k]]
        y_test = sprites.FACTOR_VALUES[k + 1][test[:, k]]
        w = np.linalg.lstsq(design, y, rcond=None)[0]
        residual = ((y_test - test_design @ w) ** 2).sum()
        r2 = 1 - residual / ((y_test - y_test.mean()) ** 2).sum()
        assert scores[name] == pytest.approx(r2, abs=1e-8), name


# -- bad inputs ---------------------------------------------------------------


def _vae():
    return darla.ColourConvVAE(latent_dim=2)


def _step(**kwargs):
    model = _vae()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    x = torch.zeros(2, 3072)
    options = {"objective": "bernoulli"} | kwargs
    return darla.darla_vae_step(model, optimizer, x, **options)


def _loss(dae, beta=1.0, mu=None):
    x = torch.zeros(2, 3)
    mu = torch.zeros(2, 1) if mu is None else mu
    return darla.beta_vae_dae_loss(
        x, x, mu, torch.zeros_like(mu), dae, beta=beta
    )


BAD_INPUTS = [
    (lambda: darla.palette("other"), ValueError, "domain must be 'source'"),
    (lambda: darla.sample_sprites(4, 1), TypeError, "domain must be a str"),
    (lambda: darla.sample_sprites(0, "source"), ValueError, "n must be at"),
    (
        lambda: darla.coloured_sprite_images(
            sprites.sample_factors(2), [0, 4], "target"
        ),
        ValueError,
        "colours index the target palette of 4 colours",
    ),
    (
        lambda: darla.coloured_sprite_images(
            sprites.sample_factors(2), [0.0, 1.0], "source"
        ),
        TypeError,
        "colours must be integer indices",
    ),
    (
        lambda: darla.colourise(torch.ones(2, 1024), torch.ones(3, 3)),
        ValueError,
        "rgb must have shape (2, 3)",
    ),
    (
        lambda: darla.colourise(torch.ones(1, 1024) * 2, torch.ones(1, 3)),
        ValueError,
        "coverage must lie in [0, 1]",
    ),
    (
        lambda: _vae().encode(torch.zeros(2, 1024)),
        ValueError,
        "x must hold 3x32x32 images",
    ),
    (
        lambda: _vae().encode(torch.zeros(2, 3072, dtype=torch.float64)),
        TypeError,
        "x has dtype torch.float64",
    ),
    (
        lambda: darla.mask_pixels(torch.zeros(1, 3072), 1.5),
        ValueError,
        "fraction must be at most 1",
    ),
    (
        lambda: darla.mask_pixels(torch.zeros(1, 3072), -0.1),
        ValueError,
        "fraction must be at least 0.0",
    ),
    (
        lambda: _loss(nn.Linear(3, 3)),
        ValueError,
        "dae must be frozen",
    ),
    (lambda: _loss(lambda v: v), TypeError, "dae must be a torch.nn.Module"),
    (
        lambda: _loss(nn.Identity(), beta=-1.0),
        ValueError,
        "beta must be at least 0.0",
    ),
    (
        lambda: _loss(nn.Identity(), mu=torch.zeros(3, 1)),
        ValueError,
        "mu must have shape (batch, m) with the batch size of x",
    ),
    (
        lambda: _step(objective="pixel"),
        ValueError,
        "objective must be 'bernoulli', 'l2' or 'dae'",
    ),
    (
        lambda: _step(objective="dae"),
        ValueError,
        "objective 'dae' needs a trained, frozen dae",
    ),
    (
        lambda: _step(objective="l2", dae=nn.Identity()),
        ValueError,
        "objective 'l2' does not use a dae",
    ),
    (
        lambda: darla.train_darla_vae(
            _vae(), objective="dae", dae=darla.DenoisingAutoencoder(), steps=1
        ),
        ValueError,
        "dae must be frozen",
    ),
    (
        lambda: darla.train_darla_vae(
            nn.Linear(2, 2), objective="l2", steps=1
        ),
        TypeError,
        "model must be a vaecourse.darla.ColourConvVAE",
    ),
    (
        lambda: darla.train_darla_vae(_vae(), objective="l2", steps=0),
        ValueError,
        "steps must be at least 1",
    ),
    (
        lambda: darla.train_dae(
            darla.DenoisingAutoencoder(), steps=1, mask_fraction=1.0
        ),
        ValueError,
        "mask_fraction must be below 1",
    ),
    (
        lambda: darla.train_dae(darla.DenoisingAutoencoder(), steps=1.5),
        TypeError,
        "steps must be an integer",
    ),
    (
        lambda: darla.probe_scores(
            np.zeros((4, 2)),
            np.zeros((3, 5), int),
            np.zeros((4, 2)),
            np.zeros((4, 5), int),
        ),
        ValueError,
        "factors must have shape (4, 5)",
    ),
    (
        lambda: darla.probe_scores(
            np.full((4, 2), np.nan),
            np.zeros((4, 5), int),
            np.zeros((4, 2)),
            np.zeros((4, 5), int),
        ),
        ValueError,
        "codes must be finite",
    ),
    (
        lambda: darla.fit_probes(np.zeros((4, 2)), np.full((4, 5), 0.5)),
        TypeError,
        "factors must be integer factor indices",
    ),
    (
        lambda: darla.fit_probes(
            np.zeros((4, 2)), np.array([[3, 0, 0, 0, 0]] * 4)
        ),
        ValueError,
        "factors must be indices on the grid",
    ),
]


@pytest.mark.parametrize(
    "call, error, message",
    BAD_INPUTS,
    ids=[message for _, _, message in BAD_INPUTS],
)
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
