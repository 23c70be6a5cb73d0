"""Tests of vaecourse.symbolic.reconstruction: the decoders' likelihoods,
proved, and checked against torch, scipy and the package's losses."""

from __future__ import annotations

import math
import re

import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from scipy import integrate, optimize
from torch.distributions import Normal

from vaecourse import symbolic
from vaecourse.losses import continuous_bernoulli_log_normalizer

T, P = sp.Symbol("t", positive=True), sp.Symbol("p", positive=True)


@pytest.mark.parametrize("n", [None, 1, 3])
def test_gaussian_nll_is_scaled_squares_plus_a_constant(n):
    assert symbolic.gaussian_nll_identity(n).holds


def test_gaussian_nll_closed_form_matches_torch():
    proof = symbolic.gaussian_nll_identity(2)
    x = sp.IndexedBase("x", real=True)
    x_hat = sp.IndexedBase("xhat", real=True)
    s = sp.Symbol("s", positive=True)
    values = {
        x[1]: sp.Rational(3, 10),
        x[2]: sp.Rational(-1, 2),
        x_hat[1]: 0,
        x_hat[2]: sp.Rational(1, 4),
        s: sp.Rational(3, 5),
    }
    normal = Normal(torch.tensor([0.0, 0.25], dtype=torch.float64), 0.6)
    expected = -normal.log_prob(torch.tensor([0.3, -0.5], dtype=torch.float64))
    for side in (proof.lhs, proof.rhs):
        value = float(side.subs(values))
        assert value == pytest.approx(expected.sum().item(), rel=1e-12)


@pytest.mark.parametrize(
    "n, values", [(2, (25, 5)), (1, (4, 2)), (5, (25, 5))]
)
def test_the_notes_square_root_is_refuted(n, values):
    proof = symbolic.sum_of_squares_is_not_its_square_root(n)
    assert proof.holds is False
    assert proof.counterexample_values == values
    assert str(proof) == (
        "sum_i d_i^2 = sqrt(sum_i d_i^2): does not hold "
        f"(counterexample: {values[0]} != {values[1]})"
    )


def test_bce_minimum_is_the_entropy_not_zero():
    result = symbolic.bce_minimiser_and_minimum()
    assert result.holds
    half = result.minimum.subs(T, sp.Rational(1, 2))
    assert sp.simplify(half - sp.log(2)) == 0
    assert "minimised at p = t: True" in str(result)


def test_the_bce_minimiser_is_what_the_solver_found():
    result = symbolic.bce_minimiser_and_minimum()
    # Stored from sympy.solve, so a wrong loss or derivative would move it.
    assert result.minimiser == T
    loss = sp.lambdify((T, P), result.bce)
    for target in (0.1, 0.3, 0.75):
        probs = torch.tensor([0.2, 0.6], dtype=torch.float64)
        reference = F.binary_cross_entropy(
            probs, torch.full_like(probs, target), reduction="none"
        )
        assert loss(target, probs.numpy()) == pytest.approx(reference.numpy())
        found = optimize.minimize_scalar(
            lambda p, target=target: loss(target, p),
            bounds=(1e-9, 1 - 1e-9),
            method="bounded",
            options={"xatol": 1e-10},
        )
        at_target = float(result.minimiser.subs(T, target))
        assert found.x == pytest.approx(at_target, abs=1e-5)
        minimum = float(result.minimum.subs(T, target))
        assert found.fun == pytest.approx(minimum, rel=1e-9)


def test_continuous_bernoulli_normaliser():
    proof = symbolic.continuous_bernoulli_normaliser_integrates_to_one()
    assert proof.holds
    lam = sp.Symbol("lambda", positive=True)
    assert sp.N(proof.lhs.subs(lam, sp.Rational(1, 5))) == pytest.approx(1.0)
    # Without the constant C the density does not integrate to 1: that is
    # BCE's missing term.
    normaliser = 2 * sp.atanh(1 - 2 * lam) / (1 - 2 * lam)
    bare = float((proof.lhs / normaliser).subs(lam, sp.Rational(1, 5)))
    quadrature = integrate.quad(lambda x: 0.2**x * 0.8 ** (1 - x), 0, 1)[0]
    assert bare == pytest.approx(quadrature)
    assert bare != pytest.approx(1.0)
    logit = torch.tensor([math.log(0.2 / 0.8)], dtype=torch.float64)
    log_c = float(sp.log(normaliser.subs(lam, sp.Rational(1, 5))))
    package = continuous_bernoulli_log_normalizer(logit).item()
    assert log_c == pytest.approx(package, rel=1e-9)


