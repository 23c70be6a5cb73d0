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
  32 x 32 (:func:`vaecourse.sprites.reduced_images`, the images of
  Part III), painted in one of four colours (:data:`COLOURS`) on a black
  background. The domains differ in which colours go with which half of
  the frame (:data:`DOMAIN_COLOURS`): in the source domain red and cyan
  sprites sit in the left half and chartreuse and violet ones in the
  right half; the target domain swaps the pairs. Every colour and every
  position is seen in training; only these combinations are new. A code
  that keeps position apart from colour reads a target sprite's position
  as it reads a source sprite's; a code that mixes them need not.
- **Models.** :class:`ColourConvVAE`, :class:`vaecourse.models.ConvVAE`
  with three channels and a Bernoulli decoder, and
  :class:`DenoisingAutoencoder`, the DAE :math:`J`, trained to reconstruct
  clean images from images with a random fraction of their pixels (half,
  by default) masked to 0 (:func:`mask_pixels`).
- **Training** (:func:`train_dae`, :func:`train_darla_vae`) minimises
  :func:`dae_objective` or :func:`darla_vae_objective` with the package's
  one training loop (:func:`vaecourse.loop.train_loop`) on fresh batches
  of *source* images at every step; the trainers take no images and no
  domain, so target images cannot reach them.
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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from vaecourse import sprites
from vaecourse._validation import (
    check_batched,
    check_bool,
    check_code_matrix,
    check_device,
    check_finite,
    check_float_tensor,
    check_generator,
    check_in_unit_interval,
    check_instance,
    check_int,
    check_mean_logvar,
    check_real,
    check_same_device,
    check_same_dtype,
    check_same_shape,
    check_shape,
    values_checked,
)
from vaecourse.distributions import kl_diag_gaussian_std_normal
from vaecourse.loop import History, Resumable, train_loop
from vaecourse.losses import bernoulli_nll_with_logits, sum_of_squares
from vaecourse.models import ConvVAE

__all__ = [
    "CHANNELS",
    "IMAGE_SIZE",
    "INPUT_DIM",
    "DOMAINS",
    "HUES",
    "COLOURS",
    "HALF",
    "DOMAIN_COLOURS",
    "domain_of",
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
    "dae_objective",
    "darla_vae_objective",
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
    "transfer_sets",
    "readout_transfer",
]

#: Colour channels of an image (red, green, blue).
CHANNELS = 3
#: Side of the images in pixels, :data:`vaecourse.sprites.REDUCED_SIZE`.
IMAGE_SIZE = sprites.REDUCED_SIZE
#: Values in one image, ``3 * 32 * 32``, channels first.
INPUT_DIM = CHANNELS * IMAGE_SIZE * IMAGE_SIZE
#: The two domains; training data come from the first only.
DOMAINS: tuple[str, ...] = ("source", "target")
#: Hues (degrees) of the four colours.
HUES: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)


def _colours(hues: tuple[float, ...]) -> tuple[tuple[float, ...], ...]:
    """RGB of full saturation and value for each hue (degrees)."""
    return tuple(colorsys.hsv_to_rgb(hue / 360.0, 1.0, 1.0) for hue in hues)


#: The four foreground colours, RGB in [0, 1], red, chartreuse, cyan and
#: violet. Both domains use all four.
COLOURS = _colours(HUES)
#: A sprite whose ``position_x`` index is below this has its centre in the
#: left half of the frame.
HALF = sprites.FACTOR_SIZES[4] // 2
#: The colours (indices into :data:`COLOURS`) a domain paints a sprite in,
#: for a sprite in the left half and in the right half of the frame. The
#: target domain swaps the source's pairs: every colour and every position
#: is seen in training, only these pairings are not.
DOMAIN_COLOURS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "source": ((0, 2), (1, 3)),
    "target": ((1, 3), (0, 2)),
}
#: Objectives of :func:`darla_vae_objective`; the β-weighted negative ELBO
#: of a Bernoulli decoder, the pixel L2 loss :math:`\|\hat x - x\|^2 +
#: \beta \mathrm{KL}` (β-VAE_DAE with :math:`J` the identity), and
#: β-VAE_DAE.
OBJECTIVES: tuple[str, ...] = ("bernoulli", "l2", "dae")
#: The factors the probes predict, dSprites' five varying factors.
PROBED_FACTORS: tuple[str, ...] = sprites.FACTOR_NAMES[1:]
# Seeds of the probes' data sets; training draws with default_rng(seed).
_PROBE_SEED = 2_000_003
# Training examples per coefficient of a regression probe that
# transfer_scores asks for (its docstring says why).
_EXAMPLES_PER_COEFFICIENT = 10


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


def palette() -> np.ndarray:
    """The four foreground colours, ``(4, 3)`` float32 RGB."""
    return np.array(COLOURS, dtype=np.float32)


