"""Show the package's source in the chapters, as a text to read.

A chapter that explains a function prints its source, so that the text and
the tested code never drift apart. :func:`show_source` prints the signature
and the body without the docstring (the chapter's prose says what it says),
and optionally without the input checks, so that what the reader sees is
the formula.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable

__all__ = ["source_text", "show_source"]

# Calls of these names are input checks (vaecourse._validation and the
# modules' private ``_check*`` helpers), not part of the formula.
_CHECK_PREFIXES = ("check_", "_check")


def _is_input_check(statement: ast.stmt) -> bool:
    """A bare call of a ``check_*`` function, or ``x = check_*(...)``."""
    value = getattr(statement, "value", None)
    if not isinstance(statement, (ast.Expr, ast.Assign)):
        return False
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = (
        func.attr
        if isinstance(func, ast.Attribute)
        else getattr(func, "id", "")
    )
    # An assignment is only a check when it rebinds its own argument
    # (``x = check_float_tensor("x", x)``): anything else computes a value.
    if isinstance(statement, ast.Assign):
        # ``x = check(x)`` and ``a, b = _check(a, b)`` alike
        targets = [
            node.id
            for target in statement.targets
            for node in ast.walk(target)
            if isinstance(node, ast.Name)
        ]
        arguments = [a.id for a in value.args if isinstance(a, ast.Name)]
        if not set(targets) & set(arguments):
            return False
    return name.startswith(_CHECK_PREFIXES)


def source_text(obj: Callable, *, checks: bool = True) -> str:
    """The source of a function or method without its docstring.

    Parameters
    ----------
    obj : callable
        A function or method defined in Python source.
    checks : bool, default True
        If False, top-level calls of input-check helpers (``check_*``,
        ``_check*``) are replaced by one comment line saying so.

    Returns
    -------
    str
        The signature and body, dedented, without the docstring.
    """
    if not callable(obj):
        raise TypeError(
            f"obj must be a function or method, got {type(obj).__name__}"
        )
    if not isinstance(checks, bool):
        raise TypeError(f"checks must be a bool, got {type(checks).__name__}")
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as error:
        raise TypeError(f"no Python source for {obj!r}: {error}") from None
    tree = ast.parse(source)
    function = tree.body[0]
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError(f"{obj!r} is not a function or method")
    lines = source.splitlines()
    drop: set[int] = set()  # 0-based line numbers

    def remove(statement: ast.stmt) -> None:
        """Drop a statement's lines, or only its text on a shared line."""
        first, last = statement.lineno - 1, statement.end_lineno - 1
        before = lines[first][: statement.col_offset]
        after = lines[last][statement.end_col_offset :].strip()
        if not before.strip() and (not after or after.startswith("#")):
            drop.update(range(first, last + 1))
            return
        # ``def f(x): "doc"; return x`` or ``a = 1; check(a)``: cut the
        # statement and the ``;`` that joins it to the next or previous one.
        rest = lines[last][statement.end_col_offset :]
        head = before.rstrip()
        if rest.lstrip().startswith(";"):
            rest = rest.lstrip()[1:].lstrip()
            joined = head + (" " if head.endswith(":") else "") + rest
        else:
            joined = head.rstrip(";").rstrip() + rest
        lines[first : last + 1] = [joined] + [""] * (last - first)
        drop.update(range(first + 1, last + 1))

    body = function.body
    first = body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(getattr(first, "value", None), ast.Constant)
        and isinstance(first.value.value, str)
    ):
        remove(first)
    note_at = None
    if not checks:
        for statement in body:
            if _is_input_check(statement):
                if note_at is None:
                    note_at = statement.lineno - 1
                remove(statement)
    kept = []
    for number, line in enumerate(lines):
        if number == note_at:
            indent = line[: len(line) - len(line.lstrip())]
            kept.append(f"{indent}# (input checks omitted)")
        if number not in drop:
            kept.append(line)
    return "\n".join(kept)


def show_source(obj: Callable, *, checks: bool = True) -> None:
    """Print :func:`source_text` of ``obj``: its signature and body.

    Parameters
    ----------
    obj : callable
        A function or method of the package (or any Python function).
    checks : bool, default True
        If False, the input checks are left out (one comment says so).
    """
    print(source_text(obj, checks=checks))
