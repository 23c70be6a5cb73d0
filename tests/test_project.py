"""The project's own files agree with each other: versions, environments, config."""

from __future__ import annotations

import re
import tomllib

import yaml

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
            assert "==" not in dep and "<" not in dep, f"{dep} would break Colab users"


def test_constraints_pin_the_environment_of_the_committed_outputs(root):
    lines = (root / "requirements" / "constraints.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert pins["torch"] == "2.13.0"
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    needed = [requirement_name(d) for d in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        needed += [requirement_name(d) for d in extra]
    normalise = lambda name: name.lower().replace("_", "-")
    pinned = {normalise(name) for name in pins}
    missing = [name for name in needed if normalise(name) not in pinned]
    assert not missing, f"not pinned in constraints.txt: {missing}"


def test_makefile_installs_with_the_constraints(root):
    makefile = (root / "Makefile").read_text()
    assert "-c $(CONSTRAINTS)" in makefile
    assert "CONSTRAINTS := requirements/constraints.txt" in makefile


def test_ci_runs_make_test_and_nothing_else(root):
    commands = [
        line for line in (root / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert commands == ["exec make test"]
