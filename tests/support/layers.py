"""The architecture as one table, and the checker that holds the package's imports to it.

`LAYERS` says, for each package, which packages it may import: the one source of truth. Each
package's `__init__` docstring states its line ("May import: ..."), and the README's code map
has one row per entry; `tests/test_layer_docs.py` compares both with this table.

Rules, beyond the table (see `import_graph` for what counts as an import):
- a module may import its own package and that package's sub-layers (`sending` may import
  `sending.delivery`), never its parent (`sending.delivery` may not import `sending`);
  allowing a package allows its sub-layers too (`web` may import `sending.mime`);
- no import cycle between modules (function-level imports count);
- a dynamic import names a module that exists, or one of `DYNAMIC_IMPORTS_OUTSIDE`;
- web views (every module of `web/` but `web/app.py`, which builds the app and opens the
  engine) import from `sqlalchemy` only `Engine` (typing) and `sqlalchemy.exc`, nothing named
  `text` or `select`, none of `WEB_VIEW_FORBIDDEN`, and call no connection method
  (`WEB_VIEW_CALLS`): they reach the database through functions of the packages below.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.import_graph import Graph, graph, modules, parse

PACKAGE = "newsletter"

# package -> what it may import. The kernel is the package's own top-level modules; `__main__`
# (`python -m newsletter`) stands apart: it only runs the CLI.
LAYERS: dict[str, frozenset[str]] = {
    "kernel": frozenset(),
    "__main__": frozenset({"cli"}),
    "db": frozenset({"kernel"}),
    "authoring": frozenset({"db", "kernel"}),
    "audience": frozenset({"db", "kernel"}),
    "tracking": frozenset({"authoring", "audience", "db", "kernel"}),
    "sending": frozenset({"tracking", "authoring", "audience", "db", "kernel"}),
    "sending.mime": frozenset({"authoring", "audience", "kernel"}),
    "sending.delivery": frozenset({"sending.mime", "authoring", "kernel"}),
    "sequences": frozenset({"sending", "tracking", "authoring", "audience", "db", "kernel"}),
    "mailbox": frozenset({"sending", "audience", "db", "kernel"}),
    "web": frozenset({"sequences", "sending", "tracking", "audience", "db", "kernel"}),
    "cli": frozenset(
        {
            "web",
            "mailbox",
            "sequences",
            "sending",
            "tracking",
            "audience",
            "authoring",
            "db",
            "kernel",
        }
    ),
}

# The modules outside the package that a dynamic import may load (render.py's stand-ins).
DYNAMIC_IMPORTS_OUTSIDE = frozenset({"requests", "urllib.request"})

KERNEL_PACKAGES = frozenset({"config"})
WEB_APP = "web.app"
WEB_VIEW_FORBIDDEN = tuple(
    f"db.{name}" for name in ("connection", "engine", "tables", "transaction", "dialect", "clock")
)
WEB_VIEW_CALLS = frozenset({"connect", "begin", "execute", "exec_driver_sql", "raw_connection"})
WEB_VIEW_SQLALCHEMY = {"sqlalchemy": {"Engine"}, "sqlalchemy.exc": None}  # None: any name


def groups(root: Path, package: str = PACKAGE) -> tuple[dict[str, str], list[str]]:
    """module -> its table entry (`kernel`, `sending.delivery`, ...), and the modules in none."""
    out: dict[str, str] = {}
    lost: list[str] = []
    for module, path in modules(root, package).items():
        parts = module.split(".")[1:]
        if parts == ["__main__"]:
            out[module] = "__main__"
        elif (
            not parts
            or (len(parts) == 1 and path.name != "__init__.py")
            or parts[0] in KERNEL_PACKAGES
        ):
            out[module] = "kernel"
        else:  # the longest entry that names the module's folder
            folders = (".".join(parts[:n]) for n in range(len(parts), 0, -1))
            entry = next((folder for folder in folders if folder in LAYERS), None)
            if entry is None:
                lost.append(f"{module} belongs to no layer: add its folder to LAYERS")
            else:
                out[module] = entry
    return out, lost


def may_import(source: str, target: str, table: dict[str, frozenset[str]] = LAYERS) -> bool:
    """May a module of entry `source` import one of entry `target`?"""
    if target == source or target.startswith(source + "."):
        return True
    parts = target.split(".")
    return any(".".join(parts[:size]) in table[source] for size in range(1, len(parts) + 1))


def table_problems(table: dict[str, frozenset[str]]) -> list[str]:
    """Entries naming no entry, sub-layers allowed their parent, and cycles: the table must be
    a true order."""
    problems = [
        f"LAYERS[{name!r}] names {other!r}, which is no entry"
        for name, allowed in table.items()
        for other in sorted(allowed - set(table))
    ]
    problems += [
        f"LAYERS[{name!r}] names its parent {other!r}: a sub-layer imports down only"
        for name, allowed in table.items()
        for other in sorted(allowed)
        if name.startswith(other + ".")
    ]
    for start in table:
        seen, todo = set(), list(table[start])
        while todo:
            node = todo.pop()
            if node == start:
                problems.append(f"LAYERS has a cycle through {start!r}")
                break
            if node not in seen and node in table:
                seen.add(node)
                todo += table[node]
    return problems


def _cycles(graph_: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph_):
        if start in index:
            continue
        work = [(start, iter(sorted(graph_.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph_.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def _layer_problems(found: Graph, group: dict[str, str], package: str) -> list[str]:
    problems = []
    for e in found.edges:
        source, target = group[e.source], group[e.target]
        if not may_import(source, target):
            allowed = ", ".join(sorted(LAYERS[source])) or "nothing outside it"
            problems.append(
                f"forbidden import: {e.source} ({source}) imports {e.target} ({target}) at "
                f"{e.path.name}:{e.line}; {source} may import {allowed}"
            )
    for d in found.dynamic:
        inside = d.name == package or d.name.startswith(package + ".")
        if d.name not in group and (inside or d.name not in DYNAMIC_IMPORTS_OUTSIDE):
            problems.append(
                f"dynamic import of {d.name!r} in {d.source} at {d.path.name}:{d.line}: "
                f"no module of {package}, nor listed in DYNAMIC_IMPORTS_OUTSIDE"
            )
    return problems


def _web_view_problems(root: Path, package: str, found: Graph, group: dict[str, str]) -> list[str]:
    app = f"{package}.{WEB_APP}"
    views = {m: p for m, p in modules(root, package).items() if group[m] == "web" and m != app}
    forbidden = tuple(f"{package}.{name}" for name in WEB_VIEW_FORBIDDEN)
    problems = [
        f"web view {e.source} imports {e.target} at {e.path.name}:{e.line}: views reach the "
        f"database through functions of the packages below"
        for e in found.edges
        if e.source in views and (e.target in forbidden or e.target.startswith(forbidden))
    ]
    for module, path in sorted(views.items()):
        for node in ast.walk(parse(path)):  # TYPE_CHECKING too
            where = f"web view {module} at {path.name}:{getattr(node, 'lineno', 0)}"
            problems += [f"{where}: {what}" for what in _web_view_node(node)]
    return problems


def _sqlalchemy_allows(module: str, name: str | None) -> bool:
    """May a web view import `name` from `module` (None: `import module`)?"""
    if module.split(".")[0] != "sqlalchemy":
        return True
    allowed = WEB_VIEW_SQLALCHEMY.get(module, set())
    return allowed is None or (name is not None and name in allowed)


def _web_view_node(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [f"imports {a.name}" for a in node.names if not _sqlalchemy_allows(a.name, None)]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [
            f"imports {a.name} from {node.module}"
            for a in node.names
            if a.name in ("text", "select") or not _sqlalchemy_allows(node.module, a.name)
        ]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in WEB_VIEW_CALLS
    ):
        return [f"calls .{node.func.attr}(): a connection's work belongs below web"]
    return []


def violations(root: Path, package: str = PACKAGE) -> list[str]:
    """Every broken rule, one line each (empty when the layers hold)."""
    group, lost = groups(root, package)
    problems = table_problems(LAYERS) + lost
    if problems:
        return problems
    found = graph(root, package)
    problems += found.computed + _layer_problems(found, group, package)
    problems += _web_view_problems(root, package, found, group)
    module_graph: dict[str, set[str]] = {}
    for e in found.edges:
        module_graph.setdefault(e.source, set()).add(e.target)
    problems += [f"import cycle: {' <-> '.join(c)}" for c in _cycles(module_graph)]
    return problems
