"""Tests of vaecourse.train: the training loops, their errors, log p(x)."""

from __future__ import annotations

import math
import random

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

from vaecourse import train
from vaecourse._validation import values_checked
from vaecourse.models import VAE, Autoencoder, LinearAutoencoder, NaiveStdVAE
from vaecourse.selfcheck import (
    PPCA_BIAS,
    PPCA_VARIANCE,
    PPCA_WEIGHT,
    PPCA_X,
    ppca_log_px,
    ppca_vae,
)
from vaecourse.train import (
    History,
    TrainingDiverged,
    active_units,
    evaluate_vae,
    importance_weighted_log_px,
    set_seed,
    train_autoencoder,
    train_vae,
)


def prototypes_data(n=96, d=16, seed=0):
    """Binary images from 3 noisy prototypes: a tiny model can learn them."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(3, d, generator=g) > 0.5).float()
    picks = protos[torch.randint(0, 3, (n,), generator=g)]
    flips = torch.rand(n, d, generator=g) < 0.05
    return torch.where(flips, 1 - picks, picks)


def tiny_vae(seed=0, model=VAE, **kwargs):
    set_seed(seed)
    return model(input_dim=16, hidden_dim=12, latent_dim=2, **kwargs)


def parameters(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


# --- set_seed ----------------------------------------------------------------


def test_set_seed_seeds_python_numpy_and_torch():
    g = set_seed(3)
    first = (
        random.random(),
        np.random.rand(),
        torch.rand(1).item(),
        torch.rand(1, generator=g).item(),
    )
    g = set_seed(3)
    assert (
        random.random(),
        np.random.rand(),
        torch.rand(1).item(),
        torch.rand(1, generator=g).item(),
    ) == first
    assert torch.rand(1, generator=set_seed(4)).item() != first[3]


# --- train_vae ---------------------------------------------------------------


def test_train_vae_is_deterministic_on_cpu():
    data = prototypes_data()
    runs = []
    for _ in range(2):
        model = tiny_vae()
        history = train_vae(
            model, data[:64], data[64:], epochs=3, batch_size=16, lr=1e-2
        )
        runs.append(
            (history, torch.cat([p.flatten() for p in model.parameters()]))
        )
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    other = train_vae(
        tiny_vae(),
        data[:64],
        data[64:],
        epochs=3,
        batch_size=16,
        lr=1e-2,
        seed=1,
    )
    assert other != runs[0][0]


def test_train_vae_learns_and_records_every_term():
    data = prototypes_data()
    model = tiny_vae()
    history = train_vae(
        model, data[:64], data[64:], epochs=15, batch_size=16, lr=1e-2
    )
    assert history.epochs == 15
    for name in [
        "train_loss",
        "test_loss",
        "train_reconstruction",
        "test_reconstruction",
        "train_kl",
        "test_kl",
    ]:
        assert len(getattr(history, name)) == 15, name
    np.testing.assert_allclose(
        history.train_loss,
        np.add(history.train_reconstruction, history.train_kl),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        history.test_loss,
        np.add(history.test_reconstruction, history.test_kl),
        rtol=1e-6,
    )
    # 16 fair coin flips cost 16 log 2 = 11.1 nats; 3 prototypes with 5%
    # noise cost far less.
    assert history.train_loss[0] > 10.0
    assert history.test_loss[-1] < 0.7 * history.test_loss[0]
    assert not model.training


def test_train_loss_is_the_average_of_the_batch_losses():
    # Rebuild the loop by hand: same initial weights, shuffling and noise.
    data = prototypes_data(n=40)
    history = train_vae(
        tiny_vae(), data, epochs=1, batch_size=16, lr=1e-2, seed=5
    )
    model = tiny_vae()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    order = torch.randperm(40, generator=torch.Generator().manual_seed(5))
    noise = torch.Generator().manual_seed(5)
    total = 0.0
    for start in range(0, 40, 16):
        x = data[order[start : start + 16]]
        terms = model.loss(x, generator=noise)
        optimizer.zero_grad()
        terms.loss.backward()
        optimizer.step()
        total += len(x) * terms.loss.item()
    assert history.test_loss == []
    assert history.train_loss[0] == pytest.approx(total / 40, rel=1e-6)


def test_evaluate_vae_samples_z_and_averages_over_examples():
    data = prototypes_data(n=30)
    model = tiny_vae()
    terms = evaluate_vae(model, data, seed=2)
    with torch.no_grad():
        mu, logvar = model.encode(data)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(
            mu.shape, generator=torch.Generator().manual_seed(2)
        )
        recon = -Independent(Bernoulli(logits=model.decode(z)), 1).log_prob(
            data
        )
        q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
        kl = kl_divergence(
            q, Independent(Normal(torch.zeros_like(mu), 1.0), 1)
        )
        at_mean = -Independent(Bernoulli(logits=model.decode(mu)), 1).log_prob(
            data
        )
    assert terms.reconstruction.item() == pytest.approx(
        recon.mean().item(), rel=1e-5
    )
    assert terms.kl.item() == pytest.approx(kl.mean().item(), rel=1e-5)
    assert terms.loss.item() == pytest.approx(
        (recon + kl).mean().item(), rel=1e-5
    )
    assert terms.reconstruction.item() != pytest.approx(
        at_mean.mean().item(), rel=1e-3
    )


# --- History -----------------------------------------------------------------


def test_history_table_is_rounded_and_skips_empty_columns():
    history = History(
        train_loss=[100.123, 90.5],
        test_loss=[101.0, 91.239],
        train_reconstruction=[95.0, 85.0],
        test_reconstruction=[96.0, 86.0],
        train_kl=[5.123, 5.5],
        test_kl=[5.0, 5.239],
    )
    lines = history.to_table().splitlines()
    assert lines[0].split() == [
        "epoch",
        "train_loss",
        "test_loss",
        "train_recon",
        "test_recon",
        "train_kl",
        "test_kl",
    ]
    assert lines[1].split() == [
        "1",
        "100.12",
        "101.00",
        "95.00",
        "96.00",
        "5.12",
        "5.00",
    ]
    assert lines[2].split() == [
        "2",
        "90.50",
        "91.24",
        "85.00",
        "86.00",
        "5.50",
        "5.24",
    ]
    assert str(history) == history.to_table()
    ae = History(train_loss=[3.14159], train_reconstruction=[3.14159])
    assert ae.to_table(decimals=3).splitlines() == [
        "epoch  train_loss  train_recon",
        "    1       3.142        3.142",
    ]


# --- train_autoencoder -------------------------------------------------------


def test_linear_autoencoder_reaches_the_pca_error():
    # Squared error of the best rank-2 affine reconstruction: the sum of the
    # discarded eigenvalues of the (biased) covariance (Baldi and Hornik,
    # 1989).
    g = torch.Generator().manual_seed(0)
    data = (
        torch.randn(200, 5, generator=g)
        * torch.tensor([3.0, 2.0, 0.5, 0.3, 0.1])
        + 1.0
    )
    eigenvalues = np.linalg.eigvalsh(np.cov(data.numpy().T, bias=True))
    optimum = eigenvalues[:3].sum()
    set_seed(0)
    model = LinearAutoencoder(5, 2)
    history = train_autoencoder(
        model, data, data, loss="mse", epochs=100, batch_size=50, lr=0.1
    )
    assert history.test_loss[-1] == pytest.approx(optimum, rel=0.02)
    assert history.test_loss[-1] >= optimum * (1 - 1e-4)
    assert history.train_kl == [] and history.test_kl == []


def test_autoencoder_bce_history_matches_a_direct_computation():
    data = prototypes_data()
    set_seed(0)
    model = Autoencoder(input_dim=16, hidden_dim=12, latent_dim=2)
    history = train_autoencoder(
        model, data[:64], data[64:], epochs=10, batch_size=16, lr=1e-2
    )
    with torch.no_grad():
        bce = torch.nn.functional.binary_cross_entropy(
            model.reconstruct(data[64:]), data[64:], reduction="sum"
        )
    assert history.test_loss[-1] == pytest.approx(bce.item() / 32, rel=1e-4)
    assert history.test_loss[-1] < 0.7 * history.test_loss[0]
    assert history.train_loss == history.train_reconstruction


def test_autoencoder_mse_is_summed_over_pixels():
    data = prototypes_data(n=20)
    set_seed(0)
    model = Autoencoder(input_dim=16, hidden_dim=12, latent_dim=2)
    history = train_autoencoder(
        model, data, data, loss="mse", epochs=1, batch_size=20, lr=1e-12
    )
    with torch.no_grad():
        per_pixel = torch.nn.functional.mse_loss(model.reconstruct(data), data)
    assert history.test_loss[0] == pytest.approx(
        16 * per_pixel.item(), rel=1e-5
    )


# --- the step and the divergence check ---------------------------------------


def test_the_elbo_step_is_the_models_one_sample_loss():
    model, x = tiny_vae(), prototypes_data(n=8)
    terms = train._elbo_step(model, x, 2.0, torch.Generator().manual_seed(3))
    expected = model.loss(
        x, beta=2.0, generator=torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(tuple(terms), tuple(expected))
    naive = tiny_vae(model=NaiveStdVAE)
    with torch.no_grad():
        naive.std_head.bias.fill_(-1.0)  # sigma < 0: log(sigma^2) is NaN
        naive.std_head.weight.zero_()
    # With every check on, the loss functions refuse the NaN log-variance;
    # with the value scans off, as train_vae runs it, the KL is NaN.
    with pytest.raises(ValueError, match="logvar contains NaN"):
        train._elbo_step(naive, x, 1.0, None)
    with values_checked():
        terms = train._elbo_step(naive, x, 1.0, None)
    assert math.isnan(terms.kl.item()) and math.isnan(terms.loss.item())
    assert math.isfinite(terms.reconstruction.item())
    # Run again with checks: None, for a forward pass that was not finite.
    noise = torch.Generator().manual_seed(3)
    state = noise.get_state()
    assert train._checked_terms(naive, x, 1.0, noise, state, terms) is None


def test_a_step_run_again_draws_the_same_noise():
    # beta = 1e37: both terms finite, the loss inf; run again, the step
    # must give the same terms to the bit, so the same noise.
    model, x = tiny_vae(), prototypes_data(n=8)
    with torch.no_grad():
        model.mu_head.bias.fill_(10.0)
    noise = torch.Generator().manual_seed(5)
    state = noise.get_state()
    with values_checked():
        terms = train._elbo_step(model, x, 1e37, noise)
    assert terms.loss.item() == math.inf
    named = train._checked_terms(model, x, 1e37, noise, state, terms)
    assert named["loss"].item() == math.inf
    assert named["reconstruction"].item() == terms.reconstruction.item()
    assert named["kl"].item() == terms.kl.item()


def test_a_step_that_is_finite_when_run_again_keeps_its_own_terms():
    # A GPU kernel need not give the same bits twice: the step's own terms
    # then name the culprit, rather than none at all.
    model, x = tiny_vae(), prototypes_data(n=8)
    noise = torch.Generator().manual_seed(3)
    state = noise.get_state()
    nan, one = torch.tensor(math.nan), torch.tensor(1.0)
    step = train.ELBOTerms(loss=nan, reconstruction=one, kl=nan)
    named = train._checked_terms(model, x, 1.0, noise, state, step)
    assert math.isnan(named["kl"]) and named["reconstruction"] == 1.0


def test_a_network_predicting_sigma_fails_at_the_first_batch_naming_the_kl():
    with pytest.raises(
        TrainingDiverged, match=r"epoch 1, batch 1: the kl term is NaN"
    ) as info:
        train_vae(
            tiny_vae(model=NaiveStdVAE),
            prototypes_data(),
            epochs=2,
            batch_size=16,
        )
    assert (info.value.epoch, info.value.batch, info.value.term) == (
        1,
        1,
        "kl",
    )
    assert isinstance(info.value, FloatingPointError)
    assert "(mu finite: True, log-variance NaN: True)" in str(info.value)


def test_zero_sigma_gives_an_infinite_kl():
    model = tiny_vae(model=NaiveStdVAE)
    with torch.no_grad():
        model.std_head.weight.zero_()
        model.std_head.bias.zero_()
    with pytest.raises(
        TrainingDiverged, match=r"epoch 1, batch 1: the kl term is inf"
    ):
        train_vae(model, prototypes_data(), epochs=1)


def test_the_error_names_the_batch_of_the_bad_example():
    g = torch.Generator().manual_seed(1)
    data = torch.rand(40, 16, generator=g)
    data[17] = 1e20  # its squared error, 1e40, overflows float32
    order = torch.randperm(40, generator=torch.Generator().manual_seed(0))
    batch = int((order == 17).nonzero()) // 8 + 1
    model = tiny_vae(likelihood="gaussian")
    # In the VAE, sigma = exp(logvar / 2) overflows first and the decoder
    # returns NaN.
    with pytest.raises(
        TrainingDiverged,
        match=rf"epoch 1, batch {batch}: the reconstruction term is NaN",
    ):
        train_vae(model, data, epochs=1, batch_size=8)
    set_seed(0)
    with pytest.raises(
        TrainingDiverged,
        match=rf"epoch 1, batch {batch}: the reconstruction term is inf",
    ):
        train_autoencoder(
            LinearAutoencoder(16, 2), data, loss="mse", epochs=1, batch_size=8
        )


def test_an_encoder_that_overflows_is_named_not_left_to_a_value_check():
    # mu = inf: the loss functions, run with checks after the failed step,
    # refuse it; training stops with TrainingDiverged, not a ValueError.
    model = tiny_vae()
    with torch.no_grad():
        model.mu_head.weight.fill_(3e38)
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 1") as info:
        train_vae(model, prototypes_data(), epochs=1)
    assert info.value.term == "kl"
    assert "(mu finite: False, log-variance NaN: False)" in str(info.value)


def test_a_variance_that_underflows_is_refused_as_outside_training():
    # 1e-50 is 0 in float32: the check of the variance names it, though
    # the steps run without value scans (the loss is then not finite).
    model = tiny_vae(likelihood="gaussian", decoder_variance=1e-50)
    before = parameters(model)
    with pytest.raises(
        ValueError,
        match="variance must be positive and finite in torch.float32",
    ):
        train_vae(model, prototypes_data(), epochs=1)
    assert torch.equal(parameters(model), before)


def test_the_data_are_scanned_once_per_call_not_per_batch(monkeypatch):
    # The value scans (NaN, the range [0, 1]) run on the data before the
    # first step; the steps and the test passes do not scan them again.
    calls = {"isnan": 0, "isfinite": 0, "aminmax": 0}
    for name in calls:
        original = getattr(torch, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(torch, name, counted)
    data = prototypes_data(n=64)
    counts = []
    for epochs, batch_size in [(1, 32), (3, 4)]:  # 2 steps, then 48
        calls.update(isnan=0, isfinite=0, aminmax=0)
        train_vae(tiny_vae(), data, data, epochs=epochs, batch_size=batch_size)
        counts.append((calls["isnan"], calls["aminmax"]))
        steps = epochs * 64 // batch_size
        # one test of the terms and one of the gradients per step, one
        # test of each test pass
        assert calls["isfinite"] == 2 * steps + epochs
    assert counts[0] == counts[1] == (2, 2)  # train and test images


def test_evaluate_vae_still_names_a_decoder_that_returns_nan():
    model = tiny_vae()
    with torch.no_grad():
        model.decoder[-1].bias.fill_(math.nan)
    with pytest.raises(ValueError, match="logits contains NaN"):
        evaluate_vae(model, prototypes_data())
    # and an overflow that no check refuses is returned, as before
    model = tiny_vae(likelihood="gaussian")
    with torch.no_grad():
        model.decoder[-1].bias.fill_(3e38)
    terms = evaluate_vae(model, prototypes_data())
    assert terms.loss.item() == math.inf


def test_a_non_finite_gradient_stops_training_naming_the_parameter():
    model = tiny_vae()
    model.mu_head.weight.register_hook(lambda grad: grad * float("inf"))
    with pytest.raises(
        TrainingDiverged,
        match="epoch 1, batch 1: the gradient of mu_head.weight is not finite",
    ) as info:
        train_vae(model, prototypes_data(), epochs=1)
    assert info.value.term == "gradient"


def test_a_loss_that_overflows_is_named_and_not_called_finite():
    # Both terms finite, beta finite, their weighted sum inf in float32.
    model = tiny_vae()
    with torch.no_grad():
        model.mu_head.bias.fill_(10.0)  # a KL of about 100 nats
    with pytest.raises(TrainingDiverged) as info:
        train_vae(model, prototypes_data(), epochs=1, beta=1e37)
    assert info.value.term == "loss"
    assert "the loss is inf though its terms are finite" in str(info.value)
    assert "the loss was finite" not in str(info.value)


def test_beta_inf_or_nan_is_refused_before_training():
    for beta, message in [
        (float("inf"), "beta must be finite, got inf"),
        (float("nan"), "beta must be a number, got NaN"),
    ]:
        model = tiny_vae()
        before = parameters(model)
        with pytest.raises(ValueError, match=message):
            train_vae(model, prototypes_data(), epochs=1, beta=beta)
        assert torch.equal(parameters(model), before)


# --- the data are checked before the first step ------------------------------


def test_unscaled_test_images_are_refused_before_any_step():
    # Caught up front, under the argument's name: not after an epoch as "x".
    model = tiny_vae()
    before = parameters(model)
    with pytest.raises(
        ValueError,
        match=r"test_images must lie in \[0, 1\], "
        r"found values in \[0, 255\]",
    ):
        train_vae(model, prototypes_data(), prototypes_data() * 255, epochs=1)
    assert torch.equal(parameters(model), before)
    set_seed(0)
    autoencoder = Autoencoder(16, 4, 2)
    before = parameters(autoencoder)
    with pytest.raises(ValueError, match=r"test_images must lie in \[0, 1\]"):
        train_autoencoder(
            autoencoder, prototypes_data(), prototypes_data() * 16, epochs=1
        )
    assert torch.equal(parameters(autoencoder), before)
    # the squared error has no such requirement
    train_autoencoder(
        autoencoder, prototypes_data() * 16, loss="mse", epochs=1
    )


def test_float64_images_name_both_dtypes_and_the_fix_before_any_step():
    images = torch.from_numpy(prototypes_data().numpy().astype(np.float64))
    model = tiny_vae()
    before = parameters(model)
    with pytest.raises(
        TypeError,
        match=r"train_images has dtype torch.float64 "
        r"but the model's weights have dtype torch.float32: "
        r"convert the data with train_images.to\(torch.float32\)",
    ):
        train_vae(model, images, epochs=1)
    assert torch.equal(parameters(model), before)
    history = train_vae(model, images.float(), epochs=1)
    assert math.isfinite(history.train_loss[0])


def test_training_leaves_the_global_random_state_alone():
    # Shuffling and noise come from the loops' own generators.
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    states = (
        random.getstate(),
        np.random.get_state()[1].copy(),
        torch.get_rng_state(),
    )
    data = prototypes_data(n=32)
    train_vae(tiny_vae(), data, data, epochs=1, batch_size=16, seed=7)
    set_seed(0)
    autoencoder = Autoencoder(16, 4, 2)
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    train_autoencoder(autoencoder, data, data, epochs=1, seed=7)
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])


BAD_CALLS = [
    (
        lambda: train_vae(Autoencoder(16, 4, 2), prototypes_data()),
        TypeError,
        "use train_autoencoder",
    ),
    (
        lambda: train_autoencoder(tiny_vae(), prototypes_data()),
        TypeError,
        "use train_vae for a VAE",
    ),
    (
        lambda: train_autoencoder(LinearAutoencoder(16, 2), prototypes_data()),
        ValueError,
        "use loss='mse'",
    ),
    (
        lambda: train_autoencoder(
            Autoencoder(16, 4, 2), prototypes_data(), loss="l1"
        ),
        ValueError,
        "loss must be 'bce' or 'mse'",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data(), epochs=0),
        ValueError,
        "epochs must be at least 1, got 0",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data(), batch_size=2.0),
        TypeError,
        "batch_size must be an integer, got float 2.0",
    ),
    (
        lambda: train_autoencoder(
            Autoencoder(16, 4, 2), prototypes_data(), epochs=1.5
        ),
        TypeError,
        "epochs must be an integer, got float 1.5",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data(), lr=-1e-3),
        ValueError,
        "lr must be positive, got -0.001",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data(), beta=-1),
        ValueError,
        "beta must be at least 0.0, got -1.0",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data(), beta=float("inf")),
        ValueError,
        "beta must be finite, got inf",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data(), beta=float("nan")),
        ValueError,
        "beta must be a number, got NaN",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data(), beta="1"),
        TypeError,
        "beta must be a real number, got str",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data(), seed=-1),
        ValueError,
        "seed must be at least 0, got -1",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data(d=15)),
        ValueError,
        r"train_images must have shape \(batch, 16\) .* got \(96, 15\)",
    ),
    (
        lambda: train_vae(
            tiny_vae(), prototypes_data(), prototypes_data()[:, :4]
        ),
        ValueError,
        r"test_images must have shape \(batch, 16\)",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data()[:0]),
        ValueError,
        r"train_images must hold at least one example, got a batch of size 0",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data() * 255),
        ValueError,
        r"train_images must lie in \[0, 1\], found values in \[0, 255\]",
    ),
    (
        lambda: train_vae(
            tiny_vae(likelihood="continuous_bernoulli"), prototypes_data() - 1
        ),
        ValueError,
        r"train_images must lie in \[0, 1\], found values in \[-1, 0\]",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data().double()),
        TypeError,
        r"train_images has dtype torch.float64 but the model's weights "
        r"have dtype torch.float32",
    ),
    (
        lambda: train_autoencoder(
            Autoencoder(16, 4, 2),
            prototypes_data(),
            prototypes_data().double(),
        ),
        TypeError,
        r"test_images has dtype torch.float64 but the model's weights "
        r"have dtype torch.float32",
    ),
    (
        lambda: train_vae(tiny_vae(), prototypes_data().numpy()),
        TypeError,
        "train_images must be a torch.Tensor",
    ),
    (lambda: set_seed(-1), ValueError, "seed must be at least 0, got -1"),
    (
        lambda: set_seed(1.5),
        TypeError,
        "seed must be an integer, got float 1.5",
    ),
    (
        lambda: importance_weighted_log_px(tiny_vae(), prototypes_data(), k=0),
        ValueError,
        "k must be at least 1, got 0",
    ),
    (
        lambda: importance_weighted_log_px(
            tiny_vae(), prototypes_data(), k=5.0
        ),
        TypeError,
        "k must be an integer, got float 5.0",
    ),
    (
        lambda: importance_weighted_log_px(
            tiny_vae(), prototypes_data(), generator=0
        ),
        TypeError,
        r"generator must be a torch.Generator or None, got int 0; "
        r"for a seed s, "
        r"pass torch.Generator\(\).manual_seed\(s\)",
    ),
    (
        lambda: importance_weighted_log_px(tiny_vae(), prototypes_data()[:0]),
        ValueError,
        r"x must hold at least one example, got a batch of size 0",
    ),
    (
        lambda: importance_weighted_log_px(
            Autoencoder(16, 4, 2), prototypes_data()
        ),
        TypeError,
        "model must be a vaecourse.models.VAE",
    ),
    (
        lambda: importance_weighted_log_px(tiny_vae(), torch.rand(16)),
        ValueError,
        "add a batch dimension",
    ),
    (
        lambda: importance_weighted_log_px(
            tiny_vae(), prototypes_data().double()
        ),
        TypeError,
        "x has dtype torch.float64",
    ),
    (
        lambda: evaluate_vae(tiny_vae(), torch.rand(3, 4)),
        ValueError,
        r"images must have shape \(batch, 16\)",
    ),
    (
        lambda: evaluate_vae(tiny_vae(), prototypes_data() * 2),
        ValueError,
        r"images must lie in \[0, 1\]",
    ),
    (
        lambda: evaluate_vae(tiny_vae(), prototypes_data(), beta=-0.5),
        ValueError,
        "beta must be at least 0.0, got -0.5",
    ),
    (
        lambda: evaluate_vae(tiny_vae(), prototypes_data(), seed=-2),
        ValueError,
        "seed must be at least 0, got -2",
    ),
    (
        lambda: active_units(tiny_vae(), prototypes_data(), threshold=-0.1),
        ValueError,
        "threshold must be at least 0.0, got -0.1",
    ),
    (
        lambda: active_units(tiny_vae(), prototypes_data()[:1]),
        ValueError,
        "images must hold at least 2 examples to measure a variance, got 1",
    ),
]


@pytest.mark.parametrize(
    "call, error, message",
    BAD_CALLS,
    ids=[message for _, _, message in BAD_CALLS],
)
def test_bad_calls_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- importance-weighted log p(x) --------------------------------------------
# The probabilistic-PCA VAE of vaecourse.selfcheck: p(z) = N(0, I),
# p(x|z) = N(Wz + b, s^2 I), whose log p(x) is known exactly.


def test_with_the_exact_posterior_every_weight_is_p_of_x():
    # log p(x|z) + log p(z) - log p(z|x) = log p(x) for every z: zero variance.
    model = ppca_vae(exact_posterior=True)
    for k in (1, 7):
        estimate = importance_weighted_log_px(
            model, PPCA_X, k=k, generator=torch.Generator().manual_seed(k)
        )
        torch.testing.assert_close(
            estimate, ppca_log_px(PPCA_X), rtol=1e-5, atol=1e-5
        )


def test_the_bound_tightens_with_k_and_converges_to_log_px():
    model = ppca_vae(exact_posterior=False)
    x = PPCA_X.repeat_interleave(
        400, dim=0
    )  # 400 independent estimates per example
    means = {}
    for k in (1, 10, 100):
        estimate = importance_weighted_log_px(
            model, x, k=k, generator=torch.Generator().manual_seed(k)
        )
        means[k] = estimate.reshape(3, 400).mean(1)
    exact = ppca_log_px(PPCA_X)
    assert (means[1] < means[10]).all() and (means[10] < means[100]).all()
    assert (means[100] < exact + 0.01).all()
    big = importance_weighted_log_px(
        model, PPCA_X, k=20000, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(big, exact, rtol=0, atol=0.05)


def test_k_equal_one_is_the_elbo_in_expectation():
    w, b, s2 = PPCA_WEIGHT, PPCA_BIAS, PPCA_VARIANCE
    model = ppca_vae(exact_posterior=False)
    n = 20000
    x = PPCA_X[:1].repeat(n, 1)
    estimate = importance_weighted_log_px(
        model, x, k=1, generator=torch.Generator().manual_seed(3)
    )
    # Closed-form ELBO for q = N(m, diag v):
    # E_q log N(x; Wz + b, s^2 I) - KL(q || p).
    mu, logvar = model.encode(PPCA_X[:1])
    var = logvar.exp()
    expected_loglik = Independent(
        Normal(mu @ w.T + b, math.sqrt(s2)), 1
    ).log_prob(PPCA_X[:1]) - (w.pow(2) @ var[0]).sum() / (2 * s2)
    kl = kl_divergence(
        Independent(Normal(mu, var.sqrt()), 1),
        Independent(Normal(torch.zeros(2), 1.0), 1),
    )
    elbo = (expected_loglik - kl).item()
    standard_error = estimate.std().item() / math.sqrt(n)
    assert abs(estimate.mean().item() - elbo) < 4 * standard_error
    # the training loss estimates the same quantity
    loss = model.loss(
        x, generator=torch.Generator().manual_seed(4)
    ).loss.item()
    assert abs(-loss - elbo) < 4 * standard_error


@pytest.mark.parametrize(
    "likelihood, decoder",
    [
        ("bernoulli", lambda output: Bernoulli(logits=output)),
        (
            "continuous_bernoulli",
            lambda output: ContinuousBernoulli(logits=output),
        ),
        ("gaussian", lambda output: Normal(output, math.sqrt(0.3))),
    ],
)
def test_the_estimate_uses_the_models_likelihood(likelihood, decoder):
    # Reference: the same draws of z scored with torch.distributions.
    set_seed(1)
    model = VAE(16, 12, 2, likelihood=likelihood, decoder_variance=0.3)
    x = prototypes_data(n=5)
    if likelihood == "continuous_bernoulli":
        x = 0.1 + 0.8 * x  # grey values, where the two Bernoullis differ
    k = 4
    estimate = importance_weighted_log_px(
        model, x, k=k, generator=torch.Generator().manual_seed(2)
    )
    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(
            (k, *mu.shape), generator=torch.Generator().manual_seed(2)
        )
        z = mu + std * eps
        output = model.decode(z.reshape(-1, 2)).reshape(k, 5, 16)
        log_weights = (
            Independent(decoder(output), 1).log_prob(x)
            + Independent(Normal(torch.zeros(2), 1.0), 1).log_prob(z)
            - Independent(Normal(mu, std), 1).log_prob(z)
        )
        expected = torch.logsumexp(log_weights, 0) - math.log(k)
    torch.testing.assert_close(estimate, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("train_mode", [True, False])
def test_the_estimate_leaves_the_model_in_its_mode(train_mode):
    model = tiny_vae().train(train_mode)
    importance_weighted_log_px(model, prototypes_data(n=4), k=2)
    assert model.training is train_mode
    evaluate_vae(model, prototypes_data(n=4))
    assert model.training is train_mode


def test_bernoulli_estimate_is_reproducible_and_below_zero():
    model = tiny_vae()
    data = prototypes_data(n=10)
    first = importance_weighted_log_px(
        model, data, k=5, generator=torch.Generator().manual_seed(0)
    )
    again = importance_weighted_log_px(
        model, data, k=5, generator=torch.Generator().manual_seed(0)
    )
    assert first.shape == (10,)
    torch.testing.assert_close(first, again)
    assert (first < 0).all()  # a probability mass of binary data is at most 1


def test_the_self_check_rejects_the_usual_mistakes():
    from vaecourse import selfcheck

    def mean_of_log_weights(
        model, x, k, generator
    ):  # the ELBO for every k: no tightening
        return (
            importance_weighted_log_px(model, x.repeat(k, 1), 1, generator)
            .reshape(k, -1)
            .mean(0)
        )

    def without_log_k(model, x, k, generator):
        return importance_weighted_log_px(model, x, k, generator) + math.log(k)

    assert selfcheck.check(
        "importance_weighted_log_px", importance_weighted_log_px
    ).ok
    for wrong, message in [
        (mean_of_log_weights, "must increase with k"),
        (without_log_k, "subtract log k"),
    ]:
        report = selfcheck.check("importance_weighted_log_px", wrong)
        assert not report.ok and message in str(report)


def test_active_units_are_those_whose_posterior_mean_varies_with_x():
    model = tiny_vae()
    with torch.no_grad():
        model.mu_head.weight[1].zero_()  # unit 2 ignores x: collapsed
    data = prototypes_data()
    active = active_units(model, data)
    with torch.no_grad():
        mu = model.encode(data)[0].numpy()
    expected = np.var(mu, axis=0) > 0.01
    assert active.tolist() == expected.tolist() and active.tolist()[1] is False
    assert active_units(model, data, threshold=0.0).tolist() == [True, False]
    with pytest.raises(ValueError, match="at least 2 examples"):
        active_units(model, data[:1])


def test_the_progress_bar_is_shown_only_when_asked(capsys):
    data = prototypes_data(n=32)
    train_vae(tiny_vae(), data, epochs=2, batch_size=16, progress=False)
    assert capsys.readouterr().err == ""
    train_vae(tiny_vae(), data, epochs=2, batch_size=16, progress=True)
    assert "epochs: 100%" in capsys.readouterr().err


# --- train_vae is a plain PyTorch loop ---------------------------------------


def plain_pytorch_loop(model, train, test, *, epochs, batch_size, lr, seed):
    """The loop of train_vae written out with nothing but PyTorch."""
    F = torch.nn.functional
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed)

    def negative_elbo(x, generator):
        logits, mu, logvar = model(x, generator)
        reconstruction = F.binary_cross_entropy_with_logits(
            logits, x, reduction="none"
        ).sum(1)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
        return reconstruction.mean() + kl.mean()

    train_losses, test_losses = [], []
    for _ in range(epochs):
        model.train()
        total = 0.0
        order = torch.randperm(len(train), generator=shuffle)
        for start in range(0, len(train), batch_size):
            x = train[order[start : start + batch_size]]
            loss = negative_elbo(x, noise)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += len(x) * loss.item()
        train_losses.append(total / len(train))
        model.eval()
        test_noise = torch.Generator().manual_seed(seed + 1_000_003)
        with torch.no_grad():
            total = sum(
                len(x) * negative_elbo(x, test_noise).item()
                for x in test.split(500)
            )
        test_losses.append(total / len(test))
    return train_losses, test_losses


def test_train_vae_is_exactly_a_plain_pytorch_loop():
    # Same seeds, same numbers: == on floats, not approx.
    data = prototypes_data(n=600)
    train_data, test_data = data[:520], data[520:]
    settings = dict(epochs=3, batch_size=48, lr=1e-2, seed=4)
    history = train_vae(tiny_vae(), train_data, test_data, **settings)
    plain_model = tiny_vae()
    train_losses, test_losses = plain_pytorch_loop(
        plain_model, train_data, test_data, **settings
    )
    assert history.train_loss == train_losses
    assert history.test_loss == test_losses
    trained = tiny_vae()
    train_vae(trained, train_data, test_data, **settings)
    assert torch.equal(parameters(trained), parameters(plain_model))


def test_eval_every_skips_test_passes_but_not_the_last():
    data = prototypes_data()
    every = train_vae(
        tiny_vae(), data[:64], data[64:], epochs=5, batch_size=16, eval_every=2
    )
    full = train_vae(tiny_vae(), data[:64], data[64:], epochs=5, batch_size=16)
    assert every.train_loss == full.train_loss
    for name in ("test_loss", "test_reconstruction", "test_kl"):
        got, want = getattr(every, name), getattr(full, name)
        assert [math.isnan(v) for v in got] == [
            True,
            False,
            True,
            False,
            False,
        ]
        assert [got[i] for i in (1, 3, 4)] == [want[i] for i in (1, 3, 4)]
    with pytest.raises(ValueError, match="eval_every must be at least 1"):
        train_vae(tiny_vae(), data, epochs=1, eval_every=0)


# --- the importance-weighted estimator in blocks -----------------------------


def all_at_once_estimate(model, x, k, seed):
    """Burda et al.'s estimator with every sample drawn and decoded at once."""
    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(
            (k, *mu.shape),
            generator=torch.Generator().manual_seed(seed),
            dtype=mu.dtype,
        )
        z = mu + std * eps
        logits = model.decode(z.reshape(-1, mu.shape[1]))
        log_px_z = Independent(
            Bernoulli(logits=logits.reshape(k, *x.shape)), 1
        ).log_prob(x)
        prior = Independent(Normal(torch.zeros_like(mu), 1.0), 1)
        log_w = (
            log_px_z
            + prior.log_prob(z)
            - Independent(Normal(mu, std), 1).log_prob(z)
        )
        return torch.logsumexp(log_w, 0) - math.log(k)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [1, 7, 50, 333])
