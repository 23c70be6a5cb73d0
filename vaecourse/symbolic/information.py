r"""The β-VAE objective as a Lagrangian, and the rate as information plus a
KL divergence (chapter "β-VAE and disentanglement").

:func:`beta_vae_lagrangian` proves that the Lagrangian of Higgins et al.'s
constrained problem is the negative β-VAE loss plus a constant.
:func:`rate_identity` proves, for probability tables of a given size with
every entry a symbol,

.. math::

    R = \mathbb E_x\, \mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big)
    = I_q(x; z) + \mathrm{KL}\big(q(z) \,\|\, p(z)\big),
    \qquad q(z) = \sum_x p(x)\, q(z \mid x);

the argument for any distributions is :func:`rate_identity_pointwise`
(a logarithm split in two) and the definition of :math:`q(z)`, which
turns the expectation of the second part into the KL divergence of the
aggregate posterior.
"""

from __future__ import annotations

import sympy as sp

from vaecourse._validation import check_int
from vaecourse.symbolic.proof import Proof, prove_equal

__all__ = [
    "beta_vae_lagrangian",
    "rate_identity_pointwise",
    "rate_identity",
]


def beta_vae_lagrangian() -> Proof:
    r"""Prove that the Lagrangian is the negative β-VAE loss plus
    :math:`\beta\delta`.

    .. math::

        \begin{aligned}
        &\mathbb E_q\big[\log p(x \mid z)\big]
        - \beta\big(\mathrm{KL}(q(z \mid x) \,\|\, p(z)) - \delta\big)
        \\
        &= -\mathcal L_\beta + \beta\delta,
        \qquad
        \mathcal L_\beta = -\mathbb E_q\big[\log p(x \mid z)\big]
        + \beta\,\mathrm{KL}.
        \end{aligned}

    The expected log-likelihood and the KL divergence enter as symbols
    (``E`` and ``KL``), the multiplier :math:`\beta` and the budget
    :math:`\delta` as non-negative ones.
    """
    expected, kl = sp.symbols("E KL", real=True)
    beta, delta = sp.symbols("beta delta", nonnegative=True)
    loss = -expected + beta * kl
    return prove_equal(
        expected - beta * (kl - delta),
        -loss + beta * delta,
        "E_q[log p(x|z)] - beta (KL - delta) = -L_beta + beta delta",
        latex=r"\mathcal F(\theta, \phi, \beta; x) &= "
        r"\mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]"
        r" - \beta \big(\mathrm{KL}(q_\phi(z"
        r" \mid x) \,\|\, p(z)) - \delta\big) \\ &= -\mathcal L_\beta(\theta,"
        r" \phi; x) + \beta\delta",
    )


def rate_identity_pointwise() -> Proof:
    r"""Prove the step of the rate identity that holds at every pair
    :math:`(x, z)`.

    .. math::

        \log\frac{q(z \mid x)}{p(z)}
        = \log\frac{q(z \mid x)}{q(z)} + \log\frac{q(z)}{p(z)}

    for positive :math:`q(z \mid x)`, :math:`q(z)`, :math:`p(z)`. Taken in
    expectation under :math:`p(x)\,q(z \mid x)`, the left side is the rate,
    the first term on the right the mutual information, and the second,
    which depends on :math:`z` only, becomes
    :math:`\sum_z q(z) \log(q(z)/p(z))` by the definition of
    :math:`q(z)`: the KL divergence of the aggregate posterior.
    """
    posterior, aggregate, prior = sp.symbols("q_zx q_z p_z", positive=True)
    return prove_equal(
        sp.log(posterior / prior),
        sp.log(posterior / aggregate) + sp.log(aggregate / prior),
        "log q(z|x)/p(z) = log q(z|x)/q(z) + log q(z)/p(z)",
        latex=r"\log\frac{q(z \mid x)}{p(z)} = \log\frac{q(z \mid x)}{q(z)}"
        r" + \log\frac{q(z)}{p(z)}",
    )


def rate_identity(n_data: int = 3, n_codes: int = 2) -> Proof:
    r"""Prove :math:`R = I_q(x; z) + \mathrm{KL}(q(z) \,\|\, p(z))` for
    every pair of probability tables of a size.

    .. math::

        \begin{aligned}
        &\sum_{x, z} p(x)\, q(z \mid x) \log\frac{q(z \mid x)}{p(z)} \\
        &= \sum_{x, z} p(x)\, q(z \mid x) \log\frac{q(z \mid x)}{q(z)}
        + \sum_z q(z) \log\frac{q(z)}{p(z)},
        \end{aligned}

    with :math:`q(z) = \sum_x p(x)\, q(z \mid x)`, for ``n_data`` values of
    :math:`x` and ``n_codes`` of :math:`z`, every entry of :math:`p(x)`,
    :math:`q(z \mid x)` and :math:`p(z)` a positive symbol. The tables need
    not even sum to 1: the identity uses only the definition of
    :math:`q(z)`.

    Parameters
    ----------
    n_data, n_codes : int, default 3 and 2
        Sizes, at least 1, their product at most 16 (SymPy's work grows
        with it).
    """
    n_data = check_int("n_data", n_data, minimum=1)
    n_codes = check_int("n_codes", n_codes, minimum=1)
    if n_data * n_codes > 16:
        raise ValueError(
            "n_data * n_codes must be at most 16 (SymPy's work grows with "
            f"it), got {n_data} * {n_codes}"
        )
    p_x = sp.symbols(f"p_x0:{n_data}", positive=True)
    p_z = sp.symbols(f"p_z0:{n_codes}", positive=True)
    q = sp.Matrix(
        n_data,
        n_codes,
        lambda i, j: sp.Symbol(f"q_{i}{j}", positive=True),
    )
    q_z = [
        sum(p_x[i] * q[i, j] for i in range(n_data)) for j in range(n_codes)
    ]
    pairs = [(i, j) for i in range(n_data) for j in range(n_codes)]
    rate = sum(p_x[i] * q[i, j] * sp.log(q[i, j] / p_z[j]) for i, j in pairs)
    information = sum(
        p_x[i] * q[i, j] * sp.log(q[i, j] / q_z[j]) for i, j in pairs
    )
    kl_aggregate = sum(
        q_z[j] * sp.log(q_z[j] / p_z[j]) for j in range(n_codes)
    )
    return prove_equal(
        rate,
        information + kl_aggregate,
        f"R = I(x; z) + KL(q(z) || p(z)), {n_data} x {n_codes} tables",
        latex=r"\mathbb E_x\, \mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big)"
        r" = I_q(x; z) + \mathrm{KL}\big(q(z) \,\|\, p(z)\big)",
    )
