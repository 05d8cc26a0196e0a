"""`newsletter test-send` (proofs outside the ledger) and `worker` (a helper process of a send)."""

from __future__ import annotations

import sys

import click

from newsletter.cli.preflight import FORCE_FLAG, FORCE_HELP, preflight
from newsletter.cli.root import cli, engine_from, settings_from
from newsletter.cli.send_cmds import _issue_path, _rate, _say
from newsletter.cli.stopping import graceful_stop, replay_journals, stopped_exit
from newsletter.models import BACKENDS
from newsletter.sending.stopping import STOP


@cli.command("test-send")
@click.argument("issue")
@click.option("--to", "addresses", multiple=True, required=True, help="Recipient address.")
@click.option(
    "--list", "slug", default="", help="Send it as this list gets it (default: the issue's first)."
)
@click.option("--backend", type=click.Choice(BACKENDS), default=None)
@click.option(FORCE_FLAG, "force_preflight", is_flag=True, help=FORCE_HELP)
@click.pass_context
def test_send_cmd(
    ctx: click.Context,
    issue: str,
    addresses: tuple[str, ...],
    slug: str,
    backend: str | None,
    force_preflight: bool,
) -> None:
    """Send ISSUE to the given addresses only ("[TEST]" subject), outside the ledger, with the
    list's own sender, Reply-To and name."""
    from newsletter.cli.build_cmds import proof_list_of
    from newsletter.sending.proof import send_proof

    settings = settings_from(ctx)
    path = _issue_path(issue, settings)
    preflight(settings, path, backend or settings.backend, force=force_preflight, say=_say)
    the_list = proof_list_of(ctx, path, slug)  # no database yet: the configured sender
    results = send_proof(settings, path, addresses, backend or "", the_list=the_list)
    for address, result in zip(addresses, results, strict=False):
        detail = f" ({result.detail})" if result.detail else ""
        click.echo(f"{address}: {result.status}{detail}")
    if any(r.status != "sent" for r in results):
        sys.exit(1)


@cli.command("worker")
@click.option("--once", is_flag=True, help="Exit when no running send has work left.")
@click.option("--send", "send_id", type=int, default=None, help="Work on this send id only.")
@click.option("--rate", default=None, help="At most N messages per second from this worker.")
@click.pass_context
def worker_cmd(ctx: click.Context, once: bool, send_id: int | None, rate: str | None) -> None:
    """Claim and send batches of any running send (several may run, on several machines)."""
    from newsletter.sending.worker_loop import run_worker

    replay_journals(ctx)
    with graceful_stop():
        done = run_worker(
            engine_from(ctx), settings_from(ctx), once=once, only_send=send_id, rate=_rate(rate)
        )
    if STOP.asked:
        stopped_exit(f"worker processed {done:,} recipient(s); it left nothing claimed")
    click.echo(f"worker finished: {done} recipient(s) processed")