def test_blocks_give_the_all_at_once_estimate(k, dtype):
    model = tiny_vae().to(dtype)
    x = prototypes_data(n=13).to(dtype)
    expected = all_at_once_estimate(model, x, k, seed=k)
    tolerance = 1e-10 if dtype == torch.float64 else 2e-5
    for block in (1, 13, 40, 10_000):  # 1 sample per block ... all at once
        estimate = importance_weighted_log_px(
            model,
            x,
            k=k,
            generator=torch.Generator().manual_seed(k),
            batch_size=13,
            samples_per_block=block,
        )
        assert estimate.dtype == dtype
        torch.testing.assert_close(
            estimate, expected, rtol=tolerance, atol=tolerance
        )


def test_blocks_draw_the_same_numbers_as_one_call():
    # Every block but the last holds a multiple of 16 numbers.
    for k, per_sample, samples in [(50, 26, 3), (333, 40, 7), (9, 1, 2)]:
        blocks = train._sample_blocks(k, per_sample, samples)
        assert sum(blocks) == k and max(blocks) <= max(samples, 16) + 16
        g = torch.Generator().manual_seed(0)
        whole = torch.randn((k, per_sample), generator=g)
        g = torch.Generator().manual_seed(0)
        parts = torch.cat(
            [torch.randn((n, per_sample), generator=g) for n in blocks]
        )
        assert torch.equal(parts, whole)


