r"""The linear-Gaussian latent variable model, where everything is exact.

.. math::

    p(z) = \mathcal N(0, 1), \qquad
    p(x \mid z) = \mathcal N(w z + b,\; s^2),

the one-dimensional probabilistic PCA of Tipping and Bishop (1999). Its
marginal likelihood :math:`p(x)` and its posterior :math:`p(z \mid x)` are
Gaussian and known in closed form, so the ELBO of any Gaussian
:math:`q(z) = \mathcal N(\mu, v)` can be compared with the true
:math:`\log p(x)` (chapters "From autoencoder to VAE" and "The ELBO").

Every function works elementwise: ``x`` may be a tensor of any shape (one
independent data point per element), and ``w``, ``b``, ``s2`` and the
parameters of :math:`q` are numbers or tensors that broadcast with it.
"""

from __future__ import annotations

import math

import torch

from vaecourse._validation import (
    check_finite,
    check_int,
    check_positive,
    check_real,
)

__all__ = [
    "sample",
    "log_marginal",
    "exact_posterior",
    "expected_log_likelihood",
    "elbo",
    "elbo_monte_carlo",
]

Number = float | torch.Tensor


def _real(name: str, value: Number, like: torch.Tensor) -> torch.Tensor:
    """A finite number or tensor, in the dtype and on the device of like."""
    if isinstance(value, torch.Tensor):
        tensor = check_finite(name, value)
    else:
        tensor = torch.tensor(check_real(name, value), dtype=torch.float64)
    tensor = tensor.to(dtype=like.dtype, device=like.device)
    if not torch.isfinite(tensor).all():
        raise ValueError(
            f"{name} must be finite in {like.dtype}, the dtype of x: "
            f"{value} overflows"
        )
    return tensor


def _model(x: torch.Tensor, w: Number, b: Number, s2: Number):
    check_finite("x", x)
    w_t = _real("w", w, x)
    b_t = _real("b", b, x)
    s2_t = check_positive("s2", s2, like=x)
    return w_t, b_t, s2_t


def _log_normal(
    value: torch.Tensor, mean: Number, var: torch.Tensor
) -> torch.Tensor:
    return -0.5 * torch.log(2 * math.pi * var) - (value - mean) ** 2 / (
        2 * var
    )


