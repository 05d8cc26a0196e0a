"""`newsletter demo`: the README's main job on embedded defaults (a demo list of example.com
addresses, the sample issue, the outbox backend). Running it again sends nothing twice."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.authoring.issue_file import resolve_issue
from newsletter.cli.root import cli, engine_from, settings_from

DEMO_LIST = "demo"
DEMO_PEOPLE = [
    ("ada@example.com", "Ada Lovelace"),
    ("grace@example.com", "Grace Hopper"),
    ("alan@example.com", "Alan Turing"),
    ("edsger@example.com", "Edsger Dijkstra"),
    ("barbara@example.com", "Barbara Liskov"),
]


@cli.command("demo")
@click.pass_context
def demo_cmd(ctx: click.Context) -> None:
    """Send the sample issue to a demo list of example.com addresses, into the outbox folder."""
    from newsletter.audience.lists import create_list, get_list
    from newsletter.audience.subscribers import add_subscriber
    from newsletter.errors import StoreError
    from newsletter.sending.plan import SendOptions, prepare
    from newsletter.sending.send import execute

    settings, engine = settings_from(ctx), engine_from(ctx)
    try:
        get_list(engine, DEMO_LIST)
    except StoreError:
        create_list(engine, DEMO_LIST, "Demo list")
        for email, name in DEMO_PEOPLE:
            add_subscriber(engine, email, DEMO_LIST, name=name)
    path = resolve_issue("2019-03-01-hanoi-summit", settings.issues_dir)
    plan = prepare(
        engine, settings, path, SendOptions(lists=(DEMO_LIST,), backend="outbox", resume=True)
    )
    if plan.nothing_to_do:
        click.echo(plan.nothing_to_do)
    else:
        progress = execute(engine, settings, plan)
        assert progress is not None
        click.echo(
            f"sent {progress.counts['sent']} message(s) of {plan.issue.id} to list "
            f"'{DEMO_LIST}' through the outbox backend"
        )
    outbox = Path(settings.outbox_dir).resolve() / "new"
    files = sorted(outbox.glob("*.eml"))
    click.echo(f"messages are in {outbox}/ ({len(files)} file(s))")
    if files:
        click.echo(
            f"open one in a mail client (e.g. `thunderbird {files[0]}`) or read the raw "
            f"message with `less {files[0]}`"
        )
