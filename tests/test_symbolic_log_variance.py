"""Tests of vaecourse.symbolic.log_variance: sigma = exp(log(sigma^2)/2)
holds for a standard deviation and fails for a real number of either sign."""

from __future__ import annotations

import math
import re

import pytest
import sympy as sp

from vaecourse import symbolic


def test_log_variance_identity_needs_a_positive_sigma():
    proof = symbolic.log_variance_identity()
    assert proof.holds is True
    assert str(proof) == "sigma = exp(log(sigma^2)/2) for sigma > 0: holds"
    real = symbolic.log_variance_identity(sigma_positive=False)
    assert real.holds is False
    sigma = sp.Symbol("sigma", real=True)
    assert sp.simplify(real.difference - (sp.Abs(sigma) - sigma)) == 0


@pytest.mark.parametrize("sigma", [0.3, 1.0, 4.2])
def test_the_identity_in_numbers(sigma):
    sides = symbolic.log_variance_identity()
    symbol = sp.Symbol("sigma", positive=True)
    assert float(sides.lhs.subs(symbol, sigma)) == pytest.approx(
        math.exp(math.log(sigma**2) / 2), rel=1e-12
    )
    assert float(sides.rhs.subs(symbol, sigma)) == sigma


BAD_INPUTS = [
    (1, TypeError, "sigma_positive must be a bool, got int"),
    ("yes", TypeError, "sigma_positive must be a bool, got str"),
]


@pytest.mark.parametrize(
    "value, error, message", BAD_INPUTS, ids=[b[2] for b in BAD_INPUTS]
)
def test_bad_inputs_raise_with_a_message(value, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        symbolic.log_variance_identity(value)
