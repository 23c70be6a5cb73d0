"""The book builds with warnings as errors and has every page of the toc."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from book_pages import (
    ROOT,
    book_config,
    book_displays,
    expected_colab_url,
    source_of,
    toc_docs,
)

import vaecourse

sys.path.insert(0, str(ROOT / "_ext"))
from equation_ledger import Entry, load_ledger  # noqa: E402

# How the API pages (book/api/*.md) ask autodoc for a module's reference.
AUTOMODULE = re.compile(r"^\.\. automodule:: ([\w.]+)\s*$", flags=re.M)
API_PAGES = sorted((ROOT / "book" / "api").glob("*.md"))


def api_modules(api_source: str) -> list[str]:
    """The modules an API page documents, in its order."""
    return AUTOMODULE.findall(api_source)


def public_names(module: ModuleType) -> list[str]:
    """What autodoc documents with ``:members:``: ``__all__`` where the
    module defines it, else the functions and classes defined in it."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
    ]


def missing_api_anchors(html: str, modules: list[str]) -> list[str]:
    """Public names without their own entry on the API page.

    Autodoc gives each documented object the anchor
    ``id="<module>.<name>"``. The bare name is not enough: the chapters'
    cross-references put it on the page many times over. A name that a
    package re-exports from a documented module of its own (the public
    names of ``vaecourse.pretrained`` come from ``files``, ``recipes`` and
    ``cli``) has its entry under that module.
    """
    loaded = {module: importlib.import_module(module) for module in modules}
    missing = []
    for module in modules:
        for name in public_names(loaded[module]):
            value = getattr(loaded[module], name)
            homes = [module] + [
                other
                for other, found in loaded.items()
                if other.startswith(module + ".")
                and getattr(found, name, None) is value
            ]
            if not any(f'id="{home}.{name}"' in html for home in homes):
                missing.append(f"{module}.{name}")
    return missing


def test_book_builds_and_has_every_toc_page(built_book):
    for doc in toc_docs():
        page = built_book / f"{doc}.html"
        assert page.is_file(), f"{doc} in _toc.yml has no page {page}"


def test_api_pages_list_every_module_of_the_package():
    documented = {
        module
        for page in API_PAGES
        for module in api_modules(page.read_text())
    }
    modules = {
        f"vaecourse.{info.name}"
        for info in pkgutil.iter_modules(vaecourse.__path__)
        if not info.name.startswith("_")
    }
    # A subpackage may be documented through its submodules instead.
    undocumented = sorted(
        module
        for module in modules
        if not any(
            name == module or name.startswith(module + ".")
            for name in documented
        )
    )
    assert not undocumented, f"no automodule in book/api/: {undocumented}"


@pytest.mark.parametrize("page", API_PAGES, ids=lambda page: page.stem)
def test_api_page_documents_every_public_name_of_its_modules(built_book, page):
    html = (built_book / "book" / "api" / f"{page.stem}.html").read_text()
    missing = missing_api_anchors(html, api_modules(page.read_text()))
    assert not missing, f"no autodoc entry on {page.name} for {missing}"


def test_the_api_index_links_every_api_page_and_the_toc_lists_them():
    index = (ROOT / "book" / "api.md").read_text()
    docs = toc_docs()
    for page in API_PAGES:
        assert f"<api/{page.stem}>`" in index, page.name
        assert f"book/api/{page.stem}" in docs, page.name


def test_missing_api_anchors_ignores_a_name_that_is_only_referenced():
    # A page that only links to gaussian_nll, as the chapters do.
    target = "vaecourse.losses.gaussian_nll"
    html = (
        f'<a href="#{target}"><code>gaussian_nll</code></a>'
        f"<span>{target}</span>"
    )
    missing = missing_api_anchors(html, ["vaecourse.losses"])
    assert target in missing
    entry = f'<dt class="sig sig-object py" id="{target}">'
    assert target not in missing_api_anchors(
        html + entry, ["vaecourse.losses"]
    )


def test_a_re_exported_name_counts_under_the_submodule_that_defines_it():
    modules = ["vaecourse.pretrained", "vaecourse.pretrained.recipes"]
    entry = '<dt class="sig sig-object py" id="vaecourse.pretrained.{}.{}">'
    names = ["load", "record", "evaluate", "RECIPES", "Recipe"]
    html = "".join(entry.format("recipes", name) for name in names)
    missing = missing_api_anchors(html, modules)
    assert "vaecourse.pretrained.load" not in missing
    # train is re-exported from cli, which this page does not document
    assert "vaecourse.pretrained.train" in missing


def test_api_modules_reads_the_automodule_directives():
    source = (
        "## `vaecourse.losses`\n\n```{eval-rst}\n"
        ".. automodule:: vaecourse.losses\n   :members:\n```\n"
        "See `vaecourse.models` for the networks.\n"
        "```{eval-rst}\n.. automodule:: vaecourse.train\n```\n"
    )
    assert api_modules(source) == ["vaecourse.losses", "vaecourse.train"]


