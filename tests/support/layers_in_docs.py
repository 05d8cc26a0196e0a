"""What the docstrings and the README say about the layers, compared with `layers.LAYERS`.

Each entry's docstring (the package's `__init__`; the kernel's is `newsletter/__init__.py`,
`__main__`'s its own) ends with a paragraph "May import: ...": the backquoted entries it names,
plus `kernel` when the words "the kernel" appear; "nothing" names none. Everywhere else in every
package's docstring, layer or not, each backquoted lower-case name (`x`, `x/`, `x.py`) is a
module of that package, and every module (a sub-package counts as one) is named: so the
docstrings cannot drift from the files. The README's "Code map" has one row per entry, its
"may import" column read the same way.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from tests.support.layers import LAYERS, PACKAGE

_MAY_IMPORT = re.compile(r"^May import:(.*?)(?:\n\s*\n|\Z)", re.S | re.M)
_BACKQUOTED = re.compile(r"`+([^`]+)`+")
_MODULE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Packages whose docstring need not name each module: Alembic's numbered revisions.
UNLISTED = frozenset({"db/migrations/versions"})


def stated(clause: str) -> frozenset[str]:
    """The entries a "may import" clause names (up to its first full stop or semicolon)."""
    clause = re.split(r"[.;](?:\s|$)", clause, maxsplit=1)[0]
    names = {name for name in _BACKQUOTED.findall(clause) if name != "kernel"}
    if re.search(r"\bkernel\b", clause):
        names.add("kernel")
    return frozenset(names)


def docstring_path(root: Path, entry: str) -> Path:
    if entry == "kernel":
        return root / PACKAGE / "__init__.py"
    if entry == "__main__":
        return root / PACKAGE / "__main__.py"
    return root / PACKAGE / entry.replace(".", "/") / "__init__.py"


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def package_modules(folder: Path) -> set[str]:
    """A package's modules: its .py files and its sub-packages."""
    files = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
    return files | {p.parent.name for p in folder.glob("*/__init__.py")}


def named_modules(docstring: str) -> set[str]:
    """The backquoted lower-case names outside the "May import" paragraph, `x/` and `x.py` as x."""
    text = _MAY_IMPORT.sub("", docstring)
    names = set()
    for token in _BACKQUOTED.findall(text):
        token = token.removesuffix("/").removesuffix(".py")
        if _MODULE_NAME.fullmatch(token):
            names.add(token)
    return names


def docstring_drift(root: Path) -> list[str]:
    """Every way the docstrings disagree with LAYERS or with the files, one line each."""
    problems = []
    for entry, allowed in LAYERS.items():
        path = docstring_path(root, entry)
        found = _MAY_IMPORT.search(_docstring(path))
        if found is None:
            problems.append(f"{entry}: {path.name} has no 'May import:' paragraph")
        elif stated(found.group(1)) != allowed:
            problems.append(
                f"{entry}: its docstring may import {sorted(stated(found.group(1)))}, "
                f"the table {sorted(allowed)}"
            )
    for init in sorted((root / PACKAGE).rglob("__init__.py")):
        folder = init.parent.relative_to(root / PACKAGE).as_posix()
        if folder in UNLISTED:
            continue
        name = "kernel" if folder == "." else folder.replace("/", ".")
        present, named = package_modules(init.parent), named_modules(_docstring(init))
        problems += [
            f"{name}: module {m!r} is not named in its docstring" for m in sorted(present - named)
        ]
        problems += [
            f"{name}: its docstring names {m!r}, which is no module"
            for m in sorted(named - present)
        ]
    return problems


def readme_layers(readme: str) -> dict[str, frozenset[str]]:
    """The Code map's table: entry -> what its "may import" column names."""
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, frozenset[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        folder = _BACKQUOTED.findall(cells[0])[0]
        entry = (
            "kernel" if folder == f"{PACKAGE}/" else folder.removesuffix("/").removesuffix(".py")
        )
        rows[entry.replace("/", ".")] = stated(cells[1])
    return rows


def readme_drift(readme: str) -> list[str]:
    found = readme_layers(readme)
    problems = [f"README code map has no row for {e!r}" for e in LAYERS if e not in found]
    problems += [
        f"README code map has a row for {e!r}, no entry of LAYERS" for e in found if e not in LAYERS
    ]
    problems += [
        f"README code map: {e} may import {sorted(found[e])}, the table {sorted(LAYERS[e])}"
        for e in LAYERS
        if e in found and found[e] != LAYERS[e]
    ]
    return problems


_README_REF = re.compile(r"`([a-z_]+(?:/[a-z_]+)+)(?:\.py)?((?:\.[A-Za-z_]\w*)*)`")
_DOTTED_REF = re.compile(
    r"\b((?:audience|authoring|cli|db|mailbox|sending|tracking|web)(?:\.\w+)+)"
)


def readme_refs(readme: str) -> list[str]:
    """The code map's references written as paths (`sending/ledger.claim`), as dotted names."""
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    return [
        path.replace("/", ".") + attrs
        for path, attrs in _README_REF.findall(section)
        if not path.startswith("tests/")
    ]


def dotted_refs(text: str) -> list[str]:
    """References like `mailbox.run.process` in a docstring map."""
    return _DOTTED_REF.findall(text)


def unresolved(refs: list[str], package: str = PACKAGE) -> list[str]:
    """The references that name no module, class or function of the package."""
    missing = []
    for ref in refs:
        parts = ref.split(".")
        for size in range(len(parts), 0, -1):
            try:
                found: object = importlib.import_module(".".join([package, *parts[:size]]))
            except ModuleNotFoundError:
                continue
            for attr in parts[size:]:
                found = getattr(found, attr, None)
            if found is None:
                missing.append(ref)
            break
        else:
            missing.append(ref)
    return missing
