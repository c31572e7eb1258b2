"""What CI runs: `.ci/run` calls `make test`, and `make test` runs every check, mypy included."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_make_test() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[-1].strip() == "make test"


def test_make_test_runs_security_lint_types_and_the_suite_in_that_order() -> None:
    planned = subprocess.run(  # `-n`: print the recipe, run nothing
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    steps = ["bin/bandit", "bin/ruff check", "bin/ruff format --check", "bin/mypy", "-m pytest"]
    positions = [planned.find(step) for step in steps]
    assert all(p >= 0 for p in positions), dict(zip(steps, positions, strict=True))
    assert positions == sorted(positions)
