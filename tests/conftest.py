"""Fixtures: the repository root, and the HTML book built once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from book_pages import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import portable_numerics  # noqa: E402  (stdlib only: loads no torch)

# The portable numerical mode, before anything imports torch or NumPy: the
# pytest process and every kernel nbval starts (kernels inherit this
# environment) compute the same bits on any x86-64 CPU with AVX2, those
# that made the committed outputs (scripts/portable_numerics.py).
PORTABLE_NUMERICS_UNAVAILABLE = portable_numerics.enter()
# Kernels started by nbval and nbclient read the project's IPython profile,
# which silences ipykernel's start-up log on stderr and, in the mode, turns
# off oneDNN and NNPACK in each kernel.
os.environ["IPYTHONDIR"] = str(ROOT / ".ipython")


def pytest_report_header(config) -> str:
    if PORTABLE_NUMERICS_UNAVAILABLE:
        return (
            "numerics: NOT in the portable mode ("
            + PORTABLE_NUMERICS_UNAVAILABLE
            + "): committed outputs may differ in a last digit"
        )
    return "numerics: portable mode: " + portable_numerics.describe()


def pytest_configure(config) -> None:
    if PORTABLE_NUMERICS_UNAVAILABLE is None:
        portable_numerics.use_portable_torch_backends()


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
