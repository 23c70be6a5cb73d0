"""Input checks shared by the package's functions.

Every public function validates what it is given and raises a ``TypeError``
or ``ValueError`` whose message names the argument and the problem, so a bad
input fails at the call, not as a NaN deep inside training.
"""

from __future__ import annotations

import torch

__all__ = [
    "check_float_tensor",
    "check_same_shape",
    "check_in_unit_interval",
    "check_positive",
    "check_batched",
]


def check_float_tensor(name: str, value: object) -> torch.Tensor:
    """Return ``value`` if it is a finite-or-inf floating tensor without NaN."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {value.dtype}; "
            f"convert it with {name}.float()"
        )
    if torch.isnan(value).any():
        raise ValueError(f"{name} contains NaN")
    return value


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise if two tensors differ in shape (no silent broadcasting)."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_batched(name: str, value: torch.Tensor, min_dim: int = 2) -> None:
    """Raise unless ``value`` has a leading batch dimension."""
    if value.dim() < min_dim:
        raise ValueError(
            f"{name} must have shape (batch, ...) with at least {min_dim} dimensions, "
            f"got shape {tuple(value.shape)}; add a batch dimension with {name}.unsqueeze(0)"
        )


def check_in_unit_interval(name: str, value: torch.Tensor) -> None:
    """Raise unless every element lies in [0, 1]."""
    if value.numel() == 0:
        return
    low, high = torch.aminmax(value.detach())  # one pass over the data, not two
    if low < 0 or high > 1:
        raise ValueError(f"{name} must lie in [0, 1], found values in [{low.item():.4g}, {high.item():.4g}]")


def check_positive(name: str, value: torch.Tensor | float) -> torch.Tensor:
    """Return ``value`` as a tensor, raising unless every element is > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, torch.Tensor)):
        raise TypeError(f"{name} must be a positive number or tensor, got {type(value).__name__}")
    if isinstance(value, torch.Tensor):
        tensor = check_float_tensor(name, value)
    else:
        # float64 so that a Python number keeps its precision until the caller
        # converts it to the dtype of its data.
        tensor = torch.tensor(float(value), dtype=torch.float64)
    if (tensor <= 0).any() or torch.isnan(tensor).any():
        raise ValueError(f"{name} must be positive, got minimum {tensor.min().item():.4g}")
    return tensor
