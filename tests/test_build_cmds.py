"""`newsletter build` and the preview rebuild loop, through the click runner."""

from __future__ import annotations

import email
import os
import shutil
from email import policy
from pathlib import Path

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.cli.build_cmds import _Preview
from newsletter.config import Settings

SAMPLE = Path(__file__).resolve().parent.parent / "issues" / "2019-03-01-hanoi-summit.md"
FILES = ("email.html", "email.txt", "web.html", "sample.eml")


def _project(workdir: Path) -> Path:
    (workdir / "issues").mkdir()
    return Path(shutil.copy(SAMPLE, workdir / "issues" / SAMPLE.name))


def test_build_writes_the_four_files_and_reports_size_and_defaults(workdir):
    path = _project(workdir)
    result = CliRunner().invoke(cli, ["build", str(path), "--out", "out"])
    assert result.exit_code == 0, result.output
    target = workdir / "out" / SAMPLE.stem
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    assert "102,000-byte Gmail limit" in result.output
    assert str(Path("out") / SAMPLE.stem) in result.output
    assert "defaults used" in result.output and "postal_address" in result.output
    assert [p.name for p in (workdir / "out").iterdir()] == [SAMPLE.stem]  # no temp leftovers

    msg = email.message_from_bytes((target / "sample.eml").read_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in msg["List-Unsubscribe"] and "mailto:" in msg["List-Unsubscribe"]
    assert msg["From"].addresses[0].addr_spec == Settings().sender_address
    html_part = msg.get_body(("html",)).get_content()
    text_part = msg.get_body(("plain",)).get_content()
    assert "Hi Sample Reader," in html_part and "Hi Sample Reader," in text_part
    assert "__NL_" not in html_part + text_part + msg["Subject"]


def test_build_by_id_into_the_default_output_dir(workdir):
    _project(workdir)
    result = CliRunner().invoke(cli, ["build", SAMPLE.stem])
    assert result.exit_code == 0, result.output
    assert (workdir / "dist" / SAMPLE.stem / "email.html").is_file()


def test_build_unknown_issue_is_one_clear_error(workdir):
    result = CliRunner().invoke(cli, ["build", "no-such-issue"])
    assert result.exit_code == 1
    assert "no such issue" in result.output


def test_failed_build_leaves_previous_output_untouched(workdir):
    path = _project(workdir)
    runner = CliRunner()
    assert runner.invoke(cli, ["build", str(path)]).exit_code == 0
    target = workdir / "dist" / SAMPLE.stem
    before = {name: (target / name).read_bytes() for name in FILES}
    (workdir / "templates").mkdir()
    (workdir / "templates" / "email.txt.j2").write_text("{% broken")
    result = runner.invoke(cli, ["build", str(path)])
    assert result.exit_code == 1 and "email.txt.j2" in result.output
    assert {name: (target / name).read_bytes() for name in FILES} == before
    assert [p.name for p in (workdir / "dist").iterdir()] == [SAMPLE.stem]


def test_preview_rebuilds_when_the_issue_or_a_template_changes(workdir):
    path = _project(workdir)
    state = _Preview(path, Settings())
    assert state.refresh().startswith("rebuilt")
    assert state.refresh() is None  # nothing changed
    assert "Hi Sample Reader," in state.pages["/email.html"][1]

    path.write_text(
        path.read_text().replace(
            "## The groundwork was never done", "## The groundwork was skipped"
        )
    )
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))
    assert state.refresh().startswith("rebuilt")
    assert "The groundwork was skipped" in state.pages["/email.html"][1]

    (workdir / "templates").mkdir()
    (workdir / "templates" / "email.txt.j2").write_text(
        "PREVIEWED {{ settings.postal_address }} {{ unsubscribe_url }}"
    )
    assert state.refresh().startswith("rebuilt")
    assert state.pages["/email.txt"][1].startswith("PREVIEWED")
    assert state.version == 3


def test_loading_the_command_line_does_not_import_the_database_layer():
    """`newsletter build` must start fast (no SQLAlchemy for commands that never touch the
    database): loading the command line imports none of these."""
    import subprocess
    import sys

    code = (
        "import sys; import newsletter.cli; print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('sqlalchemy', 'premailer', 'mjml', 'flask')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_command_is_named_in_the_lazy_registry_with_the_modules_that_add_it():
    """Commands load on demand (root._Group.lazy): the registry must name every command any
    cli module adds, and only those, or a command would vanish from `newsletter`."""
    import importlib
    import pkgutil

    import newsletter.cli as package

    lazy = dict(cli.lazy)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.endswith("_cmds"):
            importlib.import_module(f"newsletter.cli.{info.name}")
    assert set(cli.commands) == set(lazy)
    for name, command in cli.commands.items():
        callbacks = [command, *getattr(command, "commands", {}).values()]
        modules = {c.callback.__module__ for c in callbacks if c.callback}
        assert modules == set(lazy[name]), name


def test_a_build_loads_only_the_command_module_it_runs(workdir):
    """`newsletter build` imports build_cmds and no other command module."""
    import os
    import subprocess
    import sys

    path = _project(workdir)
    code = (
        "import sys; from newsletter.cli import main; sys.argv = ['newsletter', 'build', "
        f"{str(path)!r}, '--out', 'out']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.endswith('_cmds')), file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stderr.strip().splitlines()[-1] == "['newsletter.cli.build_cmds']"


def test_sample_eml_is_built_by_the_send_code_with_a_working_view_link(workdir):
    """sample.eml is what a subscriber gets: the same message code as a real send (its MIME
    skeleton, List-Id, Feedback-ID), and "view in browser" points at /archive/<id>, the page
    the web app serves (it used to point at /issues/<id>, which does not exist)."""
    from newsletter.authoring.issue_file import read_issue
    from newsletter.authoring.render import render_issue
    from newsletter.config import load_settings
    from newsletter.sending.mime.message import list_message_template
    from newsletter.sending.proof import sample_recipient

    path = _project(workdir)
    result = CliRunner().invoke(cli, ["build", str(path), "--out", "out"])
    assert result.exit_code == 0, result.output
    sample = (workdir / "out" / SAMPLE.stem / "sample.eml").read_bytes()
    msg = email.message_from_bytes(sample, policy=policy.default)
    assert msg["List-Id"] and msg["Feedback-ID"]  # only the send code sets these
    html_part = msg.get_body(("html",)).get_content()
    assert f"http://127.0.0.1:8000/archive/{SAMPLE.stem}" in html_part
    assert "/issues/" not in html_part

    settings = load_settings(cwd=workdir)
    rendered = render_issue(read_issue(path), settings)
    template = list_message_template(
        settings,
        {"slug": rendered.list_name, "name": rendered.list_name},
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        send_ref=f"sample-{SAMPLE.stem}",
    )
    expected = template.render(sample_recipient(settings, SAMPLE.stem))

    def stable(data: bytes) -> bytes:  # Date, Message-ID and the boundary differ per build
        import re

        data = re.sub(rb"(Date|Message-ID): [^\r]*", b"", data)
        return re.sub(rb"=_nl_[0-9a-f]+", b"BOUNDARY", data)

    assert stable(sample) == stable(expected)


def test_preview_shows_the_same_view_link_as_a_send(workdir):
    from newsletter.config import load_settings

    path = _project(workdir)
    preview = _Preview(path, load_settings(cwd=workdir))
    preview.refresh()
    html = preview.pages["/email.html"][1]
    assert f"/archive/{SAMPLE.stem}" in html and "/issues/" not in html
