"""Tests of vaecourse.darla: domains, the DAE, β-VAE_DAE, training, probes.

References: palettes typed by hand from the HSV colour wheel; sprites
averaged by hand from :mod:`vaecourse.sprites`; losses computed by hand
and with ``torch.distributions``; least squares with NumPy; encoder means
from heads set by hand and from ``model.encode``; training against the
written-out steps in a plain loop; spies on the sampler to see every
batch the trainers draw.
"""

from __future__ import annotations

import copy
import inspect
import math
import re

import numpy as np
import pytest
import torch
from bad_inputs import raises, table
from torch import nn
from torch.distributions import Normal, kl_divergence

from vaecourse import darla, loop, sprites
from vaecourse.models import ConvVAE
from vaecourse.source import source_text

# Full saturation and value at hues 0, 90, 180, 270.
COLOURS = np.array([[1, 0, 0], [0.5, 1, 0], [0, 1, 1], [0.5, 0, 1]])
# The colours each domain allows in the left half (x < 16) and the right.
ALLOWED = {"source": ({0, 2}, {1, 3}), "target": ({1, 3}, {0, 2})}


def in_domain(classes: np.ndarray, colours: np.ndarray, domain: str) -> bool:
    """Every (colour, half of the frame) pair is one the domain allows."""
    return all(
        colour in ALLOWED[domain][int(x >= 16)]
        for colour, x in zip(colours, classes[:, 4], strict=True)
    )


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


def test_the_palette_is_the_stated_hues_and_domains_swap_their_pairs():
    np.testing.assert_allclose(darla.palette(), COLOURS, atol=1e-7)
    np.testing.assert_allclose(darla.COLOURS, COLOURS, atol=1e-7)
    assert darla.HALF == 16
    classes = np.zeros((8, 6), dtype=np.int64)
    classes[:, 4] = [0, 15, 16, 31, 0, 15, 16, 31]
    colours = np.array([0, 2, 1, 3, 1, 3, 0, 2])
    assert (
        list(darla.domain_of(classes, colours))
        == ["source"] * 4 + ["target"] * 4
    )
    # Every colour and every position occur in both domains.
    for domain in darla.DOMAINS:
        left, right = darla.DOMAIN_COLOURS[domain]
        assert set(left) | set(right) == {0, 1, 2, 3}
        assert (set(left), set(right)) == ALLOWED[domain]


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
    for domain in darla.DOMAINS:
        pairs = np.array(darla.DOMAIN_COLOURS[domain])
        colours = pairs[(classes[:, 4] >= 16).astype(int), np.arange(20) % 2]
        x = darla.coloured_sprite_images(classes, colours, domain)
        assert x.shape == (20, 3072) and x.dtype == torch.float32
        big = sprites.DrawnSprites().images(sprites.factors_to_index(classes))
        small = big.reshape(20, 32, 2, 32, 2).mean(axis=(2, 4))
        expected = COLOURS[colours][:, :, None, None] * small[:, None]
        np.testing.assert_allclose(
            x.numpy(), expected.reshape(20, 3072), rtol=0, atol=1e-7
        )


@pytest.mark.parametrize("domain", ["source", "target"])
def test_sampler_draws_only_from_its_domain(domain):
    batch = darla.sample_sprites(400, domain, 7)
    assert batch.domain == domain
    assert batch.images.shape == (400, 3072)
    assert 0.0 <= batch.images.min() and batch.images.max() <= 1.0
    index = palette_index(foreground(batch.images), COLOURS)
    np.testing.assert_array_equal(index, batch.colours)
    assert in_domain(batch.classes, batch.colours, domain)
    assert (darla.domain_of(batch.classes, batch.colours) == domain).all()
    # Every colour shows up in both halves' allowed pairs; factors cover
    # the grid.
    assert set(batch.colours) == {0, 1, 2, 3}
    assert (batch.classes.max(0) < np.array(sprites.FACTOR_SIZES)).all()
    assert len(set(batch.classes[:, 1])) == 3
    assert (batch.classes[:, 4] < 16).any() and (
        batch.classes[:, 4] >= 16
    ).any()


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


@pytest.mark.parametrize(
    "function, formula",
    [
        (
            darla.mask_pixels,
            ["u = torch.rand(", "images = x.reshape(", "return (images *"],
        ),
        (
            darla.beta_vae_dae_loss,
            ["target = dae(x)", "distance = sum_of_squares(", "kl = kl_diag"],
        ),
    ],
)
def test_the_printed_source_without_checks_is_the_formula(function, formula):
    # What chapter "DARLA" prints: no check, no raise, no branch.
    text = source_text(function, checks=False)
    body = text.split("# (input checks omitted)\n")[1]
    for word in ("check", "raise", "if ", "ValueError", "TypeError"):
        assert word not in body, word
    for line in formula:
        assert line in body, line
    assert len(body.splitlines()) <= 9


