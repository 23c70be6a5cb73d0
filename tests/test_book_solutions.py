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


def chapter_names() -> dict:
    """The names chapters 8 and 9 have defined where their exercises start."""
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


# The grey images (chapter 8) and the KL warm-up (chapter 9).
SHOWN_IN = ["08_training_a_vae", "09_inside_a_trained_vae"]


@pytest.mark.parametrize("chapter", SHOWN_IN)
def test_the_chapter_shows_one_solution_with_its_output(chapter):
    assert len(shown_solutions(chapter)) == 1


@pytest.mark.parametrize("chapter", SHOWN_IN)
def test_a_shown_solution_prints_what_the_text_says(chapter):
    ((code, printed),) = shown_solutions(chapter)
    out, threads = io.StringIO(), torch.get_num_threads()
    torch.set_num_threads(1)  # as the chapter
    try:
        with contextlib.redirect_stdout(out):
            exec(code, chapter_names())
    finally:
        torch.set_num_threads(threads)
    assert out.getvalue() == printed
