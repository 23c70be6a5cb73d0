r"""Self-checks for the exercises: the package's reference tests, on yours.

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


def reference_check(
    name: str,
) -> Callable[[Callable[[Candidate], None]], Callable[[Candidate], None]]:
    """Register a check for the exercise function called ``name``."""

    def register(
        fn: Callable[[Candidate], None],
    ) -> Callable[[Candidate], None]:
        _CHECKS.setdefault(name, []).append(fn)
        return fn

    return register


def available_checks() -> list[str]:
    """Names of the functions that :func:`check` knows how to check."""
    return sorted(_CHECKS)


@dataclass
class CheckReport:
    """Outcome of :func:`check`: how many checks passed, why others failed."""

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

    def _repr_pretty_(
        self, printer, cycle
    ) -> None:  # shown as text in notebooks
        printer.text(str(self))


def check(name: str, candidate: Candidate) -> CheckReport:
    """Run the reference checks of exercise function ``name`` on ``candidate``.

    Parameters
    ----------
    name : str
        Which function the candidate implements, one of
        :func:`available_checks`.
    candidate : callable
        Your implementation, with the same signature as the package's function
        of that name.

    Returns
    -------
    CheckReport
        Printable summary; ``report.ok`` is True when every check passed.
    """
    if name not in _CHECKS:
        raise ValueError(
            f"no self-check named {name!r}; "
            f"available: {', '.join(available_checks())}"
        )
    if not callable(candidate):
        raise TypeError(
            f"candidate must be a function, got {type(candidate).__name__}"
        )
    report = CheckReport(name)
    for fn in _CHECKS[name]:
        label = fn.__name__.removeprefix("_").replace("_", " ")
        try:
            fn(candidate)
        except (
            Exception
        ) as error:  # a crash is a failed check, reported, not raised
            report.failures.append(f"{label}: {type(error).__name__}: {error}")
        else:
            report.passed += 1
    return report


def _assert_close(
    actual: object, expected: torch.Tensor, what: str, tol: float = 1e-5
) -> None:
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(
            f"{what}: expected a torch.Tensor, got {type(actual).__name__}"
        )
    if actual.shape != expected.shape:
        raise AssertionError(
            f"{what}: expected shape {tuple(expected.shape)}, "
            f"got {tuple(actual.shape)}"
        )
    if not torch.allclose(
        actual.double(), expected.double(), rtol=tol, atol=tol
    ):
        raise AssertionError(
            f"{what}: expected {_rounded(expected)}, got {_rounded(actual)}"
        )


def _rounded(values: torch.Tensor) -> list:
    """Values to 4 significant digits: readable, the same on every machine."""

    def round_nested(item):
        return (
            [round_nested(v) for v in item]
            if isinstance(item, list)
            else float(f"{item:.4g}")
        )

    return round_nested(values.detach().double().tolist())


def _inputs(*shape: int, seed: int) -> torch.Tensor:
    return torch.rand(
        *shape,
        generator=torch.Generator().manual_seed(seed),
        dtype=torch.float64,
    )


# --- reconstruction terms ----------------------------------------------------


@reference_check("sum_of_squares")
def _three_four_five(candidate: Candidate) -> None:
    _assert_close(
        candidate(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])),
        torch.tensor([25.0]),
        "||(3, 4)||^2 (a sum of squares, no square root)",
    )


@reference_check("sum_of_squares")
def _matches_torch_mse_times_n(candidate: Candidate) -> None:
    x, x_hat = _inputs(4, 10, seed=0), _inputs(4, 10, seed=1)
    expected = torch.nn.functional.mse_loss(x_hat, x, reduction="none").sum(1)
    _assert_close(
        candidate(x, x_hat), expected, "per-example sum over a batch of 4"
    )


@reference_check("mean_squared_error")
def _matches_torch_mse(candidate: Candidate) -> None:
    x, x_hat = _inputs(4, 10, seed=2), _inputs(4, 10, seed=3)
    expected = torch.nn.functional.mse_loss(x_hat, x, reduction="none").mean(1)
    _assert_close(
        candidate(x, x_hat), expected, "per-example mean over a batch of 4"
    )


@reference_check("gaussian_nll")
def _matches_torch_normal(candidate: Candidate) -> None:
    x, x_hat = _inputs(3, 6, seed=4), _inputs(3, 6, seed=5)
    expected = -Independent(Normal(x_hat, math.sqrt(0.2)), 1).log_prob(x)
    _assert_close(
        candidate(x, x_hat, 0.2),
        expected,
        "-log N(x; x_hat, 0.2 I), constant included",
    )


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
    _assert_close(
        candidate(x, x),
        entropy,
        "BCE(x, x) for grey values (the binary entropy, not 0)",
    )


# --- Gaussian sampling and KL ------------------------------------------------


@reference_check("logvar_to_std")
def _inverts_log_of_variance(candidate: Candidate) -> None:
    var = torch.tensor([0.01, 0.25, 1.0, 4.0, 100.0], dtype=torch.float64)
    _assert_close(candidate(var.log()), var.sqrt(), "sigma from log(sigma^2)")


@reference_check("logvar_to_std")
def _finite_and_positive_at_80(candidate: Candidate) -> None:
    std = candidate(torch.tensor([-80.0, 80.0]))
    if not (torch.isfinite(std).all() and (std > 0).all()):
        raise AssertionError(
            "sigma at log-variance -80 and 80 must be finite and positive, "
            f"got {_rounded(std)}"
        )


@reference_check("reparameterize")
def _moments(candidate: Candidate) -> None:
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64).expand(200_000, 2)
    logvar = torch.tensor(
        [math.log(0.25), math.log(4.0)], dtype=torch.float64
    ).expand(200_000, 2)
    z = candidate(mu, logvar, torch.Generator().manual_seed(0))
    _assert_close(z.mean(0), mu[0], "sample mean of 200,000 draws", tol=0.03)
    _assert_close(
        z.var(0), logvar[0].exp(), "sample variance of 200,000 draws", tol=0.05
    )


@reference_check("reparameterize")
def _gradients_reach_mu_and_logvar(candidate: Candidate) -> None:
    mu = torch.zeros(5, 3, dtype=torch.float64, requires_grad=True)
    logvar = torch.zeros(5, 3, dtype=torch.float64, requires_grad=True)
    candidate(mu, logvar, torch.Generator().manual_seed(1)).pow(
        2
    ).sum().backward()
    if mu.grad is None or logvar.grad is None or logvar.grad.abs().sum() == 0:
        raise AssertionError(
            "no gradient reached mu and logvar: is the sample built from them?"
        )


def _std_normal_reference(
    mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    return kl_divergence(q, p)


@reference_check("kl_diag_gaussian_std_normal")
def _matches_torch_kl_divergence(candidate: Candidate) -> None:
    g = torch.Generator().manual_seed(8)
    mu = torch.randn(6, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(6, 4, generator=g, dtype=torch.float64)
    _assert_close(
        candidate(mu, logvar),
        _std_normal_reference(mu, logvar),
        "KL summed over the 4 latent units, one value per row",
    )


@reference_check("kl_diag_gaussian_std_normal")
def _zero_at_the_prior(candidate: Candidate) -> None:
    _assert_close(
        candidate(torch.zeros(2, 3), torch.zeros(2, 3)),
        torch.zeros(2),
        "KL of N(0, I) from N(0, I)",
    )


@reference_check("kl_diag_gaussian_std_normal")
def _nonnegative(candidate: Candidate) -> None:
    g = torch.Generator().manual_seed(9)
    kl = candidate(
        3 * torch.randn(100, 5, generator=g),
        3 * torch.randn(100, 5, generator=g),
    )
    if (kl < 0).any():
        raise AssertionError(
            f"KL must be >= 0, got a minimum of {kl.min().item():.4g}"
        )


@reference_check("kl_diag_gaussian_std_normal")
def _finite_at_logvar_80(candidate: Candidate) -> None:
    kl = candidate(torch.zeros(1, 2), torch.tensor([[-80.0, 80.0]]))
    if not torch.isfinite(kl).all():
        raise AssertionError(
            "KL at log-variances -80 and 80 must be finite, "
            f"got {_rounded(kl)}"
        )


# --- the linear-Gaussian model (chapters 3 and 6) ----------------------------
# p(z) = N(0, 1), p(x | z) = N(w z + b, s2); references built from
# torch.distributions.

_LG_X = torch.tensor([-2.0, 0.0, 0.5, 3.0], dtype=torch.float64)
_LG_W, _LG_B, _LG_S2 = 1.5, -0.5, 0.3


def _lg_posterior_reference(
    x: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    # Condition the joint Gaussian of (z, x): cov(z, x) = w, var(x) = w^2 + s2.
    var_x = _LG_W**2 + _LG_S2
    mean = _LG_W / var_x * (x - _LG_B)
    return mean, torch.full_like(x, 1.0 - _LG_W**2 / var_x)


@reference_check("log_marginal")
def _is_the_log_density_of_n_b_w2_plus_s2(candidate: Candidate) -> None:
    expected = Normal(_LG_B, math.sqrt(_LG_W**2 + _LG_S2)).log_prob(_LG_X)
    _assert_close(
        candidate(_LG_X, _LG_W, _LG_B, _LG_S2),
        expected,
        "log N(x; b, w^2 + s2)",
    )


@reference_check("exact_posterior")
def _conditions_the_joint_gaussian(candidate: Candidate) -> None:
    mean, var = candidate(_LG_X, _LG_W, _LG_B, _LG_S2)
    expected_mean, expected_var = _lg_posterior_reference(_LG_X)
    _assert_close(mean, expected_mean, "posterior mean w (x - b) / (w^2 + s2)")
    _assert_close(
        var, expected_var, "posterior variance s2 / (w^2 + s2), one per x"
    )


@reference_check("elbo")
def _equals_log_evidence_at_the_posterior(candidate: Candidate) -> None:
    mean, var = _lg_posterior_reference(_LG_X)
    expected = Normal(_LG_B, math.sqrt(_LG_W**2 + _LG_S2)).log_prob(_LG_X)
    _assert_close(
        candidate(_LG_X, _LG_W, _LG_B, _LG_S2, mean, var),
        expected,
        "ELBO at q = p(z|x) equals log p(x)",
    )


@reference_check("elbo")
def _gap_is_the_kl_to_the_posterior(candidate: Candidate) -> None:
    q_mean = torch.tensor([0.3, -1.0, 2.0, 0.0], dtype=torch.float64)
    q_var = torch.tensor([0.1, 1.0, 2.5, 0.4], dtype=torch.float64)
    mean, var = _lg_posterior_reference(_LG_X)
    log_evidence = Normal(_LG_B, math.sqrt(_LG_W**2 + _LG_S2)).log_prob(_LG_X)
    expected = log_evidence - kl_divergence(
        Normal(q_mean, q_var.sqrt()), Normal(mean, var.sqrt())
    )
    _assert_close(
        candidate(_LG_X, _LG_W, _LG_B, _LG_S2, q_mean, q_var),
        expected,
        "ELBO = log p(x) - KL(q || p(z|x)) for four Gaussians q",
    )


# --- gradient estimators (chapter 4) -----------------------------------------
# J = E_{N(mu, sigma^2)}[z^2] = mu^2 + sigma^2, so dJ/dmu = 2 mu and
# dJ/dlogvar = sigma^2.


def _check_gradient_estimator(
    candidate: Candidate, n_samples: int, tol: float
) -> None:
    mu = torch.tensor([0.7, -1.0], dtype=torch.float64)
    logvar = torch.tensor([math.log(0.5), 0.0], dtype=torch.float64)
    per_sample_mu, per_sample_logvar = candidate(
        lambda z: z.pow(2).sum(-1),
        mu,
        logvar,
        n_samples,
        torch.Generator().manual_seed(0),
    )
    if per_sample_mu.shape != (n_samples, 2):
        raise AssertionError(
            f"per-sample gradients: expected shape ({n_samples}, 2), "
            f"got {tuple(per_sample_mu.shape)}"
        )
    _assert_close(
        per_sample_mu.mean(0),
        2 * mu,
        "mean gradient w.r.t. mu of E[z^2] (2 mu)",
        tol=tol,
    )
    _assert_close(
        per_sample_logvar.mean(0),
        logvar.exp(),
        "mean gradient w.r.t. logvar of E[z^2] (sigma^2)",
        tol=tol,
    )


@reference_check("pathwise_gradient")
def _gradient_of_the_second_moment(candidate: Candidate) -> None:
    _check_gradient_estimator(candidate, 100_000, tol=0.03)


@reference_check("pathwise_gradient")
def _per_sample_gradient_is_2z(candidate: Candidate) -> None:
    mu, logvar = (
        torch.tensor([0.5], dtype=torch.float64),
        torch.tensor([0.0], dtype=torch.float64),
    )
    per_sample_mu, _ = candidate(
        lambda z: z.pow(2).sum(-1),
        mu,
        logvar,
        4,
        torch.Generator().manual_seed(1),
    )
    z = mu + torch.randn(
        4, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    _assert_close(
        per_sample_mu,
        2 * z,
        "per-sample pathwise gradient 2 z_k, z_k = mu + sigma eps_k",
    )


@reference_check("score_function_gradient")
def _gradient_of_the_second_moment_by_score(candidate: Candidate) -> None:
    _check_gradient_estimator(candidate, 400_000, tol=0.05)


@reference_check("score_function_gradient")
def _per_sample_gradient_is_f_times_score(candidate: Candidate) -> None:
    mu, logvar = (
        torch.tensor([0.5], dtype=torch.float64),
        torch.tensor([math.log(4.0)], dtype=torch.float64),
    )
    per_sample_mu, per_sample_logvar = candidate(
        lambda z: z.pow(2).sum(-1),
        mu,
        logvar,
        4,
        torch.Generator().manual_seed(1),
    )
    z = mu + 2.0 * torch.randn(
        4, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    _assert_close(
        per_sample_mu,
        z**2 * (z - mu) / 4.0,
        "per-sample f(z) (z - mu) / sigma^2",
    )
    _assert_close(
        per_sample_logvar,
        z**2 * ((z - mu) ** 2 / 8.0 - 0.5),
        "per-sample f(z) ((z - mu)^2 / (2 sigma^2) - 1/2)",
    )


# --- PCA and principal angles (chapter "Dimensionality reduction") -----------


def _sorted_angles(
    candidate: Candidate, A: torch.Tensor, B: torch.Tensor
) -> torch.Tensor:
    angles = candidate(A, B)
    if not isinstance(angles, torch.Tensor):
        raise AssertionError(
            f"expected a torch.Tensor of angles, got {type(angles).__name__}"
        )
    return angles.double().sort().values


@reference_check("principal_angles")
def _same_subspace_in_another_basis_gives_zero(candidate: Candidate) -> None:
    A = _inputs(6, 2, seed=10)
    mixing = torch.tensor([[2.0, 1.0], [-1.0, 3.0]], dtype=torch.float64)
    _assert_close(
        _sorted_angles(candidate, A, A @ mixing),
        torch.zeros(2, dtype=torch.float64),
        "angles between span(A) and span(A M) (the same subspace)",
        tol=1e-6,
    )


@reference_check("principal_angles")
def _orthogonal_planes_give_right_angles(candidate: Candidate) -> None:
    eye = torch.eye(4, dtype=torch.float64)
    _assert_close(
        _sorted_angles(candidate, eye[:, :2], 5.0 * eye[:, 2:]),
        torch.full((2,), math.pi / 2, dtype=torch.float64),
        "angles between the x-y and z-w planes of R^4 (pi/2, in radians)",
    )


@reference_check("principal_angles")
def _plane_tilted_by_30_degrees(candidate: Candidate) -> None:
    tilt = math.radians(30.0)
    plane = torch.eye(3, dtype=torch.float64)[:, :2]
    tilted = torch.tensor(
        [[math.cos(tilt), 0.0], [0.0, 1.0], [math.sin(tilt), 0.0]],
        dtype=torch.float64,
    )
    _assert_close(
        _sorted_angles(candidate, plane, tilted),
        torch.tensor([0.0, tilt], dtype=torch.float64),
        "the x-y plane against itself tilted by 30 degrees about the y axis",
        tol=1e-6,
    )


@reference_check("principal_angles")
def _matches_scipy_subspace_angles(candidate: Candidate) -> None:
    from scipy.linalg import subspace_angles

    A, B = _inputs(8, 3, seed=11) - 0.5, _inputs(8, 3, seed=12) - 0.5
    expected = (
        torch.from_numpy(subspace_angles(A.numpy(), B.numpy())).sort().values
    )
    _assert_close(
        _sorted_angles(candidate, A, B),
        expected,
        "angles between two random 3-D subspaces of R^8 "
        "(scipy.linalg.subspace_angles)",
        tol=1e-6,
    )


# --- training a VAE: the latent manifold and the importance-weighted log p(x)


@reference_check("manifold_coordinates")
def _inverse_normal_cdf_of_midpoints(candidate: Candidate) -> None:
    from scipy.stats import norm

    for n in (1, 4, 15):
        expected = torch.from_numpy(
            norm.ppf((torch.arange(n, dtype=torch.float64).numpy() + 0.5) / n)
        )
        _assert_close(
            candidate(n),
            expected,
            f"Phi^-1((i + 1/2) / n) for n = {n} (scipy.stats.norm.ppf)",
            tol=1e-6,
        )


@reference_check("manifold_coordinates")
def _finite_increasing_symmetric(candidate: Candidate) -> None:
    coords = candidate(20)
    if not torch.isfinite(coords).all():
        raise AssertionError(
            "the coordinates must be finite: avoid 0 and 1, where Phi^-1 is "
            "infinite"
        )
    if not (coords[1:] > coords[:-1]).all():
        raise AssertionError("the coordinates must increase")
    _assert_close(
        coords,
        -coords.flip(0),
        "symmetry about 0 (the grid is centred on the prior's mean)",
        tol=1e-6,
    )


# A VAE whose log p(x) is known: probabilistic PCA, p(z) = N(0, I),
# p(x | z) = N(W z + b, s^2 I). W's columns are orthogonal, so the posterior
# p(z | x) is diagonal and the VAE's encoder can represent it exactly.
PPCA_VARIANCE = 0.5
PPCA_WEIGHT = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
PPCA_BIAS = torch.tensor([0.5, -1.0, 0.2])
PPCA_X = torch.tensor([[0.7, -1.5, 0.4], [2.0, 1.0, -0.5], [0.0, 0.0, 0.0]])


def ppca_vae(exact_posterior: bool):
    r"""Probabilistic PCA as a :class:`vaecourse.models.VAE`, in eval mode.

    The decoder is :math:`x = Wz + b` with variance :math:`s^2`
    (``PPCA_WEIGHT``, ``PPCA_BIAS``, ``PPCA_VARIANCE``). With
    ``exact_posterior`` the encoder outputs the true posterior

    .. math::

        p(z \mid x) = \mathcal N\left(M^{-1} W^T (x - b),\; s^2 M^{-1}\right),
        \qquad M = W^T W + s^2 I,

    otherwise a poor :math:`q(z \mid x) = \mathcal N(0.3, 2 I)`, the same for
    every :math:`x`. Used by the self-check of
    ``importance_weighted_log_px`` and by the package's tests.
    """
    from vaecourse.models import VAE

    w, b, s2 = PPCA_WEIGHT, PPCA_BIAS, PPCA_VARIANCE
    model = VAE(
        input_dim=3,
        hidden_dim=None,
        latent_dim=2,
        likelihood="gaussian",
        decoder_variance=s2,
    )
    with torch.no_grad():
        model.decoder.weight.copy_(w)
        model.decoder.bias.copy_(b)
        model.logvar_head.weight.zero_()
        if exact_posterior:
            m = torch.diagonal(w.T @ w) + s2  # M is diagonal
            model.mu_head.weight.copy_(w.T / m[:, None])
            model.mu_head.bias.copy_(-(w.T @ b) / m)
            model.logvar_head.bias.copy_(torch.log(s2 / m))
        else:
            model.mu_head.weight.zero_()
            model.mu_head.bias.fill_(0.3)
            model.logvar_head.bias.fill_(math.log(2.0))
    return model.eval()


def ppca_log_px(x: torch.Tensor) -> torch.Tensor:
    r"""Exact :math:`\log p(x)` of :func:`ppca_vae`.

    :math:`x \sim \mathcal N(b, WW^T + s^2 I)`, by ``torch.distributions``.
    """
    from torch.distributions import MultivariateNormal

    w, b, s2 = PPCA_WEIGHT, PPCA_BIAS, PPCA_VARIANCE
    return MultivariateNormal(b, w @ w.T + s2 * torch.eye(3)).log_prob(x)


@reference_check("importance_weighted_log_px")
def _exact_at_the_true_posterior(candidate: Candidate) -> None:
    model = ppca_vae(exact_posterior=True)
    for k in (1, 7):
        with torch.no_grad():
            estimate = candidate(
                model, PPCA_X, k, torch.Generator().manual_seed(k)
            )
        _assert_close(
            estimate,
            ppca_log_px(PPCA_X),
            "with q(z|x) = p(z|x) every weight is p(x), "
            f"for k = {k} (exact log p(x) of probabilistic PCA, "
            "torch MultivariateNormal)",
            tol=1e-4,
        )


@reference_check("importance_weighted_log_px")
def _tightens_with_k_and_stays_below_log_px(candidate: Candidate) -> None:
    model = ppca_vae(exact_posterior=False)
    x = PPCA_X.repeat_interleave(300, dim=0)
    with torch.no_grad():
        means = {
            k: candidate(model, x, k, torch.Generator().manual_seed(k))
            .reshape(3, 300)
            .mean(1)
            for k in (1, 50)
        }
    exact = ppca_log_px(PPCA_X)
    if not (means[1] + 0.1 < means[50]).all():
        raise AssertionError(
            "the average estimate must increase with k (log of the MEAN of "
            f"the weights): k=1 gives {_rounded(means[1])}, k=50 gives "
            f"{_rounded(means[50])}"
        )
    if not (means[50] < exact + 0.1).all():
        raise AssertionError(
            "the average estimate must stay below log p(x) = "
            f"{_rounded(exact)} (subtract log k), got {_rounded(means[50])} "
            "for k=50"
        )


@reference_check("importance_weighted_log_px")
def _converges_to_log_px(candidate: Candidate) -> None:
    model = ppca_vae(exact_posterior=False)
    with torch.no_grad():
        estimate = candidate(
            model, PPCA_X, 20000, torch.Generator().manual_seed(0)
        )
    _assert_close(
        estimate,
        ppca_log_px(PPCA_X),
        "k = 20000 against the exact log p(x)",
        tol=0.05,
    )


# --- beta-VAE: the beta-VAE metric's feature and the capacity objective -----


@reference_check("beta_vae_feature")
def _mean_absolute_difference_by_hand(candidate: Candidate) -> None:
    import numpy as np

    codes_1 = np.array([[0.0, 1.0], [2.0, 3.0]])
    codes_2 = np.array([[1.0, 1.0], [0.0, 5.0]])
    # |differences| = [[1, 0], [2, 2]]; their mean over the 2 pairs:
    _assert_close(
        torch.as_tensor(np.asarray(candidate(codes_1, codes_2))),
        torch.tensor([1.5, 1.0], dtype=torch.float64),
        "mean over pairs of |r(x1) - r(x2)|, by hand",
    )


@reference_check("beta_vae_feature")
def _zero_for_units_equal_within_pairs(candidate: Candidate) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    codes_1 = rng.normal(size=(64, 5))
    codes_2 = rng.normal(size=(64, 5))
    codes_2[:, 2] = codes_1[:, 2]  # the unit that encodes the shared factor
    feature = torch.as_tensor(np.asarray(candidate(codes_1, codes_2)))
    _assert_close(
        feature[2:3],
        torch.zeros(1, dtype=torch.float64),
        "a unit equal within every pair has feature 0",
    )
    if not (feature[[0, 1, 3, 4]] > 0.5).all():
        raise AssertionError(
            "units that differ within pairs must have a large feature "
            f"(about 2 / sqrt(pi) = 1.13 here), got {_rounded(feature)}"
        )


@reference_check("capacity_objective")
def _reconstruction_plus_gamma_times_distance_to_c(
    candidate: Candidate,
) -> None:
    from vaecourse.losses import ELBOTerms

    for kl, capacity, expected in ((3.0, 5.0, 2100.0), (8.0, 5.0, 3100.0)):
        terms = ELBOTerms(
            loss=torch.tensor(100.0 + kl, dtype=torch.float64),
            reconstruction=torch.tensor(100.0, dtype=torch.float64),
            kl=torch.tensor(kl, dtype=torch.float64),
        )
        _assert_close(
            torch.as_tensor(candidate(terms, capacity, 1000.0)),
            torch.tensor(expected, dtype=torch.float64),
            f"100 + 1000 |{kl} - {capacity}| (reconstruction 100, KL {kl}, "
            f"C = {capacity}, gamma = 1000)",
        )


@reference_check("capacity_objective")
def _gradient_on_the_kl_is_plus_or_minus_gamma(candidate: Candidate) -> None:
    from vaecourse.losses import ELBOTerms

    for kl_value, sign in ((2.0, -1.0), (9.0, 1.0)):
        kl = torch.tensor(kl_value, dtype=torch.float64, requires_grad=True)
        reconstruction = torch.tensor(
            50.0, dtype=torch.float64, requires_grad=True
        )
        terms = ELBOTerms(reconstruction + kl, reconstruction, kl)
        candidate(terms, 5.0, 10.0).backward()
        _assert_close(
            kl.grad.reshape(1),
            torch.tensor([sign * 10.0], dtype=torch.float64),
            f"d loss / d KL at KL = {kl_value}, C = 5, gamma = 10 "
            f"({'above' if sign > 0 else 'below'} C)",
        )
        _assert_close(
            reconstruction.grad.reshape(1),
            torch.ones(1, dtype=torch.float64),
            "d loss / d reconstruction",
        )


# --- VQ-VAE: the straight-through estimator and the perplexity --------------


def _st_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z_e = torch.randn(3, 4, generator=g, dtype=torch.float64)
    e = torch.randn(3, 4, generator=g, dtype=torch.float64)
    return z_e.requires_grad_(), e.requires_grad_()


@reference_check("straight_through")
def _forward_value_is_the_code(candidate: Candidate) -> None:
    z_e, e = _st_inputs(0)
    _assert_close(
        candidate(z_e, e),
        e.detach(),
        "forward value z_q (it must equal the code e)",
        tol=1e-12,
    )


@reference_check("straight_through")
def _gradient_passes_to_z_e_unchanged(candidate: Candidate) -> None:
    z_e, e = _st_inputs(1)
    incoming = torch.arange(12, dtype=torch.float64).reshape(3, 4) - 5.5
    z_q = candidate(z_e, e)
    if not isinstance(z_q, torch.Tensor) or z_q.grad_fn is None:
        raise AssertionError(
            "z_q carries no gradient: build it from z_e (z_e plus a "
            "detached difference), not from a detached tensor"
        )
    z_q.backward(incoming)
    # Reference: autograd's gradient of the identity map, d z_e / d z_e = I
    z_ref = z_e.detach().clone().requires_grad_()
    z_ref.backward(incoming)
    if z_e.grad is None:
        raise AssertionError(
            "no gradient reached z_e: the gradient at z_q must pass to z_e "
            "unchanged"
        )
    _assert_close(
        z_e.grad,
        z_ref.grad,
        "gradient to z_e (the gradient at z_q, unchanged)",
        tol=1e-12,
    )
    if e.grad is not None and e.grad.abs().sum() > 0:
        raise AssertionError(
            "the code e got a gradient through z_q: stop the gradient of "
            f"(e - z_e); e.grad = {_rounded(e.grad)}"
        )


def _perplexity_value(candidate: Candidate, indices, k: int) -> torch.Tensor:
    value = torch.as_tensor(candidate(indices, k))
    return value.detach().to(torch.float64).reshape(())


@reference_check("perplexity")
def _uniform_use_gives_k(candidate: Candidate) -> None:
    indices = torch.arange(8).repeat(3)
    _assert_close(
        _perplexity_value(candidate, indices, 8),
        torch.tensor(8.0, dtype=torch.float64),
        "uniform use of all 8 codes (perplexity K = 8)",
    )


@reference_check("perplexity")
def _a_single_code_gives_1(candidate: Candidate) -> None:
    indices = torch.full((2, 7, 7), 5)
    _assert_close(
        _perplexity_value(candidate, indices, 64),
        torch.tensor(1.0, dtype=torch.float64),
        "one code used at all 98 positions of a (2, 7, 7) grid",
    )


@reference_check("perplexity")
def _unused_codes_and_uneven_use_by_hand(candidate: Candidate) -> None:
    # p = (1/2, 1/4, 1/4) over codes 0, 1, 2; codes 3 to 9 unused (0 log 0
    # = 0): entropy = 1.5 log 2 nats, perplexity = 2 ** 1.5
    indices = torch.tensor([[0, 0], [1, 2]])
    _assert_close(
        _perplexity_value(candidate, indices, 10),
        torch.tensor(2.0**1.5, dtype=torch.float64),
        "exp(entropy) of p = (1/2, 1/4, 1/4) with 7 unused codes, by hand",
    )