def test_the_module_imports_no_other_chapter():
    import ast

    tree = ast.parse(inspect.getsource(darla))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not imported & {"vaecourse.beta_vae", "vaecourse.train"}


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


def test_the_worked_example_of_chapter_13():
    # J(v) = W v, x = (1, 1), x_hat = (0.5, 1), mu = (0.5, -1),
    # sigma^2 = (1, 0.5), beta = 3: the chapter's solution displays the KL
    # as (0.25 + (1 + 0.5 - 1 + log 2)) / 2 = 0.7216 and the objective as
    # 1 + 3 x 0.7216 = 3.1647.
    j = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        j.weight.copy_(torch.tensor([[2.0, -1.0], [0.0, 1.0]]))
    mu, var = torch.tensor([[0.5, -1.0]]), torch.tensor([[1.0, 0.5]])
    terms = darla.beta_vae_dae_loss(
        torch.tensor([[1.0, 1.0]]),
        torch.tensor([[0.5, 1.0]]),
        mu,
        var.log(),
        darla.freeze(j),
        beta=3.0,
    )
    reference = kl_divergence(Normal(mu, var.sqrt()), Normal(0.0, 1.0)).sum()
    displayed = (0.25 + (1 + 0.5 - 1 + math.log(2))) / 2
    assert displayed == pytest.approx(reference.item(), rel=1e-6)
    assert round(displayed, 4) == 0.7216
    assert terms.kl.item() == pytest.approx(displayed, rel=1e-6)
    assert terms.reconstruction.item() == pytest.approx(1.0, rel=1e-6)
    assert round(terms.objective.item(), 4) == 3.1647


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
        index = palette_index(foreground(batch.images), COLOURS)
        np.testing.assert_array_equal(index, batch.colours)
        assert in_domain(batch.classes, index, "source")


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
    # The probes were fitted on the encoder means of the source images:
    # mu from model.encode, by hand, not through encoder_means.
    with torch.no_grad():
        codes = {
            domain: model.encode(batch.images)[0].double().numpy()
            for domain, batch in zip(
                ("train", *darla.DOMAINS), spy, strict=True
            )
        }
    np.testing.assert_allclose(fitted[0], codes["train"], rtol=0, atol=1e-6)
    # The target set really is of the target domain.
    target = spy[2]
    index = palette_index(foreground(target.images), COLOURS)
    assert in_domain(target.classes, index, "target")
    # And the scores are those of these codes.
    for domain, batch in zip(darla.DOMAINS, spy[1:], strict=True):
        expected = darla.probe_scores(
            codes["train"],
            train.classes[:, 1:],
            codes[domain],
            batch.classes[:, 1:],
        )
        assert scores[domain] == pytest.approx(expected, abs=1e-9)


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


def plain_loop(model, step, steps, batch_size, seed, **options):
    """The trainers by hand: Adam and the written-out step on fresh
    source batches, the batches from default_rng(seed) and the noise from
    a generator seeded with seed. Returns each step's terms."""
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    lr = options.pop("lr")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    terms = []
    for _ in range(steps):
        x = darla.sample_sprites(batch_size, "source", rng).images
        terms.append(step(model, optimizer, x, generator=generator, **options))
    return terms


def test_train_dae_is_the_plain_loop_of_dae_step():
    torch.manual_seed(0)
    dae = darla.DenoisingAutoencoder()
    by_hand = copy.deepcopy(dae)
    curves = darla.train_dae(
        dae, steps=3, batch_size=4, seed=5, lr=1e-3, log_every=2
    )
    losses = plain_loop(
        by_hand, darla.dae_step, 3, 4, 5, lr=1e-3, mask_fraction=0.5
    )
    for name, value in dae.state_dict().items():
        assert torch.equal(value, by_hand.state_dict()[name]), name
    assert isinstance(curves, loop.History) and curves.x == "step"
    assert darla.Curves is loop.History
    # The mean over the images of steps 1-2, then of step 3 (batches of
    # the same size: the mean of the step means).
    means = [(losses[0].item() + losses[1].item()) / 2, losses[2].item()]
    assert curves.columns() == {
        "step": [2, 3],
        "objective": pytest.approx(means, rel=1e-12),
        "reconstruction": pytest.approx(means, rel=1e-12),
        "kl": [0.0, 0.0],
    }
    assert not dae.training


@pytest.mark.parametrize("objective", darla.OBJECTIVES)
def test_train_darla_vae_is_the_plain_loop_of_darla_vae_step(objective):
    torch.manual_seed(0)
    model = darla.ColourConvVAE(latent_dim=3)
    by_hand = copy.deepcopy(model)
    dae = darla.freeze(darla.DenoisingAutoencoder())
    options = {
        "objective": objective,
        "beta": 2.0,
        "dae": dae if objective == "dae" else None,
        "lr": 5e-4,
    }
    curves = darla.train_darla_vae(
        model, steps=3, batch_size=4, seed=7, log_every=2, **options
    )
    terms = plain_loop(by_hand, darla.darla_vae_step, 3, 4, 7, **options)
    for name, value in model.state_dict().items():
        assert torch.equal(value, by_hand.state_dict()[name]), name
    assert list(curves.columns()) == ["step", *darla.DarlaTerms._fields]
    assert curves.step == [2, 3]
    for k, name in enumerate(darla.DarlaTerms._fields):
        means = [(terms[0][k] + terms[1][k]).item() / 2, terms[2][k].item()]
        assert curves.series[name] == pytest.approx(means, rel=1e-6), name
    assert not model.training


