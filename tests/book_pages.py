"""What the book tests share: the pages of the toc, their sources, the Colab
set-up cell, a loopback web server, and the checks the browser runs on a page.

The one home of these helpers: the book tests (test_book_build,
test_book_structure, test_browser, test_colab), test_project and
conftest.py import them. Everything here is read from `_toc.yml`,
`_config.yml` and `book/`, so new chapters are covered without editing a
test.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = ROOT / "book"
PAGE_SUFFIXES = (".ipynb", ".md")


# ----------------------------------------------------------------- the toc


def toc_docs(root: Path = ROOT) -> list[str]:
    """Every document named in `_toc.yml` (the root first), in reading order,
    as written there: a path without suffix, e.g. ``book/00_first_look``."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    docs: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                docs.append(str(Path(node["file"]).with_suffix("")))
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key, []))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    docs.append(str(Path(toc["root"]).with_suffix("")))
    walk(toc)
    return docs


def source_of(doc: str, root: Path = ROOT) -> Path:
    """The source file of a toc document (``.ipynb`` or ``.md``)."""
    matches = [root / f"{doc}{suffix}" for suffix in PAGE_SUFFIXES if (root / f"{doc}{suffix}").is_file()]
    if len(matches) != 1:
        raise LookupError(f"_toc.yml names {doc!r}, which has {len(matches)} source files: {matches}")
    return matches[0]


def book_sources(root: Path = ROOT) -> list[Path]:
    """Every page source in book/ (notebooks and Markdown pages)."""
    return sorted(
        path for suffix in PAGE_SUFFIXES for path in (root / "book").rglob(f"*{suffix}")
        if ".ipynb_checkpoints" not in path.parts
    )


def notebooks(root: Path = ROOT) -> list[Path]:
    return [path for path in book_sources(root) if path.suffix == ".ipynb"]


def markdown_texts(path: Path) -> list[str]:
    """The Markdown a page's reader sees: a .md file, or a notebook's markdown cells."""
    if path.suffix == ".md":
        return [path.read_text()]
    notebook = nbformat.read(path, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]


# Math as MyST parses it: $...$, $$...$$, or an amsmath environment.
_MATH_IN_SOURCE = re.compile(r"\$[^$\s][^$]*\$|\\begin\{")
_CODE_FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.M | re.S)


def source_has_math(path: Path) -> bool:
    return any(_MATH_IN_SOURCE.search(_CODE_FENCE.sub("", text)) for text in markdown_texts(path))


# ---------------------------------------------------------- config, Colab


def book_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text())


def colab_setup_source(repository_url: str) -> str:
    """The Colab set-up cell every chapter starts with (after its title),
    installing vaecourse from ``repository_url``."""
    return (
        "# Colab set-up: in Google Colab, install the course package `vaecourse` from\n"
        "# the course repository. Anywhere else this cell does nothing.\n"
        "try:\n"
        "    import google.colab  # noqa: F401  (importable only inside Colab)\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        f'    %pip install --quiet "vaecourse @ git+{repository_url}"'
    )


def expected_colab_url(doc: str, config: dict) -> str:
    """The URL of the Colab launch button of notebook page ``doc``."""
    repository = config["repository"]
    owner_repo = repository["url"].removeprefix("https://github.com/").strip("/")
    colab = config.get("launch_buttons", {}).get("colab_url", "https://colab.research.google.com")
    path = "/".join(part for part in [repository.get("path_to_book", "").strip("/"), f"{doc}.ipynb"] if part)
    return f"{colab.rstrip('/')}/github/{owner_repo}/blob/{repository.get('branch', 'main')}/{path}"


# --------------------------------------------------------------- the server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the base class's name)
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a background thread;
    yields the base URL, ending in ``/``."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ------------------------------------------------------- the page checks

