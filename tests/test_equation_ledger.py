"""The equation ledger (book/equations.yml, _ext/equation_ledger.py): every
displayed equation of the book is labelled and entered, every test an entry
names exists, and every display that a proof ties shows that proof's LaTeX,
word for word, and the proof holds.

The marks and the ledger page in the built book are checked by
tests/test_book_build.py.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path

import pytest
from book_pages import ROOT, Display, book_displays, displays_in

sys.path.insert(0, str(ROOT / "_ext"))
from equation_ledger import (  # noqa: E402
    Entry,
    LedgerError,
    line_of_test,
    load_ledger,
    parse_ledger,
)

from vaecourse import symbolic  # noqa: E402


@functools.cache
def proof_of(target: str, args: tuple = ()):
    """The proof a dotted name returns (computed once per name and args)."""
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)(*args)


def proof_latex_and_holds(entry: Entry, prove=proof_of):
    """The LaTeX lines an entry's proof ties to its display, and whether the
    proof holds."""
    proof = prove(entry.proof, entry.args)
    # A result that carries its proof, e.g. GaussianPosterior.proof.
    proof = getattr(proof, "proof", proof)
    if isinstance(proof, symbolic.Proof):
        if proof.latex is None:
            raise LedgerError(f"{entry.label}: {entry.proof} has no latex")
        return [proof.latex], proof.holds
    steps = list(proof)
    if not entry.lines:
        raise LedgerError(f"{entry.label}: name the lines of {entry.proof}")
    if max(entry.lines) > len(steps):
        raise LedgerError(
            f"{entry.label}: {entry.proof} has {len(steps)} lines, "
            f"not {max(entry.lines)}"
        )
    latex = [steps[n - 1].latex for n in entry.lines]
    return latex, symbolic.check_derivation(steps).ok


def short(latex: str, width: int = 60) -> str:
    return latex if len(latex) <= width else latex[: width - 3] + "..."


def ledger_problems(
    displays: list[Display],
    ledger: dict[str, Entry],
    root: Path = ROOT,
    prove=proof_of,
) -> list[str]:
    """What ties no display to the ledger, or the ledger to no code."""
    problems = []
    shown: dict[str, Display] = {}
    for display in displays:
        where = f"{display.page}: the display {short(display.latex)!r}"
        if display.label is None:
            problems.append(f"{where} has no label")
        elif display.label in shown:
            problems.append(f"{where} reuses the label {display.label!r}")
        elif display.label not in ledger:
            problems.append(
                f"{where} (label {display.label!r}) has no ledger entry"
            )
        if display.label and display.label not in shown:
            shown[display.label] = display
    for label, entry in ledger.items():
        if label not in shown:
            problems.append(f"the entry {label!r} labels no display")
            continue
        for test in entry.tests:
            if line_of_test(test, root) is None:
                problems.append(
                    f"the entry {label!r} names a test that does not "
                    f"exist: {test}"
                )
        if entry.proof is None:
            continue
        try:
            latex, holds = proof_latex_and_holds(entry, prove)
        except (LedgerError, ImportError, AttributeError) as error:
            problems.append(f"the entry {label!r}: {error}")
            continue
        if entry.status == "proved" and not holds:
            problems.append(f"the entry {label!r}: {entry.proof} fails")
        if entry.status == "erratum" and holds:
            problems.append(
                f"the entry {label!r}: an erratum, but {entry.proof} holds"
            )
        display = " ".join(shown[label].latex.split())
        for line in latex:
            if " ".join(line.split()) not in display:
                problems.append(
                    f"the display {label!r} differs from its proof "
                    f"{entry.proof}, which proves {short(line)!r}"
                )
    return problems


# ------------------------------------------------------------ the ledger


def test_every_display_is_labelled_entered_and_tied_to_existing_code():
    problems = ledger_problems(book_displays(), load_ledger())
    assert not problems, "\n".join(problems)


def test_the_ledger_covers_the_book():
    """Not a vacuous pass: the parser finds the chapters' displays, and
    no claim is left as a bare statement."""
    displays = book_displays()
    ledger = load_ledger()
    assert len(displays) >= 70
    assert {d.page for d in displays} >= {
        "book/03_from_autoencoder_to_vae.ipynb",
        "book/07_kl_divergence.ipynb",
        "book/12_vq_vae.ipynb",
    }
    statuses = {entry.status for entry in ledger.values()}
    assert statuses <= {"proved", "tested", "definition", "erratum"}
    assert sum(e.status == "proved" for e in ledger.values()) >= 15


# ------------------------------------------------------ negative cases


def test_an_unlabelled_display_is_a_problem():
    displays = displays_in(
        "book/x.ipynb", "Text\n$$\na = b\n$$\n(not a label)"
    )
    assert displays == [Display("book/x.ipynb", "a = b", None)]
    (problem,) = ledger_problems(displays, {})
    assert "'a = b' has no label" in problem


def test_a_display_in_a_directive_counts_and_one_in_code_does_not():
    text = (
        "```{admonition} A box\n$$\na\n$$ (in-box)\n```\n\n"
        "```python\nprint('$$b$$')\n```\n"
    )
    assert [d.label for d in displays_in("p", text)] == ["in-box"]


def test_a_label_follows_its_display_on_the_same_line():
    (display,) = displays_in("p", "$$\nx^2\n$$ (square)\n")
    assert display.label == "square"


def test_a_display_without_an_entry_and_an_entry_without_a_display():
    displays = [Display("p", "a = b", "eq-a")]
    ledger = {"eq-b": Entry("eq-b", "definition")}
    problems = ledger_problems(displays, ledger)
    assert any("'eq-a') has no ledger entry" in p for p in problems)
    assert any("'eq-b' labels no display" in p for p in problems)


def test_a_test_that_does_not_exist_is_a_problem():
    here = "tests/test_equation_ledger.py"
    ledger = {
        "e": Entry(
            "e", "tested", tests=(f"{here}::test_nothing_by_this_name",)
        )
    }
    (problem,) = ledger_problems([Display("p", "a = b", "e")], ledger)
    assert "names a test that does not exist" in problem
    real = f"{here}::test_a_label_follows_its_display_on_the_same_line"
    real = {"e": Entry("e", "tested", tests=(real,))}
    assert ledger_problems([Display("p", "a = b", "e")], real) == []


def proved_entry_and_display() -> tuple[Entry, Display]:
    ledger = load_ledger()
    entry = ledger["completing-the-square"]
    (display,) = [d for d in book_displays() if d.label == entry.label]
    return entry, display


def test_a_display_changed_without_its_proof_is_a_problem():
    entry, display = proved_entry_and_display()
    ledger = {entry.label: entry}
    assert ledger_problems([display], ledger) == []
    # The reader's display loses a factor: the proof still proves the old.
    latex = display.latex.replace("\\frac{w^2}{s^2}", "w^2")
    changed = Display(display.page, latex, entry.label)
    assert changed.latex != display.latex
    (problem,) = ledger_problems([changed], ledger)
    assert "differs from its proof" in problem


def test_a_proof_that_fails_is_a_problem():
    entry, display = proved_entry_and_display()
    steps = list(proof_of(entry.proof))
    wrong = symbolic.DerivationStep(
        steps[-1].label, steps[-1].latex, steps[-1].expr + 1
    )
    (problem,) = ledger_problems(
        [display],
        {entry.label: entry},
        prove=lambda *_: [*steps[:-1], wrong],
    )
    assert "fails" in problem


@pytest.mark.parametrize(
    "text, message",
    [
        ("x: {status: proven}", "status must be one of"),
        ("x: {status: proved}", "names its proof"),
        ("x: {status: tested}", "names its tests"),
        ("x: {status: tested, tests: [test_a.py::f]}", "tests/FILE.py::NAME"),
        ("x: {status: definition, lines: [1]}", "belong to a proof"),
        ("x: {status: definition, proved_by: y}", "unknown fields"),
    ],
)
def test_a_malformed_entry_is_named(text, message):
    with pytest.raises(LedgerError, match=message):
        parse_ledger(text)
