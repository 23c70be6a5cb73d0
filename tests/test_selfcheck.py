"""The exercise self-checks pass the package's functions, fail wrong ones."""

from __future__ import annotations

import importlib

import pytest
import torch

from vaecourse import gradients, linear_gaussian, selfcheck

# Modules that may define exercise functions, searched in this order.
MODULES = [
    "losses",
    "distributions",
    "symbolic",
    "pca",
    "linear_gaussian",
    "gradients",
    "data",
    "models",
    "train",
    "plotting",
    "metrics",
    "vq",
]


def package_function(name: str):
    for module_name in MODULES:
        try:
            module = importlib.import_module(f"vaecourse.{module_name}")
        except ModuleNotFoundError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    raise LookupError(
        f"self-check {name!r} has no function of that name in vaecourse"
    )


@pytest.mark.parametrize("name", selfcheck.available_checks())
def test_the_package_passes_its_own_self_checks(name):
    report = selfcheck.check(name, package_function(name))
    assert report.ok, str(report)


WRONG_VARIANTS = [
    (
        "sum_of_squares",
        lambda x, y: torch.linalg.vector_norm(x - y, dim=1),
        "no square root",
    ),
    (
        "mean_squared_error",
        lambda x, y: (x - y).pow(2).sum(1),
        "per-example mean",
    ),
    (
        "gaussian_nll",
        lambda x, y, v: (x - y).pow(2).sum(1) / (2 * v),
        "constant included",
    ),
    (
        "bernoulli_nll",
        lambda x, p: -(x * p.log()).sum(1),
        "BCE on binary targets",
    ),
    ("logvar_to_std", lambda lv: lv.exp(), "sigma from log"),
    (
        "reparameterize",
        lambda m, lv, g: (
            m + lv.exp() * torch.randn(m.shape, generator=g, dtype=m.dtype)
        ),
        "sample variance",
    ),
    (
        "kl_diag_gaussian_std_normal",
        lambda m, lv: -0.5 * (1 + lv - m**2 - lv.exp()).sum(),
        "expected shape",
    ),
    (
        "kl_diag_gaussian_std_normal",
        lambda m, lv: 0.5 * (1 + lv - m**2 - lv.exp()).sum(-1),
        "KL summed",
    ),
    # no orthonormalisation: cosines of a non-orthonormal basis are not the
    # angles
    (
        "principal_angles",
        lambda a, b: torch.arccos(torch.linalg.svdvals(a.T @ b).clamp(0, 1)),
        "same subspace",
    ),
    (
        "exact_posterior",
        lambda x, w, b, s2: (
            w / (w**2 + s2) * (x - b),
            torch.full_like(x, s2),
        ),
        "posterior variance",
    ),
    (
        "elbo",
        lambda x, w, b, s2, m, v: linear_gaussian.expected_log_likelihood(
            x, w, b, s2, m, v
        ),
        "equals log p(x)",
    ),
    (
        "score_function_gradient",
        lambda *args: gradients.pathwise_gradient(*args),
        "f times score",
    ),
    (
        "beta_vae_feature",
        lambda a, b: torch.as_tensor(((a - b) ** 2).mean(0)),
        "by hand",
    ),
    (
        "beta_vae_feature",
        lambda a, b: torch.as_tensor(abs(a - b).sum(0)),
        "by hand",
    ),
    (
        "capacity_objective",
        lambda t, c, g: t.reconstruction + g * (t.kl - c),
        "below C",
    ),
    (
        "capacity_objective",
        lambda t, c, g: t.reconstruction + t.kl + g * (t.kl - c).abs(),
        "gamma = 1000",
    ),
    # the straight-through estimator: no stop-gradient (z_e's gradient
    # cancels), the code alone (no path to z_e), z_e alone (wrong value)
    ("straight_through", lambda z, e: z + (e - z), "gradient to z_e"),
    ("straight_through", lambda z, e: e, "z_q carries no gradient"),
    ("straight_through", lambda z, e: z * 1.0, "forward value"),
    (
        "straight_through",
        lambda z, e: z.detach() + (e - z.detach()),
        "no gradient reached z_e",
    ),
    # the perplexity: the entropy without exp; 0 log 0 left as NaN; base 2
    (
        "perplexity",
        lambda i, k: _usage_entropy(i, k),
        "uniform use of all 8 codes",
    ),
    (
        "perplexity",
        lambda i, k: _usage_entropy(i, k, xlogy=False).exp(),
        "one code used",
    ),
    (
        "perplexity",
        lambda i, k: 2.0 ** _usage_entropy(i, k),
        "uniform use of all 8 codes",
    ),
]


def _usage_entropy(indices, k, xlogy=True):
    """Entropy (nats) of the code usage; without xlogy 0 log 0 is NaN."""
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    p = counts / counts.sum()
    return -(torch.xlogy(p, p) if xlogy else p * p.log()).sum()


@pytest.mark.parametrize(
    "name, wrong, message",
    WRONG_VARIANTS,
    ids=[w[0] + "-" + w[2] for w in WRONG_VARIANTS],
)
def test_a_wrong_implementation_fails_with_a_reason(name, wrong, message):
    report = selfcheck.check(name, wrong)
    assert not report.ok
    assert message in str(report)


def test_unknown_names_and_non_functions_are_refused():
    with pytest.raises(ValueError, match="no self-check named 'kl3'"):
        selfcheck.check("kl3", lambda: None)
    with pytest.raises(TypeError, match="candidate must be a function"):
        selfcheck.check("sum_of_squares", 3)


def test_the_probabilistic_pca_vae_encodes_the_true_posterior():
    # Reference: condition the joint Gaussian of (z, x) with torch.linalg,
    # p(z | x) = N(W^T C^-1 (x - b), I - W^T C^-1 W), C = W W^T + s^2 I.
    w, b = selfcheck.PPCA_WEIGHT.double(), selfcheck.PPCA_BIAS.double()
    x = selfcheck.PPCA_X.double()
    s2 = selfcheck.PPCA_VARIANCE
    cov_x = w @ w.T + s2 * torch.eye(3, dtype=torch.float64)
    gain = torch.linalg.solve(cov_x, w).T  # W^T C^-1
    mean = (x - b) @ gain.T
    cov = torch.eye(2, dtype=torch.float64) - gain @ w
    model = selfcheck.ppca_vae(exact_posterior=True)
    with torch.no_grad():
        mu, logvar = model.encode(selfcheck.PPCA_X)
    torch.testing.assert_close(mu.double(), mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        torch.diag_embed(logvar.exp()).double(),
        cov.expand(3, 2, 2),
        rtol=1e-5,
        atol=1e-6,
    )
