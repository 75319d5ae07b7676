"""The layout's rules, read from the source itself: who may import whom, and no cycles.

A broken rule does not fail at run time until the wrong process starts in the wrong order,
so it is pinned here, where a move that breaks it fails at once with the offending import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

PRODUCT = ("backend_services", "bot_fleet", "replyx_app", "state", "components")
UI_AND_PROCESSES = ("state", "components", "replyx_app", "bot_fleet", "reflex")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> Iterator[tuple[str, int]]:
    """Every product module this one imports, at any depth of its code, with the line."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from pkg import submodule` imports the submodule; otherwise the module.
                sub = f"{base}.{alias.name}"
                yield (sub if sub in MODULES else base), node.lineno


def _graph() -> dict[str, set[str]]:
    return {
        m: {target for target, _ in _imports(m) if target in MODULES and target != m}
        for m in MODULES
    }


def test_backend_services_imports_no_ui_or_process_code() -> None:
    offending = [
        f"{m} line {line}: {target}"
        for m in MODULES if m.startswith("backend_services")
        for target, line in _imports(m)
        if target.split(".")[0] in UI_AND_PROCESSES
    ]
    assert offending == []


def test_the_core_imports_no_domain() -> None:
    offending = [
        f"{m} line {line}: {target}"
        for m in MODULES if m.startswith("backend_services.core")
        for target, line in _imports(m)
        if target.startswith("backend_services.")
        and not target.startswith(("backend_services.core", "backend_services.models"))
    ]
    assert offending == []


def test_no_import_cycle_in_product_code() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert [" → ".join(c) for c in cycles] == []


def test_the_rules_see_the_imports_they_check() -> None:
    """The checks above would pass on an empty graph: make sure they read real edges."""
    graph = _graph()
    assert "backend_services.core.db" in graph["backend_services.knowledge.sources"]
    assert "backend_services.knowledge.ingest" not in graph["backend_services.core.jobs"]
    assert len(MODULES) > 100


def test_the_page_registry_is_the_one_source_of_routes_guards_and_navigation() -> None:
    import replyx_app.replyx_app  # noqa: F401  (imports every page, as the web process does)
    from replyx_app.pages.registry import _GUARDS, ROUTES, nav_items

    paths = [r.path for r in ROUTES]
    assert len(paths) == len(set(paths))
    # Anyone may open only the sign-in pages (and the mailed links' pages), the widget
    # and the root redirect.
    open_to_all = {r.path for r in ROUTES if r.role is None}
    assert open_to_all == {"/", "/widget", "/login", "/signup", "/confirm", "/forgot",
                           "/reset", "/invite", "/confirm-email-change"}
    for route in ROUTES:
        if route.role is not None:
            assert route.on_load[0] is _GUARDS[route.role], route.path
    by_path = {r.path: r for r in ROUTES}
    nav = nav_items()
    assert [n.route for n in nav if n.route not in by_path] == []
    assert all(n.role == (by_path[n.route].role or "operator") for n in nav)
    assert {"/dashboard", "/console", "/admin"} <= {n.route for n in nav}


# What callers outside backend_services may take from the table models: the role enum.
# Everything else reaches them as typed views (docs/decisions.md, 70).
VIEW_ONLY = ("state", "components", "replyx_app.api", "replyx_app.pages", "bot_fleet")
MODEL_NAMES_ALLOWED = {"Role", "ROLE_RANK"}


def test_states_pages_and_routes_get_views_not_table_rows() -> None:
    offending = []
    for m, path in MODULES.items():
        if not m.startswith(VIEW_ONLY):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "backend_services.models"):
                offending += [f"{m} line {node.lineno}: {a.name}" for a in node.names
                              if a.name not in MODEL_NAMES_ALLOWED]
            elif isinstance(node, ast.Import):
                offending += [f"{m} line {node.lineno}: {a.name}" for a in node.names
                              if a.name.startswith("backend_services.models")]
    assert offending == []


def test_the_fleet_reads_no_tables_and_keeps_no_module_state() -> None:
    """bot_fleet reaches the data through services (no sessions, no SQL), and what a worker
    holds (counters, bots, the sender's wake-up, status reports) lives on the worker and
    reaches handlers through the dispatcher's data: no mutable module globals, no
    `global` statements, so two workers in one process (or a test) share nothing."""
    data_layer = ("backend_services.core.db", "sqlmodel", "sqlalchemy")
    mutable = {"dict", "list", "set", "Counter", "defaultdict", "Event", "Semaphore", "Lock"}
    offending = []
    for m, path in MODULES.items():
        if not m.startswith("bot_fleet"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(data_layer):
                offending.append(f"{m} line {node.lineno}: imports {node.module}")
            elif isinstance(node, ast.Global):
                offending.append(f"{m} line {node.lineno}: global {', '.join(node.names)}")
        for node in tree.body:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(value, (ast.Dict, ast.List, ast.Set)) or (
                    isinstance(value, ast.Call) and
                    getattr(value.func, "attr", getattr(value.func, "id", "")) in mutable):
                offending.append(f"{m} line {node.lineno}: module-level mutable state")
    assert offending == []
