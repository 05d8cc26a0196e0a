"""`newsletter lists ...` and `newsletter subscribers ...`."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from newsletter.cli import cli, engine_from


def _json(data: object) -> None:
    def default(value: object) -> str:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    click.echo(json.dumps(data, indent=2, default=default, ensure_ascii=False))


def _when(value: datetime | None) -> str:
    from newsletter.db import as_utc

    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


@cli.group("lists", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def lists_group(ctx: click.Context, as_json: bool) -> None:
    """Show every list with its members by status (subcommand: create)."""
    if ctx.invoked_subcommand:
        return
    from newsletter.subscribers import list_counts

    rows = list_counts(engine_from(ctx))
    if as_json:
        _json(rows)
        return
    if not rows:
        click.echo("no lists yet; create one with `newsletter lists create SLUG --name ...`")
        return
    width = max(len(r["slug"]) for r in rows)
    click.echo(
        f"{'list':<{width}}  {'subscribed':>10}  {'unconfirmed':>11}  {'unsubscribed':>12}  name"
    )
    for r in rows:
        click.echo(
            f"{r['slug']:<{width}}  {r['subscribed']:>10}  {r['unconfirmed']:>11}  "
            f"{r['unsubscribed']:>12}  {r['name']}"
        )


@lists_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to subscribers.")
@click.option("--description", default="")
@click.option("--from-name", default="", help="Sender name for this list (default: settings).")
@click.option("--from-address", default="", help="Sender address for this list.")
@click.option("--reply-to", default="")
@click.pass_context
def lists_create(
    ctx: click.Context,
    slug: str,
    name: str,
    description: str,
    from_name: str,
    from_address: str,
    reply_to: str,
) -> None:
    """Create a list."""
    from newsletter.subscribers import create_list

    row = create_list(engine_from(ctx), slug, name, description, from_name, from_address, reply_to)
    click.echo(f"created list '{row['slug']}' ({row['name']})")


@cli.group("subscribers")
def subscribers_group() -> None:
    """Add, import, export, unsubscribe and forget subscribers."""


@subscribers_group.command("add")
@click.argument("email")
@click.option("--list", "list_slug", required=True)
@click.option("--name", default="")
@click.option("--unconfirmed", is_flag=True, help="Needs double opt-in before being mailed.")
@click.option(
    "--resubscribe",
    "reason",
    default=None,
    metavar="REASON",
    help="Lift their earlier unsubscribe; record how they gave new consent.",
)
@click.pass_context
def subscribers_add(
    ctx: click.Context, email: str, list_slug: str, name: str, unconfirmed: bool, reason: str | None
) -> None:
    """Add EMAIL to a list."""
    from newsletter.subscribers import add_subscriber

    status = "unconfirmed" if unconfirmed else "subscribed"
    sub = add_subscriber(
        engine_from(ctx),
        email,
        list_slug,
        name=name,
        status=status,
        source="cli",
        resubscribe_reason=reason,
    )
    click.echo(f"{sub['email']} is {status} to '{list_slug}'")


@subscribers_group.command("remove")
@click.argument("email")
@click.option(
    "--list", "list_slug", default=None, help="Only this list (default: delete the subscriber)."
)
@click.pass_context
def subscribers_remove(ctx: click.Context, email: str, list_slug: str | None) -> None:
    """Delete EMAIL from a list, or entirely. Not an unsubscribe: a later import may add it back."""
    from newsletter.subscribers import remove_subscriber

    done = remove_subscriber(engine_from(ctx), email, list_slug)
    where = f"from '{list_slug}'" if list_slug else "entirely"
    click.echo(f"removed {email} {where}" if done else f"{email} was not on '{list_slug}'")


@subscribers_group.command("unsubscribe")
@click.argument("email")
@click.option("--list", "list_slug", default=None, help="Only this list (default: every list).")
@click.pass_context
def subscribers_unsubscribe(ctx: click.Context, email: str, list_slug: str | None) -> None:
    """Unsubscribe EMAIL (suppressed: no import will add it back)."""
    from newsletter.subscribers import get_list, suppress_address

    engine = engine_from(ctx)
    list_id = get_list(engine, list_slug)["id"] if list_slug else 0
    suppress_address(engine, email, "unsubscribed", list_id=list_id, source="cli")
    click.echo(f"{email} unsubscribed from " + (f"'{list_slug}'" if list_slug else "every list"))


@subscribers_group.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def subscribers_show(ctx: click.Context, email: str, as_json: bool) -> None:
    """Memberships, suppressions and history of EMAIL."""
    from newsletter import subscribers as store

    engine = engine_from(ctx)
    sub = store.get_subscriber(engine, email)
    sups = store.suppressions_of(engine, email)
    data = {
        "subscriber": sub,
        "memberships": store.memberships_of(engine, sub["id"]) if sub else [],
        "suppressions": sups,
        "history": store.history(engine, sub["id"]) if sub else [],
    }
    if as_json:
        _json(data)
        return
    if sub is None and not sups:
        click.echo(f"{email}: not known")
        return
    if sub:
        click.echo(f"{sub['email']}  name: {sub['name'] or '-'}  since {_when(sub['created_at'])}")
        for k, v in sorted((sub["attributes"] or {}).items()):
            click.echo(f"  {k}: {v}")
    lists = {}
    for m in data["memberships"]:
        lists[m["list_id"]] = m["slug"]
        click.echo(
            f"list {m['slug']}: {m['status']} (source {m['source'] or '-'}, "
            f"{_when(m['updated_at'])})"
        )
    for s in sups:
        scope = (
            "every list" if s["list_id"] == 0 else f"list {lists.get(s['list_id'], s['list_id'])}"
        )
        click.echo(
            f"suppressed for {scope}: {s['reason']} "
            f"({s['source'] or '-'}, {_when(s['created_at'])})"
        )
    for e in data["history"]:
        click.echo(f"{_when(e['at'])}  {e['kind']}  {e['detail']}")


@subscribers_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--list", "list_slug", required=True)
@click.option("--dry-run", is_flag=True, help="Report what would happen; write nothing.")
@click.option("--unconfirmed", is_flag=True, help="New members need double opt-in.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def subscribers_import(
    ctx: click.Context, path: str, list_slug: str, dry_run: bool, unconfirmed: bool, as_json: bool
) -> None:
    """Import a CSV (column 'email' required, 'name', others become attributes)."""
    from newsletter.csv_io import MAX_PROBLEMS, import_csv

    report = import_csv(
        engine_from(ctx),
        path,
        list_slug,
        dry_run=dry_run,
        status="unconfirmed" if unconfirmed else "subscribed",
    )
    if as_json:
        _json(
            {
                **report.counts(),
                "dry_run": dry_run,
                "seconds": round(report.seconds, 2),
                "problems": [{"line": p.line, "message": p.message} for p in report.problems],
            }
        )
        return
    for p in report.problems:
        click.echo(str(p), err=True)
    if report.rejected > len(report.problems):
        click.echo(f"... only the first {MAX_PROBLEMS} bad rows are listed", err=True)
    c = report.counts()
    verb = "would add" if dry_run else "added"
    click.echo(
        f"{path}: {verb} {c['added']}, updated {c['updated']}, unchanged {c['unchanged']}, "
        f"skipped {c['duplicates']} duplicates and {c['suppressed']} suppressed, "
        f"rejected {c['rejected']} ({report.seconds:.1f} s)" + (" [dry run]" if dry_run else "")
    )


@subscribers_group.command("export")
@click.option("--list", "list_slug", required=True)
@click.option(
    "--status",
    default="subscribed",
    show_default=True,
    type=click.Choice(["subscribed", "unconfirmed", "unsubscribed", "all"]),
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="File to write (default: stdout).",
)
@click.pass_context
def subscribers_export(ctx: click.Context, list_slug: str, status: str, output: str | None) -> None:
    """Export members of a list as CSV."""
    from newsletter.csv_io import export_csv

    engine = engine_from(ctx)
    chosen = None if status == "all" else status
    if output is None:
        export_csv(engine, list_slug, sys.stdout, chosen)
        return
    with open(output, "w", encoding="utf-8", newline="") as f:
        n = export_csv(engine, list_slug, f, chosen)
    click.echo(f"wrote {n} rows to {output}", err=True)


@subscribers_group.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def subscribers_forget(ctx: click.Context, email: str, yes: bool) -> None:
    """Erase EMAIL's personal data; keep only a hash so they are never mailed again."""
    from newsletter.subscribers import forget

    if not yes:
        click.confirm(f"Erase all data about {email}? This cannot be undone", abort=True)
    found = forget(engine_from(ctx), email)
    click.echo(
        f"forgot {email}; its hash stays suppressed"
        if found
        else f"{email} was not a subscriber; its hash is now suppressed"
    )
