r"""The course's models: an MLP autoencoder, a linear autoencoder, a VAE.

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
- :class:`NaiveStdVAE` (chapter "The log-variance trick"): for demonstration
  only, a VAE whose encoder predicts :math:`\sigma` directly and fails.

Input shapes. Every model takes a batch ``x`` of shape ``(batch, input_dim)``,
or any ``(batch, ...)`` whose trailing dimensions hold ``input_dim`` values
(``(batch, 28, 28)`` and ``(batch, 1, 28, 28)`` for ``input_dim=784``), which
it flattens to ``(batch, input_dim)``; outputs are always flat. Any other
shape raises a ``ValueError`` that names the expected and the actual shape.
Latent codes ``z`` must have shape ``(batch, latent_dim)``. Inputs must have
the dtype of the model's weights (``float32`` unless the model was converted):
float64 data, as ``torch.from_numpy`` gives, raises a ``TypeError`` that
names both dtypes.

Every model also has ``decode_mean(z)``: the image the decoder produces for
``z`` (the mean of :math:`p(x \mid z)`; a probability in [0, 1] for the
models with logits), used for plots and samples.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import ContinuousBernoulli

from vaecourse._validation import (
    check_bool,
    check_float_tensor,
    check_generator,
    check_int,
    check_real,
)
from vaecourse.distributions import reparameterize
from vaecourse.losses import (
    LIKELIHOODS,
    ELBOTerms,
    Likelihood,
    negative_elbo,
)

__all__ = [
    "Autoencoder",
    "LinearAutoencoder",
    "VAE",
    "NaiveStdVAE",
    "ConvVAE",
    "flatten_batch",
]


def flatten_batch(
    x: torch.Tensor,
    input_dim: int,
    name: str = "x",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
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
    dtype : torch.dtype, optional
        The dtype ``x`` must have: that of the model it goes into.

    Returns
    -------
    torch.Tensor
        A view of shape ``(batch, input_dim)``.

    Raises
    ------
    TypeError
        If ``x`` is not a floating-point tensor, or not of ``dtype``.
    ValueError
        If ``x`` contains NaN, has no batch dimension, or does not hold
        ``input_dim`` values per example.
    """
    check_float_tensor(name, x)
    if dtype is not None:
        _check_dtype(name, x, dtype)
    if x.dim() < 2:
        raise ValueError(
            f"{name} must have shape (batch, {input_dim}), "
            f"got {tuple(x.shape)}; add a batch dimension with "
            f"{name}.unsqueeze(0)"
        )
    if math.prod(x.shape[1:]) != input_dim:
        raise ValueError(
            f"{name} must have shape (batch, {input_dim}) (or (batch, ...) "
            f"with {input_dim} values per example), got {tuple(x.shape)}"
        )
    return x.reshape(x.shape[0], input_dim)


def _check_dtype(name: str, x: torch.Tensor, dtype: torch.dtype) -> None:
    if x.dtype != dtype:
        # nn.Linear would fail with "mat1 and mat2 must have the same dtype".
        raise TypeError(
            f"{name} has dtype {x.dtype} but the model's weights have dtype "
            f"{dtype}: convert the data with {name}.to({dtype}) "
            "(torch.from_numpy keeps NumPy's float64)"
        )


