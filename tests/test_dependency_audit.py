"""The locked dependencies: the lock covers pyproject.toml, and the audit says what it checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

AUDIT = ROOT / ".ci" / "audit_dependencies.py"


def locked() -> dict[str, str]:
    """Package name -> pinned version, from requirements.lock."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_lock_pins_every_dependency_of_pyproject_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = locked()
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
        )


def judge(tmp_path: Path, dependencies: list[dict[str, object]], **env: str) -> tuple[int, str]:
    """Run the audit's verdict on a pip-audit JSON report."""
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"dependencies": dependencies, "fixes": []}))
    result = subprocess.run(
        [sys.executable, str(AUDIT), "--report", str(report)],
        capture_output=True,
        text=True,
        env={**os.environ, "REQUIRE_AUDIT": "", **env},
        check=False,
    )
    return result.returncode, result.stdout


CLEAN = {"name": "flask", "version": "3.1.3", "vulns": []}
SKIPPED = {"name": "redis", "skip_reason": "Dependency not found and could not be audited"}
VULNERABLE = {
    "name": "jinja2",
    "version": "2.10",
    "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"], "description": "sandbox"}],
}


def test_a_known_vulnerability_fails_the_audit(tmp_path: Path) -> None:
    code, out = judge(tmp_path, [CLEAN, VULNERABLE])
    assert code == 1
    assert "VULNERABLE: jinja2 2.10: PYSEC-2019-217 (fixed in 2.10.1)" in out


def test_a_clean_audit_says_how_many_packages_it_checked(tmp_path: Path) -> None:
    code, out = judge(tmp_path, [CLEAN, {**CLEAN, "name": "rq"}])
    assert code == 0
    assert "2 locked packages checked, no known vulnerabilities" in out


@pytest.mark.parametrize(("require", "expected"), [("", 0), ("1", 1)])
def test_packages_that_could_not_be_checked_are_never_passed_silently(
    tmp_path: Path, require: str, expected: int
) -> None:
    code, out = judge(tmp_path, [CLEAN, SKIPPED], REQUIRE_AUDIT=require)
    assert code == expected
    assert "DEPENDENCY AUDIT INCOMPLETE: 1 of 2 locked packages could NOT be checked" in out
    assert "no known vulnerabilities" not in out
