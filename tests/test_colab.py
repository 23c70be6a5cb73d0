"""Colab: every chapter's set-up cell, and a chapter run as Colab runs it.

Colab opens a chapter from the repository in an environment that already has
torch, numpy, matplotlib and sympy but not `vaecourse`; the chapter's set-up
cell must install `vaecourse` from the repository, and the chapter must then
run to the end. `test_a_chapter_runs_in_a_colab_like_environment` simulates
that offline:

* a fresh virtual environment whose pre-installed packages (torch, numpy,
  matplotlib, sympy, and ipykernel to run the kernel) come from a cached venv,
  `.cache/colab-venv`, rebuilt only when the constraints file or this list
  changes (the first build takes a minute or two);
* a stand-in `google.colab` module on the kernel's path;
* the set-up cell's repository URL redirected to this checkout:
  `git+file://localhost<checkout>`. pip then clones the checkout's committed
  HEAD, as Colab clones the repository, so the test also catches a module
  that was never committed. The notebook is taken from HEAD too, so package
  and chapter always match; uncommitted changes are tested once committed
  (in CI the checkout is a clean clone: HEAD is the code under test). Outside
  a git checkout, the working tree is installed instead.

The chapters run are those of COLAB_CHAPTERS, or of the environment variable
VAECOURSE_COLAB_CHAPTERS (comma-separated paths, or "all").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from book_pages import ROOT, book_config, colab_setup_source, notebooks
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

# The cheapest chapter; its set-up cell is the same as every other's.
COLAB_CHAPTERS = ["book/00_first_look.ipynb"]
# What Colab has and the course needs; the rest must come from the set-up cell.
COLAB_PREINSTALLED = [
    "torch==2.13.0",
    "numpy",
    "matplotlib",
    "sympy",
    "ipykernel",
]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
BASE_VENV = ROOT / ".cache" / "colab-venv"


def repository_url() -> str:
    return book_config()["repository"]["url"]


def setup_cell(notebook) -> nbformat.NotebookNode:
    return next(cell for cell in notebook.cells if cell.cell_type == "code")


# ------------------------------------------------------ the set-up cell


@pytest.mark.parametrize("path", notebooks(), ids=lambda path: path.name)
def test_every_chapter_has_the_same_setup_cell(path):
    cell = setup_cell(nbformat.read(path, as_version=4))
    assert cell.source == colab_setup_source(repository_url()), (
        f"{path.relative_to(ROOT)}: the first code cell is not the Colab "
        "set-up cell (tests/book_pages.py:colab_setup_source, with "
        "_config.yml's repository.url)"
    )
    assert "hide-cell" in cell.metadata.get("tags", []), (
        f"{path.name}: set-up cell not tagged hide-cell"
    )
    assert cell.outputs == [], (
        f"{path.name}: the set-up cell printed something outside Colab"
    )


def test_setup_cell_does_nothing_outside_colab_and_installs_inside():
    """Run the set-up cell in the project's kernel with `%pip` replaced by a
    recorder: without google.colab it must not call pip; with a stand-in
    google.colab it must call it once, for the configured repository."""
    setup = colab_setup_source(repository_url())
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "pip_calls = []\n"
                "get_ipython().register_magic_function("
                "pip_calls.append, 'line', 'pip')"
            ),
            nbformat.v4.new_code_cell(setup),
            nbformat.v4.new_code_cell("print(pip_calls)"),
            nbformat.v4.new_code_cell(
                "import sys, types\n"
                "sys.modules['google'] = types.ModuleType('google')\n"
                "sys.modules['google.colab'] = "
                "types.ModuleType('google.colab')"
            ),
            nbformat.v4.new_code_cell(setup),
            nbformat.v4.new_code_cell("print(pip_calls)"),
        ]
    )
    NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    ).execute()
    outside, calls_outside, _, inside, calls_inside = notebook.cells[1:]
    assert outside.outputs == [], (
        "the set-up cell printed something outside Colab"
    )
    assert calls_outside.outputs[0]["text"] == "[]\n", (
        "the set-up cell ran pip outside Colab"
    )
    assert inside.outputs == []
    expected = [f'install -q "vaecourse @ git+{repository_url()}"']
    assert calls_inside.outputs[0]["text"] == f"{expected!r}\n"


# ------------------------------------------------------ the round trip


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        **kwargs,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, command))} failed:\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}",
            pytrace=False,
        )
    return result


def colab_base_venv() -> Path:
    """The cached venv with Colab's preinstalled packages (never vaecourse)."""
    key = hashlib.sha256(
        json.dumps(
            [
                COLAB_PREINSTALLED,
                CONSTRAINTS.read_text(),
                sys.version,
                sys.base_prefix,
            ]
        ).encode()
    ).hexdigest()
    stamp = BASE_VENV / ".inputs-sha256"
    if stamp.is_file() and stamp.read_text() == key:
        return BASE_VENV
    shutil.rmtree(BASE_VENV, ignore_errors=True)
    run([sys.executable, "-m", "venv", BASE_VENV])
    # Pinned through the constraints: pip installs torch 2.13.0 (CPU) from the
    # local wheel, never a multi-GB download.
    run(
        [
            BASE_VENV / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            CONSTRAINTS,
            *COLAB_PREINSTALLED,
        ]
    )
    stamp.write_text(key)
    return BASE_VENV


