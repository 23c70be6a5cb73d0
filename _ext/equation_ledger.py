"""Sphinx extension: the equation ledger, every displayed equation tied to
the code that proves or tests it, and the tie shown to the reader.

Every display of the chapters carries a label (MyST's ``$$ ... $$ (label)``)
and has an entry, under that label, in ``book/equations.yml``:

``status``
    ``proved`` (a SymPy proof in :mod:`vaecourse.symbolic` that holds for
    every value of its symbols), ``tested`` (a test against an independent
    reference: a closed form, ``torch.distributions``, Monte Carlo, SymPy at
    a small dimension), ``definition`` (nothing to prove; a test may still
    check that the code computes it) or ``erratum`` (the source notes'
    mistake, quoted on purpose; a test shows that it fails).
``proof``, ``args``, ``lines``
    The dotted name of a function of the package (called with ``args``, a
    list, if given) that returns the proof:
    a list of :class:`~vaecourse.symbolic.DerivationStep` (``lines`` are the
    step numbers, from 1, that the display shows) or a
    :class:`~vaecourse.symbolic.Proof` whose ``latex`` the display shows.
``tests``
    Test functions, ``tests/FILE.py::NAME``.
``note``
    A few words the ledger page shows, e.g. "SymPy, d ≤ 3".

This extension puts a mark under each labelled display (its status, linked
to the proof in the API reference or to the test in the repository) and
fills the ``{equation-ledger}`` directive of ``book/equations.md`` with the
table of every equation. ``tests/test_equation_ledger.py`` checks the
registry against the book and the code: every display labelled, every label
entered, every named test present, every proved display equal to its proof.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes
from sphinx.util import logging

ROOT = Path(__file__).resolve().parents[1]
LEDGER_PATH = ROOT / "book" / "equations.yml"

#: What each status says to the reader, in the mark and on the ledger page.
STATUSES = {
    "proved": "proved",
    "tested": "tested",
    "definition": "definition",
    "erratum": "erratum: shown wrong",
}
FIELDS = {"status", "proof", "args", "lines", "tests", "note"}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One equation of the ledger (see the module's docstring)."""

    label: str
    status: str
    proof: str | None = None
    args: tuple = ()
    lines: tuple[int, ...] = ()
    tests: tuple[str, ...] = ()
    note: str | None = None


class LedgerError(ValueError):
    """The registry is malformed; the message names the entry and field."""


def parse_ledger(text: str) -> dict[str, Entry]:
    """The entries of a ledger written in YAML, checked field by field."""
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise LedgerError("the ledger must map labels to entries")
    entries = {}
    for label, fields in raw.items():
        if not isinstance(fields, dict):
            raise LedgerError(f"{label}: an entry must be a mapping")
        unknown = set(fields) - FIELDS
        if unknown:
            raise LedgerError(f"{label}: unknown fields {sorted(unknown)}")
        status = fields.get("status")
        if status not in STATUSES:
            raise LedgerError(
                f"{label}: status must be one of {sorted(STATUSES)}, "
                f"got {status!r}"
            )
        lines = tuple(fields.get("lines", ()))
        tests = tuple(fields.get("tests", ()))
        proof = fields.get("proof")
        if status == "proved" and proof is None:
            raise LedgerError(f"{label}: a proved equation names its proof")
        if status in ("tested", "erratum") and not tests:
            raise LedgerError(f"{label}: a {status} equation names its tests")
        args = tuple(fields.get("args", ()))
        if (lines or args) and proof is None:
            raise LedgerError(f"{label}: lines and args belong to a proof")
        for test in tests:
            if "::" not in test or not test.startswith("tests/"):
                raise LedgerError(
                    f"{label}: a test is named tests/FILE.py::NAME, "
                    f"got {test!r}"
                )
        entries[str(label)] = Entry(
            str(label), status, proof, args, lines, tests, fields.get("note")
        )
    return entries


def load_ledger(path: Path = LEDGER_PATH) -> dict[str, Entry]:
    """The entries of ``book/equations.yml``."""
    return parse_ledger(path.read_text(encoding="utf-8"))


def line_of_test(test: str, root: Path = ROOT) -> int | None:
    """The line where ``tests/FILE.py::NAME`` defines its function, or
    ``None`` when the file or the function does not exist."""
    file, _, name = test.partition("::")
    path = root / file
    if not path.is_file():
        return None
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node.lineno
    return None


