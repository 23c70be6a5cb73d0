"""Benchmark the package against the PyTorch examples VAE loop; print tables.

Usage (from the repository root)::

    .venv/bin/python scripts/benchmark.py [--quick]

In one process, with one torch thread unless said otherwise:

1. Seconds per epoch of three loops on the same data (4,000 MNIST digits
   of the shipped subset, 1,000 more for the test pass), the same model
   (the VAE 784-400-20) and the same initial weights: ``train_vae``; the
   loop of pytorch/examples ``vae/main.py`` (DataLoader, sigmoid + BCE
   summed, Adam 1e-3, test pass every epoch); and a bare loop that slices
   its own batches and computes the same loss as the package with no
   checks. The loops run interleaved, one epoch each per round, so that a
   machine shared with other work slows all three alike; the medians give
   the ratio, and the bare loop the share of the package's checks.
2. ``importance_weighted_log_px`` at k = 50 and 5,000 (100 images): time
   and peak memory, each in a fresh process, against the all-at-once
   estimator it replaced (same draws).
3. The conv VAE of Part III (64 x 64, batch 64): images per second of a
   training step with 1 and 2 threads, ``channels_last``, the float32
   matmul precision, and ``torch.compile`` where it works.
4. Chapter 11's training step (ConvVAE(32), batch 64, one thread) with its
   batch drawn (``sprites.reduced_images``) or read from a pre-drawn grid
   (``sprites.ReducedGrid``): steps per second. The grid here holds the
   first 65,536 images (built in a temporary folder and timed); reading
   does not depend on how many there are.

The tests never assert on time.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vaecourse import data  # noqa: E402
from vaecourse.models import VAE, ConvVAE  # noqa: E402
from vaecourse.train import train_vae  # noqa: E402

# --- 1. the training loops ---------------------------------------------------


def examples_epoch(model, train, test, seed):
    """One epoch of pytorch/examples vae/main.py (train, then test)."""
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(train), batch_size=128, shuffle=True)
    test_loader = DataLoader(TensorDataset(test), batch_size=128)

    def forward(x):
        h = model.encoder_body(x)
        mu, logvar = model.mu_head(h), model.logvar_head(h)
        std = torch.exp(0.5 * logvar)
        z = mu + torch.randn_like(std) * std
        return torch.sigmoid(model.decoder(z)), mu, logvar

    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    model.train()
    train_loss = 0.0
    for (x,) in loader:
        optimizer.zero_grad()
        recon, mu, logvar = forward(x)
        loss = loss_function(recon, x, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    model.eval()
    test_loss = 0.0
    with torch.no_grad():
        for (x,) in test_loader:
            recon, mu, logvar = forward(x)
            test_loss += loss_function(recon, x, mu, logvar).item()
    return train_loss / len(train), test_loss / len(test)


def bare_epoch(model, train, test, seed):
    """train_vae's computation with no checks: the checks' share."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed)

    def negative_elbo(x, generator):
        h = model.encoder_body(x)
        mu, logvar = model.mu_head(h), model.logvar_head(h)
        eps = torch.randn(mu.shape, generator=generator)
        logits = model.decoder(mu + torch.exp(0.5 * logvar) * eps)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
        return rec.sum(1).mean() + kl.mean()

    model.train()
    total = 0.0
    order = torch.randperm(len(train), generator=shuffle)
    for start in range(0, len(train), 128):
        x = train[order[start : start + 128]]
        loss = negative_elbo(x, noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += len(x) * loss.item()
    model.eval()
    test_noise = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        test_total = sum(
            len(x) * negative_elbo(x, test_noise).item()
            for x in test.split(500)
        )
    return total / len(train), test_total / len(test)


def package_epoch(model, train, test, seed):
    history = train_vae(
        model, train, test, epochs=1, batch_size=128, lr=1e-3, seed=seed
    )
    return history.train_loss[0], history.test_loss[0]


def bench_loops(rounds: int) -> dict:
    train = data.load_mnist_subset("train").images.contiguous()
    test = data.load_mnist_subset("test").images.contiguous()
    torch.manual_seed(0)
    initial = VAE(784, 400, 20)
    loops = {
        "train_vae": package_epoch,
        "examples loop": examples_epoch,
        "bare loop": bare_epoch,
    }
    times = {name: [] for name in loops}
    losses = {name: [] for name in loops}
    # An untimed warm-up: the first training call of a process pays for
    # PyTorch's lazy set-up, whichever loop makes it.
    for loop in loops.values():
        loop(copy.deepcopy(initial), train, test, seed=0)
    for r in range(rounds):
        # rotate the order, so no loop always runs first
        names = list(loops)[r % 3 :] + list(loops)[: r % 3]
        for name in names:
            model = copy.deepcopy(initial)
            start = time.perf_counter()
            result = loops[name](model, train, test, seed=r)
            times[name].append(time.perf_counter() - start)
            losses[name].append(result[1])
    return {
        "median": {n: statistics.median(t) for n, t in times.items()},
        "min": {n: min(t) for n, t in times.items()},
        "test_loss": {n: statistics.mean(v) for n, v in losses.items()},
        "rounds": rounds,
    }


# --- 2. the importance-weighted estimator, a fresh process each -------------

IWAE_SCRIPT = """
import json, math, resource, sys, time, torch
sys.path.insert(0, {root!r})
from vaecourse.models import VAE
from vaecourse.train import importance_weighted_log_px, _log_normal, \
    log_likelihood
torch.set_num_threads(1)
torch.manual_seed(0)
model = VAE(784, 400, 20).eval()
x = (torch.rand(100, 784) > 0.5).float()
k, which = {k}, {which!r}


def all_at_once(model, x, k, generator):
    # the estimator before the blocks: every sample decoded at once
    with torch.no_grad():
        mu, logvar = model.encode(x)
        eps = torch.randn((k, *mu.shape), generator=generator)
        z = mu + torch.exp(0.5 * logvar) * eps
        output = model.decoder(z.reshape(-1, 20))
        log_px_z = log_likelihood(model, x.repeat(k, 1), output).reshape(k, -1)
        zeros = torch.zeros_like(z)
        log_w = (log_px_z + _log_normal(z, zeros, zeros)
                 - _log_normal(z, mu, logvar))
        return torch.logsumexp(log_w, 0) - math.log(k)


fn = importance_weighted_log_px if which == "blocks" else all_at_once
fn(model, x[:2], 2, torch.Generator().manual_seed(1))
before = int(open("/proc/self/statm").read().split()[1]) * 4096
start = time.perf_counter()
estimate = fn(model, x, k, torch.Generator().manual_seed(0))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(seconds=seconds, peak=peak, growth=peak - before,
                      mean=estimate.double().mean().item())))
"""


def bench_iwae(k: int, which: str) -> dict:
    script = IWAE_SCRIPT.format(root=str(ROOT), k=k, which=which)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout.splitlines()[-1])


