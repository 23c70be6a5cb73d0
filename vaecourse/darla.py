r"""DARLA on coloured sprites: a DAE, the β-VAE_DAE objective, probes.

DARLA (Higgins et al. 2017, "DARLA: Improving zero-shot transfer in
reinforcement learning") learns to see before it learns to act: a β-VAE
trained on a *source* domain gives a disentangled representation on which
a policy transfers zero-shot to *target* domains. Its β-VAE_DAE replaces
the pixel reconstruction term by a distance in the feature space of a
denoising autoencoder :math:`J` trained first and then frozen:

.. math::

    \mathcal L(x) = \|J(\hat x) - J(x)\|_2^2
        + \beta\,\mathrm{KL}\left[q(z \mid x) \,\|\, \mathcal N(0, I)\right],

where :math:`\hat x = \mathbb E[p(x \mid z)]` with
:math:`z \sim q(z \mid x)`.

The course's CPU-sized re-creation (chapter "DARLA"), with no
reinforcement learning:

- **Domains.** The sprites of :mod:`vaecourse.sprites`, averaged to
  32 x 32 as in :mod:`vaecourse.beta_vae`, painted in one foreground colour
  on a black background: the colours of :data:`SOURCE_COLOURS` (hues 0°,
  90°, 180°, 270°) in the source domain, the held-out colours of
  :data:`TARGET_COLOURS` (hues 45°, 135°, 225°, 315°) in the target domain.
  Colour is a nuisance factor of the domain; the factors of interest are
  dSprites' five (shape, scale, orientation, x, y).
- **Models.** :class:`ColourConvVAE`, a 3-channel version of
  :class:`vaecourse.models.ConvVAE` with a Bernoulli decoder, and
  :class:`DenoisingAutoencoder`, the DAE :math:`J`, trained to reconstruct
  clean images from images with a random fraction of their pixels (half,
  by default) masked to 0 (:func:`mask_pixels`).
- **Training** (:func:`train_dae`, :func:`train_darla_vae`) draws fresh
  batches of *source* images at every step; the training loops take no
  images and no domain, so target images cannot reach them.
- **Transfer** (:func:`transfer_scores`): linear probes from the encoder
  means to the factors, fitted on source images and scored zero-shot on
  source and on target images.

What the paper's text does not settle (UNCHECKED): the layer of :math:`J`
in which the distance is taken, the DAE's noise, and the β values. The
course takes the distance on the DAE's **output logits**, its last layer
before the non-linearity (the sigmoid), as the later SCAN paper of the same
group describes, and masks pixels.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from vaecourse import sprites
from vaecourse._validation import (
    check_float_tensor,
    check_generator,
    check_in_unit_interval,
    check_int,
    check_real,
)
from vaecourse.beta_vae import IMAGE_SIZE, sprite_images
from vaecourse.distributions import kl_diag_gaussian_std_normal
from vaecourse.losses import (
    ELBOTerms,
    bernoulli_nll_with_logits,
    negative_elbo,
    sum_of_squares,
)
from vaecourse.models import VAE
from vaecourse.train import TrainingDiverged

__all__ = [
    "CHANNELS",
    "INPUT_DIM",
    "DOMAINS",
    "SOURCE_HUES",
    "TARGET_HUES",
    "SOURCE_COLOURS",
    "TARGET_COLOURS",
    "OBJECTIVES",
    "PROBED_FACTORS",
    "palette",
    "colourise",
    "coloured_sprite_images",
    "SpriteBatch",
    "sample_sprites",
    "ColourConvVAE",
    "DenoisingAutoencoder",
    "mask_pixels",
    "freeze",
    "DarlaTerms",
    "beta_vae_dae_loss",
    "dae_step",
    "darla_vae_step",
    "Curves",
    "train_dae",
    "train_darla_vae",
    "encoder_means",
    "Probes",
    "fit_probes",
    "score_probes",
    "probe_scores",
    "transfer_scores",
]

#: Colour channels of an image (red, green, blue).
CHANNELS = 3
#: Values in one image, ``3 * 32 * 32``, channels first.
INPUT_DIM = CHANNELS * IMAGE_SIZE * IMAGE_SIZE
#: The two domains; training data come from the first only.
DOMAINS: tuple[str, ...] = ("source", "target")
#: Hues (degrees) of the source palette.
SOURCE_HUES: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)
#: Hues (degrees) of the target palette, halfway between the source hues.
TARGET_HUES: tuple[float, ...] = (45.0, 135.0, 225.0, 315.0)


def _colours(hues: tuple[float, ...]) -> tuple[tuple[float, ...], ...]:
    """RGB of full saturation and value for each hue (degrees)."""
    return tuple(colorsys.hsv_to_rgb(hue / 360.0, 1.0, 1.0) for hue in hues)


#: Foreground colours of the source domain, RGB in [0, 1] (red,
#: chartreuse, cyan, violet).
SOURCE_COLOURS = _colours(SOURCE_HUES)
#: Foreground colours of the target domain, never seen in training
#: (orange, spring green, azure, rose).
TARGET_COLOURS = _colours(TARGET_HUES)
#: Objectives of :func:`darla_vae_step`; the β-weighted negative ELBO of a
#: Bernoulli decoder, the pixel L2 loss :math:`\|\hat x - x\|^2 + \beta
#: \mathrm{KL}` (β-VAE_DAE with :math:`J` the identity), and β-VAE_DAE.
OBJECTIVES: tuple[str, ...] = ("bernoulli", "l2", "dae")
#: The factors the probes predict, dSprites' five varying factors.
PROBED_FACTORS: tuple[str, ...] = sprites.FACTOR_NAMES[1:]
# Seeds of the probes' data sets; training draws with default_rng(seed).
_PROBE_SEED = 2_000_003


# -- data ---------------------------------------------------------------------


def _check_domain(domain: object) -> str:
    if not isinstance(domain, str):
        raise TypeError(
            f"domain must be a str, got {type(domain).__name__} {domain!r}"
        )
    if domain not in DOMAINS:
        raise ValueError(
            f"domain must be 'source' or 'target', got {domain!r}"
        )
    return domain


def palette(domain: str) -> np.ndarray:
    """The foreground colours of a domain, ``(4, 3)`` float32 RGB.

    Parameters
    ----------
    domain : {"source", "target"}
    """
    domain = _check_domain(domain)
    colours = SOURCE_COLOURS if domain == "source" else TARGET_COLOURS
    return np.array(colours, dtype=np.float32)


def colourise(coverage: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    r"""Paint grey sprites in one colour each, on black.

    .. math::

        x_{c,i} = a_i\, r_c ,

    with :math:`a_i \in [0, 1]` the fraction of pixel :math:`i` that the
    sprite covers and :math:`r_c` channel :math:`c` of its colour.

    Parameters
    ----------
    coverage : torch.Tensor
        ``(N, 1024)`` in [0, 1] (:func:`vaecourse.beta_vae.sprite_images`).
    rgb : torch.Tensor
        ``(N, 3)`` in [0, 1], one colour per image, same dtype.

    Returns
    -------
    torch.Tensor
        ``(N, 3072)``: channels first, then the 32 x 32 pixels.
    """
    check_float_tensor("coverage", coverage)
    check_float_tensor("rgb", rgb)
    if coverage.dim() != 2 or coverage.shape[1] != IMAGE_SIZE**2:
        raise ValueError(
            f"coverage must have shape (N, {IMAGE_SIZE**2}), got "
            f"{tuple(coverage.shape)}"
        )
    if tuple(rgb.shape) != (coverage.shape[0], CHANNELS):
        raise ValueError(
            f"rgb must have shape ({coverage.shape[0]}, {CHANNELS}), one "
            f"colour per image, got {tuple(rgb.shape)}"
        )
    check_in_unit_interval("coverage", coverage)
    check_in_unit_interval("rgb", rgb)
    return (rgb[:, :, None] * coverage[:, None, :]).reshape(-1, INPUT_DIM)


def coloured_sprite_images(
    classes: object, colours: object, domain: str
) -> torch.Tensor:
    """Draw sprites at 32 x 32 in colours of a domain's palette.

    Parameters
    ----------
    classes : numpy.ndarray
        ``(N, 6)`` factor indices (:mod:`vaecourse.sprites`).
    colours : numpy.ndarray
        ``(N,)`` indices into :func:`palette` of ``domain``.
    domain : {"source", "target"}

    Returns
    -------
    torch.Tensor
        ``(N, 3072)`` float32 in [0, 1]: :func:`colourise` of the 2 x 2
        averages of the 64 x 64 binary sprites.
    """
    colours_rgb = palette(domain)
    indices = np.atleast_1d(np.asarray(colours))
    if indices.dtype == bool or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(
            f"colours must be integer indices into the {domain} palette, "
            f"got dtype {indices.dtype}"
        )
    if indices.size and (
        indices.min() < 0 or indices.max() >= len(colours_rgb)
    ):
        raise ValueError(
            f"colours index the {domain} palette of {len(colours_rgb)} "
            f"colours (0 to {len(colours_rgb) - 1}), found "
            f"[{indices.min()}, {indices.max()}]"
        )
    coverage = sprite_images(classes)
    if indices.shape != (len(coverage),):
        raise ValueError(
            f"colours must have shape ({len(coverage)},), one per image, "
            f"got {indices.shape}"
        )
    return colourise(coverage, torch.from_numpy(colours_rgb[indices]))


class SpriteBatch(NamedTuple):
    """Coloured sprites with their factors and their domain."""

    #: ``(N, 3072)`` float32 images in [0, 1].
    images: torch.Tensor
    #: ``(N, 6)`` factor indices (colour, shape, scale, orientation, x, y).
    classes: np.ndarray
    #: ``(N,)`` indices into the domain's palette.
    colours: np.ndarray
    #: ``"source"`` or ``"target"``.
    domain: str


def sample_sprites(
    n: int, domain: str, rng: np.random.Generator | int = 0
) -> SpriteBatch:
    """``n`` coloured sprites of one domain, factors uniform on the grid.

    Each image's factors are drawn uniformly from dSprites' grid and its
    colour uniformly from the palette of ``domain``, and of that domain
    only.

    Parameters
    ----------
    n : int
        Number of images, at least 1.
    domain : {"source", "target"}
    rng : numpy.random.Generator or int, default 0
        The random source, or a seed for ``numpy.random.default_rng``.
    """
    n = check_int("n", n, minimum=1)
    domain = _check_domain(domain)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(check_int("rng", rng, minimum=0))
    classes = np.stack(
        [rng.integers(0, size, n) for size in sprites.FACTOR_SIZES], axis=1
    )
    colours = rng.integers(0, len(palette(domain)), n)
    images = coloured_sprite_images(classes, colours, domain)
    return SpriteBatch(images, classes, colours, domain)


# -- models -------------------------------------------------------------------


def _check_images(
    x: object, model: nn.Module, channels_last: bool
) -> torch.Tensor:
    """Check a batch of RGB images, shape it ``(batch, 3, 32, 32)``."""
    s = IMAGE_SIZE
    check_float_tensor("x", x)
    accepted = [(CHANNELS, s, s), (INPUT_DIM,)]
    if x.dim() < 2 or tuple(x.shape[1:]) not in accepted:
        raise ValueError(
            f"x must hold {CHANNELS}x{s}x{s} images: shape (batch, "
            f"{CHANNELS}, {s}, {s}) or (batch, {INPUT_DIM}), got "
            f"{tuple(x.shape)}"
        )
    dtype = next(model.parameters()).dtype
    if x.dtype != dtype:
        raise TypeError(
            f"x has dtype {x.dtype} but the model's weights have dtype "
            f"{dtype}: convert the data with x.to({dtype})"
        )
    x = x.reshape(x.shape[0], CHANNELS, s, s)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _convolutions(filters: list[int]) -> nn.Sequential:
    """4 x 4 convolutions of stride 2 from RGB, ReLU after each."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip([CHANNELS, *filters[:-1]], filters, strict=True):
        layers += [nn.Conv2d(n_in, n_out, 4, 2, 1), nn.ReLU()]
    return nn.Sequential(*layers)


