"""Tests of vaecourse.symbolic.information: the β-VAE Lagrangian and the
rate identity, proved by SymPy and evaluated against scipy's KL
divergences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from bad_inputs import raises, table
from scipy.stats import entropy

from vaecourse import symbolic


def test_the_lagrangian_is_the_negative_loss_plus_beta_delta():
    proof = symbolic.beta_vae_lagrangian()
    assert proof.holds
    # Its sides in numbers: E = -100, KL = 5, beta = 4, delta = 3.
    values = {"E": -100, "KL": 5, "beta": 4, "delta": 3}
    numbers = {s: values[s.name] for s in proof.lhs.free_symbols}
    assert proof.lhs.subs(numbers) == -100 - 4 * (5 - 3)
    assert proof.rhs.subs(numbers) == -(100 + 4 * 5) + 4 * 3


def test_the_pointwise_step_holds_and_needs_positive_terms():
    assert symbolic.rate_identity_pointwise().holds
    # The same split with real (possibly negative) symbols is false.
    a, b, c = sp.symbols("a b c", real=True)
    split = symbolic.prove_equal(
        sp.log(a / c), sp.log(a / b) + sp.log(b / c), "real"
    )
    assert not split.holds


@pytest.mark.parametrize("sizes", [(1, 1), (2, 2), (3, 2), (2, 4), (4, 3)])
def test_the_rate_identity_holds_for_tables_of_each_size(sizes):
    assert symbolic.rate_identity(*sizes).holds


def test_the_rate_identity_sides_are_scipys_rate_and_information():
    proof = symbolic.rate_identity(4, 3)
    rng = np.random.default_rng(0)
    p_x = rng.dirichlet(np.ones(4))
    q = rng.dirichlet(np.ones(3), size=4)
    p_z = rng.dirichlet(np.ones(3))
    numbers = {}
    for symbol in proof.lhs.free_symbols | proof.rhs.free_symbols:
        name = symbol.name
        if name.startswith("p_x"):
            numbers[symbol] = p_x[int(name[3:])]
        elif name.startswith("p_z"):
            numbers[symbol] = p_z[int(name[3:])]
        else:
            numbers[symbol] = q[int(name[2]), int(name[3])]
    q_z = p_x @ q
    rate = sum(p_x[i] * entropy(q[i], p_z) for i in range(4))
    information = sum(p_x[i] * entropy(q[i], q_z) for i in range(4))
    assert float(proof.lhs.subs(numbers)) == pytest.approx(rate, rel=1e-12)
    assert float(proof.rhs.subs(numbers)) == pytest.approx(
        information + entropy(q_z, p_z), rel=1e-12
    )
    assert rate > information  # the rate bounds the information


BAD_INPUTS = [
    (
        lambda: symbolic.rate_identity(0, 2),
        ValueError,
        "n_data must be at least 1, got 0",
    ),
    (
        lambda: symbolic.rate_identity(5, 4),
        ValueError,
        "n_data * n_codes must be at most 16",
    ),
    (
        lambda: symbolic.rate_identity(2.0, 2),
        TypeError,
        "n_data must be an int",
    ),
]


@table(BAD_INPUTS)
def test_bad_input(call, error, message):
    raises(call, error, message)


def test_the_elbo_integrands_add_up_to_log_evidence_at_every_z():
    proof = symbolic.elbo_identity_pointwise()
    assert proof.holds
    # In numbers, against a two-point model: p(x, z) for z = 0, 1 and a q;
    # E_q of the sum is log p(x), the ELBO is below it by the KL.
    joint = np.array([0.03, 0.12])
    q = np.array([0.6, 0.4])
    evidence = joint.sum()
    elbo = q @ (np.log(joint) - np.log(q))
    assert elbo + entropy(q, joint / evidence) == pytest.approx(
        np.log(evidence), rel=1e-12
    )
    for z in (0, 1):
        numbers = {
            s: {"p_xz": joint[z], "q_z": q[z], "p_x": evidence}[s.name]
            for s in proof.lhs.free_symbols | proof.rhs.free_symbols
        }
        assert float(proof.lhs.subs(numbers)) == pytest.approx(
            np.log(evidence), rel=1e-12
        )
