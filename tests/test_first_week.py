"""A first week: `newsletter init` makes a folder a real newsletter starts from, `config` shows
what empty settings stand for, and the README keeps its Quick start at two commands followed by
the first-real-newsletter section, whose Postfix recipe routes unsubscribes and bounces."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import load_settings, masked
from newsletter.config.preflight import real_send_findings
from newsletter.config.starter import FILL_IN

ROOT = Path(__file__).resolve().parent.parent
FIVE = [name for name, _ in FILL_IN]


def _run(*args: str, env: dict[str, str] | None = None, code: int = 0):
    result = CliRunner().invoke(cli, list(args), env=env or {})
    assert result.exit_code == code, (result.output, result.stderr)
    return result


def test_init_writes_a_commented_config_an_empty_issues_folder_and_a_gitignore(workdir: Path):
    result = _run("init", "weekly")
    folder = workdir / "weekly"
    assert sorted(p.name for p in folder.iterdir()) == [".gitignore", "issues", "newsletter.toml"]
    assert list((folder / "issues").iterdir()) == []
    toml = (folder / "newsletter.toml").read_text(encoding="utf-8")
    assert set(tomllib.loads(toml)) == set(FIVE)  # the rest is commented out
    assert toml.count("\n# ") > 10
    ignored = (folder / ".gitignore").read_text(encoding="utf-8").splitlines()
    for line in ("/newsletter.db*", "/.newsletter-secret", "/outbox/", ".env"):
        assert line in ignored
    out = result.stdout
    assert "Before a real send, fill in these five settings in newsletter.toml:" in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("  ")] == FIVE
    assert "NEWSLETTER_SECRET_KEY" in out and "cd weekly && " in out


def test_the_written_config_loads_and_a_real_send_is_refused_until_it_is_filled_in(
    workdir: Path,
):
    _run("init")
    settings = load_settings(cwd=workdir, env={})
    assert {name for name in FIVE if settings.sources[name] != "default"} == set(FIVE)
    found = real_send_findings(settings, "smtp")
    refused = " ".join(f.message for f in found if f.severity == "error")
    for name in ("site_url", "sender_address", "postal_address"):
        assert name in refused


def test_init_keeps_what_is_there(workdir: Path):
    (workdir / "newsletter.toml").write_text('sender_name = "Mine"\n', encoding="utf-8")
    (workdir / ".gitignore").write_text("node_modules/\n/outbox/\n", encoding="utf-8")
    result = _run("init")
    assert (workdir / "newsletter.toml").read_text(encoding="utf-8") == 'sender_name = "Mine"\n'
    ignored = (workdir / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ignored[:2] == ["node_modules/", "/outbox/"] and ignored.count("/outbox/") == 1
    assert "/newsletter.db*" in ignored
    assert "kept newsletter.toml (already there)" in result.stdout
    again = _run("init")
    assert "kept .gitignore" in again.stdout
    assert (workdir / ".gitignore").read_text(encoding="utf-8").splitlines() == ignored


def test_init_into_a_folder_it_cannot_write_is_one_line(workdir: Path):
    (workdir / "taken").write_text("a file", encoding="utf-8")
    result = _run("init", "taken/sub", code=1)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")


def test_config_shows_derived_values_with_the_password_masked(workdir: Path):
    env = {"NEWSLETTER_SENDER_ADDRESS": "news@example.org"}
    rows = {name: (value, source) for name, value, source in masked(load_settings(env=env))}
    assert rows["database_url"] == ("sqlite:///newsletter.db", "default")
    assert rows["bounce_address"] == ("bounces@example.org", "default: bounces@<sender domain>")
    assert rows["unsubscribe_mailto"][0] == "unsubscribe@example.org"
    env["DATABASE_URL"] = "postgresql://news:s3cret@db.internal/news"
    out = _run("config", env=env).stdout
    assert "s3cret" not in out
    assert re.search(r"^database_url +postgresql://news:\*\*\*\*@db\.internal/news ", out, re.M)
    assert re.search(r"^bounce_address +bounces@example\.org ", out, re.M)
    assert "(empty)" not in re.search(r"^unsubscribe_mailto.*$", out, re.M).group(0)  # type: ignore[union-attr]


def _section(readme: str, title: str) -> str:
    start = readme.index(f"\n## {title}\n")
    return readme[start : readme.index("\n## ", start + 1)]


def test_readme_quick_start_stays_two_commands_then_the_first_week_section():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", readme, re.M)
    assert headings[:2] == ["Quick start", "Your first real newsletter"]
    quick = _section(readme, "Quick start")
    assert re.findall(r"```sh\n(.*?)```", quick, re.S) == [
        "pip install . && newsletter demo\n",
        "pip install -e '.[test]' && python -m pytest\n",
    ]
    first = _section(readme, "Your first real newsletter")
    assert "newsletter init" in first
    for name in FIVE:
        assert f"`{name}`" in first
    recipe = "\n".join(re.findall(r"```(?:\w+)?\n(.*?)```", first, re.S))
    assert re.search(r"^unsubscribe: +newsletter$", recipe, re.M)  # List-Unsubscribe mailto:
    assert re.search(r"^bounces: +newsletter$", recipe, re.M)  # VERP bounces+TAG@
    assert "recipient_delimiter = +" in recipe
    assert "newsletter mailbox" in recipe
