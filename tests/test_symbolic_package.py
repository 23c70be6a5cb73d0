"""Tests of vaecourse.symbolic as a whole (its __init__): every public name
is importable from the package, and the chapters display, word for word,
every line of every derivation the package proves for them."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
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


POSTERIOR_CHAPTER = "03_from_autoencoder_to_vae.ipynb"
KL_CHAPTER = "07_kl_divergence.ipynb"
ELBO_CHAPTER = "06_elbo.ipynb"
notes = symbolic.notes_kl_derivation_steps

# (chapter, derivation, its lines, the lines the chapter displays from 1)
DISPLAYED = [
    (
        POSTERIOR_CHAPTER,
        "completing the square",
        symbolic.completing_the_square_steps,
        [1, 2, 3],
    ),
    (KL_CHAPTER, "notes, corrected", notes, range(1, 9)),
    (
        KL_CHAPTER,
        "notes, symbolic m",
        symbolic.notes_kl_derivation_steps_symbolic_dimension,
        range(1, 5),
    ),
    # The slips the chapter shows: the last line as the notes print it,
    # and their n for m in the general formula.
    (KL_CHAPTER, "notes, dropped index", lambda: notes("dropped_index"), [8]),
    (KL_CHAPTER, "notes, n for m", lambda: notes("index_n"), [2]),
    (KL_CHAPTER, "log ratio", symbolic.gaussian_log_ratio_steps, [1, 2]),
    (KL_CHAPTER, "trace lemma", symbolic.trace_lemma_steps, [1, 2, 3]),
    (
        KL_CHAPTER,
        "k dimensions",
        symbolic.multivariate_kl_derivation_steps,
        [1, 2, 3],
    ),
    (
        ELBO_CHAPTER,
        "aggregate variance",
        symbolic.linear_gaussian_aggregate_variance_steps,
        [1, 2, 3, 4],
    ),
]


@pytest.mark.parametrize(
    "chapter, derivation, lines",
    [(c, d, n) for c, _, d, n in DISPLAYED],
    ids=[name for _, name, _, _ in DISPLAYED],
)
def test_the_chapter_displays_every_line_it_proves(chapter, derivation, lines):
    text = displayed(chapter)
    steps = derivation()
    missing = [
        f"line {n}: {steps[n - 1].latex}"
        for n in lines
        if " ".join(steps[n - 1].latex.split()) not in text
    ]
    assert not missing, f"{chapter} does not display " + "; ".join(missing)
