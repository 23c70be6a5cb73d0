"""What the portable numerical mode costs, beside the other candidates.

Usage (from the repository root)::

    .venv/bin/python scripts/benchmark_numerics.py [--repeats N]

Each candidate mode runs the same three workloads in a fresh child process
(its environment must be set before torch loads), one torch thread as the
chapters use, the median of ``--repeats`` timed runs after one warm-up:

- ``train_vae``: one epoch of the VAE 784-400-20 on the 4,000 binarized
  digits (matrix products: MKL);
- ``ConvVAE``: 20 training steps of 64 sprites, 32 x 32 (convolutions);
- ``PCA``: scikit-learn's PCA of the 4,000 digits, 50 components (OpenBLAS).

The candidates, and why the mode is the one it is
(``scripts/portable_numerics.py``):

- ``defaults``: the libraries' own choices; not portable;
- ``portable``: the mode the suite uses;
- ``+ oneDNN AVX2``: the mode with oneDNN's convolutions capped at AVX2;
  not shown portable, since oneDNN's blocking reads the cache sizes;
- ``MKL_CBWR=AVX2``: the mode with MKL's AVX2 branch; measured not
  portable (an AMD CPU falls back to MKL's automatic branch, and its
  result differs from an Intel CPU's);
- ``generic``: every library at its baseline (ATen's default build, SSE);
  portable to CPUs without AVX2 as well.

Prints a Markdown table of seconds. The tests never assert on time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import portable_numerics

ROOT = Path(__file__).resolve().parents[1]

WORKLOAD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import portable_numerics
if os.environ.get("ONEDNN_ON") != "1" and os.environ.get(
        portable_numerics.MARKER) == "1":
    portable_numerics.use_portable_torch_backends()
import torch
torch.set_num_threads(1)
from sklearn.decomposition import PCA
from vaecourse import data
from vaecourse.models import VAE, ConvVAE
from vaecourse.train import train_vae

images = data.load_mnist_subset("train", binarized=True).images

def vae_epoch():
    torch.manual_seed(0)
    train_vae(VAE(), images, epochs=1)

sprite_batch = torch.rand(64, 1, 32, 32).round()

def conv_steps():
    torch.manual_seed(0)
    model = ConvVAE(image_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    for _ in range(20):
        loss = model.loss(sprite_batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

def pca():
    PCA(50, random_state=0).fit(images.numpy())

times = {}
for name, work in (("train_vae", vae_epoch), ("ConvVAE", conv_steps),
                   ("PCA", pca)):
    work()
    runs = []
    for _ in range(int(sys.argv[2])):
        start = time.perf_counter()
        work()
        runs.append(time.perf_counter() - start)
    times[name] = runs
print(json.dumps(times))
"""


def candidates() -> dict[str, dict[str, str]]:
    portable = dict(portable_numerics.PORTABLE_ENVIRONMENT)
    generic = {
        **portable,
        "ATEN_CPU_CAPABILITY": "default",
        "OPENBLAS_CORETYPE": "Prescott",
        "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    }
    threads = {
        key: portable_numerics.THREADS
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }
    return {
        "defaults": threads,
        "portable": portable,
        "+ oneDNN AVX2": {
            **portable,
            "ONEDNN_ON": "1",
            "ONEDNN_MAX_CPU_ISA": "AVX2",
        },
        "MKL_CBWR=AVX2": {**portable, "MKL_CBWR": "AVX2"},
        "generic": generic,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in portable_numerics.PORTABLE_ENVIRONMENT
    }
    rows = {}
    for name, settings in candidates().items():
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                WORKLOAD,
                str(ROOT / "scripts"),
                str(args.repeats),
            ],
            env={**base, **settings, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        times = json.loads(result.stdout.strip().splitlines()[-1])
        rows[name] = {k: statistics.median(v) for k, v in times.items()}
        print(f"measured {name}", file=sys.stderr)
    workloads = list(next(iter(rows.values())))
    reference = rows["defaults"]
    print("| mode | " + " | ".join(workloads) + " |")
    print("| ---- | " + " | ".join("---:" for _ in workloads) + " |")
    for name, row in rows.items():
        cells = [
            f"{row[w]:.2f} s ({row[w] / reference[w]:.2f}x)" for w in workloads
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
