r"""Symbolic proofs, with SymPy, of every formula the course uses.

Nothing in the notes is taken on trust: each function builds the two sides
of an identity as SymPy expressions, from definitions (densities,
integrals, expectations), and simplifies their difference. The result is a
:class:`Proof`, whose :attr:`Proof.holds` is ``True`` exactly when the
difference simplifies to ``0``:

>>> from vaecourse import symbolic
>>> proof = symbolic.log_variance_identity()
>>> proof.holds
True
>>> print(proof)
sigma = exp(log(sigma^2)/2) for sigma > 0: holds

A derivation is a list of :class:`DerivationStep`, each line in LaTeX (as
the chapter displays it) and as an expression; :func:`check_derivation`
proves each line equal to the next and names the first step that fails.

Print ``proof.holds``, ``str(proof)`` or a report's verdicts in notebooks:
these are strings this package controls, identical across SymPy versions,
whereas SymPy's own printing of an expression may change.

The subpackage mirrors the book; every name below is importable from
``vaecourse.symbolic`` itself:

- ``proof``: the engine, :class:`Proof`, :func:`prove_equal`,
  :class:`DerivationStep`, :func:`check_derivation`.
- ``gaussian``: Gaussian expectations from the moments of a standard
  normal, :func:`standard_normal_moment`.
- ``kl``, chapter "The KL divergence, derived and verified": the Gaussian
  KL divergences (:func:`kl_univariate_gaussians_from_integral`,
  :func:`gaussian_log_ratio_steps`, :func:`trace_lemma_steps`,
  :func:`multivariate_kl_derivation_steps`,
  :func:`verify_multivariate_kl`,
  :func:`verify_diagonal_kl_symbolic_dimension`,
  :func:`kl_formula_in_one_dimension`).
- ``notes_derivation``, the same chapter: the notes' derivation, line by
  line (:func:`notes_kl_derivation_steps`,
  :func:`notes_kl_derivation_steps_symbolic_dimension`).
- ``reconstruction``, chapters "Autoencoders" and "The ELBO":
  :func:`gaussian_nll_identity`,
  :func:`sum_of_squares_is_not_its_square_root`,
  :func:`bce_minimiser_and_minimum`,
  :func:`continuous_bernoulli_normaliser_integrates_to_one`;
  chapter "DARLA": :func:`squared_error_split`.
- ``log_variance``, chapter "The log-variance trick":
  :func:`log_variance_identity`.
- ``linear_gaussian``, chapter "The ELBO": the linear-Gaussian model
  (:func:`linear_gaussian_exact_posterior`,
  :func:`linear_gaussian_log_evidence`, :func:`linear_gaussian_elbo`,
  :func:`linear_gaussian_elbo_identity`, :func:`linear_gaussian_elbo_gap`,
  :func:`linear_gaussian_aggregate_variance_steps`), and chapter "From
  autoencoder to VAE": :func:`completing_the_square_steps`.
- ``elbo_identity``, chapter "The ELBO": the identity for any model,
  :func:`elbo_identity_pointwise`.
- ``information``, chapter "β-VAE and disentanglement": the Lagrangian
  (:func:`beta_vae_lagrangian`) and the rate as information plus a KL
  divergence (:func:`rate_identity_pointwise`, :func:`rate_identity`).

Symbols carry assumptions (``positive=True`` for standard deviations,
``real=True`` for means and data), which is what makes identities such as
:math:`\log\sigma^2 = 2\log\sigma` provable: they are false for a negative
:math:`\sigma`.
"""

from vaecourse.symbolic import notes_derivation
from vaecourse.symbolic.elbo_identity import elbo_identity_pointwise
from vaecourse.symbolic.gaussian import standard_normal_moment
from vaecourse.symbolic.information import (
    beta_vae_lagrangian,
    rate_identity,
    rate_identity_pointwise,
)
from vaecourse.symbolic.kl import (
    gaussian_log_ratio_steps,
    kl_formula_in_one_dimension,
    kl_multivariate_gaussians_formula,
    kl_multivariate_gaussians_from_expectation,
    kl_univariate_gaussians_closed_form,
    kl_univariate_gaussians_from_integral,
    multivariate_kl_derivation_steps,
    trace_lemma_steps,
    verify_diagonal_kl_symbolic_dimension,
    verify_multivariate_kl,
)
from vaecourse.symbolic.linear_gaussian import (
    ElboGap,
    GaussianPosterior,
    completing_the_square_steps,
    linear_gaussian_aggregate_variance_steps,
    linear_gaussian_elbo,
    linear_gaussian_elbo_gap,
    linear_gaussian_elbo_identity,
    linear_gaussian_exact_posterior,
    linear_gaussian_log_evidence,
    linear_gaussian_symbols,
)
from vaecourse.symbolic.log_variance import log_variance_identity
from vaecourse.symbolic.notes_derivation import (
    notes_kl_derivation_steps,
    notes_kl_derivation_steps_symbolic_dimension,
)
from vaecourse.symbolic.proof import (
    DerivationReport,
    DerivationStep,
    Proof,
    StepVerdict,
    check_derivation,
    prove_equal,
)
from vaecourse.symbolic.reconstruction import (
    BCEMinimum,
    bce_minimiser_and_minimum,
    continuous_bernoulli_normaliser_integrates_to_one,
    gaussian_nll_identity,
    squared_error_split,
    sum_of_squares_is_not_its_square_root,
)

#: The variants of the notes' derivation, the correct one and the slips
#: that :func:`check_derivation` must catch (see
#: :func:`notes_kl_derivation_steps`).
DERIVATION_VARIANTS = notes_derivation.DERIVATION_VARIANTS

__all__ = [
    # the engine
    "Proof",
    "prove_equal",
    "DerivationStep",
    "StepVerdict",
    "DerivationReport",
    "check_derivation",
    # Gaussian expectations and the KL divergence
    "standard_normal_moment",
    "kl_univariate_gaussians_closed_form",
    "kl_univariate_gaussians_from_integral",
    "gaussian_log_ratio_steps",
    "kl_multivariate_gaussians_formula",
    "kl_multivariate_gaussians_from_expectation",
    "trace_lemma_steps",
    "multivariate_kl_derivation_steps",
    "verify_multivariate_kl",
    "verify_diagonal_kl_symbolic_dimension",
    "kl_formula_in_one_dimension",
    # the notes' derivation
    "DERIVATION_VARIANTS",
    "notes_kl_derivation_steps",
    "notes_kl_derivation_steps_symbolic_dimension",
    # reconstruction terms and the log-variance trick
    "gaussian_nll_identity",
    "sum_of_squares_is_not_its_square_root",
    "squared_error_split",
    "BCEMinimum",
    "bce_minimiser_and_minimum",
    "continuous_bernoulli_normaliser_integrates_to_one",
    "log_variance_identity",
    # the linear-Gaussian model
    "linear_gaussian_symbols",
    "completing_the_square_steps",
    "GaussianPosterior",
    "linear_gaussian_exact_posterior",
    "linear_gaussian_log_evidence",
    "linear_gaussian_elbo",
    "linear_gaussian_elbo_identity",
    "ElboGap",
    "linear_gaussian_elbo_gap",
    "linear_gaussian_aggregate_variance_steps",
    # the ELBO identity for any model
    "elbo_identity_pointwise",
    # the beta-VAE's objective and the rate
    "beta_vae_lagrangian",
    "rate_identity_pointwise",
    "rate_identity",
]
