"""The docstrings and the README state the layers as the one table has them, name every module,
and their maps (one send, the bounce path) name code that exists. Each check is shown to catch
a planted drift."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from tests.support.layers_in_docs import (
    docstring_drift,
    dotted_refs,
    readme_drift,
    readme_refs,
    unresolved,
)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BOUNCE_MAP = ROOT / "newsletter" / "sending" / "return_path.py"


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "newsletter", tmp_path / "newsletter", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_every_docstring_states_the_table_and_names_its_modules():
    assert docstring_drift(ROOT) == []


def test_a_module_missing_from_its_docstring_is_caught(tmp_path):
    root = _copy(tmp_path)
    (root / "newsletter" / "audience" / "extra.py").write_text("", encoding="utf-8")
    deeper = root / "newsletter" / "sending" / "mime" / "deeper"
    deeper.mkdir()
    (deeper / "__init__.py").write_text('"""A sub-package: `its_own` module, named."""')
    (deeper / "its_own.py").write_text("")
    (deeper / "unnamed.py").write_text("")
    assert docstring_drift(root) == [
        "audience: module 'extra' is not named in its docstring",
        "sending.mime: module 'deeper' is not named in its docstring",
        "sending.mime.deeper: module 'unnamed' is not named in its docstring",
    ]


def test_a_docstring_naming_a_module_that_is_gone_is_caught(tmp_path):
    root = _copy(tmp_path)
    (root / "newsletter" / "audience" / "names.py").unlink()
    assert docstring_drift(root) == ["audience: its docstring names 'names', which is no module"]


def test_a_docstring_stating_other_imports_than_the_table_is_caught(tmp_path):
    root = _copy(tmp_path)
    init = root / "newsletter" / "mailbox" / "__init__.py"
    _edit(init, "May import: `sending` (the return path),", "May import: `tracking`, `sending`,")
    _edit(root / "newsletter" / "db" / "__init__.py", "May import:", "Imports:")
    assert docstring_drift(root) == [
        "db: __init__.py has no 'May import:' paragraph",
        "mailbox: its docstring may import ['audience', 'db', 'kernel', 'sending', 'tracking'], "
        "the table ['audience', 'db', 'kernel', 'sending']",
    ]


def test_the_readme_code_map_states_the_table():
    assert readme_drift(README) == []


def test_a_readme_row_that_drifts_is_caught():
    drifted = README.replace(
        "| `audience/` | `db`, the kernel |", "| `audience/` | `authoring`, `db`, the kernel |"
    ).replace("| `sending/mime/` |", "| `sending/envelope/` |")
    assert drifted != README
    assert readme_drift(drifted) == [
        "README code map has no row for 'sending.mime'",
        "README code map has a row for 'sending.envelope', no entry of LAYERS",
        "README code map: audience may import ['authoring', 'db', 'kernel'], "
        "the table ['db', 'kernel']",
    ]


def test_the_readme_maps_name_code_that_exists():
    refs = readme_refs(README)
    assert "sending.ledger.claim" in refs and "sending.return_path.record_returns" in refs
    assert unresolved(refs) == []


def test_the_bounce_path_map_names_code_that_exists():
    refs = dotted_refs(ast.get_docstring(ast.parse(BOUNCE_MAP.read_text(encoding="utf-8"))) or "")
    for part in ("mailbox.run", "sending.provider_events", "tracking.provider", "audience.bounces"):
        assert any(ref.startswith(part) for ref in refs), part
    assert unresolved(refs) == []


def test_a_map_naming_code_that_is_gone_is_caught():
    assert unresolved(["sending.ledger.claim", "sending.ledger.gone", "sending.nowhere.f"]) == [
        "sending.ledger.gone",
        "sending.nowhere.f",
    ]
