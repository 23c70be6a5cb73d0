r"""Principal component analysis and the angles between subspaces.

Chapter "Dimensionality reduction" shows that a linear autoencoder trained
with the squared error learns the subspace of the top principal components
(Baldi and Hornik, 1989), though not the components themselves. To see it, we
need three things, all here:

- :func:`pca_basis`: the top-:math:`m` principal directions of the data;
- :func:`pca_reconstruction_error`: the smallest squared error any
  :math:`m`-dimensional linear code can reach (what the autoencoder's loss
  tends to);
- :func:`principal_angles`: how far apart two subspaces are, for example the
  column space of the decoder's weight matrix and the PCA subspace. Zero
  angles mean the same subspace, whatever basis each one is written in.

Every function works in float64 and accepts ``torch.Tensor`` or
``numpy.ndarray`` input.
"""

from __future__ import annotations

import numpy as np
import torch

from vaecourse._validation import check_int

__all__ = [
    "pca_basis",
    "pca_reconstruction_error",
    "orthonormal_basis",
    "principal_angles",
]


def _as_matrix(name: str, value: object) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor or numpy.ndarray, "
            f"got {type(value).__name__}"
        )
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be floating-point, got dtype {value.dtype}"
        )
    if value.dim() != 2:
        raise ValueError(
            f"{name} must be a matrix (2-D), got shape {tuple(value.shape)}"
        )
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or inf")
    return value.detach().to(device="cpu", dtype=torch.float64)


def _check_m(m: object, limit: int) -> int:
    m = check_int("m", m)
    if not 1 <= m <= limit:
        raise ValueError(
            f"m must be between 1 and {limit} (the rank limit of X), got {m}"
        )
    return m