def _call(function, *args):
    return lambda: function(*args)


BAD_INPUTS = [
    (
        _call(symbolic.gaussian_nll_identity, 0),
        ValueError,
        "n must be between 1 and 50, got 0",
    ),
    (
        _call(symbolic.gaussian_nll_identity, "3"),
        TypeError,
        "n must be an integer, got str '3'",
    ),
    (
        _call(symbolic.sum_of_squares_is_not_its_square_root, None),
        TypeError,
        "n must be an integer, got NoneType None",
    ),
    (
        _call(symbolic.sum_of_squares_is_not_its_square_root, 51),
        ValueError,
        "n must be between 1 and 50, got 51",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", BAD_INPUTS, ids=[b[2] for b in BAD_INPUTS]
)
def test_bad_inputs_raise_with_a_message(call, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call()


@pytest.mark.parametrize("n_points, dim", [(1, 1), (2, 1), (3, 2), (4, 3)])
def test_the_squared_error_splits_for_every_distribution_of_a_size(
    n_points, dim
):
    proof = symbolic.squared_error_split(n_points, dim)
    assert proof.holds
    # the two sides are functions of the points, weights and x_hat only
    weights = n_points - 1
    assert len(proof.lhs.free_symbols) == weights + (n_points + 1) * dim


def test_a_split_without_the_variance_or_with_the_plain_mean_is_refuted():
    lhs = symbolic.squared_error_split(3, 2).lhs
    p1, p2 = sp.symbols("p_1 p_2", positive=True)
    weights = [p1, p2, 1 - p1 - p2]
    x = [sp.Matrix(sp.symbols(f"x_{i}_1:3", real=True)) for i in (1, 2, 3)]
    x_hat = sp.Matrix(sp.symbols("xhat_1:3", real=True))

    def split(mean, weights):
        norm = lambda v: (v.T * v)[0, 0]  # noqa: E731
        variance = sum(
            w * norm(xi - mean) for w, xi in zip(weights, x, strict=True)
        )
        return norm(x_hat - mean), variance

    weighted = sum(
        (w * xi for w, xi in zip(weights, x, strict=True)), sp.zeros(2, 1)
    )
    distance, variance = split(weighted, weights)
    assert symbolic.prove_equal(lhs, distance + variance, "").holds
    assert not symbolic.prove_equal(lhs, distance, "").holds
    plain = sum(x, sp.zeros(2, 1)) / 3
    assert not symbolic.prove_equal(lhs, sum(split(plain, weights)), "").holds


def test_the_squared_error_split_in_numbers():
    # Independent of SymPy: an empirical distribution of 9 images of 16
    # pixels with unequal weights, and any x_hat.
    rng = torch.Generator().manual_seed(0)
    x = torch.rand(9, 16, generator=rng, dtype=torch.float64)
    p = torch.rand(9, generator=rng, dtype=torch.float64)
    p = p / p.sum()
    x_hat = torch.rand(16, generator=rng, dtype=torch.float64)
    x_bar = (p[:, None] * x).sum(0)
    expected = (p * ((x_hat - x) ** 2).sum(1)).sum()
    split = ((x_hat - x_bar) ** 2).sum() + (
        p * ((x - x_bar) ** 2).sum(1)
    ).sum()
    assert expected.item() == pytest.approx(split.item(), rel=1e-12)
    assert expected > ((x_hat - x_bar) ** 2).sum()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_points": 0}, "n_points must be between 1 and 6"),
        ({"dim": 5}, "dim must be between 1 and 4"),
        ({"n_points": 2.0}, "n_points"),
    ],
)
def test_squared_error_split_names_a_bad_size(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        symbolic.squared_error_split(**kwargs)