# --- 3. the conv VAE's training step ----------------------------------------


def conv_images_per_second(
    threads: int,
    channels_last: bool,
    precision: str,
    compiled: bool,
    steps: int,
    size: int = 64,
) -> float | str:
    torch.set_num_threads(threads)
    torch.set_float32_matmul_precision(precision)
    torch.manual_seed(0)
    model = ConvVAE(size, channels_last=channels_last)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = (torch.rand(64, 1, size, size) > 0.8).float()
    generator = torch.Generator().manual_seed(0)

    def step():
        loss = model.loss(x, generator=generator).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    if compiled:
        try:
            step = torch.compile(step)
            step()
        except Exception as error:  # offline or no compiler: say why
            return f"fails ({type(error).__name__})"
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.set_float32_matmul_precision("highest")
    return 64 * steps / (time.perf_counter() - start)


# --- 4. drawing the sprites, or reading them --------------------------------


def _steps_per_second(beta_vae, batches, steps: int) -> float:
    """Chapter 11's step (beta = 4) on the batches; the first warms up."""
    torch.manual_seed(0)
    model = ConvVAE(32, latent_dim=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    start = None
    for taken, x in enumerate(batches):
        if taken == 1:
            start = time.perf_counter()
        terms = beta_vae.beta_vae_objective(model, x, beta=4.0)
        optimizer.zero_grad()
        terms["objective"].backward()
        optimizer.step()
    return steps / (time.perf_counter() - start)


def beta_vae_steps_per_second(steps: int) -> dict:
    """Steps per second of chapter 11's step, drawing or reading batches."""
    import tempfile

    import numpy as np

    from vaecourse import beta_vae, sprites

    torch.set_num_threads(1)
    count = 65_536
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = sprites.build_reduced_grid(Path(folder) / "g.npy", count=count)
        build = time.perf_counter() - start
        grid = sprites.ReducedGrid(path)
        rates = {"build (s)": build, "build (s, whole grid)": build}
        rates["build (s, whole grid)"] *= sprites.N_IMAGES / count
        for source in ("drawn", "pre-drawn grid"):
            rng = np.random.default_rng(0)
            if source == "drawn":
                draw = sprites.reduced_images
                batches = (
                    draw(sprites.index_to_factors(rng.integers(0, count, 64)))
                    for _ in range(steps + 1)
                )
            else:
                batches = (
                    grid.images(rng.integers(0, count, 64))
                    for _ in range(steps + 1)
                )
            rates[source] = _steps_per_second(beta_vae, batches, steps)
    return rates


# --- the report -------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats (a smoke test)"
    )
    args = parser.parse_args()
    rounds, steps = (2, 2) if args.quick else (7, 8)
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    print(f"machine: {machine()}")
    print(
        f"torch {torch.__version__}; load average at start {load:.1f}; "
        "1 torch thread unless said"
    )

    loops = bench_loops(rounds)
    med, ref = loops["median"], loops["median"]["examples loop"]
    print(
        "\n1. One epoch: 4,000 digits, batch 128, VAE 784-400-20, test pass"
        f"\n   on 1,000 (median of {rounds} interleaved rounds)\n"
    )
    print("| loop | s / epoch | speed vs examples | test loss (nats) |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in med.items():
        print(
            f"| {name} | {seconds:.3f} | {ref / seconds:.2f}x "
            f"| {loops['test_loss'][name]:.1f} |"
        )
    share = 1 - med["bare loop"] / med["train_vae"]
    print(
        f"\ntrain_vae at {ref / med['train_vae']:.2f}x the examples loop's "
        f"speed;\nits checks and validation: {100 * share:.1f} % of an epoch"
    )
    print("\n2. importance_weighted_log_px, 100 images, VAE 784-400-20\n")
    print("| k | estimator | seconds | peak memory growth (MB) | mean |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for k in (50, 5000):
        for which in ("all at once (before)", "blocks"):
            r = bench_iwae(k, which.split()[0])
            print(
                f"| {k:,} | {which} | {r['seconds']:.2f} "
                f"| {r['growth'] / 1e6:.0f} | {r['mean']:.3f} |"
            )

    print("\n3. ConvVAE training step, batch 64 (images / s)\n")
    print(
        "| size | threads | channels_last | matmul precision | compile "
        "| img/s |"
    )
    print("| ---: | ---: | --- | --- | --- | ---: |")
    configs = [
        (64, 1, False, "highest", False),
        (64, 1, True, "highest", False),
        (64, 1, False, "medium", False),
        (64, 2, False, "highest", False),
        (64, 2, True, "highest", False),
        (64, 1, False, "highest", True),
        # Part III's reduced set-up (chapter 11): 32 x 32 sprites.
        (32, 1, True, "highest", False),
        (32, 2, True, "highest", False),
    ]
    for size, threads, cl, precision, compiled in configs:
        rate = conv_images_per_second(
            threads, cl, precision, compiled, steps, size=size
        )
        shown = rate if isinstance(rate, str) else f"{rate:.0f}"
        print(
            f"| {size} | {threads} | {cl} | {precision} | {compiled} "
            f"| {shown} |"
        )

    print("\n4. Chapter 11's step (ConvVAE(32), batch 64, 1 thread)\n")
    rates = beta_vae_steps_per_second(5 * steps)
    print("| batches | steps / s |")
    print("| --- | ---: |")
    for source in ("drawn", "pre-drawn grid"):
        print(f"| {source} | {rates[source]:.1f} |")
    print(
        f"\ngrid of 65,536 images built in {rates['build (s)']:.1f} s "
        f"(the whole grid: about {rates['build (s, whole grid)']:.0f} s)"
    )
    load_end = os.getloadavg()[0]
    print(f"\nload average at the end {load_end:.1f}")


if __name__ == "__main__":
    main()
