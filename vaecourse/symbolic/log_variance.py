r"""The log-variance trick's identity (chapter "The log-variance trick")."""

from __future__ import annotations

import sympy as sp

from vaecourse.symbolic.proof import Proof, prove_equal

__all__ = ["log_variance_identity"]


def log_variance_identity(sigma_positive: bool = True) -> Proof:
    r"""Prove :math:`\sigma = e^{\log(\sigma^2)/2}`.

    .. math::

        e^{\log(\sigma^2)/2} = e^{2\log(\sigma)/2} = e^{\log\sigma} = \sigma
        \qquad (\sigma > 0).

    The middle step, :math:`\log\sigma^2 = 2\log\sigma`, needs
    :math:`\sigma > 0`: for a real :math:`\sigma` of either sign the left
    side is :math:`|\sigma|`, and the identity fails (chapter "The
    log-variance trick").

    Parameters
    ----------
    sigma_positive : bool
        True (default): :math:`\sigma` is a positive symbol, and the
        identity holds. False: :math:`\sigma` is only real, and it does not
        (the difference is :math:`|\sigma| - \sigma`).

    Returns
    -------
    Proof
    """
    if not isinstance(sigma_positive, bool):
        raise TypeError(
            "sigma_positive must be a bool, "
            f"got {type(sigma_positive).__name__}"
        )
    if sigma_positive:
        sigma, where = sp.Symbol("sigma", positive=True), "sigma > 0"
    else:
        sigma, where = sp.Symbol("sigma", real=True), "any real sigma"
    return prove_equal(
        sp.exp(sp.log(sigma**2) / 2),
        sigma,
        f"sigma = exp(log(sigma^2)/2) for {where}",
        latex=r"\sigma = e^{\log(\sigma^2)/2}",
    )