# Chromium flags for a sandbox-less container with no network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# Waits for MathJax to finish, makes lazy images load, and waits for them.
_SETTLE_JS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done, {once: true});
    img.addEventListener("error", done, {once: true});
    setTimeout(done, 5000);
  })));
}
"""

# What the reader sees of the page, as facts the Python side judges.
_INSPECT_JS = """
() => {
  const article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const prose = article.cloneNode(true);
  // Code, program output and typeset math may show TeX on purpose.
  prose.querySelectorAll("pre, code, script, style, mjx-container, .highlight")
       .forEach(node => node.remove());
  const math = Array.from(document.querySelectorAll(".math"));
  return {
    mathjax_loaded: Boolean(window.MathJax && window.MathJax.startup),
    math_elements: math.length,
    untypeset: math.filter(node => !node.querySelector("mjx-container"))
                   .map(node => node.textContent.trim().slice(0, 80)),
    typeset: document.querySelectorAll("mjx-container").length,
    tex_errors: Array.from(document.querySelectorAll("mjx-merror"))
                    .map(node => (node.getAttribute("data-mjx-error") || node.textContent).slice(0, 80)),
    prose: prose.textContent,
    broken_images: Array.from(document.images)
        .filter(img => !(img.complete && img.naturalWidth > 0))
        .map(img => img.getAttribute("src")),
    images: document.images.length,
    colab_links: Array.from(document.querySelectorAll("a[href]"))
        .map(a => a.href).filter(href => href.includes("colab.research.google.com")),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
  };
}
"""

RAW_MATH_MARKERS = ("$$", "\\begin", "\\(", "\\)", "\\[", "\\]")


@dataclass
class PageReport:
    """What went wrong on one page; ``problems`` is empty when nothing did."""

    name: str
    problems: list[str] = field(default_factory=list)
    links: set[str] = field(default_factory=set)
    facts: dict = field(default_factory=dict)

    def add(self, problem: str) -> None:
        self.problems.append(f"{self.name}: {problem}")


def check_page(page, base_url: str, name: str, *, expect_math: bool = False,
               colab_url: str | None = None, settle_ms: int = 0) -> PageReport:
    """Open ``base_url + name`` in a Playwright ``page`` and check it as a reader.

    Fails on: console errors and uncaught exceptions; same-site requests that
    fail or answer >= 400; any request off the site (the book must read
    offline; such requests are blocked); math that MathJax did not typeset or
    could not parse; raw TeX delimiters in the visible prose; images that did
    not load; a Colab button that is missing (``colab_url`` given), wrong, or
    present on a page that is not a notebook (``colab_url`` None).
    Returns the report, with the page's same-site links (without fragments)
    for `check_links`.
    """
    report = PageReport(name)
    origin = base_url.rstrip("/")

    def on_console(message):
        if message.type == "error":
            report.add(f"console error: {message.text}")

    def on_response(response):
        if response.url.startswith(origin) and response.status >= 400:
            report.add(f"HTTP {response.status} for {response.url.removeprefix(origin)}")

    def on_request_failed(request):
        if request.url.startswith(origin):
            report.add(f"request failed: {request.url.removeprefix(origin)} ({request.failure})")

    def block_offsite(route):
        # The book must not depend on the internet; abort at once rather
        # than wait for a DNS time-out.
        report.add(f"requested an off-site resource: {route.request.url}")
        route.abort()

    listeners = {
        "console": on_console,
        "pageerror": lambda error: report.add(f"uncaught JavaScript error: {error}"),
        "response": on_response,
        "requestfailed": on_request_failed,
    }
    for event, listener in listeners.items():
        page.on(event, listener)
    offsite = re.compile(r"^(?!" + re.escape(origin) + r")(https?|wss?)://")
    page.route(offsite, block_offsite)
    try:
        response = page.goto(base_url + name, wait_until="load")
        if response is None or response.status != 200:
            report.add(f"page answered {None if response is None else response.status}")
            return report
        page.evaluate(_SETTLE_JS)
        if settle_ms:
            page.wait_for_timeout(settle_ms)
        facts = page.evaluate(_INSPECT_JS)
    finally:
        page.unroute(offsite, block_offsite)
        for event, listener in listeners.items():
            page.remove_listener(event, listener)
    report.facts = facts

    if facts["math_elements"] and not facts["mathjax_loaded"]:
        report.add("MathJax did not load")
    if facts["untypeset"]:
        report.add(f"{len(facts['untypeset'])} equations not typeset, e.g. {facts['untypeset'][:3]}")
    if expect_math and not facts["typeset"]:
        report.add("its source has math but the page has no typeset equation (mjx-container)")
    if facts["tex_errors"]:
        report.add(f"MathJax could not parse {len(facts['tex_errors'])} equations: {facts['tex_errors'][:3]}")
    for marker in RAW_MATH_MARKERS:
        if marker in facts["prose"]:
            at = facts["prose"].index(marker)
            context = " ".join(facts["prose"][max(0, at - 40): at + 40].split())
            report.add(f"raw TeX {marker!r} in the visible text: ...{context}...")
    if facts["broken_images"]:
        report.add(f"{len(facts['broken_images'])} images did not load: {facts['broken_images']}")
    if colab_url is None:
        if facts["colab_links"]:
            report.add(f"a page that is not a notebook has a Colab button: {facts['colab_links']}")
    elif facts["colab_links"] != [colab_url]:
        report.add(f"Colab button should open {colab_url}, found {facts['colab_links']}")

    for href in facts["links"]:
        if href.startswith(origin + "/"):
            report.links.add(href)
    return report


def _ids_in(html: str) -> set[str]:
    return set(re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", html))


def check_links(report: PageReport, base_url: str, cache: dict[str, tuple[int, set[str]]]) -> None:
    """Fetch every same-site link of a page (once per run, through ``cache``)
    and add a problem for each that does not answer 200, or whose #fragment
    names no element of its target page."""
    for href in sorted(report.links):
        url, _, fragment = href.partition("#")
        if url not in cache:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    body = response.read()
                    status = response.status
            except urllib.error.HTTPError as error:
                status, body = error.code, b""
            is_html = url.endswith((".html", "/"))
            cache[url] = (status, _ids_in(body.decode("utf-8", "replace")) if is_html else set())
        status, ids = cache[url]
        target = url.removeprefix(base_url.rstrip("/"))
        if status != 200:
            report.add(f"broken link to {target} (HTTP {status})")
        elif fragment and url.endswith(".html") and urllib.parse.unquote(fragment) not in ids:
            report.add(f"link to {target}#{fragment}: no element has that id")