def test_a_nan_loss_stops_the_dae_before_its_step():
    torch.manual_seed(0)
    dae = darla.DenoisingAutoencoder()
    with torch.no_grad():
        dae.decoder[-2].bias[0] = float("nan")  # the red logits
    before = copy.deepcopy(dae.state_dict())
    with pytest.raises(
        loop.TrainingDiverged,
        match="step 1: the model's output is not finite: logits contains NaN",
    ) as error:
        darla.train_dae(dae, steps=3, batch_size=2)
    assert error.value.step == 1
    # No step was taken: every weight is as it was (the NaN included).
    for name, value in dae.state_dict().items():
        assert torch.equal(value, before[name]) or torch.allclose(
            value, before[name], equal_nan=True, rtol=0, atol=0
        ), name


@pytest.mark.parametrize("objective", darla.OBJECTIVES)
def test_an_overflowing_encoder_stops_the_vae_before_its_step(objective):
    torch.manual_seed(0)
    model = darla.ColourConvVAE(latent_dim=3)
    with torch.no_grad():
        model.logvar_head.bias.fill_(1e4)  # exp(logvar) overflows
    before = copy.deepcopy(model.state_dict())
    dae = darla.freeze(darla.DenoisingAutoencoder())
    with pytest.raises(
        loop.TrainingDiverged,
        match="training diverged at step 1: the model's output is not finite",
    ):
        darla.train_darla_vae(
            model,
            objective=objective,
            dae=dae if objective == "dae" else None,
            steps=2,
            batch_size=2,
        )
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


@pytest.mark.parametrize("trainer", ["dae", "vae"])
def test_a_nan_gradient_stops_training_before_the_step(trainer):
    torch.manual_seed(0)
    if trainer == "dae":
        model = darla.DenoisingAutoencoder()
        parameter, name = model.decoder[0].weight, "decoder.0.weight"

        def train():
            darla.train_dae(model, steps=2, batch_size=2)
    else:
        model = darla.ColourConvVAE(latent_dim=3)
        parameter, name = model.mu_head.weight, "mu_head.weight"

        def train():
            darla.train_darla_vae(
                model, objective="bernoulli", steps=2, batch_size=2
            )

    # The loss stays finite; only this gradient is poisoned.
    parameter.register_hook(lambda grad: grad * float("nan"))
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(
        loop.TrainingDiverged,
        match=f"step 1: the gradient of {re.escape(name)} is not finite",
    ):
        train()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


# -- encoder means ------------------------------------------------------------


def test_encoder_means_are_the_mean_head_not_the_log_variance():
    # Heads set by hand: mu = (0.5, -1.5) and log sigma^2 = (2, 3) for
    # every image, whatever the features.
    torch.manual_seed(0)
    model = darla.ColourConvVAE(latent_dim=2)
    with torch.no_grad():
        model.mu_head.weight.zero_()
        model.mu_head.bias.copy_(torch.tensor([0.5, -1.5]))
        model.logvar_head.weight.zero_()
        model.logvar_head.bias.copy_(torch.tensor([2.0, 3.0]))
    images = darla.sample_sprites(7, "source", 1).images
    means = darla.encoder_means(model, images, batch_size=3)
    assert means.dtype == np.float64 and means.shape == (7, 2)
    np.testing.assert_array_equal(means, np.tile([0.5, -1.5], (7, 1)))


def test_encoder_means_in_batches_are_the_means_of_all_at_once():
    torch.manual_seed(0)
    model = darla.ColourConvVAE(latent_dim=4).eval()
    images = darla.sample_sprites(7, "target", 2).images
    with torch.no_grad():
        h = model.encoder_body(
            model.convolutions(images.reshape(7, 3, 32, 32))
        )
        mu = (h @ model.mu_head.weight.T + model.mu_head.bias).double()
    for batch_size in (1, 3, 7, 500):
        means = darla.encoder_means(model, images, batch_size=batch_size)
        np.testing.assert_allclose(means, mu.numpy(), rtol=0, atol=1e-5)
    # The 4-D layout gives the same codes.
    np.testing.assert_array_equal(
        darla.encoder_means(model, images.reshape(7, 3, 32, 32)),
        darla.encoder_means(model, images),
    )


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


