"""`newsletter init [DIR]`: a folder ready for a first real newsletter: a commented
`newsletter.toml`, an empty `issues/`, a `.gitignore` for the database, the secrets and the
outbox; then the five settings to fill in before a real send. What is already there is kept:
an existing `newsletter.toml` is never overwritten, an existing `.gitignore` only gets the
lines it lacks."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli.root import cli
from newsletter.config import CONFIG_FILE
from newsletter.config.starter import FILL_IN, GITIGNORE_LINES, STARTER_TOML
from newsletter.errors import ConfigError


@cli.command("init")
@click.argument("folder", default=".", type=click.Path(file_okay=False))
def init_cmd(folder: str) -> None:
    """Start a newsletter in FOLDER (default: here): newsletter.toml, issues/, .gitignore."""
    root = Path(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
        done = [_config(root), _issues(root), _gitignore(root)]
    except OSError as exc:
        where = exc.filename or root
        raise ConfigError(f"{where}: cannot write: {exc.strerror or exc}") from None
    for line in done:
        click.echo(line)
    click.echo("\nBefore a real send, fill in these five settings in newsletter.toml:")
    width = max(len(name) for name, _ in FILL_IN)
    for name, why in FILL_IN:
        click.echo(f"  {name:<{width}}  {why}")
    click.echo(
        "and set NEWSLETTER_SECRET_KEY in the environment (with NEWSLETTER_SMTP_PASSWORD or "
        "SENDGRID_API_KEY for the backend).\nNext: "
        + (f"cd {folder} && " if folder != "." else "")
        + 'newsletter lists create newsletter --name "..." && newsletter new "First issue"'
    )


def _config(root: Path) -> str:
    path = root / CONFIG_FILE
    if path.exists():
        return f"kept {path} (already there)"
    with path.open("x", encoding="utf-8") as f:  # never over a file made meanwhile
        f.write(STARTER_TOML)
    return f"wrote {path}"


def _issues(root: Path) -> str:
    path = root / "issues"
    if path.is_dir():
        return f"kept {path}/ (already there)"
    path.mkdir()
    return f'made {path}/ (empty: `newsletter new "Title"` writes an issue there)'


def _gitignore(root: Path) -> str:
    path = root / ".gitignore"
    had = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in had]
    if not missing:
        return f"kept {path} (it already ignores the database, secrets and outbox)"
    text = "\n".join(missing) + "\n"
    if had:
        text = "\n" + text if path.read_text(encoding="utf-8").endswith("\n") else "\n\n" + text
    with path.open("a", encoding="utf-8") as f:
        f.write(text)
    return f"{'added to' if had else 'wrote'} {path}: the database, secrets and outbox stay out"
