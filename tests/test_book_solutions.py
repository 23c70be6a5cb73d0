"""Solutions that the book shows as code blocks rather than executed cells.

A solution too slow for its chapter's 60 s shows its code in a ``python``
block and what it prints in the ``text`` block right after ("prints").
These tests run each such block, in the chapter's names, and check that it
prints exactly what the text says.
"""

from __future__ import annotations

import contextlib
import io
import re

import nbformat
import pytest
import torch
from book_pages import BOOK_DIR

SHOWN = re.compile(
    r"```python\n(.*?)```\s*\n\s*prints[^\n]*\n\s*```text\n(.*?)```", re.S
)


def shown_solutions(chapter: str) -> list[tuple[str, str]]:
    """(code, printed) of every solution block followed by its output."""
    notebook = nbformat.read(BOOK_DIR / f"{chapter}.ipynb", as_version=4)
    return [
        (code, printed)
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for code, printed in SHOWN.findall(cell.source)
    ]


def chapter_8_names() -> dict:
    """The names chapter 8 has defined where its exercises start."""
    from vaecourse import data, train
    from vaecourse.models import VAE

    return {
        "data": data,
        "train": train,
        "VAE": VAE,
        "torch": torch,
        "settings": dict(epochs=10, batch_size=100, lr=3e-3, seed=0),
        "train_data": data.load_mnist_subset("train", binarized=True),
        "test_images": data.load_mnist_subset("test", binarized=True).images,
    }


def test_chapter_8_shows_two_solutions_with_their_output():
    assert len(shown_solutions("08_training_a_vae")) == 2


@pytest.mark.parametrize("index", [0, 1])
def test_a_shown_solution_prints_what_the_text_says(index):
    code, printed = shown_solutions("08_training_a_vae")[index]
    out, threads = io.StringIO(), torch.get_num_threads()
    torch.set_num_threads(1)  # as the chapter
    try:
        with contextlib.redirect_stdout(out):
            exec(code, chapter_8_names())
    finally:
        torch.set_num_threads(threads)
    assert out.getvalue() == printed
