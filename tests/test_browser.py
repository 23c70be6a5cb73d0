"""The built book, read as its readers read it: in a real browser, offline.

Serves `_build/html` on 127.0.0.1 and opens every page of `_toc.yml` in
headless Chromium (Debian's `chromium`, driven by Playwright's Python
package; no browser is downloaded). Each page must load without console
errors or failed requests, request nothing off the site, have every
equation typeset by the bundled MathJax and no raw TeX in its text, load
every image, link only to same-site pages that exist, and (notebooks only)
have a Colab button that opens that notebook in the configured repository.

Each page must also fit the screen: at 1280x800 every code line, display
and image is seen whole inside the article column, nothing runs past it
or is cut off, and at 390 px the page never scrolls sideways. Each of the
book's diagrams is on its page, loads and has alt text.

The checks themselves are in tests/book_pages.py (scripts/check_fit.py
runs the fit check alone, for chapter authors); the second half of this
file proves that they catch what they are for, on pages broken on purpose,
and name the page and the element.

Where Chromium is missing the test skips, unless VAECOURSE_REQUIRE_BROWSER=1
(set by `make test` wherever it can install Chromium), which makes it fail.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import pytest
from book_pages import (
    BOOK_DIR,
    CHROMIUM_ARGS,
    DIAGRAMS,
    book_config,
    check_diagrams,
    check_fit,
    check_links,
    check_page,
    expected_colab_url,
    explorer_problems,
    find_chromium,
    serve,
    source_has_math,
    source_of,
    toc_docs,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS = toc_docs()
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 900}


def unavailable(reason: str):
    message = (
        f"{reason}. The browser test needs Debian's Chromium (apt-get "
        "install chromium; `make test` installs it where it runs as root) "
        "and Playwright's Python package "
        "(pip install -e '.[test]'; no browser download is needed)."
    )
    if os.environ.get("VAECOURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(
            message
            + " VAECOURSE_REQUIRE_BROWSER=1: this machine must run it.",
            pytrace=False,
        )
    pytest.skip(message)


# Module scope: Playwright stops (with its event loop) before other test
# files run.
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
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
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
    colab_url = (
        expected_colab_url(doc, book_config())
        if source.suffix == ".ipynb"
        else None
    )
    report = check_page(
        page,
        site,
        f"{doc}.html",
        expect_math=source_has_math(source),
        colab_url=colab_url,
    )
    check_links(report, site, link_cache)
    if doc == screenshot_doc():
        if report.facts.get("typeset"):
            page.locator("mjx-container").first.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chapter.png"))
    if report.problems:
        pytest.fail("\n".join(report.problems), pytrace=False)


@pytest.mark.parametrize("doc", DOCS)
def test_toc_page_fits_the_screen(doc, page, site):
    report = check_fit(page, site, f"{doc}.html")
    if report.problems:
        pytest.fail(
            "\n".join(report.problems)
            + "\n(scripts/check_fit.py lists them for every page)",
            pytrace=False,
        )


def test_the_diagram_list_names_toc_pages_and_files_in_book_images():
    for doc, files in DIAGRAMS.items():
        assert doc in DOCS, f"DIAGRAMS names {doc}, which is not in _toc.yml"
        for file in files:
            assert (BOOK_DIR / "images" / file).is_file(), (
                f"DIAGRAMS names book/images/{file}, which does not exist "
                "(make diagrams draws it)"
            )


@pytest.mark.parametrize(
    ("doc", "files"), list(DIAGRAMS.items()), ids=list(DIAGRAMS)
)
def test_each_diagram_is_on_its_page_loads_and_has_alt_text(
    doc, files, page, site
):
    report = check_diagrams(page, site, f"{doc}.html", files)
    if report.problems:
        pytest.fail("\n".join(report.problems), pytrace=False)


# ------------------------------------------ the checks catch broken pages


def _chapter_doc() -> str:
    return next(doc for doc in DOCS if source_of(doc).suffix == ".ipynb")


# The page the fit and diagram checks' broken variants are made from: the
# toc's root, a Markdown page that fits (test_toc_page_fits_the_screen).
FIT_BASE = DOCS[0]
DIAGRAM = "autoencoder_bottleneck.png"

# What each variant adds to FIT_BASE, where the page's Markdown lands.
_CELL = (
    '<div class="cell docutils container"><div class="cell_input docutils '
    'container"><div class="highlight-ipython3 notranslate">'
    '<div class="highlight"><pre>{}</pre></div></div></div></div>'
)
FIT_VARIANTS = {
    # A display MathJax typesets (div.math) that no column holds.
    "wide_display": '<div class="math notranslate nohighlight">\\['
    + " + ".join(f"a_{{{i}}}" for i in range(1, 61))
    + "\\]</div>",
    # A code cell with a line of 149 characters.
    "long_code_line": _CELL.format(
        "total = " + " + ".join(f"x{i:02d}" for i in range(24))
    ),
    "wide_image": '<img src="../_static/favicon.svg" alt="a wide image" '
    'style="width: 900px; max-width: none">',
    # About 870 px: past the column, within the 1280 px screen.
    "past_column": '<div style="white-space: nowrap">'
    + "a line of text that does not wrap " * 3
    + "</div>",
    "cut_off": '<div class="clipping-box" style="overflow: hidden; '
    'width: 300px"><span style="white-space: nowrap">'
    + "text cut off at the edge of its box " * 3
    + "</span></div>",
    # Fits the 688 px column at 1280 px, not a 390 px phone.
    "wide_on_phone": '<div style="width: 600px">a box 600 px wide</div>',
    # A list item that clips, as course.css once made every item on a
    # phone: its marker, drawn outside it, disappears.
    "clipped_marker": '<ul><li style="overflow-x: auto">an item whose '
    "marker is cut off</li></ul>",
    # A figure of a cell's output drawn for 600 px, shown at 300.
    "scaled_figure": '<div class="cell_output"><img '
    'src="../_static/favicon.svg" alt="a figure" width="600" '
    'style="width: 300px"></div>',
    # An image whose height does not follow its width (an inline
    # !important beats course.css, which keeps proportions).
    "distorted_image": '<img src="../_static/favicon.svg" alt="squashed" '
    'style="width: 300px; height: 100px !important">',
    # Scrolls inside its own box by design: must pass.
    "wide_table": '<div class="pst-scrollable-table-container">'
    '<table class="table"><tr>'
    + '<td style="white-space: nowrap">a wide table cell</td>' * 12
    + "</tr></table></div>",
    # The same table with its first column's stickiness undone.
    "table_without_key": '<div class="pst-scrollable-table-container">'
    '<table class="table"><tr><td style="position: static">the key</td>'
    + '<td style="white-space: nowrap">a wide table cell</td>' * 12
    + "</tr></table></div>",
}
DIAGRAM_VARIANTS = {
    "diagram_shown": f'<img src="images/{DIAGRAM}" alt="Encoder and decoder">',
    "diagram_without_alt": f'<img src="images/{DIAGRAM}" alt=" ">',
    "diagram_not_loading": f'<img src="images/gone/{DIAGRAM}" alt="Gone">',
}


@pytest.fixture(scope="module")
def broken_site(built_book, tmp_path_factory):
    """A copy of the built book (links to its files) with broken pages added
    next to the real ones, so their relative links still resolve: variants
    of the first chapter for check_page, of FIT_BASE for check_fit and
    check_diagrams. book/images is linked in, as the diagrams' source."""
    site = tmp_path_factory.mktemp("broken-site")
    for entry in built_book.iterdir():
        if entry.name != "book":
            (site / entry.name).symlink_to(entry)
    (site / "book").mkdir()
    for entry in (built_book / "book").iterdir():
        (site / "book" / entry.name).symlink_to(entry)
    if not (site / "book" / "images").exists():
        (site / "book" / "images").symlink_to(BOOK_DIR / "images")

    chapter = _chapter_doc()
    pages: dict[str, tuple[str, int]] = {}

    def variant(
        name: str,
        insert: str = "",
        replace: tuple[str, str] | None = None,
        base: str = chapter,
    ) -> None:
        if base not in pages:
            html = (built_book / f"{base}.html").read_text()
            # MyST marks a page's text "not for MathJax"; only what it
            # parsed as math is typeset. Raw text must go in there, where a
            # page's Markdown lands.
            opening = re.search(
                r'<section class="tex2jax_ignore mathjax_ignore"[^>]*>', html
            )
            assert opening, f"{base}.html: no MyST section found"
            pages[base] = (html, opening.end())
        html, at = pages[base]
        text = html[:at] + insert + html[at:]
        if replace:
            assert replace[0] in text, replace
            text = text.replace(*replace)
        (site / "book" / f"{name}.html").write_text(text)

    variant(
        "missing_image",
        insert='<img src="../_images/deleted_figure.png" '
        'alt="a deleted figure">',
    )
    variant(
        "broken_link",
        insert='<p>See <a href="99_no_such_chapter.html">the next '
        "chapter</a>.</p>",
    )
    variant(
        "broken_anchor",
        insert='<p>See <a href="#no-such-section">below</a>.</p>',
    )
    variant(
        "raw_math",
        insert="<p>The loss is $$\\frac{1}{2}\\|x - \\hat x\\|^2$$ per "
        "example.</p>",
    )
    variant(
        "raw_environment", insert="<p>\\begin{align} a &= b \\end{align}</p>"
    )
    variant(
        "no_mathjax",
        replace=("_static/mathjax/tex-chtml.js", "_static/mathjax/deleted.js"),
    )
    variant("script_error", insert="<script>undefinedFunction();</script>")
    variant(
        "offsite", insert='<img src="https://example.com/figure.png" alt="">'
    )
    for name, insert in {**FIT_VARIANTS, **DIAGRAM_VARIANTS}.items():
        variant(name, insert=insert, base=FIT_BASE)
    with serve(site) as base_url:
        yield base_url, chapter