def domain_of(classes: object, colours: object) -> np.ndarray:
    """The domain of each sprite, from its colour and its half of the frame.

    Parameters
    ----------
    classes : numpy.ndarray
        ``(N, 6)`` factor indices (:mod:`vaecourse.sprites`).
    colours : numpy.ndarray
        ``(N,)`` indices into :func:`palette`.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` strings, ``"source"`` or ``"target"``
        (:data:`DOMAIN_COLOURS`).
    """
    classes = sprites._as_classes(classes)
    colours = _check_colour_indices(colours, len(classes))
    right = (classes[:, 4] >= HALF).astype(np.int64)
    # The source pairs the even colours with the left half.
    source = (colours % 2) == right
    return np.where(source, "source", "target")


def _check_colourise(
    coverage: object, rgb: object
) -> tuple[torch.Tensor, torch.Tensor]:
    coverage = check_float_tensor("coverage", coverage)
    rgb = check_float_tensor("rgb", rgb)
    check_shape("coverage", coverage, (None, IMAGE_SIZE**2))
    n = coverage.shape[0]
    check_shape(
        "rgb", rgb, (n, CHANNELS), f"({n}, {CHANNELS}), one colour per image"
    )
    # Silent promotion would return float64 images to a float32 model.
    check_same_dtype("coverage", coverage, "rgb", rgb)
    check_same_device("coverage", coverage, "rgb", rgb)
    check_in_unit_interval("coverage", coverage)
    check_in_unit_interval("rgb", rgb)
    return coverage, rgb


def colourise(coverage: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    r"""Paint grey sprites in one colour each, on black.

    .. math::

        x_{c,i} = a_i\, r_c ,

    with :math:`a_i \in [0, 1]` the fraction of pixel :math:`i` that the
    sprite covers and :math:`r_c` channel :math:`c` of its colour.

    Parameters
    ----------
    coverage : torch.Tensor
        ``(N, 1024)`` in [0, 1] (:func:`vaecourse.sprites.reduced_images`).
    rgb : torch.Tensor
        ``(N, 3)`` in [0, 1], one colour per image; the same dtype and
        device as ``coverage``.

    Returns
    -------
    torch.Tensor
        ``(N, 3072)``: channels first, then the 32 x 32 pixels.

    Raises
    ------
    TypeError
        If either is not a floating-point tensor, or their dtypes differ.
    ValueError
        For NaN, values outside [0, 1], shapes other than the above, or
        tensors on different devices.
    """
    coverage, rgb = _check_colourise(coverage, rgb)
    return (rgb[:, :, None] * coverage[:, None, :]).reshape(-1, INPUT_DIM)


def _check_colour_indices(colours: object, n: int) -> np.ndarray:
    """Palette indices, ``(n,)`` int64, each in [0, 4)."""
    size = len(COLOURS)
    indices = np.atleast_1d(np.asarray(colours))
    if indices.dtype == bool or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(
            "colours must be integer indices into the palette, got dtype "
            f"{indices.dtype}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise ValueError(
            f"colours index the palette of {size} colours (0 to {size - 1}),"
            f" found [{indices.min()}, {indices.max()}]"
        )
    if indices.shape != (n,):
        raise ValueError(
            f"colours must have shape ({n},), one per image, got "
            f"{indices.shape}"
        )
    return indices.astype(np.int64)


def coloured_sprite_images(
    classes: object, colours: object, domain: str
) -> torch.Tensor:
    """Draw sprites at 32 x 32 in the given colours, all of one domain.

    Parameters
    ----------
    classes : numpy.ndarray
        ``(N, 6)`` factor indices (:mod:`vaecourse.sprites`).
    colours : numpy.ndarray
        ``(N,)`` integer indices into :func:`palette`.
    domain : {"source", "target"}
        The domain every (colour, position) pair must belong to
        (:func:`domain_of`).

    Returns
    -------
    torch.Tensor
        ``(N, 3072)`` float32 in [0, 1]: :func:`colourise` of the 2 x 2
        averages of the 64 x 64 binary sprites
        (:func:`vaecourse.sprites.reduced_images`).
    """
    domain = _check_domain(domain)
    coverage = sprites.reduced_images(classes)
    indices = _check_colour_indices(colours, len(coverage))
    outside = domain_of(classes, indices) != domain
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"image {first} is not in the {domain} domain: colour "
            f"{indices[first]} at position_x index {classes[first][4]} "
            f"(the {domain} domain pairs colours {DOMAIN_COLOURS[domain][0]} "
            f"with x < {HALF} and {DOMAIN_COLOURS[domain][1]} with x >= "
            f"{HALF})"
        )
    return colourise(coverage, torch.from_numpy(palette()[indices]))


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


def _check_rng(rng: object) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (bool, np.bool_)) or not isinstance(
        rng, (int, np.integer)
    ):
        raise TypeError(
            "rng must be a numpy.random.Generator or an integer seed, got "
            f"{type(rng).__name__} {rng!r}"
        )
    return np.random.default_rng(check_int("rng", rng, minimum=0))


