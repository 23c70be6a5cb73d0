"""Tests of vaecourse.conditional: the conditional VAE.

References: torch's one_hot; the negative ELBO computed with
torch.distributions from the model's own encoder and decoder outputs; the
trainer against a plain PyTorch loop written from its docstring; a trained
model's samples scored by a nearest-class-mean classifier, and its codes by
a nearest-neighbour classifier of the label.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from bad_inputs import raises, table
from torch.distributions import Bernoulli, Normal, kl_divergence

from vaecourse import conditional, data, train
from vaecourse.conditional import ConditionalVAE


def small_model(seed: int = 0, **kwargs) -> ConditionalVAE:
    train.set_seed(seed)
    return ConditionalVAE(
        **{"input_dim": 6, "hidden_dim": 5, "latent_dim": 2, "n_classes": 3}
        | kwargs
    )


def small_data(n: int = 12, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 6, generator=g) > 0.5).float()
    y = torch.randint(0, 3, (n,), generator=g)
    return x, y


def test_one_hot_is_torchs():
    labels = torch.tensor([3, 0, 9, 9])
    expected = F.one_hot(labels, 10).float()
    assert torch.equal(conditional.one_hot(labels), expected)
    assert conditional.one_hot(labels, 12, torch.float64).shape == (4, 12)


def test_the_loss_is_the_negative_conditional_elbo_of_torch_distributions():
    model = small_model()
    x, y = small_data()
    terms = model.loss(x, y, generator=torch.Generator().manual_seed(5))
    # The same noise by hand: encode with the label, one z, decode with it.
    mu, logvar = model.encode(x, y)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))
    z = mu + (0.5 * logvar).exp() * eps
    logits = model.decode(z, y)
    nll = -Bernoulli(logits=logits).log_prob(x).sum(1)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(
        1
    )
    assert terms.reconstruction.item() == pytest.approx(nll.mean().item())
    assert terms.kl.item() == pytest.approx(kl.mean().item(), rel=1e-5)
    assert terms.loss.item() == pytest.approx((nll + kl).mean().item())


def test_both_networks_read_the_label():
    model = small_model()
    x, _ = small_data(4)
    zeros, twos = torch.zeros(4, dtype=torch.long), torch.full((4,), 2)
    assert not torch.allclose(
        model.encode(x, zeros)[0], model.encode(x, twos)[0]
    )
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(model.decode(z, zeros), model.decode(z, twos))
    # The loss's gradient reaches the label's input weights of the classes
    # present, and only those.
    model.loss(x, torch.tensor([0, 0, 2, 2])).loss.backward()
    label_columns = model.encoder_body[0].weight.grad[:, 6:]
    assert label_columns[:, 0].abs().sum() > 0
    assert label_columns[:, 2].abs().sum() > 0
    assert label_columns[:, 1].abs().sum() == 0


def test_train_conditional_vae_is_exactly_a_plain_pytorch_loop():
    x, y = small_data(20)
    trained = small_model(seed=3)
    history = conditional.train_conditional_vae(
        trained, x, y, epochs=2, batch_size=8, lr=1e-2, seed=4
    )
    by_hand = small_model(seed=3)
    shuffle = torch.Generator().manual_seed(4)
    noise = torch.Generator().manual_seed(4)
    optimizer = torch.optim.Adam(by_hand.parameters(), lr=1e-2)
    losses = []
    for _ in range(2):
        total = 0.0
        for index in torch.randperm(20, generator=shuffle).split(8):
            loss = by_hand.loss(x[index], y[index], generator=noise).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        losses.append(total / 20)
    for a, b in zip(trained.parameters(), by_hand.parameters(), strict=True):
        assert torch.equal(a, b)
    assert history.train_loss == pytest.approx(losses, rel=1e-6)
    assert history.test_loss == []
    assert not trained.training


def test_a_trained_model_draws_the_digit_asked_for_and_codes_the_style():
    train_set = data.load_mnist_subset("train", binarized=True)
    test_set = data.load_mnist_subset("test", binarized=True)
    train.set_seed(0)
    model = ConditionalVAE(latent_dim=2)
    history = conditional.train_conditional_vae(
        model,
        train_set.images,
        train_set.labels,
        test_set.images,
        test_set.labels,
        epochs=5,
        seed=0,
    )
    assert history.test_loss[-1] < history.test_loss[0]
    means = torch.stack(
        [train_set.images[train_set.labels == k].mean(0) for k in range(10)]
    )
    labels = torch.arange(10).repeat(20)
    drawn = model.sample(labels, torch.Generator().manual_seed(0))
    nearest = torch.cdist(drawn, means).argmin(1)
    # Chance is 0.1; the same classifier is right on 0.8 of real digits.
    assert (nearest == labels).float().mean() > 0.6
    # The code is left with the style: a nearest-neighbour classifier of
    # the label from z does little better than chance (0.1).
    with torch.no_grad():
        z_train = model.encode(train_set.images, train_set.labels)[0]
        z_test = model.encode(test_set.images, test_set.labels)[0]
    neighbour = torch.cdist(z_test, z_train).argmin(1)
    accuracy = (train_set.labels[neighbour] == test_set.labels).float().mean()
    assert accuracy < 0.3


def test_evaluation_is_the_mean_of_the_batch_losses_with_seeded_noise():
    model = small_model()
    x, y = small_data(10)
    terms = conditional.evaluate_conditional_vae(
        model, x, y, batch_size=10, seed=7
    )
    expected = model.loss(x, y, generator=torch.Generator().manual_seed(7))
    assert terms.loss.item() == pytest.approx(expected.loss.item())
    assert terms.kl.item() == pytest.approx(expected.kl.item())


def test_samples_are_images_of_the_labels_asked_for():
    model = small_model()
    labels = torch.tensor([0, 1, 2, 2])
    drawn = model.sample(labels, torch.Generator().manual_seed(0))
    assert drawn.shape == (4, 6)
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(drawn, model.decode_mean(z, labels))


x6, y6 = small_data(6)
BAD = [
    (
        lambda: conditional.one_hot(torch.tensor([0.0, 1.0])),
        TypeError,
        "labels must hold integer class indices, got dtype torch.float32",
    ),
    (
        lambda: conditional.one_hot(torch.tensor([[0, 1]])),
        ValueError,
        "labels must be 1-D, one label per example, got shape (1, 2)",
    ),
    (
        lambda: conditional.one_hot(torch.tensor([0, 10])),
        ValueError,
        "labels must lie in [0, 9], got values from 0 to 10",
    ),
    (
        lambda: small_model().loss(x6, y6[:4]),
        ValueError,
        "y must hold one label per example: 6 examples, 4 labels",
    ),
    (
        lambda: small_model().sample(torch.tensor([3])),
        ValueError,
        "labels must lie in [0, 2], got values from 3 to 3",
    ),
    (
        lambda: conditional.train_conditional_vae(small_model(), x6, y6[:5]),
        ValueError,
        "train_labels must hold one label per example: 6 examples, 5 labels",
    ),
    (
        lambda: conditional.train_conditional_vae(small_model(), 2 * x6, y6),
        ValueError,
        "train_images",
    ),
    (
        lambda: conditional.train_conditional_vae(
            small_model(), x6, y6, test_images=x6
        ),
        ValueError,
        "give test_images and test_labels together",
    ),
    (
        lambda: conditional.train_conditional_vae(object(), x6, y6),
        TypeError,
        "model must be a vaecourse.conditional.ConditionalVAE, got object",
    ),
]


@table(BAD)
def test_bad_inputs_raise_clear_errors(call, error, message):
    raises(call, error, message)