def _centred_svd(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    Xc = X - X.mean(0)
    _, singular_values, Vh = torch.linalg.svd(Xc, full_matrices=False)
    return singular_values, Vh


def pca_basis(X: torch.Tensor | np.ndarray, m: int) -> torch.Tensor:
    r"""The top-:math:`m` principal directions of the rows of ``X``.

    With :math:`\bar x` the mean row and the singular value decomposition of
    the centred data :math:`X - \mathbf 1 \bar x^\top = U S V^\top`
    (singular values in decreasing order), the principal directions are the
    first :math:`m` columns of :math:`V`: the eigenvectors of the sample
    covariance with the :math:`m` largest eigenvalues :math:`s_k^2 / N`.

    Each direction is defined up to its sign; the sign is fixed so that the
    entry of largest absolute value is positive, which makes the result
    reproducible.

    Parameters
    ----------
    X : torch.Tensor or numpy.ndarray
        Data, shape ``(N, n)``: one example per row.
    m : int
        Number of directions, :math:`1 \le m \le \min(N, n)`.

    Returns
    -------
    torch.Tensor
        Shape ``(n, m)``, float64, orthonormal columns, in decreasing order of
        explained variance.
    """
    X = _as_matrix("X", X)
    m = _check_m(m, min(X.shape))
    _, Vh = _centred_svd(X)
    basis = Vh[:m].T.clone()
    largest = basis.abs().argmax(0)
    signs = torch.sign(basis[largest, torch.arange(m)])
    return basis * signs


def pca_reconstruction_error(X: torch.Tensor | np.ndarray, m: int) -> float:
    r"""Least mean squared error of any rank-:math:`m` linear reconstruction.

    Projecting the centred data on its top-:math:`m` principal directions
    is the best linear encoder-decoder pair (Eckart and Young): no
    :math:`m`-dimensional affine subspace reconstructs the data with a smaller
    sum of squares. The error left is the sum of the discarded eigenvalues of
    the sample covariance,

    .. math::

        \frac1N \sum_{j=1}^{N} \|x_j - \hat x_j\|_2^2
        = \sum_{k > m} \lambda_k = \frac1N \sum_{k > m} s_k^2 ,

    in the course's convention: summed over the :math:`n` coordinates,
    averaged over the :math:`N` examples. A linear autoencoder trained
    with the squared error can at best reach it (chapter
    "Dimensionality reduction").

    Parameters
    ----------
    X : torch.Tensor or numpy.ndarray
        Data, shape ``(N, n)``.
    m : int
        Dimension of the code, :math:`1 \le m \le \min(N, n)`.

    Returns
    -------
    float
        The error, summed over coordinates and averaged over examples.
    """
    X = _as_matrix("X", X)
    m = _check_m(m, min(X.shape))
    singular_values, _ = _centred_svd(X)
    return float(singular_values[m:].pow(2).sum() / X.shape[0])


def orthonormal_basis(A: torch.Tensor | np.ndarray) -> torch.Tensor:
    r"""An orthonormal basis :math:`Q_A` of the column space of ``A``.

    From the thin SVD :math:`A = U S V^\top`, :math:`Q_A = U`: same column
    space, orthonormal columns. ``A`` must have linearly independent columns
    (for a decoder weight matrix: no two decoding directions are the same).

    Parameters
    ----------
    A : torch.Tensor or numpy.ndarray
        Shape ``(n, p)`` with :math:`p \le n` and rank :math:`p`.

    Returns
    -------
    torch.Tensor
        Shape ``(n, p)``, float64, :math:`Q_A^\top Q_A = I`.
    """
    A = _as_matrix("A", A)
    return _orthonormal("A", A)


def _orthonormal(name: str, A: torch.Tensor) -> torch.Tensor:
    n, p = A.shape
    if p == 0:
        raise ValueError(
            f"{name} must have at least one column, got shape {(n, p)}"
        )
    if p > n:
        raise ValueError(
            f"{name} must have at most as many columns as rows, "
            f"got shape {(n, p)}"
        )
    U, s, _ = torch.linalg.svd(A, full_matrices=False)
    tol = max(n, p) * torch.finfo(torch.float64).eps * s[0]
    rank = int((s > tol).sum())
    if rank < p:
        raise ValueError(
            f"{name} must have linearly independent columns, "
            f"got rank {rank} for {p} columns"
        )
    return U


def principal_angles(
    A: torch.Tensor | np.ndarray, B: torch.Tensor | np.ndarray
) -> torch.Tensor:
    r"""Principal angles between column spaces of ``A`` and ``B``, in radians.

    With orthonormal bases :math:`Q_A` and :math:`Q_B` of the two column
    spaces (:func:`orthonormal_basis`), the cosines of the principal angles
    are the singular values of :math:`Q_A^\top Q_B`:

    .. math::

        \begin{aligned}
        &Q_A^\top Q_B
        = Y \operatorname{diag}(\cos\theta_1, \dots, \cos\theta_k) Z^\top,
        \\
        &0 \le \theta_1 \le \dots \le \theta_k \le \frac{\pi}{2},
        \qquad k = \min(p, q).
        \end{aligned}

    All angles are 0 when the two subspaces are the same (whatever bases
    ``A`` and ``B`` use), and :math:`\pi/2` when they are orthogonal. The
    largest angle measures how far apart two subspaces of equal dimension
    are. Cosines are clipped to [0, 1] before the arccosine, which is
    accurate to about :math:`10^{-8}` radians for angles near 0.

    Parameters
    ----------
    A, B : torch.Tensor or numpy.ndarray
        Shapes ``(n, p)`` and ``(n, q)``, each with linearly independent
        columns.

    Returns
    -------
    torch.Tensor
        Shape ``(min(p, q),)``, float64, in increasing order.
    """
    A = _as_matrix("A", A)
    B = _as_matrix("B", B)
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            "A and B must have the same number of rows "
            "(the ambient dimension), "
            f"got shapes {tuple(A.shape)} and {tuple(B.shape)}"
        )
    cosines = torch.linalg.svdvals(
        _orthonormal("A", A).T @ _orthonormal("B", B)
    )
    return torch.arccos(cosines.clamp(0.0, 1.0)).sort().values
