"""Benchmark the package's hot paths against plain PyTorch and print a table.

Usage (from the repository root)::

    .venv/bin/python scripts/benchmark.py

Each row times one call (median of several repeats) of a vaecourse function
and of the independent reference it is tested against, on a batch the size
of the book's training (128 images of 784 pixels, 20 latent units). The
point is the cost of the package's input checks and of its readable
formulas, relative to the reference; the tests never assert on time.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.distributions import Independent, Normal, kl_divergence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vaecourse import data, distributions, losses, models, train  # noqa: E402


def median_seconds(fn: Callable[[], object], repeats: int = 7, number: int = 20) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    batch, pixels, latent = 128, 784, 20
    x = (torch.rand(batch, pixels) > 0.5).float()
    logits = torch.randn(batch, pixels)
    mu, logvar = torch.randn(batch, latent), torch.randn(batch, latent)
    prior = Independent(Normal(torch.zeros(latent), torch.ones(latent)), 1)
    model = models.VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)

    def training_step() -> None:
        optimizer.zero_grad()
        model.loss(x, generator=generator).loss.backward()
        optimizer.step()

    rows = [
        ("KL of diag Gaussian from N(0, I)",
         lambda: distributions.kl_diag_gaussian_std_normal(mu, logvar),
         lambda: kl_divergence(Independent(Normal(mu, (0.5 * logvar).exp()), 1), prior)),
        ("reparameterized sample",
         lambda: distributions.reparameterize(mu, logvar, generator),
         lambda: Normal(mu, (0.5 * logvar).exp()).rsample()),
        ("BCE from logits, per example",
         lambda: losses.bernoulli_nll_with_logits(x, logits),
         lambda: torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)),
        ("negative ELBO (Bernoulli)",
         lambda: losses.negative_elbo(x, logits, mu, logvar),
         lambda: (torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
                  - 0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp())) / batch),
        ("VAE 784-400-20 training step", training_step, None),
        ("importance-weighted log p(x), k=50, 32 images",
         lambda: train.importance_weighted_log_px(model, x[:32], k=50, generator=generator), None),
    ]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"batch {batch} x {pixels} pixels, {latent} latent units\n")
    print(f"| {'operation':46s} | vaecourse (us) | reference (us) | ratio |")
    print(f"| {'-' * 46} | -------------: | -------------: | ----: |")
    for name, ours, reference in rows:
        number = 3 if "importance" in name or "training" in name else 50
        t_ours = median_seconds(ours, number=number) * 1e6
        if reference is None:
            print(f"| {name:46s} | {t_ours:14.0f} | {'-':>14s} | {'-':>5s} |")
        else:
            t_ref = median_seconds(reference, number=number) * 1e6
            print(f"| {name:46s} | {t_ours:14.0f} | {t_ref:14.0f} | {t_ours / t_ref:5.2f} |")

    start = time.perf_counter()
    data.load_mnist_subset("train")
    print(f"\nload_mnist_subset('train') in this process: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
