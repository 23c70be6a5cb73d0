"""The book builds with warnings as errors and contains every page of the toc."""

from __future__ import annotations

import re
from pathlib import Path

import yaml


def toc_files(root: Path) -> list[str]:
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
            files.extend(section["file"] for section in chapter.get("sections", []))
    return files


def test_book_builds_and_has_every_toc_page(built_book, root):
    for doc in toc_files(root):
        page = built_book / f"{Path(doc).with_suffix('')}.html"
        assert page.is_file(), f"{doc} in _toc.yml has no page {page}"


def test_api_reference_documents_the_package(built_book):
    html = (built_book / "book" / "api.html").read_text()
    for name in ["kl_diag_gaussian_std_normal", "kl_gaussians_full", "reparameterize",
                 "negative_elbo", "continuous_bernoulli_log_normalizer", "gaussian_nll"]:
        assert f'id="vaecourse.' in html and name in html, f"{name} missing from the API page"


def test_bibliography_lists_the_notes_sources(built_book):
    # The plain style lowercases titles, so compare without case.
    html = (built_book / "book" / "bibliography.html").read_text().lower()
    for title in ["Auto-Encoding Variational", "Early Visual Concept Learning", "DARLA",
                  "Understanding Variational Autoencoders", "VQ-VAE", "Loss Function",
                  "The Variational Auto-Encoder", "cnblogs"]:
        assert title.lower() in html, f"{title!r} missing from the bibliography"


def test_notebook_pages_have_a_colab_button(built_book, root):
    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    html = (built_book / "book" / "00_first_look.html").read_text()
    expected = f"https://colab.research.google.com/github/{repo}/blob/main/book/00_first_look.ipynb"
    assert expected in html


def test_pages_use_the_local_mathjax(built_book):
    html = (built_book / "book" / "00_first_look.html").read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', html, flags=re.I)
    assert scripts and all("cdn" not in s for s in scripts), scripts
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file()
