r"""Two Monte-Carlo estimators of the gradient of a Gaussian expectation.

For an objective

.. math::

    J(\mu, \log\sigma^2)
    = \mathbb E_{z \sim \mathcal N(\mu, \operatorname{diag}\sigma^2)}
      \left[f(z)\right],

the **pathwise** (reparameterization) estimator differentiates through
:math:`z = \mu + \sigma \odot \epsilon` (Kingma and Welling, 2013; Rezende et
al., 2014), and the **score-function** estimator (REINFORCE, Williams, 1992)
weights :math:`f(z)` by the gradient of :math:`\log q(z)`. Both are unbiased;
chapter "Assumptions and the reparameterization trick" compares their
variances.

Shapes: ``mu`` and ``logvar`` have the same shape ``S`` (one latent vector);
``f`` maps a batch of samples, shape ``(n_samples, *S)``, to one value per
sample, shape ``(n_samples,)``, and must treat the samples independently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from vaecourse._validation import check_int, check_mean_logvar
from vaecourse.distributions import logvar_to_std, reparameterize

__all__ = ["GradientEstimate", "pathwise_gradient", "score_function_gradient"]

Objective = Callable[[torch.Tensor], torch.Tensor]


class GradientEstimate(NamedTuple):
    r"""Per-sample estimates of the gradient of :math:`J`.

    The gradient is taken with respect to :math:`\mu` and
    :math:`\log\sigma^2`. Each field has shape ``(n_samples, *S)``: row
    :math:`k` is the estimate from the single sample :math:`z_k`. The
    Monte-Carlo estimate is their mean; its variance is their variance
    divided by ``n_samples``.
    """

    per_sample_mu: torch.Tensor
    per_sample_logvar: torch.Tensor

    @property
    def mean_mu(self) -> torch.Tensor:
        r"""The estimate of :math:`\partial J / \partial \mu`, shape ``S``."""
        return self.per_sample_mu.mean(0)

    @property
    def mean_logvar(self) -> torch.Tensor:
        r"""The estimate of :math:`\partial J / \partial \log\sigma^2`.

        Shape ``S``: the mean of the rows of ``per_sample_logvar``.
        """
        return self.per_sample_logvar.mean(0)

    @property
    def variance_mu(self) -> torch.Tensor:
        r"""Variance of one sample's estimate, shape ``S``.

        The estimate is of :math:`\partial J / \partial \mu` (one row of
        ``per_sample_mu``).
        """
        return self.per_sample_mu.var(0)

    @property
    def variance_logvar(self) -> torch.Tensor:
        r"""Variance of one sample's estimate, shape ``S``.

        The estimate is of :math:`\partial J / \partial \log\sigma^2` (one
        row of ``per_sample_logvar``).
        """
        return self.per_sample_logvar.var(0)


def _check(
    f: object, mu: torch.Tensor, logvar: torch.Tensor, n_samples: object
) -> None:
    if not callable(f):
        raise TypeError(f"f must be a function of z, got {type(f).__name__}")
    check_mean_logvar(mu, logvar)
    # At least two samples: GradientEstimate's variances need them.
    check_int("n_samples", n_samples, minimum=2)


def _values(f: Objective, z: torch.Tensor) -> torch.Tensor:
    values = f(z)
    if not isinstance(values, torch.Tensor) or values.shape != z.shape[:1]:
        got = (
            tuple(values.shape)
            if isinstance(values, torch.Tensor)
            else type(values).__name__
        )
        raise ValueError(
            f"f must return one value per sample, shape ({z.shape[0]},), "
            f"got {got}"
        )
    return values


def pathwise_gradient(
    f: Objective,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n_samples: int,
    generator: torch.Generator | None = None,
) -> GradientEstimate:
    r"""Reparameterization (pathwise) estimate of :math:`\nabla J`.

    With :math:`z_k = \mu + \sigma \odot \epsilon_k` from
    :func:`vaecourse.distributions.reparameterize`, autograd gives, per sample,

    .. math::

        \frac{\partial f(z_k)}{\partial \mu} = \nabla f(z_k), \qquad
        \frac{\partial f(z_k)}{\partial \log\sigma^2}
            = \nabla f(z_k) \odot \frac{\sigma \odot \epsilon_k}{2} .

    ``f`` must be differentiable (built from torch operations).

    Parameters
    ----------
    f : callable
        Objective, samples ``(n_samples, *S)`` to values ``(n_samples,)``.
    mu, logvar : torch.Tensor
        Parameters of :math:`q`, same shape ``S``.
    n_samples : int
        Number of samples, at least 2.
    generator : torch.Generator, optional
        Source of :math:`\epsilon`, for reproducible estimates.

    Returns
    -------
    GradientEstimate
        Per-sample gradients with respect to ``mu`` and ``logvar``.
    """
    _check(f, mu, logvar, n_samples)
    # One leaf per sample: sample k's gradient lands in row k, as f treats
    # rows independently.
    mu_rows = (
        mu.detach().expand(n_samples, *mu.shape).clone().requires_grad_(True)
    )
    logvar_rows = (
        logvar.detach()
        .expand(n_samples, *logvar.shape)
        .clone()
        .requires_grad_(True)
    )
    with torch.enable_grad():
        z = reparameterize(mu_rows, logvar_rows, generator=generator)
        grad_mu, grad_logvar = torch.autograd.grad(
            _values(f, z).sum(), (mu_rows, logvar_rows)
        )
    return GradientEstimate(grad_mu, grad_logvar)


def score_function_gradient(
    f: Objective,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n_samples: int,
    generator: torch.Generator | None = None,
) -> GradientEstimate:
    r"""Score-function (REINFORCE) estimate of :math:`\nabla J`.

    Uses :math:`\nabla J = \mathbb E_q\left[f(z)\, \nabla \log q(z)\right]`,
    with the Gaussian scores

    .. math::

        \frac{\partial \log q(z)}{\partial \mu}
            = \frac{z - \mu}{\sigma^2}, \qquad
        \frac{\partial \log q(z)}{\partial \log\sigma^2}
            = \frac{(z - \mu)^2}{2\sigma^2} - \frac12 .

    Only values of ``f`` are needed, not its derivative.

    Parameters
    ----------
    f : callable
        Objective, samples ``(n_samples, *S)`` to values ``(n_samples,)``.
    mu, logvar : torch.Tensor
        Parameters of :math:`q`, same shape ``S``.
    n_samples : int
        Number of samples, at least 2.
    generator : torch.Generator, optional
        Source of the samples; the same generator state as in
        :func:`pathwise_gradient` draws the same :math:`z_k`.

    Returns
    -------
    GradientEstimate
        Per-sample gradients with respect to ``mu`` and ``logvar``.
    """
    _check(f, mu, logvar, n_samples)
    mu, logvar = mu.detach(), logvar.detach()
    std = logvar_to_std(logvar)
    eps = torch.randn(
        (n_samples, *mu.shape),
        generator=generator,
        dtype=mu.dtype,
        device=mu.device,
    )
    z = mu + std * eps
    with torch.no_grad():
        values = _values(f, z)
    weight = values.reshape(n_samples, *([1] * mu.dim()))
    # (z - mu) / sigma^2 = eps / sigma and
    # (z - mu)^2 / (2 sigma^2) = eps^2 / 2.
    return GradientEstimate(weight * eps / std, weight * 0.5 * (eps**2 - 1.0))
