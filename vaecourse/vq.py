r"""Vector quantisation and the VQ-VAE (chapter "VQ-VAE").

The VQ-VAE of van den Oord et al. (2017) replaces the Gaussian latent of a
VAE by a grid of discrete codes. An encoder maps an image to a grid of
vectors :math:`z_e \in \mathbb R^d`; each is replaced by the nearest of
:math:`K` code vectors :math:`e_1, \dots, e_K` (the codebook); the decoder
sees the grid of chosen codes :math:`z_q`. This module holds:

- the formulas, as pure functions: :func:`nearest_codes`, :func:`quantize`,
  :func:`codebook_loss`, :func:`commitment_loss`, :func:`straight_through`,
  :func:`perplexity`, :func:`codes_used` and :func:`ema_codebook_update`;
- :class:`VectorQuantizer`, a module that uses them, with the codebook
  learned by its loss term or by exponential moving averages (EMA), usage
  statistics, and the re-seeding of dead codes;
- :class:`VQVAE`, a small convolutional VQ-VAE for 28 x 28 digits with a
  7 x 7 grid of codes, and :class:`ResidualBlock`;
- :class:`PixelCNNPrior`, an autoregressive prior over the code grid built
  from :class:`MaskedConv2d`, to generate new digits;
- :func:`negative_elbo`, :func:`bits_per_dim`, :func:`train_vq_vae` and
  :func:`train_prior`.

Layout. The pure functions take vectors along the **last** dimension,
``(..., d)``. The modules take a conv layer's layout, **channels first**:
``z_e`` of shape ``(batch, d, H, W)``, indices of shape ``(batch, H, W)``.

Loss convention (the course's): every term is **summed over the grid
positions and the code dimensions** (and, for the reconstruction, over the
784 pixels) and **averaged over the batch**, in nats per example. The
functions return one number per example, shape ``(batch,)``; the model
takes the batch mean. Sonnet and the paper's code take the *mean* over
grid positions and dimensions instead; that divides the codebook and
commitment terms by :math:`HWd` and changes their weight against the
reconstruction term (the same pitfall as a KL summed against a
reconstruction averaged).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vaecourse._validation import (
    check_batched,
    check_bool,
    check_device,
    check_finite,
    check_generator,
    check_in_unit_interval,
    check_instance,
    check_int,
    check_real,
    check_same_dtype,
    check_same_shape,
    check_shape,
    scans_values,
    values_checked,
)
from vaecourse.loop import History, epoch_data, train_loop
from vaecourse.losses import bernoulli_nll_with_logits

__all__ = [
    "nearest_codes",
    "quantize",
    "codebook_loss",
    "commitment_loss",
    "straight_through",
    "perplexity",
    "codes_used",
    "EMAState",
    "ema_codebook_update",
    "VQOutput",
    "VectorQuantizer",
    "ResidualBlock",
    "VQVAELoss",
    "VQVAE",
    "MaskedConv2d",
    "PixelCNNPrior",
    "negative_elbo",
    "bits_per_dim",
    "VQHistory",
    "train_vq_vae",
    "PriorHistory",
    "train_prior",
]

#: The commitment weight :math:`\kappa` (van den Oord et al.'s
#: :math:`\kappa`, Sonnet's ``commitment_cost``).
DEFAULT_COMMITMENT_COST = 0.25


# --- checks ------------------------------------------------------------------


def _check_codebook(codebook: object) -> torch.Tensor:
    check_finite("codebook", codebook)
    if codebook.dim() != 2 or codebook.shape[0] < 1:
        raise ValueError(
            "codebook must have shape (K, d) with K >= 1 codes, got "
            f"{tuple(codebook.shape)}"
        )
    return codebook


def _check_vectors(z_e: object, codebook: torch.Tensor) -> torch.Tensor:
    check_finite("z_e", z_e)
    if z_e.dim() < 1 or z_e.shape[-1] != codebook.shape[1]:
        raise ValueError(
            f"z_e must have shape (..., {codebook.shape[1]}), the code "
            f"dimension d of the codebook last, got {tuple(z_e.shape)}"
        )
    check_same_dtype("z_e", z_e, "codebook", codebook)
    return z_e


def _check_indices(
    indices: object, num_codes: int, name: str = "indices"
) -> torch.Tensor:
    if not isinstance(indices, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(indices).__name__}"
        )
    if indices.dtype != torch.int64:
        raise TypeError(
            f"{name} must be an int64 tensor of code indices, got dtype "
            f"{indices.dtype}"
        )
    if indices.numel() == 0:
        raise ValueError(f"{name} must hold at least one index, got none")
    if not scans_values():  # a value scan, skipped as the others are
        return indices
    low, high = indices.min().item(), indices.max().item()
    if low < 0 or high >= num_codes:
        raise ValueError(
            f"{name} must lie in [0, {num_codes - 1}] for K = {num_codes} "
            f"codes, found values in [{low}, {high}]"
        )
    return indices


def _check_pair(z_e: object, e: object) -> None:
    check_finite("z_e", z_e)
    check_finite("e", e)
    check_batched("z_e", z_e, min_dim=1)
    check_same_shape("z_e", z_e, "e", e)
    check_same_dtype("z_e", z_e, "e", e)  # no silent promotion


def _check_decay(decay: object) -> float:
    decay = check_real("decay", decay)
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay must lie in (0, 1), got {decay}")
    return decay


# --- the formulas ------------------------------------------------------------


def nearest_codes(z_e: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    r"""Index of the nearest code, by Euclidean (L2) distance.

    .. math::

        k(z_e) = \operatorname*{arg\,min}_{j \in \{0, \dots, K-1\}}
        \|z_e - e_j\|_2^2
        = \operatorname*{arg\,min}_j
        \left(\|e_j\|^2 - 2\, z_e^\top e_j\right),

    computed in the second form (the term :math:`\|z_e\|^2` is the same
    for every :math:`j`), which needs one matrix product instead of a
    ``(N, K, d)`` tensor of differences. A tie goes to the smallest index.

    Parameters
    ----------
    z_e : torch.Tensor
        Vectors of shape ``(..., d)``, finite, the dtype of ``codebook``.
    codebook : torch.Tensor
        Codes :math:`e_j` as rows, shape ``(K, d)``.

    Returns
    -------
    torch.Tensor
        ``int64`` indices of shape ``z_e.shape[:-1]``.
    """
    codebook = _check_codebook(codebook)
    z_e = _check_vectors(z_e, codebook)
    flat = z_e.detach().reshape(-1, codebook.shape[1])
    codes = codebook.detach()
    distances = codes.pow(2).sum(1) - 2.0 * flat @ codes.T
    return distances.argmin(1).reshape(z_e.shape[:-1])


def quantize(indices: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    r"""The code vectors :math:`e_{k}` of ``indices``: ``codebook[indices]``.

    Differentiable with respect to ``codebook`` (the gradient of a row is
    the sum of the gradients of the positions that chose it).

    Parameters
    ----------
    indices : torch.Tensor
        ``int64`` indices in ``[0, K)``, any shape ``S``.
    codebook : torch.Tensor
        Shape ``(K, d)``.

    Returns
    -------
    torch.Tensor
        Shape ``S + (d,)``.
    """
    codebook = _check_codebook(codebook)
    indices = _check_indices(indices, codebook.shape[0])
    return codebook[indices]


def codebook_loss(z_e: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    r"""The codebook term :math:`\|\mathrm{sg}[z_e] - e\|_2^2`, per example.

    .. math::

        L_{\text{codebook}} = \sum_{p} \sum_{i=1}^{d}
        \left(\mathrm{sg}[z_{e}]_{p,i} - e_{p,i}\right)^2,

    summed over the grid positions :math:`p` and code dimensions :math:`i`
    of one example; :math:`\mathrm{sg}` stops the gradient. It moves the
    chosen codes toward the encoder outputs and nothing else: its gradient
    with respect to ``e`` is :math:`2(e - z_e)`, with respect to ``z_e``
    zero. In a batch mean over :math:`B` examples, a code row chosen at
    positions :math:`P_j` gets :math:`\frac2B \sum_{p \in P_j}(e_j -
    z_{e,p})`, and a code chosen nowhere gets 0.

    ``e`` must be the looked-up codes (:func:`quantize`), **not** the
    straight-through output :func:`straight_through`: with that,
    :math:`e - z_e` is detached and the codebook gets no gradient (a bug of
    public implementations).

    Parameters
    ----------
    z_e, e : torch.Tensor
        Encoder outputs and their codes, finite, of one shape
        ``(batch, ...)`` and one dtype (no silent promotion).

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, summed over everything but the batch dimension.
    """
    _check_pair(z_e, e)
    return (z_e.detach() - e).pow(2).reshape(e.shape[0], -1).sum(1)


def commitment_loss(
    z_e: torch.Tensor,
    e: torch.Tensor,
    commitment_cost: float = DEFAULT_COMMITMENT_COST,
) -> torch.Tensor:
    r"""The commitment term :math:`\kappa\|z_e - \mathrm{sg}[e]\|_2^2`.

    .. math::

        L_{\text{commit}} = \kappa \sum_{p} \sum_{i=1}^{d}
        \left(z_{e,p,i} - \mathrm{sg}[e]_{p,i}\right)^2,

    per example, summed over grid positions and code dimensions. It keeps
    the encoder's outputs close to their codes; its gradient with respect
    to ``z_e`` is :math:`2\kappa(z_e - e)`, with respect to ``e`` zero.
    :math:`\kappa = 0.25` in van den Oord et al. (2017); the weight belongs
    on this term, not on the codebook term.

    Parameters
    ----------
    z_e, e : torch.Tensor
        Encoder outputs and their codes, finite, of one shape
        ``(batch, ...)`` and one dtype (no silent promotion).
    commitment_cost : float, default 0.25
        :math:`\kappa \ge 0`.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``.
    """
    commitment_cost = check_real(
        "commitment_cost", commitment_cost, minimum=0.0
    )
    _check_pair(z_e, e)
    squares = (z_e - e.detach()).pow(2).reshape(e.shape[0], -1).sum(1)
    return commitment_cost * squares


def straight_through(z_e: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    r"""The straight-through estimator, :math:`z_q = z_e + \mathrm{sg}(e -
    z_e)`.

    In the forward pass :math:`z_q = e` (up to float rounding); in the
    backward pass :math:`\partial z_q / \partial z_e = I`, so the decoder's
    gradient with respect to :math:`z_q` is passed to the encoder unchanged
    and ``e`` gets none. Compute :func:`codebook_loss` and
    :func:`commitment_loss` from ``e``, before this substitution.

    Parameters
    ----------
    z_e, e : torch.Tensor
        Encoder outputs and their codes, finite, of one shape and one
        dtype.

    Returns
    -------
    torch.Tensor
        :math:`z_q`, the shape of ``z_e``.
    """
    check_finite("z_e", z_e)
    check_finite("e", e)
    check_same_shape("z_e", z_e, "e", e)
    check_same_dtype("z_e", z_e, "e", e)
    return z_e + (e - z_e).detach()


def _usage(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    return torch.bincount(indices.reshape(-1), minlength=num_codes)


def perplexity(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    r"""Perplexity of the code usage: :math:`\exp(-\sum_j \bar p_j \log
    \bar p_j)`.

    :math:`\bar p_j` is the fraction of the entries of ``indices`` equal to
    :math:`j` (the batch average of the one-hot codes), with
    :math:`0 \log 0 = 0`. It is :math:`K` when all codes are used equally
    and 1 when a single code is used: the "effective number of codes". It
    depends on how many indices it sees (a batch uses fewer codes than an
    epoch), so count the codes used over a whole epoch as well
    (:func:`codes_used`).

    Parameters
    ----------
    indices : torch.Tensor
        ``int64`` code indices in ``[0, K)``, any shape.
    num_codes : int
        :math:`K \ge 1`.

    Returns
    -------
    torch.Tensor
        A 0-d ``float64`` tensor in :math:`[1, K]`.
    """
    num_codes = check_int("num_codes", num_codes, minimum=1)
    indices = _check_indices(indices, num_codes)
    counts = _usage(indices, num_codes).to(torch.float64)
    p = counts / counts.sum()
    return torch.exp(-torch.xlogy(p, p).sum())


def codes_used(indices: torch.Tensor, num_codes: int) -> int:
    """Number of distinct codes that appear in ``indices``.

    Parameters
    ----------
    indices : torch.Tensor
        ``int64`` code indices in ``[0, K)``, any shape.
    num_codes : int
        :math:`K \\ge 1`.

    Returns
    -------
    int
        Between 1 and ``num_codes``.
    """
    num_codes = check_int("num_codes", num_codes, minimum=1)
    indices = _check_indices(indices, num_codes)
    return int((_usage(indices, num_codes) > 0).sum().item())


class EMAState(NamedTuple):
    """State of the EMA codebook after one update.

    ``cluster_size`` :math:`N` (shape ``(K,)``), ``embed_sum`` :math:`m`
    (``(K, d)``) and the new ``codebook`` :math:`m / \\tilde N`.
    """

    cluster_size: torch.Tensor
    embed_sum: torch.Tensor
    codebook: torch.Tensor


def ema_codebook_update(
    cluster_size: torch.Tensor,
    embed_sum: torch.Tensor,
    z_e: torch.Tensor,
    indices: torch.Tensor,
    decay: float = 0.99,
    eps: float = 1e-5,
) -> EMAState:
    r"""One step of the EMA codebook update.

    The recursion of the appendix of van den Oord et al. (2017), with the
    Laplace smoothing of Sonnet's ``VectorQuantizerEMA``. With :math:`b_j`
    the number of vectors of the batch assigned to code :math:`j` and
    :math:`s_j` their sum, decay :math:`\rho`:

    .. math::

        N_j &\leftarrow \rho N_j + (1 - \rho)\, b_j, \qquad
        m_j \leftarrow \rho m_j + (1 - \rho)\, s_j, \\
        \tilde N_j &= \frac{N_j + \eta}{S + K\eta}\, S,
        \quad S = \textstyle\sum_j N_j, \qquad
        e_j = m_j / \tilde N_j .

    The Laplace smoothing :math:`\tilde N` keeps :math:`e_j` finite for a
    code that is never chosen (:math:`N_j \to 0`) and leaves
    :math:`\sum_j \tilde N_j = S`. A plain EMA, with no bias correction:
    Sonnet's ``VectorQuantizerEMA`` starts :math:`N` and :math:`m` at zero
    and divides by :math:`1 - \rho^t`, so its first steps differ;
    :class:`VectorQuantizer` starts at :math:`N_j = 1`,
    :math:`m_j = e_j` instead (as ``vector-quantize-pytorch`` does), so
    that :math:`m_j / N_j` is the initial code.

    Parameters
    ----------
    cluster_size : torch.Tensor
        :math:`N`, shape ``(K,)``.
    embed_sum : torch.Tensor
        :math:`m`, shape ``(K, d)``.
    z_e : torch.Tensor
        The batch's encoder outputs, shape ``(N, d)`` (detached here).
    indices : torch.Tensor
        Their codes, ``int64`` of shape ``(N,)``.
    decay : float, default 0.99
        :math:`\rho \in (0, 1)`.
    eps : float, default 1e-5
        :math:`\eta > 0`.

    Returns
    -------
    EMAState
        New tensors; the inputs are not modified.

    Raises
    ------
    ValueError
        If a tensor is not finite, a count :math:`N_j` is negative (then
        :math:`S` can be 0 or negative and the codes :math:`\pm\infty`),
        or a shape does not fit.
    TypeError
        If the three tensors do not share one floating dtype.
    """
    decay = _check_decay(decay)
    eps = check_real("eps", eps, positive=True)
    cluster_size = _check_counts(cluster_size)
    embed_sum = _check_codebook_like("embed_sum", embed_sum)
    check_same_dtype("embed_sum", embed_sum, "cluster_size", cluster_size)
    num_codes, dim = embed_sum.shape
    if cluster_size.shape != (num_codes,):
        raise ValueError(
            f"cluster_size must have shape ({num_codes},), one count per "
            f"code, got {tuple(cluster_size.shape)}"
        )
    check_finite("z_e", z_e)
    if z_e.dim() != 2 or z_e.shape[1] != dim:
        raise ValueError(
            f"z_e must have shape (N, {dim}), got {tuple(z_e.shape)}"
        )
    check_same_dtype("embed_sum", embed_sum, "z_e", z_e)
    indices = _check_indices(indices, num_codes)
    if indices.shape != z_e.shape[:1]:
        raise ValueError(
            f"indices must have shape ({z_e.shape[0]},), one per row of "
            f"z_e, got {tuple(indices.shape)}"
        )
    z_e = z_e.detach()
    counts = _usage(indices, num_codes).to(cluster_size.dtype)
    sums = torch.zeros_like(embed_sum).index_add_(0, indices, z_e)
    new_size = decay * cluster_size + (1.0 - decay) * counts
    new_sum = decay * embed_sum + (1.0 - decay) * sums
    n = new_size.sum()
    smoothed = (new_size + eps) / (n + num_codes * eps) * n
    return EMAState(new_size, new_sum, new_sum / smoothed.unsqueeze(1))


def _check_counts(cluster_size: object) -> torch.Tensor:
    """Finite and non-negative: the EMA of numbers of vectors per code."""
    check_finite("cluster_size", cluster_size)
    if scans_values() and cluster_size.numel() and cluster_size.min() < 0:
        raise ValueError(
            "cluster_size must be non-negative, an average number of "
            f"vectors per code; found {cluster_size.min().item():.4g}"
        )
    return cluster_size


def _check_codebook_like(name: str, value: object) -> torch.Tensor:
    check_finite(name, value)
    if value.dim() != 2 or value.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (K, d) with K >= 1, got "
            f"{tuple(value.shape)}"
        )
    return value


# --- the vector quantiser ----------------------------------------------------


class VQOutput(NamedTuple):
    """What :class:`VectorQuantizer` returns.

    ``z_q`` (straight-through, the shape of ``z_e``), ``indices``
    (``(batch, ...)``), ``codebook_loss`` and ``commitment_loss`` (shape
    ``(batch,)``, summed over positions and dimensions; the codebook term
    is zeros in EMA mode), ``perplexity`` (of this batch) and
    ``codes_used`` (in this batch).
    """

    z_q: torch.Tensor
    indices: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor
    perplexity: float
    codes_used: int


class VectorQuantizer(nn.Module):
    r"""A codebook of :math:`K` vectors of dimension :math:`d`.

    ``forward(z_e)`` takes encoder outputs channels first,
    ``(batch, d, ...)`` (a ``(batch, d, H, W)`` grid, or ``(batch, d)``),
    finds each vector's nearest code (:func:`nearest_codes`), and returns
    the straight-through :math:`z_q` (:func:`straight_through`) with the
    codebook and commitment terms computed from the codes *before* the
    substitution, and the batch's perplexity and codes used.

    Two ways to learn the codebook:

    - ``ema=False``: the codebook is a parameter, moved by the gradient of
      :func:`codebook_loss`;
    - ``ema=True``: the codebook is a buffer, updated in each training
      forward pass by :func:`ema_codebook_update` (decay
      :math:`\rho`, Laplace smoothing :math:`\eta`); the codebook
      term is dropped (returned as zeros). The update uses the indices
      chosen with the codebook before it, like Sonnet and
      ``vector-quantize-pytorch``.

    In training mode (``model.train()``) each forward pass also updates the
    usage EMA ``cluster_size`` :math:`N_j` (in both modes), which
    :meth:`reseed_dead_codes` reads. It starts at :math:`N_j = 1` and
    ``embed_sum`` at :math:`m_j = e_j`, a plain EMA without bias
    correction (unlike Sonnet's, which starts at zero and bias-corrects).
    In evaluation mode nothing is updated.

    The codebook starts uniform in :math:`[-1/K, 1/K]` (drawn from
    PyTorch's global generator, like the weights of any layer).

    Parameters
    ----------
    num_codes : int
        :math:`K \ge 1`.
    code_dim : int
        :math:`d \ge 1`.
    commitment_cost : float, default 0.25
        Commitment weight :math:`\kappa \ge 0`.
    ema : bool, default False
        Learn the codebook by EMA instead of its loss term.
    decay : float, default 0.99
        :math:`\rho \in (0, 1)`, of the EMA codebook and of the usage.
    eps : float, default 1e-5
        Laplace smoothing :math:`\eta > 0`.
    """

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        *,
        commitment_cost: float = DEFAULT_COMMITMENT_COST,
        ema: bool = False,
        decay: float = 0.99,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.num_codes = check_int("num_codes", num_codes, minimum=1)
        self.code_dim = check_int("code_dim", code_dim, minimum=1)
        self.commitment_cost = check_real(
            "commitment_cost", commitment_cost, minimum=0.0
        )
        self.ema = check_bool("ema", ema)
        self.decay = _check_decay(decay)
        self.eps = check_real("eps", eps, positive=True)
        init = torch.empty(self.num_codes, self.code_dim)
        init.uniform_(-1.0 / self.num_codes, 1.0 / self.num_codes)
        if ema:
            self.register_buffer("codebook", init)
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("cluster_size", torch.ones(self.num_codes))
        self.register_buffer("embed_sum", init.clone())

    def _flat(self, z_e: object) -> torch.Tensor:
        """Check ``z_e`` and return its vectors as rows, ``(N, d)``.

        The layout is told by the size of dimension 1, which must be
        :math:`d`: a channels-last ``(batch, H, W, d)`` is refused unless
        :math:`H = d`, and then nothing can tell the two layouts apart.
        """
        check_finite("z_e", z_e)
        d = self.code_dim
        if z_e.dim() < 2 or z_e.shape[1] != d:
            shape = tuple(z_e.shape)
            hint = (
                f"; its last dimension is {d}: for channels-last vectors "
                f"(batch, H, W, {d}) pass z_e.movedim(-1, 1)"
                if z_e.dim() >= 3 and z_e.shape[-1] == d
                else ""
            )
            raise ValueError(
                f"z_e must be channels first, shape (batch, {d}, H, W) or "
                f"(batch, {d}): the code dimension d = {d} second, as a "
                f"convolution gives it; got {shape}{hint}"
            )
        check_batched("z_e", z_e)
        check_same_dtype("codebook", self.codebook, "z_e", z_e)
        return z_e.movedim(1, -1).reshape(-1, d)

    def forward(self, z_e: torch.Tensor) -> VQOutput:
        """Quantise ``z_e`` of shape ``(batch, d, ...)``; see the class."""
        flat = self._flat(z_e)
        indices = nearest_codes(flat, self.codebook)
        grid_shape = (z_e.shape[0], *z_e.shape[2:])
        e = quantize(indices, self.codebook)  # (N, d), grad to codebook
        e = e.reshape(*grid_shape, self.code_dim).movedim(-1, 1)
        if self.ema:
            codebook_term = z_e.new_zeros(z_e.shape[0])
        else:
            codebook_term = codebook_loss(z_e, e)
        commitment_term = commitment_loss(z_e, e, self.commitment_cost)
        z_q = straight_through(z_e, e)  # after the loss terms, not before
        if self.training:
            self._update(flat, indices)
        return VQOutput(
            z_q,
            indices.reshape(grid_shape),
            codebook_term,
            commitment_term,
            perplexity(indices, self.num_codes).item(),
            codes_used(indices, self.num_codes),
        )

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        state = ema_codebook_update(
            self.cluster_size,
            self.embed_sum,
            flat,
            indices,
            self.decay,
            self.eps,
        )
        self.cluster_size.copy_(state.cluster_size)
        if self.ema:
            self.embed_sum.copy_(state.embed_sum)
            self.codebook.copy_(state.codebook)

    @torch.no_grad()
    def reseed_dead_codes(
        self,
        z_e: torch.Tensor,
        threshold: float,
        generator: torch.Generator | None = None,
    ) -> int:
        r"""Replace the codes whose usage EMA is below ``threshold``.

        A code :math:`j` is dead when :math:`N_j <` ``threshold``
        (``cluster_size``, the EMA of the number of batch vectors assigned
        to it). Each dead code becomes a vector of ``z_e`` drawn at random
        (without replacement when ``z_e`` has enough vectors), and starts
        again as a fresh code does: :math:`N_j = 1`, :math:`m_j = e_j`.

        Parameters
        ----------
        z_e : torch.Tensor
            Encoder outputs of a batch, ``(batch, d, ...)``.
        threshold : float
            Usage below which a code is dead, :math:`\ge 0` (0 re-seeds
            nothing).
        generator : torch.Generator, optional
            Draws the vectors; seed it for reproducible runs.

        Returns
        -------
        int
            The number of codes re-seeded.
        """
        flat = self._flat(z_e).detach()
        threshold = check_real("threshold", threshold, minimum=0.0)
        generator = check_generator(generator)
        dead = torch.nonzero(self.cluster_size < threshold).flatten()
        n_dead = dead.numel()
        if n_dead == 0:
            return 0
        n = flat.shape[0]
        # drawn where the generator is (the CPU by default), then moved
        where = "cpu" if generator is None else generator.device
        if n >= n_dead:
            pick = torch.randperm(n, generator=generator, device=where)
            pick = pick[:n_dead]
        else:
            pick = torch.randint(
                n, (n_dead,), generator=generator, device=where
            )
        chosen = flat[pick.to(flat.device)]
        self.codebook[dead] = chosen
        self.embed_sum[dead] = chosen
        self.cluster_size[dead] = 1.0
        return n_dead


# --- the VQ-VAE --------------------------------------------------------------


class ResidualBlock(nn.Module):
    r"""A residual block of the VQ-VAE: :math:`x + W_2\,
    \mathrm{ReLU}(W_1\, \mathrm{ReLU}(x))`.

    :math:`W_1` a 3 x 3 convolution to ``hidden`` channels, :math:`W_2` a
    1 x 1 convolution back to ``channels``: the block of van den Oord et
    al. (2017). A stack of blocks must hold *distinct* blocks
    (``[ResidualBlock(c, h) for _ in range(n)]``): ``[ResidualBlock(c, h)]
    * n`` repeats one block and shares its weights.

    Parameters
    ----------
    channels : int
        Input and output channels.
    hidden : int
        Channels inside the block.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.channels = check_int("channels", channels, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1)
        self.conv1 = nn.Conv2d(self.channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, self.channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`x` plus the block's residual, same shape."""
        c = self.channels
        check_shape("x", x, (None, c, None, None), f"(batch, {c}, H, W)")
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class VQVAELoss(NamedTuple):
    """Batch means of a VQ-VAE's loss terms, in nats per example.

    ``loss = reconstruction + codebook + commitment``, each summed over
    pixels (or grid positions and code dimensions) and averaged over the
    batch; ``perplexity`` and ``codes_used`` of the batch; ``indices`` of
    shape ``(batch, 7, 7)``; ``z_e``, the encoder outputs ``(batch, d, 7,
    7)``, detached (for :meth:`VectorQuantizer.reseed_dead_codes`).
    """

    loss: torch.Tensor
    reconstruction: torch.Tensor
    codebook: torch.Tensor
    commitment: torch.Tensor
    perplexity: float
    codes_used: int
    indices: torch.Tensor
    z_e: torch.Tensor


class VQVAE(nn.Module):
    r"""A small convolutional VQ-VAE for 28 x 28 binary digits.

    Encoder: a 4 x 4 convolution of stride 2 to ``hidden // 2`` channels
    (14 x 14), ReLU, another to ``hidden`` (7 x 7), ReLU, a 3 x 3
    convolution, ``n_blocks`` :class:`ResidualBlock`, ReLU, and a 1 x 1
    convolution to ``code_dim``: :math:`z_e` of shape ``(batch, d, 7,
    7)``. A :class:`VectorQuantizer` gives :math:`z_q`. Decoder: a 3 x 3
    convolution to ``hidden``, ``n_blocks`` residual blocks (distinct from
    the encoder's), ReLU, and two transposed 4 x 4 convolutions of stride
    2 (``hidden // 2`` then 1 channel, ReLU between): the logits of a
    Bernoulli :math:`p(x \mid z_q)`, flattened to ``(batch, 784)``. The
    layout of Sonnet's VQ-VAE example, scaled down.

    Inputs: images in [0, 1] as ``(batch, 784)``, ``(batch, 28, 28)`` or
    ``(batch, 1, 28, 28)``, of the weights' dtype.

    Parameters
    ----------
    num_codes : int, default 64
        :math:`K`.
    code_dim : int, default 16
        :math:`d`.
    hidden : int, default 32
        Channels of the 7 x 7 layers (even, >= 2).
    n_blocks : int, default 2
        Residual blocks in the encoder and in the decoder.
    commitment_cost : float, default 0.25
        Commitment weight.
    ema : bool, default True
        EMA codebook (True) or codebook loss (False).
    decay : float, default 0.99
        EMA decay.
    """

    grid_size = 7
    image_size = 28
    input_dim = 784

    def __init__(
        self,
        num_codes: int = 64,
        code_dim: int = 16,
        *,
        hidden: int = 32,
        n_blocks: int = 2,
        commitment_cost: float = DEFAULT_COMMITMENT_COST,
        ema: bool = True,
        decay: float = 0.99,
    ) -> None:
        super().__init__()
        hidden = check_int("hidden", hidden, minimum=2)
        if hidden % 2:
            raise ValueError(f"hidden must be even, got {hidden}")
        n_blocks = check_int("n_blocks", n_blocks, minimum=0)
        self.quantizer = VectorQuantizer(
            num_codes,
            code_dim,
            commitment_cost=commitment_cost,
            ema=ema,
            decay=decay,
        )
        # the checked values (an int, whatever integer type was given)
        self.num_codes = num_codes = self.quantizer.num_codes
        self.code_dim = code_dim = self.quantizer.code_dim
        half = hidden // 2
        self.encoder = nn.Sequential(
            nn.Conv2d(1, half, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(half, hidden, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            # one new block per iteration: never [ResidualBlock(...)] * n
            *[ResidualBlock(hidden, half) for _ in range(n_blocks)],
            nn.ReLU(),
            nn.Conv2d(hidden, code_dim, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(code_dim, hidden, 3, padding=1),
            *[ResidualBlock(hidden, half) for _ in range(n_blocks)],
            nn.ReLU(),
            nn.ConvTranspose2d(hidden, half, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(half, 1, 4, 2, 1),
            nn.Flatten(),
        )

    def _images(self, x: object, name: str = "x") -> torch.Tensor:
        """Check images (named ``name`` in messages), ``(batch, 1, 28, 28)``.

        Finite: an infinite pixel would reach the quantiser as a NaN.
        """
        check_finite(name, x)
        accepted = [(1, 28, 28), (28, 28), (784,)]
        if x.dim() < 2 or tuple(x.shape[1:]) not in accepted:
            raise ValueError(
                f"{name} must hold 28x28 images: shape (batch, 1, 28, 28), "
                f"(batch, 28, 28) or (batch, 784), got {tuple(x.shape)}"
            )
        check_batched(name, x)
        dtype = self.quantizer.codebook.dtype
        if x.dtype != dtype:
            raise TypeError(
                f"{name} has dtype {x.dtype} but the model's weights have "
                f"dtype {dtype}: convert the data with {name}.to({dtype})"
            )
        return x.reshape(x.shape[0], 1, 28, 28)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`z_e(x)`, shape ``(batch, d, 7, 7)``."""
        return self.encoder(self._images(x))

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of :math:`p(x \\mid z_q)`, ``(batch, 784)``."""
        check_finite("z_q", z_q)
        shape = (self.code_dim, 7, 7)
        if z_q.dim() != 4 or tuple(z_q.shape[1:]) != shape:
            raise ValueError(
                f"z_q must have shape (batch, {self.code_dim}, 7, 7), got "
                f"{tuple(z_q.shape)}"
            )
        check_same_dtype("codebook", self.quantizer.codebook, "z_q", z_q)
        return self.decoder(z_q)

    def decode_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, 784)`` for a grid of codes ``(batch, 7, 7)``."""
        _check_grid(indices, self.num_codes)
        e = quantize(indices, self.quantizer.codebook)
        return self.decode(e.movedim(-1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, VQOutput]:
        """Logits ``(batch, 784)`` and the quantiser's :class:`VQOutput`."""
        vq = self.quantizer(self.encode(x))
        return self.decode(vq.z_q), vq

    def loss(self, x: torch.Tensor) -> VQVAELoss:
        r"""The VQ-VAE loss of a batch, in nats per example.

        .. math::

            L = \frac1B \sum_{b=1}^{B} \Big[-\log p(x_b \mid z_q(x_b))
            + \|\mathrm{sg}[z_e] - e\|^2 + \kappa\|z_e - \mathrm{sg}[e]\|^2
            \Big],

        the reconstruction term summed over the 784 pixels (binary
        cross-entropy with logits), the codebook and commitment terms
        summed over the 49 positions and :math:`d` dimensions; the
        codebook term is 0 with the EMA codebook. In training mode the
        forward pass updates the usage (and the EMA codebook).

        ``x`` must be finite and in [0, 1], the support of the Bernoulli
        likelihood; it is checked before the forward pass, so that a bad
        batch updates nothing.
        """
        images = self._images(x)
        check_in_unit_interval("x", images)
        z_e = self.encode(images)
        vq = self.quantizer(z_e)
        logits = self.decode(vq.z_q)
        target = images.reshape(images.shape[0], -1)
        reconstruction = bernoulli_nll_with_logits(target, logits).mean()
        codebook = vq.codebook_loss.mean()
        commitment = vq.commitment_loss.mean()
        return VQVAELoss(
            reconstruction + codebook + commitment,
            reconstruction,
            codebook,
            commitment,
            vq.perplexity,
            vq.codes_used,
            vq.indices,
            z_e.detach(),
        )

    @torch.no_grad()
    def encode_codes(
        self, x: torch.Tensor, batch_size: int = 500
    ) -> torch.Tensor:
        """The code grid of each image, ``int64`` ``(batch, 7, 7)``.

        Computed without gradients and without updating the codebook or
        the usage (whatever the mode), ``batch_size`` images at a time.
        """
        batch_size = check_int("batch_size", batch_size, minimum=1)
        images = self._images(x)
        grids = []
        for chunk in images.split(batch_size):
            z_e = self.encoder(chunk)
            flat = z_e.movedim(1, -1).reshape(-1, self.code_dim)
            codes = nearest_codes(flat, self.quantizer.codebook)
            grids.append(codes.reshape(chunk.shape[0], 7, 7))
        return torch.cat(grids)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Bernoulli means (probabilities) of the reconstructions, flat."""
        return torch.sigmoid(self.decode_codes(self.encode_codes(x)))


def _check_grid(
    indices: object, num_codes: int, grid_size: int = 7, name: str = "indices"
) -> torch.Tensor:
    _check_indices(indices, num_codes, name)
    if indices.dim() != 3 or indices.shape[1:] != (grid_size, grid_size):
        raise ValueError(
            f"{name} must have shape (batch, {grid_size}, {grid_size}), "
            f"got {tuple(indices.shape)}"
        )
    return indices


# --- the prior: a PixelCNN over the code grid --------------------------------


class MaskedConv2d(nn.Conv2d):
    r"""A convolution that sees only earlier positions in raster order.

    The kernel (odd size :math:`k`, padding :math:`k // 2`, stride 1) is
    multiplied by a mask that keeps the rows above the centre and, in the
    centre row, the columns left of the centre: type ``"A"`` also drops
    the centre itself (the first layer: an output must not see its own
    input), type ``"B"`` keeps it (later layers: the centre then holds
    only earlier positions already). Van den Oord et al. (2016), PixelCNN.

    The mask is part of the architecture, not a weight: it is built here
    from ``mask_type``, and although it is kept in the state dict (as the
    buffer ``mask``, so that saved files keep their keys), loading a state
    dict never changes it. A state dict whose mask differs from the one
    built here is refused (``load_state_dict`` raises ``RuntimeError``,
    PyTorch's error for a state dict that does not fit).

    Parameters
    ----------
    in_channels, out_channels : int
        :math:`\ge 1`.
    kernel_size : int
        Odd, :math:`\ge 1` (type A needs :math:`\ge 3`).
    mask_type : {"A", "B"}
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        mask_type: str,
    ) -> None:
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = check_int("out_channels", out_channels, minimum=1)
        kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if not isinstance(mask_type, str):
            raise TypeError(
                f"mask_type must be 'A' or 'B', got "
                f"{type(mask_type).__name__} {mask_type!r}"
            )
        if mask_type not in ("A", "B"):
            raise ValueError(
                f"mask_type must be 'A' or 'B', got {mask_type!r}"
            )
        if mask_type == "A" and kernel_size < 3:
            raise ValueError("a type A mask needs kernel_size >= 3")
        super().__init__(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2
        )
        self.mask_type = mask_type
        self.register_buffer("mask", _causal_mask(kernel_size, mask_type))

    def _load_from_state_dict(
        self,
        state_dict: dict,
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list,
        unexpected_keys: list,
        error_msgs: list,
    ) -> None:
        # The mask is built in code: a file could otherwise turn a type-B
        # layer into type A, or open a view of the future, unnoticed. The
        # state dict here is load_state_dict's copy, so replacing its mask
        # leaves the caller's untouched.
        key = prefix + "mask"
        built = _causal_mask(self.kernel_size[0], self.mask_type).to(self.mask)
        given = state_dict.get(key)
        if isinstance(given, torch.Tensor) and given.shape == built.shape:
            if not torch.equal(given.to(built), built):
                error_msgs.append(
                    f"{key} is not the type-{self.mask_type} mask that "
                    f"the model builds: a mask is part of the "
                    f"architecture, not read from a file"
                )
            state_dict[key] = built
        super()._load_from_state_dict(
            state_dict,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution with the masked kernel."""
        c = self.in_channels
        check_shape("x", x, (None, c, None, None), f"(batch, {c}, H, W)")
        weight = self.weight * self.mask
        return F.conv2d(x, weight, self.bias, padding=self.padding)


def _causal_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    r"""The mask of a :class:`MaskedConv2d`, ``(kernel_size, kernel_size)``.

    With centre :math:`c = \lfloor k / 2 \rfloor`,
    :math:`M_{ij} = [i < c] + [i = c]\,[j < c]` (type A) or
    :math:`[i < c] + [i = c]\,[j \le c]` (type B): the rows above the
    centre, and the centre row left of the centre (A) or up to it (B).
    """
    centre = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:centre] = 1.0
    mask[centre, : centre + (mask_type == "B")] = 1.0
    return mask


class PixelCNNPrior(nn.Module):
    r"""An autoregressive prior :math:`p(c) = \prod_i p(c_i \mid c_{<i})`
    over a grid of codes, in raster order (row by row, left to right).

    Each code is embedded (:math:`K \to` ``embed_dim``); a type-A
    :class:`MaskedConv2d` of kernel :math:`2G - 1` on the :math:`G \times
    G` grid lets every position see all the earlier positions in one
    layer (so there is no blind spot, the usual defect of stacked 3 x 3
    masked layers); ``n_blocks`` residual blocks of a type-B 3 x 3 masked
    convolution and a 1 x 1 convolution follow, then two 1 x 1
    convolutions to :math:`K` logits per position.

    Parameters
    ----------
    num_codes : int
        :math:`K`.
    grid_size : int, default 7
        :math:`G`.
    channels : int, default 64
    embed_dim : int, default 16
    n_blocks : int, default 3
    """

    def __init__(
        self,
        num_codes: int,
        grid_size: int = 7,
        *,
        channels: int = 64,
        embed_dim: int = 16,
        n_blocks: int = 3,
    ) -> None:
        super().__init__()
        self.num_codes = check_int("num_codes", num_codes, minimum=1)
        self.grid_size = check_int("grid_size", grid_size, minimum=2)
        channels = check_int("channels", channels, minimum=1)
        embed_dim = check_int("embed_dim", embed_dim, minimum=1)
        n_blocks = check_int("n_blocks", n_blocks, minimum=0)
        self.embedding = nn.Embedding(self.num_codes, embed_dim)
        self.input_conv = MaskedConv2d(
            embed_dim, channels, 2 * self.grid_size - 1, "A"
        )
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    "masked": MaskedConv2d(channels, channels, 3, "B"),
                    "mix": nn.Conv2d(channels, channels, 1),
                }
            )
            for _ in range(n_blocks)
        )
        self.hidden_conv = nn.Conv2d(channels, channels, 1)
        self.output_conv = nn.Conv2d(channels, self.num_codes, 1)

    def logits_from_embedded(self, h: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, K, G, G)`` from embedded codes
        ``(batch, embed_dim, G, G)``; the output at a position depends on
        the inputs at earlier positions only."""
        g, e = self.grid_size, self.embedding.embedding_dim
        check_finite("h", h)
        check_shape("h", h, (None, e, g, g), f"(batch, {e}, {g}, {g})")
        h = self.input_conv(h)
        for block in self.blocks:
            h = h + block["mix"](F.relu(block["masked"](F.relu(h))))
        return self.output_conv(F.relu(self.hidden_conv(F.relu(h))))

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, K, G, G)`` of each code given the earlier ones."""
        _check_grid(indices, self.num_codes, self.grid_size)
        h = self.embedding(indices).permute(0, 3, 1, 2)
        return self.logits_from_embedded(h)

    def nll(self, indices: torch.Tensor) -> torch.Tensor:
        r""":math:`-\log p(c) = -\sum_i \log p(c_i \mid c_{<i})`, in nats.

        Summed over the :math:`G^2` positions, one number per grid: shape
        ``(batch,)``.
        """
        logits = self(indices)
        per_position = F.cross_entropy(logits, indices, reduction="none")
        return per_position.flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        r"""Draw ``n`` code grids ``(n, G, G)``, one position at a time.

        In raster order, each code is drawn from the softmax of its logits
        given the codes drawn before it (:func:`torch.multinomial` with
        ``generator``): :math:`G^2` forward passes,

        .. math::

            c_{r,s} \sim \operatorname{softmax}\big(
            \ell_{\cdot, r, s}(c_{<(r, s)})\big),
            \quad r, s = 0, \dots, G - 1,

        the logits :math:`\ell` of row :math:`r` and column :math:`s`.
        ``generator`` must be on the prior's device.
        """
        n = check_int("n", n, minimum=1)
        generator = check_generator(generator)
        g = self.grid_size
        device = self.output_conv.weight.device
        if generator is not None and generator.device.type != device.type:
            raise ValueError(
                f"generator is on {generator.device} but the prior is on "
                f"{device}: pass torch.Generator(device={str(device)!r})"
            )
        grid = torch.zeros(n, g, g, dtype=torch.int64, device=device)
        for row in range(g):
            for col in range(g):
                probs = torch.softmax(self(grid)[:, :, row, col], dim=1)
                drawn = torch.multinomial(probs, 1, generator=generator)
                grid[:, row, col] = drawn[:, 0]
        return grid


# --- likelihood --------------------------------------------------------------


@torch.no_grad()
def negative_elbo(
    model: VQVAE,
    images: torch.Tensor,
    prior: PixelCNNPrior | None = None,
    batch_size: int = 500,
) -> torch.Tensor:
    r"""The negative ELBO of each image, in nats, as the VQ-VAE paper has it.

    The posterior :math:`q(z \mid x)` is deterministic, one-hot on the
    code grid :math:`c(x)` of the encoder, so

    .. math::

        \mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big)
        = \sum_z q(z \mid x) \log \frac{q(z \mid x)}{p(z)}
        = -\log p\big(c(x)\big),

    and

    .. math::

        -\mathrm{ELBO}(x) = -\log p\big(x \mid z_q(x)\big)
        - \log p\big(c(x)\big) \;\ge\; -\log p(x).

    With a uniform prior (``prior=None``), :math:`-\log p(c) = 49 \log K`:
    the constant KL of :math:`\log K` per latent of the paper. With a
    :class:`PixelCNNPrior`, :math:`-\log p(c)` is its
    :meth:`PixelCNNPrior.nll`. The
    reconstruction term is the Bernoulli NLL summed over the 784 pixels.
    The model (and prior) are evaluated without updating anything.

    Parameters
    ----------
    model : VQVAE
    images : torch.Tensor
        Binary images ``(batch, 784)`` (or ``(batch, [1,] 28, 28)``).
    prior : PixelCNNPrior, optional
        Prior over the code grids; ``None`` for the uniform prior.
    batch_size : int, default 500

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, in nats, on the model's device (the images are
        moved there a batch at a time).
    """
    check_instance("model", model, VQVAE)
    if prior is not None:
        check_instance("prior", prior, PixelCNNPrior)
        if prior.num_codes != model.num_codes:
            raise ValueError(
                f"prior has {prior.num_codes} codes but the model has "
                f"{model.num_codes}"
            )
        if prior.grid_size != model.grid_size:
            g, m = prior.grid_size, model.grid_size
            raise ValueError(
                f"prior models {g} x {g} grids of codes but the model's "
                f"grids are {m} x {m}"
            )
    batch_size = check_int("batch_size", batch_size, minimum=1)
    x = model._images(images, "images")
    check_in_unit_interval("images", x)
    device = model.quantizer.codebook.device
    out = []
    for chunk in x.split(batch_size):
        chunk = chunk.to(device)
        codes = model.encode_codes(chunk)
        logits = model.decode_codes(codes)
        nll = bernoulli_nll_with_logits(chunk.flatten(1), logits)
        if prior is None:
            log_prior = -codes[0].numel() * math.log(model.num_codes)
            nll = nll - log_prior
        else:
            nll = nll + prior.nll(codes)
        out.append(nll)
    return torch.cat(out)


def bits_per_dim(
    model: VQVAE,
    images: torch.Tensor,
    prior: PixelCNNPrior | None = None,
) -> float:
    r"""The negative ELBO in bits per pixel, averaged over ``images``.

    .. math::

        \text{bits/dim} = \frac{1}{784 \ln 2}\, \frac1N \sum_{b=1}^N
        \Big[-\log p\big(x_b \mid z_q(x_b)\big) - \log p\big(k(x_b)\big)
        \Big],

    from :func:`negative_elbo` (reconstruction NLL plus the prior's NLL of
    the codes, which is the KL term of a one-hot posterior; :math:`49 \log
    K` for the uniform prior). An upper bound on :math:`-\log_2 p(x)` per
    pixel, the kind of quantity the VQ-VAE paper reports for its images.
    """
    nats = negative_elbo(model, images, prior)
    return nats.mean().item() / (VQVAE.input_dim * math.log(2.0))


# --- training ----------------------------------------------------------------

#: The record of :func:`train_vq_vae`: a :class:`vaecourse.loop.History`
#: with one entry per epoch in the series ``loss``, ``reconstruction``,
#: ``codebook``, ``commitment``, ``perplexity``, ``epoch_perplexity``,
#: ``codes_used``, ``reseeded`` and ``test_reconstruction``.
VQHistory = History

#: The record of :func:`train_prior`: a :class:`vaecourse.loop.History`
#: with one entry per epoch in the series ``train_nll`` and ``test_nll``.
PriorHistory = History


def _check_training(epochs, batch_size, lr, seed, device) -> tuple:
    return (
        check_int("epochs", epochs, minimum=1),
        check_int("batch_size", batch_size, minimum=1),
        check_real("lr", lr, positive=True),
        check_int("seed", seed, minimum=0),
        check_device(device),
    )


def _vq_history() -> History:
    names = (
        "loss",
        "reconstruction",
        "codebook",
        "commitment",
        "perplexity",
        "epoch_perplexity",
        "codes_used",
        "reseeded",
        "test_reconstruction",
    )
    return History(**{name: [] for name in names})


def _usage_perplexity(usage: torch.Tensor) -> float:
    r"""The perplexity of code counts, :math:`\exp(-\sum_j p_j \log p_j)`."""
    p = usage.double() / usage.sum()
    return torch.exp(-torch.xlogy(p, p).sum()).item()


@torch.no_grad()
def _test_reconstruction(model: VQVAE, images: torch.Tensor) -> float:
    """Mean reconstruction NLL of checked images, nats per image."""
    with values_checked():  # the images were checked before epoch 1
        logits = model.decode_codes(model.encode_codes(images))
        nll = bernoulli_nll_with_logits(images.flatten(1), logits)
    return nll.mean().item()


def train_vq_vae(
    model: VQVAE,
    images: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    dead_code_threshold: float | None = None,
    test_images: torch.Tensor | None = None,
    device: str | torch.device = "cpu",
) -> History:
    r"""Train a :class:`VQVAE` with Adam on :meth:`VQVAE.loss`.

    Each step minimises the batch mean of the loss,

    .. math::

        L = \frac1B \sum_{b=1}^{B} \Big[-\log p(x_b \mid z_q(x_b))
        + \|\mathrm{sg}[z_e] - e\|^2 + \kappa\|z_e - \mathrm{sg}[e]\|^2
        \Big],

    in :func:`vaecourse.loop.train_loop`, called once per epoch: every
    term is tested for finiteness before ``backward``, every gradient
    before ``optimizer.step()``. Each epoch visits the images in the order
    ``torch.randperm(N, generator=shuffle)`` with ``shuffle =
    torch.Generator().manual_seed(seed)`` (on the CPU, whatever
    ``device``), in batches of ``batch_size``
    (:func:`vaecourse.loop.epoch_batches`). With ``dead_code_threshold``,
    after each step the codes whose usage EMA is below it are re-seeded
    from the batch's encoder outputs
    (:meth:`VectorQuantizer.reseed_dead_codes`, with a CPU generator
    seeded with ``seed + 1``). The global random state is not touched;
    the initial weights are the model's. The model is left in evaluation
    mode.

    Parameters
    ----------
    model : VQVAE
        Trained in place, moved to ``device``.
    images : torch.Tensor
        Training images in [0, 1], ``(N, 784)`` (or ``(N, [1,] 28, 28)``),
        of the model's dtype. Checked once, before the first step.
    epochs, batch_size : int
        :math:`\ge 1`.
    lr : float, default 1e-3
        Adam's learning rate, :math:`> 0`.
    seed : int, default 0
        :math:`\ge 0`.
    dead_code_threshold : float, optional
        Usage EMA (vectors per batch) below which a code is dead; ``None``
        (the default) re-seeds nothing. 1.0 re-seeds a fresh code that
        was not chosen in its first step (:math:`N_j` falls from 1 to
        :math:`\rho`), and a code whose EMA usage falls below one vector
        per batch.
    test_images : torch.Tensor, optional
        Evaluated after each epoch (reconstruction NLL, nats per image).
    device : str or torch.device, default "cpu"
        Where to train: the model, each batch and the test images are
        moved there. Results are bit-for-bit reproducible on the CPU.

    Returns
    -------
    vaecourse.loop.History
        One entry per epoch (:data:`VQHistory`). ``loss``,
        ``reconstruction``, ``codebook`` and ``commitment``, in nats per
        image, and ``perplexity``, the batch perplexity, are **means over
        the epoch's examples** (a batch weighs its size, :math:`\bar L =
        \sum_s B_s L_s / \sum_s B_s` over the steps :math:`s`), taken while
        the model changes; ``epoch_perplexity`` is that of the usage over
        the whole epoch; ``codes_used`` the number of distinct codes
        chosen during the epoch; ``reseeded`` the number of dead codes
        re-seeded; ``test_reconstruction`` the reconstruction NLL of
        ``test_images`` after the epoch, in evaluation mode (empty without
        them).

    Raises
    ------
    vaecourse.loop.TrainingDiverged
        If a term or a gradient is not finite; the message names the
        epoch, the batch (both from 1) and what is not finite.
    """
    check_instance("model", model, VQVAE)
    epochs, batch_size, lr, seed, device = _check_training(
        epochs, batch_size, lr, seed, device
    )
    images = model._images(images, "images")
    check_in_unit_interval("images", images)
    if test_images is not None:
        test_images = model._images(test_images, "test_images")
        check_in_unit_interval("test_images", test_images)
    if dead_code_threshold is not None:
        dead_code_threshold = check_real(
            "dead_code_threshold", dead_code_threshold, minimum=0.0
        )
    model.to(device)
    if test_images is not None:
        test_images = test_images.to(device)
    # Both on the CPU, as before devices: the same draws on every device.
    shuffle = torch.Generator().manual_seed(seed)
    reseed = torch.Generator().manual_seed(seed + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = _vq_history()
    k = model.num_codes
    step_output: VQVAELoss | None = None  # the last step's, for after_step
    usage = torch.zeros(k, dtype=torch.int64, device=device)
    reseeded = 0

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        nonlocal step_output
        with values_checked():  # the images were checked before epoch 1
            step_output = model.loss(x)
        out = step_output
        return {
            "loss": out.loss,
            "reconstruction": out.reconstruction,
            "codebook": out.codebook,
            "commitment": out.commitment,
            # float64, as the perplexity is computed
            "perplexity": torch.tensor(
                out.perplexity, dtype=torch.float64, device=out.loss.device
            ),
        }

    def explain(x: torch.Tensor, terms: dict) -> tuple[str, str]:
        # The step again with every check on, in evaluation mode so that
        # nothing is updated: the checks name what is not finite.
        model.eval()
        try:
            with torch.no_grad():
                model.loss(x)
        except ValueError as error:
            return "loss", f"the loss is {terms['loss'].item()}: {error}"
        finally:
            model.train()
        name = next(n for n, v in terms.items() if not torch.isfinite(v))
        return name, f"the {name} term is {terms[name].item()}"

    def after_step(x: torch.Tensor, terms: dict) -> None:
        nonlocal reseeded
        usage.add_(_usage(step_output.indices, k))
        if dead_code_threshold is not None:
            reseeded += model.quantizer.reseed_dead_codes(
                step_output.z_e, dead_code_threshold, reseed
            )

    def log(step: int, means: dict[str, float]) -> None:
        for name, value in means.items():
            history.series[name].append(value)

    step = 0
    for epoch in range(1, epochs + 1):
        usage.zero_()
        reseeded = 0
        batches = epoch_data(images, batch_size, shuffle, device)
        step = train_loop(
            model,
            objective,
            batches,
            optimizer,
            log=log,
            after_step=after_step,
            explain=explain,
            epoch=epoch,
            first_step=step + 1,
        )
        counts = usage.cpu()
        history.epoch_perplexity.append(_usage_perplexity(counts))
        history.codes_used.append(int((counts > 0).sum()))
        history.reseeded.append(reseeded)
        if test_images is not None:
            history.test_reconstruction.append(
                _test_reconstruction(model, test_images)
            )
    return history


def train_prior(
    prior: PixelCNNPrior,
    codes: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    test_codes: torch.Tensor | None = None,
    device: str | torch.device = "cpu",
) -> History:
    r"""Train a :class:`PixelCNNPrior` with Adam on :meth:`PixelCNNPrior.nll`.

    Each step minimises the mean NLL of a batch of grids,

    .. math::

        L = -\frac1B \sum_{b=1}^{B} \sum_{i=1}^{G^2}
        \log p\big(c_{b,i} \mid c_{b,<i}\big),

    in :func:`vaecourse.loop.train_loop`, called once per epoch (terms and
    gradients tested for finiteness before they are used). Batches as in
    :func:`train_vq_vae`: ``torch.randperm`` with a CPU generator seeded
    with ``seed``. The prior is left in evaluation mode.

    Parameters
    ----------
    prior : PixelCNNPrior
        Trained in place, moved to ``device``.
    codes : torch.Tensor
        Code grids ``(N, G, G)``, ``int64`` in :math:`[0, K)`, e.g. from
        :meth:`VQVAE.encode_codes`. Checked once, before the first step.
    epochs, batch_size : int
        :math:`\ge 1`.
    lr : float, default 1e-3
        :math:`> 0`.
    seed : int, default 0
        :math:`\ge 0`.
    test_codes : torch.Tensor, optional
        Evaluated after each epoch.
    device : str or torch.device, default "cpu"
        Where to train: the prior, each batch and the test codes are moved
        there. Results are bit-for-bit reproducible on the CPU.

    Returns
    -------
    vaecourse.loop.History
        One entry per epoch (:data:`PriorHistory`), in nats per grid:
        ``train_nll``, the **mean over the epoch's grids** (a batch weighs
        its size), taken while the prior changes; ``test_nll``, the mean
        over ``test_codes`` after the epoch (empty without them).

    Raises
    ------
    vaecourse.loop.TrainingDiverged
        If the NLL or a gradient is not finite; the message names the
        epoch and the batch (both from 1).
    """
    check_instance("prior", prior, PixelCNNPrior)
    epochs, batch_size, lr, seed, device = _check_training(
        epochs, batch_size, lr, seed, device
    )
    g = prior.grid_size
    _check_grid(codes, prior.num_codes, g, "codes")
    if test_codes is not None:
        _check_grid(test_codes, prior.num_codes, g, "test_codes")
        test_codes = test_codes.to(device)
    prior.to(device)
    shuffle = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(prior.parameters(), lr=lr)
    history = History(train_nll=[], test_nll=[])

    def objective(batch: torch.Tensor) -> dict[str, torch.Tensor]:
        with values_checked():  # the codes were checked before epoch 1
            return {"nll": prior.nll(batch).mean()}

    def log(step: int, means: dict[str, float]) -> None:
        history.train_nll.append(means["nll"])

    step = 0
    for epoch in range(1, epochs + 1):
        batches = epoch_data(codes, batch_size, shuffle, device)
        step = train_loop(
            prior,
            objective,
            batches,
            optimizer,
            minimise="nll",
            log=log,
            epoch=epoch,
            first_step=step + 1,
        )
        if test_codes is not None:
            with torch.no_grad(), values_checked():
                history.test_nll.append(prior.nll(test_codes).mean().item())
    return history
