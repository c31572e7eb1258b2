"""The shape of `app/`'s imports: no cycles between modules (imports inside functions count),
no blueprint importing another blueprint's views, nothing below the web layer importing it, and
the import and export features not importing each other."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of app/ and the modules of app/ it imports, wherever in it the import is."""
    paths = {module_name(p): p for p in APP.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, `level - 1` packages up
                    parents = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parents, base] if base else parents)
                # `from package import module` needs the module; `from module import name`,
                # the module
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                # `import a.b.c` needs a.b.c: the deepest module of app/ it names is the edge
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_app_imports_itself_back_through_others() -> None:
    assert cycles(import_graph()) == []


def reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` loads, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for other in graph[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    return seen


def test_no_blueprint_imports_another_blueprints_views() -> None:
    """Nor a module of another blueprint that loads its views (`review.py` adds routes to its
    blueprint, and loads the views it extends)."""
    graph = import_graph()
    crossings = []
    for name, targets in graph.items():
        parts = name.split(".")
        if parts[:2] != ["app", "web"] or len(parts) < 4:
            continue  # not inside a blueprint's package
        for target in targets:
            other = target.split(".")
            if other[:2] != ["app", "web"] or len(other) < 4 or other[2] == parts[2]:
                continue
            views = f"app.web.{other[2]}.views"
            if target == views or views in reaches(graph, target):
                crossings.append(f"{name} imports {target}")
    assert crossings == []


def test_services_and_jobs_never_import_the_web_layer() -> None:
    """Dependencies point down (docs/architecture.md): the import and export services, the jobs,
    the models and storage know nothing of views, the API's answers or URLs."""
    below = ("app.imports", "app.exports", "app.jobs", "app.models", "app.storage")
    upward = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if name.startswith(below)
        for target in targets
        if target.startswith("app.web")
    ]
    assert upward == []


def test_the_import_and_export_features_do_not_reach_into_each_other() -> None:
    """What both need (spreadsheet-safe cell text, sizes, models) lives below both."""
    crossings = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        for mine, theirs in (("app.imports", "app.exports"), ("app.exports", "app.imports"))
        if name.startswith(mine)
        for target in targets
        if target.startswith(theirs)
    ]
    assert crossings == []


def test_the_graph_sees_imports_inside_functions_and_relative_ones() -> None:
    """The checks above are only as good as the graph: a known function-level import."""
    graph = import_graph()
    # `maintenance.recover_jobs` imports the recovery module inside the function
    assert "app.jobs.recovery" in graph["app.jobs.maintenance"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_app_is_over_500_lines() -> None:
    """A module that long does more than one job (issue 13): split it by what it does."""
    long = {
        str(path.relative_to(APP.parent)): lines
        for path in APP.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 500
    }
    assert long == {}
