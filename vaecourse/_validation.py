"""Input checks shared by the package's functions.

Every public function validates what it is given and raises a ``TypeError``
or ``ValueError`` whose message names the argument and the problem, so a bad
input fails at the call, not as a NaN deep inside training. One convention
throughout: a value of the wrong kind (a string for a number, an integer
tensor for a floating one) raises ``TypeError``; a value of the right kind
but outside its domain (NaN, an infinity, a negative variance, an empty
batch, mismatched shapes) raises ``ValueError``.

Checks are of two kinds: type, dtype and shape checks, which cost next to
nothing, and value scans (NaN, infinities, ranges, signs), which read every
element. Inside :func:`values_checked` the value scans are skipped: the
training loops check their data once, before the first step, run each step
inside it and test only the step's loss and terms for finiteness, and run
a step again with the scans on only when that test fails.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator

import numpy as np
import torch

__all__ = [
    "check_float_tensor",
    "check_finite",
    "check_same_shape",
    "check_same_dtype",
    "check_same_device",
    "check_in_unit_interval",
    "check_positive",
    "check_batched",
    "check_generator",
    "check_mean_logvar",
    "check_int",
    "check_real",
    "check_bool",
    "check_instance",
    "check_shape",
    "check_device",
    "values_checked",
    "scans_values",
]

# True inside ``values_checked()``: in this thread (or task) only.
_VALUES_CHECKED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "vaecourse_values_checked", default=False
)


@contextlib.contextmanager
def values_checked() -> Iterator[None]:
    """Skip the value scans of the checks below while the block runs.

    For a caller that has already checked its data and tests the result
    for finiteness (the training loops): :func:`check_float_tensor`,
    :func:`check_finite`, :func:`check_in_unit_interval`,
    :func:`check_positive` and :func:`check_mean_logvar` then test types,
    dtypes and shapes only. The previous state is restored on leaving the
    block, also when it raises, and blocks may be nested. The state is
    that of the current thread (a :class:`contextvars.ContextVar`), so
    another thread keeps every check.
    """
    token = _VALUES_CHECKED.set(True)
    try:
        yield
    finally:
        _VALUES_CHECKED.reset(token)


def scans_values() -> bool:
    """Whether the value scans run: False inside :func:`values_checked`."""
    return not _VALUES_CHECKED.get()


def _check_floating(name: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(value).__name__}"
        )
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype "
            f"{value.dtype}; convert it with {name}.float()"
        )
    return value


def check_float_tensor(name: str, value: object) -> torch.Tensor:
    """Return ``value`` if it is a floating-point tensor without NaN.

    Infinities are allowed; :func:`check_finite` refuses them too. Inside
    :func:`values_checked` only the type and dtype are checked.
    """
    tensor = _check_floating(name, value)
    if scans_values() and torch.isnan(tensor).any():
        raise ValueError(f"{name} contains NaN")
    return tensor


def check_finite(name: str, value: object) -> torch.Tensor:
    """Return ``value`` if it is a floating-point tensor of finite numbers.

    NaN gives "``name`` contains NaN"; an infinity gives "``name`` must be
    finite, found inf" (or ``-inf``). Inside :func:`values_checked` only the
    type and dtype are checked.
    """
    tensor = _check_floating(name, value)
    if not scans_values():
        return tensor
    finite = torch.isfinite(tensor)
    if not finite.all():  # one pass over the data when all is well
        if torch.isnan(tensor).any():
            raise ValueError(f"{name} contains NaN")
        first = tensor[~finite].flatten()[0].item()
        raise ValueError(f"{name} must be finite, found {first}")
    return tensor


def check_same_shape(
    name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor
) -> None:
    """Raise if two tensors differ in shape (no silent broadcasting)."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_same_dtype(
    name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor
) -> None:
    """Raise if two tensors differ in dtype (no silent promotion)."""
    if a.dtype != b.dtype:
        raise TypeError(
            f"{name_a} and {name_b} must have the same dtype, got "
            f"{a.dtype} and {b.dtype}; convert one with "
            f"{name_b}.to({name_a}.dtype)"
        )


def check_same_device(
    name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor
) -> None:
    """Raise if two tensors are on different devices (no raw torch error)."""
    if a.device != b.device:
        raise ValueError(
            f"{name_a} and {name_b} must be on the same device, got "
            f"{a.device} and {b.device}; move one with "
            f"{name_b}.to({name_a}.device)"
        )


