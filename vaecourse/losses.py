r"""Reconstruction terms and the VAE loss (the negative ELBO).

Convention of the whole course: every term is **summed over pixels and
latent units** and **averaged over the batch**, in nats per example. The
per-example functions below return one number per example, shape
``(batch,)``; :func:`negative_elbo` takes the batch mean.

Inputs have shape ``(batch, ...)``: everything after the first dimension is
one example and is summed over, so a batch of images ``(B, C, H, W)`` gives
``B`` numbers. A batch holds at least one example, and data and decoder
outputs are finite tensors of one dtype: anything else raises an error
naming the argument.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from vaecourse._validation import (
    check_batched,
    check_finite,
    check_in_unit_interval,
    check_int,
    check_positive,
    check_real,
    check_same_dtype,
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
    "reconstruction_nll",
    "ELBOTerms",
    "negative_elbo",
    "free_bits_kl",
    "capacity_schedule",
    "capacity_objective",
]


def _check_pair(
    name_x: str, x: torch.Tensor, name_y: str, y: torch.Tensor
) -> None:
    check_finite(name_x, x)
    check_finite(name_y, y)
    check_batched(name_x, x)
    check_same_shape(name_x, x, name_y, y)
    check_same_dtype(name_x, x, name_y, y)


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


def _broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    if len(shape) > len(target):
        return False
    # shape may be shorter than target: only its trailing sizes are paired.
    pairs = zip(reversed(shape), reversed(target), strict=False)
    return all(size in (1, wanted) for size, wanted in pairs)


def _decoder_variance(
    variance: float | torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """:math:`s^2` in x's dtype, checked to broadcast to one example."""
    var = check_positive("variance", variance, like=x)
    example_shape = x.shape[1:]
    if not _broadcasts_to(var.shape, example_shape):
        raise ValueError(
            "variance must be a number or a tensor broadcastable to one "
            f"example's shape {tuple(example_shape)}, got shape "
            f"{tuple(var.shape)}"
        )
    return var


def gaussian_nll(
    x: torch.Tensor, x_hat: torch.Tensor, variance: float | torch.Tensor = 1.0
) -> torch.Tensor:
    r"""Negative log-likelihood of a Gaussian decoder of variance :math:`s^2`.

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
        :math:`s^2 > 0`, finite in the dtype of ``x``: a number, or a tensor
        of one example's shape ``x.shape[1:]`` (per-pixel variances) or of
        a shape that broadcasts to it, such as ``(1, H, W)`` for
        ``x`` of shape ``(B, C, H, W)``. Any other shape is refused: a
        tensor of shape ``(B,)`` is one variance per pixel, never one per
        example, and is accepted only when ``x.shape[1:] == (B,)``.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats, constant included.
    """
    _check_pair("x", x, "x_hat", x_hat)
    var = _decoder_variance(variance, x)
    per_element = (x - x_hat).pow(2) / (2.0 * var) + 0.5 * (
        math.log(2.0 * math.pi) + torch.log(var)
    )
    return per_element.flatten(1).sum(1)


