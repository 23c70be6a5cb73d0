r"""One small training loop for the course's models, and an estimate of log p(x).

- :func:`train_vae` minimises the negative ELBO of a :class:`vaecourse.models.VAE`,
  :func:`train_autoencoder` the reconstruction loss of an autoencoder. Both use
  Adam, shuffle with a seeded ``torch.Generator`` (so two runs on the CPU give
  the same numbers), and return a :class:`History` of the loss terms per epoch
  on the training and test data.
- Losses follow the course convention: summed over pixels and latent units,
  averaged over the examples, in nats per example. The training loss of an
  epoch is the average over its mini-batches, taken while the model changes
  (as in the PyTorch examples VAE); the test loss is computed after the epoch.
- A NaN or infinite loss stops training with :class:`TrainingDiverged`, whose
  message names the epoch, the batch and the term.
- :func:`importance_weighted_log_px` estimates :math:`\log p(x)` of a trained
  VAE (Burda et al., 2016), used in chapter "Training a VAE end to end".
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from vaecourse.losses import (
    ELBOTerms,
    bernoulli_nll_with_logits,
    continuous_bernoulli_nll_with_logits,
    gaussian_nll,
    negative_elbo,
    sum_of_squares,
)
from vaecourse.models import VAE, Autoencoder, LinearAutoencoder, flatten_batch

__all__ = [
    "set_seed",
    "History",
    "TrainingDiverged",
    "train_vae",
    "train_autoencoder",
    "evaluate_vae",
    "log_likelihood",
    "importance_weighted_log_px",
    "active_units",
]

# Seed offset of the noise used to evaluate on test data: fixed, so every
# epoch (and every run) sees the same noise.
_TEST_SEED_OFFSET = 1_000_003


def set_seed(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch, and return a seeded generator.

    Call it before building a model, so its initial weights are reproducible.

    Parameters
    ----------
    seed : int
        Any non-negative integer.

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class TrainingDiverged(FloatingPointError):
    """A loss term became NaN or infinite during training.

    A subclass of :class:`FloatingPointError`. The message names the epoch
    (from 1), the batch (from 1) and the term (``"reconstruction"``, ``"kl"``
    or ``"gradient"``); the same are kept as attributes.
    """

    def __init__(self, epoch: int, batch: int, term: str, detail: str) -> None:
        self.epoch, self.batch, self.term = epoch, batch, term
        super().__init__(f"training diverged at epoch {epoch}, batch {batch}: {detail}")


@dataclass
class History:
    """Loss terms per epoch, in nats per example (sum over pixels and latents, mean over examples).

    ``train_*`` are averages over the epoch's mini-batches, ``test_*`` are
    computed on the test data after each epoch (empty without test data).
    For autoencoders the loss is the reconstruction term and ``*_kl`` stay
    empty.
    """

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_reconstruction: list[float] = field(default_factory=list)
    test_reconstruction: list[float] = field(default_factory=list)
    train_kl: list[float] = field(default_factory=list)
    test_kl: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    def columns(self) -> dict[str, list[float]]:
        """The non-empty series, by name, in a fixed order."""
        names = ["train_loss", "test_loss", "train_reconstruction", "test_reconstruction",
                 "train_kl", "test_kl"]
        return {name: getattr(self, name) for name in names if getattr(self, name)}

    def to_table(self, decimals: int = 2) -> str:
        """A text table, one row per epoch, numbers rounded to ``decimals``."""
        cols = self.columns()
        header = ["epoch"] + [name.replace("reconstruction", "recon") for name in cols]
        rows = [[str(e + 1)] + [f"{series[e]:.{decimals}f}" for series in cols.values()]
                for e in range(self.epochs)]
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_table()


# --- helpers ---------------------------------------------------------------------------

def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_images(name: str, images: object, input_dim: int) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.shape[:1] == (0,):
        raise ValueError(f"{name} is empty")
    return flatten_batch(images, input_dim, name)


def _check_common(epochs, batch_size, lr) -> None:
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive number, got {lr!r}")


def _set_up(model: torch.nn.Module, train_images: object, test_images: object, epochs: int,
            batch_size: int, lr: float, seed: int, device: str | torch.device):
    """Checks and state shared by both training loops.

    Returns the checked (flattened) images, the device, the generator that
    shuffles the batches and the Adam optimizer.
    """
    _check_common(epochs, batch_size, lr)
    train_images = _check_images("train_images", train_images, model.input_dim)
    if test_images is not None:
        test_images = _check_images("test_images", test_images, model.input_dim)
    set_seed(seed)
    device = torch.device(device)
    model.to(device)
    shuffle = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return train_images, test_images, device, shuffle, optimizer


def _batches(n: int, batch_size: int, generator: torch.Generator | None):
    order = torch.arange(n) if generator is None else torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def _noise_generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _vae_terms(model: VAE, x: torch.Tensor, beta: float, generator: torch.Generator,
               epoch: int, batch: int) -> ELBOTerms:
    """Negative ELBO of a batch, raising TrainingDiverged on NaN or infinity."""
    output, mu, logvar = model(x, generator)
    if not (torch.isfinite(mu).all() and not torch.isnan(logvar).any()):
        raise TrainingDiverged(
            epoch, batch, "kl",
            "the kl term is NaN: the encoder returned non-finite values (mu finite: "
            f"{bool(torch.isfinite(mu).all())}, log-variance NaN: {bool(torch.isnan(logvar).any())}); "
            "an encoder that predicts sigma directly gives log(sigma^2) = NaN for sigma < 0",
        )
    if torch.isnan(output).any():
        raise TrainingDiverged(epoch, batch, "reconstruction",
                               "the reconstruction term is NaN: the decoder returned NaN")
    terms = negative_elbo(x, output, mu, logvar, likelihood=model.likelihood, beta=beta,
                          variance=model.decoder_variance)
    for term in ("reconstruction", "kl"):
        value = getattr(terms, term)
        if not torch.isfinite(value):
            raise TrainingDiverged(epoch, batch, term, f"the {term} term is {value.item()}")
    return terms


def _check_gradients(model: torch.nn.Module, epoch: int, batch: int) -> None:
    for name, parameter in model.named_parameters():
        if parameter.grad is not None and not torch.isfinite(parameter.grad).all():
            raise TrainingDiverged(epoch, batch, "gradient",
                                   f"the gradient of {name} is not finite (the loss was finite)")


def evaluate_vae(model: VAE, images: torch.Tensor, *, beta: float = 1.0, batch_size: int = 500,
                 seed: int = 0) -> ELBOTerms:
    r"""Negative ELBO of a VAE on a data set, with sampled :math:`z`, in nats per example.

    Each example gets one sample :math:`z \sim q(z \mid x)` from a generator
    seeded with ``seed``: the one-sample estimate of :math:`-\mathrm{ELBO}`
    that training minimises. Decoding :math:`z = \mu` instead gives a smaller
    number that is not the ELBO (the pitfall of pytorch/examples PR #419).

    Returns
    -------
    vaecourse.losses.ELBOTerms
        ``(loss, reconstruction, kl)``, averages over ``images``, as floats in tensors.
    """
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a vaecourse.models.VAE, got {type(model).__name__}")
    device = next(model.parameters()).device
    images = _check_images("images", images, model.input_dim)
    _check_positive_int("batch_size", batch_size)
    generator = _noise_generator(seed, device)
    totals = torch.zeros(3, dtype=torch.float64)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for index in _batches(len(images), batch_size, None):
            x = images[index].to(device)
            terms = model.loss(x, beta=beta, generator=generator)
            totals += len(index) * torch.tensor([t.item() for t in terms], dtype=torch.float64)
    model.train(was_training)
    mean = totals / len(images)
    return ELBOTerms(loss=mean[0], reconstruction=mean[1], kl=mean[2])


# --- training --------------------------------------------------------------------------

def train_vae(
    model: VAE,
    train_images: torch.Tensor,
    test_images: torch.Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    beta: float = 1.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> History:
    r"""Train a VAE with Adam on the negative ELBO (:meth:`vaecourse.models.VAE.loss`).

    Each step samples one :math:`z \sim q(z \mid x)` per example and minimises

    .. math::

        \frac1B \sum_{b=1}^{B} \left[-\log p(x_b \mid z_b)
        + \beta\, \mathrm{KL}\left(q(z \mid x_b) \,\|\, \mathcal N(0, I)\right)\right].

    The test loss is evaluated after each epoch with :func:`evaluate_vae`, on
    sampled :math:`z` (not :math:`z = \mu`), with the same fixed noise every
    epoch.

    Parameters
    ----------
    model : vaecourse.models.VAE
        Trained in place (moved to ``device``).
    train_images, test_images : torch.Tensor
        Shape ``(N, input_dim)`` or ``(N, ...)``, values as the likelihood
        requires (in [0, 1] for the Bernoulli decoders).
    epochs, batch_size, lr : int, int, float
        Passes over the data, examples per step, Adam's learning rate.
    beta : float, default 1.0
        Weight of the KL term (1 for the ELBO).
    seed : int, default 0
        Seeds the shuffling and the noise. The initial weights are not set
        here: call :func:`set_seed` before building the model.
    device : str or torch.device, default "cpu"
        Where to train. Results are bit-for-bit reproducible on the CPU.
    progress : bool, default False
        Show a tqdm progress bar over epochs (keep it off in notebooks whose
        outputs are compared).

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        If a loss term or a gradient becomes NaN or infinite; the message
        names the epoch, the batch and the term.
    """
    if not isinstance(model, VAE):
        raise TypeError(
            f"model must be a vaecourse.models.VAE, got {type(model).__name__}; "
            "use train_autoencoder for autoencoders"
        )
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
        raise ValueError(f"beta must be a non-negative number, got {beta!r}")
    train_images, test_images, device, shuffle, optimizer = _set_up(
        model, train_images, test_images, epochs, batch_size, lr, seed, device)
    noise = _noise_generator(seed, device)
    history = History()
    for epoch in tqdm(range(1, epochs + 1), desc="epochs", disable=not progress):
        model.train()
        totals = torch.zeros(3, dtype=torch.float64)
        for batch, index in enumerate(_batches(len(train_images), batch_size, shuffle), start=1):
            x = train_images[index].to(device)
            terms = _vae_terms(model, x, beta, noise, epoch, batch)
            optimizer.zero_grad()
            terms.loss.backward()
            _check_gradients(model, epoch, batch)
            optimizer.step()
            totals += len(index) * torch.tensor([t.item() for t in terms], dtype=torch.float64)
        mean = (totals / len(train_images)).tolist()
        history.train_loss.append(mean[0])
        history.train_reconstruction.append(mean[1])
        history.train_kl.append(mean[2])
        if test_images is not None:
            test = evaluate_vae(model, test_images, beta=beta, seed=seed + _TEST_SEED_OFFSET)
            history.test_loss.append(test.loss.item())
            history.test_reconstruction.append(test.reconstruction.item())
            history.test_kl.append(test.kl.item())
    model.eval()
    return history


def _reconstruction_loss(model, x: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-example reconstruction loss of an autoencoder, shape ``(batch,)``."""
    if loss == "bce":
        return bernoulli_nll_with_logits(x, model(x))
    return sum_of_squares(x, model.reconstruct(x))


def train_autoencoder(
    model: Autoencoder | LinearAutoencoder,
    train_images: torch.Tensor,
    test_images: torch.Tensor | None = None,
    *,
    loss: Literal["bce", "mse"] = "bce",
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> History:
    r"""Train an autoencoder with Adam on its reconstruction loss.

    ``loss="bce"``: binary cross-entropy from the decoder's logits,
    :math:`-\sum_i [x_i \log\hat x_i + (1 - x_i)\log(1 - \hat x_i)]`, for
    :class:`vaecourse.models.Autoencoder`. ``loss="mse"``: the squared error
    :math:`\|x - \hat x\|_2^2 = \sum_i (x_i - \hat x_i)^2` of the
    reconstruction (after the sigmoid for :class:`~vaecourse.models.Autoencoder`,
    the output itself for :class:`~vaecourse.models.LinearAutoencoder`).
    Either is summed over pixels and averaged over the batch; MSE per pixel
    is this number divided by ``input_dim``.

    Parameters
    ----------
    model : vaecourse.models.Autoencoder or vaecourse.models.LinearAutoencoder
        Trained in place.
    train_images, test_images : torch.Tensor
        Shape ``(N, input_dim)`` or ``(N, ...)``.
    loss : {"bce", "mse"}, default "bce"
        The reconstruction loss; ``"bce"`` needs a model that returns logits.
    epochs, batch_size, lr, seed, device, progress
        As in :func:`train_vae`.

    Returns
    -------
    History
        Loss and reconstruction (equal); the KL lists stay empty.

    Raises
    ------
    TrainingDiverged
        If the loss or a gradient becomes NaN or infinite.
    """
    if not isinstance(model, (Autoencoder, LinearAutoencoder)):
        raise TypeError(
            f"model must be a vaecourse.models.Autoencoder or LinearAutoencoder, got {type(model).__name__}"
            + ("; use train_vae for a VAE" if isinstance(model, VAE) else "")
        )
    if loss not in ("bce", "mse"):
        raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
    if loss == "bce" and not model.returns_logits:
        raise ValueError(
            f"loss='bce' needs a model whose decoder returns logits; {type(model).__name__} "
            "returns the reconstruction itself: use loss='mse'"
        )
    train_images, test_images, device, shuffle, optimizer = _set_up(
        model, train_images, test_images, epochs, batch_size, lr, seed, device)
    history = History()
    for epoch in tqdm(range(1, epochs + 1), desc="epochs", disable=not progress):
        model.train()
        total = 0.0
        for batch, index in enumerate(_batches(len(train_images), batch_size, shuffle), start=1):
            x = train_images[index].to(device)
            value = _reconstruction_loss(model, x, loss).mean()
            if not torch.isfinite(value):
                raise TrainingDiverged(epoch, batch, "reconstruction",
                                       f"the reconstruction term is {value.item()}")
            optimizer.zero_grad()
            value.backward()
            _check_gradients(model, epoch, batch)
            optimizer.step()
            total += len(index) * value.item()
        history.train_loss.append(total / len(train_images))
        history.train_reconstruction.append(history.train_loss[-1])
        if test_images is not None:
            model.eval()
            with torch.no_grad():
                test_total = sum(
                    _reconstruction_loss(model, test_images[i].to(device), loss).sum().item()
                    for i in _batches(len(test_images), 500, None)
                )
            history.test_loss.append(test_total / len(test_images))
            history.test_reconstruction.append(history.test_loss[-1])
    model.eval()
    return history


# --- log p(x) --------------------------------------------------------------------------

def log_likelihood(model: VAE, x: torch.Tensor, decoder_output: torch.Tensor) -> torch.Tensor:
    r""":math:`\log p(x \mid z)` of the VAE's decoder, per example, from its output for :math:`z`.

    Parameters
    ----------
    model : vaecourse.models.VAE
        Gives the likelihood and the Gaussian variance.
    x, decoder_output : torch.Tensor
        Shape ``(batch, input_dim)``.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats.
    """
    if model.likelihood == "bernoulli":
        return -bernoulli_nll_with_logits(x, decoder_output)
    if model.likelihood == "continuous_bernoulli":
        return -continuous_bernoulli_nll_with_logits(x, decoder_output)
    return -gaussian_nll(x, decoder_output, model.decoder_variance)


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def importance_weighted_log_px(
    model: VAE,
    x: torch.Tensor,
    k: int = 50,
    generator: torch.Generator | None = None,
    *,
    batch_size: int = 100,
) -> torch.Tensor:
    r"""Importance-weighted estimate of :math:`\log p(x)` (Burda et al., 2016), per example.

    With :math:`z_1, \dots, z_k \sim q(z \mid x)` drawn independently,

    .. math::

        \hat{\mathcal L}_k(x) = \log \frac1k \sum_{j=1}^{k}
            \frac{p(x \mid z_j)\, p(z_j)}{q(z_j \mid x)}
        = \operatorname{logsumexp}_j\left[\log p(x \mid z_j) + \log p(z_j)
            - \log q(z_j \mid x)\right] - \log k .

    Its expectation is a lower bound on :math:`\log p(x)` that increases with
    :math:`k` and tends to :math:`\log p(x)` as :math:`k \to \infty`; for
    :math:`k = 1` its expectation is the ELBO. It is the usual way to report a
    VAE's test log-likelihood (chapter "Training a VAE end to end").

    Parameters
    ----------
    model : vaecourse.models.VAE
        A trained VAE.
    x : torch.Tensor
        Shape ``(batch, input_dim)`` or ``(batch, ...)``.
    k : int, default 50
        Number of importance samples per example.
    generator : torch.Generator, optional
        Source of the samples.
    batch_size : int, default 100
        Examples processed at once (memory grows as ``k * batch_size * input_dim``).

    Returns
    -------
    torch.Tensor
        :math:`\hat{\mathcal L}_k(x)` in nats, shape ``(batch,)``.
    """
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a vaecourse.models.VAE, got {type(model).__name__}")
    _check_positive_int("k", k)
    _check_positive_int("batch_size", batch_size)
    x = flatten_batch(x, model.input_dim)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].to(device)
            mu, logvar = model.encode(xb)
            eps = torch.randn((k,) + tuple(mu.shape), generator=generator, dtype=mu.dtype, device=device)
            z = mu + torch.exp(0.5 * logvar) * eps                      # (k, b, m)
            output = model.decoder(z.reshape(-1, model.latent_dim))     # (k * b, n)
            log_px_given_z = log_likelihood(model, xb.repeat(k, 1), output).reshape(k, -1)
            zeros = torch.zeros_like(z)
            log_weights = (log_px_given_z + _log_normal(z, zeros, zeros)
                           - _log_normal(z, mu, logvar))
            results.append(torch.logsumexp(log_weights, dim=0) - math.log(k))
    model.train(was_training)
    return torch.cat(results)


def active_units(model: VAE, images: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    r"""Which latent units the encoder uses: the activity criterion of Burda et al. (2016).

    .. math::

        A_u = \operatorname{Cov}_x\left(\mathbb E_{q(z \mid x)}[z_u]\right)
            = \operatorname{Var}_x\left(\mu_u(x)\right) > \text{threshold}.

    A unit whose posterior mean does not change with :math:`x` carries no
    information about it: its :math:`q(z_u \mid x)` sits on the prior and its KL
    is near 0, the signature of posterior collapse (chapter "Training a VAE end
    to end").

    Parameters
    ----------
    model : vaecourse.models.VAE
    images : torch.Tensor
        Data, shape ``(N, input_dim)`` or ``(N, ...)``, with ``N >= 2``.
    threshold : float, default 0.01
        Burda et al.'s threshold on the variance.

    Returns
    -------
    torch.Tensor
        Boolean, shape ``(latent_dim,)``: True for an active unit.
    """
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a vaecourse.models.VAE, got {type(model).__name__}")
    images = _check_images("images", images, model.input_dim)
    if len(images) < 2:
        raise ValueError(f"images must hold at least 2 examples to measure a variance, got {len(images)}")
    device = next(model.parameters()).device
    with torch.no_grad():
        mu, _ = model.encode(images.to(device))
    return (mu.double().var(0, correction=0) > threshold).cpu()
