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
import os
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

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
    matches = [
        root / f"{doc}{suffix}"
        for suffix in PAGE_SUFFIXES
        if (root / f"{doc}{suffix}").is_file()
    ]
    if len(matches) != 1:
        raise LookupError(
            f"_toc.yml names {doc!r}, which has {len(matches)} source "
            f"files: {matches}"
        )
    return matches[0]


def book_sources(root: Path = ROOT) -> list[Path]:
    """Every page source in book/ (notebooks and Markdown pages)."""
    return sorted(
        path
        for suffix in PAGE_SUFFIXES
        for path in (root / "book").rglob(f"*{suffix}")
        if ".ipynb_checkpoints" not in path.parts
    )


def notebooks(root: Path = ROOT) -> list[Path]:
    return [path for path in book_sources(root) if path.suffix == ".ipynb"]


def markdown_texts(path: Path) -> list[str]:
    """The Markdown a page's reader sees: a .md file, or a notebook's
    markdown cells."""
    if path.suffix == ".md":
        return [path.read_text()]
    notebook = nbformat.read(path, as_version=4)
    return [
        cell.source for cell in notebook.cells if cell.cell_type == "markdown"
    ]


# A display as MyST's dollarmath reads it: $$ ... $$, then on the same line
# an optional (label).
DISPLAY = re.compile(
    r"\$\$(?P<latex>.+?)\$\$(?:[ \t]*\((?P<label>[^()\s]+)\))?", flags=re.S
)
FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(\S*)")


@dataclass(frozen=True)
class Display:
    """One displayed equation: the page, its LaTeX and its label."""

    page: str
    latex: str
    label: str | None


def without_code_blocks(text: str) -> str:
    """The text without its code blocks. A directive's fence (```{note})
    holds Markdown, displays included: only its fence lines go."""
    kept, directives, code = [], [], None
    for line in text.splitlines():
        fence = FENCE.match(line)
        if code is not None:
            if fence and fence[1].startswith(code) and not fence[2]:
                code = None
            continue
        if fence and fence[2].startswith("{"):
            directives.append(fence[1])
        elif (
            fence
            and not fence[2]
            and directives
            and fence[1] == directives[-1]
        ):
            directives.pop()
        elif fence:
            code = fence[1]
        else:
            kept.append(line)
    return "\n".join(kept)


def displays_in(page: str, text: str) -> list[Display]:
    """The displays of one Markdown text (code blocks left out)."""
    text = without_code_blocks(text)
    return [
        Display(page, " ".join(m["latex"].split()), m["label"])
        for m in DISPLAY.finditer(text)
    ]


def book_displays(root: Path = ROOT) -> list[Display]:
    """Every display of the book's pages, in reading order."""
    return [
        display
        for path in book_sources(root)
        for text in markdown_texts(path)
        for display in displays_in(path.relative_to(root).as_posix(), text)
    ]


# Math as MyST parses it: $...$, $$...$$, or an amsmath environment.
_MATH_IN_SOURCE = re.compile(r"\$[^$\s][^$]*\$|\\begin\{")
_CODE_FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.M | re.S)


def source_has_math(path: Path) -> bool:
    return any(
        _MATH_IN_SOURCE.search(_CODE_FENCE.sub("", text))
        for text in markdown_texts(path)
    )


# ---------------------------------------------------------- config, Colab


def book_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text())


def colab_setup_source(repository_url: str) -> str:
    """The Colab set-up cell every chapter starts with (after its title),
    installing vaecourse from ``repository_url``."""
    return (
        "# Colab set-up: in Google Colab, install the course package "
        "`vaecourse` from\n"
        "# the course repository. Anywhere else this cell does nothing.\n"
        "try:\n"
        "    import google.colab  # noqa: F401  "
        "(importable only inside Colab)\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        f'    %pip install -q "vaecourse @ git+{repository_url}"'
    )


