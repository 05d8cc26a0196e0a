"""The layers of the package hold: no upward import, no cycle, and the web app reaches the
database only through functions of the layers below it. The checker itself is tested on small
packages with a planted fault of each kind."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.layers import edges, violations

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_keeps_its_layers_and_has_no_import_cycle():
    assert violations(ROOT) == []


def test_the_web_app_never_touches_tables_or_transactions():
    """Views go through functions of audience, sending, tracking and mailbox; only the app
    factory opens the engine."""
    forbidden = (
        "newsletter.db.tables",
        "newsletter.db.transaction",
        "newsletter.db.dialect",
        "newsletter.db.clock",
    )
    reached = [
        f"{e.source} -> {e.target} (line {e.line})"
        for e in edges(ROOT, "newsletter")
        if e.source.startswith("newsletter.web") and e.target.startswith(forbidden)
    ]
    assert reached == []
    engine_users = {
        e.source
        for e in edges(ROOT, "newsletter")
        if e.source.startswith("newsletter.web") and e.target == "newsletter.db.engine"
    }
    assert engine_users == {"newsletter.web.app"}


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    base = {
        "pkg/__init__.py": "",
        "pkg/errors.py": "",
        "pkg/db/__init__.py": "",
        "pkg/db/engine.py": "from pkg import errors\n",
        "pkg/authoring/__init__.py": "",
        "pkg/authoring/render.py": "from pkg.db import engine\n",
        "pkg/audience/__init__.py": "",
        "pkg/audience/lists.py": "from pkg.db.engine import *\n",
        "pkg/sending/__init__.py": "",
        "pkg/sending/send.py": "from pkg.authoring import render\nfrom pkg.audience import lists\n",
        "pkg/web/__init__.py": "from pkg.web.app import create_app\n",
        "pkg/web/app.py": "from pkg.sending import send\n\ndef create_app():\n    pass\n",
        "pkg/cli/__init__.py": "",
        "pkg/cli/main.py": "from pkg.web import create_app\n",
    }
    for name, text in {**base, **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_checker_passes_a_clean_package(tmp_path):
    assert violations(_package(tmp_path, {}), "pkg") == []


@pytest.mark.parametrize(
    "where,source,expected",
    [
        ("pkg/db/engine.py", "from pkg.web import app\n", "upward import: pkg.db.engine (db)"),
        (
            "pkg/db/engine.py",
            "def later():\n    from pkg.sending import send\n",
            "imports pkg.sending.send (sending)",
        ),
        ("pkg/authoring/render.py", "from ..cli import main\n", "imports pkg.cli.main (cli)"),
        (
            "pkg/audience/lists.py",
            "import importlib\nimportlib.import_module('pkg.web.app')\n",
            "imports pkg.web.app (web)",
        ),
        ("pkg/errors.py", "import pkg.db.engine\n", "upward import: pkg.errors (kernel)"),
    ],
)
def test_checker_catches_a_planted_upward_import(tmp_path, where, source, expected):
    root = _package(tmp_path, {where: source})
    found = violations(root, "pkg")
    assert any(expected in line for line in found), found


def test_checker_exempts_type_checking_imports_only(tmp_path):
    exempt = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.web import app\n"
    assert violations(_package(tmp_path, {"pkg/db/engine.py": exempt}), "pkg") == []
    counted = exempt + "else:\n    from pkg.cli import main\n"
    found = violations(_package(tmp_path, {"pkg/db/engine.py": counted}), "pkg")
    assert any("imports pkg.cli.main" in line for line in found), found


def test_checker_catches_a_cycle_between_modules_of_one_layer(tmp_path):
    root = _package(
        tmp_path,
        {
            "pkg/sending/ledger.py": "from pkg.sending import workers\n",
            "pkg/sending/workers.py": "def f():\n    from pkg.sending.ledger import x\n",
        },
    )
    assert violations(root, "pkg") == ["import cycle: pkg.sending.ledger <-> pkg.sending.workers"]


def test_checker_catches_a_cycle_between_sibling_packages(tmp_path):
    root = _package(
        tmp_path,
        {
            "pkg/authoring/render.py": "from pkg.audience import lists\n",
            "pkg/audience/names.py": "from pkg.authoring import render\n",
        },
    )
    assert violations(root, "pkg") == ["import cycle between packages: audience <-> authoring"]


def test_checker_refuses_a_folder_outside_the_layers(tmp_path):
    root = _package(tmp_path, {"pkg/helpers/__init__.py": ""})
    assert violations(root, "pkg") == [
        "pkg.helpers belongs to no layer: add its folder to the layers in tests"
    ]
