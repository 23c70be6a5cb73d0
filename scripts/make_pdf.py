"""The whole book as one PDF, from the built HTML, offline.

Usage (from the repository root, after ``make book``; ``make pdf`` runs
both)::

    .venv/bin/python scripts/make_pdf.py [--html _build/html]
        [--out _build/pdf/book.pdf]

Each page of ``_toc.yml`` is opened, in reading order, in the local
Chromium (headless, driven by Playwright, the browser of the test suite;
nothing is downloaded) from a loopback server, once MathJax has typeset
it, and printed to PDF with Chromium's print-to-PDF. A title page with the
table of contents comes first. The pieces are joined with pypdf, each page
of the book starting on a new PDF page, and the PDF's outline (the
bookmarks a reader's viewer shows) lists every page under its part. A
latent explorer prints as it stands when the page opens: the plane, or the
sliders, and the decoded image at the code 0.
"""

from __future__ import annotations

import argparse
import html
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from book_pages import (  # noqa: E402
    CHROMIUM_ARGS,
    find_chromium,
    serve,
)

# Print what a reader of paper needs: no navigation, no buttons, the
# explorers as their images, the fold-outs open.
PRINT_CSS = """
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer,
.bd-header-article, .header-article-items, .prev-next-area,
.bd-footer-article, .bd-footer-content, .skip-link,
button.toggle-button, .cell_input .copybtn, .headerlink {
  display: none !important;
}
.bd-main .bd-content .bd-article-container { max-width: 100% !important; }
.bd-page-width { max-width: 100% !important; }
body { font-size: 11pt; }
"""

# Wait until MathJax has typeset the page (or is not on it).
_TYPESET_JS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  document.querySelectorAll("details").forEach(node => { node.open = true; });
  document.querySelectorAll(".toggle-hidden")
    .forEach(node => node.classList.remove("toggle-hidden"));
  await Promise.all(Array.from(document.images)
    .filter(img => !img.complete)
    .map(img => new Promise(done => { img.onload = img.onerror = done; })));
  return true;
}
"""


def toc_entries() -> list[tuple[str, str | None]]:
    """Every page of the toc in reading order, with its part's caption."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries: list[tuple[str, str | None]] = [
        (str(Path(toc["root"]).with_suffix("")), None)
    ]

    def walk(items, part):
        for item in items:
            entries.append((str(Path(item["file"]).with_suffix("")), part))
            walk(item.get("sections", []), part)

    for part in toc.get("parts", []):
        walk(part.get("chapters", []), part.get("caption"))
    return entries


def page_title(page) -> str:
    title = page.evaluate(
        "() => (document.querySelector('article h1') || {}).textContent"
    )
    return " ".join((title or page.title()).replace("#", "").split())


def book_title() -> str:
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())["title"]


def title_page(entries: list[tuple[str, str | None]], titles: dict) -> str:
    """The first page: the book's title and its table of contents."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    rows, part = [], object()
    for doc, caption in entries:
        if caption != part and caption:
            rows.append(f"<h2>{html.escape(caption)}</h2>")
        part = caption
        rows.append(f"<p>{html.escape(titles[doc])}</p>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "body{font-family:sans-serif;margin:3em}h1{font-size:26pt}"
        "h2{font-size:13pt;margin:1.2em 0 .3em}p{margin:.15em 0 .15em 1em}"
        "</style></head><body>"
        f"<h1>{html.escape(config['title'])}</h1>"
        f"<p>{html.escape(config.get('author', ''))}</p>"
        "<h2>Contents</h2>" + "".join(rows) + "</body></html>"
    )


def make_pdf(html_dir: Path, out: Path, only: list[str] | None = None) -> Path:
    """Print the book (or the toc pages ``only``, in reading order) to
    ``out``; returns ``out``."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader, PdfWriter

    executable = find_chromium()
    if executable is None:
        raise SystemExit("Chromium not found (apt-get install chromium)")
    entries = [
        (doc, part)
        for doc, part in toc_entries()
        if only is None or doc in only
    ]
    titles: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        pieces = []
        with serve(html_dir) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            for k, (doc, _) in enumerate(entries):
                page.goto(f"{base}{doc}.html", wait_until="load")
                page.add_style_tag(content=PRINT_CSS)
                page.evaluate(_TYPESET_JS)
                titles[doc] = page_title(page)
                piece = Path(scratch) / f"{k:03d}.pdf"
                page.pdf(
                    path=str(piece),
                    format="A4",
                    print_background=True,
                    margin={
                        "top": "16mm",
                        "bottom": "16mm",
                        "left": "14mm",
                        "right": "14mm",
                    },
                )
                pieces.append(piece)
            page.set_content(title_page(entries, titles))
            cover = Path(scratch) / "cover.pdf"
            page.pdf(path=str(cover), format="A4")
            browser.close()
        writer = PdfWriter()
        writer.append(PdfReader(cover))
        parents: dict[str | None, object] = {}
        for (doc, caption), piece in zip(entries, pieces, strict=True):
            start = len(writer.pages)
            writer.append(PdfReader(piece))
            if caption and caption not in parents:
                parents[caption] = writer.add_outline_item(
                    title=caption, page_number=start
                )
            writer.add_outline_item(
                title=titles[doc],
                page_number=start,
                parent=parents.get(caption),
            )
        writer.add_metadata({"/Title": book_title()})
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as handle:
            writer.write(handle)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        help="toc pages to print (e.g. book/00_first_look); all by default",
    )
    args = parser.parse_args(argv)
    out = make_pdf(args.html, args.out, args.only)
    print(f"PDF: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
