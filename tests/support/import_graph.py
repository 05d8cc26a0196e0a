"""The package's import graph, read from the source with `ast` (the facts; `layers` judges them).

Counted: module-level and function-level imports, relative imports, and `import_module` /
`__import__` calls. Exempt: imports under `if TYPE_CHECKING:` (they never run). A dynamic import
names its module with a literal string, or with the loop variable of a `for` over a literal table
at the top of the same module (the CLI's lazy command map in `cli/main.py`): the graph then holds
every name in the table, so the checker sees those imports as if they were written out. Any other
name is computed: the checker cannot see where it points, so it is reported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

_DYNAMIC = ("import_module", "__import__")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    path: Path


@dataclass(frozen=True)
class Dynamic:
    """One module name an `import_module` / `__import__` call can load."""

    source: str
    name: str
    line: int
    path: Path


@dataclass
class Graph:
    edges: list[Edge] = field(default_factory=list)
    dynamic: list[Dynamic] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)  # one line per computed name


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its __init__.py)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


@lru_cache(maxsize=1024)
def _parse(text: str) -> ast.Module:
    return ast.parse(text)


def parse(path: Path) -> ast.Module:
    """The module's syntax tree (cached by text: a planted copy of the package reparses only
    the file it changed). Never mutate it."""
    return _parse(path.read_text(encoding="utf-8"))


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)


def _literal_tables(tree: ast.Module) -> dict[str, object]:
    """Top-level names bound to a literal dict, tuple, list or set, with their values."""
    tables: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError):
            continue
        if isinstance(target, ast.Name) and isinstance(literal, dict | list | tuple | set):
            tables[target.id] = literal
    return tables


def _loop_names(iterated: ast.expr, tables: dict[str, object]) -> list[str] | None:
    """The names a `for` over `iterated` can bind, if it walks a literal table; else None.
    Read: `T` (a dict's keys), `T[k]`, `T.get(k, ...)`, `T.values()`, `T.keys()`."""
    if isinstance(iterated, ast.Name) and iterated.id in tables:
        table = tables[iterated.id]
        return list(table) if isinstance(table, dict) else list(_strings(table))
    holder: ast.expr | None = None
    keys = False
    if isinstance(iterated, ast.Subscript):
        holder = iterated.value
    elif (
        isinstance(iterated, ast.Call)
        and isinstance(iterated.func, ast.Attribute)
        and iterated.func.attr in ("get", "values", "keys")
    ):
        holder, keys = iterated.func.value, iterated.func.attr == "keys"
    if isinstance(holder, ast.Name) and isinstance(tables.get(holder.id), dict):
        table = tables[holder.id]
        assert isinstance(table, dict)
        return list(table) if keys else list(_strings(table))
    return None


def _rebinds(body: list[ast.stmt], name: str) -> bool:
    """True if the loop body assigns its loop variable (the name would no longer be the table's)."""
    for node in (n for stmt in body for n in ast.walk(stmt)):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return True
    return False


class _Imports(ast.NodeVisitor):
    """Collects (line, name) of each import, static and dynamic, and the computed names."""

    def __init__(self, module: str, is_package: bool, tables: dict[str, object]):
        self.module, self.is_package, self.tables = module, is_package, tables
        self.bound: dict[str, list[str]] = {}
        self.static: list[tuple[int, str, str | None]] = []  # (line, module, imported name)
        self.dynamic: list[tuple[int, str]] = []
        self.computed: list[int] = []

    def visit_If(self, node: ast.If) -> None:
        if not is_type_checking(node.test):
            self.generic_visit(node)
            return
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_For(self, node: ast.For) -> None:
        names = _loop_names(node.iter, self.tables)
        var = node.target.id if isinstance(node.target, ast.Name) else None
        if names is None or var is None or _rebinds(node.body, var):
            self.generic_visit(node)
            return
        self.visit(node.iter)
        outer = self.bound.get(var)
        self.bound[var] = names
        for stmt in node.body:
            self.visit(stmt)
        if outer is None:
            del self.bound[var]
        else:
            self.bound[var] = outer
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        self.static += [(node.lineno, alias.name, None) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            base = _resolve(self.module, self.is_package, node.level, node.module)
        self.static += [(node.lineno, base, alias.name) for alias in node.names]

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called in _DYNAMIC:
            self._dynamic_call(node)
        self.generic_visit(node)

    def _dynamic_call(self, node: ast.Call) -> None:
        args = [*node.args, *(k.value for k in node.keywords if k.arg in ("name", "package"))]
        first = args[0] if args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            names = [first.value]
        elif isinstance(first, ast.Name) and first.id in self.bound:
            names = self.bound[first.id]
        else:
            self.computed.append(node.lineno)
            return
        package = args[1] if len(args) > 1 else None
        for name in names:
            if name.startswith(".") and isinstance(package, ast.Constant):
                name = f"{package.value}{name}"
            self.dynamic.append((node.lineno, name))


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def _known(target: str, known: dict[str, Path]) -> str | None:
    """The module a dotted name lands in (`import a.b.c` names the module a.b.c)."""
    while target and target not in known and "." in target:
        target = target.rsplit(".", 1)[0]
    return target if target in known else None


@lru_cache(maxsize=1024)
def _imports(module: str, is_package: bool, text: str) -> _Imports:
    """The imports of one module's text (cached: a planted copy re-reads only what changed)."""
    tree = _parse(text)
    found = _Imports(module, is_package, _literal_tables(tree))
    found.visit(tree)
    return found


def graph(root: Path, package: str) -> Graph:
    known = modules(root, package)
    out = Graph()
    for module, path in known.items():
        text = path.read_text(encoding="utf-8")
        found = _imports(module, path.name == "__init__.py", text)
        targets = [
            (line, f"{base}.{name}" if name and f"{base}.{name}" in known else base)
            for line, base, name in found.static
        ]
        for line, name in found.dynamic:
            out.dynamic.append(Dynamic(module, name, line, path))
            targets.append((line, name))
        for line, target in targets:
            landed = _known(target, known)
            if landed is not None and landed != module:
                out.edges.append(Edge(module, landed, line, path))
        out.computed += [
            f"computed import name: {module} at {path.name}:{line}: import_module and "
            f"__import__ take a literal name, or one from a literal table of the module"
            for line in found.computed
        ]
    return out


def edges(root: Path, package: str) -> list[Edge]:
    return graph(root, package).edges
