"""The β-VAE's data, training step and loop on the sprites (chapter 11)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from bad_inputs import raises, table

from vaecourse import beta_vae, sprites
from vaecourse.models import VAE, ConvVAE


def small_model(seed: int = 0) -> ConvVAE:
    torch.manual_seed(seed)
    return ConvVAE(image_size=beta_vae.IMAGE_SIZE, latent_dim=10)


CLASSES = sprites.sample_factors(12, seed=5)

# --- the data ---------------------------------------------------------------


def test_sprite_images_are_the_2x2_block_means_of_the_drawn_sprites():
    images = beta_vae.sprite_images(CLASSES)
    assert images.shape == (12, 32 * 32) and images.dtype == torch.float32
    drawn = sprites.DrawnSprites().images(sprites.factors_to_index(CLASSES))
    full = torch.from_numpy(drawn).float()[:, None]
    pooled = F.avg_pool2d(full, kernel_size=2).reshape(12, -1)
    torch.testing.assert_close(images, pooled, rtol=0, atol=0)
    # Every pixel is a count of lit sub-pixels over 4.
    assert set((images * 4).unique().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}


def test_evaluation_set_is_fixed_and_on_the_grid():
    classes = beta_vae.evaluation_classes()
    assert classes.shape == (beta_vae.EVALUATION_SIZE, 6)
    np.testing.assert_array_equal(classes, beta_vae.evaluation_classes())
    assert (classes < np.array(sprites.FACTOR_SIZES)).all()
    # Uniform on the grid: each shape near a third of the images.
    counts = np.bincount(classes[:, 1], minlength=3)
    assert (np.abs(counts / len(classes) - 1 / 3) < 0.05).all()


# --- one step ---------------------------------------------------------------


def gradients_of_one_step(beta=1.0, capacity=None, gamma=1000.0):
    """The gradient of one step's objective (SGD with lr 0 keeps weights)."""
    model = small_model()
    x = beta_vae.sprite_images(CLASSES)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    generator = torch.Generator().manual_seed(3)
    objective, terms = beta_vae.beta_vae_step(
        model,
        optimizer,
        x,
        beta=beta,
        capacity=capacity,
        gamma=gamma,
        generator=generator,
    )
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    return objective, terms, grads


def one_sample_terms(model, x, seed):
    """-log p(x|z) and KL(q || N(0, I)) per image, by torch.distributions.

    The reference: z = mu + sigma * eps with eps the first draw of a
    generator seeded with ``seed``, the likelihood and the KL from
    torch.distributions, not from vaecourse.losses.
    """
    from torch.distributions import Bernoulli, Normal, kl_divergence

    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = (0.5 * logvar).exp()
        eps = torch.randn(
            mu.shape, generator=torch.Generator().manual_seed(seed)
        )
        logits = model.decode(mu + std * eps).reshape(x.shape)
    # Grey values in [0, 1]: the chapter's Bernoulli term is their binary
    # cross-entropy, which torch's Bernoulli gives without its 0/1 check.
    bernoulli = Bernoulli(logits=logits, validate_args=False)
    reconstruction = -bernoulli.log_prob(x).sum(1)
    kl = kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(1)
    return reconstruction, kl


def test_step_objective_is_reconstruction_plus_beta_kl():
    objective, terms, _ = gradients_of_one_step(beta=4.0)
    x = beta_vae.sprite_images(CLASSES)
    reconstruction, kl = one_sample_terms(small_model(), x, seed=3)
    torch.testing.assert_close(terms.reconstruction, reconstruction.mean())
    torch.testing.assert_close(terms.kl, kl.mean())
    torch.testing.assert_close(
        objective, reconstruction.mean() + 4.0 * kl.mean()
    )


