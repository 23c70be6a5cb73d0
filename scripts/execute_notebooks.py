"""Execute the book's notebooks in place and print how long each one takes.

Usage (from the repository root, with the project's virtual environment)::

    .venv/bin/python scripts/execute_notebooks.py  # every notebook in book/
    .venv/bin/python scripts/execute_notebooks.py book/06_elbo.ipynb
    .venv/bin/python scripts/execute_notebooks.py --check

The last form times them and writes nothing. `make notebooks` runs the
first form. The kernels run in the portable numerical mode
(`scripts/portable_numerics.py`), as under `make test`, so the outputs
written are the ones that strict nbval compares in `make test` on any
x86-64 CPU; run this after changing the package or a notebook, and commit
the result. The table it prints (seconds per notebook,
on this machine) is the one quoted in the README.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
import portable_numerics
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 60.0


def coalesce_streams(cell: nbformat.NotebookNode) -> None:
    """Merge consecutive stdout (or stderr) outputs of a cell into one.

    The kernel flushes a cell's prints in chunks whose boundaries depend on
    timing; merged, the stored notebook is the same on every run (nbval
    compares the merged text either way).
    """
    merged: list = []
    for output in cell.get("outputs", []):
        previous = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    if "outputs" in cell:
        cell.outputs = merged


def execute(path: Path, write: bool) -> float:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        # No per-cell timestamps: they would change every committed notebook
        # on every run.
        record_timing=False,
        # No ipywidgets state (chapter 0's sliders): kilobytes of layout
        # for a cell the HTML removes, and its PNG bytes.
        store_widget_state=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    for cell in notebook.cells:
        coalesce_streams(cell)
    if write:
        nbformat.write(notebook, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument(
        "--check", action="store_true", help="time only, do not write outputs"
    )
    args = parser.parse_args(argv)
    # The kernels run in the numerical mode that the suite checks in, with
    # the project's IPython profile (which sets the mode's torch flags).
    unavailable = portable_numerics.enter()
    if unavailable and not args.check:
        print(
            f"error: cannot run in the portable numerical mode: "
            f"{unavailable}; outputs written here would not reproduce "
            f"elsewhere (scripts/portable_numerics.py)",
            file=sys.stderr,
        )
        return 2
    os.environ["IPYTHONDIR"] = str(ROOT / ".ipython")
    paths = args.notebooks or sorted((ROOT / "book").glob("*.ipynb"))
    rows = []
    for path in paths:
        seconds = execute(path.resolve(), write=not args.check)
        rows.append((path.name, seconds))
        print(f"executed {path.name} in {seconds:.1f} s", file=sys.stderr)
    width = max(len(name) for name, _ in rows)
    print(f"| {'notebook'.ljust(width)} | seconds |")
    print(f"| {'-' * width} | ------: |")
    for name, seconds in rows:
        flag = "  (over budget)" if seconds > BUDGET_SECONDS else ""
        print(f"| {name.ljust(width)} | {seconds:7.1f} |{flag}")
    print(f"| {'total'.ljust(width)} | {sum(s for _, s in rows):7.1f} |")
    return 1 if any(s > BUDGET_SECONDS for _, s in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
