"""Sphinx extension: write each script tag of a page once.

Sphinx 7.4 (the version Jupyter Book 1 pins) adds the inline scripts that
extensions register with ``app.add_js_file(None, body=...)`` twice: once at
registration and again in ``prepare_writing``, which spells the missing file
name ``''`` instead of ``None``, so its duplicate check misses them. For
sphinx-thebe's ``const THEBE_JS_URL = ...`` the second copy is a JavaScript
error on every page ("Identifier 'THEBE_JS_URL' has already been declared"),
which the browser test (tests/test_browser.py) catches.
"""

from __future__ import annotations


def _dedupe_script_files(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        key = (
            getattr(script, "filename", script) or "",
            tuple(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # In place: Sphinx restores this same list object after each page.
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_script_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