def _draw_domain(
    n: int, domain: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices uniform over the whole grid, then each sprite's colour
    uniform over the two its domain allows at its position."""
    index = rng.integers(0, sprites.N_IMAGES, n)
    classes = sprites.index_to_factors(index)
    pairs = np.array(DOMAIN_COLOURS[domain])  # (half, 2)
    right = (classes[:, 4] >= HALF).astype(np.int64)
    colours = pairs[right, rng.integers(0, 2, n)]
    return index, colours


def sample_sprites(
    n: int, domain: str, rng: np.random.Generator | int = 0
) -> SpriteBatch:
    """``n`` coloured sprites of one domain, factors uniform on the grid.

    Each image's factors are drawn uniformly from dSprites' grid, and its
    colour uniformly from the two that ``domain`` allows at its position
    (:data:`DOMAIN_COLOURS`), so that every image is of that domain only.

    Parameters
    ----------
    n : int
        Number of images, at least 1.
    domain : {"source", "target"}
    rng : numpy.random.Generator or int, default 0
        The random source, or a seed (>= 0) for
        ``numpy.random.default_rng``.
    """
    n = check_int("n", n, minimum=1)
    domain = _check_domain(domain)
    rng = _check_rng(rng)
    index, colours = _draw_domain(n, domain, rng)
    classes = sprites.index_to_factors(index)
    images = coloured_sprite_images(classes, colours, domain)
    return SpriteBatch(images, classes, colours, domain)


# -- models -------------------------------------------------------------------


def _check_images(
    x: object,
    model: nn.Module,
    channels_last: bool = False,
    name: str = "x",
) -> torch.Tensor:
    """Check a batch of RGB images, shape it ``(batch, 3, 32, 32)``."""
    s = IMAGE_SIZE
    if isinstance(x, np.ndarray):
        # The model's dtype is float32; torch.from_numpy keeps float64.
        raise TypeError(
            f"{name} must be a torch.Tensor, got a numpy.ndarray of dtype "
            f"{x.dtype}; convert it with torch.from_numpy({name}).float()"
        )
    check_finite(name, x)
    accepted = [(CHANNELS, s, s), (INPUT_DIM,)]
    if x.dim() < 2 or tuple(x.shape[1:]) not in accepted:
        raise ValueError(
            f"{name} must hold {CHANNELS}x{s}x{s} images: shape (batch, "
            f"{CHANNELS}, {s}, {s}) or (batch, {INPUT_DIM}), got "
            f"{tuple(x.shape)}"
        )
    dtype = next(model.parameters()).dtype
    if x.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {x.dtype} but the model's weights have dtype "
            f"{dtype}: convert the data with {name}.to({dtype})"
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


class ColourConvVAE(ConvVAE):
    r"""Convolutional VAE for 32 x 32 RGB images: ``ConvVAE`` with 3 channels.

    :class:`vaecourse.models.ConvVAE` with ``image_size=32`` and
    ``channels=3``: convolutions of 4 x 4 kernels, stride 2, with 32, 64
    and 64 filters, a dense layer of 256 and the heads of :math:`\mu` and
    :math:`\log\sigma^2`; the decoder is the mirror image and returns the
    logits :math:`\ell` of a Bernoulli :math:`p(x \mid z)`, flattened to
    ``(batch, 3072)``. The same layers and parameter names as the shipped
    files ``darla_*``.

    A Bernoulli decoder, as for dSprites in Higgins et al. and in chapter
    "β-VAE": the sprites are mostly exactly 0 or 1 (only edge pixels are
    grey), and its cross-entropy weighs the pixels far more than a
    Gaussian of unit variance would. The decoder mean
    :math:`\hat x = \operatorname{sigmoid}(\ell)` (``decode_mean``) is
    what β-VAE_DAE passes through :math:`J`.

    It takes images as ``(batch, 3, 32, 32)`` or ``(batch, 3072)``.

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
        super().__init__(
            IMAGE_SIZE,
            latent_dim,
            channels=CHANNELS,
            channels_last=channels_last,
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
        self.channels_last = check_bool("channels_last", channels_last)
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


def _check_mask(
    x: object, fraction: object, generator: object
) -> tuple[torch.Tensor, float, torch.Generator | None]:
    fraction = check_real("fraction", fraction, minimum=0.0, maximum=1.0)
    # Finite: a masked infinity would be inf * 0 = NaN.
    x = check_finite("x", x)
    s = IMAGE_SIZE
    accepted = [(CHANNELS, s, s), (INPUT_DIM,)]
    if x.dim() < 2 or tuple(x.shape[1:]) not in accepted:
        raise ValueError(
            f"x must have shape (batch, {INPUT_DIM}) or (batch, {CHANNELS}, "
            f"{s}, {s}), got {tuple(x.shape)}"
        )
    generator = check_generator(generator)
    if generator is not None and generator.device.type != x.device.type:
        raise ValueError(
            f"generator is on {generator.device} but x on {x.device}: make "
            "it with torch.Generator(device=x.device)"
        )
    return x, fraction, generator


def mask_pixels(
    x: torch.Tensor,
    fraction: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Masking noise: set a random fraction of the pixels to 0.

    .. math::

        \tilde x_{c,i} = m_i\, x_{c,i}, \qquad
        m_i = [u_i \ge f], \quad u_i \sim \mathcal U[0, 1)
        \ \text{independently},

    so :math:`m_i \sim \mathrm{Bernoulli}(1 - f)`: one draw per pixel
    :math:`i` and image, shared by the three channels (a masked pixel is
    black).

    Parameters
    ----------
    x : torch.Tensor
        ``(batch, 3072)`` or ``(batch, 3, 32, 32)``, finite.
    fraction : float
        :math:`f \in [0, 1]`, the probability that a pixel is masked.
    generator : torch.Generator, optional
        Source of the mask, on the device of ``x``.

    Returns
    -------
    torch.Tensor
        The masked images, shape and dtype of ``x``.
    """
    x, fraction, generator = _check_mask(x, fraction, generator)
    u = torch.rand(
        (x.shape[0], 1, IMAGE_SIZE, IMAGE_SIZE),
        generator=generator,
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


def _check_dae(dae: object) -> DenoisingAutoencoder:
    if not isinstance(dae, DenoisingAutoencoder):
        raise TypeError(
            "dae must be a vaecourse.darla.DenoisingAutoencoder, got "
            f"{type(dae).__name__}"
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


def _check_dae_loss(
    x: object, x_hat: object, mu: object, logvar: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, x_hat = check_finite("x", x), check_finite("x_hat", x_hat)
    check_batched("x", x)
    check_same_shape("x", x, "x_hat", x_hat)
    check_same_dtype("x", x, "x_hat", x_hat)
    check_mean_logvar(mu, logvar)
    batch = x.shape[0]
    check_shape(
        "mu",
        mu,
        (batch, None),
        f"(batch, m) with the batch size of x, {batch}",
    )
    # The distance and the KL are added: no silent promotion between them.
    check_same_dtype("x", x, "mu", mu)
    check_same_dtype("mu", mu, "logvar", logvar)
    return x, x_hat, mu, logvar


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

    the squared distance summed over :math:`J`'s features, the KL,
    :math:`\frac12 \sum_j (\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2)`,
    over the latent units, both averaged over the batch. With :math:`J`
    the identity (``torch.nn.Identity()``) it is the pixel L2 loss
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
        shape ``(batch, ...)`` and dtype, finite, batch at least 1.
    mu, logvar : torch.Tensor
        Encoder outputs, ``(batch, m)``, finite, the dtype of ``x``.
    dae : torch.nn.Module
        :math:`J`, frozen; ``dae(x)`` returns its features.
    beta : float, default 1.0
        Weight :math:`\beta \ge 0` of the KL term.

    Returns
    -------
    DarlaTerms
        ``(objective, distance, kl)``.
    """
    x, x_hat, mu, logvar = _check_dae_loss(x, x_hat, mu, logvar)
    dae = _check_frozen(dae)
    beta = check_real("beta", beta, minimum=0.0)
    with torch.no_grad():
        target = dae(x)
    distance = sum_of_squares(target, dae(x_hat))
    kl = kl_diag_gaussian_std_normal(mu, logvar)
    distance, kl = distance.mean(), kl.mean()
    return DarlaTerms(distance + beta * kl, distance, kl)


def _check_objective(objective: object, dae: object) -> tuple[str, object]:
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
    return objective, dae


def _check_vae(model: object) -> ConvVAE:
    if not (
        isinstance(model, ConvVAE)
        and model.image_size == IMAGE_SIZE
        and model.channels == CHANNELS
    ):
        got = type(model).__name__
        if isinstance(model, ConvVAE):
            got += (
                f" with image_size={model.image_size}, "
                f"channels={model.channels}"
            )
        raise TypeError(
            "model must be a vaecourse.darla.ColourConvVAE (a "
            f"vaecourse.models.ConvVAE with image_size={IMAGE_SIZE} and "
            f"channels={CHANNELS}), got {got}"
        )
    return model


def darla_vae_objective(
    model: ColourConvVAE,
    x: torch.Tensor,
    *,
    objective: str,
    beta: float = 1.0,
    dae: nn.Module | None = None,
    generator: torch.Generator | None = None,
) -> DarlaTerms:
    r"""A VAE's objective on a batch, one of the :data:`OBJECTIVES`.

    - ``"bernoulli"``: :math:`-\log p(x \mid z) + \beta\,\mathrm{KL}`
      (:meth:`vaecourse.models.ConvVAE.loss`): VAE for :math:`\beta = 1`,
      β-VAE otherwise;
    - ``"l2"``: :math:`\|\hat x - x\|_2^2 + \beta\,\mathrm{KL}`;
    - ``"dae"``: β-VAE_DAE, :math:`\|J(\hat x) - J(x)\|_2^2 +
      \beta\,\mathrm{KL}` with the frozen ``dae`` as :math:`J`
      (:func:`beta_vae_dae_loss`),

    with :math:`\hat x = \operatorname{sigmoid}(\ell)` the decoder mean
    for one sample :math:`z \sim q(z \mid x)` (noise from ``generator``),
    each term averaged over the batch.

    Returns
    -------
    DarlaTerms
        ``(objective, reconstruction, kl)``, with their gradients.
    """
    model = _check_vae(model)
    objective, dae = _check_objective(objective, dae)
    beta = check_real("beta", beta, minimum=0.0)
    if objective == "bernoulli":
        return DarlaTerms(*model.loss(x, beta=beta, generator=generator))
    x = _check_images(x, model).reshape(x.shape[0], INPUT_DIM)
    logits, mu, logvar = model(x, generator)
    j = nn.Identity() if objective == "l2" else dae
    return beta_vae_dae_loss(
        x, torch.sigmoid(logits), mu, logvar, j, beta=beta
    )


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
    r"""One optimizer step on :func:`darla_vae_objective`, written out.

    ``optimizer`` holds the VAE's parameters only. The checks of
    :func:`vaecourse.loop.train_loop`, which :func:`train_darla_vae` uses,
    are left out: this is the step as a reader would write it.

    Returns
    -------
    DarlaTerms
        The batch means, detached.
    """
    check_instance("optimizer", optimizer, torch.optim.Optimizer)
    terms = darla_vae_objective(
        model,
        x,
        objective=objective,
        beta=beta,
        dae=dae,
        generator=generator,
    )
    optimizer.zero_grad()
    terms.objective.backward()
    optimizer.step()
    return DarlaTerms(*(t.detach() for t in terms))


def _check_mask_fraction(mask_fraction: object, below_one: bool) -> float:
    fraction = check_real("mask_fraction", mask_fraction, minimum=0.0)
    if fraction > 1.0 or (below_one and fraction == 1.0):
        bound = "below 1" if below_one else "at most 1"
        raise ValueError(f"mask_fraction must be {bound}, got {fraction}")
    return fraction


def dae_objective(
    dae: DenoisingAutoencoder,
    x: torch.Tensor,
    *,
    mask_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The DAE's loss on a batch: the clean images from masked copies.

    .. math::

        \mathcal L_J = \frac1B \sum_{b=1}^{B} \sum_{i=1}^{3072}
            -\left[x_{b,i} \log s(J(\tilde x_b)_i)
            + (1 - x_{b,i}) \log\left(1 - s(J(\tilde x_b)_i)\right)\right],

    the Bernoulli cross-entropy between the clean images :math:`x` (in
    [0, 1]) and the logits :math:`J(\tilde x)` for their masked copies
    :math:`\tilde x` (:func:`mask_pixels` with :math:`f` =
    ``mask_fraction``, mask from ``generator``), :math:`s` the sigmoid.

    Returns
    -------
    torch.Tensor
        The 0-d loss, with its gradient.
    """
    dae = _check_dae(dae)
    mask_fraction = _check_mask_fraction(mask_fraction, below_one=False)
    noisy = mask_pixels(x, mask_fraction, generator)
    clean = x.reshape(x.shape[0], INPUT_DIM)
    return bernoulli_nll_with_logits(clean, dae(noisy)).mean()


def dae_step(
    dae: DenoisingAutoencoder,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    *,
    mask_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""One optimizer step of the DAE on :func:`dae_objective`, written out.

    The checks of :func:`vaecourse.loop.train_loop`, which
    :func:`train_dae` uses, are left out. Returns the loss, detached.
    """
    check_instance("optimizer", optimizer, torch.optim.Optimizer)
    loss = dae_objective(
        dae, x, mask_fraction=mask_fraction, generator=generator
    )
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


# -- training -----------------------------------------------------------------


#: The record of :func:`train_dae` and :func:`train_darla_vae`: a
#: :class:`vaecourse.loop.History` counted in steps, with series step,
#: objective, reconstruction and kl.
Curves = History


def _check_schedule(
    steps: object,
    batch_size: object,
    lr: object,
    seed: object,
    log_every: object,
) -> tuple[int, int, float, int, int]:
    return (
        check_int("steps", steps, minimum=1),
        check_int("batch_size", batch_size, minimum=1),
        check_real("lr", lr, positive=True),
        check_int("seed", seed, minimum=0),
        check_int("log_every", log_every, minimum=1),
    )


def _source_batches(
    steps: int,
    batch_size: int,
    rng: np.random.Generator,
    device: torch.device,
    grid: sprites.ReducedGrid | None = None,
) -> Iterator[torch.Tensor]:
    """Fresh source-domain images for each step, drawn when needed.

    With ``grid`` the sprites are read from it instead of drawn: the same
    draws from ``rng``, the same bits, faster.
    """
    for _ in range(steps):
        if grid is None:
            x = sample_sprites(batch_size, "source", rng).images
        else:
            index, colours = _draw_domain(batch_size, "source", rng)
            rgb = torch.from_numpy(palette()[colours])
            x = colourise(grid.images(index), rgb)
        yield x.to(device)


def _resumable(
    checkpoint: object,
    every: object,
    log_every: int,
    settings: dict,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    rng: np.random.Generator,
    curves: History,
) -> Resumable:
    """The checkpoint of a DARLA trainer (none without a path)."""
    every = check_int("checkpoint_every", every, minimum=1)
    return Resumable(
        checkpoint,
        every,
        log_every=log_every,
        settings={**settings, "log_every": log_every, "every": every},
        model=model,
        optimizer=optimizer,
        generators={"training": generator},
        rng=rng,
        curves=curves,
    )


def _check_grid(grid: object) -> sprites.ReducedGrid | None:
    if grid is None:
        return None
    check_instance("grid", grid, sprites.ReducedGrid)
    if len(grid) != sprites.N_IMAGES:
        raise ValueError(
            f"grid holds the first {len(grid):,} images only: uniform "
            f"draws over the {sprites.N_IMAGES:,} of the grid need all "
            "of them (vaecourse.sprites.build_reduced_grid())"
        )
    return grid


def _explain(
    rerun: Callable[[], object], terms: Mapping[str, torch.Tensor]
) -> tuple[str, str]:
    """Name what is not finite: the objective again, every check on.

    The training steps skip the value scans of the checks (their data are
    drawn in [0, 1]); run with them, the loss functions say which of the
    model's outputs is not finite. The noise differs, the model is the
    same.
    """
    try:
        with torch.no_grad():
            rerun()
    except ValueError as error:
        return "loss", f"the model's output is not finite: {error}"
    name = next(n for n, v in terms.items() if not torch.isfinite(v))
    return name, f"the {name} term is {terms[name].item()}"


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
    grid: sprites.ReducedGrid | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 5_000,
) -> History:
    r"""Train the DAE on fresh batches of source-domain sprites.

    Each step draws ``batch_size`` images with :func:`sample_sprites`
    (domain ``"source"``, from ``numpy.random.default_rng(seed)``) and
    minimises :func:`dae_objective` with Adam of learning rate ``lr`` in
    :func:`vaecourse.loop.train_loop`; the masks come from a
    ``torch.Generator`` on ``device`` seeded with ``seed``. The global
    random state is not touched. The DAE is left in evaluation mode;
    freeze it (:func:`freeze`) before β-VAE_DAE. With ``grid``, a whole
    :class:`vaecourse.sprites.ReducedGrid`, the sprites are read from it
    instead of drawn: the same images, faster. With ``checkpoint``, the
    run keeps its state there every ``checkpoint_every`` steps and goes on
    from it when started again (:class:`vaecourse.loop.Resumable`).

    Parameters
    ----------
    mask_fraction : float, default 0.5
        :math:`f \in [0, 1)`: with 1 every input would be black.

    Returns
    -------
    vaecourse.loop.History
        Counted in steps: ``step``, and the means over the images of each
        ``log_every`` steps of the loss (``objective`` and
        ``reconstruction``, the same numbers) and ``kl`` (0), nats per
        image.

    Raises
    ------
    vaecourse.loop.TrainingDiverged
        If the loss or a gradient is not finite, before the step that
        would use it; the message names the step (from 1).
    """
    dae = _check_dae(dae)
    steps, batch_size, lr, seed, log_every = _check_schedule(
        steps, batch_size, lr, seed, log_every
    )
    mask_fraction = _check_mask_fraction(mask_fraction, below_one=True)
    device = check_device(device)
    grid = _check_grid(grid)
    dae.to(device)
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(dae.parameters(), lr=lr)
    curves = History(x="step", step=[], objective=[], reconstruction=[], kl=[])

    def loss(x: torch.Tensor) -> torch.Tensor:
        return dae_objective(
            dae, x, mask_fraction=mask_fraction, generator=generator
        )

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        with values_checked():  # the batches are drawn in [0, 1]
            return {"loss": loss(x)}

    resumable = _resumable(
        checkpoint,
        checkpoint_every,
        log_every,
        {
            "trainer": "dae",
            "steps": steps,
            "mask_fraction": mask_fraction,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
        },
        dae,
        optimizer,
        generator,
        rng,
        curves,
    )
    taken = resumable.restore()

    def log(step: int, means: dict[str, float]) -> None:
        curves.step.append(step)
        curves.objective.append(means["loss"])
        curves.reconstruction.append(means["loss"])
        curves.kl.append(0.0)
        resumable.logged(step)

    if taken == steps:
        dae.eval()
        return curves
    train_loop(
        dae,
        objective,
        _source_batches(steps - taken, batch_size, rng, device, grid),
        optimizer,
        minimise="loss",
        log_every=log_every,
        log=log,
        explain=lambda x, terms: _explain(lambda: loss(x), terms),
        first_step=taken + 1,
    )
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
    grid: sprites.ReducedGrid | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 5_000,
) -> History:
    r"""Train a VAE on fresh batches of source-domain sprites.

    Each step draws ``batch_size`` images with :func:`sample_sprites`
    (domain ``"source"``, from ``numpy.random.default_rng(seed)``) and
    minimises :func:`darla_vae_objective` with ``objective`` and ``beta``
    (VAE: ``"bernoulli"``, β = 1; β-VAE: ``"bernoulli"``, β > 1;
    β-VAE_DAE: ``"dae"`` with a frozen ``dae``), Adam of learning rate
    ``lr`` on the VAE's parameters, in :func:`vaecourse.loop.train_loop`.
    The reparameterization noise comes from a ``torch.Generator`` on
    ``device`` seeded with ``seed``; the global random state is not
    touched. The model is left in evaluation mode. With ``grid`` and
    ``checkpoint``, as in :func:`train_dae`, the sprites are read from the
    pre-drawn grid and the run keeps a checkpoint it can go on from.

    Returns
    -------
    vaecourse.loop.History
        Counted in steps: ``step``, and the means over the images of each
        ``log_every`` steps of ``objective``, ``reconstruction`` and
        ``kl`` (:class:`DarlaTerms`).

    Raises
    ------
    vaecourse.loop.TrainingDiverged
        If a term or a gradient is not finite, before the step that would
        use it; the message names the step (from 1) and the term, or what
        the model returned.
    """
    model = _check_vae(model)
    objective, dae = _check_objective(objective, dae)
    beta = check_real("beta", beta, minimum=0.0)
    steps, batch_size, lr, seed, log_every = _check_schedule(
        steps, batch_size, lr, seed, log_every
    )
    device = check_device(device)
    grid = _check_grid(grid)
    model.to(device)
    if dae is not None:
        dae.to(device)
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    curves = History(x="step", step=[], objective=[], reconstruction=[], kl=[])

    def terms(x: torch.Tensor) -> DarlaTerms:
        return darla_vae_objective(
            model,
            x,
            objective=objective,
            beta=beta,
            dae=dae,
            generator=generator,
        )

    def step_objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        with values_checked():  # the batches are drawn in [0, 1]
            return terms(x)._asdict()

    resumable = _resumable(
        checkpoint,
        checkpoint_every,
        log_every,
        {
            "trainer": "vae",
            "objective": objective,
            "steps": steps,
            "beta": beta,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
        },
        model,
        optimizer,
        generator,
        rng,
        curves,
    )
    taken = resumable.restore()

    def log(step: int, means: dict[str, float]) -> None:
        curves.step.append(step)
        for name in DarlaTerms._fields:
            curves.series[name].append(means[name])
        resumable.logged(step)

    if taken == steps:
        model.eval()
        return curves
    train_loop(
        model,
        step_objective,
        _source_batches(steps - taken, batch_size, rng, device, grid),
        optimizer,
        minimise="objective",
        log_every=log_every,
        log=log,
        explain=lambda x, found: _explain(lambda: terms(x), found),
        first_step=taken + 1,
    )
    return curves


# -- probes -------------------------------------------------------------------


def encoder_means(
    model: ColourConvVAE, images: torch.Tensor, batch_size: int = 500
) -> np.ndarray:
    r"""The encoder means :math:`\mu(x)` of images, ``(N, m)`` float64.

    :math:`\mu(x) = W_\mu h(x) + b_\mu`, the first output of
    ``model.encode``, for ``batch_size`` images at a time, without
    gradients, on the model's device.

    Parameters
    ----------
    model : ColourConvVAE
    images : torch.Tensor
        ``(N, 3072)`` or ``(N, 3, 32, 32)``, N >= 1, finite, the dtype of
        the model's weights (a NumPy array is refused: convert it with
        ``torch.from_numpy(images).float()``).
    batch_size : int, default 500
    """
    model = _check_vae(model)
    images = _check_images(images, model, name="images")
    check_batched("images", images)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    means = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            means.append(model.encode(x)[0].cpu())
    return torch.cat(means).double().numpy()


def _as_array(value: object) -> np.ndarray:
    if isinstance(value, torch.Tensor):  # on any device, with a gradient
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _check_codes(
    name: str, codes: object, factors_name: str, factors: object
) -> tuple[np.ndarray, np.ndarray]:
    codes = check_code_matrix(name, codes)
    factors = _as_array(factors)
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
    return codes, factors.astype(np.int64)


def _constant_factor(factors: np.ndarray, first: int) -> str | None:
    """The first of the factors from column ``first`` on that is constant."""
    for k in range(first, len(PROBED_FACTORS)):
        if (factors[:, k] == factors[0, k]).all():
            return PROBED_FACTORS[k]
    return None


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
    r"""Fit linear probes from codes to dSprites' five factors.

    The codes are standardised, :math:`u = (c - \bar c) / s` on this set;
    shape is probed by a multinomial logistic regression (scikit-learn
    ``LogisticRegression``, ``max_iter=2000``), each of scale,
    orientation, x and y by the least-squares linear regression
    :math:`\hat y = w^\top u + b` on its value.

    Parameters
    ----------
    codes : array-like
        ``(N, d)`` real codes (encoder means), N >= 2, finite.
    factors : array-like
        ``(N, 5)`` integer factor indices: shape, scale, orientation, x, y.
        Every factor must vary in this set: a classifier needs two shapes
        at least, and a regression on a constant is no probe.
    """
    codes, factors = _check_codes("codes", codes, "factors", factors)
    if (factors[:, 0] == factors[0, 0]).all():
        raise ValueError(
            "factors hold one shape only (index "
            f"{factors[0, 0]}): the shape probe, a classifier, needs at "
            "least two shapes in the training set"
        )
    constant = _constant_factor(factors, 1)
    if constant is not None:
        raise ValueError(
            f"factor {constant} takes one value only in the training set: "
            "a probe needs it to vary"
        )
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

    :math:`R^2` is undefined (0 / 0, or a division by 0) where a factor
    takes one value on the set: that is refused, not reported as a
    number (scikit-learn's ``r2_score`` would give 0 or 1).

    Returns
    -------
    dict of str to float
        One score per name of :data:`PROBED_FACTORS`.

    Raises
    ------
    ValueError
        If a factor other than shape is constant on this set.
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
    constant = _constant_factor(factors, 1)
    if constant is not None:
        raise ValueError(
            f"R^2 of {constant} is undefined on this set: the factor takes "
            "one value only, so sum (y - mean y)^2 = 0; score on a set "
            "where it varies"
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


def _check_n_train(n_train: object, model: ConvVAE) -> int:
    """Ten training examples at least for each coefficient of a probe."""
    n_train = check_int("n_train", n_train)
    minimum = _EXAMPLES_PER_COEFFICIENT * (model.latent_dim + 1)
    if n_train < minimum:
        raise ValueError(
            f"n_train must be at least {minimum}, ten examples for each of "
            f"the {model.latent_dim + 1} coefficients of a regression probe "
            f"on the model's {model.latent_dim} latents, got {n_train}"
        )
    return n_train


def transfer_scores(
    model: ColourConvVAE,
    *,
    n_train: int = 2_000,
    n_test: int = 1_000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    r"""Zero-shot transfer of linear probes from source to target colours.

    Draws ``n_train`` source sprites to fit the probes on the encoder
    means (:func:`fit_probes`), then ``n_test`` fresh source sprites and
    ``n_test`` target sprites to score them (:func:`score_probes`). The
    three sets come from generators of their own, seeded with ``seed``
    and a constant that training does not use.

    ``n_train`` must be at least :math:`10 (m + 1)`: ten examples for
    each of the :math:`m + 1` coefficients of a regression probe on the
    :math:`m` latents. Fitted on :math:`n` points, least squares lowers the
    test :math:`R^2` by about :math:`(1 - R^2)(m + 1) / (n - m - 2)` (for
    Gaussian codes): at :math:`n \le m + 1` it interpolates its training
    points and its test :math:`R^2` means nothing (with ``n_train=2``
    the shipped ``darla_vae_beta1`` scores :math:`R^2 = -18` on position
    x); at ten per coefficient it loses about a ninth of the unexplained
    variance, and the shape classifier sees every shape.

    Returns
    -------
    dict
        ``{"source": scores, "target": scores}``.
    """
    model = _check_vae(model)
    n_train = _check_n_train(n_train, model)
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


def transfer_sets(
    n_train: int = 2_000, n_test: int = 1_000, seed: int = 0
) -> dict[str, SpriteBatch]:
    """The three sets of a transfer test, each from a generator of its own.

    ``"train"``: ``n_train`` source sprites to fit on; ``"source"`` and
    ``"target"``: ``n_test`` fresh sprites of each domain to score on.
    Seeded with ``seed`` and a constant that training does not use.
    """
    n_train = check_int("n_train", n_train, minimum=2)
    n_test = check_int("n_test", n_test, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    domains = {"train": "source", "source": "source", "target": "target"}
    return {
        name: sample_sprites(
            n_train if name == "train" else n_test,
            domain,
            np.random.default_rng([_PROBE_SEED, seed, k]),
        )
        for k, (name, domain) in enumerate(domains.items())
    }


def readout_transfer(
    encode: Callable[[torch.Tensor], np.ndarray],
    sets: Mapping[str, SpriteBatch],
    rotation: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Zero-shot transfer of one-unit readouts from source to target.

    Fits :func:`vaecourse.readouts.fit_readouts` on the codes of
    ``sets["train"]`` (source sprites) and scores them on
    ``sets["source"]`` and ``sets["target"]``
    (:func:`vaecourse.readouts.score_readouts`): per factor, shape
    accuracy and the :math:`R^2` of the others; no mean over factors.

    Parameters
    ----------
    encode : callable
        ``(N, 3072)`` images to ``(N, d)`` codes: for a VAE, its encoder
        means (``lambda x: encoder_means(model, x)``).
    sets : dict
        :func:`transfer_sets`.
    rotation : numpy.ndarray, optional
        A ``(d, d)`` matrix the codes are multiplied by first
        (``codes @ rotation``): the control that a rotated code, as good
        for a linear probe, reads worse one unit at a time.

    Returns
    -------
    dict
        ``{"source": scores, "target": scores}``.
    """
    from vaecourse import readouts

    if not isinstance(sets, Mapping) or set(sets) != {
        "train",
        "source",
        "target",
    }:
        raise TypeError(
            "sets must be the dict of transfer_sets, with the sets 'train', "
            "'source' and 'target'"
        )
    if sets["train"].domain != "source":
        raise ValueError("the readouts must be fitted on source images")

    def codes(name: str) -> np.ndarray:
        values = np.asarray(encode(sets[name].images), dtype=np.float64)
        if rotation is not None:
            values = values @ np.asarray(rotation, dtype=np.float64)
        return values

    fitted = readouts.fit_readouts(
        codes("train"), sets["train"].classes[:, 1:]
    )
    return {
        domain: readouts.score_readouts(
            fitted, codes(domain), sets[domain].classes[:, 1:]
        )
        for domain in DOMAINS
    }
