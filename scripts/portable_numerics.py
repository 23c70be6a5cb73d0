"""One numerical mode: the book's outputs, bit for bit, on any x86-64 CPU.

PyTorch, NumPy and the libraries under them choose their kernels by the
CPU's instruction set (SSE, AVX2, AVX-512) and, for some, by its cache
sizes. Two CPUs of the same platform then round differently, and a printed
number can change in its last digit: strict nbval reports it. The suite
therefore runs every notebook, and the notebooks' committed outputs were
made, in one mode that pins every such choice:

- ``ATEN_CPU_CAPABILITY=avx2``: PyTorch's own vectorised kernels, in their
  AVX2 build on AVX2 and AVX-512 CPUs alike (on AVX-512 the default is the
  AVX-512 build);
- ``MKL_CBWR=COMPATIBLE``: MKL's conditional numerical reproducibility, in
  the one branch that Intel documents as giving the same results on Intel
  and non-Intel CPUs (``MKL_CBWR=AVX2`` falls back to MKL's automatic
  choice on AMD, and was measured to differ from Intel's);
- ``OPENBLAS_CORETYPE=Haswell``: NumPy's and SciPy's OpenBLAS, in its AVX2
  kernels whatever the CPU;
- ``NPY_DISABLE_CPU_FEATURES``: NumPy's own loops without their AVX-512
  variants;
- ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` = 2:
  the same split of every parallel sum, whatever the number of cores;
- in each process, oneDNN and NNPACK off (they have no environment switch):
  oneDNN's convolution blocking reads the cache sizes, and NNPACK has its
  own dispatch; convolutions then run as im2col and MKL's GEMM.

Every value is a documented switch of its library; none changes what is
computed, only which kernel computes it. The mode needs a CPU with AVX2 and
FMA (Intel since 2013, AMD since 2015).

Who applies it: ``tests/conftest.py`` (before anything imports torch; nbval's
kernels inherit the environment), ``scripts/execute_notebooks.py`` (``make
notebooks``), and the project's IPython profile, whose start-up file sets the
torch flags in every kernel that has ``VAECOURSE_PORTABLE_NUMERICS=1``.
``tests/test_portable_numerics.py`` proves the mode by training in child
processes under different instruction-set limits.

This module imports nothing heavy at import time: it must run before torch
and NumPy are loaded.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path

#: Marks an environment as being in the mode; the IPython start-up file reads
#: it to set the torch flags that have no environment variable.
MARKER = "VAECOURSE_PORTABLE_NUMERICS"

#: Threads of every library in the mode (the project's machines have 2 cores).
THREADS = "2"

#: The environment variables of the mode, applied over any existing values.
PORTABLE_ENVIRONMENT: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    # NumPy 2's dispatch groups above X86_V3 (AVX2 + FMA).
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OMP_NUM_THREADS": THREADS,
    "MKL_NUM_THREADS": THREADS,
    "OPENBLAS_NUM_THREADS": THREADS,
    MARKER: "1",
}

#: CPU flags the mode needs (as /proc/cpuinfo names them).
REQUIRED_CPU_FLAGS = ("avx2", "fma")


def cpu_flags() -> set[str] | None:
    """The instruction-set flags of this CPU, lower case; None if unknown.

    Read from ``/proc/cpuinfo`` on Linux and from ``sysctl`` on macOS; other
    systems, and other architectures than x86-64, give None.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
        return None
    try:
        words = subprocess.run(
            [
                "sysctl",
                "-n",
                "machdep.cpu.features",
                "machdep.cpu.leaf7_features",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    return {word.lower().replace("fma3", "fma") for word in words}


def unsupported_reason(flags: set[str] | None) -> str | None:
    """Why a CPU with these flags (:func:`cpu_flags`) cannot run the mode.

    None if it can.
    """
    if flags is None:
        return (
            f"not an x86-64 CPU whose flags can be read "
            f"({platform.machine()}, {platform.system()})"
        )
    missing = [flag for flag in REQUIRED_CPU_FLAGS if flag not in flags]
    if missing:
        return f"this CPU lacks {', '.join(missing).upper()}"
    return None


def portable_environment(
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A copy of ``environ`` (default ``os.environ``) in the portable mode."""
    base = dict(os.environ if environ is None else environ)
    base.update(PORTABLE_ENVIRONMENT)
    return base


def enter() -> str | None:
    """Put this process's environment in the mode, before torch is imported.

    Returns None, or the reason the mode could not be applied (a CPU
    without AVX2 and FMA, or not x86-64); the environment is then left as
    it is, and the committed outputs are not expected to reproduce.
    """
    reason = unsupported_reason(cpu_flags())
    if reason is None:
        os.environ.update(PORTABLE_ENVIRONMENT)
    return reason


def use_portable_torch_backends() -> None:
    """Route convolutions away from oneDNN and NNPACK (in this process).

    These two have no environment switch. oneDNN promises the same bits
    only on the same platform: its blocking reads the cache sizes. With
    both off, PyTorch computes convolutions by im2col and GEMM, in MKL's
    reproducible branch.
    """
    import torch

    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)


def is_active() -> bool:
    """Whether this process's environment is in the mode."""
    return all(
        os.environ.get(key) == value
        for key, value in PORTABLE_ENVIRONMENT.items()
    )


def describe() -> str:
    """One line for a report header: the mode's settings."""
    settings = ", ".join(
        f"{key}={value}"
        for key, value in PORTABLE_ENVIRONMENT.items()
        if key != MARKER
    )
    return f"{settings}; oneDNN and NNPACK off"
