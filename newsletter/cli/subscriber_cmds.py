"""`newsletter subscribers add/remove/unsubscribe/show/forget` (import and export: csv_cmds)."""

from __future__ import annotations

import sys

import click

from newsletter.cli.preflight import FORCE_FLAG, FORCE_HELP
from newsletter.cli.root import cli, echo_json, engine_from, reading_engine_from, settings_from
from newsletter.cli.times import when
from newsletter.errors import NewsletterError, StoreError
from newsletter.safe_text import one_line


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
@click.option(
    "--restart-sequence",
    "restart",
    default=None,
    metavar="NAME",
    help="Start sequence NAME again for them, from now (steps they had are not sent again).",
)
@click.pass_context
def subscribers_add(
    ctx: click.Context,
    email: str,
    list_slug: str,
    name: str,
    unconfirmed: bool,
    reason: str | None,
    restart: str | None,
) -> None:
    """Add EMAIL to a list."""
    from newsletter.audience.subscribers import add_subscriber

    if restart and unconfirmed:
        raise click.UsageError("--restart-sequence needs a subscribed member: not --unconfirmed")
    status = "unconfirmed" if unconfirmed else "subscribed"
    engine = engine_from(ctx)
    if restart:  # an unknown sequence is refused before anything is written
        from newsletter.sequences.restart import require_registered

        require_registered(engine, restart)
    sub = add_subscriber(
        engine,
        email,
        list_slug,
        name=name,
        status=status,
        source="cli",
        resubscribe_reason=reason,
    )
    click.echo(f"{sub['email']} is {status} to '{list_slug}'")
    if restart:
        from newsletter.db.clock import utcnow
        from newsletter.sequences.restart import restart as restart_sequence

        restart_sequence(engine, sub["id"], restart, utcnow())
        click.echo(
            f"sequence {restart} starts again for {sub['email']} (steps they had: not resent)"
        )


@subscribers_group.command("remove")
@click.argument("email")
@click.option(
    "--list", "list_slug", default=None, help="Only this list (default: delete the subscriber)."
)
@click.pass_context
def subscribers_remove(ctx: click.Context, email: str, list_slug: str | None) -> None:
    """Delete EMAIL from a list, or entirely. Not an unsubscribe: a later import may add it back."""
    from newsletter.audience.subscribers import remove_subscriber

    done = remove_subscriber(engine_from(ctx), email, list_slug)
    where = f"from '{list_slug}'" if list_slug else "entirely"
    click.echo(f"removed {email} {where}" if done else f"{email} was not on '{list_slug}'")


