r"""A conditional VAE: the label enters the encoder and the decoder.

Kingma et al. (2014, their model M2 with the label observed) and Sohn et
al. (2015) condition every distribution of the VAE on a label :math:`y`:

.. math::

    \begin{aligned}
    q(z \mid x, y) &= \mathcal N\big(\mu(x, y), \operatorname{diag}
    \sigma^2(x, y)\big), \\
    p(x \mid z, y) &= \mathrm{Bernoulli}\big(\operatorname{sigmoid}
    g(z, y)\big), \qquad
    p(z) = \mathcal N(0, I),
    \end{aligned}

and maximise the conditional ELBO, a lower bound on :math:`\log p(x \mid
y)` by the argument of chapter "The ELBO" with :math:`y` in every term:

.. math::

    \begin{aligned}
    \mathrm{ELBO}(x, y) = {} & \mathbb E_{q(z \mid x, y)}\big[\log p(x
    \mid z, y)\big] \\
    & - \mathrm{KL}\big(q(z \mid x, y) \,\|\, \mathcal N(0, I)\big).
    \end{aligned}

The label enters as a one-hot vector (:func:`one_hot`) concatenated to the
image in the encoder and to the code in the decoder. Since the decoder is
told the digit, the code need not carry it, and carries the rest: the
style. To draw a chosen digit, draw :math:`z \sim \mathcal N(0, I)` and
decode it with that label (:meth:`ConditionalVAE.sample`).

:func:`train_conditional_vae` trains with Adam in the package's one loop
(:func:`vaecourse.loop.train_loop`), seeded as
:func:`vaecourse.train.train_vae` is; losses follow the course convention
(summed over pixels and units, averaged over examples, nats per example).
"""

from __future__ import annotations

import torch
from torch import nn

from vaecourse._validation import (
    check_device,
    check_generator,
    check_in_unit_interval,
    check_int,
    check_real,
    values_checked,
)
from vaecourse.distributions import reparameterize
from vaecourse.loop import History, epoch_batches, train_loop
from vaecourse.losses import ELBOTerms, negative_elbo
from vaecourse.models import _check_latent, _mlp, flatten_batch
from vaecourse.train import _mean_batch_terms

__all__ = [
    "N_CLASSES",
    "one_hot",
    "ConditionalVAE",
    "evaluate_conditional_vae",
    "train_conditional_vae",
]

#: Classes of MNIST, the default number of labels.
N_CLASSES = 10
# The test pass draws its noise from seed + this offset, as train_vae's.
_TEST_SEED_OFFSET = 1_000_003


def _check_labels(
    name: str, labels: object, n: int | None, n_classes: int
) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of class indices, "
            f"got {type(labels).__name__}"
        )
    if labels.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise TypeError(
            f"{name} must hold integer class indices, got dtype {labels.dtype}"
        )
    if labels.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D, one label per example, got shape "
            f"{tuple(labels.shape)}"
        )
    if n is not None and len(labels) != n:
        raise ValueError(
            f"{name} must hold one label per example: {n} examples, "
            f"{len(labels)} labels"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{name} must lie in [0, {n_classes - 1}], got values from "
            f"{labels.min().item()} to {labels.max().item()}"
        )
    return labels.long()