def test_bibliography_lists_the_notes_sources(built_book):
    # The plain style lowercases titles, so compare without case.
    html = (built_book / "book" / "bibliography.html").read_text().lower()
    for title in [
        "Auto-Encoding Variational",
        "Early Visual Concept Learning",
        "DARLA",
        "Understanding Variational Autoencoders",
        "VQ-VAE",
        "Loss Function",
        "The Variational Auto-Encoder",
        "cnblogs",
    ]:
        assert title.lower() in html, (
            f"{title!r} missing from the bibliography"
        )


def test_notebook_pages_have_a_colab_button(built_book):
    config = book_config()
    chapters = [doc for doc in toc_docs() if source_of(doc).suffix == ".ipynb"]
    assert chapters, "_toc.yml names no notebook"
    for doc in chapters:
        html = (built_book / f"{doc}.html").read_text()
        url = expected_colab_url(doc, config)
        assert url in html, f"{doc}.html has no Colab button to {url}"


def test_pages_use_the_local_mathjax(built_book):
    html = (built_book / "book" / "00_first_look.html").read_text()
    scripts = re.findall(
        r'<script[^>]+src="([^"]*mathjax[^"]*)"', html, flags=re.I
    )
    assert scripts and all("cdn" not in s for s in scripts), scripts
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file()


# ------------------------------------------------------ the equation ledger


def ledger_mark_problems(html: str, page: str, entries: list) -> list[str]:
    """What is missing from a built page's equation marks: for each entry
    of the ledger shown on the page, its display, then under it (before the
    next display) the mark of its status, linked to its proof's API entry
    and to its tests in the repository."""
    problems = []
    for entry in entries:
        start = html.find(f'id="equation-{entry.label}"')
        if start < 0:
            problems.append(f"{page}: no display labelled {entry.label!r}")
            continue
        following = html.find('id="equation-', start + 1)
        below = html[start : following if following > 0 else len(html)]
        if f'class="equation-tie equation-tie-{entry.status}"' not in below:
            problems.append(
                f"{page}: the display {entry.label!r} has no "
                f"{entry.status!r} mark"
            )
            continue
        if entry.proof:
            module, _, name = entry.proof.rpartition(".")
            if (
                f"#{entry.proof}" not in below
                and f"#{module}.{name}" not in below
            ):
                problems.append(
                    f"{page}: the mark of {entry.label!r} does not link "
                    f"its proof {entry.proof}"
                )
        for test in entry.tests:
            file = test.partition("::")[0]
            if f"/blob/main/{file}#L" not in below:
                problems.append(
                    f"{page}: the mark of {entry.label!r} does not link {test}"
                )
    return problems


def ledger_entries_by_page() -> dict[str, list]:
    ledger = load_ledger()
    pages: dict[str, list] = {}
    for display in book_displays():
        if display.label in ledger:
            pages.setdefault(display.page, []).append(ledger[display.label])
    return pages


def test_every_display_shows_its_mark_in_the_built_book(built_book):
    pages = ledger_entries_by_page()
    assert len(pages) >= 10
    problems = []
    for page, entries in pages.items():
        html_path = built_book / Path(page).with_suffix(".html")
        problems += ledger_mark_problems(html_path.read_text(), page, entries)
    assert not problems, "\n".join(problems)


def test_the_ledger_page_lists_every_equation(built_book):
    html = (built_book / "book" / "equations.html").read_text()
    ledger = load_ledger()
    missing = [label for label in ledger if f'#equation-{label}"' not in html]
    assert not missing, f"the ledger page does not link {missing}"
    counts = Counter(entry.status for entry in ledger.values())
    assert f"{len(ledger)} displayed equations: " in html
    assert f"{counts['proved']} proved" in html


def test_a_missing_or_unlinked_mark_is_found():
    entry = Entry(
        "kl",
        "proved",
        proof="vaecourse.symbolic.f",
        tests=("tests/test_x.py::test_y",),
    )
    display = '<div class="math" id="equation-kl">'
    mark = '<p class="equation-tie equation-tie-proved">'
    proof = '<a href="../api/symbolic.html#vaecourse.symbolic.f">'
    test = '<a href="https://github.com/o/r/blob/main/tests/test_x.py#L3">'
    assert (
        ledger_mark_problems(display + mark + proof + test, "p", [entry]) == []
    )
    (problem,) = ledger_mark_problems(display + proof + test, "p", [entry])
    assert "has no 'proved' mark" in problem
    (problem,) = ledger_mark_problems(display + mark + test, "p", [entry])
    assert "does not link its proof" in problem
    # a mark under the next display is not this display's
    other = '<div class="math" id="equation-other">'
    (problem,) = ledger_mark_problems(
        display + other + mark + proof + test, "p", [entry]
    )
    assert "has no 'proved' mark" in problem
