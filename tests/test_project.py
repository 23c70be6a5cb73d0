"""The project's own files agree: versions, environments, configuration."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from book_pages import ROOT

# conda names some packages differently from PyPI.
CONDA_TO_PYPI = {"pytorch": "torch"}


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~ \[;]", spec.strip(), maxsplit=1)[0].lower()


def test_environment_yml_names_the_same_runtime_packages_as_pyproject(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    runtime = {requirement_name(dep) for dep in project["dependencies"]}
    env = yaml.safe_load((root / "environment.yml").read_text())
    conda = {
        CONDA_TO_PYPI.get(requirement_name(dep), requirement_name(dep))
        for dep in env["dependencies"]
        if isinstance(dep, str)
    } - {"python", "pip"}
    assert conda == runtime


def test_pyproject_does_not_pin_what_colab_provides(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    for dep in project["dependencies"]:
        if requirement_name(dep) in {"torch", "numpy", "matplotlib"}:
            assert "==" not in dep and "<" not in dep, (
                f"{dep} would break Colab users"
            )


def test_constraints_pin_the_environment_of_the_committed_outputs(root):
    lines = (
        (root / "requirements" / "constraints.txt").read_text().splitlines()
    )
    pins = dict(
        line.split("==") for line in lines if line and not line.startswith("#")
    )
    assert pins["torch"] == "2.13.0"
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    needed = [requirement_name(d) for d in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        needed += [requirement_name(d) for d in extra]

    def normalise(name: str) -> str:
        return name.lower().replace("_", "-")

    pinned = {normalise(name) for name in pins}
    missing = [name for name in needed if normalise(name) not in pinned]
    assert not missing, f"not pinned in constraints.txt: {missing}"


def packages_in_pyproject(root: Path) -> set[str]:
    """The packages a build of the project contains, as pyproject.toml
    gives them: a list, or a ``find`` table."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]
    if isinstance(packages, list):
        return set(packages)
    from setuptools import find_packages

    find = packages["find"]
    return set(
        find_packages(
            where=str(root / find.get("where", ["."])[0]),
            include=find.get("include", ["*"]),
            exclude=find.get("exclude", []),
        )
    )


def test_pyproject_ships_every_package_of_vaecourse(root):
    # A non-editable install (Colab's, the wheel) holds only the packages
    # pyproject.toml names; the editable one in .venv hides a missing one.
    on_disk = {
        ".".join(init.parent.relative_to(root).parts)
        for init in (root / "vaecourse").rglob("__init__.py")
    }
    missing = sorted(on_disk - packages_in_pyproject(root))
    assert not missing, (
        f"not in [tool.setuptools] packages of pyproject.toml: {missing}"
    )


def test_makefile_installs_with_the_constraints(root):
    makefile = (root / "Makefile").read_text()
    assert "-c $(CONSTRAINTS)" in makefile
    assert "CONSTRAINTS := requirements/constraints.txt" in makefile


def test_ci_runs_make_test_and_nothing_else(root):
    commands = [
        line
        for line in (root / ".ci" / "run").read_text().splitlines()
        if line.strip()
        and not line.lstrip().startswith("#")
        and not line.startswith(("set ", "cd "))
    ]
    assert commands == ["exec make test"]


# ------------------------------------- make on a Python without ensurepip

NO_ENSUREPIP = 'raise ImportError("ensurepip removed by the test")\n'


def make_venv(tmp_path: Path, python: str, apt_get: str):
    """Run ``make .venv/bin/python`` in a copy of the project's set-up
    files, with ``PYTHON`` a wrapper of ``python`` that cannot import
    ensurepip (as on a fresh Debian or Ubuntu) and a stand-in apt-get
    (shell code, its arguments in "$@") first on the PATH."""
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "requirements").mkdir()
    shutil.copy(
        ROOT / "requirements" / "constraints.txt", tmp_path / "requirements"
    )
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "ensurepip.py").write_text(NO_ENSUREPIP)
    wrapper = tmp_path / "python-without-ensurepip"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={shadow} exec {python} "$@"\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(
        f'#!/bin/sh\necho "$@" >> {tmp_path}/apt-get.log\n{apt_get}\n'
    )
    for script in (wrapper, bin_dir / "apt-get"):
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            ".venv/bin/python",
            f"PYTHON={wrapper}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = tmp_path / "apt-get.log"
    calls = log.read_text().splitlines() if log.is_file() else []
    return result, calls


def debian_python() -> tuple[str, str]:
    """Debian's or Ubuntu's /usr/bin/python3 and its venv package."""
    python = "/usr/bin/python3"
    if shutil.which("make") is None or not os.access(python, os.X_OK):
        pytest.skip("needs make and /usr/bin/python3")
    probe = subprocess.run(
        [
            python,
            "-c",
            "import sys; print(sys.base_prefix, "
            "'python%d.%d-venv' % sys.version_info[:2])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if probe[0] != "/usr":
        pytest.skip(f"{python} is not the system's Python")
    return python, probe[1]


def is_root() -> bool:
    """Where the Makefile may run apt-get (ours is always on the PATH)."""
    return os.getuid() == 0


def test_make_names_the_venv_package_it_could_not_install(tmp_path):
    python, package = debian_python()
    # The install fails, as it does offline.
    result, calls = make_venv(
        tmp_path, python, apt_get='[ "$1" = update ] || exit 100'
    )
    assert result.returncode != 0
    assert f"sudo apt-get install {package}" in result.stdout, result.stdout
    expected = [f"install -y -qq {package}"] if is_root() else []
    assert [call for call in calls if "install" in call] == expected
    assert not (tmp_path / ".venv").exists()


def test_make_installs_the_venv_package_then_makes_the_venv(tmp_path):
    python, package = debian_python()
    if not is_root():
        pytest.skip("installs with apt-get only as root")
    # The stand-in cannot install ensurepip: the real one must be there.
    probe = subprocess.run(
        [python, "-c", "import ensurepip"], capture_output=True
    )
    if probe.returncode:
        pytest.skip(f"{python} has no ensurepip ({package} not installed)")
    # The stand-in "installs" the package: ensurepip comes back.
    installs = f'[ "$1" = install ] && rm {tmp_path}/shadow/ensurepip.py'
    result, calls = make_venv(tmp_path, python, apt_get=installs + "; :")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"install -y -qq {package}" in calls
    assert (tmp_path / ".venv" / "bin" / "python").exists()


def test_make_stops_on_a_python_without_ensurepip_outside_debian(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("needs make")
    # The test's own Python: a venv, whose base is not Debian's /usr.
    prefix = sys.base_prefix
    if prefix == "/usr":
        pytest.skip("this Python is the system's")
    result, calls = make_venv(tmp_path, sys.executable, apt_get=":")
    assert result.returncode != 0
    assert "has no ensurepip module" in result.stdout, result.stdout
    assert f"is the Python in {prefix}: reinstall it" in result.stdout
    assert calls == []
    assert not (tmp_path / ".venv").exists()
