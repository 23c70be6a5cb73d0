r"""Gaussian distributions of the VAE: sampling and KL divergences.

The encoder of a VAE outputs the mean :math:`\mu` and the log-variance
:math:`\log\sigma^2` of a diagonal Gaussian :math:`q(z \mid x)`; this module
samples from it with the reparameterization trick and measures its KL
divergence from the prior :math:`p(z) = \mathcal N(0, I)`.

Shapes: the last dimension is the latent dimension :math:`m`; any leading
dimensions are batch dimensions, and KL divergences are summed over the last
dimension only.
"""

from __future__ import annotations

import torch

from vaecourse._validation import (
    check_finite,
    check_float_tensor,
    check_generator,
    check_mean_logvar,
    check_positive,
    check_same_shape,
)

__all__ = [
    "logvar_to_std",
    "std_to_logvar",
    "reparameterize",
    "kl_diag_gaussian_std_normal",
    "kl_diag_gaussians",
    "kl_gaussians_full",
]


def logvar_to_std(logvar: torch.Tensor) -> torch.Tensor:
    r"""Standard deviation from log-variance.

    .. math::

        \sigma = e^{\log(\sigma^2)/2}.

    This is the identity of the log-variance trick (chapter "The log-variance
    trick"): since :math:`\log\sigma^2 = 2\log\sigma`, halving and
    exponentiating gives :math:`\sigma`, which is positive for every real
    input. That is why the encoder predicts :math:`\log\sigma^2`.

    Parameters
    ----------
    logvar : torch.Tensor
        Log-variance :math:`\log\sigma^2`, any shape, floating point.

    Returns
    -------
    torch.Tensor
        :math:`\sigma`, same shape, strictly positive where representable.
    """
    check_float_tensor("logvar", logvar)
    return torch.exp(0.5 * logvar)


def std_to_logvar(std: torch.Tensor) -> torch.Tensor:
    r"""Log-variance from standard deviation.

    .. math::

        \log\sigma^2 = 2\log\sigma.

    Parameters
    ----------
    std : torch.Tensor
        Standard deviation :math:`\sigma > 0` (a standard deviation, not a
        variance).

    Returns
    -------
    torch.Tensor
        :math:`\log\sigma^2`, same shape.

    Raises
    ------
    ValueError
        If any element of ``std`` is not positive.
    """
    check_float_tensor("std", std)
    check_positive("std", std)
    return 2.0 * torch.log(std)