def test_the_largest_decoded_block_does_not_grow_with_k():
    # The bound on memory: at most samples_per_block images decoded at once.
    model = tiny_vae()
    sizes = []
    model.decoder.register_forward_pre_hook(
        lambda module, args: sizes.append(len(args[0]))
    )
    x = prototypes_data(n=20)
    for k in (50, 5_000):
        sizes.clear()
        importance_weighted_log_px(
            model, x, k=k, batch_size=10, samples_per_block=1_000
        )
        assert sum(sizes) == 20 * k
        assert max(sizes) == min(10 * k, 1_000)


def test_peak_memory_does_not_grow_with_k():
    # In a fresh process, k = 4,000 samples of 10 images in blocks of 1,000
    # decoded images: the peak resident memory (VmHWM, reset just before)
    # grows by under 80 MB. All at once, the decoder's output alone would
    # be 40,000 x 784 floats, 125 MB, and the estimate needs several such.
    import os
    import subprocess
    import sys

    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak")
    script = """
import torch
from vaecourse.models import VAE
from vaecourse.train import importance_weighted_log_px
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
torch.manual_seed(0)
model = VAE(784, None, 20)
x = (torch.rand(10, 784) > 0.5).float()
importance_weighted_log_px(model, x, k=2)
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
importance_weighted_log_px(model, x, k=4000, samples_per_block=1000)
print(status("VmHWM") - before)
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    growth = int(out.stdout.split()[-1])
    assert growth < 80e6, f"peak memory grew by {growth / 1e6:.0f} MB"


# --- free bits -------------------------------------------------------------


def test_free_bits_above_every_units_kl_train_as_beta_zero():
    # With lambda above any unit's KL the KL term of the objective is a
    # constant: no gradient, so exactly the weights of a run without it.
    data = prototypes_data()
    free, plain = tiny_vae(), tiny_vae()
    history = train_vae(free, data, epochs=2, batch_size=32, free_bits=1e6)
    train_vae(plain, data, epochs=2, batch_size=32, beta=0.0)
    assert torch.equal(parameters(free), parameters(plain))
    # the objective is logged, its KL term at 2 units x 1e6 nats
    assert history.train_loss[0] > 2e6
    assert history.train_kl[0] < 100  # and the KL, that of the ELBO


def test_free_bits_keep_units_that_a_heavy_kl_switches_off():
    data = prototypes_data(n=192)
    runs = {}
    for free_bits in (0.0, 0.5):
        model = tiny_vae()
        train_vae(
            model,
            data,
            epochs=30,
            batch_size=32,
            lr=1e-2,
            beta=20.0,
            free_bits=free_bits,
        )
        with torch.no_grad():
            mu, logvar = model.encode(data)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
        runs[free_bits] = kl.mean(0)
    assert (runs[0.0] < 0.05).all(), runs  # beta = 20 switches both off
    assert (runs[0.5] > 0.3).all(), runs  # free bits keep both near 0.5


def test_negative_free_bits_are_refused_before_training():
    model = tiny_vae()
    with pytest.raises(ValueError, match="free_bits must be at least 0.0"):
        train_vae(model, prototypes_data(), epochs=1, free_bits=-0.5)
