"""List what does not fit the screen on the pages of a built book.

Usage (from the repository root, after `make book`)::

    .venv/bin/python scripts/check_fit.py        # every page of _build/html
    .venv/bin/python scripts/check_fit.py 04_reparameterization api
    .venv/bin/python scripts/check_fit.py /tmp/my_book/_build/html errata

Runs the browser test's fit check (tests/book_pages.py: check_fit, the
same code, not a copy) in headless Chromium and prints, page by page,
every element that does not fit: at 1280x800, code lines too long for
their box, displays wider than their column, images, anything that runs
past the column or is cut off; at 390 px, what makes the page scroll
sideways. Each line names the element, a snippet of its text (the TeX
source of a formula), the section or API entry it is in, and the widths.
Exits with 1 when something does not fit, 0 otherwise.

A page is named as in _toc.yml (``book/04_reparameterization``), or by
its file name with or without ``.html`` (``04_reparameterization``).
Needs Chromium (VAECOURSE_CHROMIUM or Debian's /usr/bin/chromium) and
Playwright's Python package, as the browser test does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from book_pages import (  # noqa: E402  (tests/ is put on the path above)
    CHROMIUM_ARGS,
    check_fit,
    find_chromium,
    serve,
    toc_docs,
)


def page_names(html_dir: Path, wanted: list[str]) -> list[str]:
    """The pages to check, as paths of ``html_dir`` (``book/x.html``)."""
    docs = toc_docs()
    if not wanted:
        return [f"{doc}.html" for doc in docs]
    names = []
    for name in wanted:
        stem = Path(name.removesuffix(".html")).name
        matches = [doc for doc in docs if Path(doc).name == stem]
        if not matches:
            known = ", ".join(Path(doc).name for doc in docs)
            raise SystemExit(f"{name}: not a page of _toc.yml ({known})")
        names.append(f"{matches[0]}.html")
    missing = [name for name in names if not (html_dir / name).is_file()]
    if missing:
        raise SystemExit(
            f"{html_dir} has no {', '.join(missing)}: build the book first"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "html_dir",
        nargs="?",
        default=str(ROOT / "_build" / "html"),
        help="the built book (default: _build/html)",
    )
    parser.add_argument(
        "pages", nargs="*", help="pages to check (default: all)"
    )
    args = parser.parse_args(argv)
    html_dir, pages = Path(args.html_dir), args.pages
    if not html_dir.is_dir() and "/" not in args.html_dir:
        # `check_fit.py 04_reparameterization`: a page of _build/html.
        html_dir = Path(parser.get_default("html_dir"))
        pages = [args.html_dir, *pages]
    if not (html_dir / "index.html").is_file():
        raise SystemExit(f"{html_dir}: no built book there (make book)")
    names = page_names(html_dir, pages)

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("Chromium not found: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    failing = 0
    with serve(html_dir) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        for name in names:
            # A fresh context per page: a first visit, as in the test.
            context = browser.new_context()
            report = check_fit(context.new_page(), base_url, name)
            context.close()
            count = len(report.problems)
            print(f"{name}: {'fits' if not count else f'{count} problems'}")
            for problem in report.problems:
                print("  " + problem.removeprefix(f"{name}: "))
            failing += bool(count)
        browser.close()
    print(f"\n{failing} of {len(names)} pages do not fit.")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
