"""Fixtures: the repository root, and the HTML book built once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from book_pages import ROOT

# The portable numerical mode is set by the conftest.py at the repository
# root, which pytest loads for any path it collects.


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the HTML book as `make book` does, with warnings as errors.

    Returns the path of ``_build/html``. The build is incremental: Sphinx
    re-reads only the pages that changed since the last build.
    """
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    # VAECOURSE_BOOK_OUT moves the build elsewhere (parallel work on one
    # checkout).
    out = Path(os.environ.get("VAECOURSE_BOOK_OUT", ROOT))
    result = subprocess.run(
        [
            str(jupyter_book),
            "build",
            str(ROOT),
            "--path-output",
            str(out),
            "--builder",
            "html",
            "-W",
            "-n",
            "--keep-going",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(
            "jupyter-book build failed (warnings are errors):\n"
            + result.stdout[-6000:]
            + result.stderr[-6000:],
            pytrace=False,
        )
    return out / "_build" / "html"