def _objective(x=None, **kwargs):
    x = torch.zeros(2, 3072) if x is None else x
    options = {"objective": "bernoulli"} | kwargs
    return darla.darla_vae_objective(_vae(), x, **options)


def _loss(dae=None, beta=1.0, **tensors):
    """beta_vae_dae_loss on good (2, 3) data and (2, 1) codes, or these."""
    arguments = {
        "x": torch.zeros(2, 3),
        "x_hat": torch.zeros(2, 3),
        "mu": torch.zeros(2, 1),
        "logvar": torch.zeros(2, 1),
    } | tensors
    dae = nn.Identity() if dae is None else dae
    return darla.beta_vae_dae_loss(**arguments, dae=dae, beta=beta)


def _dae_objective(x=None, **kwargs):
    x = torch.zeros(2, 3072) if x is None else x
    return darla.dae_objective(darla.DenoisingAutoencoder(), x, **kwargs)


def _factors(n, seed=0):
    return grid_factors(n, seed)


def _with(factors, column, value):
    """The factors with one column set to a constant."""
    factors = factors.copy()
    factors[:, column] = value
    return factors


def _score(codes=None, factors=None, probes=None):
    train = _factors(60)
    rng = np.random.default_rng(0)
    fitted = darla.fit_probes(rng.normal(size=(60, 2)), train)
    probes = fitted if probes is None else probes
    codes = rng.normal(size=(40, 2)) if codes is None else codes
    factors = _factors(40, 1) if factors is None else factors
    return darla.score_probes(probes, codes, factors)


def _colour(n=2, **kwargs):
    coverage = kwargs.pop("coverage", torch.ones(n, 1024))
    rgb = kwargs.pop("rgb", torch.ones(n, 3))
    return darla.colourise(coverage, rgb)


def _encoder_means(images, **kwargs):
    return darla.encoder_means(_vae(), images, **kwargs)


def _train_dae(**kwargs):
    options = {"steps": 1, "batch_size": 2} | kwargs
    return darla.train_dae(darla.DenoisingAutoencoder(), **options)


def _train_vae(**kwargs):
    options = {"objective": "l2", "steps": 1, "batch_size": 2} | kwargs
    return darla.train_darla_vae(options.pop("model", _vae()), **options)


_IMAGES = torch.zeros(2, 3072)
_NAN = torch.full((2, 3072), float("nan"))

