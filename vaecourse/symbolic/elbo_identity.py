r"""The ELBO identity for any model and any approximate posterior (chapter
"The ELBO").

.. math::

    \log p(x) = \mathrm{ELBO}(q)
    + \mathrm{KL}\big(q(z) \,\|\, p(z \mid x)\big),
    \qquad
    \mathrm{ELBO}(q) = \mathbb E_q\big[\log p(x, z) - \log q(z)\big].

Inside the expectation the two terms add up, at every :math:`z`, to
:math:`\log p(x)`, a constant (:func:`elbo_identity_pointwise`), and the
expectation of a constant under a normalised :math:`q` is that constant.
:func:`vaecourse.symbolic.linear_gaussian_elbo_identity` checks the same
identity with every expectation computed, for the linear-Gaussian model.
"""

from __future__ import annotations

import sympy as sp

from vaecourse.symbolic.proof import Proof, prove_equal

__all__ = ["elbo_identity_pointwise"]


def elbo_identity_pointwise() -> Proof:
    r"""Prove that the integrands of the ELBO and of the gap add up to
    :math:`\log p(x)` at every :math:`z`.

    .. math::

        \begin{aligned}
        &\big[\log p(x, z) - \log q(z)\big]
        + \big[\log q(z) - \log p(z \mid x)\big] \\
        &= \log p(x),
        \qquad p(z \mid x) = \frac{p(x, z)}{p(x)},
        \end{aligned}

    for positive :math:`p(x, z)`, :math:`q(z)` and :math:`p(x)`: Bayes'
    rule is the only fact used. Taking :math:`\mathbb E_q` of both sides,
    with :math:`\int q(z)\,dz = 1`, gives the ELBO identity for any model
    and any :math:`q`.
    """
    joint, q, evidence = sp.symbols("p_xz q_z p_x", positive=True)
    posterior = joint / evidence
    return prove_equal(
        (sp.log(joint) - sp.log(q)) + (sp.log(q) - sp.log(posterior)),
        sp.log(evidence),
        "[log p(x,z) - log q(z)] + [log q(z) - log p(z|x)] = log p(x)",
        latex=r"\log \frac{p(x, z)}{q(z \mid x)}"
        r" + \log \frac{q(z \mid x)}{p(z \mid x)}",
    )
