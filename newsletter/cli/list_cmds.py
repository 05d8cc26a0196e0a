"""`newsletter lists`, and `lists create`, `update`, `rename` and `delete`."""

from __future__ import annotations

import click

from newsletter.cli.root import cli, echo_json, engine_from, reading_engine_from


@cli.group("lists", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--history",
    is_flag=True,
    help="Per week: joins, confirmations, unsubscribes, bounces and complaints.",
)
@click.option(
    "--weeks",
    type=click.IntRange(1, 520),
    default=None,
    help="With --history: how many weeks, the current one last (default 12).",
)
@click.pass_context
def lists_group(ctx: click.Context, as_json: bool, history: bool, weeks: int | None) -> None:
    """Show every list with its members by status, or (--history) its growth per week
    (subcommands: create, update, rename, delete)."""
    if ctx.invoked_subcommand:
        return
    if weeks is not None and not history:
        raise click.UsageError("--weeks goes with --history: newsletter lists --history --weeks 8")
    if history:
        from newsletter.cli.history_cmds import DEFAULT_WEEKS, show_history

        show_history(ctx, weeks or DEFAULT_WEEKS, as_json)
        return
    from newsletter.audience.lists import list_counts

    rows = list_counts(reading_engine_from(ctx))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no lists yet; create one with `newsletter lists create SLUG --name ...`")
        return
    from newsletter.audience.member_status import SHOWN_STATUSES

    width = max(len(r["slug"]) for r in rows)
    click.echo(f"{'list':<{width}}  " + "  ".join(SHOWN_STATUSES) + "  name")
    for r in rows:
        counts = "  ".join(f"{r[s]:>{len(s)}}" for s in SHOWN_STATUSES)
        private = "  (private)" if r["private"] else ""
        speaks = f"  [{r['language']}]" if r["language"] else ""
        click.echo(f"{r['slug']:<{width}}  {counts}  {r['name']}{private}{speaks}")


@lists_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to subscribers.")
@click.option("--description", default="")
@click.option("--from-name", default="", help="Sender name for this list (default: settings).")
@click.option("--from-address", default="", help="Sender address for this list.")
@click.option("--reply-to", default="")
@click.option("--private", is_flag=True, help="Not subscribable on the web, never in the archive.")
@click.option("--language", default="", help="Its sends' and pages' language (default: setting).")
@click.pass_context
def lists_create(
    ctx: click.Context,
    slug: str,
    name: str,
    description: str,
    from_name: str,
    from_address: str,
    reply_to: str,
    private: bool,
    language: str,
) -> None:
    """Create a list."""
    from newsletter.audience.lists import create_list

    row = create_list(
        engine_from(ctx),
        slug,
        name,
        description,
        from_name,
        from_address,
        reply_to,
        private=private,
        language=language,
    )
    shown = (", private" if private else "") + (
        f", in {row['language']}" if row["language"] else ""
    )
    click.echo(f"created list '{row['slug']}' ({row['name']}{shown})")


@lists_group.command("update")
@click.argument("slug")
@click.option("--name", default=None, help="Name shown to subscribers.")
@click.option("--from-name", default=None, help="Sender name ('' for the settings' one).")
@click.option("--from-address", default=None, help="Sender address ('' for the settings').")
@click.option("--reply-to", default=None, help="Reply-To address ('' for none).")
@click.option(
    "--private/--public",
    default=None,
    help="Private: not subscribable on the web, never in the archive.",
)
@click.option(
    "--language", default=None, help="Its sends' and pages' language ('' for the setting)."
)
@click.pass_context
def lists_update(
    ctx: click.Context,
    slug: str,
    name: str | None,
    from_name: str | None,
    from_address: str | None,
    reply_to: str | None,
    private: bool | None,
    language: str | None,
) -> None:
    """Change a list's name, sender, Reply-To, visibility or language."""
    from newsletter.audience.list_edits import update_list

    row = update_list(
        engine_from(ctx),
        slug,
        name=name,
        from_name=from_name,
        from_address=from_address,
        reply_to=reply_to,
        private=private,
        language=language,
    )
    shown = "private" if row["private"] else "public"
    sender = row["from_address"] or "the settings' sender"
    speaks = row["language"] or "the language setting's"
    click.echo(f"updated list '{slug}' ({row['name']}, {shown}, from {sender}, in {speaks})")


@lists_group.command("rename")
@click.argument("old")
@click.argument("new")
@click.pass_context
def lists_rename(ctx: click.Context, old: str, new: str) -> None:
    """Give a list a new slug; links already mailed keep working (they carry its id)."""
    from newsletter.audience.list_edits import rename_list

    row = rename_list(engine_from(ctx), old, new)
    click.echo(f"renamed list '{old}' to '{row['slug']}'; links already mailed keep working")


@lists_group.command("delete")
@click.argument("slug")
@click.option("--with-members", is_flag=True, help="Remove its members with it.")
@click.option(
    "--tombstone",
    is_flag=True,
    help="Keep a hidden tombstone so the links of recent sends keep unsubscribing.",
)
@click.pass_context
def lists_delete(ctx: click.Context, slug: str, with_members: bool, tombstone: bool) -> None:
    """Delete a list (refused while members remain, and within 60 days of its last send
    unless --tombstone). Suppressions are kept."""
    from newsletter.audience.list_edits import delete_list

    done = delete_list(engine_from(ctx), slug, with_members=with_members, tombstone=tombstone)
    kept = "; a tombstone keeps its links working" if done.tombstone else ""
    click.echo(
        f"deleted list '{slug}' ({done.members_removed} membership(s) removed; "
        f"suppressions kept{kept})"
    )
