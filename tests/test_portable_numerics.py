"""The portable numerical mode (scripts/portable_numerics.py): the same bits.

A CPU of another kind cannot be had here, so the proof trains in child
processes under instruction-set limits that make this CPU choose the kernels
another CPU would: MKL's (MKL_ENABLE_INSTRUCTIONS), oneDNN's
(ONEDNN_MAX_CPU_ISA), PyTorch's own (ATEN_CPU_CAPABILITY, at each level this
CPU has), OpenBLAS's (OPENBLAS_CORETYPE) and NumPy's
(NPY_DISABLE_CPU_FEATURES). In the mode every run must give the same bits;
without it, at least one pair must differ, or the proof shows nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import portable_numerics
import pytest
from book_pages import ROOT

PORTABLE_NUMERICS_UNAVAILABLE = portable_numerics.unsupported_reason(
    portable_numerics.cpu_flags()
)
needs_the_mode = pytest.mark.skipif(
    PORTABLE_NUMERICS_UNAVAILABLE is not None,
    reason=f"portable mode unavailable: {PORTABLE_NUMERICS_UNAVAILABLE}",
)

# A short training of each kind the book does, and NumPy's linear algebra:
# an MLP VAE (matmul, exp, softplus, sums), a small conv net (strided
# convolution, stride-1 convolution, transposed convolution), Adam steps,
# an SVD, elementwise maths and a reduction. Prints a JSON digest per part.
PROBE = r"""
import hashlib, json, os, sys
sys.path.insert(0, sys.argv[1])
import portable_numerics
if os.environ.get(portable_numerics.MARKER) == "1":
    portable_numerics.use_portable_torch_backends()
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]

