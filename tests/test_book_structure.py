"""The book's sources agree with each other: the toc and book/, citations and
the bibliography, and the layout every chapter shares. No build needed.

Each check is a function that lists the problems of a book folder, so the
last tests can prove, on a small broken book, that it finds them."""

from __future__ import annotations

import base64
import re
import sys
import textwrap
from collections import Counter
from pathlib import Path

import matplotlib
import matplotlib.pyplot
import nbformat
import pytest
from book_pages import (
    ROOT,
    book_sources,
    markdown_texts,
    notebooks,
    source_of,
    toc_docs,
)

# {cite}`a,b`, {cite:p}`a`, {cite:t}`a; b` ...
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
BIB_ENTRY = re.compile(r"^\s*@(\w+)\s*\{\s*([^,\s]+)\s*,", flags=re.M)
CODE_FENCE = re.compile(r"^(```+|~~~+).*?^\1", flags=re.M | re.S)


def bib_keys(root: Path) -> list[str]:
    text = (root / "book" / "references.bib").read_text()
    return [
        key
        for kind, key in BIB_ENTRY.findall(text)
        if kind.lower() not in {"comment", "string", "preamble"}
    ]


def toc_problems(root: Path) -> list[str]:
    docs = toc_docs(root)
    problems = [
        f"_toc.yml names {doc} twice"
        for doc, count in Counter(docs).items()
        if count > 1
    ]
    in_toc = set()
    for doc in docs:
        try:
            in_toc.add(source_of(doc, root).relative_to(root))
        except LookupError as error:
            problems.append(str(error))
    in_book = {path.relative_to(root) for path in book_sources(root)}
    problems += [
        f"{path} is not in _toc.yml" for path in sorted(in_book - in_toc)
    ]
    problems += [
        f"_toc.yml names {path}, outside book/"
        for path in sorted(in_toc - in_book)
    ]
    return problems


def bibliography_problems(root: Path) -> list[str]:
    return [
        f"book/references.bib defines {key} {count} times"
        for key, count in Counter(bib_keys(root)).items()
        if count > 1
    ]


def citation_problems(path: Path, known: set[str]) -> list[str]:
    cited = {
        key.strip()
        for text in markdown_texts(path)
        for keys in CITE_ROLE.findall(CODE_FENCE.sub("", text))
        for key in re.split(r"[,;]", keys)
    }
    return [
        f"{path.name} cites {key}, which is not in book/references.bib"
        for key in sorted(cited - known)
    ]


def layout_problems(path: Path) -> list[str]:
    """Cell 1 is the chapter's only '# Title'; cell 2 is the Colab set-up cell
    (its exact text is checked by tests/test_colab.py)."""
    cells = nbformat.read(path, as_version=4).cells
    if len(cells) < 3:
        return [f"{path.name}: only {len(cells)} cells"]
    problems = []
    if not (
        cells[0].cell_type == "markdown" and re.match(r"# \S", cells[0].source)
    ):
        problems.append(
            f"{path.name}: the first cell is not a Markdown '# Title'"
        )
    h1 = [
        line
        for cell in cells
        if cell.cell_type == "markdown"
        for line in CODE_FENCE.sub("", cell.source).splitlines()
        if re.match(r"#\s", line)
    ]
    if len(h1) > 1:
        problems.append(f"{path.name}: more than one '# ' title: {h1}")
    if not (
        cells[1].cell_type == "code" and "google.colab" in cells[1].source
    ):
        problems.append(
            f"{path.name}: the second cell is not the Colab set-up cell"
        )
    return problems


def execution_problems(path: Path) -> list[str]:
    """Stored outputs from one top-to-bottom run: nbval compares them, and a
    notebook without them proves nothing."""
    code = [
        cell
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "code"
    ]
    counts = [cell.execution_count for cell in code]
    problems = []
    if counts != list(range(1, len(code) + 1)):
        problems.append(
            f"{path.name}: execution counts {counts}, not 1..{len(code)}: "
            "run it top to bottom in a fresh kernel "
            "(scripts/execute_notebooks.py) and commit the outputs"
        )
    if not any(cell.outputs for cell in code):
        problems.append(f"{path.name}: no stored outputs")
    return problems


