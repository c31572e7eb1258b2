"""The benchmarks import the app inside their functions, so nothing runs them in the suite: a
module or name moved in `app/` would break them unseen. Every `from app... import name` in
`benchmarks/` must resolve."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_every_name_a_benchmark_imports_from_the_app_exists(path: Path) -> None:
    missing = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app"):
            module = importlib.import_module(node.module or "")
            missing += [
                f"{node.module}.{a.name}" for a in node.names if not hasattr(module, a.name)
            ]
    assert missing == []
