"""Tests of vaecourse.symbolic.notes_derivation: the notes' derivation of the
KL term is proved line by line, and every slip is caught and named."""

from __future__ import annotations

import re

import pytest
import sympy as sp
import torch

from vaecourse import symbolic
from vaecourse.distributions import kl_diag_gaussian_std_normal


def test_the_corrected_derivation_is_proved_line_by_line():
    steps = symbolic.notes_kl_derivation_steps()
    assert len(steps) == 8
    report = symbolic.check_derivation(steps)
    assert report.ok, str(report)  # on failure, the report names the step
    assert report.first_failure is None
    assert [v.equal for v in report.verdicts] == [True] * 7
    assert str(report).endswith("all 7 steps proved")


@pytest.mark.parametrize("m", [1, 2, 4])
def test_the_derivation_holds_in_other_dimensions(m):
    report = symbolic.check_derivation(symbolic.notes_kl_derivation_steps(m=m))
    assert report.ok, str(report)


def test_the_derivation_for_symbolic_dimension():
    steps = symbolic.notes_kl_derivation_steps_symbolic_dimension()
    assert all(step.expr.has(sp.Sum) for step in steps)
    report = symbolic.check_derivation(steps)
    assert report.ok, str(report)


def test_the_first_line_is_the_kl_and_the_last_matches_the_package():
    steps = symbolic.notes_kl_derivation_steps(m=2)
    mu, sigma = [0.5, -1.5], [0.8, 1.7]
    values = {
        sp.Symbol(f"mu_{i + 1}", real=True): sp.nsimplify(mu[i])
        for i in range(2)
    }
    values |= {
        sp.Symbol(f"sigma_{i + 1}", positive=True): sp.nsimplify(sigma[i])
        for i in range(2)
    }
    logvar = 2 * torch.log(torch.tensor(sigma, dtype=torch.float64))
    expected = kl_diag_gaussian_std_normal(
        torch.tensor(mu, dtype=torch.float64), logvar
    ).item()
    for step in (steps[0], steps[-1]):
        assert step.expr.free_symbols == set(values)
        assert float(step.expr.subs(values)) == pytest.approx(
            expected, rel=1e-9
        )


WRONG_VARIANTS = [
    (
        "dropped_half",
        "step 5 -> 6 (log of a product = sum of logs): not equal",
    ),
    ("sign_flip", "step 7 -> 8 (factor out -1/2): not equal"),
    ("index_n", "step 1 -> 2 (the general Gaussian KL formula): not equal"),
    ("dropped_index", "step 7 -> 8 (factor out -1/2): not equal"),
]


@pytest.mark.parametrize(
    "variant, named", WRONG_VARIANTS, ids=[w[0] for w in WRONG_VARIANTS]
)
def test_a_wrong_step_is_reported_by_name(variant, named):
    report = symbolic.check_derivation(
        symbolic.notes_kl_derivation_steps(variant)
    )
    assert not report.ok
    assert report.first_failure.describe().startswith(named)
    assert f"first failure: {named}" in str(report)


SYMBOLIC_WRONG_VARIANTS = [
    (
        "dropped_half",
        "step 1 -> 2 (log of a product = sum of logs): not equal",
    ),
    ("sign_flip", "step 3 -> 4 (factor out -1/2): not equal"),
    ("index_n", "step 1 -> 2 (log of a product = sum of logs): not equal"),
    ("dropped_index", "step 3 -> 4 (factor out -1/2): not equal"),
]


@pytest.mark.parametrize(
    "variant, named",
    SYMBOLIC_WRONG_VARIANTS,
    ids=[w[0] for w in SYMBOLIC_WRONG_VARIANTS],
)
def test_a_wrong_step_of_symbolic_dimension_is_reported_by_name(
    variant, named
):
    steps = symbolic.notes_kl_derivation_steps_symbolic_dimension(variant)
    report = symbolic.check_derivation(steps)
    assert report.first_failure.describe(show_difference=False) == named


def test_the_index_slip_costs_exactly_n_minus_m_over_two():
    report = symbolic.check_derivation(
        symbolic.notes_kl_derivation_steps("index_n", m=3)
    )
    n = sp.Symbol("n", integer=True, positive=True)
    assert sp.simplify(report.first_failure.difference - (n - 3) / 2) == 0


def test_a_step_inserted_by_hand_is_named():
    steps = symbolic.notes_kl_derivation_steps()
    wrong = symbolic.DerivationStep(
        "a sign flip in the last step", "...", -steps[-1].expr
    )
    report = symbolic.check_derivation([*steps, wrong])
    assert [v.equal for v in report.verdicts] == [True] * 7 + [False]
    assert report.first_failure.describe(show_difference=False) == (
        "step 8 -> 9 (a sign flip in the last step): not equal"
    )


def test_every_variant_is_described():
    assert set(symbolic.DERIVATION_VARIANTS) == {
        "corrected",
        *(variant for variant, _ in WRONG_VARIANTS),
    }


def _call(function, *args, **kwargs):
    return lambda: function(*args, **kwargs)


steps_for = symbolic.notes_kl_derivation_steps
BAD_INPUTS = [
    (
        _call(steps_for, "typo"),
        ValueError,
        "unknown variant 'typo'; choose one of corrected, dropped_half, "
        "sign_flip, index_n, dropped_index",
    ),
    (_call(steps_for, 3), TypeError, "variant must be a str, got int"),
    (_call(steps_for, m=0), ValueError, "m must be between 1 and 6, got 0"),
    (_call(steps_for, m=7), ValueError, "m must be between 1 and 6, got 7"),
    (
        _call(steps_for, m=2.0),
        TypeError,
        "m must be an integer, got float 2.0",
    ),
    (
        _call(symbolic.notes_kl_derivation_steps_symbolic_dimension, "x"),
        ValueError,
        "unknown variant 'x'; choose one of corrected, dropped_half, "
        "sign_flip, index_n, dropped_index",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", BAD_INPUTS, ids=[b[2] for b in BAD_INPUTS]
)
def test_bad_inputs_raise_with_a_message(call, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call()
