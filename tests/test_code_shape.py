"""The shape of the code, over the whole package: every function under 60 lines, every module
at most 300 (a newcomer reads either in one sitting), and tests that take their helpers only
from tests/support. Each check is shown to catch a planted breach."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 59  # from `def` to its last line, decorators aside
MAX_MODULE_LINES = 300

# Being split (issue 18 item 8): over MAX_MODULE_LINES until their splits land. Temporary: the
# lead removes this list when merging the splits.


def _sources(root: Path) -> list[Path]:
    return sorted((root / "newsletter").rglob("*.py"))


def long_functions(root: Path) -> list[str]:
    """`file:function (lines)` for each function of MAX_FUNCTION_LINES lines or more."""
    found = []
    for path in _sources(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(root)}:{node.name} ({size} lines)")
    return found


def long_modules(root: Path, exempt: frozenset[str] = frozenset()) -> list[str]:
    """`file (lines)` for each module over MAX_MODULE_LINES lines, but those exempt."""
    found = []
    for path in _sources(root):
        size = len(path.read_text(encoding="utf-8").splitlines())
        name = path.relative_to(root).as_posix()
        if size > MAX_MODULE_LINES and name not in exempt:
            found.append(f"{name} ({size} lines)")
    return found


def helpers_from_outside_support(tests: Path) -> dict[str, str]:
    """test file -> a `tests.*` module it imports that is not in tests/support."""
    offending = {}
    for path in sorted(tests.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("tests.") and not name.startswith("tests.support"):
                    offending[path.name] = name
    return offending


def test_every_function_of_the_package_is_under_sixty_lines():
    assert long_functions(ROOT) == []


def test_every_module_of_the_package_is_at_most_three_hundred_lines():
    assert long_modules(ROOT) == []


def test_tests_import_helpers_only_from_tests_support():
    assert helpers_from_outside_support(ROOT / "tests") == {}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_checks_catch_a_long_function_a_long_module_and_a_stray_helper(tmp_path):
    body = "".join(f"    x{n} = {n}\n" for n in range(58))
    _write(tmp_path / "newsletter" / "deep" / "fits.py", f"def fits():\n{body}")  # 59 lines
    _write(tmp_path / "newsletter" / "long.py", f"def too_long():\n{body}    return x0\n")
    _write(tmp_path / "newsletter" / "big.py", "x = 1\n" * 301)
    _write(tmp_path / "newsletter" / "edge.py", "x = 1\n" * 300)
    _write(tmp_path / "tests" / "test_a.py", "from tests.test_b import helper\n")
    _write(tmp_path / "tests" / "test_b.py", "from tests.support.x import y\n")
    assert long_functions(tmp_path) == ["newsletter/long.py:too_long (60 lines)"]
    assert long_modules(tmp_path) == ["newsletter/big.py (301 lines)"]
    assert long_modules(tmp_path, frozenset({"newsletter/big.py"})) == []
    assert helpers_from_outside_support(tmp_path / "tests") == {"test_a.py": "tests.test_b"}