def sample(
    n: int,
    w: float,
    b: float,
    s2: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw :math:`n` pairs :math:`(z, x)` from the model, in float64.

    .. math::

        z \sim \mathcal N(0, 1), \qquad
        x = w z + b + s\,\eta, \quad \eta \sim \mathcal N(0, 1).

    Parameters
    ----------
    n : int
        Number of pairs, at least 1.
    w, b : float
        Weight and bias of the decoder mean.
    s2 : float
        Decoder variance :math:`s^2 > 0`.
    generator : torch.Generator, optional
        Source of randomness, for reproducible samples.

    Returns
    -------
    tuple of torch.Tensor
        ``(z, x)``, each of shape ``(n,)``.
    """
    n = check_int("n", n, minimum=1)
    like = torch.zeros((), dtype=torch.float64)
    w_t, b_t, s2_t = _model(like, w, b, s2)
    z = torch.randn(n, generator=generator, dtype=torch.float64)
    x = (
        w_t * z
        + b_t
        + s2_t.sqrt()
        * torch.randn(n, generator=generator, dtype=torch.float64)
    )
    return z, x


def log_marginal(
    x: torch.Tensor, w: Number, b: Number, s2: Number
) -> torch.Tensor:
    r"""The exact log-evidence :math:`\log p(x)`.

    Integrating out :math:`z` gives :math:`x \sim \mathcal N(b, w^2 + s^2)`, so

    .. math::

        \log p(x) = -\frac12 \log\left(2\pi (w^2 + s^2)\right)
                    - \frac{(x - b)^2}{2 (w^2 + s^2)} .

    Parameters
    ----------
    x : torch.Tensor
        Data, any shape, floating point.
    w, b : float or torch.Tensor
        Decoder weight and bias.
    s2 : float or torch.Tensor
        Decoder variance :math:`s^2 > 0`.

    Returns
    -------
    torch.Tensor
        :math:`\log p(x)` in nats, elementwise.
    """
    w_t, b_t, s2_t = _model(x, w, b, s2)
    var = w_t**2 + s2_t
    return -0.5 * torch.log(2 * math.pi * var) - (x - b_t) ** 2 / (2 * var)


def exact_posterior(
    x: torch.Tensor, w: Number, b: Number, s2: Number
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Mean and variance of the true posterior :math:`p(z \mid x)`.

    By Bayes' rule, a Gaussian prior times a Gaussian likelihood in :math:`z`:

    .. math::

        p(z \mid x) = \mathcal N\left(\frac{w (x - b)}{w^2 + s^2},\;
                                      \frac{s^2}{w^2 + s^2}\right).

    Parameters
    ----------
    x : torch.Tensor
        Data, any shape, floating point.
    w, b : float or torch.Tensor
        Decoder weight and bias.
    s2 : float or torch.Tensor
        Decoder variance :math:`s^2 > 0`.

    Returns
    -------
    tuple of torch.Tensor
        ``(mean, var)``, both broadcast to the shape of ``x``.
    """
    w_t, b_t, s2_t = _model(x, w, b, s2)
    total = w_t**2 + s2_t
    mean = w_t * (x - b_t) / total
    var = (s2_t / total).expand_as(mean)
    return mean, var


def expected_log_likelihood(
    x: torch.Tensor,
    w: Number,
    b: Number,
    s2: Number,
    q_mean: Number,
    q_var: Number,
) -> torch.Tensor:
    r"""The reconstruction term of the ELBO, in closed form.

    The term is :math:`\mathbb E_{z \sim q}[\log p(x \mid z)]`. With
    :math:`q(z) = \mathcal N(\mu, v)`, :math:`\mathbb E_q[(x - wz - b)^2]
    = (x - w\mu - b)^2 + w^2 v`, so

    .. math::

        \mathbb E_q[\log p(x \mid z)] = -\frac12 \log(2\pi s^2)
            - \frac{(x - w \mu - b)^2 + w^2 v}{2 s^2} .

    Parameters
    ----------
    x : torch.Tensor
        Data, any shape, floating point.
    w, b : float or torch.Tensor
        Decoder weight and bias.
    s2 : float or torch.Tensor
        Decoder variance :math:`s^2 > 0`.
    q_mean : float or torch.Tensor
        Mean :math:`\mu` of :math:`q`.
    q_var : float or torch.Tensor
        Variance :math:`v > 0` of :math:`q` (a variance, not a standard
        deviation).

    Returns
    -------
    torch.Tensor
        In nats, elementwise.
    """
    w_t, b_t, s2_t = _model(x, w, b, s2)
    q_mean = _real("q_mean", q_mean, x)
    q_var = check_positive("q_var", q_var, like=x)
    return -0.5 * torch.log(2 * math.pi * s2_t) - (
        (x - w_t * q_mean - b_t) ** 2 + w_t**2 * q_var
    ) / (2 * s2_t)


def elbo(
    x: torch.Tensor,
    w: Number,
    b: Number,
    s2: Number,
    q_mean: Number,
    q_var: Number,
) -> torch.Tensor:
    r"""Closed-form evidence lower bound of :math:`q(z) = \mathcal N(\mu, v)`.

    .. math::

        \begin{aligned}
        \mathrm{ELBO}(q) &= \mathbb E_q[\log p(x \mid z)]
            - \mathrm{KL}\left[q \,\|\, \mathcal N(0, 1)\right], \\
        \mathrm{KL}\left[q \,\|\, \mathcal N(0, 1)\right]
            &= \frac12\left(\mu^2 + v - 1 - \log v\right).
        \end{aligned}

    It satisfies :math:`\log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}[q \,\|\,
    p(z \mid x)]`, so it is at most :math:`\log p(x)`, with equality exactly at
    :math:`q = p(z \mid x)` (chapter "The ELBO").

    Parameters
    ----------
    x : torch.Tensor
        Data, any shape, floating point.
    w, b : float or torch.Tensor
        Decoder weight and bias.
    s2 : float or torch.Tensor
        Decoder variance :math:`s^2 > 0`.
    q_mean : float or torch.Tensor
        Mean :math:`\mu` of :math:`q`.
    q_var : float or torch.Tensor
        Variance :math:`v > 0` of :math:`q`.

    Returns
    -------
    torch.Tensor
        ELBO in nats, elementwise (a quantity to maximise; the VAE loss is
        its negative).
    """
    reconstruction = expected_log_likelihood(x, w, b, s2, q_mean, q_var)
    q_mean = _real("q_mean", q_mean, x)
    q_var = check_positive("q_var", q_var, like=x)
    kl = 0.5 * (q_mean**2 + q_var - 1.0 - torch.log(q_var))
    return reconstruction - kl


def elbo_monte_carlo(
    x: torch.Tensor,
    w: Number,
    b: Number,
    s2: Number,
    q_mean: Number,
    q_var: Number,
    n_samples: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Monte-Carlo estimate of the ELBO, as a VAE computes it.

    By sampling :math:`z \sim q`:

    .. math::

        \widehat{\mathrm{ELBO}} = \frac1K \sum_{k=1}^{K}
            \left[\log p(x \mid z_k) + \log p(z_k) - \log q(z_k)\right],
        \qquad z_k = \mu + \sqrt v\, \varepsilon_k .

    Parameters
    ----------
    x : torch.Tensor
        Data, any shape, floating point.
    w, b : float or torch.Tensor
        Decoder weight and bias.
    s2 : float or torch.Tensor
        Decoder variance :math:`s^2 > 0`.
    q_mean : float or torch.Tensor
        Mean :math:`\mu` of :math:`q`.
    q_var : float or torch.Tensor
        Variance :math:`v > 0` of :math:`q`.
    n_samples : int
        Number of samples :math:`K \ge 1`.
    generator : torch.Generator, optional
        Source of :math:`\varepsilon`, for reproducible estimates.

    Returns
    -------
    torch.Tensor
        The estimate in nats, elementwise; unbiased for :func:`elbo`.
    """
    w_t, b_t, s2_t = _model(x, w, b, s2)
    q_mean = _real("q_mean", q_mean, x)
    q_var = check_positive("q_var", q_var, like=x)
    n_samples = check_int("n_samples", n_samples, minimum=1)
    shape = torch.broadcast_shapes(
        x.shape, w_t.shape, b_t.shape, s2_t.shape, q_mean.shape, q_var.shape
    )
    eps = torch.randn(
        (n_samples, *shape),
        generator=generator,
        dtype=x.dtype,
        device=x.device,
    )
    z = q_mean + q_var.sqrt() * eps
    log_weight = (
        _log_normal(x, w_t * z + b_t, s2_t)
        + _log_normal(z, 0.0, torch.ones_like(q_var))
        - _log_normal(z, q_mean, q_var)
    )
    return log_weight.mean(0)