# reStructuredText markup that a docstring would leak into a printed output.
RST_MARKUP = re.compile(r":(math|func|class|meth|mod):`|``")


def markup_problems(path: Path) -> list[str]:
    """Printed outputs read as text: no reStructuredText from docstrings."""
    problems = []
    cells = nbformat.read(path, as_version=4).cells
    for index, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "") + output.get("data", {}).get(
                "text/plain", ""
            )
            found = RST_MARKUP.search(text)
            if found:
                problems.append(
                    f"{path.name}, cell {index}: an output prints "
                    f"reStructuredText markup {found.group(0)!r}"
                )
    return problems


# A size given in a chapter's code: fontsize=8, size="small", labelsize=7.
SIZE_ARGUMENT = re.compile(
    r"\b(?:font|label|title_font)size\s*=\s*(\d+(?:\.\d+)?)"
    r"|\b(?:font|label|title_font)?size\s*=\s*"
    r"[\"'](xx-small|x-small|small|smaller)[\"']"
)


def figure_rule_problems(path: Path) -> list[str]:
    """The figure rule (vaecourse.plotting): the chapter sets the course's
    style before its first figure and sets no rcParams or text size below
    9 pt of its own; each stored PNG is twice the size it is shown at, and
    shown no wider than the column."""
    from vaecourse.plotting import COLUMN_WIDTH_PX, MIN_FONT_PT

    problems = []
    styled = False
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        where = f"{path.name}, cell {index}"
        styled = styled or "use_course_style()" in cell.source
        if "rcParams" in cell.source:
            problems.append(f"{where}: sets rcParams (use the course style)")
        for found in SIZE_ARGUMENT.finditer(cell.source):
            number, relative = found.groups()
            if relative or float(number) < MIN_FONT_PT:
                problems.append(
                    f"{where}: {found.group(0)!r}, text below "
                    f"{MIN_FONT_PT:g} pt"
                )
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png is None:
                continue
            if not styled:
                problems.append(
                    f"{where}: a figure before plotting.use_course_style()"
                )
            pixels = int.from_bytes(base64.b64decode(png)[16:20], "big")
            shown = output.get("metadata", {}).get("image/png", {})
            width = shown.get("width")
            if width is None or abs(pixels - 2 * width) > 1:
                problems.append(
                    f"{where}: a PNG of {pixels} px shown at {width} px, "
                    "not twice the resolution"
                )
            elif width > COLUMN_WIDTH_PX:
                problems.append(
                    f"{where}: a figure shown {width} px wide, wider than "
                    f"the {COLUMN_WIDTH_PX} px column"
                )
    return problems


# A MyST figure of a file in book/images, and the options under it.
FIGURE_DIRECTIVE = re.compile(
    r"^```\{figure\} (images/\S+\.png)\n((?::\w+:.*\n)*)", flags=re.M
)


def diagram_problems(path: Path) -> list[str]:
    """The figure rule for the diagrams a page shows (drawn by
    scripts/draw_diagrams.py): each is shown at a width in px, half its
    PNG's, no wider than the column."""
    from vaecourse.plotting import COLUMN_WIDTH_PX

    problems = []
    for text in markdown_texts(path):
        for found in FIGURE_DIRECTIVE.finditer(text):
            file, options = found.groups()
            width = re.search(r"^:width: (\d+)px$", options, flags=re.M)
            png = (path.parent / file).read_bytes()
            pixels = int.from_bytes(png[16:20], "big")
            if width is None:
                problems.append(
                    f"{path.name}: {file} has no ':width: Npx' (half its "
                    f"{pixels} px)"
                )
            elif abs(pixels - 2 * int(width.group(1))) > 1:
                problems.append(
                    f"{path.name}: {file} is {pixels} px, shown at "
                    f"{width.group(1)} px: not twice the resolution"
                )
            elif int(width.group(1)) > COLUMN_WIDTH_PX:
                problems.append(
                    f"{path.name}: {file} shown {width.group(1)} px wide, "
                    f"wider than the {COLUMN_WIDTH_PX} px column"
                )
    return problems