def check_batched(name: str, value: torch.Tensor, min_dim: int = 2) -> None:
    """Raise unless ``value`` has a leading batch dimension of size >= 1.

    An empty batch is refused: its mean over the batch would be NaN.
    """
    if value.dim() < min_dim:
        raise ValueError(
            f"{name} must have shape (batch, ...) with at least {min_dim} "
            f"dimensions, got shape {tuple(value.shape)}; add a batch "
            f"dimension with {name}.unsqueeze(0)"
        )
    if value.shape[0] == 0:
        raise ValueError(
            f"{name} must hold at least one example, got a batch of size "
            f"0 (shape {tuple(value.shape)})"
        )


def check_in_unit_interval(name: str, value: torch.Tensor) -> None:
    """Raise unless every element lies in [0, 1].

    Nothing is checked inside :func:`values_checked`.
    """
    if value.numel() == 0 or not scans_values():
        return
    # One pass over the data, not two. aminmax carries a NaN through, and
    # every comparison with NaN is False: so the test is written as
    # "inside", which NaN fails.
    low, high = torch.aminmax(value.detach())
    if not (low >= 0 and high <= 1):
        if torch.isnan(low) or torch.isnan(high):
            raise ValueError(f"{name} contains NaN; it must lie in [0, 1]")
        raise ValueError(
            f"{name} must lie in [0, 1], found values in "
            f"[{low.item():.4g}, {high.item():.4g}]"
        )


def check_positive(
    name: str,
    value: torch.Tensor | float,
    *,
    like: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return ``value`` as a tensor, raising unless every element is > 0.

    ``value`` is a real number (see :func:`check_real`) or a floating-point
    tensor; NaN, an infinity or an element ``<= 0`` raises ``ValueError``.
    With ``like``, the result is converted to its dtype and device and
    checked again there: ``1e-50`` is positive in float64 but 0 in float32.
    Inside :func:`values_checked` a tensor's elements are not scanned and
    the conversion is not checked; a Python number is still checked to be
    finite and positive (no tensor is read for that).
    """
    scan = scans_values()
    if isinstance(value, torch.Tensor):
        tensor = check_finite(name, value)
        positive = not scan or not (tensor <= 0).any()
    else:
        number = check_real(name, value)
        positive = number > 0
        # float64, so that a Python number keeps its precision until it
        # meets the dtype of the data.
        tensor = torch.tensor(number, dtype=torch.float64)
    if not positive:
        raise ValueError(
            f"{name} must be positive, got minimum {tensor.min().item():.4g}"
        )
    if like is None:
        return tensor
    converted = tensor.to(dtype=like.dtype, device=like.device)
    if not scan:
        return converted
    lost = (converted <= 0) | ~torch.isfinite(converted)
    if lost.any():
        before = tensor[lost.to(tensor.device)].flatten()[0].item()
        after = converted[lost].flatten()[0].item()
        raise ValueError(
            f"{name} must be positive and finite in {like.dtype}, the "
            f"dtype of the data: {before:.4g} becomes {after}"
        )
    return converted


def check_mean_logvar(mu: object, logvar: object, *, suffix: str = "") -> None:
    r"""Check the parameters of a diagonal Gaussian :math:`q(z \mid x)`.

    ``mu`` and ``logvar`` must be floating-point tensors of the same shape
    with finite elements (not scanned inside :func:`values_checked`). A
    log-variance of :math:`\pm\infty` (a variance of 0 or :math:`\infty`)
    has no finite KL divergence and would return inf or NaN. ``suffix`` is
    appended to both names in messages, e.g. ``"_q"`` for ``mu_q`` and
    ``logvar_q``.
    """
    mu_name, logvar_name = f"mu{suffix}", f"logvar{suffix}"
    check_finite(mu_name, mu)
    check_finite(logvar_name, logvar)
    check_same_shape(mu_name, mu, logvar_name, logvar)


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int``.

    The package's one rule for integer arguments: a value that is not an
    integer (a bool, a float, a string) raises ``TypeError``; an integer
    below ``minimum`` raises ``ValueError``. NumPy integers and 0-d integer
    tensors are accepted.
    """
    if (
        isinstance(value, torch.Tensor)
        and value.dim() == 0
        and not value.is_floating_point()
        and not value.is_complex()
        and value.dtype is not torch.bool
    ):
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, np.integer)
    ):
        raise TypeError(
            f"{name} must be an integer, got {type(value).__name__} {value!r}"
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_real(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
    finite: bool = True,
) -> float:
    """Return ``value`` as a Python ``float``.

    The package's one rule for real-number arguments: anything that is not a
    real number (a bool, a string, a tensor with more than one element)
    raises ``TypeError``; NaN, an infinity (unless ``finite=False``), a value
    below ``minimum`` or above ``maximum`` or, with ``positive=True``, a
    value ``<= 0`` raises ``ValueError``. Python and NumPy numbers and 0-d
    tensors are accepted.
    """
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or value.dtype is torch.bool or value.is_complex():
            raise TypeError(
                f"{name} must be a real number, got a tensor of shape "
                f"{tuple(value.shape)} and dtype {value.dtype}"
            )
        value = value.item()
    real_types = (int, float, np.integer, np.floating)
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, real_types
    ):
        raise TypeError(
            f"{name} must be a real number, got {type(value).__name__} "
            f"{value!r}"
        )
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got NaN")
    if finite and math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool`` (or a NumPy bool).

    ``0``, ``1``, ``"yes"`` or ``None`` raise ``TypeError``: a flag is
    never guessed from another type.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be True or False, got {type(value).__name__} "
            f"{value!r}"
        )
    return bool(value)