def bernoulli_nll(x: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    r"""Binary cross-entropy from probabilities, per example.

    .. math::

        \mathrm{BCE}(x, p) = -\sum_{i=1}^{n}
            \left[x_i \log p_i + (1 - x_i) \log(1 - p_i)\right].

    For binary :math:`x` it is :math:`-\log p(x \mid z)` of a Bernoulli
    decoder. For grey values :math:`x_i \in [0, 1]` it is still minimised
    at :math:`p = x`, but its minimum is the binary entropy of :math:`x`,
    not 0, and it is not a normalised log-likelihood (erratum 2); see
    :func:`continuous_bernoulli_nll_with_logits`.

    Computed by :func:`torch.nn.functional.binary_cross_entropy`, which
    clamps each logarithm at -100: a probability of exactly 0 or 1 (a
    float32 sigmoid reaches 1.0 above a logit of about 17) gives a finite
    loss, 0 where :math:`p = x`, and the finite gradient
    :math:`(p - x) / \max(p(1 - p), 10^{-12})`, 0 where :math:`p = x`.
    Logits avoid the clamp: :func:`bernoulli_nll_with_logits`.

    Parameters
    ----------
    x : torch.Tensor
        Targets in [0, 1], shape ``(batch, ...)``.
    probs : torch.Tensor
        Decoder probabilities in [0, 1], same shape and dtype.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats.
    """
    _check_pair("x", x, "probs", probs)
    check_in_unit_interval("x", x)
    check_in_unit_interval("probs", probs)
    per_element = F.binary_cross_entropy(probs, x, reduction="none")
    return per_element.flatten(1).sum(1)


def bernoulli_nll_with_logits(
    x: torch.Tensor, logits: torch.Tensor
) -> torch.Tensor:
    r"""Binary cross-entropy from logits :math:`\ell`, per example.

    With :math:`p = \operatorname{sigmoid}(\ell)`,

    .. math::

        \mathrm{BCE}(x, \ell) = \sum_{i=1}^{n}
            \left[\max(\ell_i, 0) - x_i \ell_i
            + \log\left(1 + e^{-|\ell_i|}\right)\right],

    the same value as :func:`bernoulli_nll` with ``probs = sigmoid(logits)``,
    computed without forming :math:`\log p`, so it is stable for any finite
    logit. An infinite logit is refused: its loss is infinite for every
    target but one, and the formula gives :math:`\infty - \infty`, NaN.

    Parameters
    ----------
    x : torch.Tensor
        Targets in [0, 1], shape ``(batch, ...)``.
    logits : torch.Tensor
        Decoder logits, finite, same shape and dtype.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats.
    """
    _check_pair("x", x, "logits", logits)
    check_in_unit_interval("x", x)
    per_element = F.binary_cross_entropy_with_logits(
        logits, x, reduction="none"
    )
    return per_element.flatten(1).sum(1)


# Taylor coefficients of log(l / tanh(l / 2)) - log 2 in powers of l^2,
# from SymPy: series(log(l / tanh(l / 2)), l, 0, 16).
_LOG_NORMALISER_SERIES = (
    1 / 12,
    -7 / 1440,
    31 / 90720,
    -127 / 4838400,
    73 / 34214400,
    -1414477 / 7846046208000,
)
_FIRST_OMITTED_TERM = (14, 8191 / 523069747200)  # power of l, coefficient


def continuous_bernoulli_log_normalizer(logits: torch.Tensor) -> torch.Tensor:
    r"""Log-normaliser :math:`\log C(\lambda)` of the continuous Bernoulli.

    The continuous Bernoulli (Loaiza-Ganem and Cunningham, 2019) has density
    :math:`C(\lambda)\, \lambda^x (1-\lambda)^{1-x}` on :math:`x \in [0, 1]`,
    with

    .. math::

        C(\lambda) = \frac{2 \operatorname{artanh}(1 - 2\lambda)}{1 - 2\lambda}
        \quad (\lambda \ne \tfrac12), \qquad C(\tfrac12) = 2 .

    With :math:`\lambda = \operatorname{sigmoid}(\ell)` one has
    :math:`1 - 2\lambda = -\tanh(\ell/2)`, hence the form used here,

    .. math::

        \log C = \log\frac{\ell}{\tanh(\ell/2)}
        = \log 2 + \frac{\ell^2}{12} - \frac{7\ell^4}{1440}
          + \frac{31\ell^6}{90720} - \frac{127\ell^8}{4838400} + \dots

    Near :math:`\ell = 0` the closed form's gradient,
    :math:`1/\ell - 1/\sinh\ell`, is a difference of two large, nearly
    equal numbers, so there the series (to :math:`\ell^{12}`) is used,
    below the logit where the two errors are equal: 0.91 in float32, 0.22
    in float64. For every finite logit the value is then accurate to 2
    units in the last place, and the gradient to a relative error of
    :math:`10^{-6}` in float32 and :math:`2 \cdot 10^{-14}` in float64
    (chapter "Autoencoders").

    Parameters
    ----------
    logits : torch.Tensor
        :math:`\ell = \log\frac{\lambda}{1 - \lambda}`, finite, any shape.

    Returns
    -------
    torch.Tensor
        :math:`\log C`, same shape as ``logits``.
    """
    check_finite("logits", logits)
    # Relative error of the gradient: about 3 eps / l^2 from cancellation
    # in the closed form, 6 k c l^(k - 2) from the series stopped before
    # its term c l^k. The limit is the logit where the two are equal.
    eps = torch.finfo(logits.dtype).eps
    power, omitted = _FIRST_OMITTED_TERM
    limit = (eps / (2 * power * abs(omitted))) ** (1 / power)
    small = logits.abs() < limit
    # Each branch sees only the logits it is used for, so the branch not
    # taken has a finite gradient (0) rather than 0 * inf = NaN.
    large = torch.where(small, torch.ones_like(logits), logits.abs())
    closed_form = torch.log(large) - torch.log(torch.tanh(0.5 * large))
    l2 = torch.where(small, logits, torch.zeros_like(logits)).square()
    series = torch.zeros_like(l2)
    for coefficient in reversed(_LOG_NORMALISER_SERIES):  # Horner's rule
        series = (series + coefficient) * l2
    return torch.where(small, math.log(2.0) + series, closed_form)


def continuous_bernoulli_nll_with_logits(
    x: torch.Tensor, logits: torch.Tensor
) -> torch.Tensor:
    r"""Negative log-likelihood of a continuous Bernoulli decoder, per example.

    .. math::

        -\log p(x \mid \lambda) = \mathrm{BCE}(x, \lambda)
            - \sum_{i=1}^{n} \log C(\lambda_i),

    binary cross-entropy plus the constant that makes it a normalised
    log-likelihood for grey values in [0, 1] (erratum 2).

    Parameters
    ----------
    x : torch.Tensor
        Data in [0, 1], shape ``(batch, ...)``.
    logits : torch.Tensor
        Decoder logits, finite, same shape and dtype.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats.
    """
    bce = bernoulli_nll_with_logits(x, logits)
    log_normaliser = continuous_bernoulli_log_normalizer(logits)
    return bce - log_normaliser.flatten(1).sum(1)


class ELBOTerms(NamedTuple):
    """The negative ELBO and its two terms, in nats per example.

    Each is averaged over the batch.
    """

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


Likelihood = Literal["bernoulli", "gaussian", "continuous_bernoulli"]
LIKELIHOODS: tuple[str, ...] = (
    "bernoulli",
    "gaussian",
    "continuous_bernoulli",
)


def reconstruction_nll(
    x: torch.Tensor,
    decoder_output: torch.Tensor,
    likelihood: Likelihood = "bernoulli",
    variance: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    r"""The reconstruction term :math:`-\log p(x \mid z)`, per example.

    The one place where the decoder's distribution is chosen:

    - ``"bernoulli"``: :func:`bernoulli_nll_with_logits`, ``decoder_output``
      are logits;
    - ``"gaussian"``: :func:`gaussian_nll` with variance :math:`s^2`,
      ``decoder_output`` is the mean;
    - ``"continuous_bernoulli"``: :func:`continuous_bernoulli_nll_with_logits`,
      ``decoder_output`` are logits.

    Parameters
    ----------
    x : torch.Tensor
        Data, shape ``(batch, ...)``.
    decoder_output : torch.Tensor
        Logits or mean, same shape as ``x``.
    likelihood : {"bernoulli", "gaussian", "continuous_bernoulli"}
        The decoder's distribution :math:`p(x \mid z)`.
    variance : float or torch.Tensor, default 1.0
        Decoder variance :math:`s^2`, for ``"gaussian"`` only.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats.
    """
    if likelihood == "bernoulli":
        return bernoulli_nll_with_logits(x, decoder_output)
    if likelihood == "gaussian":
        return gaussian_nll(x, decoder_output, variance)
    if likelihood == "continuous_bernoulli":
        return continuous_bernoulli_nll_with_logits(x, decoder_output)
    raise ValueError(
        "likelihood must be 'bernoulli', 'gaussian' or "
        f"'continuous_bernoulli', got {likelihood!r}"
    )


def negative_elbo(
    x: torch.Tensor,
    decoder_output: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    likelihood: Likelihood = "bernoulli",
    beta: float = 1.0,
    variance: float | torch.Tensor = 1.0,
    free_bits: float = 0.0,
) -> ELBOTerms:
    r"""The VAE loss: the negative ELBO with a weight :math:`\beta` on the KL.

    .. math::

        \mathcal L(x) = -\log p(x \mid z)
            + \beta\, \mathrm{KL}\left[q(z \mid x) \,\|\,
              \mathcal N(0, I)\right],
        \qquad z \sim q(z \mid x),

    a one-sample estimate of :math:`-\mathrm{ELBO}` for :math:`\beta = 1`
    (chapter "The ELBO": the ELBO is maximised, so its negative is the loss,
    erratum 7). :math:`\beta \ne 1` gives the beta-VAE objective. The
    reconstruction term is summed over pixels, the KL over latent units, and
    both are averaged over the batch, which must hold at least one example.

    Parameters
    ----------
    x : torch.Tensor
        Data, shape ``(batch, ...)``.
    decoder_output : torch.Tensor
        What the decoder returned for a sample :math:`z \sim q(z \mid x)`,
        same shape as ``x``: logits for ``"bernoulli"`` and
        ``"continuous_bernoulli"``, the mean for ``"gaussian"``.
    mu, logvar : torch.Tensor
        Encoder outputs, finite, shape ``(batch, m)``.
    likelihood : {"bernoulli", "gaussian", "continuous_bernoulli"}
        The decoder's distribution :math:`p(x \mid z)`.
    beta : float, default 1.0
        Weight of the KL term, a finite real number :math:`\beta \ge 0`
        (a Python or NumPy number, or a 0-d tensor).
    variance : float or torch.Tensor, default 1.0
        Decoder variance :math:`s^2`, for ``"gaussian"`` only.
    free_bits : float, default 0.0
        :math:`\lambda \ge 0`, nats per latent unit. Above 0 the loss
        weighs :func:`free_bits_kl` instead of the KL term: a unit whose
        batch-mean KL is below :math:`\lambda` is not pushed further
        towards the prior. The ``kl`` returned is the KL term either way.

    Returns
    -------
    ELBOTerms
        ``loss = reconstruction + beta * kl`` (``beta *
        free_bits_kl(mu, logvar, free_bits)`` for the second term when
        ``free_bits > 0``), each a scalar in nats per example.
    """
    beta = check_real("beta", beta, minimum=0.0)
    free_bits = check_real("free_bits", free_bits, minimum=0.0)
    reconstruction = reconstruction_nll(
        x, decoder_output, likelihood, variance
    )
    kl = kl_diag_gaussian_std_normal(mu, logvar)
    if mu.dim() != 2 or kl.shape != reconstruction.shape:
        raise ValueError(
            f"mu must have shape (batch, m) with the batch size of x, "
            f"{x.shape[0]}, got shape {tuple(mu.shape)}"
        )
    reconstruction, kl = reconstruction.mean(), kl.mean()
    penalty = free_bits_kl(mu, logvar, free_bits) if free_bits > 0 else kl
    return ELBOTerms(
        loss=reconstruction + beta * penalty,
        reconstruction=reconstruction,
        kl=kl,
    )


def free_bits_kl(
    mu: torch.Tensor, logvar: torch.Tensor, free_bits: float
) -> torch.Tensor:
    r"""The KL term with free bits: no unit is pushed below :math:`\lambda`.

    .. math::

        \sum_{j=1}^{m} \max\Big(\lambda,\
            \frac1B \sum_{b=1}^{B}
            \mathrm{KL}\big[q(z_j \mid x_b) \,\|\, \mathcal N(0, 1)\big]
        \Big),

    Kingma et al.'s free bits (2016), one group per latent unit: each
    unit's KL, averaged over the batch, counts as at least
    :math:`\lambda` nats, so a unit that carries less than :math:`\lambda`
    gets no gradient from the KL term and is not switched off by it
    (chapter "Training a VAE end to end", posterior collapse). With
    :math:`\lambda = 0` it is the batch mean of the KL term.

    Parameters
    ----------
    mu, logvar : torch.Tensor
        Encoder outputs, finite, shape ``(batch, m)``, batch at least 1.
    free_bits : float
        :math:`\lambda \ge 0`, in nats per unit.

    Returns
    -------
    torch.Tensor
        A scalar, in nats per example.
    """
    free_bits = check_real("free_bits", free_bits, minimum=0.0)
    if not isinstance(mu, torch.Tensor) or mu.dim() != 2 or len(mu) == 0:
        shape = tuple(mu.shape) if isinstance(mu, torch.Tensor) else mu
        raise ValueError(f"mu must have shape (batch, m), got {shape}")
    # One unit at a time: the KL of m one-dimensional Gaussians, (batch, m).
    per_unit = kl_diag_gaussian_std_normal(mu[..., None], logvar[..., None])
    return per_unit.mean(0).clamp(min=free_bits).sum()


def capacity_schedule(
    step: int, c_max: float = 25.0, anneal_steps: int = 100_000
) -> float:
    r"""The capacity :math:`C(t)` of Burgess et al. (2018), rising linearly.

    .. math::

        C(t) = C_{\max} \min\left(\frac{t}{T}, 1\right),

    from 0 nats at step 0 to :math:`C_{\max}` at step :math:`T` and
    constant after (chapter "beta-VAE"). The defaults, 25 nats over
    100,000 steps, are those used for dSprites in two independent
    re-implementations.

    Parameters
    ----------
    step : int
        Training step :math:`t \ge 0`.
    c_max : float, default 25.0
        :math:`C_{\max} \ge 0`, in nats.
    anneal_steps : int, default 100000
        :math:`T \ge 1`.

    Returns
    -------
    float
        :math:`C(t)` in nats.
    """
    step = check_int("step", step, minimum=0)
    c_max = check_real("c_max", c_max, minimum=0.0)
    anneal_steps = check_int("anneal_steps", anneal_steps, minimum=1)
    return c_max * min(step / anneal_steps, 1.0)


def _check_elbo_terms(terms: object) -> ELBOTerms:
    if not isinstance(terms, ELBOTerms):
        raise TypeError(
            "terms must be the ELBOTerms returned by negative_elbo, got "
            f"{type(terms).__name__}"
        )
    for name in ("reconstruction", "kl"):
        value = check_finite(f"terms.{name}", getattr(terms, name))
        if value.dim() != 0:
            raise ValueError(
                f"terms.{name} must be a batch mean (a 0-d tensor), got "
                f"shape {tuple(value.shape)}: the capacity term compares "
                "the batch's mean KL with C"
            )
    return terms


def capacity_objective(
    terms: ELBOTerms, capacity: float, gamma: float = 1000.0
) -> torch.Tensor:
    r"""Burgess et al.'s capacity-annealed loss.

    .. math::

        \mathcal L = \frac1B \sum_{b=1}^{B} -\log p(x_b \mid z_b)
            + \gamma \left| \frac1B \sum_{b=1}^{B}
            \mathrm{KL}\left[q(z \mid x_b) \,\|\, p(z)\right]
            - C \right|,

    which pulls the KL towards the capacity :math:`C` from either side
    instead of towards 0: the gradient on the KL is :math:`+\gamma` above
    :math:`C` and :math:`-\gamma` below it. As in disentanglement_lib,
    the batch's *mean* KL is compared with :math:`C`, not each example's.

    Parameters
    ----------
    terms : ELBOTerms
        From :func:`negative_elbo` (its ``beta`` is not used): the batch
        means of the reconstruction term and of the KL, in nats.
    capacity : float
        :math:`C \ge 0` in nats, e.g. :func:`capacity_schedule` of the step.
    gamma : float, default 1000.0
        :math:`\gamma \ge 0`.

    Returns
    -------
    torch.Tensor
        The scalar loss.
    """
    terms = _check_elbo_terms(terms)
    capacity = check_real("capacity", capacity, minimum=0.0)
    gamma = check_real("gamma", gamma, minimum=0.0)
    return terms.reconstruction + gamma * (terms.kl - capacity).abs()
