"""`make pdf` (scripts/make_pdf.py): the book printed by Chromium, checked
with pypdf. Printing all of it takes minutes, so the test prints two
pages that hold what can go wrong: a notebook with math, figures and the
latent explorer (chapter 0), and a Markdown page with math in a table (the
errata); the full book goes through the same code."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest
from book_pages import ROOT, find_chromium

sys.path.insert(0, str(ROOT / "scripts"))
import make_pdf  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = ["book/00_first_look", "book/errata"]


@pytest.fixture(scope="module")
def printed(built_book, tmp_path_factory):
    if find_chromium() is None:
        pytest.skip("Chromium not found")
    out = tmp_path_factory.mktemp("pdf") / "book.pdf"
    return make_pdf.make_pdf(built_book, out, only=PAGES)


def page_texts(path: Path) -> list[str]:
    """Each page's text; NFKC folds the font's ligatures (fi) back."""
    from pypdf import PdfReader

    return [
        unicodedata.normalize("NFKC", page.extract_text() or "")
        for page in PdfReader(path).pages
    ]


def test_each_page_of_the_book_starts_a_new_pdf_page_under_its_title(printed):
    from pypdf import PdfReader

    reader = PdfReader(printed)
    outline = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                outline.append(
                    (item.title, reader.get_destination_page_number(item))
                )

    walk(reader.outline)
    chapters = [
        (t, n)
        for t, n in outline
        if t
        in {
            "A first look: what a VAE can do",
            "Errata of the source notes",
        }
    ]
    assert len(chapters) == 2, outline
    starts = [n for _, n in chapters]
    assert starts == sorted(starts) and len(set(starts)) == 2
    assert starts[0] >= 1  # the title page and contents come first
    assert len(reader.pages) > starts[-1]
    texts = page_texts(printed)
    assert "Contents" in texts[0]
    for title, start in chapters:
        assert title.split(". ", 1)[-1][:20] in texts[start], title


def test_the_math_is_typeset_not_raw_tex(printed):
    texts = page_texts(printed)
    for number, text in enumerate(texts):
        for raw in ("$$", "\\frac", "\\begin{aligned}", "\\mathrm"):
            assert raw not in text, f"page {number}: raw TeX {raw!r}"
    assert any("KL" in text for text in texts)


def test_the_figures_are_in_the_pdf(printed):
    from pypdf import PdfReader

    images = sum(len(page.images) for page in PdfReader(printed).pages)
    # chapter 0: prior samples, the latent manifold, and the explorer's
    # two canvases (the plane and the decoded digit)
    assert images >= 4
