r"""Reconstruction terms and the VAE loss (the negative ELBO).

Convention of the whole course (COURSE.md): every term is **summed over
pixels and latent units** and **averaged over the batch**, in nats per
example. The per-example functions below return one number per example,
shape ``(batch,)``; :func:`negative_elbo` takes the batch mean.

Inputs have shape ``(batch, ...)``: everything after the first dimension is
one example and is summed over.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from vaecourse._validation import (
    check_batched,
    check_float_tensor,
    check_in_unit_interval,
    check_positive,
    check_same_shape,
)
from vaecourse.distributions import kl_diag_gaussian_std_normal

__all__ = [
    "sum_of_squares",
    "mean_squared_error",
    "gaussian_nll",
    "bernoulli_nll",
    "bernoulli_nll_with_logits",
    "continuous_bernoulli_log_normalizer",
    "continuous_bernoulli_nll_with_logits",
    "ELBOTerms",
    "negative_elbo",
]

# torch.nn.functional.binary_cross_entropy clamps log(p) at -100 so that a
# probability of exactly 0 or 1 gives a large finite loss, not inf; we do the same.
_LOG_CLAMP = -100.0


def _check_pair(name_x: str, x: torch.Tensor, name_y: str, y: torch.Tensor) -> None:
    check_float_tensor(name_x, x)
    check_float_tensor(name_y, y)
    check_batched(name_x, x)
    check_same_shape(name_x, x, name_y, y)


def sum_of_squares(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    r"""Squared L2 norm of the error, per example.

    .. math::

        \|x - \hat x\|_2^2 = \sum_{i=1}^{n} (x_i - \hat x_i)^2 .

    A sum of squares, with no square root (erratum 1 of the notes, which
    write :math:`\sqrt{\sum_i (x_i - \hat x_i)^2}`, the norm itself).

    Parameters
    ----------
    x, x_hat : torch.Tensor
        Data and reconstruction, same shape ``(batch, ...)``.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``.
    """
    _check_pair("x", x, "x_hat", x_hat)
    return (x - x_hat).pow(2).flatten(1).sum(1)


def mean_squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    r"""Mean squared error per example: :math:`\frac1n \|x - \hat x\|_2^2`.

    Parameters
    ----------
    x, x_hat : torch.Tensor
        Data and reconstruction, same shape ``(batch, ...)``; :math:`n` is the
        number of elements of one example.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``.
    """
    _check_pair("x", x, "x_hat", x_hat)
    return (x - x_hat).pow(2).flatten(1).mean(1)


def gaussian_nll(
    x: torch.Tensor, x_hat: torch.Tensor, variance: float | torch.Tensor = 1.0
) -> torch.Tensor:
    r"""Negative log-likelihood of a Gaussian decoder with fixed variance :math:`s^2`.

    .. math::

        -\log \mathcal N(x;\, \hat x,\, s^2 I)
        = \frac{\|x - \hat x\|_2^2}{2 s^2} + \frac n2 \log(2\pi s^2),

    the reason the reconstruction term is "MSE up to scale and a constant"
    (erratum 8, chapter "The ELBO").

    Parameters
    ----------
    x, x_hat : torch.Tensor
        Data and decoder mean, same shape ``(batch, ...)``.
    variance : float or torch.Tensor, default 1.0
        :math:`s^2 > 0`: a number, or a tensor broadcastable to one example
        (per-pixel variances).

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats, constant included.
    """
    _check_pair("x", x, "x_hat", x_hat)
    var = check_positive("variance", variance).to(dtype=x.dtype, device=x.device)
    per_element = (x - x_hat).pow(2) / (2.0 * var) + 0.5 * (math.log(2.0 * math.pi) + torch.log(var))
    return per_element.expand_as(x).flatten(1).sum(1)


def bernoulli_nll(x: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    r"""Binary cross-entropy from probabilities, per example.

    .. math::

        \mathrm{BCE}(x, p) = -\sum_{i=1}^{n}
            \left[x_i \log p_i + (1 - x_i) \log(1 - p_i)\right].

    For binary :math:`x` it is :math:`-\log p(x \mid z)` of a Bernoulli
    decoder. For grey values :math:`x_i \in [0, 1]` it is still minimised
    at :math:`p = x`, but its minimum is the binary entropy of :math:`x`, not 0,
    and it is not a normalised log-likelihood (erratum 2); see
    :func:`continuous_bernoulli_nll_with_logits`. Logarithms are clamped at
    -100, as in :func:`torch.nn.functional.binary_cross_entropy`.

    Parameters
    ----------
    x : torch.Tensor
        Targets in [0, 1], shape ``(batch, ...)``.
    probs : torch.Tensor
        Decoder probabilities in [0, 1], same shape.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats.
    """
    _check_pair("x", x, "probs", probs)
    check_in_unit_interval("x", x)
    check_in_unit_interval("probs", probs)
    log_p = torch.log(probs).clamp(min=_LOG_CLAMP)
    log_1mp = torch.log1p(-probs).clamp(min=_LOG_CLAMP)
    return -(x * log_p + (1 - x) * log_1mp).flatten(1).sum(1)


def bernoulli_nll_with_logits(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Binary cross-entropy from logits :math:`\ell`, with :math:`p = \operatorname{sigmoid}(\ell)`.

    .. math::

        \mathrm{BCE}(x, \ell) = \sum_{i=1}^{n}
            \left[\max(\ell_i, 0) - x_i \ell_i + \log\left(1 + e^{-|\ell_i|}\right)\right],

    the same value as :func:`bernoulli_nll` with ``probs = sigmoid(logits)``,
    computed without forming :math:`\log p`, so it is stable for any logit.

    Parameters
    ----------
    x : torch.Tensor
        Targets in [0, 1], shape ``(batch, ...)``.
    logits : torch.Tensor
        Decoder logits, same shape.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats.
    """
    _check_pair("x", x, "logits", logits)
    check_in_unit_interval("x", x)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def continuous_bernoulli_log_normalizer(logits: torch.Tensor) -> torch.Tensor:
    r"""Log-normaliser :math:`\log C(\lambda)` of the continuous Bernoulli, elementwise.

    The continuous Bernoulli (Loaiza-Ganem and Cunningham, 2019) has density
    :math:`C(\lambda)\, \lambda^x (1-\lambda)^{1-x}` on :math:`x \in [0, 1]`, with

    .. math::

        C(\lambda) = \frac{2 \operatorname{artanh}(1 - 2\lambda)}{1 - 2\lambda}
        \quad (\lambda \ne \tfrac12), \qquad C(\tfrac12) = 2 .

    With :math:`\lambda = \operatorname{sigmoid}(\ell)` one has
    :math:`1 - 2\lambda = -\tanh(\ell/2)`, hence the form used here,

    .. math::

        C = \frac{\ell}{\tanh(\ell/2)}, \qquad
        \log C \approx \log 2 + \frac{\ell^2}{12} \text{ near } \ell = 0,

    which needs no special case at :math:`\lambda = 1/2` beyond its Taylor
    series and is accurate for every logit.

    Parameters
    ----------
    logits : torch.Tensor
        :math:`\ell = \log\frac{\lambda}{1 - \lambda}`, any shape.

    Returns
    -------
    torch.Tensor
        :math:`\log C`, same shape as ``logits``.
    """
    check_float_tensor("logits", logits)
    a = logits.abs()
    small = a < 1e-3
    safe = torch.where(small, torch.ones_like(a), a)
    exact = torch.log(safe) - torch.log(torch.tanh(0.5 * safe))
    taylor = math.log(2.0) + a.pow(2) / 12.0
    return torch.where(small, taylor, exact)