def test_step_gradient_is_linear_in_beta():
    """grad(β) = grad(reconstruction) + β grad(KL), for the same draw."""
    _, _, g0 = gradients_of_one_step(beta=0.0)
    _, _, g1 = gradients_of_one_step(beta=1.0)
    _, _, g4 = gradients_of_one_step(beta=4.0)
    torch.testing.assert_close(g4, g0 + 4.0 * (g1 - g0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("capacity, sign", [(0.0, 1.0), (1e6, -1.0)])
def test_capacity_step_pushes_the_kl_towards_the_capacity(capacity, sign):
    """Above C the KL's weight is +γ, below it -γ."""
    _, _, g0 = gradients_of_one_step(beta=0.0)
    _, _, g1 = gradients_of_one_step(beta=1.0)
    objective, terms, g = gradients_of_one_step(capacity=capacity, gamma=7.0)
    torch.testing.assert_close(
        g, g0 + sign * 7.0 * (g1 - g0), rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(
        objective, terms.reconstruction + 7.0 * (terms.kl - capacity).abs()
    )


def test_step_changes_the_weights():
    model = small_model()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    beta_vae.beta_vae_step(
        model, optimizer, beta_vae.sprite_images(CLASSES), beta=4.0
    )
    after = list(model.parameters())
    assert all(
        not torch.equal(a, b) for a, b in zip(after, before, strict=True)
    )


# --- the loop ---------------------------------------------------------------


def test_training_is_deterministic_and_logs_every_block():
    runs = []
    for _ in range(2):
        model = small_model()
        curves = beta_vae.train_beta_vae(
            model, steps=5, beta=4.0, seed=2, log_every=2
        )
        runs.append((model, curves))
    (m1, c1), (m2, c2) = runs
    assert c1.step == [2, 4, 5]
    assert c1.columns() == c2.columns()
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p, q)
    # Each point averages its block: the objective is rec + 4 KL there too.
    np.testing.assert_allclose(
        c1.objective,
        np.array(c1.reconstruction) + 4.0 * np.array(c1.kl),
        rtol=1e-6,
    )


def test_training_logs_the_capacity_schedule():
    schedule = beta_vae.Capacity(c_max=10.0, anneal_steps=4, gamma=100.0)
    curves = beta_vae.train_beta_vae(
        small_model(), steps=6, capacity=schedule, log_every=1
    )
    # C(t) = 10 min(t / 4, 1) at the step t = 0, 1, ... of each log point
    assert curves.step == [1, 2, 3, 4, 5, 6]
    assert curves.capacity == [0.0, 2.5, 5.0, 7.5, 10.0, 10.0]
    assert curves.capacity[-1] == 10.0


def test_seed_changes_the_batches():
    a = beta_vae.train_beta_vae(small_model(), steps=2, seed=0, log_every=1)
    b = beta_vae.train_beta_vae(small_model(), steps=2, seed=1, log_every=1)
    assert a.reconstruction != b.reconstruction


def test_training_stops_with_a_named_error_when_the_objective_is_nan():
    from vaecourse.train import TrainingDiverged

    model = small_model()
    with torch.no_grad():
        model.logvar_head.bias.fill_(1e4)  # exp(logvar) overflows
    with pytest.raises(
        TrainingDiverged,
        match="step 1: the model.s output is not finite: .*logits contains",
    ):
        beta_vae.train_beta_vae(model, steps=2)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"model": VAE(1024, 8, 2)}, TypeError, "ConvVAE with image_size=32"),
        ({"model": ConvVAE(64)}, TypeError, "image_size=32"),
        ({"steps": 0}, ValueError, "steps"),
        ({"beta": -1.0}, ValueError, "beta"),
        ({"capacity": (25.0, 10, 1.0)}, TypeError, "Capacity"),
        (
            {"capacity": beta_vae.Capacity(25.0, 10, float("nan"))},
            ValueError,
            "gamma must be a number, got NaN",
        ),
        (
            {"capacity": beta_vae.Capacity(25.0, 0, 1.0)},
            ValueError,
            "capacity.anneal_steps must be at least 1, got 0",
        ),
        ({"beta": float("inf")}, ValueError, "beta must be finite, got inf"),
        ({"device": "tpu"}, ValueError, "device 'tpu' is not a device"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"lr": 0.0}, ValueError, "lr"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_training_arguments_are_named(kwargs, error, message):
    arguments = {"model": small_model(), "steps": 1, **kwargs}
    model = arguments.pop("model")
    with pytest.raises(error, match=message):
        beta_vae.train_beta_vae(model, **arguments)


# --- evaluation and the representation ---------------------------------------


