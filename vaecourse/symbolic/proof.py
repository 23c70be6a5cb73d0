r"""The proof engine: an identity holds when its two sides' difference
simplifies to 0.

:func:`prove_equal` proves one identity and returns a :class:`Proof`;
:func:`check_derivation` proves each line of a derivation (a list of
:class:`DerivationStep`) equal to the next and names the first step that
fails. Every other module of :mod:`vaecourse.symbolic` builds the two sides
of its identities from definitions and hands them to these two functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real

import sympy as sp

__all__ = [
    "Proof",
    "prove_equal",
    "DerivationStep",
    "StepVerdict",
    "DerivationReport",
    "check_derivation",
]

HALF = sp.Rational(1, 2)


def _combined_sum_summand(expr: sp.Expr) -> sp.Expr | None:
    r"""Write ``expr`` as one ``Sum`` over shared limits; return its summand.

    Every term that is a multiple of a ``Sum`` contributes its summand; a
    term free of the index, ``c``, contributes ``c / m`` (since
    :math:`\sum_{i=1}^m c/m = c`). Returns ``None`` if the sums do not share
    their limits ``(i, 1, m)``.
    """
    sums = list(expr.atoms(sp.Sum))
    if not sums or any(s.limits != sums[0].limits for s in sums):
        return None
    ((index, lower, upper),) = sums[0].limits
    if lower != 1:
        return None
    summand = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(expr)):
        factors = sp.Mul.make_args(term)
        inner = [f for f in factors if isinstance(f, sp.Sum)]
        if len(inner) == 1:
            coefficient = sp.Mul(*[f for f in factors if f is not inner[0]])
            if coefficient.has(index):
                return None
            summand += coefficient * inner[0].function
        elif not inner and not term.has(index):
            summand += term / upper
        else:
            return None
    return summand


def _simplified_difference(lhs: sp.Expr, rhs: sp.Expr) -> sp.Expr:
    r"""Simplify ``lhs - rhs``: ``0`` exactly when the proof succeeds.

    Logarithms are expanded with the symbols' assumptions (never forced),
    so :math:`\log(ab) = \log a + \log b` is used only where it is true.
    """
    difference = sp.expand(sp.expand_log(sp.sympify(lhs) - sp.sympify(rhs)))
    if difference == 0:
        return sp.S.Zero
    simplified = sp.simplify(difference)
    if simplified != 0:
        simplified = sp.simplify(sp.expand(sp.expand_log(simplified)))
    if simplified != 0 and simplified.has(sp.Sum):
        # Sums over one range, plus free terms such as m: compare summands.
        summand = _combined_sum_summand(simplified)
        if summand is not None and _simplified_difference(summand, 0) == 0:
            return sp.S.Zero
    return simplified


def _as_expr(name: str, value: object) -> sp.Expr:
    """``value`` as a SymPy expression; a real number is accepted."""
    if isinstance(value, bool) or not isinstance(value, (Real, sp.Basic)):
        raise TypeError(
            f"{name} must be a SymPy expression or a real number, "
            f"got {type(value).__name__}"
        )
    return sp.sympify(value)


@dataclass(frozen=True)
class Proof:
    r"""The outcome of proving (or refuting) the identity ``lhs = rhs``.

    Attributes
    ----------
    statement : str
        The identity in words and plain-text math, e.g.
        ``"sigma = exp(log(sigma^2)/2) for sigma > 0"``.
    lhs, rhs : sympy.Expr
        The two sides, each built from its own definition.
    difference : sympy.Expr
        ``lhs - rhs`` after simplification: ``0`` when the identity holds.
    counterexample : dict or None
        For a refuted identity, values of the symbols at which the two
        sides differ (see :attr:`counterexample_values`).
    latex : str or None
        The identity as the book displays it, in LaTeX (no ``$``); the
        equation ledger (``tests/test_equation_ledger.py``) finds it, word
        for word, in the display it proves.
    """

    statement: str
    lhs: sp.Expr
    rhs: sp.Expr
    difference: sp.Expr
    counterexample: Mapping[sp.Symbol, sp.Expr] | None = None
    latex: str | None = None

    @property
    def holds(self) -> bool:
        """``True`` when ``lhs - rhs`` simplifies to 0 (a plain bool)."""
        return bool(self.difference == 0)

    @property
    def counterexample_values(self) -> tuple[sp.Expr, sp.Expr] | None:
        """``lhs`` and ``rhs`` at :attr:`counterexample`, or ``None``."""
        if self.counterexample is None:
            return None
        return (
            sp.simplify(self.lhs.subs(self.counterexample).doit()),
            sp.simplify(self.rhs.subs(self.counterexample).doit()),
        )

    def __bool__(self) -> bool:
        return self.holds

    def __str__(self) -> str:
        if self.holds:
            return f"{self.statement}: holds"
        if self.counterexample_values is not None:
            left, right = self.counterexample_values
            return (
                f"{self.statement}: does not hold "
                f"(counterexample: {left} != {right})"
            )
        return (
            f"{self.statement}: does not hold (difference = {self.difference})"
        )


def prove_equal(
    lhs: sp.Expr, rhs: sp.Expr, statement: str, latex: str | None = None
) -> Proof:
    """Prove ``lhs = rhs`` by simplifying their difference.

    Parameters
    ----------
    lhs, rhs : sympy.Expr
        The two sides (numbers are accepted and converted).
    statement : str
        What is being proved, for printing.
    latex : str, optional
        The identity as the book displays it (see :attr:`Proof.latex`).

    Returns
    -------
    Proof
        ``proof.holds`` is True when the difference simplifies to 0.
    """
    if not isinstance(statement, str):
        raise TypeError(
            f"statement must be a str, got {type(statement).__name__}"
        )
    if latex is not None and not isinstance(latex, str):
        raise TypeError(f"latex must be a str, got {type(latex).__name__}")
    lhs, rhs = _as_expr("lhs", lhs), _as_expr("rhs", rhs)
    return Proof(
        statement, lhs, rhs, _simplified_difference(lhs, rhs), latex=latex
    )


@dataclass(frozen=True)
class DerivationStep:
    """One line of a derivation.

    Attributes
    ----------
    label : str
        Why this line follows from the previous one (for the first line:
        what it is).
    latex : str
        The line as the book displays it, in LaTeX (no ``$``); the tests
        find it, word for word, in the chapter's text.
    expr : sympy.Expr
        The line as a SymPy expression.
    """

    label: str
    latex: str
    expr: sp.Expr


@dataclass(frozen=True)
class StepVerdict:
    """Whether line ``number - 1`` equals line ``number`` (from 1)."""

    number: int
    label: str
    equal: bool
    difference: sp.Expr

    def describe(self, show_difference: bool = True) -> str:
        """``"step 5 -> 6 (label): equal"`` or ``"...: not equal"``.

        A failed step also shows ``", difference = ..."`` unless
        ``show_difference`` is False.
        """
        head = f"step {self.number - 1} -> {self.number} ({self.label})"
        if self.equal:
            return f"{head}: equal"
        if show_difference:
            return f"{head}: not equal, difference = {self.difference}"
        return f"{head}: not equal"

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class DerivationReport:
    """Per-step verdicts of :func:`check_derivation`."""

    verdicts: tuple[StepVerdict, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when every line equals the next."""
        return all(v.equal for v in self.verdicts)

    @property
    def first_failure(self) -> StepVerdict | None:
        """The first step whose two lines differ, or ``None``."""
        return next((v for v in self.verdicts if not v.equal), None)

    def summary(self, show_difference: bool = True) -> str:
        """One line per step, then the conclusion (or the first failure)."""
        lines = [v.describe(show_difference) for v in self.verdicts]
        if self.ok:
            lines.append(f"all {len(self.verdicts)} steps proved")
        else:
            failure = self.first_failure.describe(show_difference)
            lines.append(f"first failure: {failure}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def check_derivation(steps: Sequence[DerivationStep]) -> DerivationReport:
    """Prove each line of a derivation equal to the next; name the failures.

    Parameters
    ----------
    steps : list of DerivationStep
        At least two lines, e.g. from
        :func:`notes_kl_derivation_steps`.

    Returns
    -------
    DerivationReport
        ``report.ok`` is True when every step holds;
        ``report.first_failure`` names the first step that does not, e.g.
        ``"step 5 -> 6 (log of a product = sum of logs): not equal, ..."``.
    """
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise TypeError(
            "steps must be a list of DerivationStep, "
            f"got {type(steps).__name__}"
        )
    for position, step in enumerate(steps):
        if not isinstance(step, DerivationStep):
            raise TypeError(
                f"steps[{position}] must be a DerivationStep, "
                f"got {type(step).__name__}"
            )
    if len(steps) < 2:
        raise ValueError(
            f"steps must hold at least 2 lines to compare, got {len(steps)}"
        )
    verdicts = []
    for number in range(2, len(steps) + 1):
        before, after = steps[number - 2], steps[number - 1]
        difference = _simplified_difference(before.expr, after.expr)
        verdicts.append(
            StepVerdict(number, after.label, bool(difference == 0), difference)
        )
    return DerivationReport(tuple(verdicts))
