"""Issue 19's smaller bugs: `archive --out` signs nothing and needs no key; `subscribers show`
of an unknown address exits 1; `forget` off a terminal names `--yes`; every error about a
place in a file reads `FILE:LINE: error: message`, as `check` writes it."""

from __future__ import annotations

from tests.support.sending import SECRET, populate, run_cli, weekly_send


def test_archive_needs_no_key(engine, database_url, issue_path, workdir) -> None:
    populate(engine, "weekly", 1)
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    assert run_cli(*weekly_send(issue_path), env=env, cwd=workdir).returncode == 0
    env = {"DATABASE_URL": database_url, "NEWSLETTER_BACKEND": "smtp"}  # and no key at all
    result = run_cli("archive", "--out", str(workdir / "site"), env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "site" / issue_path.stem / "index.html").is_file()


def test_show_of_an_unknown_address_exits_1(database_url, workdir) -> None:
    env = {"DATABASE_URL": database_url}
    assert run_cli("db", "upgrade", env=env, cwd=workdir).returncode == 0
    result = run_cli("subscribers", "show", "nobody@example.org", env=env, cwd=workdir)
    assert result.returncode == 1
    assert "nobody@example.org" in result.stderr and "not known" in result.stderr


def test_forget_off_a_terminal_names_yes(engine, database_url, workdir) -> None:
    populate(engine, "weekly", 1)
    env = {"DATABASE_URL": database_url}
    result = run_cli("subscribers", "forget", "user0@example.com", env=env, cwd=workdir)
    assert result.returncode == 1
    assert "--yes" in result.stderr and "Aborted" not in result.stderr, result.stderr


def test_build_errors_read_like_checks(database_url, issue_path, workdir) -> None:
    issue_path.write_text(issue_path.read_text().replace("Speaker:", "Speeker:", 1))
    env = {"DATABASE_URL": database_url}
    built = run_cli("build", str(issue_path), env=env, cwd=workdir)
    checked = run_cli("check", str(issue_path), env=env, cwd=workdir)
    assert built.returncode == checked.returncode == 1
    expected = f"{issue_path}:14: error: unknown takeaway key 'Speeker'"
    assert built.stderr.startswith(expected), built.stderr
    assert any(line.startswith(expected) for line in checked.stdout.splitlines())
