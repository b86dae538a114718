"""The package's imports go one way: no module imports, even for types only, a module
that imports it back. Every import counts: at module level, under ``if TYPE_CHECKING:``
and inside functions (a lazy import is a dependency all the same), except the few late
imports of :data:`LATE_IMPORTS`, by which a lower layer reaches a higher one at run
time for an API of procrastinate 3.x; each is named with its reason, so that a new
one is a decision, not an accident."""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

import procrastinate

PACKAGE = "procrastinate"
ROOT = pathlib.Path(procrastinate.__file__).parent

Graph = dict[str, set[str]]

#: (importer, imported): why the importer, below, imports the other inside a function.
LATE_IMPORTS = {
    ("procrastinate.app", "procrastinate.worker"): (
        "App.run_worker (3.x) builds the Worker that runs the app"
    ),
    ("procrastinate.app", "procrastinate.builtin_tasks"): (
        "every App carries the builtin tasks, whose JobContext holds the App"
    ),
    ("procrastinate.jobs", "procrastinate.deferrer"): (
        "procrastinate.jobs.JobDeferrer, the 3.x path of the deferrer"
    ),
}


def module_name(path: pathlib.Path, root: pathlib.Path = ROOT) -> str:
    """The dotted name of the module in ``path`` (a package by its ``__init__``)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def late_import_nodes(tree: ast.AST) -> set[ast.AST]:
    """The import statements of ``tree`` that stand inside a function."""
    return {
        node
        for function in ast.walk(tree)
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(function)
        if isinstance(node, (ast.Import, ast.ImportFrom))
    }


def imported_names(
    tree: ast.AST, module: str, is_package: bool, modules: set[str]
) -> set[str]:
    """The modules of ``modules`` that the imports of ``tree`` name, relative imports
    resolved. ``from x import y`` names the module ``x.y`` when there is one (Python
    runs ``x/__init__`` too, but that is its doing, not a dependency chosen here), and
    ``x`` otherwise."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                names.add(submodule if submodule in modules else base)
    return names & modules


def import_graphs(root: pathlib.Path = ROOT) -> tuple[Graph, Graph]:
    """For each module of the package, the modules of the package it imports: all
    of them, and those imported inside a function only."""
    paths = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: Graph = {}
    late: Graph = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        late_nodes = late_import_nodes(tree)
        early: set[str] = set()
        late_names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = imported_names(node, module, is_package, set(paths))
                (late_names if node in late_nodes else early).update(names)
        graph[module] = (early | late_names) - {module}
        late[module] = late_names - early - {module}
    return graph, late


def import_graph(root: pathlib.Path = ROOT) -> Graph:
    """The imports of each module, without the allowed :data:`LATE_IMPORTS`."""
    graph, late = import_graphs(root)
    return {
        module: {
            name
            for name in names
            if not (name in late[module] and (module, name) in LATE_IMPORTS)
        }
        for module, names in graph.items()
    }


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of the graph, as the list of its modules (first one repeated at the
    end), or ``None``."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack = [(start, iter(sorted(graph[start])))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                return [*path[path.index(child) :], child]
            elif child not in done:
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
                on_path.add(child)
    return None


def test_find_cycle_names_the_modules_of_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_imported_names_sees_type_only_lazy_and_relative_imports() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from procrastinate import app, __version__\n"
        "def f():\n"
        "    import procrastinate.worker\n"
        "from . import jobs\n"
        "from .sql import facts\n"
    )
    modules = {
        "procrastinate",
        "procrastinate.app",
        "procrastinate.worker",
        "procrastinate.jobs",
        "procrastinate.sql",
        "procrastinate.sql.facts",
    }
    names = imported_names(tree, "procrastinate.x", False, modules)
    # ``__version__`` is no module: that import names the package itself.
    assert names == modules - {"procrastinate.sql"}


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "procrastinate.manager" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "Import cycle: " + " -> ".join(cycle or [])


def test_every_allowed_late_import_is_still_one() -> None:
    _, late = import_graphs()
    stale = [pair for pair in LATE_IMPORTS if pair[1] not in late[pair[0]]]
    assert stale == []


#: The connector layer: the modules that talk to PostgreSQL (or stand in for it).
CONNECTOR_PREFIXES = (
    "procrastinate.connector",
    "procrastinate.psycopg_common",
    "procrastinate.psycopg_connector",
    "procrastinate.sync_psycopg_connector",
    "procrastinate.contrib.aiopg",
    "procrastinate.contrib.psycopg2",
    "procrastinate.contrib.sqlalchemy",
    "procrastinate.testing",
)
#: What the connector layer may reach, directly or not: itself and the layers below.
BELOW_CONNECTORS = (
    *CONNECTOR_PREFIXES,
    "procrastinate.exceptions",
    "procrastinate.jobs",
    "procrastinate.sql",
    "procrastinate.types",
    "procrastinate.utils",
)


def reachable(graph: Graph, start: str) -> set[str]:
    """Every module that ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for name in graph.get(todo.pop(), set()) - seen:
            seen.add(name)
            todo.append(name)
    return seen


def test_reachable_follows_imports_through_other_modules() -> None:
    graph: Graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert reachable(graph, "a") == {"a", "b", "c"}


def test_connectors_reach_nothing_above_them() -> None:
    graph = import_graph()
    connectors = [name for name in graph if name.startswith(CONNECTOR_PREFIXES)]
    assert connectors
    above = {
        connector: sorted(
            name
            for name in reachable(graph, connector)
            if not name.startswith(BELOW_CONNECTORS)
        )
        for connector in connectors
    }
    assert {connector: names for connector, names in above.items() if names} == {}


def test_exceptions_import_nothing_from_the_package() -> None:
    assert import_graph()["procrastinate.exceptions"] == set()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("procrastinate.jobs", "JobDeferrer"),
        ("procrastinate.manager", "JobManager"),
        ("procrastinate.manager", "QUEUEING_LOCK_CONSTRAINT"),
        ("procrastinate.manager", "get_channel_for_queues"),
        ("procrastinate.exceptions", "JobRetry"),
        ("procrastinate.retry", "RetryDecision"),
        ("procrastinate.tasks", "configure_task"),
        ("procrastinate.app", "App"),
        ("procrastinate.blueprints", "Blueprint"),
    ],
)
def test_3x_import_paths_keep_working(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None