def assert_none(problems: list[str]) -> None:
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ----------------------------------------------------------------- the book


def test_toc_and_book_folder_name_the_same_pages():
    assert_none(toc_problems(ROOT))


def test_bibliography_keys_are_unique():
    assert_none(bibliography_problems(ROOT))


@pytest.mark.parametrize("path", book_sources(), ids=lambda path: path.name)
def test_every_citation_is_in_the_bibliography(path):
    assert_none(citation_problems(path, set(bib_keys(ROOT))))


@pytest.mark.parametrize("path", notebooks(), ids=lambda path: path.name)
def test_chapter_opens_with_its_title_then_the_setup_cell(path):
    assert_none(layout_problems(path))


@pytest.mark.parametrize("path", notebooks(), ids=lambda path: path.name)
def test_chapter_is_stored_executed_top_to_bottom(path):
    assert_none(execution_problems(path))


@pytest.mark.parametrize("path", notebooks(), ids=lambda path: path.name)
def test_no_output_prints_restructuredtext(path):
    assert_none(markup_problems(path))


@pytest.mark.parametrize("path", notebooks(), ids=lambda path: path.name)
def test_figures_follow_the_figure_rule(path):
    assert_none(figure_rule_problems(path))


@pytest.mark.parametrize("path", book_sources(), ids=lambda path: path.name)
def test_diagrams_are_shown_at_half_their_resolution(path):
    assert_none(diagram_problems(path))


def test_every_diagram_follows_the_figure_rule_as_drawn():
    from vaecourse.plotting import STYLE, figure_problems

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import draw_diagrams
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    with matplotlib.pyplot.rc_context(STYLE):
        for name, draw in draw_diagrams.DIAGRAMS.items():
            figure = draw()
            assert figure_problems(figure) == [], name
            matplotlib.pyplot.close(figure)


def png_output(width: int, shown: int | None) -> dict:
    """A display_data output holding a blank PNG ``width`` px wide."""
    header = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR"
    png = header + width.to_bytes(4, "big") + (10).to_bytes(4, "big")
    metadata = {} if shown is None else {"image/png": {"width": shown}}
    return nbformat.v4.new_output(
        "display_data",
        data={"image/png": base64.b64encode(png).decode()},
        metadata=metadata,
    )


def test_the_figure_rule_check_finds_each_kind_of_breach(tmp_path):
    code = nbformat.v4.new_code_cell
    cells = [
        code("fig"),
        code("from vaecourse import plotting\nplotting.use_course_style()"),
        code('ax.legend(fontsize=8)\nax.set_title("t", fontsize="small")'),
        code('plt.rcParams["font.size"] = 12\nf(size=3, fontsize=9)'),
        code("fig"),
        code("fig"),
        code("fig"),
    ]
    cells[0].outputs = [png_output(800, 400)]
    cells[4].outputs = [png_output(1600, 800)]
    cells[5].outputs = [png_output(600, None)]
    cells[6].outputs = [png_output(1376, 688)]
    path = tmp_path / "figures.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    assert figure_rule_problems(path) == [
        "figures.ipynb, cell 0: a figure before plotting.use_course_style()",
        "figures.ipynb, cell 2: 'fontsize=8', text below 9 pt",
        "figures.ipynb, cell 2: 'fontsize=\"small\"', text below 9 pt",
        "figures.ipynb, cell 3: sets rcParams (use the course style)",
        "figures.ipynb, cell 4: a figure shown 800 px wide, wider than the "
        "688 px column",
        "figures.ipynb, cell 5: a PNG of 600 px shown at None px, not twice "
        "the resolution",
    ]


