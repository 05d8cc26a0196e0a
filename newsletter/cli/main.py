"""`newsletter`: the root group with every command module registered (imported for that)."""

from __future__ import annotations

from newsletter.cli import (  # noqa: F401 (each module adds its commands to `cli`)
    build_cmds,
    config_cmds,
    csv_cmds,
    demo_cmds,
    issue_cmds,
    list_cmds,
    mailbox_cmds,
    prune_cmds,
    report_cmds,
    schedule_cmds,
    send_cmds,
    status_cmds,
    subscriber_cmds,
    web_cmds,
)
from newsletter.cli.root import cli


def main() -> None:
    cli(prog_name="newsletter")
