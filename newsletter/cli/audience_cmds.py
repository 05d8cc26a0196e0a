"""`newsletter audience`: who would get an issue (the lists' subscribed members, less
suppressions, narrowed by a segment), listed or counted, only reading. Also where the named
segments of `segments.toml` are found: beside the configuration file (`--config`), else in the
current folder."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import click

from newsletter.cli.root import cli, reading_engine_from, settings_from


def named_from(ctx: click.Context) -> tuple[tuple[str, str], ...]:
    """The named segments (`@name`) of segments.toml beside the configuration."""
    from newsletter.audience.segments import load_named

    config = ctx.find_root().obj.get("config_path")
    folder = Path(config).resolve().parent if config else Path.cwd()
    return tuple(load_named(folder).items())


@cli.command("audience")
@click.option("--list", "lists", multiple=True, required=True, help="List slug (repeatable).")
@click.option("--where", default="", help="A segment, e.g. 'attributes.city = \"Oslo\"'.")
@click.option("--count", "count_only", is_flag=True, help="Print only how many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="List at most N.")
@click.pass_context
def audience_cmd(
    ctx: click.Context,
    lists: tuple[str, ...],
    where: str,
    count_only: bool,
    as_json: bool,
    limit: int | None,
) -> None:
    """List or count the subscribers who would get an issue sent to --list with --where (what
    `send --dry-run` counts). Reads only."""
    from newsletter.audience.lists import get_list
    from newsletter.audience.segments import (
        audience_count,
        audience_rows,
        left_out_untracked,
        read_segment,
        scope_for,
        unknown_attributes,
    )
    from newsletter.db.clock import utcnow
    from newsletter.db.connection import reading

    settings, engine = settings_from(ctx), reading_engine_from(ctx)
    segment = read_segment(where, dict(named_from(ctx))) if where.strip() else None
    ids = [get_list(engine, slug)["id"] for slug in lists]
    with reading(engine) as conn:
        scope = scope_for(conn, ids, utcnow(), settings.soft_bounce_days)
        out: dict[str, Any] = {"lists": list(lists), "segment": segment and segment.normal}
        out["count"] = audience_count(scope, segment)
        out["left_out_untracked"] = left_out_untracked(scope, segment)
        out["warnings"] = unknown_attributes(conn, segment.node) if segment else []
        _notes(out)
        if count_only and not as_json:
            click.echo(out["count"])
            return
        rows = () if count_only else islice(audience_rows(scope, segment), limit)
        shown = _json(out, rows) if as_json else _lines(rows)
    if not as_json:
        more = f" (showing {shown})" if shown < out["count"] else ""
        click.echo(f"{out['count']} subscriber(s){more}", err=True)


def _notes(out: dict[str, Any]) -> None:
    for name in out["warnings"]:
        click.echo(f"warning: attribute '{name}' was never written by an import", err=True)
    if out["left_out_untracked"]:
        click.echo(
            f"note: {out['left_out_untracked']} member(s) left out: they opted out of tracking "
            "and the segment asks about opens or clicks",
            err=True,
        )


def _lines(rows: Iterable[tuple[int, str, str]]) -> int:
    """One subscriber a line, as the rows stream from the database (memory stays bounded)."""
    shown = 0
    for _id, email, name in rows:
        click.echo(f"{email}\t{name}".rstrip("\t"))
        shown += 1
    return shown


def _json(out: dict[str, Any], rows: Iterable[tuple[int, str, str]]) -> int:
    """The JSON object, its subscribers written as they stream."""
    head = json.dumps(out, indent=2)[:-2]  # without the closing "\n}"
    click.echo(head + ',\n  "subscribers": [', nl=False)
    shown = 0
    for i, email, name in rows:
        item = json.dumps({"id": i, "email": email, "name": name})
        click.echo(("," if shown else "") + "\n    " + item, nl=False)
        shown += 1
    click.echo("\n  ]\n}")
    return shown
