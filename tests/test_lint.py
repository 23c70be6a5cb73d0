"""The code is linted and formatted with ruff, configured in pyproject.toml.

One check over the package, the tests, the scripts and the notebooks' code
cells, so that `make test` fails on code that would not fit the book's
column or that ruff would reformat. Fix with ``ruff check --fix`` and
``ruff format``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PATHS = ["conftest.py", "vaecourse", "tests", "scripts", "_ext", "book"]


def ruff(root: Path, *args: str) -> subprocess.CompletedProcess:
    ruff_bin = Path(sys.executable).with_name("ruff")
    return subprocess.run(
        [str(ruff_bin), *args, *PATHS],
        cwd=root,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    "args",
    [("check", "--no-fix"), ("format", "--check")],
    ids=["ruff check", "ruff format --check"],
)
def test_ruff(root, args):
    result = ruff(root, *args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
