"""The input checks of vaecourse._validation, one helper at a time.

One convention: a value of the wrong kind raises TypeError, a value of the
right kind outside its domain raises ValueError, and every message names the
argument. The tables' test ids are the expected messages.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from bad_inputs import raises, table

from vaecourse import _validation as V

NAN, INF = float("nan"), float("inf")


# --- check_int --------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [3, np.int64(3), np.int8(3), torch.tensor(3)],
    ids=["int", "numpy int64", "numpy int8", "0-d tensor"],
)
def test_check_int_accepts_integers_of_any_kind(value):
    result = V.check_int("n", value, minimum=3)
    assert result == 3 and type(result) is int


BAD_INTS = [
    (
        lambda: V.check_int("n", 2.0),
        TypeError,
        "n must be an integer, got float 2.0",
    ),
    (
        lambda: V.check_int("n", True),
        TypeError,
        "n must be an integer, got bool True",
    ),
    (
        lambda: V.check_int("n", np.bool_(True)),
        TypeError,
        "n must be an integer, got bool",
    ),  # repr: True or np.True_
    (
        lambda: V.check_int("n", "3"),
        TypeError,
        "n must be an integer, got str '3'",
    ),
    (
        lambda: V.check_int("n", torch.tensor(3.0)),
        TypeError,
        "n must be an integer, got Tensor tensor(3.)",
    ),
    (
        lambda: V.check_int("n", torch.tensor([3])),
        TypeError,
        "n must be an integer, got Tensor tensor([3])",
    ),
    (
        lambda: V.check_int("n", None),
        TypeError,
        "n must be an integer, got NoneType None",
    ),
    (
        lambda: V.check_int("n", 1, minimum=2),
        ValueError,
        "n must be at least 2, got 1",
    ),
    (
        lambda: V.check_int("n", np.int64(-5), minimum=0),
        ValueError,
        "n must be at least 0, got -5",
    ),
]


@table(BAD_INTS)
def test_check_int_refuses(call, error, message):
    raises(call, error, message)


# --- check_real -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        0.5,
        np.float32(0.5),
        np.float64(0.5),
        torch.tensor(0.5),
        torch.tensor(0.5, dtype=torch.float64),
    ],
    ids=[
        "float",
        "numpy float32",
        "numpy float64",
        "0-d tensor",
        "0-d float64 tensor",
    ],
)
def test_check_real_accepts_real_numbers_of_any_kind(value):
    result = V.check_real("beta", value, minimum=0.0)
    assert result == 0.5 and type(result) is float


def test_check_real_accepts_integers_and_optionally_infinity():
    assert V.check_real("beta", 2) == 2.0
    assert V.check_real("beta", np.int32(2)) == 2.0
    assert V.check_real("beta", INF, finite=False) == INF
    assert V.check_real("beta", 0.0, minimum=0.0) == 0.0


BAD_REALS = [
    (
        lambda: V.check_real("beta", "1"),
        TypeError,
        "beta must be a real number, got str '1'",
    ),
    (
        lambda: V.check_real("beta", True),
        TypeError,
        "beta must be a real number, got bool True",
    ),
    (
        lambda: V.check_real("beta", 1j),
        TypeError,
        "beta must be a real number, got complex 1j",
    ),
    (
        lambda: V.check_real("beta", [1.0]),
        TypeError,
        "beta must be a real number, got list [1.0]",
    ),
    (
        lambda: V.check_real("beta", torch.ones(2)),
        TypeError,
        "beta must be a real number, got a tensor of shape (2,) and dtype "
        "torch.float32",
    ),
    (
        lambda: V.check_real("beta", torch.tensor(True)),
        TypeError,
        "beta must be a real number, got a tensor of shape () and dtype "
        "torch.bool",
    ),
    (
        lambda: V.check_real("beta", NAN),
        ValueError,
        "beta must be a number, got NaN",
    ),
    (
        lambda: V.check_real("beta", torch.tensor(NAN)),
        ValueError,
        "beta must be a number, got NaN",
    ),
    (
        lambda: V.check_real("beta", INF),
        ValueError,
        "beta must be finite, got inf",
    ),
    (
        lambda: V.check_real("beta", np.float64(-INF)),
        ValueError,
        "beta must be finite, got -inf",
    ),
    (
        lambda: V.check_real("beta", -0.5, minimum=0.0),
        ValueError,
        "beta must be at least 0.0, got -0.5",
    ),
    (
        lambda: V.check_real("lr", 0.0, positive=True),
        ValueError,
        "lr must be positive, got 0.0",
    ),
    (
        lambda: V.check_real("lr", -INF, positive=True, finite=False),
        ValueError,
        "lr must be positive, got -inf",
    ),
]


@table(BAD_REALS)
def test_check_real_refuses(call, error, message):
    raises(call, error, message)


def test_check_real_maximum_is_inclusive():
    assert V.check_real("p", 1.0, maximum=1.0) == 1.0
    raises(
        lambda: V.check_real("p", 1.0 + 1e-12, maximum=1.0),
        ValueError,
        "p must be at most 1.0, got 1.000000000001",
    )


# --- flags, classes, shapes, devices -----------------------------------------


def test_check_bool_accepts_python_and_numpy_bools():
    assert V.check_bool("flag", True) is True
    assert V.check_bool("flag", np.bool_(False)) is False


def test_check_instance_returns_its_input():
    module = torch.nn.Linear(2, 2)
    assert V.check_instance("model", module, torch.nn.Module) is module


def test_check_shape_accepts_free_and_fixed_dimensions():
    x = torch.zeros(5, 3, 4)
    assert V.check_shape("x", x, (None, 3, 4)) is x


def test_check_same_device_accepts_tensors_on_one_device():
    V.check_same_device("a", torch.zeros(2), "b", torch.ones(3))


def test_check_same_device_names_both_devices():
    # The meta device exists on every machine: a second device to compare.
    raises(
        lambda: V.check_same_device(
            "coverage", torch.zeros(2), "rgb", torch.zeros(2, device="meta")
        ),
        ValueError,
        "coverage and rgb must be on the same device, got cpu and meta; "
        "move one with rgb.to(coverage.device)",
    )


def test_check_device_gives_a_torch_device():
    assert V.check_device("cpu") == torch.device("cpu")
    assert V.check_device(torch.device("cpu")) == torch.device("cpu")


NO_CUDA = "" if torch.cuda.is_available() else "no CUDA here"
BAD_OTHERS = [
    (
        lambda: V.check_bool("binarized", 1),
        TypeError,
        "binarized must be True or False, got int 1",
    ),
    (
        lambda: V.check_bool("binarized", "yes"),
        TypeError,
        "binarized must be True or False, got str 'yes'",
    ),
    (
        lambda: V.check_instance("model", 3, torch.nn.Module),
        TypeError,
        "model must be a torch.nn.modules.module.Module, got int",
    ),
    (
        lambda: V.check_instance("x", 3, (torch.Tensor, np.ndarray)),
        TypeError,
        "x must be a torch.Tensor or numpy.ndarray, got int",
    ),
    (
        lambda: V.check_shape(
            "images", torch.zeros(2, 7, 7, 3), (None, 3, 7, 7)
        ),
        ValueError,
        "images must have shape (N, 3, 7, 7), got (2, 7, 7, 3)",
    ),
    (
        lambda: V.check_shape(
            "images", torch.zeros(2, 3), (None, 3, 32), "(batch, 3, 32)"
        ),
        ValueError,
        "images must have shape (batch, 3, 32), got (2, 3)",
    ),
    (
        lambda: V.check_device("tpu"),
        ValueError,
        "device 'tpu' is not a device this course can use; available here",
    ),
    (
        lambda: V.check_device(0),
        TypeError,
        "device must be a str or torch.device, got int 0",
    ),
]
if NO_CUDA:
    BAD_OTHERS += [
        (
            lambda: V.check_device("cuda"),
            ValueError,
            "device 'cuda' was asked for, but this PyTorch sees no CUDA "
            "device (torch.cuda.is_available() is False); available: cpu",
        ),
        (
            lambda: V.check_device("cuda:7"),
            ValueError,
            "device 'cuda:7' was asked for, but this PyTorch sees no CUDA",
        ),
    ]
else:
    BAD_OTHERS += [
        (
            lambda: V.check_device(f"cuda:{torch.cuda.device_count()}"),
            ValueError,
            f"device 'cuda:{torch.cuda.device_count()}' does not exist",
        ),
    ]


@table(BAD_OTHERS)
def test_flag_class_shape_and_device_checks_refuse(call, error, message):
    raises(call, error, message)


# --- tensors: floating point, finite, shapes, dtypes, [0, 1] -----------------


def test_tensor_checks_return_their_input_and_accept_good_tensors():
    t = torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float64)
    assert V.check_float_tensor("x", t) is t
    assert V.check_finite("x", t) is t
    assert V.check_float_tensor("x", torch.tensor([INF])).shape == (1,)
    V.check_same_shape("x", t, "y", t.clone())
    V.check_same_dtype("x", t, "y", t.clone())
    V.check_in_unit_interval("x", t)
    V.check_in_unit_interval("x", torch.zeros(0))
    V.check_batched("x", t)
    V.check_batched("x", torch.zeros(1, 0))


BAD_TENSORS = [
    (
        lambda: V.check_float_tensor("x", [1.0]),
        TypeError,
        "x must be a torch.Tensor, got list",
    ),
    (
        lambda: V.check_float_tensor("x", torch.tensor([1])),
        TypeError,
        "x must be a floating-point tensor, got dtype torch.int64; "
        "convert it with x.float()",
    ),
    (
        lambda: V.check_float_tensor("x", torch.tensor([1.0, NAN])),
        ValueError,
        "x contains NaN",
    ),
    (
        lambda: V.check_finite("logits", np.zeros(2)),
        TypeError,
        "logits must be a torch.Tensor, got ndarray",
    ),
    (
        lambda: V.check_finite("logits", torch.tensor([True])),
        TypeError,
        "logits must be a floating-point tensor, got dtype torch.bool",
    ),
    (
        lambda: V.check_finite("logits", torch.tensor([INF, NAN])),
        ValueError,
        "logits contains NaN",
    ),
    (
        lambda: V.check_finite("logits", torch.tensor([0.0, INF])),
        ValueError,
        "logits must be finite, found inf",
    ),
    (
        lambda: V.check_finite("logits", torch.tensor([[0.0], [-INF]])),
        ValueError,
        "logits must be finite, found -inf",
    ),
    (
        lambda: V.check_same_shape("x", torch.ones(2, 3), "y", torch.ones(3)),
        ValueError,
        "x and y must have the same shape, got (2, 3) and (3,)",
    ),
    (
        lambda: V.check_same_dtype(
            "x", torch.ones(1), "y", torch.ones(1, dtype=torch.float64)
        ),
        TypeError,
        "x and y must have the same dtype, got torch.float32 and "
        "torch.float64; convert one with y.to(x.dtype)",
    ),
    (
        lambda: V.check_in_unit_interval("x", torch.tensor([0.0, 16.0])),
        ValueError,
        "x must lie in [0, 1], found values in [0, 16]",
    ),
    (
        lambda: V.check_in_unit_interval("x", torch.tensor([-0.5, 1.0])),
        ValueError,
        "x must lie in [0, 1], found values in [-0.5, 1]",
    ),
    (
        lambda: V.check_in_unit_interval("x", torch.tensor([0.5, NAN])),
        ValueError,
        "x contains NaN; it must lie in [0, 1]",
    ),
    (
        lambda: V.check_batched("x", torch.ones(3)),
        ValueError,
        "x must have shape (batch, ...) with at least 2 dimensions, got shape "
        "(3,); add a batch dimension with x.unsqueeze(0)",
    ),
    (
        lambda: V.check_batched("x", torch.ones(0, 784)),
        ValueError,
        "x must hold at least one example, got a batch of size 0 "
        "(shape (0, 784))",
    ),
]


@table(BAD_TENSORS)
def test_tensor_checks_refuse(call, error, message):
    raises(call, error, message)


# --- check_positive ----------------------------------------------------------


def test_check_positive_keeps_a_number_in_float64():
    tensor = V.check_positive("variance", 0.1)
    assert tensor.dtype == torch.float64 and tensor.item() == 0.1
    assert V.check_positive("variance", np.float32(2.0)).item() == 2.0


def test_check_positive_converts_to_the_dtype_of_like():
    like = torch.zeros(3, dtype=torch.float32)
    tensor = V.check_positive("variance", 0.1, like=like)
    assert tensor.dtype == torch.float32
    assert tensor.item() == torch.tensor(0.1, dtype=torch.float32).item()
    per_pixel = torch.tensor([0.5, 2.0], dtype=torch.float64)
    assert V.check_positive("s2", per_pixel, like=like).dtype == torch.float32


BAD_POSITIVES = [
    (
        lambda: V.check_positive("variance", "1"),
        TypeError,
        "variance must be a real number, got str '1'",
    ),
    (
        lambda: V.check_positive("variance", torch.tensor([1])),
        TypeError,
        "variance must be a floating-point tensor, got dtype torch.int64",
    ),
    (
        lambda: V.check_positive("variance", 0.0),
        ValueError,
        "variance must be positive, got minimum 0",
    ),
    (
        lambda: V.check_positive("variance", torch.tensor([1.0, -2.0])),
        ValueError,
        "variance must be positive, got minimum -2",
    ),
    (
        lambda: V.check_positive("variance", NAN),
        ValueError,
        "variance must be a number, got NaN",
    ),
    (
        lambda: V.check_positive("variance", torch.tensor([NAN])),
        ValueError,
        "variance contains NaN",
    ),
    (
        lambda: V.check_positive("variance", INF),
        ValueError,
        "variance must be finite, got inf",
    ),
    (
        lambda: V.check_positive("variance", torch.tensor([1.0, INF])),
        ValueError,
        "variance must be finite, found inf",
    ),
    # Positive in float64, 0 or inf once in the float32 of the data.
    (
        lambda: V.check_positive("variance", 1e-50, like=torch.zeros(1)),
        ValueError,
        "variance must be positive and finite in torch.float32, "
        "the dtype of the data: 1e-50 becomes 0.0",
    ),
    (
        lambda: V.check_positive(
            "s2",
            torch.tensor([1.0, 1e300], dtype=torch.float64),
            like=torch.zeros(1),
        ),
        ValueError,
        "s2 must be positive and finite in torch.float32, the "
        "dtype of the data: 1e+300 becomes inf",
    ),
]


@table(BAD_POSITIVES)
def test_check_positive_refuses(call, error, message):
    raises(call, error, message)


# --- check_mean_logvar -------------------------------------------------------


def test_check_mean_logvar_accepts_finite_tensors_of_one_shape():
    V.check_mean_logvar(torch.zeros(4, 2), torch.full((4, 2), -80.0))
    V.check_mean_logvar(torch.zeros(2), torch.zeros(2), suffix="_q")


MU, LOGVAR = torch.zeros(2, 3), torch.zeros(2, 3)
BAD_MEAN_LOGVAR = [
    (
        lambda: V.check_mean_logvar([0.0], LOGVAR),
        TypeError,
        "mu must be a torch.Tensor, got list",
    ),
    (
        lambda: V.check_mean_logvar(MU, torch.zeros(2, 3, dtype=torch.int32)),
        TypeError,
        "logvar must be a floating-point tensor, got dtype torch.int32",
    ),
    (
        lambda: V.check_mean_logvar(MU, torch.zeros(2, 4)),
        ValueError,
        "mu and logvar must have the same shape, got (2, 3) and (2, 4)",
    ),
    (
        lambda: V.check_mean_logvar(torch.tensor([NAN, 0.0]), torch.zeros(2)),
        ValueError,
        "mu contains NaN",
    ),
    (
        lambda: V.check_mean_logvar(torch.tensor([INF]), torch.zeros(1)),
        ValueError,
        "mu must be finite, found inf",
    ),
    (
        lambda: V.check_mean_logvar(torch.zeros(1), torch.tensor([INF])),
        ValueError,
        "logvar must be finite, found inf",
    ),
    (
        lambda: V.check_mean_logvar(torch.zeros(1), torch.tensor([-INF])),
        ValueError,
        "logvar must be finite, found -inf",
    ),
    (
        lambda: V.check_mean_logvar(
            torch.zeros(1), torch.zeros(2), suffix="_p"
        ),
        ValueError,
        "mu_p and logvar_p must have the same shape",
    ),
    (
        lambda: V.check_mean_logvar(
            torch.zeros(1), torch.tensor([NAN]), suffix="_q"
        ),
        ValueError,
        "logvar_q contains NaN",
    ),
]


@table(BAD_MEAN_LOGVAR)
def test_check_mean_logvar_refuses(call, error, message):
    raises(call, error, message)


def test_check_generator_accepts_a_generator_or_none_and_refuses_a_seed():
    generator = torch.Generator().manual_seed(0)
    assert V.check_generator(generator) is generator
    assert V.check_generator(None) is None
    with pytest.raises(TypeError, match=r"pass torch\.Generator\(\)"):
        V.check_generator(0)


# --- values_checked: value scans off, type, dtype and shape checks on -------

# Each call scans values: ValueError outside the block, nothing inside.
VALUE_SCANS = [
    (
        lambda: V.check_float_tensor("x", torch.tensor([1.0, NAN])),
        "x contains NaN",
    ),
    (
        lambda: V.check_finite("logits", torch.tensor([0.0, INF])),
        "logits must be finite, found inf",
    ),
    (
        lambda: V.check_in_unit_interval("x", torch.tensor([0.0, 16.0])),
        "x must lie in [0, 1], found values in [0, 16]",
    ),
    (
        lambda: V.check_positive("variance", torch.tensor([1.0, -2.0])),
        "variance must be positive, got minimum -2",
    ),
    (
        lambda: V.check_positive(
            "variance", 1e-50, like=torch.zeros(1, dtype=torch.float32)
        ),
        "variance must be positive and finite in torch.float32",
    ),
    (
        lambda: V.check_mean_logvar(torch.zeros(1), torch.tensor([-INF])),
        "logvar must be finite, found -inf",
    ),
]


@pytest.mark.parametrize(
    "call, message", VALUE_SCANS, ids=[row[1] for row in VALUE_SCANS]
)
def test_values_checked_skips_value_scans_and_restores_them(call, message):
    raises(call, ValueError, message)
    with V.values_checked():
        call()
    raises(call, ValueError, message)


# Inside the block, what is not a scan of a tensor's values still raises.
STILL_CHECKED = [
    (
        lambda: V.check_float_tensor("x", [1.0]),
        TypeError,
        "x must be a torch.Tensor, got list",
    ),
    (
        lambda: V.check_finite("x", torch.tensor([1])),
        TypeError,
        "x must be a floating-point tensor, got dtype torch.int64",
    ),
    (
        lambda: V.check_same_shape("x", torch.ones(2, 3), "y", torch.ones(3)),
        ValueError,
        "x and y must have the same shape, got (2, 3) and (3,)",
    ),
    (
        lambda: V.check_same_dtype(
            "x", torch.ones(1), "y", torch.ones(1, dtype=torch.float64)
        ),
        TypeError,
        "x and y must have the same dtype, got torch.float32 and "
        "torch.float64",
    ),
    (
        lambda: V.check_batched("x", torch.ones(0, 784)),
        ValueError,
        "x must hold at least one example, got a batch of size 0",
    ),
    (
        lambda: V.check_mean_logvar(MU, torch.zeros(2, 4)),
        ValueError,
        "mu and logvar must have the same shape, got (2, 3) and (2, 4)",
    ),
    (
        lambda: V.check_positive("variance", -1.0),
        ValueError,
        "variance must be positive, got minimum -1",
    ),
    (
        lambda: V.check_positive("variance", NAN),
        ValueError,
        "variance must be a number, got NaN",
    ),
    (
        lambda: V.check_real("beta", INF),
        ValueError,
        "beta must be finite, got inf",
    ),
    (
        lambda: V.check_int("epochs", 0, minimum=1),
        ValueError,
        "epochs must be at least 1, got 0",
    ),
    (
        lambda: V.check_generator(0),
        TypeError,
        "generator must be a torch.Generator or None",
    ),
]


@table(STILL_CHECKED)
def test_values_checked_keeps_type_dtype_and_shape_checks(
    call, error, message
):
    with V.values_checked():
        raises(call, error, message)


def test_values_checked_returns_what_the_checks_return():
    t = torch.tensor([[NAN, INF]])
    with V.values_checked():
        assert V.check_float_tensor("x", t) is t
        assert V.check_finite("x", t) is t
        like = torch.zeros(1, dtype=torch.float32)
        variance = V.check_positive("variance", 0.1, like=like)
        assert variance.dtype == torch.float32
        assert variance.item() == pytest.approx(0.1)
        assert V.check_positive("variance", 0.1).dtype == torch.float64


def test_values_checked_is_restored_after_an_exception():
    assert V.scans_values()
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        with V.values_checked():
            assert not V.scans_values()
            V.check_finite("x", [1.0])
    assert V.scans_values()
    raises(
        lambda: V.check_finite("x", torch.tensor([NAN])),
        ValueError,
        "x contains NaN",
    )


def test_values_checked_nests():
    with V.values_checked():
        with V.values_checked():
            assert not V.scans_values()
        # leaving the inner block does not end the outer one
        assert not V.scans_values()
        V.check_finite("x", torch.tensor([NAN]))
    assert V.scans_values()


def test_values_checked_holds_in_its_own_thread_only():
    # A contextvars.ContextVar: a thread started inside the block (a data
    # loader's, say) keeps every check.
    errors = []

    def other_thread():
        try:
            V.check_float_tensor("x", torch.tensor([NAN]))
        except ValueError as error:
            errors.append(str(error))

    with V.values_checked():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert errors == ["x contains NaN"]
