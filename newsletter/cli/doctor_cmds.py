"""`newsletter doctor`: one screen saying whether Gmail, Yahoo and Outlook will accept this
domain's bulk mail: each check's verdict, the record it read, and the fix. Exit 1 if any
check fails."""

from __future__ import annotations

from typing import Any

import click

from newsletter.cli.root import cli, echo_json, reading_engine_from, settings_from

_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "info": "info"}


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="the findings as JSON")
@click.option("--domain", default="", help="check this From domain instead of the sender's")
@click.option("--list", "list_slug", default="", help="check this list's From (default list)")
@click.pass_context
def doctor_cmd(ctx: click.Context, as_json: bool, domain: str, list_slug: str) -> None:
    """Check SPF, DKIM, DMARC, MX and the message against the big providers' rules."""
    from newsletter.safe_text import one_line
    from newsletter.sending.doctor.run import diagnose

    settings = settings_from(ctx)
    diagnosis = diagnose(settings, _the_list(ctx, list_slug), domain)
    if as_json:
        echo_json(diagnosis.as_dict())
    else:
        names = diagnosis.names
        click.echo(
            f"newsletter doctor: From {names.from_address}, return path @{names.return_domain}"
            f", DKIM d={names.dkim_domain}, backend {names.backend}"
        )
        for f in diagnosis.findings:
            click.echo(f"{_MARK[f.status]:<5} {f.area:<8} {f.check}: {one_line(f.evidence, 2000)}")
            if f.fix:
                click.echo(f"{'':<14} fix: {one_line(f.fix, 2000)}")
        counts = {s: sum(f.status == s for f in diagnosis.findings) for s in _MARK}
        click.echo(", ".join(f"{n} {s}" for s, n in counts.items()))
    if diagnosis.failed:
        ctx.exit(1)


def _the_list(ctx: click.Context, slug: str) -> dict[str, Any] | None:
    """The list's own From, when --list names one (read without creating the database)."""
    if not slug:
        return None
    from newsletter.audience.lists import get_list

    return dict(get_list(reading_engine_from(ctx), slug))