BROKEN_PAGES = [
    (
        "missing_image",
        [
            "1 images did not load: ['../_images/deleted_figure.png']",
            "HTTP 404 for /_images/deleted_figure.png",
        ],
    ),
    (
        "broken_link",
        ["broken link to /book/99_no_such_chapter.html (HTTP 404)"],
    ),
    ("broken_anchor", ["#no-such-section: no element has that id"]),
    ("raw_math", ["raw TeX '$$' in the visible text"]),
    ("raw_environment", ["raw TeX '\\\\begin' in the visible text"]),
    (
        "no_mathjax",
        [
            "HTTP 404 for /_static/mathjax/deleted.js",
            "MathJax did not load",
            "equations not typeset",
            "raw TeX",
        ],
    ),
    (
        "script_error",
        ["uncaught JavaScript error: undefinedFunction is not defined"],
    ),
    (
        "offsite",
        [
            "requested an off-site resource: https://example.com/figure.png",
            "images did not load",
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "expected"), BROKEN_PAGES, ids=[name for name, _ in BROKEN_PAGES]
)
def test_page_checks_fail_on_a_broken_page_and_name_it(
    name, expected, page, broken_site
):
    base_url, chapter = broken_site
    colab_url = expected_colab_url(chapter, book_config())
    report = check_page(
        page,
        base_url,
        f"book/{name}.html",
        expect_math=True,
        colab_url=colab_url,
    )
    check_links(report, base_url, {})
    text = "\n".join(report.problems)
    assert report.problems, f"book/{name}.html: the checks found nothing wrong"
    for problem in report.problems:
        assert problem.startswith(f"book/{name}.html: "), problem
    for phrase in expected:
        assert phrase in text, f"expected {phrase!r} among:\n{text}"


def test_page_checks_pass_the_unbroken_chapter_in_the_same_site(
    page, broken_site
):
    base_url, chapter = broken_site
    report = check_page(
        page,
        base_url,
        f"{chapter}.html",
        expect_math=True,
        colab_url=expected_colab_url(chapter, book_config()),
    )
    check_links(report, base_url, {})
    assert not report.problems, "\n".join(report.problems)


def test_page_checks_fail_on_a_wrong_or_unexpected_colab_button(page, site):
    chapter = _chapter_doc()
    wrong = expected_colab_url(chapter, book_config()).replace(
        "/blob/", "/blob/other-branch/"
    )
    report = check_page(page, site, f"{chapter}.html", colab_url=wrong)
    assert [
        p
        for p in report.problems
        if "Colab button should open" in p and wrong in p
    ], report.problems
    markdown_page = next(doc for doc in DOCS if source_of(doc).suffix == ".md")
    report = check_page(
        page,
        site,
        f"{markdown_page}.html",
        colab_url=expected_colab_url(markdown_page, book_config()),
    )
    assert [
        p
        for p in report.problems
        if p.startswith(f"{markdown_page}.html: Colab button")
    ], report.problems


def test_a_missing_chromium_skips_with_a_message_or_fails_where_required(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("VAECOURSE_CHROMIUM", str(tmp_path / "no-chromium"))
    assert find_chromium() is None
    monkeypatch.delenv("VAECOURSE_REQUIRE_BROWSER", raising=False)
    with pytest.raises(
        pytest.skip.Exception, match="apt-get install chromium"
    ):
        unavailable("Chromium not found")
    monkeypatch.setenv("VAECOURSE_REQUIRE_BROWSER", "1")
    with pytest.raises(
        pytest.fail.Exception, match="VAECOURSE_REQUIRE_BROWSER=1"
    ):
        unavailable("Chromium not found")


# ------------------------------- the fit and diagram checks catch them too

# Each problem the fit check must report on a variant of FIT_BASE, in its
# order (1280x800 first, then 390 px), as regular expressions: the kind,
# the element and its text, where it is (the section), the widths. The
# page they were made from fits, so nothing else may be reported.
PAGE_SCROLLS = r"at 390x844, the page scrolls sideways: html: \d+ px wide"
FIT_BREAKS = [
    (
        "wide_display",
        [
            r"at 1280x800, a display is wider than its column: display math "
            r"'a_\{1\} \+ a_\{2\} \+ a_\{3\}.*' \(in .+\): "
            r"\d+ px wide in \d+ px$",
        ],
    ),
    (
        "long_code_line",
        [
            r"at 1280x800, a code line does not fit its box: "
            r"pre \(code cell\) 'total = x00 \+ x01 .*' \(in .+\): "
            r"longest line 149 characters; "
            r"scrollWidth \d+ > clientWidth \d+ px$",
        ],
    ),
    (
        "wide_image",
        [
            r"at 1280x800, an image is wider than its column: img "
            r"'../_static/favicon.svg' \(in .+\): 900 px wide in \d+ px",
            PAGE_SCROLLS,
            r"at 390x844, wider than the screen: "
            r"img '../_static/favicon.svg' \(in .+\): right edge at \d+ px",
        ],
    ),
    (
        "past_column",
        [
            r"at 1280x800, an element runs past the column: div 'a line of "
            r"text that does not wrap .*' \(in .+\): right edge at \d+ px, "
            r"the column ends at",
            PAGE_SCROLLS,
            r"at 390x844, wider than the screen: div 'a line of text",
        ],
    ),
    (
        "cut_off",
        [
            r"at 1280x800, an element is cut off: span 'text cut off at the "
            r"edge of its box .*' \(in .+\): right edge at \d+ px, "
            r"cut off by div.clipping-box at \d+ px$",
        ],
    ),
    (
        "wide_on_phone",
        [
            PAGE_SCROLLS,
            r"at 390x844, wider than the screen: "
            r"div 'a box 600 px wide' \(in .+\): right edge at \d+ px$",
        ],
    ),
    (
        "clipped_marker",
        [
            r"at 390x844, a list marker is cut off: li 'an item whose marker "
            r"is cut off' \(in .+\): the item has overflow-x: auto$",
        ],
    ),
    (
        "scaled_figure",
        [
            r"at 1280x800, a figure is shown smaller than it is drawn: img "
            r"'../_static/favicon.svg' \(in .+\): shown 300 px wide, drawn "
            r"for 600 px$",
        ],
    ),
    (
        "distorted_image",
        [
            r"at 390x844, an image is distorted: img '../_static/favicon.svg'"
            r" \(in .+\): height/width 0.33 on the screen, \d\.\d\d in the "
            r"file$",
        ],
    ),
    # A wide table scrolls inside its wrapper, by design: no problem.
    ("wide_table", []),
    (
        "table_without_key",
        [
            r"at 390x844, a table's first column scrolls out of view: table "
            r"'the key' \(in .+\): scrolled to its end, the first column "
            r"starts at -?\d+ px, left of the table's box at \d+ px$",
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "expected"), FIT_BREAKS, ids=[name for name, _ in FIT_BREAKS]
)
def test_fit_check_fails_on_what_does_not_fit_and_names_it(
    name, expected, page, broken_site
):
    base_url, _ = broken_site
    report = check_fit(page, base_url, f"book/{name}.html")
    problems = [p.removeprefix(f"book/{name}.html: ") for p in report.problems]
    text = "\n".join(report.problems)
    assert all(p.startswith(f"book/{name}.html: ") for p in report.problems)
    assert len(problems) == len(expected), text
    for problem, pattern in zip(problems, expected, strict=True):
        assert re.search(pattern, problem), f"{pattern!r} not in {problem!r}"


# Sets every code box of a page (cells, outputs, printed source, the
# hidden set-up cell, solutions) to one line of n characters.
_CODE_LINES_JS = """
(n) => {
  const boxes = document.querySelectorAll("article pre");
  boxes.forEach(pre => { pre.textContent = "# " + "x".repeat(n - 2); });
  return boxes.length;
}
"""


def _solution_chapter(built_book) -> str:
    """A chapter with code in a dropdown solution and a cell output."""
    for doc in DOCS:
        html = (built_book / f"{doc}.html").read_text()
        if 'class="solution' in html and "cell_output" in html:
            return doc
    pytest.fail("no chapter has a code cell in a solution", pytrace=False)


@pytest.mark.parametrize(("length", "fits"), [(80, True), (100, False)])
def test_80_characters_fit_every_code_box_at_1280_and_100_do_not(
    length, fits, page, site, built_book
):
    """ruff's 79-character lines must fit: the course's CSS makes a code box
    hold 80 characters at 1280 px, in the column and in an admonition."""
    doc = _solution_chapter(built_book)
    boxes = []
    report = check_fit(
        page,
        site,
        f"{doc}.html",
        prepare=lambda p: boxes.append(p.evaluate(_CODE_LINES_JS, length)),
    )
    code = [p for p in report.problems if "a code line does not fit" in p]
    assert boxes[0] > 3, f"{doc}.html: too few code boxes to prove anything"
    if fits:
        assert not code, "\n".join(code)
    else:
        assert len(code) == boxes[0], "\n".join(report.problems)
        assert all(f"longest line {length} characters" in p for p in code)


DIAGRAM_BREAKS = [
    ("diagram_shown", []),
    ("diagram_without_alt", [f"diagram {DIAGRAM} has no alt text"]),
    ("diagram_not_loading", [f"diagram {DIAGRAM} did not load"]),
    # FIT_BASE itself, which shows no diagram.
    (
        FIT_BASE.removeprefix("book/"),
        [f"diagram {DIAGRAM} is not on the page"],
    ),
]


@pytest.mark.parametrize(
    ("name", "expected"),
    DIAGRAM_BREAKS,
    ids=[name for name, _ in DIAGRAM_BREAKS],
)
def test_diagram_check_fails_on_a_missing_broken_or_unlabelled_diagram(
    name, expected, page, broken_site
):
    base_url, _ = broken_site
    report = check_diagrams(page, base_url, f"book/{name}.html", [DIAGRAM])
    assert len(report.problems) == len(expected), report.problems
    for problem, phrase in zip(report.problems, expected, strict=True):
        assert problem.startswith(f"book/{name}.html: {phrase}"), problem


# ------------------------------------------------------ the latent explorer

EXPLORER_PAGE = "book/00_first_look.html"
EXPLORER_MODEL = "mnist_vae_m2"
# Each page with an explorer: its model, and codes to set (one value per
# plane axis or slider): the centre, inside, at the edge, and past it (the
# explorer clamps to its range, and is compared where it clamped to).
EXPLORERS = {
    EXPLORER_PAGE: (
        EXPLORER_MODEL,
        [(0.0, 0.0), (1.2, -0.7), (-2.5, 2.9), (3.0, 3.0), (9, -9)],
    ),
    "book/11_beta_vae.html": (
        "sprites_beta4",
        [(0.0, 0.0, 0.0), (1.5, -2.0, 0.7), (3.0, 3.0, -3.0), (9, -9, 0)],
    ),
}


@functools.cache
def explorer_model(name: str = EXPLORER_MODEL):
    from vaecourse import pretrained

    return pretrained.load(name)


def pytorch_pixels(z: list[float], name: str = EXPLORER_MODEL) -> list[int]:
    """round(255 x) of the shipped decoder's mean at ``z``."""
    import torch

    with torch.no_grad():
        z = torch.tensor([z], dtype=torch.float32)
        mean = explorer_model(name).decode_mean(z)[0]
    return torch.round(255 * mean).int().tolist()


@pytest.mark.parametrize("path", list(EXPLORERS))
def test_the_latent_explorer_draws_what_pytorch_decodes(path, page, site):
    name, points = EXPLORERS[path]
    problems = explorer_problems(
        page,
        site,
        path,
        functools.partial(pytorch_pixels, name=name),
        points,
    )
    assert not problems, "\n".join(problems)


def test_the_explorer_check_fails_on_wrong_weights(page, site):
    # The page is served with the model's output biases shifted by one:
    # the check must see the difference.
    def wrong_weights(route):
        body = route.fetch().text() + (
            "(m => { const layer = m.layers.filter(l => l.b).pop(); "
            "const bytes = Uint8Array.from(atob(layer.b), c => "
            "c.charCodeAt(0)); const f = new Float32Array(bytes.buffer); "
            "for (let i = 0; i < f.length; i++) f[i] += 1; layer.b = btoa("
            "String.fromCharCode(...new Uint8Array(f.buffer))); })"
            f"(window.VAE_MODELS['{EXPLORER_MODEL}']);\n"
        )
        route.fulfill(body=body, content_type="text/javascript")

    page.route(f"**/explorer/{EXPLORER_MODEL}.js", wrong_weights)
    problems = explorer_problems(
        page, site, EXPLORER_PAGE, pytorch_pixels, EXPLORERS[EXPLORER_PAGE][1]
    )
    assert problems and all("differ from PyTorch" in p for p in problems)


def test_the_explorer_follows_a_touch_on_a_phone(browser, site):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    try:
        page = context.new_page()
        page.goto(site + EXPLORER_PAGE)
        page.wait_for_function(
            "window.latentExplorers && window.latentExplorers.length > 0",
            timeout=30_000,
        )
        plane = page.locator(".latent-explorer-plane")
        plane.scroll_into_view_if_needed()
        box = plane.bounding_box()
        assert box["width"] <= 390
        before = page.evaluate("window.latentExplorers[0].pixels()")
        # A tap at a quarter of the width and height: z = (-1.5, 1.5).
        plane.tap(position={"x": box["width"] / 4, "y": box["height"] / 4})
        z = page.evaluate("window.latentExplorers[0].latent()")
        assert z == pytest.approx([-1.5, 1.5], abs=0.05)
        after = page.evaluate("window.latentExplorers[0].pixels()")
        assert after != before
        assert (
            max(
                abs(a - b)
                for a, b in zip(after, pytorch_pixels(z), strict=True)
            )
            <= 1
        )
        wide = page.evaluate(
            "document.documentElement.scrollWidth"
            " > document.documentElement.clientWidth"
        )
        assert not wide, "the page scrolls sideways on a phone"
    finally:
        context.close()


def test_without_javascript_the_explorer_shows_its_image(browser, site):
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site + EXPLORER_PAGE)
        image = page.locator(".latent-explorer img")
        assert image.count() == 1
        assert len(image.get_attribute("alt")) > 20
        image.scroll_into_view_if_needed()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    finally:
        context.close()


def test_the_traversal_sliders_follow_a_touch_on_a_phone(browser, site):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    try:
        page = context.new_page()
        page.goto(site + "book/11_beta_vae.html")
        page.wait_for_function(
            "window.latentExplorers && window.latentExplorers.length > 0",
            timeout=30_000,
        )
        slider = page.locator(".latent-explorer-sliders input").first
        slider.scroll_into_view_if_needed()
        box = slider.bounding_box()
        slider.tap(position={"x": box["width"] * 0.9, "y": box["height"] / 2})
        z = page.evaluate("window.latentExplorers[0].latent()")
        assert z[0] > 1.5 and z[1:] == [0.0] * 9
        drawn = page.evaluate("window.latentExplorers[0].pixels()")
        expected = pytorch_pixels(z, name="sprites_beta4")
        assert (
            max(abs(a - b) for a, b in zip(drawn, expected, strict=True)) <= 1
        )
    finally:
        context.close()
