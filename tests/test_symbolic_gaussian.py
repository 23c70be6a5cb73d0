"""Tests of vaecourse.symbolic.gaussian: the standard normal's moments, from
the integral, against scipy and the double factorial."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from scipy import stats

from vaecourse import symbolic


def test_standard_normal_moments_from_the_integral():
    moments = [symbolic.standard_normal_moment(k) for k in range(9)]
    # E[eps^k] is 0 for odd k and (k - 1)!! = 1, 1, 3, 15, 105 for even k.
    assert moments == [1, 0, 1, 0, 3, 0, 15, 0, 105]
    for k, moment in enumerate(moments):
        assert float(moment) == pytest.approx(stats.norm.moment(k), abs=1e-9)


@pytest.mark.parametrize(
    "power", [np.int64(4), torch.tensor(4)], ids=["numpy", "0-d tensor"]
)
def test_integer_powers_of_any_kind_are_accepted(power):
    assert symbolic.standard_normal_moment(power) == 3


BAD_INPUTS = [
    (-1, ValueError, "power must be at least 0, got -1"),
    (2.0, TypeError, "power must be an integer, got float 2.0"),
    (True, TypeError, "power must be an integer, got bool True"),
    (math.inf, TypeError, "power must be an integer, got float inf"),
]


@pytest.mark.parametrize(
    "power, error, message", BAD_INPUTS, ids=[b[2] for b in BAD_INPUTS]
)
def test_bad_powers_raise_with_a_message(power, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        symbolic.standard_normal_moment(power)