def reparameterize(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Sample a diagonal Gaussian, differentiably.

    Draws :math:`z \sim \mathcal N(\mu, \operatorname{diag}\sigma^2)` as

    .. math::

        z = \mu + \sigma \odot \varepsilon, \qquad
        \sigma = e^{\log(\sigma^2)/2}, \qquad
        \varepsilon \sim \mathcal N(0, I),

    the reparameterization trick (chapter "Assumptions and the
    reparameterization trick"): the randomness sits in :math:`\varepsilon`,
    so gradients flow to :math:`\mu` and :math:`\log\sigma^2`.

    Parameters
    ----------
    mu, logvar : torch.Tensor
        Mean and log-variance, finite, of the same shape ``(..., m)``.
    generator : torch.Generator, optional
        Source of :math:`\epsilon`, for reproducible samples.

    Returns
    -------
    torch.Tensor
        One sample :math:`z` per row, same shape as ``mu``.
    """
    check_mean_logvar(mu, logvar)
    check_generator(generator)
    eps = torch.randn(
        mu.shape, generator=generator, dtype=mu.dtype, device=mu.device
    )
    return mu + logvar_to_std(logvar) * eps


def kl_diag_gaussian_std_normal(
    mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    r"""KL divergence of a diagonal Gaussian from the standard normal.

    .. math::

        \mathrm{KL}\left[\mathcal N(\mu, \operatorname{diag}\sigma^2)
        \,\|\, \mathcal N(0, I)\right]
        = -\frac12 \sum_{i=1}^{m}
          \left(1 + \log\sigma_i^2 - \mu_i^2 - \sigma_i^2\right),

    the last line of the derivation in chapter "The KL divergence, derived and
    verified" (the sum runs over the latent dimension :math:`m`).

    Parameters
    ----------
    mu, logvar : torch.Tensor
        Mean and log-variance of :math:`q(z \mid x)`, finite, of the same
        shape ``(..., m)``.

    Returns
    -------
    torch.Tensor
        KL in nats, shape ``mu.shape[:-1]`` (summed over the latent units).
    """
    check_mean_logvar(mu, logvar)
    return -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def kl_diag_gaussians(
    mu_q: torch.Tensor,
    logvar_q: torch.Tensor,
    mu_p: torch.Tensor,
    logvar_p: torch.Tensor,
) -> torch.Tensor:
    r"""KL divergence :math:`\mathrm{KL}(q \,\|\, p)` of diagonal Gaussians.

    .. math::

        \mathrm{KL}(q \,\|\, p) = \frac12 \sum_{i=1}^{m}\left(
            \log\frac{\sigma_{p,i}^2}{\sigma_{q,i}^2}
            + \frac{\sigma_{q,i}^2 + (\mu_{q,i} - \mu_{p,i})^2}{\sigma_{p,i}^2}
            - 1\right).

    With :math:`\mu_p = 0` and :math:`\log\sigma_p^2 = 0` it reduces to
    :func:`kl_diag_gaussian_std_normal`.

    Parameters
    ----------
    mu_q, logvar_q, mu_p, logvar_p : torch.Tensor
        Means and log-variances, finite, all of the same shape ``(..., m)``.

    Returns
    -------
    torch.Tensor
        KL in nats, shape ``mu_q.shape[:-1]``.
    """
    check_mean_logvar(mu_q, logvar_q, suffix="_q")
    check_mean_logvar(mu_p, logvar_p, suffix="_p")
    check_same_shape("mu_q", mu_q, "mu_p", mu_p)
    # Ratios of variances as exp of differences: no overflow of each
    # variance alone.
    log_ratio = logvar_q - logvar_p
    quad = (mu_q - mu_p).pow(2) * torch.exp(-logvar_p)
    return 0.5 * torch.sum(-log_ratio + log_ratio.exp() + quad - 1.0, dim=-1)


def _cholesky(name: str, cov: torch.Tensor) -> torch.Tensor:
    if cov.dim() < 2 or cov.shape[-1] != cov.shape[-2]:
        raise ValueError(
            f"{name} must be a square matrix (..., k, k), got shape "
            f"{tuple(cov.shape)}"
        )
    if not torch.allclose(cov, cov.transpose(-1, -2)):
        raise ValueError(f"{name} is not symmetric")
    chol, info = torch.linalg.cholesky_ex(cov)
    if (info != 0).any():
        raise ValueError(
            f"{name} is not positive definite (its Cholesky factorisation "
            "failed)"
        )
    return chol


def kl_gaussians_full(
    mu_q: torch.Tensor,
    cov_q: torch.Tensor,
    mu_p: torch.Tensor,
    cov_p: torch.Tensor,
) -> torch.Tensor:
    r"""KL divergence between two full-covariance Gaussians.

    In dimension :math:`k`,

    .. math::

        \begin{aligned}
        &\mathrm{KL}\left[\mathcal N(\mu_1, \Sigma_1)
        \,\|\, \mathcal N(\mu_2, \Sigma_2)\right] \\
        &= \frac12\left[\log\frac{|\Sigma_2|}{|\Sigma_1|} - d
        + \operatorname{tr}\left(\Sigma_2^{-1}\Sigma_1\right)\right. \\
        &\qquad \left. + (\mu_2 - \mu_1)^\top \Sigma_2^{-1}
        (\mu_2 - \mu_1)\right],
        \end{aligned}

    the general formula the notes quote, derived in chapter "The KL
    divergence, derived and verified"; here :math:`q = \mathcal N(\mu_1,
    \Sigma_1)` and :math:`p = \mathcal N(\mu_2, \Sigma_2)`. Computed through
    Cholesky factors, so no inverse or determinant is formed explicitly.

    Parameters
    ----------
    mu_q, mu_p : torch.Tensor
        Means, finite, shape ``(..., k)``.
    cov_q, cov_p : torch.Tensor
        Symmetric positive-definite covariances, shape ``(..., k, k)``.

    Returns
    -------
    torch.Tensor
        KL in nats, shape ``mu_q.shape[:-1]``.

    Raises
    ------
    ValueError
        If a covariance is not square, not symmetric or not positive definite,
        or if the shapes disagree.
    """
    named = {"mu_q": mu_q, "cov_q": cov_q, "mu_p": mu_p, "cov_p": cov_p}
    for name, value in named.items():
        check_finite(name, value)
    check_same_shape("mu_q", mu_q, "mu_p", mu_p)
    check_same_shape("cov_q", cov_q, "cov_p", cov_p)
    chol_q = _cholesky("cov_q", cov_q)
    chol_p = _cholesky("cov_p", cov_p)
    if cov_q.shape[:-1] != mu_q.shape:
        raise ValueError(
            f"cov_q must have shape (..., k, k) matching mu_q (..., k), "
            f"got {tuple(cov_q.shape)} and {tuple(mu_q.shape)}"
        )
    k = mu_q.shape[-1]
    # log|Sigma| = 2 sum log diag(L)
    logdet_q = 2.0 * torch.log(torch.diagonal(chol_q, dim1=-2, dim2=-1)).sum(
        -1
    )
    logdet_p = 2.0 * torch.log(torch.diagonal(chol_p, dim1=-2, dim2=-1)).sum(
        -1
    )
    # tr(Sigma_p^-1 Sigma_q) = ||L_p^-1 L_q||_F^2
    m = torch.linalg.solve_triangular(chol_p, chol_q, upper=False)
    trace = m.pow(2).sum((-2, -1))
    diff = (mu_p - mu_q).unsqueeze(-1)
    y = torch.linalg.solve_triangular(chol_p, diff, upper=False)
    quad = y.pow(2).sum((-2, -1))
    return 0.5 * (logdet_p - logdet_q - k + trace + quad)
