"""The bad-input table pattern, shared by the test files.

A table is a list of rows ``(call, error, message)``: calling ``call()``
must raise ``error`` whose message contains ``message`` (matched
literally). :func:`table` parametrizes a test over the rows with the
messages as test ids, so a failure reads as the message that was expected::

    BAD = [(lambda: f("x"), TypeError, "n must be an integer, got str 'x'")]

    @table(BAD)
    def test_f_refuses(call, error, message):
        raises(call, error, message)
"""

from __future__ import annotations

import re

import pytest


def table(rows):
    """parametrize arguments: (call, error, message), ids the messages."""
    return pytest.mark.parametrize(
        "call, error, message", rows, ids=[row[2] for row in rows]
    )


def raises(call, error, message):
    """``call()`` raises ``error`` with ``message`` in its text."""
    with pytest.raises(error, match=re.escape(message)):
        call()