def fresh_colab_venv(where: Path) -> Path:
    """A new, empty venv that sees the base venv's packages, as Colab's Python
    sees its pre-installed ones: pip installs into the new venv only."""
    base = colab_base_venv()
    run([sys.executable, "-m", "venv", "--without-pip", where])
    python = where / "bin" / "python"
    site_packages = Path(
        run(
            [
                python,
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ]
        ).stdout.strip()
    )
    base_site = Path(
        run(
            [
                base / "bin" / "python",
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ]
        ).stdout.strip()
    )
    (site_packages / "colab_preinstalled.pth").write_text(
        f"import site; site.addsitedir({str(base_site)!r})\n"
    )
    return where


def clean_env(**extra: str) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("PYTHON", "VIRTUAL_ENV", "JUPYTER", "IPYTHON", "PIP_CONSTRAINT")
        )
    }
    env.update(extra)
    return env


def in_git_checkout() -> bool:
    return (
        subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "rev-parse",
                "--verify",
                "--quiet",
                "HEAD",
            ],
            capture_output=True,
        ).returncode
        == 0
        and (ROOT / ".git").exists()
    )


def package_source_and_notebook(
    chapter: str, tmp_path: Path
) -> tuple[str, nbformat.NotebookNode]:
    if in_git_checkout():
        # pip 23 (Python 3.11's) rejects git+file:///path; the localhost form
        # is accepted by all.
        text = run(["git", "-C", ROOT, "show", f"HEAD:{chapter}"]).stdout
        return f"git+file://localhost{ROOT}", nbformat.reads(
            text, as_version=4
        )
    source = tmp_path / "vae-course"
    source.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "vaecourse",
        source / "vaecourse",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return f"file://localhost{source}", nbformat.read(
        ROOT / chapter, as_version=4
    )


def chapters_to_run() -> list[str]:
    chosen = os.environ.get("VAECOURSE_COLAB_CHAPTERS")
    if chosen == "all":
        return [str(path.relative_to(ROOT)) for path in notebooks()]
    return chosen.split(",") if chosen else COLAB_CHAPTERS


@pytest.mark.slow
@pytest.mark.parametrize("chapter", chapters_to_run())
def test_a_chapter_runs_in_a_colab_like_environment(
    chapter, tmp_path, monkeypatch
):
    venv = fresh_colab_venv(tmp_path / "colab-venv")
    python = venv / "bin" / "python"
    content = tmp_path / "content"  # Colab's working directory
    content.mkdir()

    probe = (
        "import importlib.util as u; "
        "print(sorted(m for m in "
        "['vaecourse', 'torch', 'numpy', 'matplotlib', 'sympy'] "
        "if u.find_spec(m)))"
    )
    before = run(
        [python, "-c", probe], cwd=content, env=clean_env()
    ).stdout.strip()
    assert before == "['matplotlib', 'numpy', 'sympy', 'torch']", (
        f"before the set-up cell: {before}"
    )

    standin = tmp_path / "standin"
    (standin / "google" / "colab").mkdir(parents=True)
    (standin / "google" / "colab" / "__init__.py").write_text(
        '"""Stand-in for Colab\'s google.colab: '
        'the set-up cell only imports it."""\n'
    )

    package_url, notebook = package_source_and_notebook(chapter, tmp_path)
    cell = setup_cell(notebook)
    assert cell.source == colab_setup_source(repository_url()), (
        f"{chapter}: not the canonical set-up cell"
    )
    cell.source = cell.source.replace(f"git+{repository_url()}", package_url)
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import importlib.metadata, vaecourse\n"
            "print(vaecourse.__file__)\n"
            "print(importlib.metadata.distribution('vaecourse').read_text('direct_url.json'))"
        )
    )

    kernels = tmp_path / "jupyter" / "kernels" / "colab-standin"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    str(python),
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "Colab stand-in",
                "language": "python",
                "env": {
                    "PYTHONPATH": str(standin),
                    "IPYTHONDIR": str(tmp_path / "ipython"),
                    # vaecourse's other dependencies (scipy, scikit-learn,
                    # ...) resolve to the pinned versions, found offline.
                    "PIP_CONSTRAINT": str(CONSTRAINTS),
                    "PIP_NO_COMPILE": "1",
                },
            }
        )
    )
    for name in ["PYTHONPATH", "VIRTUAL_ENV", "PIP_CONSTRAINT"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))

    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="colab-standin",
        resources={"metadata": {"path": str(content)}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(
            f"{chapter} failed in the Colab-like environment:\n{error}"[
                -6000:
            ],
            pytrace=False,
        )

    assert not [o for o in cell.outputs if o.output_type == "error"], (
        cell.outputs
    )
    # The two prints may arrive as one stream output or as two.
    printed = "".join(
        output.get("text", "") for output in notebook.cells[-1].outputs
    )
    installed_file, direct_url = printed.splitlines()[:2]
    assert installed_file.startswith(str(venv)), (
        f"vaecourse imported from {installed_file}, not the fresh venv"
    )
    assert json.loads(direct_url)["url"] == package_url.removeprefix("git+"), (
        direct_url
    )
    after = run(
        [python, "-c", probe], cwd=content, env=clean_env()
    ).stdout.strip()
    assert after == "['matplotlib', 'numpy', 'sympy', 'torch', 'vaecourse']", (
        after
    )
