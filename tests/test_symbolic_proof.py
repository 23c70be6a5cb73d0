"""Tests of vaecourse.symbolic.proof: true identities hold, false ones do not,
and a derivation's failing step is named."""

from __future__ import annotations

import re

import pytest
import sympy as sp
import torch

from vaecourse import symbolic
from vaecourse.symbolic.proof import _combined_sum_summand


def test_prove_equal_reports_true_and_false_identities():
    x = sp.Symbol("x", positive=True)
    proof = symbolic.prove_equal(sp.log(x**2), 2 * sp.log(x), "log x^2")
    assert proof.holds is True and proof.difference == 0
    assert str(proof) == "log x^2: holds"
    wrong = symbolic.prove_equal(sp.log(x**2), sp.log(x), "log x^2 = log x")
    assert wrong.holds is False and not wrong
    assert sp.simplify(wrong.difference - sp.log(x)) == 0
    assert str(wrong) == "log x^2 = log x: does not hold (difference = log(x))"


def test_logs_are_expanded_only_where_true():
    y = sp.Symbol("y", real=True)
    proof = symbolic.prove_equal(sp.log(y**2), 2 * sp.log(y), "y real")
    assert not proof.holds
    # The two sides differ at y = -1: log 1 = 0, but 2 log(-1) = 2 i pi.
    assert proof.difference.subs(y, -1) != 0


def test_sums_over_a_symbolic_range_are_compared_by_their_summands():
    m = sp.Symbol("m", integer=True, positive=True)
    i = sp.Symbol("i", integer=True, positive=True)
    a = sp.IndexedBase("a", real=True)
    # sum_i (a_i + 1) = sum_i a_i + m: the free m is spread over the sum.
    lhs = sp.Sum(a[i] + 1, (i, 1, m))
    rhs = sp.Sum(a[i], (i, 1, m)) + m
    assert symbolic.prove_equal(lhs, rhs, "sum_i 1 = m").holds
    assert not symbolic.prove_equal(lhs, rhs - m / 2, "m/2 short").holds
    # Sums over different ranges are not merged.
    n = sp.Symbol("n", integer=True, positive=True)
    other = sp.Sum(a[i], (i, 1, n)) + m
    assert not symbolic.prove_equal(lhs, other, "n terms").holds


def test_sums_over_one_range_are_combined_into_one_summand():
    # The fallback for SymPy versions whose simplify leaves such sums apart.
    m = sp.Symbol("m", integer=True, positive=True)
    n = sp.Symbol("n", integer=True, positive=True)
    i = sp.Symbol("i", integer=True, positive=True)
    a = sp.IndexedBase("a", real=True)

    def total(f: sp.Expr, upper: sp.Expr = m, lower: int = 1) -> sp.Sum:
        return sp.Sum(f, (i, lower, upper))

    # sum_i a_i + 2 sum_i a_i^2 + m = sum_i (a_i + 2 a_i^2 + 1)
    summand = _combined_sum_summand(total(a[i]) + 2 * total(a[i] ** 2) + m)
    assert sp.expand(summand - (a[i] + 2 * a[i] ** 2 + 1)) == 0
    assert _combined_sum_summand(total(a[i]) + total(a[i], n)) is None
    assert _combined_sum_summand(total(a[i], lower=0)) is None
    assert _combined_sum_summand(i * total(a[i])) is None


def test_a_counterexample_is_printed_with_both_values():
    d = sp.Symbol("d", real=True)
    proof = symbolic.Proof("d^2 = d", d**2, d, d**2 - d, {d: sp.Integer(3)})
    assert proof.counterexample_values == (9, 3)
    assert str(proof) == "d^2 = d: does not hold (counterexample: 9 != 3)"


def _steps(*exprs: sp.Expr) -> list[symbolic.DerivationStep]:
    return [
        symbolic.DerivationStep(f"line {n}", f"L_{n}", expr)
        for n, expr in enumerate(exprs, start=1)
    ]


def test_check_derivation_proves_each_step():
    x = sp.Symbol("x", real=True)
    report = symbolic.check_derivation(_steps((x + 1) ** 2, x**2 + 2 * x + 1))
    assert report.ok and report.first_failure is None
    assert str(report) == "step 1 -> 2 (line 2): equal\nall 1 steps proved"


def test_check_derivation_names_the_first_wrong_step():
    x = sp.Symbol("x", real=True)
    steps = _steps(2 * x, x + x, 3 * x, 3 * x)
    report = symbolic.check_derivation(steps)
    assert not report.ok
    assert [v.equal for v in report.verdicts] == [True, False, True]
    assert report.first_failure.number == 3
    assert report.first_failure.difference == -x
    assert report.summary() == (
        "step 1 -> 2 (line 2): equal\n"
        "step 2 -> 3 (line 3): not equal, difference = -x\n"
        "step 3 -> 4 (line 4): equal\n"
        "first failure: step 2 -> 3 (line 3): not equal, difference = -x"
    )
    assert report.summary(show_difference=False).endswith(
        "first failure: step 2 -> 3 (line 3): not equal"
    )


def _call(function, *args):
    return lambda: function(*args)


x = sp.Symbol("x")
BAD_INPUTS = [
    (
        _call(symbolic.prove_equal, 1, 1, 3),
        TypeError,
        "statement must be a str, got int",
    ),
    (
        _call(symbolic.prove_equal, torch.tensor(1.0), 1, "x"),
        TypeError,
        "lhs must be a SymPy expression or a real number, got Tensor",
    ),
    (
        _call(symbolic.prove_equal, 1, True, "x"),
        TypeError,
        "rhs must be a SymPy expression or a real number, got bool",
    ),
    (
        _call(symbolic.check_derivation, []),
        ValueError,
        "steps must hold at least 2 lines to compare, got 0",
    ),
    (
        _call(symbolic.check_derivation, _steps(x)),
        ValueError,
        "steps must hold at least 2 lines to compare, got 1",
    ),
    (
        _call(symbolic.check_derivation, "abc"),
        TypeError,
        "steps must be a list of DerivationStep, got str",
    ),
    (
        _call(symbolic.check_derivation, [1, 2]),
        TypeError,
        "steps[0] must be a DerivationStep, got int",
    ),
    (
        _call(symbolic.check_derivation, [*_steps(x), x]),
        TypeError,
        "steps[1] must be a DerivationStep, got Symbol",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", BAD_INPUTS, ids=[b[2] for b in BAD_INPUTS]
)
def test_bad_inputs_raise_with_a_message(call, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call()