torch.manual_seed(0)
x = (torch.rand(128, 196) > 0.5).float()
encoder = nn.Sequential(nn.Linear(196, 64), nn.ReLU(), nn.Linear(64, 16))
decoder = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 196))
mlp = list(encoder.parameters()) + list(decoder.parameters())
optimizer = torch.optim.Adam(mlp, lr=1e-2)
for step in range(6):
    mean, log_var = encoder(x).chunk(2, dim=1)
    z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
    nll = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mean**2 - log_var.exp())
    loss = (nll + kl) / len(x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

images = torch.rand(16, 1, 16, 16)
conv = nn.Sequential(
    nn.Conv2d(1, 8, 4, 2, 1), nn.ReLU(),
    nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU(),
    nn.ConvTranspose2d(8, 1, 4, 2, 1),
)
optimizer = torch.optim.Adam(conv.parameters(), lr=1e-2)
for step in range(6):
    conv_loss = F.binary_cross_entropy_with_logits(
        conv(images), images, reduction="sum") / len(images)
    optimizer.zero_grad()
    conv_loss.backward()
    optimizer.step()

rng = np.random.default_rng(0)
a = rng.standard_normal((200, 48))
u, s, vt = np.linalg.svd(a - a.mean(0), full_matrices=False)
b = a.astype(np.float32)
print(json.dumps({
    "capability": torch.backends.cpu.get_cpu_capability(),
    "mlp": digest(*[p.detach().numpy() for p in mlp]),
    "mlp_loss": loss.item().hex(),
    "conv": digest(*[p.detach().numpy() for p in conv.parameters()]),
    "conv_loss": conv_loss.item().hex(),
    "numpy_svd": digest(s, np.abs(vt), a @ a.T),
    "numpy_maths": digest(np.exp(b), np.log1p(np.abs(b)), np.tanh(a),
                          np.sin(b), b.sum(0), a.sum()),
}))
"""

# Variables the mode sets itself, and so pins whatever their value before.
PINNED = set(portable_numerics.PORTABLE_ENVIRONMENT)


def limits(flags: set[str]) -> dict[str, dict[str, str]]:
    """Instruction-set limits this CPU can be put under, by name.

    The first after "as found" are those most likely to change a bit, so
    that the negative case usually stops after two runs.
    """
    chosen = {
        "as found": {},
        "ATen default": {"ATEN_CPU_CAPABILITY": "default"},
        "oneDNN SSE4.1": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
        "OpenBLAS Sandybridge": {"OPENBLAS_CORETYPE": "Sandybridge"},
        "ATen AVX2": {"ATEN_CPU_CAPABILITY": "avx2"},
        "oneDNN AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
        "MKL SSE4.2": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
        "MKL AVX2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
        "NumPy baseline": {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4"},
    }
    if "avx512f" in flags:
        chosen["MKL AVX-512"] = {"MKL_ENABLE_INSTRUCTIONS": "AVX512"}
        chosen["ATen AVX-512"] = {"ATEN_CPU_CAPABILITY": "avx512"}
        chosen["OpenBLAS SkylakeX"] = {"OPENBLAS_CORETYPE": "SkylakeX"}
    return chosen


def clean_environment() -> dict[str, str]:
    """This environment without the mode and without any limit."""
    limit_keys = {
        key for limit in limits({"avx512f"}).values() for key in limit
    }
    return {
        key: value
        for key, value in os.environ.items()
        if key not in PINNED | limit_keys
    }


def environments(mode: bool) -> dict[str, dict[str, str]]:
    """The child's environment under each limit, with or without the mode.

    In the mode, a limit on a variable the mode sets (ATen's level,
    OpenBLAS's core, NumPy's features) is overridden by it, as the mode
    overrides whatever a user had set: those runs would repeat "as found"
    with the same environment, and are left out.
    """
    chosen, seen = {}, []
    for name, limit in limits(portable_numerics.cpu_flags() or set()).items():
        env = {**clean_environment(), **limit}
        if mode:
            env = portable_numerics.portable_environment(env)
        else:
            # Threads fixed here too, so that only the kernels differ.
            env.update(
                OMP_NUM_THREADS="2",
                MKL_NUM_THREADS="2",
                OPENBLAS_NUM_THREADS="2",
            )
        if env not in seen:
            seen.append(env)
            chosen[name] = env
    return chosen


def run_probe(env: dict[str, str]) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "scripts")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@needs_the_mode
def test_training_gives_the_same_bits_under_every_limit_in_the_mode():
    runs = environments(mode=True)
    assert len(runs) >= 4, f"too few distinct limits: {sorted(runs)}"
    # Two children at a time, one per core (their results do not depend
    # on what else runs: that is what is being tested).
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(
            zip(runs, pool.map(run_probe, runs.values()), strict=True)
        )
    reference = results["as found"]
    differing = {
        name: sorted(
            part for part in reference if result[part] != reference[part]
        )
        for name, result in results.items()
        if result != reference
    }
    assert not differing, f"parts that differ, by limit: {differing}"
    # The AVX2 build of PyTorch's kernels, on this CPU whatever its top.
    assert reference["capability"] == "AVX2"


@needs_the_mode
def test_without_the_mode_some_limit_changes_the_bits():
    """The negative case: the limits above do reach the kernels."""
    runs = iter(environments(mode=False).items())
    _, reference_env = next(runs)
    reference = run_probe(reference_env)
    for _name, env in runs:
        result = run_probe(env)
        if result != reference:
            parts = sorted(p for p in reference if result[p] != reference[p])
            assert parts  # e.g. ATen default: ['conv', 'mlp', ...]
            return
    pytest.skip(
        "no limit changes a bit on this CPU without the mode, so it cannot "
        "show what the mode removes"
    )


@needs_the_mode
def test_a_kernel_started_as_nbval_starts_it_runs_in_the_mode():
    from jupyter_client.manager import start_new_kernel

    code = (
        "import os, json, torch, numpy._core._multiarray_umath as umath\n"
        "print(json.dumps({\n"
        " 'capability': torch.backends.cpu.get_cpu_capability(),\n"
        " 'mkldnn': torch.backends.mkldnn.enabled,\n"
        " 'nnpack': torch._C._get_nnpack_enabled(),\n"
        " 'mkl_cbwr': os.environ.get('MKL_CBWR'),\n"
        " 'openblas': os.environ.get('OPENBLAS_CORETYPE'),\n"
        " 'threads': torch.get_num_threads(),\n"
        " 'numpy_avx512': umath.__cpu_features__.get('AVX512_SKX', False)\n"
        " and 'X86_V4' not in os.environ.get('NPY_DISABLE_CPU_FEATURES',''),\n"
        "}))"
    )
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        printed = []
        client.execute_interactive(
            code,
            timeout=120,
            output_hook=lambda msg: printed.append(
                msg["content"].get("text", "")
            ),
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    state = json.loads("".join(printed).strip().splitlines()[-1])
    assert state == {
        "capability": "AVX2",
        "mkldnn": False,
        "nnpack": False,
        "mkl_cbwr": "COMPATIBLE",
        "openblas": "Haswell",
        "threads": 2,
        "numpy_avx512": False,
    }


@needs_the_mode
def test_pytest_is_in_the_mode_when_it_collects_only_a_notebook():
    # The mode is set by the root conftest.py, which pytest loads for any
    # path: `pytest book/NN.ipynb` alone must not run outside the mode.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in portable_numerics.PORTABLE_ENVIRONMENT
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-p",
            "no:cacheprovider",
            "book/04_reparameterization.ipynb",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "numerics: portable mode: ATEN_CPU_CAPABILITY=avx2" in (
        result.stdout
    ), result.stdout[-2000:] + result.stderr[-2000:]


def test_portable_environment_overrides_what_was_there():
    env = portable_numerics.portable_environment(
        {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AUTO", "HOME": "/h"}
    )
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["MKL_CBWR"] == "COMPATIBLE"
    assert env["HOME"] == "/h"
    assert env[portable_numerics.MARKER] == "1"


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ({"sse4_2", "avx", "avx2", "fma"}, None),
        ({"sse4_2", "avx", "fma"}, "this CPU lacks AVX2"),
        ({"sse4_2", "avx"}, "this CPU lacks AVX2, FMA"),
        (None, "not an x86-64 CPU whose flags can be read"),
    ],
)
def test_the_mode_names_what_a_cpu_lacks(flags, reason):
    found = portable_numerics.unsupported_reason(flags)
    if reason is None:
        assert found is None
    else:
        assert found.startswith(reason)


def test_the_startup_file_applies_the_torch_flags_only_in_the_mode():
    startup = (
        ROOT
        / ".ipython"
        / "profile_default"
        / "startup"
        / "00-portable-numerics.py"
    )
    check = (
        "import runpy, torch\n"
        f"runpy.run_path({str(startup)!r})\n"
        "print(torch.backends.mkldnn.enabled,"
        " torch._C._get_nnpack_enabled())"
    )
    for marker, expected in (("1", "False False"), ("0", "True True")):
        env = {**os.environ, portable_numerics.MARKER: marker}
        out = subprocess.run(
            [sys.executable, "-c", check],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert out == expected, (marker, out)