def url_of_test(test: str, repository: str, branch: str) -> str:
    """The test's function in the repository, at its line."""
    file = test.partition("::")[0]
    line = line_of_test(test)
    anchor = f"#L{line}" if line else ""
    return f"{repository.rstrip('/')}/blob/{branch}/{file}{anchor}"


# ------------------------------------------------------------- the marks


def _proof_reference(target: str) -> nodes.Node:
    """A cross-reference to the proof's entry in the API reference (the
    build fails, nitpicky, if it is not documented)."""
    short = target.removeprefix("vaecourse.")
    ref = addnodes.pending_xref(
        "",
        nodes.literal(short, short),
        refdomain="py",
        reftype="func",
        reftarget=target,
        refexplicit=True,
        refwarn=True,
    )
    return ref


def _test_reference(test: str, config) -> nodes.Node:
    url = url_of_test(test, *_repository(config))
    file, _, name = test.partition("::")
    return nodes.reference(
        "", "", nodes.literal(name, name), refuri=url, reftitle=file
    )


def _repository(config) -> tuple[str, str]:
    """The repository and branch of ``_config.yml``, as Jupyter Book hands
    them to the theme."""
    options = config.html_theme_options or {}
    return (
        options.get("repository_url", ""),
        options.get("repository_branch", "main"),
    )


def _tie(entry: Entry, config) -> list[nodes.Node]:
    """The proof and the tests of an entry, as links, comma-separated."""
    links = []
    if entry.proof:
        links.append(_proof_reference(entry.proof))
    links += [_test_reference(test, config) for test in entry.tests]
    out: list[nodes.Node] = []
    for i, link in enumerate(links):
        if i:
            out.append(nodes.Text(", "))
        out.append(link)
    return out


def _mark(entry: Entry, config) -> nodes.paragraph:
    mark = nodes.paragraph(
        classes=["equation-tie", f"equation-tie-{entry.status}"]
    )
    mark += nodes.inline(
        "", STATUSES[entry.status], classes=["equation-tie-status"]
    )
    tie = _tie(entry, config)
    if tie:
        mark += nodes.Text(" · ")
        mark.extend(tie)
    if entry.note:
        mark += nodes.Text(f" ({entry.note})")
    return mark


def _ledger(app) -> dict[str, Entry]:
    if not hasattr(app, "_equation_ledger"):
        app._equation_ledger = load_ledger(Path(app.config.equation_ledger))
    return app._equation_ledger


def _on_doctree_read(app, doctree) -> None:
    env = app.env
    ledger = _ledger(app)
    labels = []
    for block in list(doctree.findall(nodes.math_block)):
        label = block.get("label")
        if not label:
            continue
        labels.append(label)
        entry = ledger.get(label)
        if entry is None:
            logger.warning(
                f"equation {label!r} has no entry in the ledger "
                f"({app.config.equation_ledger})",
                location=block,
            )
            continue
        parent = block.parent
        parent.insert(parent.index(block) + 1, _mark(entry, app.config))
    if labels:
        env.equation_ledger_docs[env.docname] = labels


# ------------------------------------------------------- the ledger page


class equation_ledger_node(nodes.General, nodes.Element):
    """Where the ledger's table goes, once every page has been read."""


class EquationLedgerDirective(Directive):
    """``{equation-ledger}``: the table of every equation of the book."""

    def run(self):
        env = self.state.document.settings.env
        env.equation_ledger_pages.add(env.docname)
        return [equation_ledger_node()]