def test_kl_per_unit_matches_torch_distributions_and_sums_to_the_kl():
    model = small_model().eval()
    per_unit = beta_vae.kl_per_unit(model, CLASSES)
    with torch.no_grad():
        mu, logvar = model.encode(beta_vae.sprite_images(CLASSES))
    q = torch.distributions.Normal(mu.double(), (0.5 * logvar.double()).exp())
    p = torch.distributions.Normal(0.0, 1.0)
    reference = torch.distributions.kl_divergence(q, p).mean(0)
    np.testing.assert_allclose(
        per_unit, reference.numpy(), rtol=1e-4, atol=1e-7
    )
    terms = beta_vae.evaluate_beta_vae(model, CLASSES)
    assert per_unit.sum() == pytest.approx(terms.kl.item(), rel=1e-5)


def test_kl_per_unit_is_the_moments_form_chapter_11_displays():
    # KL_j = (E[mu_j^2] + E[sigma_j^2] - 1) / 2 - E[log sigma_j], the
    # moments taken over the data, each from the encoder's outputs.
    model = small_model().eval()
    with torch.no_grad():
        mu, logvar = model.encode(beta_vae.sprite_images(CLASSES))
    mu, sigma = mu.double(), (0.5 * logvar.double()).exp()
    moments = 0.5 * ((mu**2).mean(0) + (sigma**2).mean(0) - 1) - (
        sigma.log().mean(0)
    )
    np.testing.assert_allclose(
        beta_vae.kl_per_unit(model, CLASSES),
        moments.numpy(),
        rtol=1e-4,
        atol=1e-7,
    )


def test_evaluation_is_the_one_sample_negative_elbo():

    model = small_model().eval()
    terms = beta_vae.evaluate_beta_vae(model, CLASSES, seed=4)
    x = beta_vae.sprite_images(CLASSES)
    reconstruction, kl = one_sample_terms(model, x, seed=4)
    assert terms.reconstruction.item() == pytest.approx(
        reconstruction.mean().item(), rel=1e-5
    )
    assert terms.kl.item() == pytest.approx(kl.mean().item(), rel=1e-5)
    assert terms.loss.item() == pytest.approx(
        (reconstruction + kl).mean().item(), rel=1e-5
    )


def test_representation_is_the_encoder_mean_of_the_five_factors():
    model = small_model().eval()
    factors = CLASSES[:, 1:]  # without the colour
    codes = beta_vae.encoder_representation(model, batch_size=5)(factors)
    with torch.no_grad():
        mu, _ = model.encode(beta_vae.sprite_images(CLASSES))
    assert codes.shape == (12, 10) and codes.dtype == np.float64
    np.testing.assert_allclose(codes, mu.double().numpy(), rtol=1e-5)


def test_disentanglement_scores_are_fractions_and_reproducible():
    tiny = {
        "beta_vae": {"batch_size": 4, "n_train": 20, "n_eval": 10},
        "factor_vae": {
            "batch_size": 4,
            "n_train": 20,
            "n_eval": 10,
            "n_variance": 50,
        },
        "mig": {"n_points": 60},
    }
    models = {"a": small_model(0).eval(), "b": small_model(1).eval()}
    first = beta_vae.disentanglement_scores(models, tiny, seed=1)
    assert set(first) == {"a", "b"}
    assert set(first["a"]) == {"beta_vae_metric", "factor_vae_metric", "mig"}
    assert all(0.0 <= v <= 1.0 for v in first["a"].values())
    assert first == beta_vae.disentanglement_scores(models, tiny, seed=1)
    # Scored together or alone, a model gets the same numbers.
    alone = beta_vae.disentanglement_scores({"b": models["b"]}, tiny, seed=1)
    assert alone["b"] == first["b"]


BAD_SIZES = [
    (
        lambda: beta_vae.disentanglement_scores(
            {}, {"beta_vae": beta_vae.CHAPTER_METRIC_SIZES["beta_vae"]}
        ),
        ValueError,
        "sizes must have a key 'factor_vae'",
    ),
    (
        lambda: beta_vae.disentanglement_scores(
            {},
            {
                **beta_vae.CHAPTER_METRIC_SIZES,
                "mig": {"n_points": 100, "bins": 20},
            },
        ),
        ValueError,
        "sizes['mig'] must have the keys ['n_points'], got ['bins', 'n_",
    ),
    (
        lambda: beta_vae.disentanglement_scores({}, [1, 2]),
        TypeError,
        "sizes must be a collections.abc.Mapping, got list",
    ),
]


@table(BAD_SIZES)
def test_disentanglement_scores_names_bad_sizes(call, error, message):
    raises(call, error, message)