def continuous_bernoulli_nll_with_logits(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Negative log-likelihood of a continuous Bernoulli decoder, per example.

    .. math::

        -\log p(x \mid \lambda) = \mathrm{BCE}(x, \lambda) - \sum_{i=1}^{n} \log C(\lambda_i),

    binary cross-entropy plus the constant that makes it a normalised
    log-likelihood for grey values in [0, 1] (erratum 2).

    Parameters
    ----------
    x : torch.Tensor
        Data in [0, 1], shape ``(batch, ...)``.
    logits : torch.Tensor
        Decoder logits, same shape.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats.
    """
    bce = bernoulli_nll_with_logits(x, logits)
    return bce - continuous_bernoulli_log_normalizer(logits).flatten(1).sum(1)


class ELBOTerms(NamedTuple):
    """The negative ELBO and its two terms, each averaged over the batch (nats per example)."""

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


Likelihood = Literal["bernoulli", "gaussian", "continuous_bernoulli"]


def negative_elbo(
    x: torch.Tensor,
    decoder_output: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    likelihood: Likelihood = "bernoulli",
    beta: float = 1.0,
    variance: float | torch.Tensor = 1.0,
) -> ELBOTerms:
    r"""The VAE loss: the negative ELBO with a weight :math:`\beta` on the KL term.

    .. math::

        \mathcal L(x) = -\log p(x \mid z)
            + \beta\, \mathrm{KL}\left[q(z \mid x) \,\|\, \mathcal N(0, I)\right],
        \qquad z \sim q(z \mid x),

    a one-sample estimate of :math:`-\mathrm{ELBO}` for :math:`\beta = 1`
    (chapter "The ELBO": the ELBO is maximised, so its negative is the loss,
    erratum 7). :math:`\beta \ne 1` gives the beta-VAE objective. The
    reconstruction term is summed over pixels, the KL over latent units, and
    both are averaged over the batch.

    Parameters
    ----------
    x : torch.Tensor
        Data, shape ``(batch, ...)``.
    decoder_output : torch.Tensor
        What the decoder returned for a sample :math:`z \sim q(z \mid x)`,
        same shape as ``x``: logits for ``"bernoulli"`` and
        ``"continuous_bernoulli"``, the mean for ``"gaussian"``.
    mu, logvar : torch.Tensor
        Encoder outputs, shape ``(batch, m)``.
    likelihood : {"bernoulli", "gaussian", "continuous_bernoulli"}
        The decoder's distribution :math:`p(x \mid z)`.
    beta : float, default 1.0
        Weight of the KL term, :math:`\beta \ge 0`.
    variance : float or torch.Tensor, default 1.0
        Decoder variance :math:`s^2`, for ``"gaussian"`` only.

    Returns
    -------
    ELBOTerms
        ``loss = reconstruction + beta * kl``, each a scalar in nats per example.
    """
    if likelihood == "bernoulli":
        recon = bernoulli_nll_with_logits(x, decoder_output)
    elif likelihood == "gaussian":
        recon = gaussian_nll(x, decoder_output, variance)
    elif likelihood == "continuous_bernoulli":
        recon = continuous_bernoulli_nll_with_logits(x, decoder_output)
    else:
        raise ValueError(
            f"likelihood must be 'bernoulli', 'gaussian' or 'continuous_bernoulli', got {likelihood!r}"
        )
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not beta >= 0:
        raise ValueError(f"beta must be a non-negative number, got {beta!r}")
    check_batched("mu", mu)
    kl = kl_diag_gaussian_std_normal(mu, logvar)
    if kl.shape != recon.shape:
        raise ValueError(
            f"x and mu must have the same batch size, got {recon.shape[0]} and {tuple(mu.shape[:-1])}"
        )
    recon_mean = recon.mean()
    kl_mean = kl.mean()
    return ELBOTerms(loss=recon_mean + beta * kl_mean, reconstruction=recon_mean, kl=kl_mean)
