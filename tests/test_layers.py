"""The layers of the package hold (tests/support/layers.py: one table of what each package may
import, the sub-layer and web-view rules, literal dynamic imports, no cycle). The checker is
itself tested by planting faults in a copy of the real package: each must be caught."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.support.layers import LAYERS, may_import, table_problems, violations

ROOT = Path(__file__).resolve().parent.parent
SMTP_BACKEND = next(
    where
    for where in ("sending/delivery/smtp/backend.py", "sending/delivery/smtp.py")
    if (ROOT / "newsletter" / where).exists()
)


def _planted(tmp_path: Path, plants: dict[str, str]) -> Path:
    """A copy of the package's Python files with each source appended to its file (or the
    file created)."""

    def other_files(folder: str, names: list[str]) -> list[str]:
        return [
            n
            for n in names
            if n == "__pycache__" or (Path(folder, n).is_file() and not n.endswith(".py"))
        ]

    shutil.copytree(ROOT / "newsletter", tmp_path / "newsletter", ignore=other_files)
    for where, source in plants.items():
        path = tmp_path / "newsletter" / where
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write("\n" + textwrap.dedent(source))
    return tmp_path


def test_the_package_keeps_its_layers():
    assert violations(ROOT) == []


def test_a_copy_with_nothing_planted_passes(tmp_path):
    assert violations(_planted(tmp_path, {})) == []


# The five plantings of issue 18, each of which the rank-based checker let through.
ISSUE_18 = [
    (
        SMTP_BACKEND,
        "from newsletter.sending import ledger\n",
        ["(sending.delivery) imports newsletter.sending.ledger (sending)"],
    ),
    (
        "mailbox/classify.py",
        "from newsletter.tracking import judge\n",
        ["newsletter.mailbox.classify (mailbox) imports newsletter.tracking.judge (tracking)"],
    ),
    (
        "audience/names.py",
        "from newsletter.authoring import render\n",
        ["newsletter.audience.names (audience) imports newsletter.authoring.render (authoring)"],
    ),
    (
        "db/clock.py",
        'import importlib\nimportlib.import_module("newsletter." + "web.app")\n',
        ["computed import name: newsletter.db.clock at clock.py:"],
    ),
    (
        "web/unsubscribe.py",
        "from sqlalchemy import text\nfrom newsletter.db.connection import reading\n",
        [
            "web view newsletter.web.unsubscribe imports newsletter.db.connection",
            "imports text from sqlalchemy",
        ],
    ),
]

OTHER_FAULTS = [
    (  # a function-level import counts
        "db/engine.py",
        "def later():\n    from newsletter.sending import ledger\n",
        ["newsletter.db.engine (db) imports newsletter.sending.ledger (sending)"],
    ),
    (
        "authoring/render.py",
        "from ..cli import root\n",
        ["newsletter.authoring.render (authoring) imports newsletter.cli.root (cli)"],
    ),
    (
        "audience/lists.py",
        "import importlib\nimportlib.import_module('newsletter.web.app')\n",
        ["newsletter.audience.lists (audience) imports newsletter.web.app (web)"],
    ),
    ("errors.py", "import newsletter.db.tables\n", ["newsletter.errors (kernel) imports"]),
    (  # sub-layers: the MIME message knows no backend and no ledger
        "sending/mime/headers.py",
        "from newsletter.sending.delivery import base\nfrom newsletter.sending import sends\n",
        [
            "(sending.mime) imports newsletter.sending.delivery.base (sending.delivery)",
            "(sending.mime) imports newsletter.sending.sends (sending)",
        ],
    ),
    (  # the names of a literal table are imports of the module that loops over it
        "db/clock.py",
        "import importlib\n_LATER = ('newsletter.web.app',)\n"
        "for _name in _LATER:\n    importlib.import_module(_name)\n",
        ["newsletter.db.clock (db) imports newsletter.web.app (web)"],
    ),
    (  # ...unless the loop rebinds the name
        "cli/main.py",
        "for _name in COMMAND_MODULES:\n    _name = 'newsletter.' + _name\n"
        "    importlib.import_module(_name)\n",
        ["computed import name: newsletter.cli.main"],
    ),
    (
        "authoring/render.py",
        "import importlib\nimportlib.import_module('yaml')\n"
        "importlib.import_module('newsletter.x')\n",
        ["dynamic import of 'yaml'", "dynamic import of 'newsletter.x'"],
    ),
    ("web/preferences.py", "import sqlalchemy\n", ["imports sqlalchemy"]),
    (
        "web/archive.py",
        "from sqlalchemy.sql import select\n",
        ["imports select from sqlalchemy.sql"],
    ),
    (
        "web/lookup.py",
        "from sqlalchemy import Connection\n",
        ["imports Connection from sqlalchemy"],
    ),
    ("web/tracking.py", "from newsletter.db import tables\n", ["imports newsletter.db.tables"]),
    (
        "web/webhook.py",
        "def raw(engine):\n    with engine.connect() as conn:\n        conn.exec_driver_sql('')\n",
        ["calls .connect()", "calls .exec_driver_sql()"],
    ),
    ("helpers/__init__.py", "", ["newsletter.helpers belongs to no layer"]),
]


@pytest.mark.parametrize(
    "where,source,expected",
    ISSUE_18 + OTHER_FAULTS,
    ids=[f"issue18-{n}" for n in range(1, 6)]
    + [f"fault-{n}" for n in range(1, len(OTHER_FAULTS) + 1)],
)
def test_the_checker_catches_a_planted_fault(tmp_path, where, source, expected):
    found = violations(_planted(tmp_path, {where: source}))
    for line in expected:
        assert any(line in problem for problem in found), (line, found)


def test_the_checker_catches_a_cycle_inside_one_package(tmp_path):
    root = _planted(
        tmp_path,
        {
            "sending/cycle_a.py": "from newsletter.sending import cycle_b\n",
            "sending/cycle_b.py": "def f():\n    from newsletter.sending.cycle_a import x\n",
        },
    )
    assert violations(root) == [
        "import cycle: newsletter.sending.cycle_a <-> newsletter.sending.cycle_b"
    ]


def test_the_checker_exempts_type_checking_imports_only(tmp_path):
    exempt = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from newsletter.web import app\n"
    )
    assert violations(_planted(tmp_path / "a", {"db/engine.py": exempt})) == []
    counted = exempt + "else:\n    from newsletter.web import ratelimit\n"
    found = violations(_planted(tmp_path / "b", {"db/engine.py": counted}))
    assert (
        len(found) == 1 and "newsletter.db.engine (db) imports newsletter.web.ratelimit" in found[0]
    )


def test_the_web_app_alone_opens_the_engine_and_may_reach_db(tmp_path):
    """web/app.py builds the app: the web-view rules are not for it."""
    plant = "from newsletter.db.connection import reading\nfrom sqlalchemy import text\n"
    assert violations(_planted(tmp_path, {"web/app.py": plant})) == []


def test_a_view_may_import_engine_for_typing_and_sqlalchemy_errors(tmp_path):
    plant = "from sqlalchemy import Engine\nfrom sqlalchemy.exc import OperationalError\n"
    assert violations(_planted(tmp_path, {"web/archive.py": plant})) == []


def test_sub_layers_import_down_only_and_others_reach_them_through_their_parent():
    assert may_import("sending", "sending.delivery")
    assert may_import("sending.delivery", "sending.mime")
    assert may_import("web", "sending.mime")
    assert not may_import("sending.delivery", "sending")
    assert not may_import("sending.mime", "sending.delivery")
    assert not may_import("mailbox", "tracking")


def test_the_table_is_an_order_of_its_own_entries():
    assert table_problems(LAYERS) == []
    assert table_problems({"a": frozenset({"b"}), "b": frozenset({"a"})}) == [
        "LAYERS has a cycle through 'a'",
        "LAYERS has a cycle through 'b'",
    ]
    assert table_problems({"a": frozenset({"z"})}) == ["LAYERS['a'] names 'z', which is no entry"]
    assert table_problems({"a": frozenset(), "a.b": frozenset({"a"})}) == [
        "LAYERS['a.b'] names its parent 'a': a sub-layer imports down only"
    ]


def test_the_real_order_is_tracking_then_sending_then_mailbox():
    assert may_import("sending", "tracking") and not may_import("tracking", "sending")
    assert may_import("mailbox", "sending") and not may_import("sending", "mailbox")