class SpyGrid(sprites.ReducedGrid):
    """A whole grid that draws instead of reading, and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __len__(self):
        return sprites.N_IMAGES

    def images(self, indices):
        self.calls += 1
        return sprites.reduced_images(sprites.index_to_factors(indices))


def test_training_reads_its_batches_from_a_grid_with_the_same_numbers():
    grid = SpyGrid()
    with_grid = small_model()
    a = beta_vae.train_beta_vae(with_grid, steps=3, log_every=1, grid=grid)
    without = small_model()
    b = beta_vae.train_beta_vae(without, steps=3, log_every=1)
    assert grid.calls == 3
    assert a == b
    for p, q in zip(with_grid.parameters(), without.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_grid_of_part_of_the_images_is_refused(tmp_path):
    path = sprites.build_reduced_grid(tmp_path / "g.npy", count=10)
    raises(
        lambda: beta_vae.train_beta_vae(
            small_model(), steps=1, grid=sprites.ReducedGrid(path)
        ),
        ValueError,
        "grid holds the first 10 images only",
    )


def test_training_probes_its_units_without_changing_its_numbers():
    probed, plain = small_model(), small_model()
    a = beta_vae.train_beta_vae(probed, steps=3, log_every=1, units_every=2)
    b = beta_vae.train_beta_vae(plain, steps=3, log_every=1)
    for p, q in zip(probed.parameters(), plain.parameters(), strict=True):
        assert torch.equal(p, q)
    assert a.objective == b.objective
    assert a.unit_step == [2, 3]
    assert [len(kl) for kl in a.unit_kl] == [10, 10]
    # The last probe is the trained model's KL per unit on the probe set.
    probe = beta_vae.evaluation_classes()[: beta_vae.UNIT_PROBE_SIZE]
    np.testing.assert_allclose(
        a.unit_kl[-1], beta_vae.kl_per_unit(probed, probe), rtol=1e-5
    )
    # A one-draw estimate: near 0 it may dip below by its noise.
    information = np.array(a.unit_information)
    assert information.shape == (2, 10)
    assert (information > -0.05).all()
    assert (information <= np.log(beta_vae.UNIT_PROBE_SIZE) + 1e-9).all()


def test_a_stopped_run_resumed_from_its_checkpoint_takes_the_same_steps(
    tmp_path, monkeypatch
):
    path = tmp_path / "run.checkpoint.safetensors"
    settings = dict(
        steps=6,
        log_every=1,
        units_every=2,
        capacity=beta_vae.Capacity(5.0, 4, 50.0),
    )
    whole = small_model()
    expected = beta_vae.train_beta_vae(whole, **settings)

    # The same run, stopped by an error in its fifth step: the checkpoint
    # of step 4 survives it.
    objective, calls = beta_vae.beta_vae_objective, []

    def stops_at_the_fifth_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return objective(*args, **kwargs)

    monkeypatch.setattr(
        beta_vae, "beta_vae_objective", stops_at_the_fifth_step
    )
    with pytest.raises(KeyboardInterrupt):
        beta_vae.train_beta_vae(
            small_model(), **settings, checkpoint=path, checkpoint_every=2
        )
    monkeypatch.setattr(beta_vae, "beta_vae_objective", objective)
    resumed = small_model()
    curves = beta_vae.train_beta_vae(
        resumed, **settings, checkpoint=path, checkpoint_every=2
    )
    for p, q in zip(resumed.parameters(), whole.parameters(), strict=True):
        assert torch.equal(p, q)
    assert curves.columns() == expected.columns()
    assert not resumed.training


def test_a_checkpoint_of_other_settings_is_refused(tmp_path):
    path = tmp_path / "run.checkpoint.safetensors"
    beta_vae.train_beta_vae(
        small_model(),
        steps=2,
        log_every=1,
        checkpoint=path,
        checkpoint_every=1,
    )
    raises(
        lambda: beta_vae.train_beta_vae(
            small_model(),
            steps=2,
            beta=4.0,
            log_every=1,
            checkpoint=path,
            checkpoint_every=1,
        ),
        ValueError,
        "other settings (beta differ)",
    )
    raises(
        lambda: beta_vae.train_beta_vae(
            small_model(),
            steps=2,
            log_every=2,
            checkpoint=path,
            checkpoint_every=3,
        ),
        ValueError,
        "must be a multiple of log_every (2)",
    )