def _weights_dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def _check_latent(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    check_float_tensor("z", z)
    if z.dim() != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(
            f"z must have shape (batch, {model.latent_dim}), "
            f"got {tuple(z.shape)}"
        )
    _check_dtype("z", z, _weights_dtype(model))
    return z


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    r"""MLP autoencoder: ``input_dim -> hidden_dim -> latent_dim`` and back.

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

    def __init__(
        self, input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 20
    ) -> None:
        super().__init__()
        self.input_dim = check_int("input_dim", input_dim, minimum=1)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, minimum=1)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        self.encoder = _mlp([self.input_dim, self.hidden_dim, self.latent_dim])
        self.decoder = _mlp([self.latent_dim, self.hidden_dim, self.input_dim])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code :math:`z = f(x)`, shape ``(batch, latent_dim)``."""
        x = flatten_batch(x, self.input_dim, dtype=_weights_dtype(self))
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder logits :math:`g(z)`, shape ``(batch, input_dim)``."""
        return self.decoder(_check_latent(self, z))

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """Decoded image :math:`\\operatorname{sigmoid}(g(z))`, in [0, 1]."""
        return torch.sigmoid(self.decode(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the reconstruction, :math:`g(f(x))`.

        Shape ``(batch, input_dim)``.
        """
        return self.decoder(self.encode(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction :math:`\\hat x = \\operatorname{sigmoid}(g(f(x)))`.

        In [0, 1], shape ``(batch, input_dim)``.
        """
        return torch.sigmoid(self(x))


class LinearAutoencoder(nn.Module):
    r"""Linear autoencoder: :math:`z = W_e x + b_e, \hat x = W_d z + b_d`.

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

    def __init__(
        self, input_dim: int, latent_dim: int, bias: bool = True
    ) -> None:
        super().__init__()
        self.input_dim = check_int("input_dim", input_dim, minimum=1)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        self.encoder = nn.Linear(self.input_dim, self.latent_dim, bias=bias)
        self.decoder = nn.Linear(self.latent_dim, self.input_dim, bias=bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code :math:`z = W_e x + b_e`, shape ``(batch, latent_dim)``."""
        x = flatten_batch(x, self.input_dim, dtype=_weights_dtype(self))
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction :math:`W_d z + b_d`, shape ``(batch, input_dim)``."""
        return self.decoder(_check_latent(self, z))

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`decode` (a linear decoder has no link function)."""
        return self.decode(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction :math:`W_d(W_e x + b_e) + b_d`.

        Shape ``(batch, input_dim)``.
        """
        return self.decoder(self.encode(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward`."""
        return self(x)


class VAE(nn.Module):
    r"""Variational autoencoder with a diagonal Gaussian encoder.

    Encoder (the approximate posterior, not the true one):

    .. math::

        \begin{aligned}
        h &= \mathrm{ReLU}(W_1 x + b_1), \\
        \mu &= W_\mu h + b_\mu, \qquad
        \log\sigma^2 = W_v h + b_v, \\
        q(z \mid x) &= \mathcal N(\mu, \operatorname{diag}\sigma^2).
        \end{aligned}

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
        Width of the hidden layer of encoder and decoder; ``None`` for
        linear maps.
    latent_dim : int, default 20
        Latent dimension :math:`m`.
    likelihood : {"bernoulli", "gaussian", "continuous_bernoulli"}
        The decoder's distribution, ``"bernoulli"`` by default.
    decoder_variance : float, default 1.0
        :math:`s^2` of the Gaussian decoder (ignored by the others).

    Attributes
    ----------
    encoder_body, mu_head, logvar_head, decoder : torch.nn.Module
        The layers.
    """

    returns_logits = True

    def __init__(
        self,
        input_dim: int = 784,
        hidden_dim: int | None = 400,
        latent_dim: int = 20,
        likelihood: Likelihood = "bernoulli",
        *,
        decoder_variance: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_dim = check_int("input_dim", input_dim, minimum=1)
        if hidden_dim is not None:
            hidden_dim = check_int("hidden_dim", hidden_dim, minimum=1)
        self.hidden_dim = hidden_dim
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        if likelihood not in LIKELIHOODS:
            names = ", ".join(map(repr, LIKELIHOODS[:-1]))
            raise ValueError(
                f"likelihood must be {names} or {LIKELIHOODS[-1]!r}, "
                f"got {likelihood!r}"
            )
        self.likelihood = likelihood
        self.decoder_variance = check_real(
            "decoder_variance", decoder_variance, positive=True
        )
        self.returns_logits = likelihood != "gaussian"
        self._build_layers()

    def _build_layers(self) -> None:
        """Make the MLP's layers from the checked sizes: ``__init__``'s end.

        A subclass with layers of its own (:class:`ConvVAE`) replaces it:
        no MLP layer is then made, and no random draw taken for one, before
        its own layers.
        """
        n, m, hidden_dim = self.input_dim, self.latent_dim, self.hidden_dim
        if hidden_dim is None:
            self.encoder_body: nn.Module = nn.Identity()
            self.decoder: nn.Module = nn.Linear(m, n)
            features = n
        else:
            self.encoder_body = nn.Sequential(
                nn.Linear(n, hidden_dim), nn.ReLU()
            )
            self.decoder = _mlp([m, hidden_dim, n])
            features = hidden_dim
        self.mu_head = nn.Linear(features, m)
        self.logvar_head = nn.Linear(features, m)

    # -- encoder --------------------------------------------------------------

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's shared features :math:`h` of a checked batch."""
        x = flatten_batch(x, self.input_dim, dtype=_weights_dtype(self))
        return self.encoder_body(x)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Parameters of :math:`q(z \mid x)`: ``(mu, logvar)``.

        Each of shape ``(batch, latent_dim)``.
        """
        h = self._hidden(x)
        return self.mu_head(h), self.logvar_head(h)

    # -- decoder --------------------------------------------------------------

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output for ``z``, shape ``(batch, input_dim)``.

        Logits (Bernoulli, continuous Bernoulli) or the Gaussian mean.
        """
        return self.decoder(_check_latent(self, z))

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        r"""Mean of :math:`p(x \mid z)`, shape ``(batch, input_dim)``.

        The sigmoid of the logits for the Bernoulli decoder, the mean of the
        continuous Bernoulli (which is not the sigmoid of its logits), the
        decoder output for the Gaussian.
        """
        output = self.decode(z)
        if self.likelihood == "bernoulli":
            return torch.sigmoid(output)
        if self.likelihood == "continuous_bernoulli":
            return ContinuousBernoulli(logits=output).mean
        return output

    # -- the model ------------------------------------------------------------

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Encode, sample :math:`z \sim q(z \mid x)` once, decode.

        .. math::

            (\mu, \log\sigma^2) = \mathrm{encode}(x), \qquad
            z = \mu + e^{\log(\sigma^2)/2} \odot \epsilon, \qquad
            \epsilon \sim \mathcal N(0, I).

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
            ``(decoder_output, mu, logvar)``: the decoder output for the
            sampled :math:`z` (see :meth:`decode`), and the encoder's
            parameters.
        """
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, check_generator(generator))
        return self.decoder(z), mu, logvar

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        r"""Decode :math:`n` draws of the prior :math:`\mathcal N(0, I)`.

        Returns
        -------
        torch.Tensor
            :meth:`decode_mean` of the draws, shape ``(n, input_dim)``.
        """
        n = check_int("n", n, minimum=1)
        generator = check_generator(generator)
        weight = next(self.parameters())
        z = torch.randn(
            n,
            self.latent_dim,
            generator=generator,
            dtype=weight.dtype,
            device=weight.device,
        )
        with torch.no_grad():
            return self.decode_mean(z)

    def loss(
        self,
        x: torch.Tensor,
        beta: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> ELBOTerms:
        r"""One-sample estimate of the negative ELBO on a batch.

        .. math::

            \mathcal L = -\log p(x \mid z)
            + \beta\,\mathrm{KL}\left[q(z \mid x) \,\|\,
                                       \mathcal N(0, I)\right],
            \qquad z \sim q(z \mid x),

        summed over pixels and latent units, averaged over the batch
        (:func:`vaecourse.losses.negative_elbo`), in nats per example.

        Returns
        -------
        vaecourse.losses.ELBOTerms
            ``(loss, reconstruction, kl)``.

        Raises
        ------
        ValueError
            If ``x`` is an empty batch (its average would be NaN).
        """
        x = flatten_batch(x, self.input_dim, dtype=_weights_dtype(self))
        output, mu, logvar = self(x, generator)
        return negative_elbo(
            x,
            output,
            mu,
            logvar,
            likelihood=self.likelihood,
            beta=beta,
            variance=self.decoder_variance,
        )


class NaiveStdVAE(VAE):
    r"""For demonstration only, do not use: a VAE that predicts :math:`\sigma`.

    The encoder's second head predicts :math:`\sigma` itself through a
    linear layer, as naive code does, instead of :math:`\log\sigma^2`.
    Nothing keeps it positive: :math:`z = \mu + \sigma\epsilon` is sampled
    with whatever sign it has, and the KL term's :math:`\log\sigma^2` is
    computed as :math:`2\log\sigma`, which is NaN for :math:`\sigma < 0` and
    :math:`-\infty` for :math:`\sigma = 0`. Training then stops with
    :class:`vaecourse.loop.TrainingDiverged` at the first batch (chapter
    "The log-variance trick"). Same arguments and layers as :class:`VAE`,
    with ``std_head`` in place of ``logvar_head``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The same layer, read as sigma: same initial weights as VAE's head.
        self.std_head = self.logvar_head
        del self.logvar_head

    def encode_std(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""What the encoder predicts: ``(mu, sigma)``, any sign."""
        h = self._hidden(x)
        return self.mu_head(h), self.std_head(h)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""``(mu, logvar)`` with :math:`\log\sigma^2 = 2\log\sigma`.

        NaN where :math:`\sigma < 0`, :math:`-\infty` where it is 0.
        """
        mu, std = self.encode_std(x)
        return mu, 2.0 * torch.log(std)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Encode, sample :math:`z = \mu + \sigma\epsilon`, decode.

        The predicted :math:`\sigma` is used whatever its sign, as naive
        code does. Returns ``(decoder_output, mu, logvar)`` as
        :meth:`VAE.forward` does, with :math:`\log\sigma^2 = 2\log\sigma`.
        """
        mu, std = self.encode_std(x)
        eps = torch.randn(
            mu.shape,
            generator=check_generator(generator),
            dtype=mu.dtype,
            device=mu.device,
        )
        return self.decoder(mu + std * eps), mu, 2.0 * torch.log(std)


class ConvVAE(VAE):
    r"""Convolutional VAE for square images of one or more channels.

    The architecture of Burgess et al. (2018) and disentanglement_lib for
    64 x 64 images. Encoder: convolutions of 4 x 4 kernels, stride 2 and
    padding 1 (each halves the image), with 32, 32, 64 and 64 filters,
    then a dense layer of 256 units and two heads for :math:`\mu` and
    :math:`\log\sigma^2`. Decoder: the mirror image, a dense layer of 256,
    one to :math:`64 \times 4 \times 4`, and transposed convolutions with
    64, 32, 32 and :math:`C` filters. ReLU between layers; the decoder
    returns the logits of a Bernoulli :math:`p(x \mid z)`, flattened to
    ``(batch, C * S * S)``.

    ``image_size=32`` is the reduced set-up: three convolutions (32, 64,
    64 filters) and their mirror, the same 4 x 4 x 64 features.
    ``channels=3`` is the RGB model of chapter "DARLA"
    (:class:`vaecourse.darla.ColourConvVAE`): only the first convolution
    and the last transposed one change, to read and write :math:`C`
    channels.

    Same interface as :class:`VAE` (``encode``, ``decode``, ``forward``,
    ``loss``, ``sample``), so :func:`vaecourse.train.train_vae` trains it;
    :class:`VAE`'s constructor checks and records the sizes
    (``input_dim`` is :math:`C S^2`, ``hidden_dim`` 256). It takes images
    as ``(batch, C, S, S)`` or ``(batch, C * S * S)``, and for
    :math:`C = 1` also ``(batch, S, S)``.

    Parameters
    ----------
    image_size : {64, 32}, default 64
        Side :math:`S` of the images.
    latent_dim : int, default 10
        Latent dimension :math:`m`.
    channels : int, default 1
        Channels :math:`C` of the images, in and out (1: grey, 3: RGB).
    channels_last : bool, default True
        Feed the convolutions in the ``channels_last`` memory format:
        measured faster on the CPU (README, "Performance"), as
        deterministic for a given seed and thread count, and the same
        numbers as ``False`` up to float rounding.
    """

    def __init__(
        self,
        image_size: int = 64,
        latent_dim: int = 10,
        *,
        channels: int = 1,
        channels_last: bool = True,
    ) -> None:
        image_size = check_int("image_size", image_size)
        if image_size not in (32, 64):
            raise ValueError(
                f"image_size must be 64 or 32, got {image_size!r}"
            )
        channels = check_int("channels", channels, minimum=1)
        channels_last = check_bool("channels_last", channels_last)
        super().__init__(
            channels * image_size * image_size,
            hidden_dim=256,
            latent_dim=latent_dim,
            likelihood="bernoulli",
        )
        self.image_size = image_size
        self.channels = channels
        self.channels_last = channels_last
        # The layers in the order of the shipped files and of the seeded
        # initialisations: convolutions, dense layer, heads, decoder.
        filters = [32, 32, 64, 64] if image_size == 64 else [32, 64, 64]
        convs: list[nn.Module] = []
        for n_in, n_out in zip(
            [channels, *filters[:-1]], filters, strict=True
        ):
            convs += [nn.Conv2d(n_in, n_out, 4, 2, 1), nn.ReLU()]
        self.convolutions = nn.Sequential(*convs)
        features = 64 * 4 * 4
        self.encoder_body = nn.Sequential(
            nn.Flatten(), nn.Linear(features, 256), nn.ReLU()
        )
        self.mu_head = nn.Linear(256, self.latent_dim)
        self.logvar_head = nn.Linear(256, self.latent_dim)
        mirror = [*filters[::-1], channels]
        deconvs: list[nn.Module] = [
            nn.Linear(self.latent_dim, 256),
            nn.ReLU(),
            nn.Linear(256, features),
            nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),
        ]
        for i, (n_in, n_out) in enumerate(
            zip(mirror[:-1], mirror[1:], strict=True)
        ):
            if i > 0:
                deconvs.append(nn.ReLU())
            deconvs.append(nn.ConvTranspose2d(n_in, n_out, 4, 2, 1))
        deconvs.append(nn.Flatten())
        self.decoder = nn.Sequential(*deconvs)
        if channels_last:  # the convolutions' weights too
            self.to(memory_format=torch.channels_last)

    def _build_layers(self) -> None:
        """No MLP layers: ``__init__`` makes the convolutional ones.

        :class:`VAE`'s constructor calls this after checking the sizes; the
        image size and channels it would need are only set after it.
        """

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        """Check a batch and shape it ``(batch, C, S, S)``."""
        c, s = self.channels, self.image_size
        check_float_tensor("x", x)
        accepted = [(c, s, s), (c * s * s,)]
        if c == 1:  # a grey image may come without its channel axis
            accepted.insert(1, (s, s))
        if x.dim() < 2 or tuple(x.shape[1:]) not in accepted:
            what = f"{s}x{s}" if c == 1 else f"{c}x{s}x{s}"
            layouts = [f"(batch, {', '.join(map(str, a))})" for a in accepted]
            raise ValueError(
                f"x must hold {what} images: shape "
                f"{', '.join(layouts[:-1])} or {layouts[-1]}, "
                f"got {tuple(x.shape)}"
            )
        _check_dtype("x", x, _weights_dtype(self))
        x = x.reshape(x.shape[0], c, s, s)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's 256 features of a checked batch of images."""
        return self.encoder_body(self.convolutions(self._images(x)))

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        r"""Bernoulli means :math:`\operatorname{sigmoid}(\ell)`, flat."""
        return torch.sigmoid(self.decode(z))

    def loss(
        self,
        x: torch.Tensor,
        beta: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> ELBOTerms:
        r"""One-sample negative ELBO, as :meth:`VAE.loss`, in nats per image.

        Summed over the :math:`C S^2` values and the latent units, averaged
        over the batch.
        """
        x = self._images(x).reshape(x.shape[0], self.input_dim)
        output, mu, logvar = self(x, generator)
        return negative_elbo(
            x, output, mu, logvar, likelihood="bernoulli", beta=beta
        )