def test_the_diagram_check_finds_each_kind_of_breach(tmp_path):
    (tmp_path / "images").mkdir()
    header = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR"
    for name, width in [("a", 1000), ("b", 1600)]:
        png = header + width.to_bytes(4, "big") + (10).to_bytes(4, "big")
        (tmp_path / "images" / f"{name}.png").write_bytes(png)
    page = tmp_path / "page.md"
    page.write_text(
        "```{figure} images/a.png\n:alt: A\n:width: 500px\n\nfits\n```\n"
        "```{figure} images/a.png\n:alt: A\n:width: 90%\n\nno px\n```\n"
        "```{figure} images/a.png\n:width: 600px\n\nblurred\n```\n"
        "```{figure} images/b.png\n:width: 800px\n\ntoo wide\n```\n"
    )
    assert diagram_problems(page) == [
        "page.md: images/a.png has no ':width: Npx' (half its 1000 px)",
        "page.md: images/a.png is 1000 px, shown at 600 px: not twice the "
        "resolution",
        "page.md: images/b.png shown 800 px wide, wider than the 688 px "
        "column",
    ]


def test_the_markup_check_finds_a_docstring_in_an_output(tmp_path):
    cell = nbformat.v4.new_code_cell("help(f)")
    cell.outputs = [
        nbformat.v4.new_output("stream", text="Returns :math:`x`.\n")
    ]
    path = tmp_path / "leak.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    assert markup_problems(path) == [
        "leak.ipynb, cell 0: an output prints reStructuredText markup "
        "':math:`'"
    ]


# ------------------------------------------------ the checks find problems


def write_notebook(path: Path, cells: list, counts: list) -> None:
    notebook = nbformat.v4.new_notebook(cells=cells)
    for cell, count in zip(
        [c for c in cells if c.cell_type == "code"], counts, strict=True
    ):
        cell.execution_count = count
        if count:
            cell.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nbformat.write(notebook, path)


def test_the_checks_find_the_problems_of_a_broken_book(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (tmp_path / "_toc.yml").write_text(
        textwrap.dedent("""\
        format: jb-book
        root: book/intro
        parts:
          - caption: Part
            chapters:
              - file: book/01_good
              - file: book/02_gone
                sections:
                  - file: book/01_good
        """)
    )
    (book / "intro.md").write_text(
        "# Intro\n\nAs {cite}`known2020` and "
        "{cite:p}`known2020,unknown2021` say.\n"
        "```\n{cite}`in_code_is_fine`\n```\n"
    )
    (book / "references.bib").write_text(
        "@article{known2020,\n title={A}}\n@book{known2020,\n title={B}}\n"
    )
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    write_notebook(
        book / "01_good.ipynb",
        [md("# Good"), code("import google.colab"), code("1")],
        [1, 2],
    )
    write_notebook(
        book / "03_untitled.ipynb",
        [md("Text"), code("print(1)"), md("# One\n\n# Two")],
        [None],
    )

    assert toc_problems(tmp_path) == [
        "_toc.yml names book/01_good twice",
        "_toc.yml names 'book/02_gone', which has 0 source files: []",
        "book/03_untitled.ipynb is not in _toc.yml",
    ]
    assert bibliography_problems(tmp_path) == [
        "book/references.bib defines known2020 2 times"
    ]
    known = set(bib_keys(tmp_path))
    assert citation_problems(book / "intro.md", known) == [
        "intro.md cites unknown2021, which is not in book/references.bib"
    ]
    assert layout_problems(book / "01_good.ipynb") == []
    assert execution_problems(book / "01_good.ipynb") == []
    assert layout_problems(book / "03_untitled.ipynb") == [
        "03_untitled.ipynb: the first cell is not a Markdown '# Title'",
        "03_untitled.ipynb: more than one '# ' title: ['# One', '# Two']",
        "03_untitled.ipynb: the second cell is not the Colab set-up cell",
    ]
    assert execution_problems(book / "03_untitled.ipynb") == [
        "03_untitled.ipynb: execution counts [None], not 1..1: run it top "
        "to bottom in a fresh kernel (scripts/execute_notebooks.py) and "
        "commit the outputs",
        "03_untitled.ipynb: no stored outputs",
    ]