BAD_INPUTS = [
    # domains and data
    (
        lambda: darla.sample_sprites(2, "other"),
        ValueError,
        "domain must be 'source'",
    ),
    (
        lambda: darla.sample_sprites(2, 0),
        TypeError,
        "domain must be a str, got int",
    ),
    (
        lambda: darla.coloured_sprite_images(
            np.array([[0, 0, 0, 0, 3, 0]]), [1], "source"
        ),
        ValueError,
        "image 0 is not in the source domain: colour 1 at position_x index 3",
    ),
    (lambda: darla.sample_sprites(4, 1), TypeError, "domain must be a str"),
    (lambda: darla.sample_sprites(0, "source"), ValueError, "n must be at"),
    (
        lambda: darla.sample_sprites(2.0, "source"),
        TypeError,
        "n must be an integer, got float 2.0",
    ),
    (
        lambda: darla.sample_sprites(2, "source", 1.5),
        TypeError,
        "rng must be a numpy.random.Generator or an integer seed, got float",
    ),
    (
        lambda: darla.sample_sprites(2, "source", -1),
        ValueError,
        "rng must be at least 0, got -1",
    ),
    (
        lambda: darla.coloured_sprite_images(
            sprites.sample_factors(2), [0, 4], "target"
        ),
        ValueError,
        "colours index the palette of 4 colours",
    ),
    (
        lambda: darla.coloured_sprite_images(
            sprites.sample_factors(2), [0.0, 1.0], "source"
        ),
        TypeError,
        "colours must be integer indices",
    ),
    (
        lambda: darla.coloured_sprite_images(
            sprites.sample_factors(2), [0, 1, 2], "source"
        ),
        ValueError,
        "colours must have shape (2,), one per image, got (3,)",
    ),
    (
        lambda: darla.coloured_sprite_images(
            sprites.sample_factors(2).astype(float), [0, 1], "source"
        ),
        TypeError,
        "factor indices must be integers",
    ),
    (
        lambda: darla.coloured_sprite_images(
            sprites.sample_factors(2), [0, 1], "elsewhere"
        ),
        ValueError,
        "domain must be 'source' or 'target', got 'elsewhere'",
    ),
    (
        lambda: _colour(rgb=torch.ones(3, 3)),
        ValueError,
        "rgb must have shape (2, 3), one colour per image, got (3, 3)",
    ),
    (
        lambda: _colour(coverage=torch.ones(2, 1000)),
        ValueError,
        "coverage must have shape (N, 1024), got (2, 1000)",
    ),
    (
        lambda: _colour(coverage=torch.ones(1, 1024) * 2, n=1),
        ValueError,
        "coverage must lie in [0, 1]",
    ),
    (
        lambda: _colour(rgb=-torch.ones(2, 3)),
        ValueError,
        "rgb must lie in [0, 1]",
    ),
    (
        lambda: _colour(coverage=torch.full((2, 1024), float("nan"))),
        ValueError,
        "coverage contains NaN",
    ),
    (
        lambda: _colour(rgb=torch.ones(2, 3, dtype=torch.float64)),
        TypeError,
        "coverage and rgb must have the same dtype, got torch.float32 and "
        "torch.float64",
    ),
    (
        lambda: _colour(coverage=torch.ones(2, 1024, dtype=torch.int64)),
        TypeError,
        "coverage must be a floating-point tensor",
    ),
    (
        lambda: _colour(rgb=np.ones((2, 3), np.float32)),
        TypeError,
        "rgb must be a torch.Tensor, got ndarray",
    ),
    # models and noise
    (
        lambda: darla.ColourConvVAE(latent_dim=0),
        ValueError,
        "latent_dim must be at least 1",
    ),
    (
        lambda: darla.ColourConvVAE(channels_last=1),
        TypeError,
        "channels_last must be True or False, got int 1",
    ),
    (
        lambda: darla.DenoisingAutoencoder(channels_last="yes"),
        TypeError,
        "channels_last must be True or False, got str 'yes'",
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
        lambda: darla.DenoisingAutoencoder()(torch.zeros(2, 1024)),
        ValueError,
        "x must hold 3x32x32 images: shape (batch, 3, 32, 32) or "
        "(batch, 3072), got (2, 1024)",
    ),
    (
        lambda: darla.DenoisingAutoencoder()(_IMAGES.double()),
        TypeError,
        "x has dtype torch.float64 but the model's weights have dtype "
        "torch.float32",
    ),
    (
        lambda: darla.DenoisingAutoencoder()(_NAN),
        ValueError,
        "x contains NaN",
    ),
    (
        lambda: darla.DenoisingAutoencoder()(_IMAGES.numpy()),
        TypeError,
        "x must be a torch.Tensor, got a numpy.ndarray of dtype float32",
    ),
    (
        lambda: darla.mask_pixels(_IMAGES[:1], 1.5),
        ValueError,
        "fraction must be at most 1",
    ),
    (
        lambda: darla.mask_pixels(_IMAGES[:1], -0.1),
        ValueError,
        "fraction must be at least 0.0",
    ),
    (
        lambda: darla.mask_pixels(_IMAGES, float("nan")),
        ValueError,
        "fraction must be a number, got NaN",
    ),
    (
        lambda: darla.mask_pixels(_IMAGES, "half"),
        TypeError,
        "fraction must be a real number, got str 'half'",
    ),
    (
        lambda: darla.mask_pixels(torch.full((1, 3072), float("inf")), 0.5),
        ValueError,
        "x must be finite, found inf",
    ),
    (
        lambda: darla.mask_pixels(torch.zeros(2, 1024), 0.5),
        ValueError,
        "x must have shape (batch, 3072) or (batch, 3, 32, 32), got (2, 1024)",
    ),
    (
        lambda: darla.mask_pixels(torch.zeros(3072), 0.5),
        ValueError,
        "x must have shape (batch, 3072)",
    ),
    (
        lambda: darla.mask_pixels(torch.zeros(2, 3072, dtype=torch.int64), 0),
        TypeError,
        "x must be a floating-point tensor",
    ),
    (
        lambda: darla.mask_pixels(_IMAGES, 0.5, 0),
        TypeError,
        "generator must be a torch.Generator or None, got int 0",
    ),
    (
        lambda: darla.freeze("J"),
        TypeError,
        "module must be a torch.nn.Module, got str",
    ),
    # objectives
    (lambda: _loss(nn.Linear(3, 3)), ValueError, "dae must be frozen"),
    (lambda: _loss(lambda v: v), TypeError, "dae must be a torch.nn.Module"),
    (lambda: _loss(beta=-1.0), ValueError, "beta must be at least 0.0"),
    (lambda: _loss(beta=float("nan")), ValueError, "beta must be a number"),
    (lambda: _loss(beta=math.inf), ValueError, "beta must be finite"),
    (
        lambda: _loss(mu=torch.zeros(3, 1), logvar=torch.zeros(3, 1)),
        ValueError,
        "mu must have shape (batch, m) with the batch size of x, 2, got "
        "(3, 1)",
    ),
    (
        lambda: _loss(mu=torch.zeros(2)),
        ValueError,
        "mu and logvar must have the same shape",
    ),
    (
        lambda: _loss(x_hat=torch.zeros(2, 4)),
        ValueError,
        "x and x_hat must have the same shape, got (2, 3) and (2, 4)",
    ),
    (
        lambda: _loss(x_hat=torch.zeros(2, 3, dtype=torch.float64)),
        TypeError,
        "x and x_hat must have the same dtype",
    ),
    (
        lambda: _loss(
            mu=torch.zeros(2, 1, dtype=torch.float64),
            logvar=torch.zeros(2, 1, dtype=torch.float64),
        ),
        TypeError,
        "x and mu must have the same dtype, got torch.float32 and "
        "torch.float64",
    ),
    (
        lambda: _loss(logvar=torch.zeros(2, 1, dtype=torch.float64)),
        TypeError,
        "mu and logvar must have the same dtype",
    ),
    (
        lambda: _loss(x_hat=torch.full((2, 3), float("nan"))),
        ValueError,
        "x_hat contains NaN",
    ),
    (
        lambda: _loss(logvar=torch.full((2, 1), math.inf)),
        ValueError,
        "logvar must be finite, found inf",
    ),
    (
        lambda: _loss(
            x=torch.zeros(0, 3),
            x_hat=torch.zeros(0, 3),
            mu=torch.zeros(0, 1),
            logvar=torch.zeros(0, 1),
        ),
        ValueError,
        "x must hold at least one example",
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
        lambda: darla.darla_vae_step(_vae(), "adam", _IMAGES, objective="l2"),
        TypeError,
        "optimizer must be a torch.optim.optimizer.Optimizer, got str",
    ),
    (
        lambda: _objective(beta=-2.0),
        ValueError,
        "beta must be at least 0.0, got -2.0",
    ),
    (
        lambda: _objective(_IMAGES.double()),
        TypeError,
        "x has dtype torch.float64",
    ),
    (
        lambda: _objective(_IMAGES.double(), objective="l2"),
        TypeError,
        "x has dtype torch.float64",
    ),
    (
        lambda: _objective(_IMAGES + 2.0),
        ValueError,
        "x must lie in [0, 1]",
    ),
    (
        lambda: _objective(torch.zeros(2, 1024), objective="l2"),
        ValueError,
        "x must hold 3x32x32 images",
    ),
    (
        lambda: _objective(generator=0),
        TypeError,
        "generator must be a torch.Generator or None",
    ),
    (
        lambda: darla.darla_vae_objective(
            ConvVAE(32), _IMAGES, objective="bernoulli"
        ),
        TypeError,
        "model must be a vaecourse.darla.ColourConvVAE (a "
        "vaecourse.models.ConvVAE with image_size=32 and channels=3), got "
        "ConvVAE with image_size=32, channels=1",
    ),
    (
        lambda: darla.dae_objective(_vae(), _IMAGES),
        TypeError,
        "dae must be a vaecourse.darla.DenoisingAutoencoder, got "
        "ColourConvVAE",
    ),
    (
        lambda: _dae_objective(mask_fraction=1.5),
        ValueError,
        "mask_fraction must be at most 1, got 1.5",
    ),
    (
        lambda: _dae_objective(_IMAGES + 2.0),
        ValueError,
        "x must lie in [0, 1]",
    ),
    (
        lambda: _dae_objective(torch.zeros(2, 1024)),
        ValueError,
        "x must have shape (batch, 3072)",
    ),
    (
        lambda: darla.dae_step(darla.DenoisingAutoencoder(), None, _IMAGES),
        TypeError,
        "optimizer must be a torch.optim.optimizer.Optimizer, got NoneType",
    ),
    # training
    (
        lambda: _train_vae(
            objective="dae", dae=darla.DenoisingAutoencoder(), steps=1
        ),
        ValueError,
        "dae must be frozen",
    ),
    (
        lambda: _train_vae(model=nn.Linear(2, 2)),
        TypeError,
        "model must be a vaecourse.darla.ColourConvVAE",
    ),
    (lambda: _train_vae(steps=0), ValueError, "steps must be at least 1"),
    (
        lambda: _train_vae(batch_size=0),
        ValueError,
        "batch_size must be at least 1",
    ),
    (lambda: _train_vae(lr=0.0), ValueError, "lr must be positive, got 0.0"),
    (lambda: _train_vae(seed=-1), ValueError, "seed must be at least 0"),
    (
        lambda: _train_vae(log_every=0),
        ValueError,
        "log_every must be at least 1",
    ),
    (
        lambda: _train_vae(beta=float("nan")),
        ValueError,
        "beta must be a number, got NaN",
    ),
    (
        lambda: _train_vae(device="tpu"),
        ValueError,
        "device 'tpu' is not a device this course can use",
    ),
    # The message differs with and without CUDA; both name the device.
    (lambda: _train_vae(device="cuda:7"), ValueError, "device 'cuda:7'"),
    (
        lambda: _train_vae(device=7),
        TypeError,
        "device must be a str or torch.device, got int 7",
    ),
    (
        lambda: _train_dae(mask_fraction=1.0),
        ValueError,
        "mask_fraction must be below 1, got 1.0",
    ),
    (
        lambda: _train_dae(mask_fraction=-0.5),
        ValueError,
        "mask_fraction must be at least 0.0",
    ),
    (lambda: _train_dae(steps=1.5), TypeError, "steps must be an integer"),
    (
        lambda: _train_dae(device="tpu"),
        ValueError,
        "device 'tpu' is not a device this course can use",
    ),
    (lambda: _train_dae(device="cuda:7"), ValueError, "device 'cuda:7'"),
    (
        lambda: darla.train_dae(_vae(), steps=1),
        TypeError,
        "dae must be a vaecourse.darla.DenoisingAutoencoder",
    ),
    # encoder means
    (
        lambda: _encoder_means(_IMAGES.numpy()),
        TypeError,
        "images must be a torch.Tensor, got a numpy.ndarray of dtype "
        "float32; convert it with torch.from_numpy(images).float()",
    ),
    (
        lambda: _encoder_means(torch.zeros(0, 3072)),
        ValueError,
        "images must hold at least one example",
    ),
    (
        lambda: _encoder_means(torch.zeros(2, 1024)),
        ValueError,
        "images must hold 3x32x32 images",
    ),
    (
        lambda: _encoder_means(_IMAGES.double()),
        TypeError,
        "images has dtype torch.float64",
    ),
    (lambda: _encoder_means(_NAN), ValueError, "images contains NaN"),
    (
        lambda: _encoder_means(_IMAGES, batch_size=0),
        ValueError,
        "batch_size must be at least 1",
    ),
    (
        lambda: darla.encoder_means(nn.Linear(2, 2), _IMAGES),
        TypeError,
        "model must be a vaecourse.darla.ColourConvVAE",
    ),
    # probes
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
    (
        lambda: darla.fit_probes(np.zeros((1, 2)), np.zeros((1, 5), int)),
        ValueError,
        "codes must have shape (N, d) with N >= 2 and d >= 1, got (1, 2)",
    ),
    (
        lambda: darla.fit_probes(np.zeros((4, 0)), _factors(4)),
        ValueError,
        "codes must have shape (N, d) with N >= 2 and d >= 1, got (4, 0)",
    ),
    (
        lambda: darla.fit_probes(np.zeros((4, 2), complex), _factors(4)),
        TypeError,
        "codes must be real numbers, got dtype complex128",
    ),
    (
        lambda: darla.fit_probes(np.zeros((4, 2), bool), _factors(4)),
        TypeError,
        "codes must be real numbers, got dtype bool",
    ),
    (
        # One shape only: scikit-learn would raise "This solver needs
        # samples of at least 2 classes".
        lambda: darla.fit_probes(
            np.random.default_rng(0).normal(size=(60, 2)),
            _with(_factors(60), 0, 1),
        ),
        ValueError,
        "factors hold one shape only (index 1): the shape probe, a "
        "classifier, needs at least two shapes in the training set",
    ),
    (
        lambda: darla.fit_probes(
            np.random.default_rng(0).normal(size=(60, 2)),
            _with(_factors(60), 2, 7),
        ),
        ValueError,
        "factor orientation takes one value only in the training set",
    ),
    (
        # R^2 = 1 - SS_res / 0 is undefined: not 0, as r2_score says.
        lambda: _score(factors=_with(_factors(40, 1), 1, 3)),
        ValueError,
        "R^2 of scale is undefined on this set: the factor takes one value "
        "only",
    ),
    (
        lambda: _score(factors=_with(_factors(40, 1), 4, 0)),
        ValueError,
        "R^2 of position_y is undefined on this set",
    ),
    (
        lambda: _score(codes=np.zeros((40, 3))),
        ValueError,
        "codes must have 2 columns, as the probes' training codes, got 3",
    ),
    (
        lambda: _score(probes=(None, None)),
        TypeError,
        "probes must be a Probes from fit_probes, got tuple",
    ),
    (
        lambda: _score(codes=np.zeros(40)),
        ValueError,
        "codes must have shape (N, d)",
    ),
    (
        lambda: darla.transfer_scores(_vae(), n_train=2),
        ValueError,
        "n_train must be at least 30, ten examples for each of the 3 "
        "coefficients of a regression probe on the model's 2 latents, "
        "got 2",
    ),
    (
        lambda: darla.transfer_scores(_vae(), n_train=100.0),
        TypeError,
        "n_train must be an integer, got float 100.0",
    ),
    (
        lambda: darla.transfer_scores(_vae(), n_test=1),
        ValueError,
        "n_test must be at least 2",
    ),
    (
        lambda: darla.transfer_scores(_vae(), seed=-1),
        ValueError,
        "seed must be at least 0",
    ),
    (
        lambda: darla.transfer_scores(ConvVAE(64)),
        TypeError,
        "got ConvVAE with image_size=64, channels=1",
    ),
]