def one_hot(
    labels: torch.Tensor,
    n_classes: int = N_CLASSES,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Labels as one-hot rows: ``(N,)`` class indices to ``(N, n_classes)``.

    Row :math:`n` is 1 at column ``labels[n]`` and 0 elsewhere.
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    labels = _check_labels("labels", labels, None, n_classes)
    rows = torch.zeros(
        len(labels), n_classes, dtype=dtype, device=labels.device
    )
    rows[torch.arange(len(labels), device=labels.device), labels] = 1
    return rows


class ConditionalVAE(nn.Module):
    r"""A VAE whose encoder and decoder both read the label.

    .. math::

        \begin{aligned}
        h &= \mathrm{ReLU}\big(W_1 [x; e_y] + b_1\big), \qquad
        \mu = W_\mu h + b_\mu, \qquad \log\sigma^2 = W_v h + b_v, \\
        \text{logits} &= W_4\, \mathrm{ReLU}\big(W_3 [z; e_y] + b_3\big)
        + b_4,
        \end{aligned}

    with :math:`e_y` the one-hot label and :math:`[a; b]` concatenation;
    a Bernoulli decoder and the prior :math:`\mathcal N(0, I)`. Chapter
    "Training a VAE end to end"'s :class:`vaecourse.models.VAE` is the
    same network without :math:`e_y`.

    Parameters
    ----------
    input_dim : int, default 784
    hidden_dim : int, default 400
    latent_dim : int, default 2
    n_classes : int, default :data:`N_CLASSES`
    """

    likelihood = "bernoulli"
    returns_logits = True

    def __init__(
        self,
        input_dim: int = 784,
        hidden_dim: int = 400,
        latent_dim: int = 2,
        n_classes: int = N_CLASSES,
    ) -> None:
        super().__init__()
        self.input_dim = check_int("input_dim", input_dim, minimum=1)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, minimum=1)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.encoder_body = nn.Sequential(
            nn.Linear(input_dim + n_classes, hidden_dim), nn.ReLU()
        )
        self.mu_head = nn.Linear(hidden_dim, latent_dim)
        self.logvar_head = nn.Linear(hidden_dim, latent_dim)
        self.decoder = _mlp([latent_dim + n_classes, hidden_dim, input_dim])

    def _check_example(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images flattened to ``(N, input_dim)`` and their labels."""
        dtype = next(self.parameters()).dtype
        x = flatten_batch(x, self.input_dim, dtype=dtype)
        y = _check_labels("y", y, len(x), self.n_classes).to(x.device)
        return x, y

    def _check_code(
        self, z: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes of shape ``(N, latent_dim)`` and their labels."""
        z = _check_latent(self, z)
        y = _check_labels("y", y, len(z), self.n_classes).to(z.device)
        return z, y

    def encode(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Parameters of :math:`q(z \mid x, y)`: ``(mu, logvar)``."""
        x, y = self._check_example(x, y)
        e_y = one_hot(y, self.n_classes, x.dtype)
        h = self.encoder_body(torch.cat([x, e_y], 1))
        return self.mu_head(h), self.logvar_head(h)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Logits of :math:`p(x \mid z, y)`, ``(batch, input_dim)``."""
        z, y = self._check_code(z, y)
        e_y = one_hot(y, self.n_classes, z.dtype)
        return self.decoder(torch.cat([z, e_y], 1))

    def decode_mean(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Mean of :math:`p(x \mid z, y)`: the sigmoid of the logits."""
        return torch.sigmoid(self.decode(z, y))

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Encode, sample :math:`z \sim q(z \mid x, y)` once, decode with
        the same label: ``(logits, mu, logvar)``."""
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar, check_generator(generator))
        return self.decode(z, y), mu, logvar

    def loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        beta: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> ELBOTerms:
        r"""One-sample estimate of the negative conditional ELBO.

        .. math::

            -\log p(x \mid z, y) + \beta\,\mathrm{KL}\big(q(z \mid x, y)
            \,\|\, \mathcal N(0, I)\big), \qquad z \sim q(z \mid x, y),

        averaged over the batch (:func:`vaecourse.losses.negative_elbo`).
        """
        x, y = self._check_example(x, y)
        logits, mu, logvar = self(x, y, generator)
        return negative_elbo(x, logits, mu, logvar, beta=beta)

    def sample(
        self, labels: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        r"""One image of each requested digit: :math:`z \sim \mathcal N(0,
        I)` decoded with its label, ``(len(labels), input_dim)`` means."""
        weight = next(self.parameters())
        labels = _check_labels("labels", labels, None, self.n_classes)
        z = torch.randn(
            len(labels),
            self.latent_dim,
            generator=check_generator(generator),
            dtype=weight.dtype,
            device=weight.device,
        )
        with torch.no_grad():
            return self.decode_mean(z, labels.to(weight.device))


def _check_model(model: object) -> ConditionalVAE:
    if not isinstance(model, ConditionalVAE):
        raise TypeError(
            "model must be a vaecourse.conditional.ConditionalVAE, "
            f"got {type(model).__name__}"
        )
    return model


def _check_data(
    model: ConditionalVAE, images: object, labels: object, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = next(model.parameters()).dtype
    images = flatten_batch(images, model.input_dim, name, dtype)
    if len(images) == 0:
        raise ValueError(f"{name} must hold at least one example")
    check_in_unit_interval(name, images)
    labels = _check_labels(
        name.replace("images", "labels"), labels, len(images), model.n_classes
    )
    return images, labels


def _evaluate(
    model: ConditionalVAE,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    seed: int,
) -> ELBOTerms:
    device = next(model.parameters()).device
    return _mean_batch_terms(
        model,
        len(images),
        batch_size,
        seed,
        lambda index, noise: model.loss(
            images[index].to(device),
            labels[index].to(device),
            generator=noise,
        ),
    )


def evaluate_conditional_vae(
    model: ConditionalVAE,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 500,
    seed: int = 0,
) -> ELBOTerms:
    r"""Negative conditional ELBO on a data set, one sampled :math:`z` per
    example (noise seeded with ``seed``), in nats per example."""
    model = _check_model(model)
    images, labels = _check_data(model, images, labels, "images")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    return _evaluate(model, images, labels, batch_size, seed)


def train_conditional_vae(
    model: ConditionalVAE,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> History:
    r"""Train a conditional VAE with Adam on the negative conditional ELBO.

    Seeded as :func:`vaecourse.train.train_vae`: each epoch visits the
    examples in the order ``torch.randperm(N, generator=shuffle)`` with
    ``shuffle = torch.Generator().manual_seed(seed)``, each step draws its
    noise from ``torch.Generator(device).manual_seed(seed)``, and the test
    pass after each epoch is :func:`evaluate_conditional_vae` with seed
    ``seed + 1_000_003``. The steps run in
    :func:`vaecourse.loop.train_loop`, which stops with
    :class:`vaecourse.loop.TrainingDiverged` on a loss or gradient that is
    not finite.

    Returns
    -------
    vaecourse.loop.History
        Per epoch: ``train_*`` (means over the epoch's steps) and
        ``test_*`` (after the epoch; empty without test data).
    """
    model = _check_model(model)
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_real("lr", lr, positive=True)
    seed = check_int("seed", seed, minimum=0)
    device = check_device(device)
    train_images, train_labels = _check_data(
        model, train_images, train_labels, "train_images"
    )
    if (test_images is None) != (test_labels is None):
        raise ValueError("give test_images and test_labels together")
    if test_images is not None:
        test_images, test_labels = _check_data(
            model, test_images, test_labels, "test_images"
        )
    model.to(device)
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    names = ("loss", "reconstruction", "kl")
    history = History(
        **{f"{s}_{n}": [] for n in names for s in ("train", "test")}
    )

    def objective(batch) -> dict[str, torch.Tensor]:
        x, y = batch
        with values_checked():  # the data were checked before epoch 1
            return model.loss(x, y, generator=noise)._asdict()

    def log(step: int, means: dict[str, float]) -> None:
        for name in names:
            getattr(history, f"train_{name}").append(means[name])

    step = 0
    for epoch in range(1, epochs + 1):
        batches = (
            (train_images[i].to(device), train_labels[i].to(device))
            for i in epoch_batches(len(train_images), batch_size, shuffle)
        )
        step = train_loop(
            model,
            objective,
            batches,
            optimizer,
            log=log,
            epoch=epoch,
            first_step=step + 1,
            examples=lambda batch: len(batch[0]),
        )
        if test_images is not None:
            test = _evaluate(
                model, test_images, test_labels, 500, seed + _TEST_SEED_OFFSET
            )
            for name, value in zip(names, test, strict=True):
                getattr(history, f"test_{name}").append(value.item())
    model.eval()
    return history
