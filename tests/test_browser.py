"""The built book, read as its readers read it: in a real browser, offline.

Serves `_build/html` on 127.0.0.1 and opens every page of `_toc.yml` in
headless Chromium (Debian's `chromium`, driven by Playwright's Python package;
no browser is downloaded). Each page must load without console errors or
failed requests, request nothing off the site, have every equation typeset
by the bundled MathJax and no raw TeX in its text, load every image, link only
to same-site pages that exist, and (notebooks only) have a Colab button that
opens that notebook in the configured repository. The checks themselves are in
tests/book_pages.py; the second half of this file proves that they catch a
missing image, a broken link, raw `$$`, a missing MathJax and a wrong Colab
button, and name the page.

Where Chromium is missing the test skips, unless VAECOURSE_REQUIRE_BROWSER=1
(set by `make test` wherever it can install Chromium), which makes it fail.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from pathlib import Path

import pytest

from book_pages import (
    CHROMIUM_ARGS,
    book_config,
    check_links,
    check_page,
    expected_colab_url,
    serve,
    source_has_math,
    source_of,
    toc_docs,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS = toc_docs()
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 900}


def find_chromium() -> str | None:
    """VAECOURSE_CHROMIUM if set (another Chromium build), else Debian's."""
    chosen = os.environ.get("VAECOURSE_CHROMIUM")
    candidates = [chosen] if chosen else [shutil.which("chromium"), "/usr/bin/chromium"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def unavailable(reason: str):
    message = (
        f"{reason}. The browser test needs Debian's Chromium (apt-get install chromium; "
        "`make test` installs it where it runs as root) and Playwright's Python package "
        "(pip install -e '.[test]'; no browser download is needed)."
    )
    if os.environ.get("VAECOURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " VAECOURSE_REQUIRE_BROWSER=1: this machine must run it.", pytrace=False)
    pytest.skip(message)


# Module scope: Playwright stops (with its event loop) before other test files run.
@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        unavailable("Chromium not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright's Python package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    # A fresh context per page: no cache, no localStorage, as a first visit.
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def site(built_book):
    with serve(built_book) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def link_cache() -> dict:
    return {}


@functools.cache
def screenshot_doc() -> str | None:
    """The chapter whose screenshot is saved: the first notebook with math."""
    for doc in DOCS:
        try:
            source = source_of(doc)
        except LookupError:  # reported by that page's own test
            continue
        if source.suffix == ".ipynb" and source_has_math(source):
            return doc
    return None


@pytest.mark.parametrize("doc", DOCS)
def test_toc_page_reads_well_in_chromium(doc, page, site, link_cache):
    source = source_of(doc)
    colab_url = expected_colab_url(doc, book_config()) if source.suffix == ".ipynb" else None
    report = check_page(page, site, f"{doc}.html", expect_math=source_has_math(source), colab_url=colab_url)
    check_links(report, site, link_cache)
    if doc == screenshot_doc():
        if report.facts.get("typeset"):
            page.locator("mjx-container").first.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chapter.png"))
    if report.problems:
        pytest.fail("\n".join(report.problems), pytrace=False)


# ------------------------------------------ the checks catch broken pages

def _chapter_doc() -> str:
    return next(doc for doc in DOCS if source_of(doc).suffix == ".ipynb")


@pytest.fixture(scope="module")
def broken_site(built_book, tmp_path_factory):
    """A copy of the built book (links to its files) with broken chapter pages
    added next to the real ones, so their relative links still resolve."""
    site = tmp_path_factory.mktemp("broken-site")
    for entry in built_book.iterdir():
        if entry.name != "book":
            (site / entry.name).symlink_to(entry)
    (site / "book").mkdir()
    for entry in (built_book / "book").iterdir():
        (site / "book" / entry.name).symlink_to(entry)

    chapter = _chapter_doc()
    html = (built_book / f"{chapter}.html").read_text()
    # MyST marks a page's text "not for MathJax"; only what it parsed as math
    # is typeset. Raw text must go in there, where a page's Markdown lands.
    opening = re.search(r'<section class="tex2jax_ignore mathjax_ignore"[^>]*>', html)
    assert opening, f"{chapter}.html: no MyST section found"

    def variant(name: str, insert: str = "", replace: tuple[str, str] | None = None) -> None:
        text = html[: opening.end()] + insert + html[opening.end():]
        if replace:
            assert replace[0] in text, replace
            text = text.replace(*replace)
        (site / "book" / f"{name}.html").write_text(text)

    variant("missing_image", insert='<img src="../_images/deleted_figure.png" alt="a deleted figure">')
    variant("broken_link", insert='<p>See <a href="99_no_such_chapter.html">the next chapter</a>.</p>')
    variant("broken_anchor", insert='<p>See <a href="#no-such-section">below</a>.</p>')
    variant("raw_math", insert="<p>The loss is $$\\frac{1}{2}\\|x - \\hat x\\|^2$$ per example.</p>")
    variant("raw_environment", insert="<p>\\begin{align} a &= b \\end{align}</p>")
    variant("no_mathjax", replace=("_static/mathjax/tex-chtml.js", "_static/mathjax/deleted.js"))
    variant("script_error", insert="<script>undefinedFunction();</script>")
    variant("offsite", insert='<img src="https://example.com/figure.png" alt="">')
    with serve(site) as base_url:
        yield base_url, chapter


BROKEN_PAGES = [
    ("missing_image", ["1 images did not load: ['../_images/deleted_figure.png']",
                       "HTTP 404 for /_images/deleted_figure.png"]),
    ("broken_link", ["broken link to /book/99_no_such_chapter.html (HTTP 404)"]),
    ("broken_anchor", ["#no-such-section: no element has that id"]),
    ("raw_math", ["raw TeX '$$' in the visible text"]),
    ("raw_environment", ["raw TeX '\\\\begin' in the visible text"]),
    ("no_mathjax", ["HTTP 404 for /_static/mathjax/deleted.js", "MathJax did not load",
                    "equations not typeset", "raw TeX"]),
    ("script_error", ["uncaught JavaScript error: undefinedFunction is not defined"]),
    ("offsite", ["requested an off-site resource: https://example.com/figure.png",
                 "images did not load"]),
]


@pytest.mark.parametrize(("name", "expected"), BROKEN_PAGES, ids=[name for name, _ in BROKEN_PAGES])
def test_page_checks_fail_on_a_broken_page_and_name_it(name, expected, page, broken_site):
    base_url, chapter = broken_site
    colab_url = expected_colab_url(chapter, book_config())
    report = check_page(page, base_url, f"book/{name}.html", expect_math=True, colab_url=colab_url)
    check_links(report, base_url, {})
    text = "\n".join(report.problems)
    assert report.problems, f"book/{name}.html: the checks found nothing wrong"
    for problem in report.problems:
        assert problem.startswith(f"book/{name}.html: "), problem
    for phrase in expected:
        assert phrase in text, f"expected {phrase!r} among:\n{text}"


def test_page_checks_pass_the_unbroken_chapter_in_the_same_site(page, broken_site):
    base_url, chapter = broken_site
    report = check_page(page, base_url, f"{chapter}.html", expect_math=True,
                        colab_url=expected_colab_url(chapter, book_config()))
    check_links(report, base_url, {})
    assert not report.problems, "\n".join(report.problems)


def test_page_checks_fail_on_a_wrong_or_unexpected_colab_button(page, site):
    chapter = _chapter_doc()
    wrong = expected_colab_url(chapter, book_config()).replace("/blob/", "/blob/other-branch/")
    report = check_page(page, site, f"{chapter}.html", colab_url=wrong)
    assert [p for p in report.problems if "Colab button should open" in p and wrong in p], report.problems
    markdown_page = next(doc for doc in DOCS if source_of(doc).suffix == ".md")
    report = check_page(page, site, f"{markdown_page}.html", colab_url=expected_colab_url(markdown_page, book_config()))
    assert [p for p in report.problems if p.startswith(f"{markdown_page}.html: Colab button")], report.problems


def test_a_missing_chromium_skips_with_a_message_or_fails_where_required(monkeypatch, tmp_path):
    monkeypatch.setenv("VAECOURSE_CHROMIUM", str(tmp_path / "no-chromium"))
    assert find_chromium() is None
    monkeypatch.delenv("VAECOURSE_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        unavailable("Chromium not found")
    monkeypatch.setenv("VAECOURSE_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="VAECOURSE_REQUIRE_BROWSER=1"):
        unavailable("Chromium not found")