def _row(cells: list[list[nodes.Node] | str]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        paragraph = nodes.paragraph()
        if isinstance(cell, str):
            paragraph += nodes.Text(cell)
        else:
            paragraph.extend(cell)
        entry += paragraph
        row += entry
    return row


def _table(rows: list[nodes.row], widths: list[int]) -> nodes.table:
    table = nodes.table(classes=["equation-ledger"])
    group = nodes.tgroup(cols=len(widths))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += _row(["Equation", "Status", "Tied to"])
    group += head
    body = nodes.tbody()
    body.extend(rows)
    group += body
    return table


def _equation_link(app, fromdocname: str, label: str) -> nodes.Node:
    """``(3.2)``, linked: the math domain resolves it as ``{eq}`` would."""
    domain = app.env.get_domain("math")
    pending = addnodes.pending_xref(
        "", refdomain="math", reftype="eq", reftarget=label
    )
    content = nodes.inline(label, label)
    link = domain.resolve_xref(
        app.env, fromdocname, app.builder, "eq", label, pending, content
    )
    return link if link is not None else content


def _on_doctree_resolved(app, doctree, fromdocname: str) -> None:
    placeholders = list(doctree.findall(equation_ledger_node))
    if not placeholders:
        return
    env = app.env
    ledger = _ledger(app)
    content: list[nodes.Node] = []
    counts = dict.fromkeys(STATUSES, 0)
    for docname in sorted(env.equation_ledger_docs):
        rows = []
        for label in env.equation_ledger_docs[docname]:
            entry = ledger.get(label)
            if entry is None:
                continue
            counts[entry.status] += 1
            tie = _tie(entry, app.config)
            if entry.note:
                tie.append(nodes.Text(f" ({entry.note})"))
            status = nodes.inline(
                "",
                STATUSES[entry.status],
                classes=[
                    "equation-tie-status",
                    f"equation-tie-{entry.status}",
                ],
            )
            rows.append(
                _row(
                    [
                        [
                            _equation_link(app, fromdocname, label),
                            nodes.Text(" "),
                            nodes.literal(label, label),
                        ],
                        [status],
                        tie or "",
                    ]
                )
            )
        title = env.titles[docname].astext()
        heading = nodes.paragraph(classes=["equation-ledger-chapter"])
        heading += nodes.reference(
            "",
            title,
            internal=True,
            refuri=app.builder.get_relative_uri(fromdocname, docname),
        )
        content += [heading, _table(rows, [30, 15, 55])]
    total = sum(counts.values())
    summary = nodes.paragraph()
    plural = {"definition": "definitions", "erratum": "errata"}
    summary += nodes.Text(
        f"{total} displayed equations: "
        + ", ".join(
            f"{n} {word if n == 1 else plural.get(word, word)}"
            for word, n in counts.items()
            if n
        )
        + "."
    )
    for placeholder in placeholders:
        placeholder.replace_self([summary, *content])
    # The tie links were made after the references were resolved.
    for ref in list(doctree.findall(addnodes.pending_xref)):
        domain = env.get_domain(ref["refdomain"])
        resolved = domain.resolve_xref(
            env,
            fromdocname,
            app.builder,
            ref["reftype"],
            ref["reftarget"],
            ref,
            ref[0],
        )
        ref.replace_self(resolved if resolved is not None else ref[0])


# ------------------------------------------------- the environment's data


def _ledger_digest(app) -> str:
    return hashlib.sha256(
        Path(app.config.equation_ledger).read_bytes()
    ).hexdigest()


def _on_builder_inited(app) -> None:
    env = app.env
    if not hasattr(env, "equation_ledger_docs"):
        env.equation_ledger_docs = {}
    if not hasattr(env, "equation_ledger_pages"):
        env.equation_ledger_pages = set()


def _on_env_get_outdated(app, env, added, changed, removed):
    """A changed ledger re-reads every page with a labelled display."""
    digest = _ledger_digest(app)
    if getattr(env, "equation_ledger_digest", None) == digest:
        return []
    env.equation_ledger_digest = digest
    return sorted(set(env.equation_ledger_docs) | env.equation_ledger_pages)


def _on_env_get_updated(app, env):
    """The ledger page is written on every build: it lists every page."""
    return sorted(env.equation_ledger_pages)


def _on_env_purge_doc(app, env, docname: str) -> None:
    env.equation_ledger_docs.pop(docname, None)
    env.equation_ledger_pages.discard(docname)


def _on_env_merge_info(app, env, docnames, other) -> None:
    for docname in docnames:
        if docname in other.equation_ledger_docs:
            env.equation_ledger_docs[docname] = other.equation_ledger_docs[
                docname
            ]
        if docname in other.equation_ledger_pages:
            env.equation_ledger_pages.add(docname)


def _on_env_check_consistency(app, env) -> None:
    shown = {
        label
        for labels in env.equation_ledger_docs.values()
        for label in labels
    }
    for label in sorted(set(_ledger(app)) - shown):
        logger.warning(
            f"the ledger's entry {label!r} labels no display of the book"
        )


def setup(app):
    app.add_config_value("equation_ledger", str(LEDGER_PATH), "env")
    app.add_node(equation_ledger_node)
    app.add_directive("equation-ledger", EquationLedgerDirective)
    app.connect("builder-inited", _on_builder_inited)
    app.connect("doctree-read", _on_doctree_read)
    app.connect("doctree-resolved", _on_doctree_resolved)
    app.connect("env-get-outdated", _on_env_get_outdated)
    app.connect("env-get-updated", _on_env_get_updated)
    app.connect("env-purge-doc", _on_env_purge_doc)
    app.connect("env-merge-info", _on_env_merge_info)
    app.connect("env-check-consistency", _on_env_check_consistency)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
