"""The install files agree with each other, and the two README commands are wired up."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted |= set(extra)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    have = {p for p in pip if not p.startswith("-e")}
    # Same packages with the same version specifiers, both ways.
    assert {_name(p): p.replace(" ", "") for p in have} == {
        _name(p): p.replace(" ", "") for p in wanted
    }
    py = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, py.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))


def test_readme_and_ci_use_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make reproduce" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^reproduce:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_make_test_skips_slow_tests_and_ci_runs_them_all():
    """`make test` passes -m "not slow" to pytest; `.ci/run` empties it (every test) and sets
    CI=true (a test that needs ../shared fails there instead of skipping)."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'^PYTEST_ARGS \?= -m "not slow"$', makefile, re.M)
    assert re.search(r"^\t\$\(BIN\)/python -m pytest -q \$\(PYTEST_ARGS\)$", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test PYTEST_ARGS=$", ci, re.M)
    assert 'export CI="${CI:-true}"' in ci
