r"""Self-checks for the exercises: the package's reference tests, run on your function.

Each exercise that asks you to implement a formula ends with a call such as

>>> from vaecourse.selfcheck import check
>>> check("kl_diag_gaussian_std_normal", my_kl)      # doctest: +SKIP
kl_diag_gaussian_std_normal: 4 of 4 checks passed

Every check compares your function with an independent reference
(``torch.distributions``, a closed form, a known value) on fixed inputs, the
same checks that ``tests/test_selfcheck.py`` runs on the package's own
implementation. A failing check says what it expected and what it got.

To add checks for a new function, decorate plain functions that take the
candidate and raise ``AssertionError`` with :func:`reference_check`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

__all__ = ["check", "reference_check", "available_checks", "CheckReport"]

Candidate = Callable[..., torch.Tensor]
_CHECKS: dict[str, list[Callable[[Candidate], None]]] = {}


def reference_check(name: str) -> Callable[[Callable[[Candidate], None]], Callable[[Candidate], None]]:
    """Register a check for the exercise function called ``name``."""

    def register(fn: Callable[[Candidate], None]) -> Callable[[Candidate], None]:
        _CHECKS.setdefault(name, []).append(fn)
        return fn

    return register


def available_checks() -> list[str]:
    """Names of the functions that :func:`check` knows how to check."""
    return sorted(_CHECKS)


@dataclass
class CheckReport:
    """Outcome of :func:`check`: how many checks passed, and why the others failed."""

    name: str
    passed: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        total = self.passed + len(self.failures)
        lines = [f"{self.name}: {self.passed} of {total} checks passed"]
        lines += [f"  FAILED {failure}" for failure in self.failures]
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # shown as text in notebooks
        printer.text(str(self))


def check(name: str, candidate: Candidate) -> CheckReport:
    """Run the reference checks of exercise function ``name`` on ``candidate``.

    Parameters
    ----------
    name : str
        Which function the candidate implements, one of :func:`available_checks`.
    candidate : callable
        Your implementation, with the same signature as the package's function
        of that name.

    Returns
    -------
    CheckReport
        Printable summary; ``report.ok`` is True when every check passed.
    """
    if name not in _CHECKS:
        raise ValueError(f"no self-check named {name!r}; available: {', '.join(available_checks())}")
    if not callable(candidate):
        raise TypeError(f"candidate must be a function, got {type(candidate).__name__}")
    report = CheckReport(name)
    for fn in _CHECKS[name]:
        label = fn.__name__.removeprefix("_").replace("_", " ")
        try:
            fn(candidate)
        except Exception as error:  # a crash is a failed check, reported, not raised
            report.failures.append(f"{label}: {type(error).__name__}: {error}")
        else:
            report.passed += 1
    return report


def _assert_close(actual: object, expected: torch.Tensor, what: str, tol: float = 1e-5) -> None:
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {type(actual).__name__}")
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}")
    if not torch.allclose(actual.double(), expected.double(), rtol=tol, atol=tol):
        raise AssertionError(f"{what}: expected {expected.tolist()}, got {actual.tolist()}")


def _inputs(*shape: int, seed: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- reconstruction terms ---------------------------------------------------------

@reference_check("sum_of_squares")
def _three_four_five(candidate: Candidate) -> None:
    _assert_close(candidate(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])),
                  torch.tensor([25.0]), "||(3, 4)||^2 (a sum of squares, no square root)")


@reference_check("sum_of_squares")
def _matches_torch_mse_times_n(candidate: Candidate) -> None:
    x, x_hat = _inputs(4, 10, seed=0), _inputs(4, 10, seed=1)
    expected = torch.nn.functional.mse_loss(x_hat, x, reduction="none").sum(1)
    _assert_close(candidate(x, x_hat), expected, "per-example sum over a batch of 4")


@reference_check("mean_squared_error")
def _matches_torch_mse(candidate: Candidate) -> None:
    x, x_hat = _inputs(4, 10, seed=2), _inputs(4, 10, seed=3)
    expected = torch.nn.functional.mse_loss(x_hat, x, reduction="none").mean(1)
    _assert_close(candidate(x, x_hat), expected, "per-example mean over a batch of 4")


@reference_check("gaussian_nll")
def _matches_torch_normal(candidate: Candidate) -> None:
    x, x_hat = _inputs(3, 6, seed=4), _inputs(3, 6, seed=5)
    expected = -Independent(Normal(x_hat, math.sqrt(0.2)), 1).log_prob(x)
    _assert_close(candidate(x, x_hat, 0.2), expected, "-log N(x; x_hat, 0.2 I), constant included")


@reference_check("bernoulli_nll")
def _matches_torch_bernoulli(candidate: Candidate) -> None:
    x = (_inputs(3, 8, seed=6) > 0.5).double()
    probs = 0.05 + 0.9 * _inputs(3, 8, seed=7)
    expected = -Independent(Bernoulli(probs=probs), 1).log_prob(x)
    _assert_close(candidate(x, probs), expected, "BCE on binary targets")


@reference_check("bernoulli_nll")
def _grey_values_minimum_is_the_entropy(candidate: Candidate) -> None:
    x = torch.tensor([[0.3, 0.5, 0.9]], dtype=torch.float64)
    entropy = -(x * x.log() + (1 - x) * (1 - x).log()).sum(1)
    _assert_close(candidate(x, x), entropy, "BCE(x, x) for grey values (the binary entropy, not 0)")


# --- Gaussian sampling and KL -------------------------------------------------------

@reference_check("logvar_to_std")
def _inverts_log_of_variance(candidate: Candidate) -> None:
    var = torch.tensor([0.01, 0.25, 1.0, 4.0, 100.0], dtype=torch.float64)
    _assert_close(candidate(var.log()), var.sqrt(), "sigma from log(sigma^2)")


@reference_check("logvar_to_std")
def _finite_and_positive_at_80(candidate: Candidate) -> None:
    std = candidate(torch.tensor([-80.0, 80.0]))
    if not (torch.isfinite(std).all() and (std > 0).all()):
        raise AssertionError(f"sigma at log-variance -80 and 80 must be finite and positive, got {std.tolist()}")


@reference_check("reparameterize")
def _moments(candidate: Candidate) -> None:
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64).expand(200_000, 2)
    logvar = torch.tensor([math.log(0.25), math.log(4.0)], dtype=torch.float64).expand(200_000, 2)
    z = candidate(mu, logvar, torch.Generator().manual_seed(0))
    _assert_close(z.mean(0), mu[0], "sample mean of 200,000 draws", tol=0.03)
    _assert_close(z.var(0), logvar[0].exp(), "sample variance of 200,000 draws", tol=0.05)


@reference_check("reparameterize")
def _gradients_reach_mu_and_logvar(candidate: Candidate) -> None:
    mu = torch.zeros(5, 3, dtype=torch.float64, requires_grad=True)
    logvar = torch.zeros(5, 3, dtype=torch.float64, requires_grad=True)
    candidate(mu, logvar, torch.Generator().manual_seed(1)).pow(2).sum().backward()
    if mu.grad is None or logvar.grad is None or logvar.grad.abs().sum() == 0:
        raise AssertionError("no gradient reached mu and logvar: is the sample built from them?")


def _std_normal_reference(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    return kl_divergence(q, p)


@reference_check("kl_diag_gaussian_std_normal")
def _matches_torch_kl_divergence(candidate: Candidate) -> None:
    g = torch.Generator().manual_seed(8)
    mu = torch.randn(6, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(6, 4, generator=g, dtype=torch.float64)
    _assert_close(candidate(mu, logvar), _std_normal_reference(mu, logvar),
                  "KL summed over the 4 latent units, one value per row")


@reference_check("kl_diag_gaussian_std_normal")
def _zero_at_the_prior(candidate: Candidate) -> None:
    _assert_close(candidate(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2), "KL of N(0, I) from N(0, I)")


@reference_check("kl_diag_gaussian_std_normal")
def _nonnegative(candidate: Candidate) -> None:
    g = torch.Generator().manual_seed(9)
    kl = candidate(3 * torch.randn(100, 5, generator=g), 3 * torch.randn(100, 5, generator=g))
    if (kl < 0).any():
        raise AssertionError(f"KL must be >= 0, got a minimum of {kl.min().item():.4g}")


@reference_check("kl_diag_gaussian_std_normal")
def _finite_at_logvar_80(candidate: Candidate) -> None:
    kl = candidate(torch.zeros(1, 2), torch.tensor([[-80.0, 80.0]]))
    if not torch.isfinite(kl).all():
        raise AssertionError(f"KL at log-variances -80 and 80 must be finite, got {kl.tolist()}")