def check_instance(name: str, value: object, kind: type | tuple) -> object:
    """Return ``value`` if it is an instance of ``kind``, else ``TypeError``.

    The message names the class (or classes) expected, with its module, and
    the type given.
    """
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(
            f"{k.__module__}.{k.__qualname__}" for k in kinds
        )
        raise TypeError(
            f"{name} must be a {expected}, got {type(value).__name__}"
        )
    return value


def check_shape(
    name: str, value: torch.Tensor, shape: tuple, labels: str | None = None
) -> torch.Tensor:
    """Return ``value`` if its shape matches ``shape``, else ``ValueError``.

    ``shape`` holds an ``int`` for each dimension of fixed size and ``None``
    for a free one (the batch). ``labels``, e.g. ``"(batch, 3, 32, 32)"``,
    is how the message writes the expected shape (by default ``shape`` with
    ``N`` for each free dimension).
    """
    actual = tuple(value.shape)
    ok = len(actual) == len(shape) and all(
        want is None or want == got
        for want, got in zip(shape, actual, strict=True)
    )
    if not ok:
        expected = (
            labels
            or "("
            + ", ".join("N" if want is None else str(want) for want in shape)
            + ")"
        )
        raise ValueError(f"{name} must have shape {expected}, got {actual}")
    return value


def check_device(device: object) -> torch.device:
    """Return ``device`` as a ``torch.device`` that exists on this machine.

    ``"cpu"``, ``"cuda"`` or ``"cuda:K"`` (where CUDA has a device ``K``),
    ``"mps"`` (where the Metal backend is available), or such a
    ``torch.device``. Anything else raises an error that names the device
    asked for and the devices there are, rather than a raw error of torch
    at the first tensor moved (or, worse, a training that silently stays
    on the CPU).
    """
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a str or torch.device, got "
            f"{type(device).__name__} {device!r}"
        )
    available = ["cpu"]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        available += ["cuda"] + [f"cuda:{k}" for k in range(count)]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        available.append("mps")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(
            f"device {str(device)!r} is not a device this course can use; "
            f"available here: {', '.join(available)}"
        )
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "mps" and "mps" not in available:
        raise ValueError(
            f"device {str(device)!r} was asked for, but the Metal (mps) "
            f"backend is not available here; available: "
            f"{', '.join(available)}"
        )
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(device)!r} was asked for, but this PyTorch "
                f"sees no CUDA device (torch.cuda.is_available() is "
                f"False); available: {', '.join(available)}"
            )
        if resolved.index is not None and (
            resolved.index >= torch.cuda.device_count()
        ):
            raise ValueError(
                f"device {str(device)!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s); available: "
                f"{', '.join(available)}"
            )
    return resolved


def check_generator(generator: object) -> torch.Generator | None:
    """Return ``generator`` if it is a ``torch.Generator`` or ``None``.

    A seed given where a generator is expected (``generator=0``) raises a
    ``TypeError`` that says how to make a generator from it.
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            "generator must be a torch.Generator or None, got "
            f"{type(generator).__name__} {generator!r}; for a seed s, pass "
            "torch.Generator().manual_seed(s)"
        )
    return generator


def check_code_matrix(name: str, codes: object) -> np.ndarray:
    """Codes of N >= 2 examples in d >= 1 units, real and finite: ``(N, d)``
    float64. A tensor may be on any device and carry a gradient."""
    if isinstance(codes, torch.Tensor):
        codes = codes.detach().cpu().numpy()
    codes = np.asarray(codes)
    if codes.dtype == bool or not (
        np.issubdtype(codes.dtype, np.floating)
        or np.issubdtype(codes.dtype, np.integer)
    ):
        raise TypeError(
            f"{name} must be real numbers, got dtype {codes.dtype}"
        )
    if codes.ndim != 2 or len(codes) < 2 or codes.shape[1] < 1:
        raise ValueError(
            f"{name} must have shape (N, d) with N >= 2 and d >= 1, got "
            f"{codes.shape}"
        )
    if not np.isfinite(codes).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return codes.astype(np.float64)
