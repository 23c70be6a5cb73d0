"""The numerical mode of every test run, wherever pytest is pointed.

This file sits at the repository root so that pytest loads it for any
path it collects (``pytest book/06_elbo.ipynb`` as well as ``make test``),
before anything imports torch or NumPy. It puts the process in the
portable numerical mode of ``scripts/portable_numerics.py``: the pytest
process and every kernel nbval starts (kernels inherit the environment,
and read the project's IPython profile, which sets the mode's torch flags)
compute the same bits on any x86-64 CPU with AVX2, those that made the
committed outputs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
import portable_numerics  # noqa: E402  (stdlib only: loads no torch)

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
