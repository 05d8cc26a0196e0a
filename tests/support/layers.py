"""The package's import graph, read from the source with `ast`, and the layer rules it must keep.

Counted: module-level and function-level imports, relative imports, and `importlib.import_module`
/ `__import__` calls with a literal name. Exempt: imports under `if TYPE_CHECKING:` (they never
run). Layers, bottom to top; a module may import its own layer and those below, and siblings on
one layer may import each other only without a cycle:

    kernel (errors, models, config/, tokens, safe_text, times) < db < authoring, audience
        < sending, tracking, mailbox < web, cli
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KERNEL = {"errors", "models", "config", "tokens", "safe_text", "times", "__main__"}
RANKS = {
    "kernel": 0,
    "db": 1,
    "authoring": 2,
    "audience": 2,
    "sending": 3,
    "tracking": 3,
    "mailbox": 3,
    "web": 4,
    "cli": 4,
}
# `python -m newsletter` runs the CLI: the one kernel-level file that stands above everything.
TOP_LEVEL_ENTRY = "__main__"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    path: Path


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its __init__.py)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk, minus the bodies of `if TYPE_CHECKING:` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def _literal_import(call: ast.Call) -> str | None:
    func = call.func
    named = (isinstance(func, ast.Name) and func.id in ("import_module", "__import__")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if named and call.args and isinstance(call.args[0], ast.Constant):
        value = call.args[0].value
        return value if isinstance(value, str) else None
    return None


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def edges(root: Path, package: str) -> list[Edge]:
    known = modules(root, package)
    found: list[Edge] = []
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = (
                    _resolve(module, is_package, node.level, node.module)
                    if node.level
                    else node.module or ""
                )
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in known else base)
            elif isinstance(node, ast.Call) and (name := _literal_import(node)):
                if name.startswith(".") and len(node.args) > 1:
                    pkg = node.args[1]
                    if isinstance(pkg, ast.Constant) and isinstance(pkg.value, str):
                        name = pkg.value + name
                targets = [name]
            for target in targets:
                while target and target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]  # `import a.b.c` names the module a.b.c
                if target in known and target != module:
                    found.append(Edge(module, target, getattr(node, "lineno", 0), path))
    return found


def group_of(module: str, package: str) -> str:
    """The layer group a module belongs to (`kernel`, `db`, ...); KeyError if none."""
    parts = module.split(".")
    if parts == [package] or parts[1] in KERNEL:  # a module, or a package (`config`)
        return "kernel"
    if parts[1] in RANKS:
        return parts[1]
    raise KeyError(f"{module} belongs to no layer: add its folder to the layers in tests")


def _rank(module: str, package: str) -> int:
    if module == f"{package}.{TOP_LEVEL_ENTRY}":
        return max(RANKS.values())
    return RANKS[group_of(module, package)]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
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


def violations(root: Path, package: str = "newsletter") -> list[str]:
    """Every broken rule, one line each (empty when the layers hold)."""
    problems: list[str] = []
    all_edges = edges(root, package)
    for module in modules(root, package):
        try:
            _rank(module, package)
        except KeyError as exc:
            problems.append(str(exc.args[0]))
    if problems:
        return problems
    graph: dict[str, set[str]] = {}
    groups: dict[str, set[str]] = {}
    for e in all_edges:
        graph.setdefault(e.source, set()).add(e.target)
        low, high = _rank(e.source, package), _rank(e.target, package)
        if high > low:
            problems.append(
                f"upward import: {e.source} ({group_of(e.source, package)}) imports {e.target} "
                f"({group_of(e.target, package)}) at {e.path.name}:{e.line}"
            )
        a, b = group_of(e.source, package), group_of(e.target, package)
        if a != b and e.source != f"{package}.{TOP_LEVEL_ENTRY}":
            groups.setdefault(a, set()).add(b)
    problems += [f"import cycle: {' <-> '.join(c)}" for c in _cycles(graph)]
    problems += [f"import cycle between packages: {' <-> '.join(c)}" for c in _cycles(groups)]
    return problems