@subscribers_group.command("unsubscribe")
@click.argument("email")
@click.option("--list", "list_slug", default=None, help="Only this list (default: every list).")
@click.pass_context
def subscribers_unsubscribe(ctx: click.Context, email: str, list_slug: str | None) -> None:
    """Unsubscribe EMAIL (suppressed: no import will add it back)."""
    from newsletter.audience.lists import get_list
    from newsletter.audience.suppressions import suppress_address

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
    from newsletter.audience.bounces import returns_of
    from newsletter.audience.history import history
    from newsletter.audience.memberships import memberships_of
    from newsletter.audience.subscribers import get_subscriber
    from newsletter.audience.suppressions import suppressions_of

    engine = reading_engine_from(ctx)
    sub = get_subscriber(engine, email)
    sups = suppressions_of(engine, email)
    if sub is None and not sups:
        raise StoreError(f"{one_line(email, 320)}: not known (no subscriber or suppression)")
    data = {
        "subscriber": sub,
        "memberships": memberships_of(engine, sub["id"]) if sub else [],
        "suppressions": sups,
        "history": history(engine, sub["id"]) if sub else [],
        "bounces": returns_of(engine, sub["id"]) if sub else [],
    }
    if as_json:
        echo_json(data)
        return
    if sub:  # every value from outside through the one cleaning function (`safe_text`)
        name = one_line(sub["name"] or "") or "-"
        click.echo(f"{one_line(sub['email'])}  name: {name}  since {when(sub['created_at'])}")
        for k, v in sorted((sub["attributes"] or {}).items()):
            click.echo(f"  {one_line(str(k))}: {one_line(str(v))}")
    lists = {}
    for m in data["memberships"]:
        lists[m["list_id"]] = m["slug"]
        click.echo(
            f"list {m['slug']}: {m['status']} (source {one_line(m['source'] or '') or '-'}, "
            f"{when(m['updated_at'])})"
        )
    for s in sups:
        scope = (
            "every list" if s["list_id"] == 0 else f"list {lists.get(s['list_id'], s['list_id'])}"
        )
        click.echo(
            f"suppressed for {scope}: {s['reason']} ({one_line(s['source'] or '') or '-'}, "
            f"{when(s['created_at'])})"
        )
    for e in data["history"]:
        click.echo(f"{when(e['at'])}  {e['kind']}  {one_line(e['detail'] or '')}")
    for b in data["bounces"]:
        what = " ".join(x for x in (b["category"], b["kind"], b["status_code"]) if x)
        mail = f"send #{b['send_id']} {b['issue_id']}" if b["send_id"] else "confirmation mail"
        said = f": {one_line(b['diagnostic'])}" if b["diagnostic"] else ""
        click.echo(f"{when(b['at'])}  {what} ({mail}, via {one_line(b['source'])}){said}")


@subscribers_group.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def subscribers_forget(ctx: click.Context, email: str, yes: bool) -> None:
    """Erase EMAIL's personal data; keep only a hash so they are never mailed again."""
    from newsletter.audience.suppressions import forget

    if not yes:
        if not sys.stdin.isatty():
            raise NewsletterError(
                f"about to erase all data about {one_line(email, 320)}: not on a terminal, so "
                "add --yes to confirm"
            )
        click.confirm(f"Erase all data about {email}? This cannot be undone", abort=True)
    found = forget(engine_from(ctx), email)
    click.echo(
        f"forgot {email}; its hash stays suppressed"
        if found
        else f"{email} was not a subscriber; its hash is now suppressed"
    )


@subscribers_group.command("confirm-request")
@click.option("--list", "list_slug", required=True, help="The list whose members to ask.")
@click.option(FORCE_FLAG, "force_preflight", is_flag=True, help=FORCE_HELP)
@click.pass_context
def subscribers_confirm_request(ctx: click.Context, list_slug: str, force_preflight: bool) -> None:
    """Mail the confirmation link to the list's unconfirmed members (e.g. after `import
    --unconfirmed`): once per address, within the subscribe form's limits per address."""
    from collections import Counter

    from newsletter.audience.consent import request_confirmation, unconfirmed_members
    from newsletter.audience.lists import get_list
    from newsletter.cli.preflight import settings_gate
    from newsletter.web import create_app
    from newsletter.web.confirmation import send

    settings, engine = settings_from(ctx), engine_from(ctx)
    settings_gate(settings, force=force_preflight, say=lambda line: click.echo(line, err=True))
    the_list = get_list(engine, list_slug)
    app = create_app(settings, engine)  # the confirmation mail is the web app's own
    seen: Counter[str] = Counter()
    with app.app_context():
        for subscriber_id in unconfirmed_members(engine, the_list["id"]):
            verdict, mailing = request_confirmation(
                engine, subscriber_id, the_list["id"], "cli:confirm-request"
            )
            if mailing is not None:
                verdict = "send" if send(mailing, the_list) else "refused"
            seen[verdict] += 1
    click.echo(
        f"list {the_list['slug']}: {seen['send']} confirmation mail(s) sent, "
        f"{seen['asked']} asked already, {seen['limited']} over the per-address limit, "
        f"{seen['blocked']} blocked, {seen['refused']} refused by the server"
    )
    if seen["refused"]:
        sys.exit(1)
