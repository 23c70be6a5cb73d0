r"""The course's three models: an MLP autoencoder, a linear autoencoder, a VAE.

Small multilayer perceptrons in the shape of the PyTorch examples VAE
(784-400-20, ReLU), with every size an argument:

- :class:`Autoencoder` (chapter "Autoencoders"): a deterministic encoder
  :math:`z = f(x)` and decoder :math:`\hat x = g(z)`.
- :class:`LinearAutoencoder` (chapter "Dimensionality reduction"): the same
  with linear maps, which trained with squared error spans the principal
  subspace.
- :class:`VAE` (chapters "From autoencoder to VAE" to "Training a VAE end to
  end"): a probabilistic encoder :math:`q(z \mid x) = \mathcal N(\mu(x),
  \operatorname{diag}\sigma^2(x))` that outputs :math:`(\mu, \log\sigma^2)`,
  the prior :math:`p(z) = \mathcal N(0, I)` and a decoder :math:`p(x \mid z)`.

Input shapes. Every model takes a batch ``x`` of shape ``(batch, input_dim)``,
or any ``(batch, ...)`` whose trailing dimensions hold ``input_dim`` values
(``(batch, 28, 28)`` and ``(batch, 1, 28, 28)`` for ``input_dim=784``), which
it flattens to ``(batch, input_dim)``; outputs are always flat. Any other
shape raises a ``ValueError`` that names the expected and the actual shape.
Latent codes ``z`` must have shape ``(batch, latent_dim)``.

Every model also has ``decode_mean(z)``: the image the decoder produces for
``z`` (the mean of :math:`p(x \mid z)`; a probability in [0, 1] for the
models with logits), used for plots and samples.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.distributions import ContinuousBernoulli

from vaecourse._validation import check_float_tensor
from vaecourse.distributions import reparameterize
from vaecourse.losses import ELBOTerms, Likelihood, negative_elbo

__all__ = ["Autoencoder", "LinearAutoencoder", "VAE", "flatten_batch"]

Parameterization = Literal["logvar", "std"]
_LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli")


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value


def flatten_batch(x: torch.Tensor, input_dim: int, name: str = "x") -> torch.Tensor:
    """Check a batch of inputs and flatten it to shape ``(batch, input_dim)``.

    Parameters
    ----------
    x : torch.Tensor
        Floating-point tensor of shape ``(batch, input_dim)`` or
        ``(batch, ...)`` with ``input_dim`` values per example.
    input_dim : int
        Number of values in one example.
    name : str, default "x"
        Name of the argument, for error messages.

    Returns
    -------
    torch.Tensor
        A view of shape ``(batch, input_dim)``.

    Raises
    ------
    TypeError
        If ``x`` is not a floating-point tensor.
    ValueError
        If ``x`` contains NaN, has no batch dimension, or does not hold
        ``input_dim`` values per example.
    """
    check_float_tensor(name, x)
    if x.dim() < 2:
        raise ValueError(
            f"{name} must have shape (batch, {input_dim}), got {tuple(x.shape)}; "
            f"add a batch dimension with {name}.unsqueeze(0)"
        )
    if math.prod(x.shape[1:]) != input_dim:
        raise ValueError(
            f"{name} must have shape (batch, {input_dim}) (or (batch, ...) with "
            f"{input_dim} values per example), got {tuple(x.shape)}"
        )
    return x.reshape(x.shape[0], input_dim)


def _check_latent(z: torch.Tensor, latent_dim: int) -> torch.Tensor:
    check_float_tensor("z", z)
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z must have shape (batch, {latent_dim}), got {tuple(z.shape)}")
    return z


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    r"""MLP autoencoder: ``input_dim -> hidden_dim -> latent_dim -> hidden_dim -> input_dim``.

    .. math::

        z = f(x) = W_2\, \mathrm{ReLU}(W_1 x + b_1) + b_2, \qquad
        \hat x = \operatorname{sigmoid}(g(z)),

    where :math:`g` has the same shape as :math:`f`, reversed. The decoder
    returns logits :math:`g(z)`, so that the binary cross-entropy is computed
    stably from them (:func:`vaecourse.losses.bernoulli_nll_with_logits`);
    :meth:`reconstruct` applies the sigmoid. Used in chapter "Autoencoders".

    Parameters
    ----------
    input_dim : int, default 784
        Values per example (28 x 28 pixels).
    hidden_dim : int, default 400
        Width of the hidden layer of the encoder and of the decoder.
    latent_dim : int, default 20
        Size :math:`m` of the code :math:`z`.
    """

    returns_logits = True

    def __init__(self, input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 20) -> None:
        super().__init__()
        self.input_dim = _check_size("input_dim", input_dim)
        self.hidden_dim = _check_size("hidden_dim", hidden_dim)
        self.latent_dim = _check_size("latent_dim", latent_dim)
        self.encoder = _mlp([input_dim, hidden_dim, latent_dim])
        self.decoder = _mlp([latent_dim, hidden_dim, input_dim])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code :math:`z = f(x)`, shape ``(batch, latent_dim)``."""
        return self.encoder(flatten_batch(x, self.input_dim))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder logits :math:`g(z)`, shape ``(batch, input_dim)``."""
        return self.decoder(_check_latent(z, self.latent_dim))

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """Decoded image :math:`\\operatorname{sigmoid}(g(z))`, in [0, 1]."""
        return torch.sigmoid(self.decode(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the reconstruction, :math:`g(f(x))`, shape ``(batch, input_dim)``."""
        return self.decoder(self.encode(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction :math:`\\hat x = \\operatorname{sigmoid}(g(f(x)))`, in [0, 1]."""
        return torch.sigmoid(self(x))


class LinearAutoencoder(nn.Module):
    r"""Linear autoencoder: :math:`z = W_e x + b_e`, :math:`\hat x = W_d z + b_d`.

    No nonlinearity and no sigmoid: the decoder returns the reconstruction
    itself. Trained with the squared error it learns the same subspace as
    the top ``latent_dim`` principal components (Baldi and Hornik, 1989),
    the comparison of chapter "Dimensionality reduction".

    Parameters
    ----------
    input_dim : int
        Values per example.
    latent_dim : int
        Size :math:`m` of the code.
    bias : bool, default True
        Whether encoder and decoder have a bias (without one, centre the
        data first).
    """

    returns_logits = False

    def __init__(self, input_dim: int, latent_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.input_dim = _check_size("input_dim", input_dim)
        self.latent_dim = _check_size("latent_dim", latent_dim)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        self.encoder = nn.Linear(input_dim, latent_dim, bias=bias)
        self.decoder = nn.Linear(latent_dim, input_dim, bias=bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code :math:`z = W_e x + b_e`, shape ``(batch, latent_dim)``."""
        return self.encoder(flatten_batch(x, self.input_dim))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction :math:`W_d z + b_d`, shape ``(batch, input_dim)``."""
        return self.decoder(_check_latent(z, self.latent_dim))

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`decode` (a linear decoder has no link function)."""
        return self.decode(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction :math:`W_d(W_e x + b_e) + b_d`, shape ``(batch, input_dim)``."""
        return self.decoder(self.encode(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward`."""
        return self(x)


class VAE(nn.Module):
    r"""Variational autoencoder with a diagonal Gaussian encoder.

    Encoder (the approximate posterior, not the true one):

    .. math::

        h = \mathrm{ReLU}(W_1 x + b_1), \quad
        \mu = W_\mu h + b_\mu, \quad
        \log\sigma^2 = W_v h + b_v, \quad
        q(z \mid x) = \mathcal N(\mu, \operatorname{diag}\sigma^2).

    Decoder: :math:`p(x \mid z)` with parameters
    :math:`W_4\,\mathrm{ReLU}(W_3 z + b_3) + b_4`: Bernoulli logits
    (``"bernoulli"``, Kingma and Welling's MNIST model), continuous Bernoulli
    logits (``"continuous_bernoulli"``, for grey values), or the mean of a
    Gaussian of fixed variance ``decoder_variance`` (``"gaussian"``).
    Prior :math:`p(z) = \mathcal N(0, I)`. The default sizes are those of the
    PyTorch examples VAE, 784-400-20.

    With ``hidden_dim=None`` encoder and decoder are linear (no hidden layer):
    with the Gaussian likelihood this is probabilistic PCA, whose
    :math:`\log p(x)` is known in closed form.

    Parameters
    ----------
    input_dim : int, default 784
        Values per example :math:`n`.
    hidden_dim : int or None, default 400
        Width of the hidden layer of encoder and decoder; ``None`` for linear maps.
    latent_dim : int, default 20
        Latent dimension :math:`m`.
    likelihood : {"bernoulli", "gaussian", "continuous_bernoulli"}, default "bernoulli"
        The decoder's distribution.
    parameterization : {"logvar", "std"}, default "logvar"
        What the encoder's second head predicts. ``"logvar"``: the
        log-variance, any real number (the log-variance trick). ``"std"``:
        **for demonstration only, do not use**: the head predicts
        :math:`\sigma` directly through a linear layer, which can be negative
        or zero; :math:`z = \mu + \sigma\epsilon` is sampled from it directly,
        as naive code does, and :math:`\log\sigma^2` is computed as
        :math:`2\log\sigma`, which is NaN for :math:`\sigma < 0` and
        :math:`-\infty` for :math:`\sigma = 0`. Training then fails with
        :class:`vaecourse.train.TrainingDiverged` (chapter "The log-variance
        trick").
    decoder_variance : float, default 1.0
        :math:`s^2` of the Gaussian decoder (ignored by the others).

    Attributes
    ----------
    encoder_body, mu_head, logvar_head (or std_head), decoder : torch.nn.Module
        The layers.
    """

    returns_logits = True

    def __init__(
        self,
        input_dim: int = 784,
        hidden_dim: int | None = 400,
        latent_dim: int = 20,
        likelihood: Likelihood = "bernoulli",
        parameterization: Parameterization = "logvar",
        *,
        decoder_variance: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_dim = _check_size("input_dim", input_dim)
        self.hidden_dim = None if hidden_dim is None else _check_size("hidden_dim", hidden_dim)
        self.latent_dim = _check_size("latent_dim", latent_dim)
        if likelihood not in _LIKELIHOODS:
            raise ValueError(
                f"likelihood must be 'bernoulli', 'gaussian' or 'continuous_bernoulli', got {likelihood!r}"
            )
        if parameterization not in ("logvar", "std"):
            raise ValueError(f"parameterization must be 'logvar' or 'std', got {parameterization!r}")
        if isinstance(decoder_variance, bool) or not isinstance(decoder_variance, (int, float)) \
                or not decoder_variance > 0 or not math.isfinite(decoder_variance):
            raise ValueError(f"decoder_variance must be a positive number, got {decoder_variance!r}")
        self.likelihood = likelihood
        self.parameterization = parameterization
        self.decoder_variance = float(decoder_variance)
        self.returns_logits = likelihood != "gaussian"

        if hidden_dim is None:
            self.encoder_body: nn.Module = nn.Identity()
            self.decoder: nn.Module = nn.Linear(latent_dim, input_dim)
            features = input_dim
        else:
            self.encoder_body = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU())
            self.decoder = _mlp([latent_dim, hidden_dim, input_dim])
            features = hidden_dim
        self.mu_head = nn.Linear(features, latent_dim)
        if parameterization == "logvar":
            self.logvar_head = nn.Linear(features, latent_dim)
        else:
            self.std_head = nn.Linear(features, latent_dim)

    # -- encoder -------------------------------------------------------------------

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, or ``(mu, sigma)`` for the "std" parameterization."""
        h = self.encoder_body(x)
        if self.parameterization == "logvar":
            return self.mu_head(h), self.logvar_head(h)
        return self.mu_head(h), self.std_head(h)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, second = self._heads(x)
        if self.parameterization == "logvar":
            return mu, second
        # The fragile variant: log(sigma^2) as 2 log(sigma), NaN for sigma < 0.
        return mu, 2.0 * torch.log(second)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of :math:`q(z \\mid x)`: ``(mu, logvar)``, each ``(batch, latent_dim)``."""
        return self._encode(flatten_batch(x, self.input_dim))

    # -- decoder -------------------------------------------------------------------

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output for ``z``: logits (Bernoulli, continuous Bernoulli) or the Gaussian mean.

        Shape ``(batch, input_dim)``.
        """
        return self.decoder(_check_latent(z, self.latent_dim))

    def _output_to_mean(self, output: torch.Tensor) -> torch.Tensor:
        if self.likelihood == "bernoulli":
            return torch.sigmoid(output)
        if self.likelihood == "continuous_bernoulli":
            # The mean of the continuous Bernoulli is not sigmoid(logits).
            return ContinuousBernoulli(logits=output).mean
        return output

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        r"""Mean of :math:`p(x \mid z)`, shape ``(batch, input_dim)``.

        The sigmoid of the logits for the Bernoulli decoder, the mean of the
        continuous Bernoulli (which is not the sigmoid of its logits), the
        decoder output for the Gaussian.
        """
        return self._output_to_mean(self.decode(z))

    # -- the model -----------------------------------------------------------------

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Encode, sample :math:`z \sim q(z \mid x)` once, decode.

        The sample is drawn in training and in evaluation alike: decoding
        :math:`z = \mu` instead would not estimate the ELBO.

        Parameters
        ----------
        x : torch.Tensor
            Batch of inputs, ``(batch, input_dim)`` or ``(batch, ...)``.
        generator : torch.Generator, optional
            Source of the noise :math:`\epsilon`.

        Returns
        -------
        tuple of torch.Tensor
            ``(decoder_output, mu, logvar)``: the decoder output for the sampled
            :math:`z` (see :meth:`decode`), and the encoder's parameters.
        """
        x = flatten_batch(x, self.input_dim)
        if self.parameterization == "logvar":
            mu, logvar = self._heads(x)
            z = reparameterize(mu, logvar, generator)
        else:
            mu, std = self._heads(x)
            logvar = 2.0 * torch.log(std)
            # Naive code samples with the predicted sigma itself, whatever its sign.
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
            z = mu + std * eps
        return self.decoder(z), mu, logvar

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Decode :math:`n` draws :math:`z \sim \mathcal N(0, I)` of the prior.

        Returns
        -------
        torch.Tensor
            :meth:`decode_mean` of the draws, shape ``(n, input_dim)``.
        """
        n = _check_size("n", n)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        with torch.no_grad():
            return self.decode_mean(z)

    def loss(
        self, x: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None
    ) -> ELBOTerms:
        r"""One-sample estimate of the negative ELBO on a batch (nats per example).

        .. math::

            \mathcal L = -\log p(x \mid z) + \beta\,\mathrm{KL}\left[q(z \mid x) \,\|\, \mathcal N(0, I)\right],
            \qquad z \sim q(z \mid x),

        summed over pixels and latent units, averaged over the batch
        (:func:`vaecourse.losses.negative_elbo`).

        Returns
        -------
        vaecourse.losses.ELBOTerms
            ``(loss, reconstruction, kl)``.
        """
        x = flatten_batch(x, self.input_dim)
        output, mu, logvar = self(x, generator)
        return negative_elbo(
            x, output, mu, logvar,
            likelihood=self.likelihood, beta=beta, variance=self.decoder_variance,
        )