@table(BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(call, error, message):
    raises(call, error, message)


def test_a_constant_test_factor_is_refused_and_a_varied_one_scored():
    # The same probes score a set where every factor varies.
    scores = _score()
    assert set(scores) == set(darla.PROBED_FACTORS)
    assert all(math.isfinite(v) for v in scores.values())
    # A single shape in the test set is fine: accuracy is defined.
    one_shape = _score(factors=_with(_factors(40, 1), 0, 2))
    assert 0.0 <= one_shape["shape"] <= 1.0


def test_the_smallest_training_set_transfer_scores_allow():
    torch.manual_seed(0)
    model = darla.ColourConvVAE(latent_dim=2).eval()
    scores = darla.transfer_scores(model, n_train=30, n_test=20)
    assert set(scores) == set(darla.DOMAINS)


# -- the pre-drawn grid and the readouts --------------------------------------


def test_trainers_read_the_same_images_from_a_grid(tmp_path, monkeypatch):
    # A grid file of the whole grid would take minutes; the first images
    # of the grid, with draws confined to them, give the same test.
    count = 4 * 32 * 32
    path = tmp_path / "grid.npy"
    sprites.build_reduced_grid(path, count=count)
    grid = sprites.ReducedGrid(path)
    monkeypatch.setattr(sprites, "N_IMAGES", count)
    monkeypatch.setattr(darla.sprites, "N_IMAGES", count)
    torch.manual_seed(0)
    start = darla.ColourConvVAE(latent_dim=4)
    drawn, read = copy.deepcopy(start), copy.deepcopy(start)
    a = darla.train_darla_vae(drawn, objective="bernoulli", steps=2)
    b = darla.train_darla_vae(read, objective="bernoulli", steps=2, grid=grid)
    assert a.objective == b.objective
    for p, q in zip(drawn.parameters(), read.parameters(), strict=True):
        assert torch.equal(p, q)


def test_readout_transfer_fits_on_source_and_scores_both_domains(spy):
    from vaecourse import readouts

    torch.manual_seed(0)
    model = darla.ColourConvVAE(latent_dim=4).eval()
    sets = darla.transfer_sets(n_train=300, n_test=200, seed=1)
    assert [sets[k].domain for k in ("train", "source", "target")] == [
        "source",
        "source",
        "target",
    ]
    encode = lambda x: darla.encoder_means(model, x)  # noqa: E731
    scores = darla.readout_transfer(encode, sets)
    codes = {k: encode(batch.images) for k, batch in sets.items()}
    fitted = readouts.fit_readouts(
        codes["train"], sets["train"].classes[:, 1:]
    )
    for domain in darla.DOMAINS:
        expected = readouts.score_readouts(
            fitted, codes[domain], sets[domain].classes[:, 1:]
        )
        assert scores[domain] == expected
    # The rotation control multiplies every code by the matrix first.
    q = readouts.random_rotation(4, seed=0)
    rotated = darla.readout_transfer(encode, sets, rotation=q)
    fitted = readouts.fit_readouts(
        codes["train"] @ q, sets["train"].classes[:, 1:]
    )
    assert rotated["target"] == readouts.score_readouts(
        fitted, codes["target"] @ q, sets["target"].classes[:, 1:]
    )
    # Fitted on a target set, it refuses.
    swapped = {**sets, "train": sets["target"]}
    raises(
        lambda: darla.readout_transfer(encode, swapped),
        ValueError,
        "fitted on source images",
    )


@pytest.mark.parametrize("trainer", ["dae", "vae"])
def test_a_stopped_run_resumed_from_its_checkpoint_takes_the_same_steps(
    trainer, tmp_path, monkeypatch
):
    torch.manual_seed(0)
    start = (
        darla.DenoisingAutoencoder()
        if trainer == "dae"
        else darla.ColourConvVAE(latent_dim=4)
    )

    def train(model, **kwargs):
        if trainer == "dae":
            return darla.train_dae(
                model, steps=6, batch_size=8, log_every=1, **kwargs
            )
        return darla.train_darla_vae(
            model,
            objective="bernoulli",
            steps=6,
            batch_size=8,
            log_every=1,
            **kwargs,
        )

    whole = copy.deepcopy(start)
    expected = train(whole)
    path = tmp_path / "run.checkpoint.safetensors"
    name = "dae_objective" if trainer == "dae" else "darla_vae_objective"
    real, calls = getattr(darla, name), []

    def stops_at_the_fifth_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(darla, name, stops_at_the_fifth_step)
    with pytest.raises(KeyboardInterrupt):
        train(copy.deepcopy(start), checkpoint=path, checkpoint_every=2)
    monkeypatch.setattr(darla, name, real)
    resumed = copy.deepcopy(start)
    curves = train(resumed, checkpoint=path, checkpoint_every=2)
    for p, q in zip(resumed.parameters(), whole.parameters(), strict=True):
        assert torch.equal(p, q)
    assert curves.columns() == expected.columns()
    raises(
        lambda: train(
            copy.deepcopy(start), checkpoint=path, checkpoint_every=3
        ),
        ValueError,
        "is of a run with other settings (every differ)",
    )