def _transposed(filters: list[int]) -> list[nn.Module]:
    """The mirror image: transposed convolutions down to RGB, no last ReLU."""
    mirror = [*filters[::-1], CHANNELS]
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(
        zip(mirror[:-1], mirror[1:], strict=True)
    ):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.ConvTranspose2d(n_in, n_out, 4, 2, 1))
    return [*layers, nn.Flatten()]


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


class ColourConvVAE(VAE):
    r"""Convolutional VAE for 32 x 32 RGB images.

    :class:`vaecourse.models.ConvVAE` at ``image_size=32`` with three input
    and output channels: convolutions of 4 x 4 kernels, stride 2, with 32,
    64 and 64 filters, a dense layer of 256 and the heads of :math:`\mu`
    and :math:`\log\sigma^2`; the decoder is the mirror image and returns
    the logits of a Bernoulli :math:`p(x \mid z)`, flattened to
    ``(batch, 3072)``.

    A Bernoulli decoder, as for dSprites in Higgins et al. and in chapter
    "β-VAE": the sprites are mostly exactly 0 or 1 (only edge pixels are
    grey), and its cross-entropy weighs the pixels far more than a
    Gaussian of unit variance would. The decoder mean
    :math:`\hat x = \operatorname{sigmoid}(\ell)` (``decode_mean``) is
    what β-VAE_DAE passes through :math:`J`.

    Same interface as :class:`vaecourse.models.VAE`. It takes images as
    ``(batch, 3, 32, 32)`` or ``(batch, 3072)``.

    Parameters
    ----------
    latent_dim : int, default 10
        Latent dimension :math:`m`.
    channels_last : bool, default True
        Feed the convolutions in the ``channels_last`` memory format, as
        :class:`vaecourse.models.ConvVAE` does.
    """

    def __init__(
        self, latent_dim: int = 10, *, channels_last: bool = True
    ) -> None:
        nn.Module.__init__(self)
        self.channels_last = _check_bool("channels_last", channels_last)
        self.image_size = IMAGE_SIZE
        self.input_dim = INPUT_DIM
        self.hidden_dim = 256
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        self.likelihood = "bernoulli"
        self.decoder_variance = 1.0
        self.returns_logits = True
        filters = [32, 64, 64]
        features = 64 * 4 * 4
        self.convolutions = _convolutions(filters)
        self.encoder_body = nn.Sequential(
            nn.Flatten(), nn.Linear(features, 256), nn.ReLU()
        )
        self.mu_head = nn.Linear(256, self.latent_dim)
        self.logvar_head = nn.Linear(256, self.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(self.latent_dim, 256),
            nn.ReLU(),
            nn.Linear(256, features),
            nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),
            *_transposed(filters),
        )
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's 256 features of a checked batch of images."""
        images = _check_images(x, self, self.channels_last)
        return self.encoder_body(self.convolutions(images))

    def loss(
        self,
        x: torch.Tensor,
        beta: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> ELBOTerms:
        r"""One-sample β-weighted negative ELBO, nats per image.

        :math:`-\log p(x \mid z) + \beta\,\mathrm{KL}`, summed over the
        3072 values and the latent units, averaged over the batch
        (:func:`vaecourse.losses.negative_elbo`); returns its
        :class:`vaecourse.losses.ELBOTerms`.
        """
        x = _check_images(x, self, False).reshape(x.shape[0], INPUT_DIM)
        output, mu, logvar = self(x, generator)
        return negative_elbo(
            x, output, mu, logvar, likelihood="bernoulli", beta=beta
        )


class DenoisingAutoencoder(nn.Module):
    r"""The denoising autoencoder :math:`J` of β-VAE_DAE, for RGB sprites.

    Convolutions of 4 x 4 kernels, stride 2, with 32, 64 and 64 filters
    (a 64 x 4 x 4 code, 1024 numbers for 3072 inputs), then their mirror
    image with transposed convolutions, ReLU between layers. Trained by
    :func:`train_dae` to give the clean image from one masked by
    :func:`mask_pixels`, with the Bernoulli cross-entropy.

    ``forward(x)`` returns the output logits :math:`J(x)`, shape
    ``(batch, 3072)``: the DAE's last layer before its non-linearity, the
    features in which β-VAE_DAE measures its distance
    (:func:`beta_vae_dae_loss`); :meth:`reconstruct` applies the sigmoid.

    Parameters
    ----------
    channels_last : bool, default True
        Feed the convolutions in the ``channels_last`` memory format.
    """

    def __init__(self, *, channels_last: bool = True) -> None:
        super().__init__()
        self.channels_last = _check_bool("channels_last", channels_last)
        filters = [32, 64, 64]
        self.encoder = _convolutions(filters)
        self.decoder = nn.Sequential(*_transposed(filters))
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output logits :math:`J(x)`, ``(batch, 3072)``."""
        images = _check_images(x, self, self.channels_last)
        return self.decoder(self.encoder(images))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        r"""Denoised image :math:`\operatorname{sigmoid}(J(x))`, in [0, 1]."""
        return torch.sigmoid(self(x))


def mask_pixels(
    x: torch.Tensor,
    fraction: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Masking noise: set a random fraction of the pixels to 0.

    .. math::

        \tilde x_{c,i} = m_i\, x_{c,i}, \qquad
        m_i \sim \mathrm{Bernoulli}(1 - f)\ \text{independently},

    one draw per pixel :math:`i` and image, shared by the three channels
    (a masked pixel is black).

    Parameters
    ----------
    x : torch.Tensor
        ``(batch, 3072)`` or ``(batch, 3, 32, 32)``.
    fraction : float
        :math:`f \in [0, 1]`, the probability that a pixel is masked.
    generator : torch.Generator, optional
        Source of the mask.

    Returns
    -------
    torch.Tensor
        The masked images, shape and dtype of ``x``.
    """
    fraction = check_real("fraction", fraction, minimum=0.0)
    if fraction > 1.0:
        raise ValueError(f"fraction must be at most 1, got {fraction}")
    check_float_tensor("x", x)
    shapes = [(CHANNELS, IMAGE_SIZE, IMAGE_SIZE), (INPUT_DIM,)]
    if x.dim() < 2 or tuple(x.shape[1:]) not in shapes:
        raise ValueError(
            f"x must have shape (batch, {INPUT_DIM}) or (batch, 3, 32, "
            f"32), got {tuple(x.shape)}"
        )
    u = torch.rand(
        (x.shape[0], 1, IMAGE_SIZE, IMAGE_SIZE),
        generator=check_generator(generator),
        dtype=x.dtype,
        device=x.device,
    )
    images = x.reshape(x.shape[0], CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    return (images * (u >= fraction).to(x.dtype)).reshape(x.shape)


def freeze(module: nn.Module) -> nn.Module:
    """Freeze a network: evaluation mode, no parameter requires a gradient.

    Returns the module itself (changed in place).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"module must be a torch.nn.Module, got {type(module).__name__}"
        )
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def _check_frozen(dae: object) -> nn.Module:
    if not isinstance(dae, nn.Module):
        raise TypeError(
            f"dae must be a torch.nn.Module, got {type(dae).__name__}"
        )
    if any(p.requires_grad for p in dae.parameters()):
        raise ValueError(
            "dae must be frozen (no parameter requiring a gradient): "
            "call vaecourse.darla.freeze(dae) after training it"
        )
    return dae


# -- objectives ---------------------------------------------------------------


class DarlaTerms(NamedTuple):
    """An objective and its two terms, each averaged over the batch.

    In nats per example, except the feature distance (in :math:`J`'s own
    units) and the pixel L2 loss.
    """

    #: ``reconstruction + beta * kl``, the minimised scalar.
    objective: torch.Tensor
    #: Bernoulli NLL, pixel L2 or DAE feature distance.
    reconstruction: torch.Tensor
    #: :math:`\mathrm{KL}[q(z \mid x) \,\|\, \mathcal N(0, I)]`.
    kl: torch.Tensor


def beta_vae_dae_loss(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    dae: nn.Module,
    *,
    beta: float = 1.0,
) -> DarlaTerms:
    r"""The β-VAE_DAE objective with a frozen DAE :math:`J`.

    .. math::

        \mathcal L = \frac1B \sum_{b=1}^{B}
            \left( \|J(\hat x_b) - J(x_b)\|_2^2
            + \beta\,\mathrm{KL}\left[q(z \mid x_b) \,\|\,
              \mathcal N(0, I)\right] \right),

    the squared distance summed over :math:`J`'s features, the KL over
    the latent units, both averaged over the batch. With :math:`J` the
    identity (``torch.nn.Identity()``) it is the pixel L2 loss
    :math:`\|\hat x - x\|_2^2 + \beta\,\mathrm{KL}`. Gradients reach
    :math:`\hat x` (and the VAE) through :math:`J`, never :math:`J`'s
    weights: ``dae`` must be frozen (:func:`freeze`).

    The distance is in :math:`J`'s units: on the logits of a trained DAE
    it is far larger than the Bernoulli NLL of the same reconstruction,
    so the :math:`\beta` of β-VAE_DAE is not comparable with the
    :math:`\beta` of a pixel objective.

    Parameters
    ----------
    x, x_hat : torch.Tensor
        Data and decoder mean :math:`\hat x` (the sigmoid of the logits for
        a Bernoulli decoder, for a sample :math:`z \sim q(z \mid x)`), same
        shape ``(batch, ...)``.
    mu, logvar : torch.Tensor
        Encoder outputs, ``(batch, m)``.
    dae : torch.nn.Module
        :math:`J`, frozen; ``dae(x)`` returns its features.
    beta : float, default 1.0
        Weight :math:`\beta \ge 0` of the KL term.

    Returns
    -------
    DarlaTerms
        ``(objective, distance, kl)``.
    """
    beta = check_real("beta", beta, minimum=0.0)
    dae = _check_frozen(dae)
    check_float_tensor("x", x)
    check_float_tensor("x_hat", x_hat)
    if x.shape != x_hat.shape:
        raise ValueError(
            "x and x_hat must have the same shape, got "
            f"{tuple(x.shape)} and {tuple(x_hat.shape)}"
        )
    with torch.no_grad():
        target = dae(x)
    distance = sum_of_squares(target, dae(x_hat))
    kl = kl_diag_gaussian_std_normal(mu, logvar)
    if kl.shape != distance.shape:
        raise ValueError(
            "mu must have shape (batch, m) with the batch size of x, "
            f"{x.shape[0]}, got shape {tuple(mu.shape)}"
        )
    distance, kl = distance.mean(), kl.mean()
    return DarlaTerms(distance + beta * kl, distance, kl)


def _check_objective(objective: object, dae: object) -> str:
    if objective not in OBJECTIVES:
        raise ValueError(
            f"objective must be 'bernoulli', 'l2' or 'dae', got {objective!r}"
        )
    if objective == "dae":
        if dae is None:
            raise ValueError("objective 'dae' needs a trained, frozen dae")
        _check_frozen(dae)
    elif dae is not None:
        raise ValueError(
            f"objective {objective!r} does not use a dae; pass dae=None"
        )
    return objective


def _check_vae(model: object) -> ColourConvVAE:
    if not isinstance(model, ColourConvVAE):
        raise TypeError(
            "model must be a vaecourse.darla.ColourConvVAE, got "
            f"{type(model).__name__}"
        )
    return model


def darla_vae_step(
    model: ColourConvVAE,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    *,
    objective: str,
    beta: float = 1.0,
    dae: nn.Module | None = None,
    generator: torch.Generator | None = None,
) -> DarlaTerms:
    r"""One optimizer step of a VAE on one of the :data:`OBJECTIVES`.

    - ``"bernoulli"``: :math:`-\log p(x \mid z) + \beta\,\mathrm{KL}`
      (:meth:`ColourConvVAE.loss`): VAE for :math:`\beta = 1`, β-VAE
      otherwise;
    - ``"l2"``: :math:`\|\hat x - x\|_2^2 + \beta\,\mathrm{KL}`;
    - ``"dae"``: β-VAE_DAE, :math:`\|J(\hat x) - J(x)\|_2^2 +
      \beta\,\mathrm{KL}` with the frozen ``dae`` as :math:`J`
      (:func:`beta_vae_dae_loss`),

    with :math:`\hat x = \operatorname{sigmoid}(\ell)` the decoder mean
    for one sample :math:`z \sim q(z \mid x)`. ``optimizer`` holds the
    VAE's parameters only.

    Returns
    -------
    DarlaTerms
        The batch means, detached.
    """
    model = _check_vae(model)
    objective = _check_objective(objective, dae)
    beta = check_real("beta", beta, minimum=0.0)
    if objective == "bernoulli":
        terms = model.loss(x, beta=beta, generator=generator)
        terms = DarlaTerms(*terms)
    else:
        x = _check_images(x, model, False).reshape(x.shape[0], INPUT_DIM)
        logits, mu, logvar = model(x, generator)
        j = nn.Identity() if objective == "l2" else dae
        terms = beta_vae_dae_loss(
            x, torch.sigmoid(logits), mu, logvar, j, beta=beta
        )
    optimizer.zero_grad()
    terms.objective.backward()
    optimizer.step()
    return DarlaTerms(*(t.detach() for t in terms))


def dae_step(
    dae: DenoisingAutoencoder,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    *,
    mask_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""One optimizer step of the DAE on masked images.

    Minimises :math:`-\log \mathrm{Bernoulli}(x;\,
    \operatorname{sigmoid}(J(\tilde x)))`, the cross-entropy between the
    clean images :math:`x` and the logits for their masked copies
    :math:`\tilde x` (:func:`mask_pixels`), summed over the 3072 values,
    averaged over the batch. Returns it, detached.
    """
    if not isinstance(dae, DenoisingAutoencoder):
        raise TypeError(
            "dae must be a vaecourse.darla.DenoisingAutoencoder, got "
            f"{type(dae).__name__}"
        )
    noisy = mask_pixels(x, mask_fraction, generator)
    clean = x.reshape(x.shape[0], INPUT_DIM)
    loss = bernoulli_nll_with_logits(clean, dae(noisy)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


# -- training -----------------------------------------------------------------


@dataclass
class Curves:
    """Terms averaged over each ``log_every`` steps, per image.

    For the DAE, ``objective`` and ``reconstruction`` are its loss and
    ``kl`` is 0.
    """

    step: list[int] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    reconstruction: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)

    def columns(self) -> dict[str, list]:
        """The curves as a dict of lists (for JSON)."""
        return {
            "step": self.step,
            "objective": self.objective,
            "reconstruction": self.reconstruction,
            "kl": self.kl,
        }


def _log(curves: Curves, sums: torch.Tensor, step: int, n: int) -> None:
    means = (sums / n).tolist()
    curves.step.append(step)
    curves.objective.append(means[0])
    curves.reconstruction.append(means[1])
    curves.kl.append(means[2])
    sums.zero_()


def _common(
    steps: int, batch_size: int, lr: float, seed: int, log_every: int
) -> tuple[int, int, float, int, int]:
    return (
        check_int("steps", steps, minimum=1),
        check_int("batch_size", batch_size, minimum=1),
        check_real("lr", lr, positive=True),
        check_int("seed", seed, minimum=0),
        check_int("log_every", log_every, minimum=1),
    )


def train_dae(
    dae: DenoisingAutoencoder,
    *,
    steps: int,
    mask_fraction: float = 0.5,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    log_every: int = 250,
    device: str | torch.device = "cpu",
) -> Curves:
    """Train the DAE on fresh batches of source-domain sprites.

    Each step draws ``batch_size`` images with :func:`sample_sprites`
    (domain ``"source"``, from ``numpy.random.default_rng(seed)``) and
    takes :func:`dae_step` with Adam of learning rate ``lr``; the masks come
    from a ``torch.Generator`` seeded with ``seed``. The global random state
    is not touched. Freeze the result (:func:`freeze`) before β-VAE_DAE.

    Raises
    ------
    vaecourse.train.TrainingDiverged
        If the loss is not finite (epoch 1, batch = the step).
    """
    if not isinstance(dae, DenoisingAutoencoder):
        raise TypeError(
            "dae must be a vaecourse.darla.DenoisingAutoencoder, got "
            f"{type(dae).__name__}"
        )
    steps, batch_size, lr, seed, log_every = _common(
        steps, batch_size, lr, seed, log_every
    )
    mask_fraction = check_real("mask_fraction", mask_fraction, minimum=0.0)
    if mask_fraction >= 1.0:
        raise ValueError(f"mask_fraction must be below 1, got {mask_fraction}")
    device = torch.device(device)
    dae.to(device).train()
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(dae.parameters(), lr=lr)
    curves, sums = Curves(), torch.zeros(3, dtype=torch.float64)
    for step in range(steps):
        x = sample_sprites(batch_size, "source", rng).images.to(device)
        loss = dae_step(
            dae, optimizer, x, mask_fraction=mask_fraction, generator=generator
        )
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                1, step + 1, "loss", f"the DAE loss is {loss.item()}"
            )
        sums += (
            torch.stack([loss, loss, torch.zeros_like(loss)]).double().cpu()
        )
        if (step + 1) % log_every == 0 or step + 1 == steps:
            _log(curves, sums, step + 1, (step % log_every) + 1)
    return curves


def train_darla_vae(
    model: ColourConvVAE,
    *,
    objective: str,
    steps: int,
    beta: float = 1.0,
    dae: nn.Module | None = None,
    batch_size: int = 64,
    lr: float = 5e-4,
    seed: int = 0,
    log_every: int = 250,
    device: str | torch.device = "cpu",
) -> Curves:
    r"""Train a VAE on fresh batches of source-domain sprites.

    Each step draws ``batch_size`` images with :func:`sample_sprites`
    (domain ``"source"``, from ``numpy.random.default_rng(seed)``) and
    takes :func:`darla_vae_step` with ``objective`` and ``beta`` (VAE:
    ``"bernoulli"``, β = 1; β-VAE: ``"bernoulli"``, β > 1; β-VAE_DAE:
    ``"dae"`` with a frozen ``dae``), Adam of learning rate ``lr`` on the
    VAE's parameters. The reparameterization noise comes from a
    ``torch.Generator`` seeded with ``seed``; the global random state is
    not touched.

    Raises
    ------
    vaecourse.train.TrainingDiverged
        If the objective is not finite (epoch 1, batch = the step).
    """
    model = _check_vae(model)
    objective = _check_objective(objective, dae)
    beta = check_real("beta", beta, minimum=0.0)
    steps, batch_size, lr, seed, log_every = _common(
        steps, batch_size, lr, seed, log_every
    )
    device = torch.device(device)
    model.to(device).train()
    if dae is not None:
        dae.to(device)
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    curves, sums = Curves(), torch.zeros(3, dtype=torch.float64)
    for step in range(steps):
        x = sample_sprites(batch_size, "source", rng).images.to(device)
        terms = darla_vae_step(
            model,
            optimizer,
            x,
            objective=objective,
            beta=beta,
            dae=dae,
            generator=generator,
        )
        if not torch.isfinite(terms.objective):
            raise TrainingDiverged(
                1,
                step + 1,
                "loss",
                f"the objective is {terms.objective.item()}",
            )
        sums += torch.stack(list(terms)).double().cpu()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            _log(curves, sums, step + 1, (step % log_every) + 1)
    return curves


# -- probes -------------------------------------------------------------------


def encoder_means(
    model: ColourConvVAE, images: torch.Tensor, batch_size: int = 500
) -> np.ndarray:
    r"""The encoder means :math:`\mu(x)` of images, ``(N, m)`` float64."""
    model = _check_vae(model)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    means = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            means.append(model.encode(x)[0].cpu())
    return torch.cat(means).double().numpy()


def _check_codes(
    name: str, codes: object, factors_name: str, factors: object
) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(codes)
    factors = np.asarray(factors)
    if codes.dtype == bool or not np.issubdtype(codes.dtype, np.number):
        raise TypeError(f"{name} must be real numbers, got {codes.dtype}")
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(
            f"{name} must have shape (N, d) with N >= 2, got {codes.shape}"
        )
    if not np.isfinite(codes).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if factors.dtype == bool or not np.issubdtype(factors.dtype, np.integer):
        raise TypeError(
            f"{factors_name} must be integer factor indices, got dtype "
            f"{factors.dtype}"
        )
    sizes = sprites.FACTOR_SIZES[1:]
    if factors.shape != (len(codes), len(sizes)):
        raise ValueError(
            f"{factors_name} must have shape ({len(codes)}, {len(sizes)}): "
            f"one row per code, columns {', '.join(PROBED_FACTORS)}; got "
            f"{factors.shape}"
        )
    if (factors < 0).any() or (factors >= np.array(sizes)).any():
        raise ValueError(f"{factors_name} must be indices on the grid {sizes}")
    return codes.astype(np.float64), factors.astype(np.int64)


class Probes(NamedTuple):
    """Linear probes fitted on codes: a scaler, then one model a factor."""

    #: Standardises the codes with the training set's mean and deviation.
    scaler: StandardScaler
    #: One fitted scikit-learn model for each of :data:`PROBED_FACTORS`.
    models: tuple


def _values(factors: np.ndarray, k: int) -> np.ndarray:
    """Values on the grid of probed factor ``k`` (1: scale, ...)."""
    return sprites.FACTOR_VALUES[k + 1][factors[:, k]]


def fit_probes(codes: object, factors: object) -> Probes:
    """Fit linear probes from codes to dSprites' five factors.

    The codes are standardised (mean 0, deviation 1 on this set); shape is
    probed by a multinomial logistic regression (scikit-learn
    ``LogisticRegression``, ``max_iter=2000``), each of scale,
    orientation, x and y by a least-squares linear regression on its value.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N, d)`` real codes (encoder means), N >= 2.
    factors : numpy.ndarray
        ``(N, 5)`` factor indices: shape, scale, orientation, x, y.
    """
    codes, factors = _check_codes("codes", codes, "factors", factors)
    scaler = StandardScaler().fit(codes)
    inputs = scaler.transform(codes)
    shape = LogisticRegression(max_iter=2000).fit(inputs, factors[:, 0])
    regressions = tuple(
        LinearRegression().fit(inputs, _values(factors, k))
        for k in range(1, len(PROBED_FACTORS))
    )
    return Probes(scaler, (shape, *regressions))


def score_probes(
    probes: Probes, codes: object, factors: object
) -> dict[str, float]:
    r"""Scores of fitted probes on a (test) set.

    Shape: the accuracy (chance 1/3). The others: the coefficient of
    determination on this set,
    :math:`R^2 = 1 - \sum_n (y_n - \hat y_n)^2 / \sum_n (y_n - \bar y)^2`,
    1 for a perfect fit, about 0 (or below) for a probe no better than the
    mean. Orientation is circular and the square and ellipse are
    symmetric, so no linear probe reaches :math:`R^2 = 1` on it even from
    a perfect code of the pose.

    Returns
    -------
    dict of str to float
        One score per name of :data:`PROBED_FACTORS`.
    """
    if not isinstance(probes, Probes):
        raise TypeError(
            f"probes must be a Probes from fit_probes, got "
            f"{type(probes).__name__}"
        )
    codes, factors = _check_codes("codes", codes, "factors", factors)
    expected = probes.scaler.n_features_in_
    if codes.shape[1] != expected:
        raise ValueError(
            f"codes must have {expected} columns, as the probes' training "
            f"codes, got {codes.shape[1]}"
        )
    inputs = probes.scaler.transform(codes)
    scores = {"shape": float(probes.models[0].score(inputs, factors[:, 0]))}
    for k in range(1, len(PROBED_FACTORS)):
        predicted = probes.models[k].predict(inputs)
        scores[PROBED_FACTORS[k]] = float(
            r2_score(_values(factors, k), predicted)
        )
    return scores


def probe_scores(
    train_codes: object,
    train_factors: object,
    test_codes: object,
    test_factors: object,
) -> dict[str, float]:
    """Fit probes on a training set, score them on a test set.

    :func:`score_probes` of :func:`fit_probes`: shape accuracy, and
    :math:`R^2` of scale, orientation, position x and position y.
    """
    probes = fit_probes(train_codes, train_factors)
    return score_probes(probes, test_codes, test_factors)


def transfer_scores(
    model: ColourConvVAE,
    *,
    n_train: int = 2_000,
    n_test: int = 1_000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Zero-shot transfer of linear probes from source to target colours.

    Draws ``n_train`` source sprites to fit the probes on the encoder
    means (:func:`fit_probes`), then ``n_test`` fresh source sprites and
    ``n_test`` target sprites to score them (:func:`score_probes`). The
    three sets come from generators of their own, seeded with ``seed``
    and a constant that training does not use.

    Returns
    -------
    dict
        ``{"source": scores, "target": scores}``.
    """
    model = _check_vae(model)
    n_train = check_int("n_train", n_train, minimum=2)
    n_test = check_int("n_test", n_test, minimum=2)
    seed = check_int("seed", seed, minimum=0)

    def draw(n: int, domain: str, k: int) -> SpriteBatch:
        rng = np.random.default_rng([_PROBE_SEED, seed, k])
        return sample_sprites(n, domain, rng)

    train = draw(n_train, "source", 0)
    probes = fit_probes(
        encoder_means(model, train.images), train.classes[:, 1:]
    )
    scores = {}
    for k, domain in enumerate(DOMAINS, start=1):
        test = draw(n_test, domain, k)
        scores[domain] = score_probes(
            probes, encoder_means(model, test.images), test.classes[:, 1:]
        )
    return scores