def expected_colab_url(doc: str, config: dict) -> str:
    """The URL of the Colab launch button of notebook page ``doc``."""
    repository = config["repository"]
    owner_repo = (
        repository["url"].removeprefix("https://github.com/").strip("/")
    )
    colab = config.get("launch_buttons", {}).get(
        "colab_url", "https://colab.research.google.com"
    )
    path = "/".join(
        part
        for part in [
            repository.get("path_to_book", "").strip("/"),
            f"{doc}.ipynb",
        ]
        if part
    )
    branch = repository.get("branch", "main")
    return f"{colab.rstrip('/')}/github/{owner_repo}/blob/{branch}/{path}"


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
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Waits for MathJax to finish, makes lazy images load, and waits for them.
_SETTLE_JS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null
                                          : new Promise(done => {
    img.addEventListener("load", done, {once: true});
    img.addEventListener("error", done, {once: true});
    setTimeout(done, 5000);
  })));
}
"""

# What the reader sees of the page, as facts the Python side judges.
_INSPECT_JS = """
() => {
  const article = document.querySelector("article.bd-article")
    || document.querySelector("main") || document.body;
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
                    .map(node => (node.getAttribute("data-mjx-error")
                                  || node.textContent).slice(0, 80)),
    prose: prose.textContent,
    broken_images: Array.from(document.images)
        .filter(img => !(img.complete && img.naturalWidth > 0))
        .map(img => img.getAttribute("src")),
    images: document.images.length,
    colab_links: Array.from(document.querySelectorAll("a[href]"))
        .map(a => a.href)
        .filter(href => href.includes("colab.research.google.com")),
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


def check_page(
    page,
    base_url: str,
    name: str,
    *,
    expect_math: bool = False,
    colab_url: str | None = None,
    settle_ms: int = 0,
) -> PageReport:
    """Open ``base_url + name`` in a Playwright ``page``; check it as a reader.

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
            report.add(
                f"HTTP {response.status} for "
                f"{response.url.removeprefix(origin)}"
            )

    def on_request_failed(request):
        if request.url.startswith(origin):
            report.add(
                f"request failed: {request.url.removeprefix(origin)} "
                f"({request.failure})"
            )

    def block_offsite(route):
        # The book must not depend on the internet; abort at once rather
        # than wait for a DNS time-out.
        report.add(f"requested an off-site resource: {route.request.url}")
        route.abort()

    listeners = {
        "console": on_console,
        "pageerror": lambda error: report.add(
            f"uncaught JavaScript error: {error}"
        ),
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
            report.add(
                "page answered "
                f"{None if response is None else response.status}"
            )
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
        report.add(
            f"{len(facts['untypeset'])} equations not typeset, "
            f"e.g. {facts['untypeset'][:3]}"
        )
    if expect_math and not facts["typeset"]:
        report.add(
            "its source has math but the page has no typeset equation "
            "(mjx-container)"
        )
    if facts["tex_errors"]:
        report.add(
            f"MathJax could not parse {len(facts['tex_errors'])} "
            f"equations: {facts['tex_errors'][:3]}"
        )
    for marker in RAW_MATH_MARKERS:
        if marker in facts["prose"]:
            at = facts["prose"].index(marker)
            context = " ".join(
                facts["prose"][max(0, at - 40) : at + 40].split()
            )
            report.add(
                f"raw TeX {marker!r} in the visible text: ...{context}..."
            )
    if facts["broken_images"]:
        report.add(
            f"{len(facts['broken_images'])} images did not load: "
            f"{facts['broken_images']}"
        )
    if colab_url is None:
        if facts["colab_links"]:
            report.add(
                "a page that is not a notebook has a Colab button: "
                f"{facts['colab_links']}"
            )
    elif facts["colab_links"] != [colab_url]:
        report.add(
            f"Colab button should open {colab_url}, "
            f"found {facts['colab_links']}"
        )

    for href in facts["links"]:
        if href.startswith(origin + "/"):
            report.links.add(href)
    return report


def _ids_in(html: str) -> set[str]:
    return set(re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", html))


def check_links(
    report: PageReport, base_url: str, cache: dict[str, tuple[int, set[str]]]
) -> None:
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
            cache[url] = (
                status,
                _ids_in(body.decode("utf-8", "replace")) if is_html else set(),
            )
        status, ids = cache[url]
        target = url.removeprefix(base_url.rstrip("/"))
        if status != 200:
            report.add(f"broken link to {target} (HTTP {status})")
        elif (
            fragment
            and url.endswith(".html")
            and urllib.parse.unquote(fragment) not in ids
        ):
            report.add(f"link to {target}#{fragment}: no element has that id")


def find_chromium() -> str | None:
    """VAECOURSE_CHROMIUM if set (another Chromium build), else Debian's."""
    chosen = os.environ.get("VAECOURSE_CHROMIUM")
    candidates = (
        [chosen] if chosen else [shutil.which("chromium"), "/usr/bin/chromium"]
    )
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


# ------------------------------------------------------ pages that fit
#
# A reader at 1280x800 must see every code line, display and image whole,
# inside the article column; on a 390 px phone the page itself must never
# scroll sideways. The checks judge what a reader sees: positions and
# sizes after MathJax has typeset and the fold-outs are open.

# The screens the checks read a page on.
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Sub-pixel rounding: a box one pixel too narrow is not a problem.
FIT_SLACK_PX = 1

# Open everything a reader can unfold (hidden cells, dropdown solutions),
# so that their content is measured too.
_UNFOLD_JS = """
() => {
  document.querySelectorAll("details").forEach(node => { node.open = true; });
  document.querySelectorAll(".toggle-hidden")
    .forEach(node => node.classList.remove("toggle-hidden"));
}
"""

# Shared by the two measurements below: how an element is named, and a
# walk over the layout that finds what sticks out of its box.
_FIT_LIB_JS = """
const SLACK = __SLACK__;
const nameOf = node => node.tagName.toLowerCase()
  + Array.from(node.classList).slice(0, 3).map(c => "." + c).join("");
const describe = node => {
  if (node.tagName === "MJX-CONTAINER")
    return node.getAttribute("display") === "true"
      ? "display math" : "inline math";
  if (node.tagName === "PRE") {
    const where = node.closest(".cell_output") ? "cell output"
      : node.closest(".cell_input") ? "code cell" : "code block";
    return `pre (${where})`;
  }
  return nameOf(node);
};
const snippet = node =>
  (node.textContent || "").replace(/\\s+/g, " ").trim().slice(0, 60);
// The TeX source of a typeset formula: what a chapter author searches for.
const texOf = node => {
  try {
    for (const item of MathJax.startup.document.math) {
      if (item.typesetRoot === node)
        return item.math.replace(/\\s+/g, " ").trim().slice(0, 60);
    }
  } catch (error) { /* MathJax absent: fall back to the text */ }
  return snippet(node);
};
// Where on the page: the API entry (dt id) or the section's heading.
const placeOf = node => {
  const box = node.closest(".admonition");
  const title = box && box.querySelector(":scope > .admonition-title");
  if (title) return title.textContent.replace(/\\s+/g, " ").trim();
  const entry = node.closest("dl.py > dd");
  if (entry && entry.previousElementSibling && entry.previousElementSibling.id)
    return entry.previousElementSibling.id;
  const section = node.closest("section[id]");
  const heading = section && section.querySelector(":scope > h1, :scope > h2, "
    + ":scope > h3, :scope > h4");
  return heading ? heading.textContent.replace(/[#¶]$/, "").trim() : "";
};
const textOf = node => node.tagName === "MJX-CONTAINER" ? texOf(node)
  : node.tagName === "IMG" ? node.getAttribute("src") : snippet(node);
const contentWidth = node => {
  const style = getComputedStyle(node);
  return node.clientWidth - parseFloat(style.paddingLeft)
    - parseFloat(style.paddingRight);
};
// The right edge of what an element shows: its box, or, for a block whose
// content overflows it (a long word, a nowrap line), that content.
const visibleRight = (node, style, leaf) => {
  const box = node.getBoundingClientRect();
  const inline = style.display.startsWith("inline")
    && style.display !== "inline-block";
  if (leaf || inline || style.overflowX !== "visible") return box.right;
  return Math.max(box.right, box.left + node.clientLeft + node.scrollWidth);
};
// The elements whose content ends right of `limit`, each named by the
// innermost block that does (see below). An element that scrolls by
// design (overflow-x auto or scroll: code boxes, displays, table
// wrappers) is judged as a whole, not by what it scrolls; one that clips
// (overflow-x hidden) lowers the limit for what it holds, which it would
// cut off. Typeset math is judged by its box: MathJax's inline spans
// (span.math, which clips) report a scroll width a few px over their
// width, which no reader sees, but a formula whose box ends right of its
// span is cut off. Fixed elements (off-canvas sidebars) never widen the
// page.
const isInline = node => node.tagName !== "IMG"
  && getComputedStyle(node).display.startsWith("inline");
const sticksOut = (root, limit) => {
  const found = [];
  const walk = (node, limit, clipper) => {
    for (const child of node.children) {
      const style = getComputedStyle(child);
      if (style.display === "none" || style.position === "fixed"
          || ["MJX-ASSISTIVE-MML", "SCRIPT", "STYLE"].includes(child.tagName))
        continue;
      const leaf = child.matches("mjx-container, img, svg");
      const box = child.getBoundingClientRect();
      const seen = box.width > 0 && style.visibility !== "hidden";
      const right = visibleRight(child, style, leaf);
      if (seen && right > limit + SLACK) {
        // Name the innermost block that sticks out (a flex container
        // stretches with what it holds; a block's scroll width includes
        // its children's overflow), or this element if none does.
        const before = found.length;
        if (!leaf && style.overflowX === "visible")
          walk(child, limit, clipper);
        const blocks = found.splice(before).filter(f => !isInline(f.node));
        found.push(...(blocks.length
          ? blocks : [{node: child, right, limit, clipper}]));
        continue;
      }
      if (leaf || ["auto", "scroll"].includes(style.overflowX)) continue;
      if (["hidden", "clip"].includes(style.overflowX)) {
        const edge = box.left + child.clientLeft + child.clientWidth;
        const before = found.length;
        walk(child, Math.min(limit, edge), nameOf(child));
        if (found.length === before && seen && !child.matches("span.math")
            && child.scrollWidth > child.clientWidth + SLACK)
          found.push({node: child, right: box.left + child.scrollWidth,
                      limit: edge, clipper: nameOf(child)});
        continue;
      }
      walk(child, limit, clipper);
    }
  };
  walk(root, limit, null);
  return found;
};
""".replace("__SLACK__", str(FIT_SLACK_PX))

# At 1280x800: what does not fit the article column.
_FIT_JS = (
    "() => {\n"
    + _FIT_LIB_JS
    + """
  const article = document.querySelector("article.bd-article")
    || document.querySelector("main") || document.body;
  const column = Math.floor(article.getBoundingClientRect().right
    - parseFloat(getComputedStyle(article).paddingRight));
  const problems = [];
  const add = (kind, node, text, detail) => problems.push(
    {kind, element: describe(node), text, where: placeOf(node), detail});
  const px = value => Math.round(value);

  // Code: every line is seen without scrolling the box.
  for (const pre of article.querySelectorAll("pre")) {
    if (pre.scrollWidth <= pre.clientWidth + SLACK) continue;
    const longest = pre.textContent.split("\\n")
      .reduce((a, b) => (b.length > a.length ? b : a), "");
    add("code", pre, longest.trim().slice(0, 60),
        `longest line ${longest.length} characters; scrollWidth `
        + `${pre.scrollWidth} > clientWidth ${pre.clientWidth} px`);
  }
  // Displays: the typeset formula fits its parent.
  const displays = article.querySelectorAll('mjx-container[display="true"]');
  for (const math of displays) {
    const inner = math.querySelector("mjx-math");
    const width = Math.max(math.scrollWidth,
                           inner ? inner.getBoundingClientRect().width : 0);
    const room = contentWidth(math.parentElement);
    if (width > room + SLACK)
      add("display", math, texOf(math),
          `${px(width)} px wide in ${px(room)} px`);
  }
  // Images: within their block and within the column.
  for (const img of article.querySelectorAll("img")) {
    const box = img.getBoundingClientRect();
    if (!box.width) continue;
    let block = img.parentElement;
    while (block !== article
           && getComputedStyle(block).display.startsWith("inline"))
      block = block.parentElement;
    const room = contentWidth(block);
    if (box.width > room + SLACK || box.right > column + SLACK)
      add("image", img, img.getAttribute("src"),
          `${px(box.width)} px wide in ${px(room)} px, right edge at `
          + `${px(box.right)} px, the column ends at ${column} px`);
    // A notebook's figure is drawn for the width it asks for (the figure
    // rule of vaecourse.plotting): shown smaller, its text shrinks.
    const wanted = parseFloat(img.getAttribute("width"));
    if (img.closest(".cell_output") && wanted && box.width < wanted - SLACK)
      add("scaled", img, img.getAttribute("src"),
          `shown ${px(box.width)} px wide, drawn for ${wanted} px`);
  }
  // Everything else: nothing runs past the column or is cut off.
  for (const {node, right, limit, clipper} of sticksOut(article, column)) {
    if (node.tagName === "IMG") continue;  // judged above
    const text = textOf(node);
    if (clipper)
      add("cut", node, text, `right edge at ${px(right)} px, cut off by `
          + `${clipper} at ${px(limit)} px`);
    else
      add("column", node, text, `right edge at ${px(right)} px, the column `
          + `ends at ${column} px`);
  }
  const page = document.documentElement.scrollWidth;
  if (page > window.innerWidth)
    problems.push({kind: "page", element: "html", text: "", where: "",
                   detail: `${page} px wide on a ${window.innerWidth} px `
                           + "screen"});
  return problems;
}
"""
)

# At 390 px: does the page scroll sideways, and which elements make it?
_SIDEWAYS_JS = (
    "() => {\n"
    + _FIT_LIB_JS
    + """
  const problems = [];
  // A list marker drawn outside its item (the default) is cut off by a box
  // that clips (overflow-x other than visible): the item itself, or a box
  // around it whose left edge lies right of where the marker is drawn.
  const article = document.querySelector("article.bd-article")
    || document.body;
  for (const li of article.querySelectorAll("li")) {
    const style = getComputedStyle(li);
    const box = li.getBoundingClientRect();
    if (style.display !== "list-item" || style.listStyleType === "none"
        || style.listStylePosition !== "outside" || !box.width) continue;
    const markerLeft = box.left - parseFloat(style.fontSize);
    for (let node = li; node && node !== document.body;
         node = node.parentElement) {
      const clips = getComputedStyle(node).overflowX;
      if (clips === "visible") continue;
      const left = node.getBoundingClientRect().left + node.clientLeft;
      if (node !== li && left <= markerLeft) continue;
      problems.push({
        kind: "marker", element: "li", text: snippet(li),
        where: placeOf(li),
        detail: node === li ? `the item has overflow-x: ${clips}`
          : `${nameOf(node)} (overflow-x: ${clips}) starts at `
            + `${Math.round(left)} px, the marker at `
            + `${Math.round(markerLeft)} px`});
      break;
    }
  }
  // A table wider than its box scrolls; its first column must stay in
  // view when it is scrolled to the end.
  for (const box of article.querySelectorAll(
      ".pst-scrollable-table-container")) {
    if (box.scrollWidth <= box.clientWidth + SLACK) continue;
    const first = box.querySelector("tr > :first-child");
    if (!first) continue;
    const before = box.scrollLeft;
    box.scrollLeft = box.scrollWidth;
    const left = first.getBoundingClientRect().left;
    const edge = box.getBoundingClientRect().left + box.clientLeft;
    box.scrollLeft = before;
    if (left < edge - SLACK)
      problems.push({
        kind: "key", element: "table", text: snippet(first),
        where: placeOf(box),
        detail: `scrolled to its end, the first column starts at `
          + `${Math.round(left)} px, left of the table's box at `
          + `${Math.round(edge)} px`});
  }
  // An image narrowed to the screen keeps its proportions.
  for (const img of article.querySelectorAll("img")) {
    const box = img.getBoundingClientRect();
    if (!box.width || !img.naturalWidth) continue;
    const shown = box.height / box.width;
    const drawn = img.naturalHeight / img.naturalWidth;
    if (Math.abs(shown / drawn - 1) > 0.02)
      problems.push({
        kind: "distorted", element: describe(img),
        text: img.getAttribute("src"), where: placeOf(img),
        detail: `height/width ${shown.toFixed(2)} on the screen, `
          + `${drawn.toFixed(2)} in the file`});
  }
  const page = document.documentElement.scrollWidth;
  const screen = window.innerWidth;
  if (page <= screen) return problems;
  problems.push({kind: "page", element: "html", text: "", where: "",
                 detail: `${page} px wide on a ${screen} px screen`});
  for (const {node, right} of sticksOut(document.body, screen).slice(0, 10))
    problems.push({
      kind: "wide", element: describe(node),
      text: textOf(node), where: placeOf(node),
      detail: `right edge at ${Math.round(right)} px`});
  return problems;
}
"""
)

_FIT_KINDS = {
    "code": "a code line does not fit its box",
    "display": "a display is wider than its column",
    "image": "an image is wider than its column",
    "scaled": "a figure is shown smaller than it is drawn",
    "distorted": "an image is distorted",
    "column": "an element runs past the column",
    "cut": "an element is cut off",
    "page": "the page scrolls sideways",
    "wide": "wider than the screen",
    "marker": "a list marker is cut off",
    "key": "a table's first column scrolls out of view",
}


def _settle(page, base_url: str, name: str) -> int | None:
    """Open a page, wait for MathJax and the images; its HTTP status."""
    response = page.goto(base_url + name, wait_until="load")
    if response is None:
        return None
    page.evaluate(_SETTLE_JS)
    return response.status


def fit_problem(screen: dict, offender: dict) -> str:
    """One line about one element that does not fit (see check_fit)."""
    where = f"at {screen['width']}x{screen['height']}"
    # Quoted as written (TeX keeps single backslashes), on one line.
    text = f" '{offender['text']}'" if offender["text"] else ""
    place = f" (in {offender['where']})" if offender["where"] else ""
    return (
        f"{where}, {_FIT_KINDS[offender['kind']]}: {offender['element']}"
        f"{text}{place}: {offender['detail']}"
    )


def check_fit(
    page, base_url: str, name: str, *, prepare: Callable | None = None
) -> PageReport:
    """Open ``base_url + name`` and check that what it shows fits the screen.

    At 1280x800 (``DESKTOP``), with every fold-out open: no code box
    (input cell, output, printed source) is scrolled by its longest line;
    every display (``mjx-container[display="true"]``) fits its parent; every
    image fits its block and the column; no element ends right of the
    article column or is cut off by a box that clips it, except inside an
    element that scrolls by design (a table's wrapper); the page does not
    scroll sideways; a notebook's figure is shown at the width it was
    drawn for. At 390 px (``PHONE``) the page does not scroll
    sideways, no list marker is cut off by a box that clips, a table
    that scrolls keeps its first column in view, and no image is
    distorted. Each
    problem names the page, the element (tag and classes, a snippet of its
    text or TeX source) and the widths. ``prepare(page)``,
    if given, runs on the open page before it is measured (the tests break
    a page with it on purpose).
    """
    report = PageReport(name)
    page.set_viewport_size(DESKTOP)
    status = _settle(page, base_url, name)
    if status != 200:
        report.add(f"page answered {status}")
        return report
    page.evaluate(_UNFOLD_JS)
    if prepare is not None:
        prepare(page)
    for offender in page.evaluate(_FIT_JS):
        report.add(fit_problem(DESKTOP, offender))
    page.set_viewport_size(PHONE)
    for offender in page.evaluate(_SIDEWAYS_JS):
        report.add(fit_problem(PHONE, offender))
    return report


# --------------------------------------------------------- the diagrams

# The one list of the book's diagrams (drawn by scripts/draw_diagrams.py
# into book/images/): the page that shows each, by the toc's name.
DIAGRAMS = {
    "book/01_autoencoders": ["autoencoder_bottleneck.png"],
    "book/04_reparameterization": ["reparameterization_graph.png"],
    "book/06_elbo": ["elbo_gap.png"],
}

# Sphinx names the figures of notebook outputs by their content's hash.
_HASHED = re.compile(r"[0-9a-f]{64}\.\w+$")

_IMAGES_JS = """
() => Array.from(document.querySelectorAll("article img, main img"))
  .map(img => ({
    file: decodeURIComponent(new URL(img.src).pathname.split("/").pop()),
    src: img.getAttribute("src"),
    loaded: img.complete && img.naturalWidth > 0,
    alt: (img.getAttribute("alt") || "").trim(),
  }))
"""


def check_diagrams(
    page, base_url: str, name: str, files: list[str]
) -> PageReport:
    """Open ``base_url + name``: each diagram in ``files`` (a file name in
    book/images/) is on the page, has loaded (naturalWidth > 0), and has
    alt text."""
    report = PageReport(name)
    status = _settle(page, base_url, name)
    if status != 200:
        report.add(f"page answered {status}")
        return report
    images = page.evaluate(_IMAGES_JS)
    for file in files:
        shown = [image for image in images if image["file"] == file]
        if not shown:
            # Named files only: figures of notebook outputs are hashes.
            named = sorted(
                {i["file"] for i in images if not _HASHED.match(i["file"])}
            )
            report.add(
                f"diagram {file} is not on the page (named images there: "
                f"{named})"
            )
        for image in shown:
            if not image["loaded"]:
                report.add(f"diagram {file} did not load ({image['src']})")
            if not image["alt"]:
                report.add(f"diagram {file} has no alt text")
    return report


# ------------------------------------------------------ the latent explorer
#
# book/explorer/explorer.js runs a shipped decoder in the page
# (_ext/latent_explorer.py). The check sets codes through the page's
# window.latentExplorers and compares the 8-bit pixels it draws, both its
# own array and what the canvas holds, with PyTorch's decoder.

#: Largest difference, in 8-bit grey levels, allowed between a pixel the
#: page draws and round(255 x) of PyTorch's decoder mean x.
EXPLORER_TOLERANCE = 1

_EXPLORER_READY_JS = """
() => {
  const root = document.querySelector(".latent-explorer");
  return root && root.dataset.ready;
}
"""

_EXPLORER_AT_JS = """
(values) => {
  const explorer = window.latentExplorers[0];
  explorer.setLatent(...values);
  return [explorer.latent(), explorer.pixels(), explorer.canvasPixels()];
}
"""


def explorer_problems(
    page,
    base_url: str,
    path: str,
    expected: Callable[[list[float]], list[int]],
    points: list[tuple[float, float]],
) -> list[str]:
    """Open ``path``, wait for its explorer, and compare the pixels it draws
    at each code of ``points`` with ``expected(z)`` (PyTorch's)."""
    page.goto(base_url + path)
    page.wait_for_function(_EXPLORER_READY_JS, timeout=30_000)
    state = page.evaluate(_EXPLORER_READY_JS)
    if state != "true":
        return [f"{path}: the latent explorer did not start ({state})"]
    problems = []
    for point in points:
        latent, drawn, canvas = page.evaluate(_EXPLORER_AT_JS, list(point))
        want = expected(latent)
        for name, got in (("its pixels", drawn), ("its canvas", canvas)):
            if len(got) != len(want):
                problems.append(
                    f"{path}: at z = {point} {name} hold {len(got)} values, "
                    f"PyTorch's image {len(want)}"
                )
                continue
            worst = max(abs(a - b) for a, b in zip(got, want, strict=True))
            if worst > EXPLORER_TOLERANCE:
                problems.append(
                    f"{path}: at z = {point} {name} differ from PyTorch's "
                    f"decoder by up to {worst}/255 (tolerance "
                    f"{EXPLORER_TOLERANCE}/255)"
                )
    return problems
