"""Tests of vaecourse.symbolic as a whole (its __init__): every public name
is importable from the package. That the chapters display, word for word,
what the package proves is the equation ledger's test
(tests/test_equation_ledger.py)."""

from __future__ import annotations

import importlib
import pkgutil

from book_pages import BOOK_DIR, markdown_texts

from vaecourse import symbolic

# The public names before the module became a subpackage: chapters, tests
# and readers' code use them as symbolic.<name>.
NAMES_BEFORE_THE_SPLIT = [
    "Proof",
    "prove_equal",
    "standard_normal_moment",
    "kl_univariate_gaussians_closed_form",
    "kl_univariate_gaussians_from_integral",
    "kl_multivariate_gaussians_formula",
    "kl_multivariate_gaussians_from_expectation",
    "verify_multivariate_kl",
    "verify_diagonal_kl_symbolic_dimension",
    "DerivationStep",
    "StepVerdict",
    "DerivationReport",
    "DERIVATION_VARIANTS",
    "notes_kl_derivation_steps",
    "notes_kl_derivation_steps_symbolic_dimension",
    "check_derivation",
    "gaussian_nll_identity",
    "sum_of_squares_is_not_its_square_root",
    "BCEMinimum",
    "bce_minimiser_and_minimum",
    "continuous_bernoulli_normaliser_integrates_to_one",
    "log_variance_identity",
    "linear_gaussian_symbols",
    "GaussianPosterior",
    "linear_gaussian_exact_posterior",
    "linear_gaussian_log_evidence",
    "linear_gaussian_elbo",
    "linear_gaussian_elbo_identity",
    "ElboGap",
    "linear_gaussian_elbo_gap",
]


def submodules() -> list:
    return [
        importlib.import_module(f"vaecourse.symbolic.{info.name}")
        for info in pkgutil.iter_modules(symbolic.__path__)
    ]


def test_the_names_of_before_the_split_are_still_public():
    assert set(NAMES_BEFORE_THE_SPLIT) <= set(symbolic.__all__)
    for name in symbolic.__all__:
        assert hasattr(symbolic, name), name


def test_every_public_name_of_a_submodule_is_exported_once():
    exported = [n for module in submodules() for n in module.__all__]
    assert len(exported) == len(set(exported))
    assert set(exported) == set(symbolic.__all__)
    for module in submodules():
        for name in module.__all__:
            assert getattr(symbolic, name) is getattr(module, name)


def displayed(chapter: str) -> str:
    """A chapter's Markdown text, with every run of whitespace one space:
    a display may break a line anywhere."""
    return " ".join(" ".join(markdown_texts(BOOK_DIR / chapter)).split())


KL_CHAPTER = "07_kl_divergence.ipynb"


def test_the_chapter_quotes_the_notes_last_line_as_printed():
    # Inline, so not in the equation ledger (tests/test_equation_ledger.py,
    # which ties every display to its proof): the notes' last line with
    # its index dropped, which the chapter quotes and refutes.
    steps = symbolic.notes_kl_derivation_steps("dropped_index")
    assert " ".join(steps[7].latex.split()) in displayed(KL_CHAPTER)
    assert not symbolic.check_derivation(steps).ok
