"""vaecourse.source: the package's source as the chapters print it."""

from __future__ import annotations

import inspect

import pytest

import vaecourse
from vaecourse import distributions, losses
from vaecourse.source import show_source, source_text


def test_source_text_drops_the_docstring_and_keeps_the_body():
    text = source_text(distributions.kl_diag_gaussian_std_normal)
    doc = inspect.getdoc(distributions.kl_diag_gaussian_std_normal)
    assert text.startswith("def kl_diag_gaussian_std_normal(")
    assert doc.splitlines()[0] not in text
    assert '"""' not in text
    assert "logvar.exp()" in text
    # Everything that is not the docstring is kept, line for line.
    full = inspect.getsource(distributions.kl_diag_gaussian_std_normal)
    body = [line for line in text.splitlines()]
    assert all(line in full for line in body)


def test_checks_false_replaces_the_input_checks_by_one_comment():
    text = source_text(distributions.kl_diag_gaussian_std_normal, checks=False)
    assert "check_" not in text
    assert text.count("# (input checks omitted)") == 1
    assert "return" in text


def test_an_assignment_that_computes_a_value_is_kept():
    def scale(x, variance):
        check_thing("x", x)  # noqa: F821
        var = check_positive("variance", variance)  # noqa: F821
        x = check_float("x", x)  # noqa: F821
        return x / var

    text = source_text(scale, checks=False)
    assert "var = check_positive" in text
    assert 'check_thing("x", x)' not in text
    assert 'x = check_float("x", x)' not in text


def test_show_source_prints_the_text(capsys):
    show_source(losses.mean_squared_error)
    assert (
        capsys.readouterr().out
        == source_text(losses.mean_squared_error) + "\n"
    )
    assert vaecourse.show_source is show_source


@pytest.mark.parametrize(
    "obj, checks, error, message",
    [
        (3, True, TypeError, "obj must be a function or method, got int"),
        (len, True, TypeError, "no Python source"),
        (losses.mean_squared_error, "no", TypeError, "checks must be a bool"),
        (losses.ELBOTerms, True, TypeError, "is not a function or method"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_input(obj, checks, error, message):
    with pytest.raises(error, match=message):
        source_text(obj, checks=checks)


def test_the_note_stands_where_the_first_check_stood():
    def step(model, x, beta, gamma):
        """Doc."""
        terms = model(x)
        beta, gamma = _check_weights(beta, gamma)  # noqa: F821
        scaled = beta * gamma
        _check_model(model)  # noqa: F821
        return terms + scaled

    assert source_text(step, checks=False).splitlines() == [
        "def step(model, x, beta, gamma):",
        "    terms = model(x)",
        "    # (input checks omitted)",
        "    scaled = beta * gamma",
        "    return terms + scaled",
    ]
    # With the checks, every line but the docstring's is kept.
    assert len(source_text(step).splitlines()) == 6


def test_a_docstring_on_the_def_line_is_cut_not_the_function(tmp_path):
    import importlib.util

    path = tmp_path / "one_line.py"
    path.write_text('def f(x): "doc"; return x + 1\n')
    spec = importlib.util.spec_from_file_location("one_line", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert source_text(module.f) == "def f(x): return x + 1"
