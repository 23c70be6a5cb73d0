"""PCA and principal angles, against scikit-learn, SciPy and known geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from bad_inputs import raises, table
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from vaecourse.pca import (
    orthonormal_basis,
    pca_basis,
    pca_reconstruction_error,
    principal_angles,
)


def correlated_data(
    n_rows: int = 300, n_cols: int = 6, seed: int = 0
) -> np.ndarray:
    """Data with well separated variances: unique principal directions."""
    rng = np.random.default_rng(seed)
    scales = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.2])[:n_cols]
    rotation, _ = np.linalg.qr(rng.standard_normal((n_cols, n_cols)))
    return (rng.standard_normal((n_rows, n_cols)) * scales) @ rotation.T + 3.0


def rotation_in_plane(n: int, i: int, j: int, angle: float) -> torch.Tensor:
    R = torch.eye(n, dtype=torch.float64)
    c, s = math.cos(angle), math.sin(angle)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


# --- pca_basis ---------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 3, 6])
def test_pca_basis_matches_scikit_learn_up_to_sign(m):
    X = correlated_data()
    basis = pca_basis(X, m)
    reference = PCA(n_components=m).fit(X).components_.T
    assert basis.shape == (6, m) and basis.dtype == torch.float64
    dots = (basis * torch.from_numpy(reference)).sum(0)
    assert torch.allclose(
        dots.abs(), torch.ones(m, dtype=torch.float64), atol=1e-10
    )


def test_pca_basis_is_orthonormal_and_sign_fixed():
    basis = pca_basis(torch.from_numpy(correlated_data(seed=1)), 4)
    assert torch.allclose(
        basis.T @ basis, torch.eye(4, dtype=torch.float64), atol=1e-12
    )
    largest = basis.abs().argmax(0)
    assert (basis[largest, torch.arange(4)] > 0).all()
    # Flipping the data's sign flips the directions, not the fixed signs.
    assert torch.allclose(
        pca_basis(-torch.from_numpy(correlated_data(seed=1)), 4), basis
    )


def test_pca_basis_of_axis_aligned_data_is_the_axes():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2000, 3)) * np.array([0.1, 4.0, 1.0])
    basis = pca_basis(X, 2)
    assert torch.allclose(
        basis.abs(),
        torch.tensor(
            [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64
        ),
        atol=0.02,
    )


# --- pca_reconstruction_error ------------------------------------------------


@pytest.mark.parametrize("m", [1, 2, 5])
def test_reconstruction_error_is_the_error_of_sklearn_projection(m):
    X = correlated_data(seed=3)
    pca = PCA(n_components=m).fit(X)
    X_hat = pca.inverse_transform(pca.transform(X))
    expected = ((X - X_hat) ** 2).sum(1).mean()
    assert pca_reconstruction_error(X, m) == pytest.approx(expected, rel=1e-10)
    # ... which is the sum of the discarded covariance eigenvalues (1/N
    # normalisation).
    eigenvalues = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1]
    assert pca_reconstruction_error(X, m) == pytest.approx(
        eigenvalues[m:].sum(), rel=1e-10
    )


def test_reconstruction_error_is_zero_when_nothing_is_discarded():
    assert pca_reconstruction_error(correlated_data(), 6) == pytest.approx(
        0.0, abs=1e-20
    )


# --- principal_angles --------------------------------------------------------


def test_identical_subspaces_have_zero_angles_whatever_the_basis():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(10, 3, generator=g, dtype=torch.float64)
    mixing = torch.randn(
        3, 3, generator=g, dtype=torch.float64
    )  # another basis of the same span
    angles = principal_angles(A, A @ mixing)
    assert angles.shape == (3,)
    assert torch.allclose(
        angles, torch.zeros(3, dtype=torch.float64), atol=1e-6
    )


def test_orthogonal_subspaces_are_at_right_angles():
    eye = torch.eye(5, dtype=torch.float64)
    angles = principal_angles(eye[:, :2], 7.0 * eye[:, 2:4])
    assert torch.allclose(
        angles, torch.full((2,), math.pi / 2, dtype=torch.float64), atol=1e-12
    )


@pytest.mark.parametrize("angle", [0.01, 0.3, 1.0, math.pi / 2 - 0.01])
def test_plane_rotated_by_a_known_angle(angle):
    # The x-y plane against itself rotated by `angle` in the x-z plane of R^4:
    # one direction (y) is shared, the other is tilted by `angle`.
    plane = torch.eye(4, dtype=torch.float64)[:, :2]
    rotated = rotation_in_plane(4, 0, 2, angle) @ plane
    angles = principal_angles(plane, rotated)
    assert torch.allclose(
        angles, torch.tensor([0.0, angle], dtype=torch.float64), atol=1e-7
    )


def test_a_line_in_a_plane_and_one_off_it():
    plane = torch.tensor(
        [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64
    )
    line = torch.tensor(
        [[1.0], [1.0], [math.sqrt(2.0)]], dtype=torch.float64
    )  # 45 degrees above the plane
    assert principal_angles(plane, line).item() == pytest.approx(
        math.pi / 4, abs=1e-12
    )
    assert principal_angles(line, plane).item() == pytest.approx(
        math.pi / 4, abs=1e-12
    )


@pytest.mark.parametrize(
    "p, q, seed", [(3, 3, 0), (2, 5, 1), (4, 1, 2), (6, 6, 3)]
)
def test_matches_scipy_subspace_angles(p, q, seed):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((12, p)), rng.standard_normal((12, q))
    angles = principal_angles(A, B)
    expected = np.sort(subspace_angles(A, B))
    assert angles.dtype == torch.float64
    assert np.allclose(angles.numpy(), expected, atol=1e-10)
    assert torch.all(torch.diff(angles) >= 0)


def test_accepts_float32_tensors_that_require_grad():
    layer = torch.nn.Linear(2, 5)  # weight (5, 2): two directions in R^5
    angles = principal_angles(
        layer.weight, layer.weight.detach().double() * 3.0
    )
    assert torch.allclose(
        angles, torch.zeros(2, dtype=torch.float64), atol=1e-3
    )


def test_orthonormal_basis_spans_the_columns():
    A = torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    Q = orthonormal_basis(A)
    assert torch.allclose(
        Q.T @ Q, torch.eye(2, dtype=torch.float64), atol=1e-12
    )
    # Projecting A onto span(Q) leaves it unchanged.
    assert torch.allclose(Q @ (Q.T @ A.double()), A.double(), atol=1e-12)


# --- bad inputs --------------------------------------------------------------

EYE = torch.eye(4, dtype=torch.float64)
BAD_CALLS = [
    (
        lambda: pca_basis([[1.0, 2.0]], 1),
        TypeError,
        "X must be a torch.Tensor or numpy.ndarray, got list",
    ),
    (
        lambda: pca_basis(torch.ones(5, 3, dtype=torch.int64), 1),
        TypeError,
        "X must be floating-point, got dtype torch.int64",
    ),
    (
        lambda: pca_basis(torch.ones(5), 1),
        ValueError,
        "X must be a matrix (2-D), got shape (5,)",
    ),
    (
        lambda: pca_basis(torch.full((5, 3), float("nan")), 1),
        ValueError,
        "X contains NaN or inf",
    ),
    (
        lambda: pca_basis(torch.randn(5, 3), 4),
        ValueError,
        "m must be between 1 and 3 (the rank limit of X), got 4",
    ),
    (
        lambda: pca_basis(torch.randn(5, 3), 0),
        ValueError,
        "m must be between 1 and 3 (the rank limit of X), got 0",
    ),
    (
        lambda: pca_basis(torch.randn(5, 3), 2.0),
        TypeError,
        "m must be an integer, got float 2.0",
    ),
    (
        lambda: pca_basis(torch.randn(5, 3), True),
        TypeError,
        "m must be an integer, got bool True",
    ),
    (
        lambda: pca_reconstruction_error(torch.randn(5, 3), 9),
        ValueError,
        "m must be between 1 and 3 (the rank limit of X), got 9",
    ),
    (
        lambda: principal_angles(
            EYE[:, :2], torch.eye(3, dtype=torch.float64)
        ),
        ValueError,
        "A and B must have the same number of rows (the ambient "
        "dimension), got shapes (4, 2) and (3, 3)",
    ),
    (
        lambda: principal_angles(
            EYE[:, :2], torch.ones(4, 2, dtype=torch.float64)
        ),
        ValueError,
        "B must have linearly independent columns, got rank 1 for 2 columns",
    ),
    (
        lambda: principal_angles(torch.ones(2, 3), torch.ones(2, 1)),
        ValueError,
        "A must have at most as many columns as rows, got shape (2, 3)",
    ),
    (
        lambda: principal_angles(torch.ones(4, 0), EYE),
        ValueError,
        "A must have at least one column, got shape (4, 0)",
    ),
    (
        lambda: orthonormal_basis(torch.zeros(3, 1)),
        ValueError,
        "A must have linearly independent columns, got rank 0 for 1 columns",
    ),
]


@table(BAD_CALLS)
def test_bad_inputs_are_refused_with_a_clear_message(call, error, message):
    raises(call, error, message)


def test_m_may_be_a_numpy_integer():
    X = correlated_data()
    assert torch.equal(pca_basis(X, np.int64(2)), pca_basis(X, 2))
    error = pca_reconstruction_error(X, 2)
    assert pca_reconstruction_error(X, np.int32(2)) == error
