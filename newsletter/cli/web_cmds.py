"""`serve` and `archive`: the web app's commands."""

from __future__ import annotations

import click

from newsletter.cli.root import cli, engine_from, settings_from


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default: web_host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: web_port, 8000).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the subscriber web app for development (production: gunicorn, see README)."""
    from newsletter.web import create_app
    from newsletter.web.dev_server import serve as serve_app

    settings = settings_from(ctx)
    app = create_app(settings, engine_from(ctx))
    host = host or settings.web_host
    port = port or settings.web_port
    click.echo(f"serving on http://{host}:{port}/ (development server; Ctrl-C stops)")
    serve_app(app, host, port)


@cli.command()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write the static archive into (serve it at <site_url>/archive/).",
)
@click.pass_context
def archive(ctx: click.Context, out: str) -> None:
    """Write the archive of sent issues (pages + Atom feed) as static files."""
    from newsletter.web.static_archive import write_archive

    files = write_archive(settings_from(ctx), engine_from(ctx), out)
    click.echo(f"wrote {len(files)} files to {out}")
